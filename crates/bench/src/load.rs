//! The load generator's own cost. Both clients drive the same static SSE target (this
//! program's hidden `bench sse-target`, a separate process that answers in
//! microseconds) at the same concurrency: Trilemma's generator in this process, and
//! GuideLLM (PyPI `guidellm`) as a child process when its Python is given. Reported:
//! requests/s, client CPU seconds, requests per client CPU-second, and the gap between
//! the client's TTFT and the target's own.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use trilemma_load::process::{free_local_addr, spawn_process};
use trilemma_load::{run as run_load, summarize, LoadConfig, Profile, Slo};

use crate::{io, ratio, Error, Result};

/// The arguments that make this program serve [`serve_sse_target`] (the binary's
/// hidden subcommand); `--listen ADDR --pieces N` follow them.
pub const SSE_TARGET_ARGS: [&str; 2] = ["bench", "sse-target"];
/// The report's description of the target.
pub const TARGET: &str =
    "static SSE target (trilemma bench sse-target), its own process, one thread";
/// The report's description of where client CPU times come from.
pub const CPU_SOURCE: &str = "utime+stime from /proc/self/stat (ours: this process during the run; GuideLLM: its process tree, reaped children's times)";
/// What GuideLLM's side was run with.
pub const GUIDELLM_VERSION: &str = "guidellm run (0.8.1 command line)";

/// `bench load`'s settings.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadBenchConfig {
    /// Requests in flight (closed loop), the same for both clients.
    pub concurrency: usize,
    /// Requests Trilemma's generator sends.
    pub requests: usize,
    /// Text events per answer.
    pub pieces: usize,
    /// Trilemma client runtime threads.
    pub client_threads: usize,
    /// A Python with `guidellm` installed (scripts/peer/guidellm_setup.sh makes one);
    /// without it only our side runs.
    pub guidellm_python: Option<PathBuf>,
    /// Local tokenizer directory for GuideLLM; `None`: the one
    /// `scripts/peer/guidellm_setup.sh` writes under `~/.cache/trilemma/peer`.
    pub processor: Option<PathBuf>,
    /// Requests GuideLLM sends (its long run; its short run sends a quarter).
    pub guidellm_requests: usize,
}

/// Our generator's cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientCost {
    /// `trilemma`.
    pub client: String,
    /// utime+stime of this process during the run.
    pub client_cpu_s: f64,
    pub completed: usize,
    pub failed: usize,
    pub requests_per_cpu_s: f64,
    pub requests_per_s: f64,
    /// Client TTFT minus the target's own TTFT.
    pub ttft_gap_max_ms: Option<f64>,
    pub ttft_gap_p50_ms: Option<f64>,
    pub ttft_gap_p99_ms: Option<f64>,
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p99_ms: Option<f64>,
    pub wall_s: f64,
}

/// GuideLLM's cost: its results file's numbers and its process tree's CPU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuidellmCost {
    /// `guidellm`.
    pub client: String,
    /// CPU of its whole process tree over the long run, start-up included.
    pub client_cpu_s: f64,
    /// Successful requests (as its results file counts them).
    pub completed: f64,
    pub failed: Option<f64>,
    /// (long - short requests) / (long - short CPU): its cost without start-up.
    pub marginal_requests_per_cpu_s: f64,
    pub mean_concurrency: Option<f64>,
    /// Wall seconds of its process (the long run).
    pub process_wall_s: f64,
    pub requests_per_cpu_s: f64,
    pub requests_per_s: Option<f64>,
    pub short_run: GuidellmShortRun,
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p99_ms: Option<f64>,
    pub version: String,
    /// The benchmark's duration as GuideLLM reports it.
    pub wall_s: Option<f64>,
}

/// GuideLLM's short run, subtracted from its long one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuidellmShortRun {
    pub cpu_s: f64,
    pub requests: usize,
}

/// `bench load`'s report (`--json` prints it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadBenchReport {
    pub concurrency: usize,
    pub cpu_source: String,
    pub guidellm: Option<GuidellmCost>,
    /// Ours / GuideLLM's marginal requests per CPU-second.
    pub marginal_requests_per_cpu_s_ratio: Option<f64>,
    pub ours: ClientCost,
    pub pieces: usize,
    /// Ours / GuideLLM's requests per CPU-second (its whole process tree).
    pub requests_per_cpu_s_ratio: Option<f64>,
    pub target: String,
}

impl LoadBenchReport {
    /// Assembles the report: our side, GuideLLM's if it ran, and their ratios.
    pub fn new(
        concurrency: usize,
        pieces: usize,
        ours: ClientCost,
        guidellm: Option<GuidellmCost>,
    ) -> Self {
        let requests_per_cpu_s_ratio = guidellm
            .as_ref()
            .and_then(|g| ratio(ours.requests_per_cpu_s, g.requests_per_cpu_s));
        let marginal_requests_per_cpu_s_ratio = guidellm
            .as_ref()
            .and_then(|g| ratio(ours.requests_per_cpu_s, g.marginal_requests_per_cpu_s));
        Self {
            concurrency,
            cpu_source: CPU_SOURCE.into(),
            guidellm,
            marginal_requests_per_cpu_s_ratio,
            ours,
            pieces,
            requests_per_cpu_s_ratio,
            target: TARGET.into(),
        }
    }
}

