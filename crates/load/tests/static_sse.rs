//! The load generator against the static SSE target: every request gets the same
//! 4-token stream, so counts and profiles can be checked exactly.

use std::time::Duration;

use trilemma_load::target::spawn_static;
use trilemma_load::{run, summarize, LoadConfig, Profile, Slo};

fn start_static() -> String {
    spawn_static(4).unwrap()
}

fn cfg(url: &str, profile: Profile, requests: usize) -> LoadConfig {
    LoadConfig {
        base_url: url.into(),
        model: "m".into(),
        prompts: vec!["hello".into(), "world".into()],
        max_tokens: 4,
        requests,
        profile,
        api_key_env: None,
        timeout: Duration::from_secs(10),
        threads: 2,
        chat: false,
    }
}

#[test]
fn closed_loop_and_poisson_profiles_measure_every_request() {
    let url = start_static();
    let r = run(&cfg(&url, Profile::Concurrency { n: 8 }, 400)).unwrap();
    assert_eq!(r.requests.len(), 400);
    // Its 8 connections were opened before the clock started.
    assert_eq!(r.warm_connections, 8);
    assert!(r
        .requests
        .iter()
        .all(|q| q.error.is_none() && q.token_ns.len() == 4 && q.output_tokens == 4));
    let s = summarize(&r, &Slo::default(), 8).unwrap();
    assert_eq!(s.completed, 400);
    assert!((s.goodput_per_s - s.requests_per_s).abs() < 1e-9);
    assert!((s.output_tokens_per_s - 4.0 * s.requests_per_s).abs() < 1e-6);
    // The target reports its own TTFT; the client's is later by what HTTP adds.
    assert!(r.requests.iter().all(|q| q.server_ttft_ns.is_some()));
    let gap = s.ttft_gap_s.expect("a TTFT gap per request");
    assert_eq!(gap.n, 400);
    assert!(
        gap.min > 0.0,
        "the client cannot see the piece before the server sent it"
    );

    // Seeded Poisson arrivals.
    let a = run(&cfg(
        &url,
        Profile::Poisson {
            rate: 400.0,
            seed: 7,
        },
        40,
    ))
    .unwrap();
    assert_eq!(a.requests.len(), 40);
    assert!(a.requests.iter().all(|q| q.error.is_none()));
    // 40 requests at 400/s take about 0.1 s of arrivals: well over 20 ms, well under 2 s.
    let span = (a.requests.last().unwrap().start_ns - a.requests[0].start_ns) as f64 / 1e9;
    assert!(span > 0.02 && span < 2.0, "{span}");
}

#[test]
fn unreachable_server_gives_per_request_errors_and_no_summary() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = run(&cfg(
        &format!("http://127.0.0.1:{port}/v1"),
        Profile::Concurrency { n: 2 },
        4,
    ))
    .unwrap();
    assert_eq!(r.requests.len(), 4);
    assert!(r.requests.iter().all(|q| q.error.is_some()));
    let e = summarize(&r, &Slo::default(), 2).unwrap_err().to_string();
    assert!(e.contains("no request succeeded"), "{e}");
}
