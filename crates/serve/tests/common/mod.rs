//! What the server tests share: a fake engine (a character-level engine written for
//! these tests: one token per character) and a server over it on 127.0.0.1:0, spoken
//! to in raw HTTP.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use trilemma_core::{now_ns, ModelInfo, RequestTiming};
use trilemma_engine::{
    ChatMessage, Engine, EngineInfo, FinishReason, Generation, GenerationRequest, Loglikelihood,
    LoglikelihoodRequest, PromptInput, Result, RollingLoglikelihood, TopToken,
};
use trilemma_serve::{serve, ServeConfig};

/// Fake engine: one token per character; the log-probability of a character depends
/// only on the character; generation repeats "ab ", starting at the prompt's length
/// modulo 3 (so that prompts of different lengths answer differently). A prompt that
/// holds "FAIL" fails; one that holds "PANIC" panics the engine's thread.
pub struct FakeEngine {
    info: ModelInfo,
    largest_batch: Arc<AtomicUsize>,
    delay: Duration,
}

pub fn char_lp(c: char) -> f64 {
    -((c as u32 % 7) as f64 + 1.0) / 10.0
}

/// The fake's `k` most likely tokens where `c` was chosen: `c` first when it was the most
/// likely, else 'z' (at -0.05) before it; then '~' at -5.
pub fn fake_top(c: char, greedy: bool, k: usize) -> Vec<TopToken> {
    let t = |c: char, logprob: f64| TopToken {
        id: c as u32,
        text: c.to_string(),
        logprob,
    };
    let list = if greedy {
        vec![t(c, char_lp(c)), t('~', -5.0)]
    } else {
        vec![t('z', -0.05), t(c, char_lp(c)), t('~', -5.0)]
    };
    list.into_iter().take(k).collect()
}

impl FakeEngine {
    pub fn new(largest_batch: Arc<AtomicUsize>, delay: Duration) -> Self {
        Self {
            info: ModelInfo {
                name: "fake".into(),
                architecture: None,
                parameters: None,
                quantization: None,
                file_bytes: None,
                context_length: 4096,
                trained_context_length: None,
                sha256: None,
                has_chat_template: true,
            },
            largest_batch,
            delay,
        }
    }
    /// The same engine with a context of `n` tokens (characters).
    pub fn with_context(mut self, n: u32) -> Self {
        self.info.context_length = n;
        self
    }
    fn note(&self, n: usize) {
        self.largest_batch.fetch_max(n, Ordering::SeqCst);
        std::thread::sleep(self.delay);
    }
}