/// Serves the static SSE target on `listen` until the process ends (`bench load` starts
/// it as its own process, so that its CPU is not the client's).
pub fn serve_sse_target(listen: SocketAddr, pieces: usize) -> Result<()> {
    let listener = std::net::TcpListener::bind(listen)
        .map_err(|e| Error::Target(format!("cannot listen on {listen}: {e}")))?;
    serve_sse_listener(listener, pieces)
}

/// Serves the static SSE target on a bound listener, on this thread.
fn serve_sse_listener(listener: std::net::TcpListener, pieces: usize) -> Result<()> {
    let addr = listener
        .local_addr()
        .map_or_else(|_| "the target's socket".to_string(), |a| a.to_string());
    let target_error = |e: std::io::Error| Error::Target(format!("cannot serve on {addr}: {e}"));
    listener.set_nonblocking(true).map_err(target_error)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(target_error)?;
    rt.block_on(async {
        let l = tokio::net::TcpListener::from_std(listener).map_err(target_error)?;
        trilemma_load::target::serve_static(l, pieces).await;
        Ok(())
    })
}

/// utime+stime of this process, and of its children already waited for, in seconds.
fn cpu_s() -> (f64, f64) {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| trilemma_telemetry::stat_cpu_s(&s))
        .unwrap_or((f64::NAN, f64::NAN))
}

/// Runs `bench load`: starts the target, drives it with our generator, then with
/// GuideLLM when its Python is given.
pub fn load_bench(cfg: &LoadBenchConfig) -> Result<LoadBenchReport> {
    let addr = free_local_addr()?;
    let log = tempfile::NamedTempFile::new().map_err(io(&std::env::temp_dir()))?;
    let pieces = cfg.pieces.to_string();
    let mut args = SSE_TARGET_ARGS.to_vec();
    args.extend(["--listen", &addr, "--pieces", &pieces]);
    let target = spawn_process(&args, &addr, log.path())?;
    let url = format!("http://{addr}/v1");

    // Ours, in this process.
    let load = LoadConfig {
        base_url: url.clone(),
        model: "static".into(),
        prompts: vec!["The capital of France is".into()],
        max_tokens: cfg.pieces as u32,
        requests: cfg.requests,
        profile: Profile::Concurrency { n: cfg.concurrency },
        api_key_env: None,
        timeout: Duration::from_secs(60),
        threads: cfg.client_threads,
        chat: false,
    };
    let (cpu0, _) = cpu_s();
    let run = run_load(&load)?;
    let (cpu1, _) = cpu_s();
    let s = summarize(&run, &Slo::default(), cfg.concurrency)?;
    let client_cpu_s = cpu1 - cpu0;
    let gap = s.ttft_gap_s.as_ref();
    let ours = ClientCost {
        client: "trilemma".into(),
        client_cpu_s,
        completed: s.completed,
        failed: s.failed,
        requests_per_cpu_s: s.completed as f64 / client_cpu_s.max(0.01),
        requests_per_s: s.requests_per_s,
        ttft_gap_max_ms: gap.map(|d| d.max * 1e3),
        ttft_gap_p50_ms: gap.map(|d| d.p50 * 1e3),
        ttft_gap_p99_ms: gap.map(|d| d.p99 * 1e3),
        ttft_p50_ms: s.ttft_s.as_ref().map(|d| d.p50 * 1e3),
        ttft_p99_ms: s.ttft_s.as_ref().map(|d| d.p99 * 1e3),
        wall_s: s.duration_s,
    };

    let guidellm = match &cfg.guidellm_python {
        Some(py) => Some(guidellm(cfg, py, &url)?),
        None => None,
    };
    drop(target);
    Ok(LoadBenchReport::new(
        cfg.concurrency,
        cfg.pieces,
        ours,
        guidellm,
    ))
}

