use super::*;

#[test]
fn sweep_rates_lie_strictly_between() {
    assert_eq!(sweep_rates(1.0, 5.0, 3), vec![2.0, 3.0, 4.0]);
    assert!(sweep_rates(4.0, 4.0, 3).is_empty());
    assert!(sweep_rates(0.0, 4.0, 3).is_empty());
    assert!(sweep_rates(1.0, 2.0, 0).is_empty());
}

#[test]
fn slo_parses_and_rejects() {
    let s: Slo = "ttft=500ms,tpot=50ms".parse().unwrap();
    assert_eq!(s.ttft_s, Some(0.5));
    assert_eq!(s.tpot_s, Some(0.05));
    assert!("ttft=fast".parse::<Slo>().is_err());
    assert!("latency=1s".parse::<Slo>().is_err());
}

fn rec(start: u64, tokens: &[u64], end: u64) -> RequestRecord {
    RequestRecord {
        start_ns: start,
        token_ns: tokens.to_vec(),
        end_ns: end,
        output_tokens: tokens.len() as u32,
        error: None,
        server_ttft_ns: None,
    }
}

#[test]
fn summary_goodput_and_window() {
    let ms = 1_000_000u64;
    let run = LoadRun {
        profile: Profile::Concurrency { n: 2 },
        started_ns: 0,
        ended_ns: 1000 * ms,
        requests: vec![
            rec(0, &[100 * ms, 120 * ms, 140 * ms], 150 * ms),
            rec(10 * ms, &[700 * ms, 900 * ms], 950 * ms),
            rec(160 * ms, &[200 * ms], 900 * ms),
        ],
        warm_connections: 2,
    };
    let slo: Slo = "ttft=500ms,tpot=50ms".parse().unwrap();
    let s = summarize(&run, &slo, 2).unwrap();
    assert_eq!(s.completed, 3);
    assert!((s.requests_per_s - 3.0).abs() < 1e-9);
    // The second request misses both objectives.
    assert!((s.goodput_per_s - 2.0).abs() < 1e-9);
    assert!((s.ttft_s.unwrap().max - 0.69).abs() < 1e-9);
    assert!((s.itl_s.unwrap().mean - (0.02 + 0.02 + 0.2) / 3.0).abs() < 1e-9);
    // Two in flight from 10 ms to 150 ms, again from 160 ms until 900 ms.
    assert_eq!(s.steady_window_ns, Some((10 * ms, 900 * ms)));
}
