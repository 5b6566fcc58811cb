//! The HTTP engine against a scripted server: normal answers and every way a server
//! can go wrong.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::test_server::{start, Reply};
use super::{ChatRequest, OpenAiConfig, OpenAiEngine};
use crate::{ChatMessage, Engine, FinishReason, GenerationRequest, LoglikelihoodRequest};

fn models(id: &str) -> Reply {
    Reply::Full(
        200,
        "application/json",
        json!({"object": "list", "data": [{"id": id, "object": "model", "meta": {"n_ctx_train": 8192}}]})
            .to_string(),
    )
}

fn sse(v: Value) -> String {
    format!("data: {v}\n\n")
}

fn chunk(text: &str, finish: Option<&str>) -> String {
    sse(json!({"choices": [{"index": 0, "text": text, "finish_reason": finish}]}))
}

fn cfg(url: &str) -> OpenAiConfig {
    let mut c = OpenAiConfig::new(url, "fake-model");
    c.backoff = Duration::from_millis(5);
    c.idle_timeout = Duration::from_millis(400);
    c.include_usage = false;
    c
}

fn req(prompt: &str, max_tokens: u32, stop: &[&str]) -> GenerationRequest {
    GenerationRequest {
        prompt: prompt.into(),
        max_tokens,
        stop: stop.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

/// Echo logprobs for `prompt` split into words (each word with its leading space).
fn echo_answer(prompt: &str) -> Value {
    let mut tokens = vec![];
    let mut offsets = vec![];
    let mut lps = vec![];
    let mut tops = vec![];
    let mut start = 0;
    let chars: Vec<char> = prompt.chars().collect();
    for i in 1..=chars.len() {
        if i == chars.len() || chars[i] == ' ' {
            let t: String = chars[start..i].iter().collect();
            // Greedy unless the word is "zebra".
            let lp = -0.25 * t.len() as f64;
            tokens.push(t.clone());
            offsets.push(start);
            lps.push(if start == 0 { Value::Null } else { json!(lp) });
            let best = if t.contains("zebra") { lp + 1.0 } else { lp };
            tops.push(if start == 0 {
                Value::Null
            } else {
                json!({ "x": best })
            });
            start = i;
        }
    }
    // The one generated token (max_tokens: 1) that scoring must ignore.
    tokens.push(" gen".into());
    offsets.push(chars.len());
    lps.push(json!(-100.0));
    tops.push(json!({" gen": -100.0}));
    json!({"choices": [{"text": format!("{prompt} gen"), "index": 0, "finish_reason": "length",
        "logprobs": {"tokens": tokens, "token_logprobs": lps, "top_logprobs": tops, "text_offset": offsets}}]})
}

fn normal(method: &str, path: &str, body: &Value, _n: usize) -> Reply {
    match (method, path) {
        ("GET", "/v1/models") => models("fake-model"),
        ("POST", "/v1/completions") if body["echo"] == json!(true) => Reply::Full(
            200,
            "application/json",
            echo_answer(body["prompt"].as_str().unwrap()).to_string(),
        ),
        ("POST", "/v1/completions") => {
            assert_eq!(body["stream"], json!(true));
            assert_eq!(body["temperature"], json!(0.0));
            let max = body["max_tokens"].as_u64().unwrap() as usize;
            let words = [" one", ",", " two", ",", " three", ",", " four"];
            let mut parts: Vec<String> = words[..max.min(words.len())]
                .iter()
                .map(|w| chunk(w, None))
                .collect();
            parts.push(chunk(
                "",
                Some(if max < words.len() { "length" } else { "stop" }),
            ));
            parts.push("data: [DONE]\n\n".into());
            Reply::Stream(parts)
        }
        ("POST", "/v1/chat/completions") => Reply::Stream(vec![
            sse(
                json!({"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": null}]}),
            ),
            sse(
                json!({"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": null}]}),
            ),
            sse(
                json!({"choices": [{"index": 0, "delta": {"content": " there"}, "finish_reason": "stop"}]}),
            ),
            "data: [DONE]\n\n".into(),
        ]),
        _ => Reply::Full(404, "text/plain", "not found".into()),
    }
}

