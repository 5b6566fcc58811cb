//! The load generator against a minimal static SSE server written here: every
//! request gets the same 4-token stream, so counts and profiles can be checked exactly.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use trilemma_load::{run, summarize, LoadConfig, Profile, Slo};

const STREAM: &str =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";

fn chunk(s: &str) -> String {
    format!("{:x}\r\n{s}\r\n", s.len())
}

/// Serves keep-alive HTTP/1.1: each POST gets 4 text events, a usage event and [DONE].
fn start_static() -> String {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = std_listener.local_addr().unwrap().port();
    std_listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(std_listener).unwrap();
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut tmp = [0u8; 8192];
                    loop {
                        // One request: headers, then Content-Length bytes.
                        let (head_end, len) = loop {
                            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
                                let len = head
                                    .lines()
                                    .find_map(|l| l.strip_prefix("content-length:"))
                                    .and_then(|v| v.trim().parse::<usize>().ok())
                                    .unwrap_or(0);
                                break (i + 4, len);
                            }
                            match s.read(&mut tmp).await {
                                Ok(0) | Err(_) => return,
                                Ok(k) => buf.extend_from_slice(&tmp[..k]),
                            }
                        };
                        while buf.len() < head_end + len {
                            match s.read(&mut tmp).await {
                                Ok(0) | Err(_) => return,
                                Ok(k) => buf.extend_from_slice(&tmp[..k]),
                            }
                        }
                        buf.drain(..head_end + len);
                        let mut out = String::from(STREAM);
                        for w in ["a", " b", " c", " d"] {
                            out.push_str(&chunk(&format!(
                                "data: {{\"choices\":[{{\"index\":0,\"text\":\"{w}\",\"finish_reason\":null}}]}}\n\n"
                            )));
                        }
                        out.push_str(&chunk("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\n"));
                        out.push_str(&chunk("data: [DONE]\n\n"));
                        out.push_str("0\r\n\r\n");
                        if s.write_all(out.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
    });
    format!("http://127.0.0.1:{port}/v1")
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
    }
}

#[test]
fn closed_loop_and_poisson_profiles_measure_every_request() {
    let url = start_static();
    let r = run(&cfg(&url, Profile::Concurrency { n: 8 }, 400)).unwrap();
    assert_eq!(r.requests.len(), 400);
    assert!(r
        .requests
        .iter()
        .all(|q| q.error.is_none() && q.token_ns.len() == 4 && q.output_tokens == 4));
    let s = summarize(&r, &Slo::default(), 8).unwrap();
    assert_eq!(s.completed, 400);
    assert!((s.goodput_per_s - s.requests_per_s).abs() < 1e-9);
    assert!((s.output_tokens_per_s - 4.0 * s.requests_per_s).abs() < 1e-6);

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
