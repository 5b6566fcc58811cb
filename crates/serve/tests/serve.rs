//! `trilemma serve` over a fake engine (a character-level engine written for this
//! test), driven by the HTTP engine: what comes through the server equals what the
//! engine gives directly, requests are batched up to `max_batch`, bad requests get
//! clear errors, and shutdown is graceful.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use trilemma_core::{now_ns, ModelInfo, RequestTiming};
use trilemma_engine::http::{OpenAiConfig, OpenAiEngine};
use trilemma_engine::{
    ChatMessage, Engine, EngineInfo, FinishReason, Generation, GenerationRequest, Loglikelihood,
    LoglikelihoodRequest, Result, RollingLoglikelihood,
};
use trilemma_serve::{serve, ServeConfig};

/// Fake engine: one token per character; the log-probability of a character depends
/// only on the character; generation repeats "ab ".
struct FakeEngine {
    info: ModelInfo,
    largest_batch: Arc<AtomicUsize>,
    delay: Duration,
}

fn char_lp(c: char) -> f64 {
    -((c as u32 % 7) as f64 + 1.0) / 10.0
}

impl FakeEngine {
    fn new(largest_batch: Arc<AtomicUsize>, delay: Duration) -> Self {
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
                let start_ns = now_ns();
                let full: String = "ab ".chars().cycle().take(r.max_tokens as usize).collect();
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
                    token_logprobs: Vec::new(),
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
    fn prompt_logprobs(&mut self, text: &str) -> Result<trilemma_engine::PromptLogprobs> {
        self.note(1);
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
            tokens,
        })
    }
}

struct Running {
    url: String,
    port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn start(engine: FakeEngine, max_batch: usize) -> Running {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = std_listener.local_addr().unwrap().port();
    std_listener.set_nonblocking(true).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            let cfg = ServeConfig {
                model_name: "fake-model".into(),
                max_batch,
                prefill_chunk: None,
            };
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

fn raw(port: u16, request: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn get(port: u16, path: &str) -> String {
    raw(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    )
}

fn post(port: u16, path: &str, body: &str) -> String {
    raw(port, &format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()))
}

#[test]
fn evaluation_through_serve_equals_the_engine() {
    let largest = Arc::new(AtomicUsize::new(0));
    let mut direct = FakeEngine::new(Arc::new(AtomicUsize::new(0)), Duration::ZERO);
    let mut server = start(
        FakeEngine::new(largest.clone(), Duration::from_millis(30)),
        4,
    );
    let mut c = OpenAiConfig::new(&server.url, "fake-model");
    c.max_concurrency = 16;
    let mut http = OpenAiEngine::connect(c).unwrap();

    let ll: Vec<LoglikelihoodRequest> = ["Paris", "Berlin", "a zebra", "42"]
        .iter()
        .map(|c| LoglikelihoodRequest {
            context: "Question: capital of France? Answer: ".into(),
            continuation: c.to_string(),
        })
        .collect();
    let a = direct.loglikelihood(&ll);
    let b = http.loglikelihood(&ll);
    for (x, y) in a.iter().zip(&b) {
        let (x, y) = (x.as_ref().unwrap(), y.as_ref().unwrap());
        assert!((x.logprob - y.logprob).abs() < 1e-9, "{x:?} vs {y:?}");
        assert_eq!(x.tokens, y.tokens);
        assert_eq!(x.is_greedy, y.is_greedy);
    }

    let reqs: Vec<GenerationRequest> = (0..8)
        .map(|i| GenerationRequest {
            prompt: format!("prompt {i}"),
            max_tokens: 3 + i,
            stop: if i % 2 == 0 {
                vec![" a".into()]
            } else {
                vec![]
            },
        })
        .collect();
    let a = direct.generate(&reqs);
    let b = http.generate(&reqs);
    for (x, y) in a.iter().zip(&b) {
        let (x, y) = (x.as_ref().unwrap(), y.as_ref().unwrap());
        assert_eq!(x.text, y.text);
        assert_eq!(x.finish, y.finish);
        assert_eq!(x.output_tokens, y.output_tokens);
        assert_eq!(x.prompt_tokens, y.prompt_tokens);
    }
    let most = largest.load(Ordering::SeqCst);
    assert!(most <= 4, "the engine got a batch of {most} > max_batch 4");
    assert!(most >= 2, "8 concurrent requests were never batched");

    let chat = http.chat(&[trilemma_engine::http::ChatRequest {
        messages: vec![ChatMessage {
            role: "user".into(),
            content: "hi".into(),
        }],
        max_tokens: 4,
        stop: vec![],
    }]);
    assert_eq!(chat[0].as_ref().unwrap().text, "ab a");

    assert!(get(server.port, "/health").ends_with("ok"));
    let m = get(server.port, "/metrics");
    assert!(m.contains("trilemma_requests_total 13"), "{m}");
    assert!(m.contains("trilemma_queue_depth 0"), "{m}");
    assert!(
        m.contains("trilemma_request_latency_seconds_count 13"),
        "{m}"
    );

    // Bad requests.
    let r = post(
        server.port,
        "/v1/completions",
        r#"{"model":"other","prompt":"x"}"#,
    );
    assert!(
        r.starts_with("HTTP/1.1 404") && r.contains("not served here"),
        "{r}"
    );
    let r = post(
        server.port,
        "/v1/completions",
        r#"{"prompt":"x","temperature":0.7}"#,
    );
    assert!(r.starts_with("HTTP/1.1 400") && r.contains("greedy"), "{r}");
    let r = post(
        server.port,
        "/v1/chat/completions",
        r#"{"messages":[{"role":"user"}]}"#,
    );
    assert!(
        r.starts_with("HTTP/1.1 400") && r.contains("messages[0]"),
        "{r}"
    );

    // Graceful shutdown: the server returns and the port closes.
    server.stop.take().unwrap().send(()).unwrap();
    server.thread.take().unwrap().join().unwrap();
    assert!(std::net::TcpStream::connect(("127.0.0.1", server.port)).is_err());
}
