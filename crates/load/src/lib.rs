//! `trilemma load`: drives an OpenAI-compatible `/v1/completions` endpoint with
//! streamed requests and keeps raw per-request timestamps; summaries come afterwards.
//!
//! Profiles: closed-loop concurrency N (N workers, each sends its next request when
//! the last one ends), open-loop constant rate, and open-loop Poisson rate (seeded
//! exponential gaps). [`sweep`] runs a list of profiles in order; [`sweep_rates`]
//! places GuideLLM-style sweep rates between a synchronous and a saturated run.
//! The steady-state window is `trilemma_telemetry::steady_state_window` over the
//! in-flight counts of the requests.
//!
//! [`run_plan`] is the whole of `trilemma load`: servers given or started here
//! ([`process`]), the profiles of a [`ProfilePlan`], metering and steady-state J/token
//! ([`energy`]), and the load file, whose types live in `trilemma_store::load`.

pub mod energy;
pub mod plan;
pub mod process;
pub mod prompts;
pub mod session;
pub mod target;

pub use energy::steady_energy;
pub use plan::{ProfilePlan, Role};
pub use prompts::read_prompts;
pub use session::{run_plan, LoadEvent, LoadPlan, Server, SpawnServers};
/// The load file's data: `trilemma-store` owns it so that its readers need not depend
/// on the load generator.
pub use trilemma_store::load::{
    LoadEntry, LoadFile, LoadRun, LoadSummary, Profile, RequestRecord, SourceEnergy, SteadyEnergy,
};

use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use trilemma_core::stats::Distribution;
use trilemma_core::{now_ns, MonoNs};
use trilemma_engine::sse::{SseEvent, SseParser};

/// Errors of the load generator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bad load setting: {0}")]
    Config(String),
    #[error("cannot start the load generator: {0}")]
    Start(String),
    #[error("no request succeeded: {0}")]
    NothingMeasured(String),
    /// A server process that did not start or did not answer.
    #[error("{what}: {message}")]
    Spawn { what: String, message: String },
    /// The server did not pass the preflight (`GET /models`) before any load was sent.
    #[error("preflight of {url}: {message}")]
    Preflight { url: String, message: String },
    /// A prompts file that cannot be read (the message names the file and line).
    #[error("{0}")]
    Prompts(String),
    /// The load file could not be written.
    #[error("cannot write {path}: {message}")]
    Write {
        path: std::path::PathBuf,
        message: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One load run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Base URL with the API prefix, e.g. `http://127.0.0.1:8080/v1`.
    pub base_url: String,
    pub model: String,
    /// Prompts, used in turn.
    pub prompts: Vec<String>,
    pub max_tokens: u32,
    /// Requests to send.
    pub requests: usize,
    pub profile: Profile,
    /// Environment variable with the API key.
    pub api_key_env: Option<String>,
    pub timeout: Duration,
    /// Client runtime threads.
    pub threads: usize,
    /// Send each prompt as the user message of `/chat/completions` (the server applies
    /// the model's chat template) instead of a raw `/completions` prompt.
    pub chat: bool,
}

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

struct Client {
    http: reqwest::Client,
    url: String,
    key: Option<String>,
    model: String,
    max_tokens: u32,
    chat: bool,
}

/// Runs one load profile to completion.
pub fn run(cfg: &LoadConfig) -> Result<LoadRun> {
    if cfg.prompts.is_empty() {
        return Err(Error::Config("no prompts".into()));
    }
    match cfg.profile {
        Profile::Concurrency { n: 0 } => return Err(Error::Config("concurrency 0".into())),
        Profile::Constant { rate } | Profile::Poisson { rate, .. }
            if rate.is_nan() || rate <= 0.0 =>
        {
            return Err(Error::Config(format!("rate {rate} is not positive")))
        }
        _ => {}
    }
    let key = match &cfg.api_key_env {
        Some(v) => Some(std::env::var(v).map_err(|_| Error::Config(format!("{v} is not set")))?),
        None => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cfg.threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| Error::Start(e.to_string()))?;
    let http = reqwest::Client::builder()
        .timeout(cfg.timeout)
        .pool_max_idle_per_host(1024)
        .build()
        .map_err(|e| Error::Start(e.to_string()))?;
    let client = Arc::new(Client {
        http,
        url: format!(
            "{}/{}",
            cfg.base_url.trim_end_matches('/'),
            if cfg.chat {
                "chat/completions"
            } else {
                "completions"
            }
        ),
        key,
        model: cfg.model.clone(),
        max_tokens: cfg.max_tokens,
        chat: cfg.chat,
    });
    let prompts = Arc::new(cfg.prompts.clone());
    let base_url = cfg.base_url.clone();
    let n = cfg.requests;
    let profile = cfg.profile;
    let warm = match profile {
        Profile::Concurrency { n: c } => c.min(n.max(1)),
        _ => n.clamp(1, 16),
    };
    rt.block_on(async move {
        // Open the connections the profile will use before the clock starts: a new
        // connection's handshake would otherwise be counted in its first request's TTFT.
        let models = format!("{}/models", base_url.trim_end_matches('/'));
        let opens: Vec<_> = (0..warm)
            .map(|_| {
                let client = client.clone();
                let url = models.clone();
                tokio::spawn(async move {
                    let mut rb = client.http.get(&url);
                    if let Some(k) = &client.key {
                        rb = rb.bearer_auth(k);
                    }
                    if let Ok(r) = rb.send().await {
                        let _ = r.bytes().await;
                    }
                })
            })
            .collect();
        for o in opens {
            let _ = o.await;
        }
        let started_ns = now_ns();
        let mut requests = Vec::with_capacity(n);
        match profile {
            Profile::Concurrency { n: c } => {
                let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
                let mut workers = Vec::new();
                for _ in 0..c.min(n.max(1)) {
                    let (client, prompts, next) = (client.clone(), prompts.clone(), next.clone());
                    workers.push(tokio::spawn(async move {
                        let mut mine = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            if i >= n {
                                break mine;
                            }
                            mine.push(one(&client, &prompts[i % prompts.len()]).await);
                        }
                    }));
                }
                for w in workers {
                    if let Ok(mut v) = w.await {
                        requests.append(&mut v);
                    }
                }
            }
            Profile::Constant { rate } | Profile::Poisson { rate, .. } => {
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(match profile {
                    Profile::Poisson { seed, .. } => seed,
                    _ => 0,
                });
                let mut at = 0.0f64;
                let mut handles = Vec::with_capacity(n);
                for i in 0..n {
                    let due = started_ns + (at * 1e9) as u64;
                    let now = now_ns();
                    if due > now {
                        tokio::time::sleep(Duration::from_nanos(due - now)).await;
                    }
                    let (client, prompts) = (client.clone(), prompts.clone());
                    handles.push(tokio::spawn(async move {
                        one(&client, &prompts[i % prompts.len()]).await
                    }));
                    at += match profile {
                        Profile::Poisson { .. } => {
                            let u: f64 = rng.gen_range(f64::MIN_POSITIVE..1.0);
                            -u.ln() / rate
                        }
                        _ => 1.0 / rate,
                    };
                }
                for h in handles {
                    if let Ok(r) = h.await {
                        requests.push(r);
                    }
                }
            }
        }
        requests.sort_by_key(|r| r.start_ns);
        Ok(LoadRun {
            profile,
            started_ns,
            ended_ns: now_ns(),
            requests,
            warm_connections: warm,
        })
    })
}

