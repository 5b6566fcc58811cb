//! Summaries of a load run: latency distributions, throughput, goodput against SLOs and
//! the steady-state window.

use serde::{Deserialize, Serialize};
use trilemma_core::stats::Distribution;
use trilemma_core::MonoNs;

use crate::{Error, LoadRun, LoadSummary, RequestRecord, Result};

/// Latency objectives for goodput.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Slo {
    pub ttft_s: Option<f64>,
    pub tpot_s: Option<f64>,
    pub e2e_s: Option<f64>,
}

impl std::str::FromStr for Slo {
    type Err = Error;
    /// `ttft=500ms,tpot=50ms,e2e=2s`.
    fn from_str(s: &str) -> Result<Self> {
        let mut slo = Slo::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| Error::Config(format!("SLO part {part:?} is not name=duration")))?;
            let secs = parse_duration(v).ok_or_else(|| {
                Error::Config(format!("SLO {k}: {v:?} is not a duration like 500ms or 2s"))
            })?;
            match k {
                "ttft" => slo.ttft_s = Some(secs),
                "tpot" => slo.tpot_s = Some(secs),
                "e2e" => slo.e2e_s = Some(secs),
                _ => {
                    return Err(Error::Config(format!(
                        "unknown SLO {k:?} (ttft, tpot, e2e)"
                    )))
                }
            }
        }
        Ok(slo)
    }
}

fn parse_duration(v: &str) -> Option<f64> {
    let v = v.trim();
    let (num, scale) = if let Some(n) = v.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = v.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1.0)
    } else {
        return None;
    };
    num.trim()
        .parse::<f64>()
        .ok()
        .filter(|x| *x >= 0.0)
        .map(|x| x * scale)
}

/// Summarizes a run against SLOs; `batch` is the in-flight count that opens the
/// steady-state window (the concurrency, or the server's max batch).
pub fn summarize(run: &LoadRun, slo: &Slo, batch: usize) -> Result<LoadSummary> {
    let ok: Vec<&RequestRecord> = run.requests.iter().filter(|r| r.error.is_none()).collect();
    if ok.is_empty() {
        let first = run
            .requests
            .iter()
            .find_map(|r| r.error.clone())
            .unwrap_or_else(|| "no requests were sent".into());
        return Err(Error::NothingMeasured(first));
    }
    let dist = |xs: Vec<f64>| Distribution::of(&xs).ok();
    let duration_s = run.ended_ns.saturating_sub(run.started_ns) as f64 / 1e9;
    let tokens: u64 = ok.iter().map(|r| r.output_tokens as u64).sum();
    let itl: Vec<f64> = ok
        .iter()
        .flat_map(|r| r.token_ns.windows(2).map(|w| (w[1] - w[0]) as f64 / 1e9))
        .collect();
    let good = ok
        .iter()
        .filter(|r| {
            let e2e = (r.end_ns - r.start_ns) as f64 / 1e9;
            slo.ttft_s
                .is_none_or(|s| r.ttft_s().is_some_and(|t| t <= s))
                && slo.tpot_s.is_none_or(|s| r.tpot_s().is_none_or(|t| t <= s))
                && slo.e2e_s.is_none_or(|s| e2e <= s)
        })
        .count();
    let spans: Vec<(MonoNs, MonoNs)> = run
        .requests
        .iter()
        .map(|r| (r.start_ns, r.end_ns))
        .collect();
    let events = trilemma_telemetry::inflight_from_spans(&spans);
    Ok(LoadSummary {
        profile: run.profile,
        completed: ok.len(),
        failed: run.requests.len() - ok.len(),
        duration_s,
        requests_per_s: ok.len() as f64 / duration_s.max(1e-9),
        output_tokens_per_s: tokens as f64 / duration_s.max(1e-9),
        ttft_s: dist(ok.iter().filter_map(|r| r.ttft_s()).collect()),
        itl_s: dist(itl),
        tpot_s: dist(ok.iter().filter_map(|r| r.tpot_s()).collect()),
        e2e_s: dist(
            ok.iter()
                .map(|r| (r.end_ns - r.start_ns) as f64 / 1e9)
                .collect(),
        ),
        output_tokens: dist(ok.iter().map(|r| r.output_tokens as f64).collect()),
        goodput_per_s: good as f64 / duration_s.max(1e-9),
        steady_window_ns: trilemma_telemetry::steady_state_window(&events, batch),
        ttft_gap_s: dist(ok.iter().filter_map(|r| r.ttft_gap_s()).collect()),
    })
}
