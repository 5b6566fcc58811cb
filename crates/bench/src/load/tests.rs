use super::*;
use serde_json::json;

fn ours(requests_per_cpu_s: f64) -> ClientCost {
    ClientCost {
        client: "trilemma".into(),
        client_cpu_s: 2.0,
        completed: 2000,
        failed: 0,
        requests_per_cpu_s,
        requests_per_s: 5000.0,
        ttft_gap_max_ms: Some(1.0),
        ttft_gap_p50_ms: Some(0.1),
        ttft_gap_p99_ms: Some(0.5),
        ttft_p50_ms: Some(0.2),
        ttft_p99_ms: Some(0.9),
        wall_s: 0.4,
    }
}

/// The parts of a GuideLLM 0.8.1 results file that are read.
fn guidellm_results() -> Value {
    json!({"benchmarks": [{
        "duration": 4.0,
        "scheduler_metrics": {"requests_made": {"successful": 2000, "errored": 0}},
        "metrics": {
            "requests_per_second": {"successful": {"mean": 500.0}},
            "request_concurrency": {"successful": {"mean": 31.5}},
            "time_to_first_token_ms": {"successful": {"median": 2.0, "percentiles": {"p99": 9.0}}}
        }
    }]})
}

#[test]
fn guidellms_cost_and_the_ratios_come_from_its_results_and_cpu() {
    // Long run: 2,000 requests in 10 CPU-s; short run: 500 in 4 CPU-s.
    let g = guidellm_cost(&guidellm_results(), 12.0, 10.0, 2000, 500, 4.0);
    assert_eq!(g.completed, 2000.0);
    assert_eq!(g.failed, Some(0.0));
    assert_eq!(g.requests_per_cpu_s, 200.0);
    assert_eq!(g.marginal_requests_per_cpu_s, 250.0);
    assert_eq!(g.requests_per_s, Some(500.0));
    assert_eq!(g.ttft_p99_ms, Some(9.0));
    assert_eq!(g.wall_s, Some(4.0));
    let r = LoadBenchReport::new(32, 4, ours(1000.0), Some(g));
    assert_eq!(r.requests_per_cpu_s_ratio, Some(5.0));
    assert_eq!(r.marginal_requests_per_cpu_s_ratio, Some(4.0));
}

#[test]
fn a_results_file_without_counts_gives_no_ratio() {
    let g = guidellm_cost(&json!({"benchmarks": []}), 1.0, 1.0, 8, 2, 0.5);
    assert!(g.completed.is_nan() && g.failed.is_none());
    let r = LoadBenchReport::new(32, 4, ours(1000.0), Some(g));
    assert_eq!(r.requests_per_cpu_s_ratio, None);
    // The marginal cost needs only the CPU times: 6 requests / 0.5 s.
    assert_eq!(r.marginal_requests_per_cpu_s_ratio, Some(1000.0 / 12.0));
}

/// The `--json` report keeps the keys (sorted, as the old `json!` maps had them);
/// GuideLLM's unmeasured count is null, as before.
#[test]
fn the_json_report_keeps_its_shape() {
    let r = LoadBenchReport::new(32, 4, ours(1000.0), None);
    let v = serde_json::to_value(&r).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "concurrency",
            "cpu_source",
            "guidellm",
            "marginal_requests_per_cpu_s_ratio",
            "ours",
            "pieces",
            "requests_per_cpu_s_ratio",
            "target"
        ]
    );
    assert_eq!(serde_json::to_string(&r).unwrap(), v.to_string());
    assert!(v["guidellm"].is_null() && v["requests_per_cpu_s_ratio"].is_null());
    assert_eq!(v["ours"]["completed"], 2000);
    let g = guidellm_cost(&json!({}), 1.0, 1.0, 8, 2, 0.5);
    let v = serde_json::to_value(LoadBenchReport::new(32, 4, ours(1.0), Some(g))).unwrap();
    assert!(v["guidellm"]["completed"].is_null());
    assert_eq!(
        v["guidellm"]["short_run"],
        json!({"cpu_s": 0.5, "requests": 2})
    );
}

#[test]
fn without_a_processor_the_error_says_how_to_make_one() {
    let cfg = LoadBenchConfig {
        concurrency: 1,
        requests: 1,
        pieces: 1,
        client_threads: 1,
        guidellm_python: None,
        processor: Some(PathBuf::from("/tok")),
        guidellm_requests: 4,
    };
    assert_eq!(processor(&cfg).unwrap(), PathBuf::from("/tok"));
    assert!(Error::NoProcessor.to_string().contains("guidellm_setup.sh"));
}

/// The target answers a streamed completion with `pieces` text events, a usage
/// event and `[DONE]`, and `GET /health` with 200 (as `bench load` waits for).
#[test]
fn the_sse_target_answers_a_request() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || serve_sse_listener(listener, 3));
    let ask = |request: &str| {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        // Chunked, kept alive: read until the last chunk.
        while !got.ends_with(b"0\r\n\r\n") {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8(got).unwrap()
    };
    let health = ask("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let body = r#"{"model":"static","prompt":"x","max_tokens":3,"stream":true}"#;
    let answer = ask(&format!(
        "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    assert!(answer.contains("text/event-stream"), "{answer}");
    for i in 0..3 {
        assert!(answer.contains(&format!("\" w{i}\"")), "{answer}");
    }
    assert!(!answer.contains("\" w3\""), "{answer}");
    assert!(answer.contains("\"completion_tokens\":3"), "{answer}");
    assert!(answer.contains("data: [DONE]"), "{answer}");
    assert!(answer.contains("since_request_ns"), "{answer}");
}

#[test]
fn a_taken_address_is_an_error_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let e = serve_sse_target(addr, 1).unwrap_err().to_string();
    assert!(e.contains(&addr.to_string()), "{e}");
}
