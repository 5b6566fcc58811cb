//! OpenAI's contract at a real `trilemma serve` process on the real smollm2-135m (a
//! small context, few tokens): prompts too long are a 400 in vLLM's words unless
//! `truncate_prompt_tokens` asks for truncation, `max_tokens` too large is a 400 naming
//! the field, errors have OpenAI's shape, the API key is required, a list of prompts is
//! one choice each, and `load --json` prints the load file `--out` writes.

mod common;
use common::{run_ok, trilemma};

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Stdio};

use serde_json::{json, Value};

/// A `trilemma serve` process, killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const KEY_VAR: &str = "TRILEMMA_TEST_SERVE_KEY";
const KEY: &str = "k-123";

/// `trilemma serve -m smollm2-135m` with a 256-token context, one sequence at a time
/// (so that a list of prompts runs as the same prompts sent alone), and an API key.
fn serve() -> Server {
    let mut child = trilemma()
        .args([
            "serve",
            "-m",
            "smollm2-135m",
            "--listen",
            "127.0.0.1:0",
            "--max-batch",
            "1",
            "--n-ctx",
            "256",
            "--threads",
            "2",
            "--api-key-env",
            KEY_VAR,
        ])
        .env(KEY_VAR, KEY)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("serve exited before listening")
            .unwrap();
        if let Some(at) = line.find("http://") {
            break line[at..].split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines.by_ref() {});
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/v1")
        .to_string();
    Server { child, addr }
}

/// Status, headers and body of one HTTP exchange.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