#[test]
fn streams_generation_with_token_stamps_and_stop() {
    let (url, _) = start(Arc::new(normal));
    let mut e = OpenAiEngine::connect(cfg(&url)).unwrap();
    assert_eq!(e.model_info().trained_context_length, Some(8192));
    assert_eq!(e.engine_info().kind, "openai-http");
    let out = e.generate(&[req("Count:", 3, &[]), req("Count:", 7, &[" three"])]);
    let a = out[0].as_ref().unwrap();
    assert_eq!(a.text, " one, two");
    assert_eq!(a.output_tokens, 3);
    assert_eq!(a.finish, FinishReason::Length);
    assert_eq!(a.timing.token_ns.len(), 3);
    assert!(a.timing.first_token_ns.unwrap() >= a.timing.start_ns);
    assert!(a.timing.token_ns.windows(2).all(|w| w[0] <= w[1]));
    assert!(a.timing.end_ns >= *a.timing.token_ns.last().unwrap());
    // The server here ignores `stop`; the client still cuts before it.
    let b = out[1].as_ref().unwrap();
    assert_eq!(b.text, " one, two,");
    assert_eq!(b.finish, FinishReason::Stop);

    let chat = e.chat(&[ChatRequest {
        messages: vec![ChatMessage {
            role: "user".into(),
            content: "hello".into(),
        }],
        max_tokens: 8,
        stop: vec![],
    }]);
    let c = chat[0].as_ref().unwrap();
    assert_eq!(c.text, "Hi there");
    assert_eq!(c.output_tokens, 2);
    assert_eq!(c.finish, FinishReason::EndOfSequence);
}

#[test]
fn loglikelihood_from_echoed_prompt_logprobs() {
    let (url, _) = start(Arc::new(normal));
    let mut e = OpenAiEngine::connect(cfg(&url)).unwrap();
    let out = e.loglikelihood(&[
        LoglikelihoodRequest {
            context: "Question: capital? Answer:".into(),
            continuation: " Paris city".into(),
        },
        LoglikelihoodRequest {
            // Trailing space moves to the continuation, as in lm-eval.
            context: "Question: capital? Answer: ".into(),
            continuation: "zebra".into(),
        },
    ]);
    let a = out[0].as_ref().unwrap();
    // " Paris" (6 chars) and " city" (5 chars) at -0.25 per char; the generated token is ignored.
    assert!((a.logprob - (-0.25 * 11.0)).abs() < 1e-12, "{a:?}");
    assert_eq!(a.tokens, 2);
    assert!(a.is_greedy);
    assert_eq!(a.context_tokens, 3);
    let b = out[1].as_ref().unwrap();
    assert_eq!(b.tokens, 1);
    assert!(!b.is_greedy);
    assert!((b.logprob - (-0.25 * 6.0)).abs() < 1e-12);

    let r = e
        .loglikelihood_rolling(&["alpha beta gamma".to_string()])
        .remove(0)
        .unwrap();
    assert_eq!(r.tokens, 2);
    assert!((r.logprob - (-0.25 * 11.0)).abs() < 1e-12);
}

#[test]
fn server_without_prompt_logprobs_says_what_is_needed() {
    let (url, _) = start(Arc::new(|m: &str, p: &str, b: &Value, n| {
        if p == "/v1/completions" {
            return Reply::Full(
                200,
                "application/json",
                json!({"choices": [{"text": "x", "index": 0, "logprobs": null, "finish_reason": "length"}]})
                    .to_string(),
            );
        }
        normal(m, p, b, n)
    }));
    let mut e = OpenAiEngine::connect(cfg(&url)).unwrap();
    let err = e
        .loglikelihood(&[LoglikelihoodRequest {
            context: "a".into(),
            continuation: " b".into(),
        }])
        .remove(0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("multiple-choice tasks need"), "{err}");
}

#[test]
fn retries_429_and_5xx_then_succeeds() {
    let (url, seen) = start(Arc::new(|m: &str, p: &str, b: &Value, n| {
        // Requests 1 and 2 (after the preflight) fail.
        match (p, n) {
            ("/v1/completions", 1) => {
                Reply::Full(429, "application/json", "{\"error\":\"slow down\"}".into())
            }
            ("/v1/completions", 2) => Reply::Full(503, "text/plain", "busy".into()),
            _ => normal(m, p, b, n),
        }
    }));
    let mut e = OpenAiEngine::connect(cfg(&url)).unwrap();
    let g = e.generate(&[req("x", 2, &[])]).remove(0).unwrap();
    assert_eq!(g.text, " one,");
    assert_eq!(seen.load(Ordering::SeqCst), 4);
}

#[test]
fn persistent_5xx_and_4xx_become_request_errors() {
    let (url, seen) = start(Arc::new(|m: &str, p: &str, b: &Value, n| match p {
        "/v1/completions" if b["max_tokens"] == json!(1) => {
            Reply::Full(500, "text/plain", "kaput".into())
        }
        "/v1/completions" if b["max_tokens"] == json!(2) => {
            Reply::Full(400, "application/json", "{\"error\":\"bad\"}".into())
        }
        _ => normal(m, p, b, n),
    }));
    let mut c = cfg(&url);
    c.retries = 2;
    let mut e = OpenAiEngine::connect(c).unwrap();
    let out = e.generate(&[req("x", 1, &[])]);
    let err = out[0].as_ref().unwrap_err().to_string();
    assert!(
        err.contains("500") && err.contains("kaput") && err.contains("3 attempts"),
        "{err}"
    );
    assert_eq!(seen.load(Ordering::SeqCst), 1 + 3);
    // A client error is not retried.
    let err = e
        .generate(&[req("x", 2, &[])])
        .remove(0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("400"), "{err}");
    assert_eq!(seen.load(Ordering::SeqCst), 1 + 3 + 1);
}