/// One GuideLLM run (0.8.1's `guidellm run`): closed loop at the concurrency, streamed
/// `/v1/completions`, synthetic 8-token prompts; returns its results JSON, its wall time
/// and the CPU time of its whole process tree.
fn guidellm_once(
    cfg: &LoadBenchConfig,
    py: &Path,
    processor: &Path,
    url: &str,
    requests: usize,
    dir: &Path,
) -> Result<(Value, f64, f64)> {
    let out = dir.join(format!("guidellm-{requests}.json"));
    let log = dir.join(format!("guidellm-{requests}.log"));
    let target = url.trim_end_matches('/').trim_end_matches("/v1");
    let script = py.with_file_name("guidellm");
    let mut cmd = if script.exists() {
        Command::new(&script)
    } else {
        let mut c = Command::new(py);
        c.args(["-m", "guidellm"]);
        c
    };
    cmd.env("HF_HUB_OFFLINE", "1")
        .env("TRANSFORMERS_OFFLINE", "1")
        .env("HF_DATASETS_OFFLINE", "1")
        .arg("run")
        .arg("--backend")
        .arg(format!(
            "kind=openai_http,target={target},model=static,request_format=/v1/completions,stream=true,max_tokens={}",
            cfg.pieces
        ))
        .arg("--profile")
        .arg(format!("kind=concurrent,streams={}", cfg.concurrency))
        .arg("--constraint")
        .arg(format!("kind=max_requests,count={requests}"))
        .arg("--tokenizer")
        .arg(format!("kind=hf_auto,model={}", processor.display()))
        .arg("--data")
        .arg(format!(
            "kind=synthetic_text,prompt_tokens=8,output_tokens={}",
            cfg.pieces
        ))
        .arg("--output")
        .arg(format!("kind=json,path={}", out.display()))
        .arg("--disable-console")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).map_err(io(&log))?);
    let (_, children0) = cpu_s();
    let t0 = Instant::now();
    let status = cmd.status().map_err(|e| Error::Run {
        what: format!("GuideLLM with {}", py.display()),
        message: e.to_string(),
    })?;
    let wall = t0.elapsed().as_secs_f64();
    let (_, children1) = cpu_s();
    if !status.success() {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        return Err(Error::PeerFailed {
            peer: "GuideLLM",
            status: status.to_string(),
            detail: text.lines().rev().take(5).collect::<Vec<_>>().join(" | "),
        });
    }
    let text = std::fs::read_to_string(&out).map_err(|e| {
        Error::PeerOutput(format!(
            "GuideLLM wrote no results at {}: {e}",
            out.display()
        ))
    })?;
    let v: Value = serde_json::from_str(&text).map_err(|e| {
        Error::PeerOutput(format!(
            "GuideLLM's results {} are not JSON: {e}",
            out.display()
        ))
    })?;
    Ok((v, wall, children1 - children0))
}

/// The tokenizer directory GuideLLM is given: the configured one, or the one
/// `scripts/peer/guidellm_setup.sh` writes.
fn processor(cfg: &LoadBenchConfig) -> Result<PathBuf> {
    match &cfg.processor {
        Some(p) => Ok(p.clone()),
        None => std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".cache/trilemma/peer/smollm2-tokenizer"))
            .filter(|p| p.join("tokenizer.json").exists())
            .ok_or(Error::NoProcessor),
    }
}

/// GuideLLM twice, a short and a long run: its whole-process CPU per request, and the
/// marginal CPU per request (the difference of the two runs, which removes its start-up).
fn guidellm(cfg: &LoadBenchConfig, py: &Path, url: &str) -> Result<GuidellmCost> {
    let processor = processor(cfg)?;
    let dir = tempfile::tempdir().map_err(io(&std::env::temp_dir()))?;
    let short = (cfg.guidellm_requests / 4).max(1);
    let (_, _, cpu_short) = guidellm_once(cfg, py, &processor, url, short, dir.path())?;
    let (v, wall, cpu) =
        guidellm_once(cfg, py, &processor, url, cfg.guidellm_requests, dir.path())?;
    Ok(guidellm_cost(
        &v,
        wall,
        cpu,
        cfg.guidellm_requests,
        short,
        cpu_short,
    ))
}

/// GuideLLM's cost from its results JSON (its first benchmark) and the CPU measured
/// around its long and short runs.
fn guidellm_cost(
    results: &Value,
    process_wall_s: f64,
    cpu: f64,
    requests: usize,
    short: usize,
    cpu_short: f64,
) -> GuidellmCost {
    let b = &results["benchmarks"][0];
    let num = |ptr: &str| b.pointer(ptr).and_then(Value::as_f64);
    let made = num("/scheduler_metrics/requests_made/successful").unwrap_or(f64::NAN);
    GuidellmCost {
        client: "guidellm".into(),
        client_cpu_s: cpu,
        completed: made,
        failed: num("/scheduler_metrics/requests_made/errored"),
        marginal_requests_per_cpu_s: requests.saturating_sub(short) as f64
            / (cpu - cpu_short).max(0.01),
        mean_concurrency: num("/metrics/request_concurrency/successful/mean"),
        process_wall_s,
        requests_per_cpu_s: made / cpu.max(0.01),
        requests_per_s: num("/metrics/requests_per_second/successful/mean"),
        short_run: GuidellmShortRun {
            cpu_s: cpu_short,
            requests: short,
        },
        ttft_p50_ms: num("/metrics/time_to_first_token_ms/successful/median"),
        ttft_p99_ms: num("/metrics/time_to_first_token_ms/successful/percentiles/p99"),
        version: GUIDELLM_VERSION.into(),
        wall_s: num("/duration"),
    }
}

#[cfg(test)]
mod tests;