fn send(s: &Server, method: &str, path: &str, key: Option<&str>, body: &str) -> Answer {
    let mut c = std::net::TcpStream::connect(&s.addr).unwrap();
    let auth = key.map_or(String::new(), |k| format!("Authorization: Bearer {k}\r\n"));
    write!(
        c,
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    c.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Answer {
        status,
        head: head.to_string(),
        body,
    }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

fn completions(s: &Server, body: Value) -> Answer {
    send(s, "POST", "/v1/completions", Some(KEY), &body.to_string())
}

/// OpenAI's error shape with `status`; returns the `error` object.
fn error(a: &Answer, status: u16) -> Value {
    assert_eq!(a.status, status, "{}", a.body);
    assert!(
        a.head
            .to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{}",
        a.head
    );
    let e = a.json()["error"].clone();
    for k in ["message", "type", "param", "code"] {
        assert!(e.get(k).is_some(), "no {k} in {e}");
    }
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(e["type"].as_str().is_some_and(|t| !t.is_empty()), "{e}");
    assert!(e["code"].as_str().is_some_and(|c| !c.is_empty()), "{e}");
    e
}

#[test]
fn serve_keeps_openais_contract_on_a_real_model() {
    let s = serve();
    // About 300 tokens of prose: more than the 256-token context.
    let long = "The quick brown fox jumps over the lazy dog. ".repeat(30);
    for stream in [false, true] {
        let a = completions(
            &s,
            json!({"prompt": long, "max_tokens": 4, "stream": stream}),
        );
        let e = error(&a, 400);
        let m = e["message"].as_str().unwrap();
        assert!(
            m.starts_with(
                "This model's maximum context length is 256 tokens. However, you requested "
            ),
            "{m}"
        );
        assert!(m.contains(" in the prompt, 4 in the completion)"), "{m}");
        assert_eq!(
            (e["param"].as_str(), e["code"].as_str()),
            (Some("prompt"), Some("context_length_exceeded"))
        );
    }
    // The client asks for truncation: the newest 40 tokens are read.
    let a = completions(
        &s,
        json!({"prompt": long, "max_tokens": 3, "truncate_prompt_tokens": 40}),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["usage"]["prompt_tokens"], 40);
    // max_tokens too large names the field (it was a 500).
    let e = error(
        &completions(&s, json!({"prompt": "Hi", "max_tokens": 100_000_000})),
        400,
    );
    assert_eq!(e["param"], "max_tokens");
    assert!(e["message"]
        .as_str()
        .unwrap()
        .contains("'max_tokens' is too large: 100000000"));
    // A prompt that fits alone but not beside max_tokens names max_tokens.
    let e = error(
        &completions(
            &s,
            json!({"prompt": "The quick brown fox jumps over the lazy dog", "max_tokens": 250}),
        ),
        400,
    );
    assert_eq!(e["param"], "max_tokens", "{e}");
    // Errors of the framework's own have the shape too.
    let e = error(
        &send(&s, "POST", "/v1/completions", Some(KEY), "{\"prompt\": "),
        400,
    );
    assert_eq!(e["code"], "invalid_json");
    error(&send(&s, "POST", "/v1/embeddings", Some(KEY), "{}"), 404);
    error(&send(&s, "GET", "/v1/completions", Some(KEY), ""), 405);
    let e = error(
        &send(&s, "POST", "/v1/completions", None, "{\"prompt\": \"x\"}"),
        401,
    );
    assert_eq!(e["code"], "invalid_api_key");
    error(&send(&s, "GET", "/v1/models", Some("wrong"), ""), 401);
    assert_eq!(send(&s, "GET", "/health", None, "").status, 200);

    // A list of prompts: one choice each, in order, each what the prompt gets alone.
    let prompts = [
        "The capital of France is",
        "1, 2, 3, 4,",
        "Once upon a time",
    ];
    let a = completions(&s, json!({"prompt": prompts, "max_tokens": 4}));
    assert_eq!(a.status, 200, "{}", a.body);
    let v = a.json();
    let choices = v["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 3);
    let mut prompt_tokens = 0;
    for (i, p) in prompts.iter().enumerate() {
        let alone = completions(&s, json!({"prompt": p, "max_tokens": 4})).json();
        assert_eq!(choices[i]["index"], i);
        assert_eq!(choices[i]["text"], alone["choices"][0]["text"], "{p}");
        prompt_tokens += alone["usage"]["prompt_tokens"].as_u64().unwrap();
    }
    assert_eq!(v["usage"]["prompt_tokens"], prompt_tokens);
    // Echo + logprobs per prompt, as multiple choice needs: each choice is its prompt's.
    let choices_of = |p: Value| {
        let a = completions(
            &s,
            json!({"prompt": p, "echo": true, "logprobs": 1, "max_tokens": 0}),
        );
        assert_eq!(a.status, 200, "{}", a.body);
        a.json()["choices"].clone()
    };
    let both = choices_of(json!(["Answer: Paris", "Answer: Berlin"]));
    for (i, p) in ["Answer: Paris", "Answer: Berlin"].iter().enumerate() {
        let alone = &choices_of(json!(p))[0];
        assert_eq!(both[i]["index"], i);
        assert_eq!(both[i]["text"], *p);
        assert_eq!(both[i]["logprobs"], alone["logprobs"], "{p}");
    }
    // Streamed, with usage when asked: each index's pieces make its text.
    let a = completions(
        &s,
        json!({"prompt": prompts, "max_tokens": 4, "stream": true,
               "stream_options": {"include_usage": true}}),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let mut texts = vec![String::new(); 3];
    let mut usage = None;
    for data in a.body.lines().filter_map(|l| l.strip_prefix("data: ")) {
        if data == "[DONE]" {
            continue;
        }
        let e: Value = serde_json::from_str(data).unwrap();
        if e.get("usage").is_some() {
            usage = Some(e["usage"].clone());
        } else {
            let c = &e["choices"][0];
            texts[c["index"].as_u64().unwrap() as usize] += c["text"].as_str().unwrap();
        }
    }
    for (i, c) in choices.iter().enumerate() {
        assert_eq!(texts[i], c["text"].as_str().unwrap());
    }
    assert_eq!(
        usage.expect("usage chunk")["completion_tokens"],
        v["usage"]["completion_tokens"]
    );
    assert!(a.body.trim_end().ends_with("data: [DONE]"));
}

#[test]
fn load_json_prints_the_load_file_it_writes() {
    let s = serve();
    let dir = tempfile::tempdir().unwrap();
    let prompts = dir.path().join("prompts.txt");
    std::fs::write(&prompts, "Hello\nThe sky is\n").unwrap();
    let out = dir.path().join("load.json");
    let o = run_ok(
        trilemma()
            .args([
                "load",
                "--engine",
                &format!("http://{}/v1", s.addr),
                "-m",
                "smollm2-135m",
            ])
            .args([
                "--concurrency",
                "1",
                "--requests",
                "2",
                "--max-tokens",
                "2",
                "--json",
            ])
            .args(["--api-key-env", KEY_VAR, "--prompts"])
            .arg(&prompts)
            .arg("--out")
            .arg(&out)
            .env(KEY_VAR, KEY),
    );
    let printed: Value = serde_json::from_slice(&o.stdout).expect("stdout is JSON alone");
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(printed, written);
    assert!(printed["schema_version"].as_u64().is_some());
    let profile = &printed["profiles"][0];
    assert_eq!(profile["run"]["requests"].as_array().map(Vec::len), Some(2));
    assert_eq!(profile["summary"]["failed"], 0, "{profile}");
    // The progress line went to stderr.
    assert!(String::from_utf8_lossy(&o.stderr).contains("req/s"));
}

#[test]
fn chat_to_a_model_without_a_chat_template_is_a_400_that_says_so() {
    // Gemma 3 270M's GGUF carries no chat template: its completions work, its chat does not.
    let s = common::start_server(&["serve", "-m", "gemma3-270m", "--listen", "127.0.0.1:0"]);
    let chat = json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2});
    let r = common::http(&s.url, "POST", "chat/completions", Some(&chat));
    assert_eq!(r.status, 400, "{}", r.body);
    let e = &r.json()["error"];
    assert_eq!(e["param"], "messages", "{e}");
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains("no chat template") && msg.contains("/v1/completions"),
        "{msg}"
    );
    let prompt = json!({"prompt": "hi", "max_tokens": 2});
    assert_eq!(
        common::http(&s.url, "POST", "completions", Some(&prompt)).status,
        200
    );
}
