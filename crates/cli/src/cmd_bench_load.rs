//! `trilemma bench load`: the load generator's own cost. Both clients drive the same
//! static SSE target (`trilemma bench sse-target`, a separate process that answers in
//! microseconds) at the same concurrency: Trilemma's generator in this process, and
//! GuideLLM (PyPI `guidellm`) as a child process when its Python is given. Reported:
//! requests/s, client CPU seconds, requests per client CPU-second, and the gap between
//! the client's TTFT and the target's own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use serde_json::{json, Value};
use trilemma_load::{run as run_load, summarize, LoadConfig, Profile, Slo};

use trilemma_load::process::{spawn_process, SpawnedServer};

#[derive(Debug, Args)]
pub struct LoadBenchArgs {
    /// Requests in flight (closed loop), the same for both clients.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Requests Trilemma's generator sends.
    #[arg(long, default_value_t = 20_000)]
    pub requests: usize,
    /// Text events per answer.
    #[arg(long, default_value_t = 4)]
    pub pieces: usize,
    /// Trilemma client runtime threads.
    #[arg(long, default_value_t = 1)]
    pub client_threads: usize,
    /// A Python with `guidellm` installed (scripts/peer/guidellm_setup.sh makes one).
    #[arg(long)]
    pub guidellm_python: Option<PathBuf>,
    /// Local tokenizer directory for GuideLLM (the hub is not needed).
    #[arg(long)]
    pub processor: Option<PathBuf>,
    /// Requests GuideLLM sends (it is slower; fewer keep the benchmark short).
    #[arg(long, default_value_t = 2_000)]
    pub guidellm_requests: usize,
    #[arg(long)]
    pub json: bool,
}

/// Hidden: the static SSE target, as its own process.
#[derive(Debug, Args)]
pub struct SseTargetArgs {
    #[arg(long)]
    pub listen: std::net::SocketAddr,
    #[arg(long, default_value_t = 4)]
    pub pieces: usize,
}

pub fn sse_target(args: &SseTargetArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let l = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        trilemma_load::target::serve_static(l, args.pieces).await;
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

pub fn load_bench(args: &LoadBenchArgs) -> anyhow::Result<()> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr = format!("127.0.0.1:{port}");
    let log = tempfile::NamedTempFile::new()?;
    let target: SpawnedServer = spawn_process(
        &[
            "bench",
            "sse-target",
            "--listen",
            &addr,
            "--pieces",
            &args.pieces.to_string(),
        ],
        &addr,
        log.path(),
    )?;
    let url = format!("http://{addr}/v1");

    // Ours, in this process.
    let cfg = LoadConfig {
        base_url: url.clone(),
        model: "static".into(),
        prompts: vec!["The capital of France is".into()],
        max_tokens: args.pieces as u32,
        requests: args.requests,
        profile: Profile::Concurrency {
            n: args.concurrency,
        },
        api_key_env: None,
        timeout: Duration::from_secs(60),
        threads: args.client_threads,
        chat: false,
    };
    let (cpu0, _) = cpu_s();
    let run = run_load(&cfg)?;
    let (cpu1, _) = cpu_s();
    let s = summarize(&run, &Slo::default(), args.concurrency)?;
    let ours_cpu = cpu1 - cpu0;
    let gap = s.ttft_gap_s;
    let ours = json!({
        "client": "trilemma",
        "completed": s.completed,
        "failed": s.failed,
        "wall_s": s.duration_s,
        "requests_per_s": s.requests_per_s,
        "client_cpu_s": ours_cpu,
        "requests_per_cpu_s": s.completed as f64 / ours_cpu.max(0.01),
        "ttft_p50_ms": s.ttft_s.as_ref().map(|d| d.p50 * 1e3),
        "ttft_p99_ms": s.ttft_s.as_ref().map(|d| d.p99 * 1e3),
        "ttft_gap_p50_ms": gap.as_ref().map(|d| d.p50 * 1e3),
        "ttft_gap_p99_ms": gap.as_ref().map(|d| d.p99 * 1e3),
        "ttft_gap_max_ms": gap.as_ref().map(|d| d.max * 1e3),
    });

    let peer = match &args.guidellm_python {
        Some(py) => Some(guidellm(args, py.as_path(), &url)?),
        None => None,
    };
    drop(target);
    let ratio = peer.as_ref().and_then(|p| {
        Some(ours["requests_per_cpu_s"].as_f64()? / p["requests_per_cpu_s"].as_f64()?)
    });
    let marginal_ratio = peer.as_ref().and_then(|p| {
        Some(ours["requests_per_cpu_s"].as_f64()? / p["marginal_requests_per_cpu_s"].as_f64()?)
    });
    let out = json!({
        "target": "static SSE target (trilemma bench sse-target), its own process, one thread",
        "concurrency": args.concurrency,
        "pieces": args.pieces,
        "ours": ours,
        "guidellm": peer,
        "requests_per_cpu_s_ratio": ratio,
        "marginal_requests_per_cpu_s_ratio": marginal_ratio,
        "cpu_source": "utime+stime from /proc/self/stat (ours: this process during the run; GuideLLM: its process tree, reaped children's times)",
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_load_bench(&out);
    }
    Ok(())
}

fn print_load_bench(r: &Value) {
    println!(
        "Load generator cost against {}; concurrency {}, {} text events per answer; CPU: {}",
        r["target"], r["concurrency"], r["pieces"], r["cpu_source"]
    );
    for side in ["ours", "guidellm"] {
        let v = &r[side];
        if v.is_null() {
            continue;
        }
        let f = |k: &str| {
            v[k].as_f64()
                .map(|x| format!("{x:.1}"))
                .unwrap_or("-".into())
        };
        println!(
            "  {:<9} {} requests in {} s: {} req/s, client CPU {} s, {} requests per client CPU-second, TTFT p50/p99 {}/{} ms",
            v["client"].as_str().unwrap_or(side),
            v["completed"],
            f("wall_s"),
            f("requests_per_s"),
            f("client_cpu_s"),
            f("requests_per_cpu_s"),
            v["ttft_p50_ms"].as_f64().map(|x| format!("{x:.3}")).unwrap_or("-".into()),
            v["ttft_p99_ms"].as_f64().map(|x| format!("{x:.3}")).unwrap_or("-".into()),
        );
    }
    let o = &r["ours"];
    if let (Some(p50), Some(p99)) = (o["ttft_gap_p50_ms"].as_f64(), o["ttft_gap_p99_ms"].as_f64()) {
        println!("  client TTFT - target's own TTFT: p50 {p50:.3} ms, p99 {p99:.3} ms");
    }
    if let Some(x) = r["requests_per_cpu_s_ratio"].as_f64() {
        println!("  requests per client CPU-second, ours / GuideLLM's (its whole process tree, start-up included): {x:.1}x");
    }
    if let Some(x) = r["marginal_requests_per_cpu_s_ratio"].as_f64() {
        println!(
            "  ours / GuideLLM's marginal requests per CPU-second (its long run minus its short run, {} requests): {x:.1}x",
            r["guidellm"]["short_run"]["requests"]
        );
    }
}

/// One GuideLLM run (0.8.1's `guidellm run`): closed loop at `--concurrency`, streamed
/// `/v1/completions`, synthetic 8-token prompts; returns its results JSON, its wall time
/// and the CPU time of its whole process tree.
fn guidellm_once(
    args: &LoadBenchArgs,
    py: &Path,
    processor: &Path,
    url: &str,
    requests: usize,
    dir: &Path,
) -> anyhow::Result<(Value, f64, f64)> {
    let out = dir.join(format!("guidellm-{requests}.json"));
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
            args.pieces
        ))
        .arg("--profile")
        .arg(format!("kind=concurrent,streams={}", args.concurrency))
        .arg("--constraint")
        .arg(format!("kind=max_requests,count={requests}"))
        .arg("--tokenizer")
        .arg(format!("kind=hf_auto,model={}", processor.display()))
        .arg("--data")
        .arg(format!(
            "kind=synthetic_text,prompt_tokens=8,output_tokens={}",
            args.pieces
        ))
        .arg("--output")
        .arg(format!("kind=json,path={}", out.display()))
        .arg("--disable-console")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.join(format!("guidellm-{requests}.log")))?);
    let (_, children0) = cpu_s();
    let t0 = Instant::now();
    let status = cmd
        .status()
        .with_context(|| format!("running GuideLLM with {}", py.display()))?;
    let wall = t0.elapsed().as_secs_f64();
    let (_, children1) = cpu_s();
    if !status.success() {
        let log = std::fs::read_to_string(dir.join(format!("guidellm-{requests}.log")))
            .unwrap_or_default();
        bail!(
            "GuideLLM failed ({status}): {}",
            log.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
        );
    }
    let text = std::fs::read_to_string(&out)
        .with_context(|| format!("GuideLLM wrote no results at {}", out.display()))?;
    let v: Value = serde_json::from_str(&text)
        .with_context(|| format!("GuideLLM's results {} are not JSON", out.display()))?;
    Ok((v, wall, children1 - children0))
}

