//! `trilemma serve` over a fake engine (a character-level engine written for this
//! test), driven by the HTTP engine: what comes through the server equals what the
//! engine gives directly, requests are batched up to `max_batch`, bad requests get
//! clear errors, and shutdown is graceful.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{get, post, start, FakeEngine};
use trilemma_engine::http::{OpenAiConfig, OpenAiEngine};
use trilemma_engine::{ChatMessage, Engine, GenerationRequest, LoglikelihoodRequest};

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
            ..Default::default()
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
    // "<user>hi<assistant>" is 19 characters: the answer starts at "ab "[19 % 3].
    assert_eq!(chat[0].as_ref().unwrap().text, "b ab");

    assert!(get(server.port, "/health").ends_with("ok"));
    let m = get(server.port, "/metrics");
    // The four choices of one context went in one request (`prompt` as a list), then 8
    // generations and a chat: 10 requests.
    assert!(m.contains("trilemma_requests_total 10"), "{m}");
    assert!(m.contains("trilemma_queue_depth 0"), "{m}");
    assert!(
        m.contains("trilemma_request_latency_seconds_count 10"),
        "{m}"
    );

    // Bad requests.
    let r = post(
        server.port,
        "/v1/completions",
        r#"{"model":"other","prompt":"x"}"#,
    );
    assert!(
        r.starts_with("HTTP/1.1 404")
            && r.contains("does not exist")
            && r.contains("model_not_found"),
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
