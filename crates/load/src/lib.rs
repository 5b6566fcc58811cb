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
pub mod summary;
pub mod target;

pub use energy::steady_energy;
pub use plan::{ProfilePlan, Role};
pub use prompts::read_prompts;
pub use session::{run_plan, LoadEvent, LoadPlan, Server, SpawnServers};
pub use summary::{summarize, Slo};
/// The load file's data: `trilemma-store` owns it so that its readers need not depend
/// on the load generator.
pub use trilemma_store::load::{
    LoadEntry, LoadFile, LoadRun, LoadSummary, Profile, RequestRecord, SourceEnergy, SteadyEnergy,
};

use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
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
    let mut resp = rb
        .send()
        .await
        .map_err(|e| trilemma_core::with_causes(&e))?;
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status()));
    }
    let mut events = SseParser::new();
    let mut done = false;
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| trilemma_core::with_causes(&e))?
    {
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
mod tests;