/// GuideLLM twice, a short and a long run: its whole-process CPU per request, and the
/// marginal CPU per request (the difference of the two runs, which removes its start-up).
fn guidellm(args: &LoadBenchArgs, py: &Path, url: &str) -> anyhow::Result<Value> {
    let processor = match &args.processor {
        Some(p) => p.clone(),
        None => std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".cache/trilemma/peer/smollm2-tokenizer"))
            .filter(|p| p.join("tokenizer.json").exists())
            .context("give --processor DIR (scripts/peer/guidellm_setup.sh writes one)")?,
    };
    let dir = tempfile::tempdir()?;
    let short = (args.guidellm_requests / 4).max(1);
    let (_, _, cpu_short) = guidellm_once(args, py, &processor, url, short, dir.path())?;
    let (v, wall, cpu) = guidellm_once(
        args,
        py,
        &processor,
        url,
        args.guidellm_requests,
        dir.path(),
    )?;
    let b = &v["benchmarks"][0];
    let num = |ptr: &str| b.pointer(ptr).and_then(Value::as_f64);
    let made = num("/scheduler_metrics/requests_made/successful").unwrap_or(f64::NAN);
    let marginal = (args.guidellm_requests - short) as f64 / (cpu - cpu_short).max(0.01);
    Ok(json!({
        "client": "guidellm",
        "version": "guidellm run (0.8.1 command line)",
        "completed": made,
        "failed": num("/scheduler_metrics/requests_made/errored"),
        "wall_s": num("/duration"),
        "process_wall_s": wall,
        "requests_per_s": num("/metrics/requests_per_second/successful/mean"),
        "client_cpu_s": cpu,
        "requests_per_cpu_s": made / cpu.max(0.01),
        "marginal_requests_per_cpu_s": marginal,
        "short_run": {"requests": short, "cpu_s": cpu_short},
        "mean_concurrency": num("/metrics/request_concurrency/successful/mean"),
        "ttft_p50_ms": num("/metrics/time_to_first_token_ms/successful/median"),
        "ttft_p99_ms": num("/metrics/time_to_first_token_ms/successful/percentiles/p99"),
    }))
}