/// Runs each profile in turn (a sweep over concurrencies or rates).
pub fn sweep(cfg: &LoadConfig, profiles: &[Profile]) -> Result<Vec<LoadRun>> {
    profiles
        .iter()
        .map(|p| {
            let mut c = cfg.clone();
            c.profile = *p;
            run(&c)
        })
        .collect()
}

/// GuideLLM's sweep: after a synchronous run (one request at a time, `sync_rps`) and a
/// throughput run (the server saturated, `max_rps`), `n` constant rates evenly spaced
/// strictly between the two. Empty when the saturated run was not faster.
pub fn sweep_rates(sync_rps: f64, max_rps: f64, n: usize) -> Vec<f64> {
    if !(sync_rps.is_finite() && max_rps.is_finite()) || max_rps <= sync_rps || sync_rps <= 0.0 {
        return Vec::new();
    }
    (1..=n)
        .map(|i| sync_rps + (max_rps - sync_rps) * i as f64 / (n + 1) as f64)
        .collect()
}

async fn one(client: &Client, prompt: &str) -> RequestRecord {
    let start_ns = now_ns();
    let mut token_ns = Vec::new();
    let mut usage = None;
    let mut server_ttft_ns = None;
    let r = stream(
        client,
        prompt,
        &mut token_ns,
        &mut usage,
        &mut server_ttft_ns,
    )
    .await;
    RequestRecord {
        start_ns,
        end_ns: now_ns(),
        output_tokens: usage.unwrap_or(token_ns.len() as u32),
        token_ns,
        error: r.err(),
        server_ttft_ns,
    }
}

async fn stream(
    client: &Client,
    prompt: &str,
    token_ns: &mut Vec<MonoNs>,
    usage: &mut Option<u32>,
    server_ttft_ns: &mut Option<u64>,
) -> Result<(), String> {
    let mut body = json!({"model": client.model, "max_tokens": client.max_tokens,
        "temperature": 0.0, "stream": true, "stream_options": {"include_usage": true}});
    if client.chat {
        body["messages"] = json!([{"role": "user", "content": prompt}]);
    } else {
        body["prompt"] = json!(prompt);
    }
    let mut rb = client
        .http
        .post(&client.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string());
    if let Some(k) = &client.key {
        rb = rb.bearer_auth(k);
    }
    let mut resp = rb.send().await.map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status()));
    }
    let mut events = SseParser::new();
    let mut done = false;
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        let at = now_ns();
        let arrived = events
            .push(&chunk)
            .map_err(|e| format!("the stream is not UTF-8: {e}"))?;
        for event in arrived {
            let data = match event {
                SseEvent::Done => {
                    done = true;
                    continue;
                }
                SseEvent::Data(data) => data,
            };
            let v: Value =
                serde_json::from_str(&data).map_err(|e| format!("malformed event: {e}"))?;
            if let Some(u) = v
                .pointer("/usage/completion_tokens")
                .and_then(Value::as_u64)
            {
                *usage = Some(u as u32);
            }
            if v.pointer("/choices/0/text")
                .or_else(|| v.pointer("/choices/0/delta/content"))
                .and_then(Value::as_str)
                .is_some_and(|t| !t.is_empty())
            {
                if token_ns.is_empty() {
                    *server_ttft_ns = v
                        .pointer("/server_timing/since_request_ns")
                        .and_then(Value::as_u64);
                }
                token_ns.push(at);
            }
        }
    }
    if !done {
        return Err("stream ended without [DONE]".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
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
}