impl Engine for FakeEngine {
    fn model_info(&self) -> &ModelInfo {
        &self.info
    }
    fn engine_info(&self) -> EngineInfo {
        EngineInfo {
            kind: "fake".into(),
            version: "0".into(),
            threads: None,
            device: "cpu".into(),
            max_batch: 64,
            gpu_layers: None,
        }
    }
    fn tokenize(&self, text: &str, _add_special: bool) -> Result<Vec<u32>> {
        Ok(text.chars().map(|c| c as u32).collect())
    }
    fn detokenize(&self, tokens: &[u32]) -> Result<String> {
        Ok(tokens.iter().filter_map(|&t| char::from_u32(t)).collect())
    }
    fn apply_chat_template(&self, messages: &[ChatMessage]) -> Result<String> {
        Ok(messages
            .iter()
            .map(|m| format!("<{}>{}", m.role, m.content))
            .collect::<String>()
            + "<assistant>")
    }
    fn generate(&mut self, requests: &[GenerationRequest]) -> Vec<Result<Generation>> {
        self.note(requests.len());
        requests
            .iter()
            .map(|r| {
                if r.prompt.contains("PANIC") {
                    panic!("the fake engine panics, as asked");
                }
                if r.prompt.contains("FAIL") {
                    return Err(trilemma_engine::Error::Inference(
                        "the fake engine fails, as asked".into(),
                    ));
                }
                let start_ns = now_ns();
                let full: String = "ab "
                    .chars()
                    .cycle()
                    .skip(r.prompt.chars().count() % 3)
                    .take(r.max_tokens as usize)
                    .collect();
                let (text, stopped) = trilemma_engine::cut_at_stop(&full, &r.stop);
                let n = if stopped {
                    text.chars().count() as u32 + 1
                } else {
                    r.max_tokens
                };
                let t = now_ns();
                Ok(Generation {
                    text: text.to_string(),
                    prompt_tokens: r.prompt.chars().count() as u32,
                    output_tokens: n,
                    finish: if stopped {
                        FinishReason::Stop
                    } else {
                        FinishReason::Length
                    },
                    timing: RequestTiming {
                        start_ns,
                        first_token_ns: Some(t),
                        token_ns: vec![t; n as usize],
                        end_ns: t,
                    },
                    token_logprobs: full
                        .chars()
                        .take(n as usize)
                        .map(|c| char_lp(c) as f32)
                        .collect(),
                    token_texts: full.chars().take(n as usize).map(String::from).collect(),
                    // Greedy: the chosen token is the most likely, then 'z'.
                    top_logprobs: full
                        .chars()
                        .take(n as usize)
                        .map(|c| fake_top(c, true, r.top_logprobs as usize))
                        .collect(),
                    truncated: None,
                })
            })
            .collect()
    }
    fn loglikelihood(&mut self, requests: &[LoglikelihoodRequest]) -> Vec<Result<Loglikelihood>> {
        self.note(requests.len());
        requests
            .iter()
            .map(|r| {
                let t = now_ns();
                // lm-eval's split, as the trait asks.
                let (ctx, cont) =
                    trilemma_engine::move_trailing_spaces(&r.context, &r.continuation);
                Ok(Loglikelihood {
                    logprob: cont.chars().map(char_lp).sum(),
                    tokens: cont.chars().count() as u32,
                    // 'a' is never greedy; every other character is.
                    is_greedy: !cont.contains('a'),
                    context_tokens: ctx.chars().count() as u32,
                    timing: RequestTiming {
                        start_ns: t,
                        first_token_ns: None,
                        token_ns: vec![],
                        end_ns: t,
                    },
                    truncated: None,
                })
            })
            .collect()
    }
    fn loglikelihood_rolling(&mut self, texts: &[String]) -> Vec<Result<RollingLoglikelihood>> {
        texts
            .iter()
            .map(|t| {
                let n = now_ns();
                Ok(RollingLoglikelihood {
                    logprob: t.chars().skip(1).map(char_lp).sum(),
                    tokens: t.chars().count().saturating_sub(1) as u32,
                    timing: RequestTiming {
                        start_ns: n,
                        first_token_ns: None,
                        token_ns: vec![],
                        end_ns: n,
                    },
                })
            })
            .collect()
    }
    fn prompt_logprobs(
        &mut self,
        prompt: &PromptInput,
        top: usize,
    ) -> Result<trilemma_engine::PromptLogprobs> {
        self.note(1);
        // One token per character; a token id is a character's code.
        let text: String = match prompt {
            PromptInput::Text(t) => t.clone(),
            PromptInput::Tokens(ids) => ids.iter().filter_map(|&i| char::from_u32(i)).collect(),
        };
        let tokens: Vec<u32> = text.chars().map(|c| c as u32).collect();
        Ok(trilemma_engine::PromptLogprobs {
            logprobs: text
                .chars()
                .enumerate()
                .map(|(i, c)| (i > 0).then(|| char_lp(c)))
                .collect(),
            // 'a' is never greedy; every other character is.
            greedy: text
                .chars()
                .enumerate()
                .map(|(i, c)| i > 0 && c != 'a')
                .collect(),
            top: text
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if i == 0 {
                        Vec::new()
                    } else {
                        fake_top(c, c != 'a', top)
                    }
                })
                .collect(),
            tokens,
        })
    }
}

pub struct Running {
    pub url: String,
    pub port: u16,
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub thread: Option<std::thread::JoinHandle<()>>,
}

pub fn start(engine: FakeEngine, max_batch: usize) -> Running {
    start_with(engine, ServeConfig::new("fake-model", max_batch))
}

pub fn start_with(engine: FakeEngine, cfg: ServeConfig) -> Running {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = std_listener.local_addr().unwrap().port();
    std_listener.set_nonblocking(true).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            serve(listener, Box::new(engine), cfg, async move {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
    });
    Running {
        url: format!("http://127.0.0.1:{port}/v1"),
        port,
        stop: Some(tx),
        thread: Some(thread),
    }
}

pub fn raw(port: u16, request: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    // The server waits for nothing it does not need: an answer that never comes fails here.
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

pub fn get(port: u16, path: &str) -> String {
    raw(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    )
}

pub fn post(port: u16, path: &str, body: &str) -> String {
    raw(port, &format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()))
}

/// A raw HTTP answer split into its status, headers (lower-cased names) and body.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn parse(raw: &str) -> Self {
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Self {
            status,
            headers,
            body: body.to_string(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (a chunked body is de-chunked first).
    pub fn json(&self) -> serde_json::Value {
        let text = if self.header("transfer-encoding") == Some("chunked") {
            dechunk(&self.body)
        } else {
            self.body.clone()
        };
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    /// The `data:` payloads of a server-sent-events body.
    pub fn events(&self) -> Vec<String> {
        self.body
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(String::from)
            .collect()
    }
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
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

/// POSTs `body` to `path` and parses the answer.
pub fn post_json(port: u16, path: &str, body: &serde_json::Value) -> Answer {
    Answer::parse(&post(port, path, &body.to_string()))
}

/// Asserts OpenAI's error shape with `status`, and returns the `error` object.
pub fn assert_error(a: &Answer, status: u16) -> serde_json::Value {
    assert_eq!(a.status, status, "{}", a.body);
    assert!(
        a.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{:?}",
        a.headers
    );
    let v = a.json();
    let e = v["error"].clone();
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    assert!(e["type"].as_str().is_some_and(|t| !t.is_empty()), "{v}");
    assert!(e["code"].as_str().is_some_and(|c| !c.is_empty()), "{v}");
    let keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
    for k in ["message", "type", "param", "code"] {
        assert!(keys.contains(&k), "no `{k}` in {v}");
    }
    e
}