#[test]
fn truncated_malformed_and_stalled_streams_are_per_request_errors() {
    let (url, _) = start(Arc::new(|m: &str, p: &str, b: &Value, n| {
        match (p, b["prompt"].as_str()) {
            ("/v1/completions", Some("truncated")) => {
                Reply::Stream(vec![chunk(" one", None), "data: {\"choi".into()])
            }
            ("/v1/completions", Some("malformed")) => {
                Reply::Stream(vec![chunk(" one", None), "data: {not json}\n\n".into()])
            }
            ("/v1/completions", Some("error-event")) => {
                Reply::Stream(vec![sse(json!({"error": {"message": "out of memory"}}))])
            }
            ("/v1/completions", Some("stall")) => Reply::Stall(Duration::from_secs(3)),
            _ => normal(m, p, b, n),
        }
    }));
    let mut e = OpenAiEngine::connect(cfg(&url)).unwrap();
    let out = e.generate(&[
        req("truncated", 4, &[]),
        req("malformed", 4, &[]),
        req("error-event", 4, &[]),
        req("stall", 4, &[]),
        req("fine", 2, &[]),
    ]);
    let msg = |i: usize| out[i].as_ref().unwrap_err().to_string();
    assert!(
        msg(0).contains("ended before a finish_reason"),
        "{}",
        msg(0)
    );
    assert!(msg(1).contains("malformed stream event"), "{}", msg(1));
    assert!(msg(2).contains("out of memory"), "{}", msg(2));
    assert!(msg(3).contains("no data for"), "{}", msg(3));
    assert_eq!(out[4].as_ref().unwrap().text, " one,");
}

#[test]
fn preflight_names_the_problem() {
    // Wrong model name.
    let (url, _) = start(Arc::new(normal));
    let err = OpenAiEngine::connect(OpenAiConfig::new(&url, "other"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"other\"") && err.contains("fake-model"),
        "{err}"
    );
    // HTML.
    let (url, _) = start(Arc::new(|_: &str, _: &str, _: &Value, _| {
        Reply::Full(
            200,
            "text/html",
            "<html><body>Welcome to nginx</body></html>".into(),
        )
    }));
    let err = OpenAiEngine::connect(cfg(&url)).unwrap_err().to_string();
    assert!(
        err.contains("not an OpenAI-compatible endpoint") && err.contains("text/html"),
        "{err}"
    );
    // JSON but not a model list.
    let (url, _) = start(Arc::new(|_: &str, _: &str, _: &Value, _| {
        Reply::Full(200, "application/json", "{\"hello\": 1}".into())
    }));
    let err = OpenAiEngine::connect(cfg(&url)).unwrap_err().to_string();
    assert!(err.contains("no `data` list"), "{err}");
    // Unreachable: a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = OpenAiEngine::connect(cfg(&format!("http://127.0.0.1:{port}/v1")))
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot reach"), "{err}");
    // Not a URL.
    let err = OpenAiEngine::connect(cfg("localhost:8080"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("must start with http://"), "{err}");
}

#[test]
fn https_urls_speak_tls() {
    // The client is built with rustls: an https:// URL pointed at a plain-HTTP server
    // fails in the TLS handshake, not with "scheme is not http" (what a build without a
    // TLS backend says).
    let (url, _) = start(Arc::new(normal));
    let tls_url = url.replacen("http://", "https://", 1);
    let err = OpenAiEngine::connect(cfg(&tls_url))
        .unwrap_err()
        .to_string();
    assert!(!err.to_lowercase().contains("scheme"), "{err}");
    assert!(
        err.contains("connection failed") && !err.contains("refused"),
        "{err}"
    );
    assert!(err.contains(&tls_url), "{err}");
}

#[test]
fn api_key_is_never_printed_and_a_missing_one_is_named() {
    std::env::set_var("TRILEMMA_TEST_KEY_7f3", "sk-secret-value");
    let (url, _) = start(Arc::new(normal));
    let mut c = cfg(&url);
    c.api_key_env = Some("TRILEMMA_TEST_KEY_7f3".into());
    let e = OpenAiEngine::connect(c).unwrap();
    let shown = format!("{e:?} {:?}", e.engine_info());
    assert!(!shown.contains("sk-secret-value"), "{shown}");
    let mut c = cfg(&url);
    c.api_key_env = Some("TRILEMMA_TEST_KEY_UNSET_91".into());
    let err = OpenAiEngine::connect(c).unwrap_err().to_string();
    assert!(err.contains("TRILEMMA_TEST_KEY_UNSET_91"), "{err}");
}
