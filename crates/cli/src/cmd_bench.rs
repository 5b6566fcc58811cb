//! `trilemma bench`: benchmarks of Trilemma itself against peers (`trilemma-bench`):
//! flags into configs, the benchmark, and its table or `--json` report.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use trilemma_bench::{
    BenchModel, EngineBenchConfig, EngineBenchReport, EngineEvent, LoadBenchConfig,
    LoadBenchReport, OverheadConfig, OverheadReport,
};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Prefill and decode tokens/s (prompts of 128 and 512 tokens, 128 new tokens) and
    /// multiple-choice items/s (ARC-Easy), ours against llama-cpp-python's.
    Engine(EngineBenchArgs),
    /// Trilemma's own cost: the meter thread's CPU, and the whole harness (scheduling,
    /// scoring, recording, meters) against calling the engine directly on the same items.
    Overhead(OverheadArgs),
    /// The load generator's own cost against a static SSE target: requests/s and
    /// requests per client CPU-second, ours against GuideLLM's at the same concurrency.
    Load(LoadBenchArgs),
    /// What `serve --cascade` adds to a request (added p50/p99 latency, throughput lost)
    /// against a static target, beside LiteLLM's proxy in front of the same target.
    Gateway(GatewayBenchArgs),
    /// The static SSE target `bench load` drives (started by it as its own process).
    #[command(hide = true)]
    SseTarget(SseTargetArgs),
}

/// The model and the ARC-Easy items a benchmark runs on.
#[derive(Debug, Args)]
pub struct BenchModelArgs {
    #[arg(long, short = 'm', default_value = "smollm2-135m")]
    pub model: String,
    /// ARC-Easy items (the first N of the test split).
    #[arg(long, default_value_t = 100)]
    pub items: usize,
    /// Items per engine call on our side (as `trilemma run --batch-size`).
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// Passes of each side, alternating; medians are reported.
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Our engine's context window (KV cells shared by all sequences).
    #[arg(long, default_value_t = 4096)]
    pub n_ctx: u32,
    /// Our engine's sequence slots (default: 5 x the batch size, as `trilemma run`).
    #[arg(long)]
    pub max_sequences: Option<u32>,
    /// Layers offloaded to a GPU: a number, `all`, or `auto` (the default: all where the
    /// build has a GPU backend and finds a GPU, else none). Recorded in the manifest.
    #[arg(long, default_value = "auto", value_name = "N|all|auto")]
    pub gpu_layers: trilemma_core::GpuLayers,
}

#[derive(Debug, Args)]
pub struct OverheadArgs {
    #[command(flatten)]
    pub bench: BenchModelArgs,
    /// Seconds the idle meter thread is watched for its CPU cost.
    #[arg(long, default_value_t = 10.0)]
    pub sampler_seconds: f64,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EngineBenchArgs {
    #[command(flatten)]
    pub bench: BenchModelArgs,
    /// CPU threads for both engines (default: all cores).
    #[arg(long)]
    pub threads: Option<u32>,
    /// A Python with `llama-cpp-python` installed, to run the peer. Without it only our side runs.
    #[arg(long)]
    pub peer_python: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct GatewayBenchArgs {
    /// LiteLLM's `litellm` executable (PyPI `litellm[proxy]`), the peer.
    #[arg(long, value_name = "PATH")]
    pub litellm: Option<PathBuf>,
    /// Requests in flight (closed loop), the same for every arm.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Measured requests per arm.
    #[arg(long, default_value_t = 2000)]
    pub requests: usize,
    /// Requests per arm before measuring.
    #[arg(long, default_value_t = 200)]
    pub warmup: usize,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

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

pub fn run(cmd: &BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Engine(a) => engine_bench(a),
        BenchCommand::Overhead(a) => overhead_bench(a),
        BenchCommand::Load(a) => load_bench(a),
        BenchCommand::Gateway(a) => gateway_bench(a),
        BenchCommand::SseTarget(a) => Ok(trilemma_bench::serve_sse_target(a.listen, a.pieces)?),
    }
}

fn bench_model(b: &BenchModelArgs) -> BenchModel {
    BenchModel {
        model: b.model.clone(),
        items: b.items,
        batch_size: b.batch_size,
        repeats: b.repeats,
        n_ctx: b.n_ctx,
        gpu_layers: b.gpu_layers,
        max_sequences: b.max_sequences,
    }
}

fn engine_bench(args: &EngineBenchArgs) -> anyhow::Result<()> {
    crate::preflight::models(&[&args.bench.model])?;
    let cfg = EngineBenchConfig {
        bench: bench_model(&args.bench),
        threads: args.threads,
        peer_python: args.peer_python.clone(),
    };
    let report = trilemma_bench::engine_bench(&cfg, &mut |event| match event {
        EngineEvent::PeerStarting { python, script } => eprintln!(
            "running the peer: {} {}",
            python.display(),
            script.display()
        ),
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    print_engine_bench(&report);
    Ok(())
}

fn print_engine_bench(r: &EngineBenchReport) {
    let mut t = crate::output::table(&[
        "measure",
        "trilemma",
        "llama-cpp-python",
        "ratio (ours/peer)",
    ]);
    for c in r.comparisons() {
        t.add_row(vec![
            c.measure.to_string(),
            c.ours.map_or("-".into(), |v| format!("{v:.1}")),
            c.peer.map_or("not run".into(), |v| format!("{v:.1}")),
            c.ratio().map_or("-".into(), |x| format!("{x:.2}x")),
        ]);
    }
    println!("{t}");
    println!(
        "model {} · {} threads · batch {} · median of {} · {}",
        r.model, r.threads, r.batch_size, r.repeats, r.method
    );
    if let Some(a) = r.mc_choice_agreement {
        println!(
            "multiple-choice picks identical to the peer's on {:.1}% of items",
            a * 100.0
        );
    }
}

fn overhead_bench(args: &OverheadArgs) -> anyhow::Result<()> {
    let cfg = OverheadConfig {
        bench: bench_model(&args.bench),
        sampler_seconds: args.sampler_seconds,
    };
    crate::preflight::models(&[&args.bench.model])?;
    let report = trilemma_bench::overhead_bench(&cfg)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_overhead(&report);
    }
    Ok(())
}

fn print_overhead(r: &OverheadReport) {
    let nan = |x: Option<f64>| x.unwrap_or(f64::NAN);
    println!(
        "meter thread: {:.3}% of one core (every {} ms, {:.0} s watched)",
        r.meter_cpu_pct, r.meter_period_ms, r.meter_watched_s
    );
    println!(
        "harness: {:.3} s vs direct engine calls {:.3} s on {} ARC-Easy items (batch {}, median of {}): overhead {:+.2}%",
        nan(r.harness_median_s()),
        nan(r.direct_median_s()),
        r.items,
        r.batch_size,
        r.repeats,
        nan(r.overhead_pct())
    );
    println!(
        "  direct passes: {:.3?}; harness passes: {:.3?}",
        r.direct_s, r.harness_s
    );
}

fn load_bench(args: &LoadBenchArgs) -> anyhow::Result<()> {
    let cfg = LoadBenchConfig {
        concurrency: args.concurrency,
        requests: args.requests,
        pieces: args.pieces,
        client_threads: args.client_threads,
        guidellm_python: args.guidellm_python.clone(),
        processor: args.processor.clone(),
        guidellm_requests: args.guidellm_requests,
    };
    let report = trilemma_bench::load_bench(&cfg)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_load_bench(&report);
    }
    Ok(())
}

/// A number as the report's JSON writes it (`2000`, `2000.0`, `null`).
fn json_num(x: impl Into<serde_json::Value>) -> String {
    x.into().to_string()
}

/// One decimal, or `-` when unmeasured.
fn one(x: Option<f64>) -> String {
    x.filter(|x| x.is_finite())
        .map_or("-".into(), |x| format!("{x:.1}"))
}

/// Milliseconds to the microsecond, or `-` when unmeasured.
fn ms3(x: Option<f64>) -> String {
    x.filter(|x| x.is_finite())
        .map_or("-".into(), |x| format!("{x:.3}"))
}

fn print_load_bench(r: &LoadBenchReport) {
    println!(
        "Load generator cost against {}; concurrency {}, {} text events per answer; CPU: {}",
        json_num(r.target.as_str()),
        r.concurrency,
        r.pieces,
        json_num(r.cpu_source.as_str())
    );
    let side = |client: &str,
                completed: String,
                [wall, rps, cpu, per_cpu, p50, p99]: [Option<f64>; 6]| {
        println!(
            "  {:<9} {} requests in {} s: {} req/s, client CPU {} s, {} requests per client CPU-second, TTFT p50/p99 {}/{} ms",
            client,
            completed,
            one(wall),
            one(rps),
            one(cpu),
            one(per_cpu),
            ms3(p50),
            ms3(p99),
        );
    };
    let o = &r.ours;
    side(
        &o.client,
        json_num(o.completed),
        [
            Some(o.wall_s),
            Some(o.requests_per_s),
            Some(o.client_cpu_s),
            Some(o.requests_per_cpu_s),
            o.ttft_p50_ms,
            o.ttft_p99_ms,
        ],
    );
    if let Some(g) = &r.guidellm {
        side(
            &g.client,
            json_num(g.completed),
            [
                g.wall_s,
                g.requests_per_s,
                Some(g.client_cpu_s),
                Some(g.requests_per_cpu_s),
                g.ttft_p50_ms,
                g.ttft_p99_ms,
            ],
        );
    }
    if let (Some(p50), Some(p99)) = (
        o.ttft_gap_p50_ms.filter(|x| x.is_finite()),
        o.ttft_gap_p99_ms.filter(|x| x.is_finite()),
    ) {
        println!("  client TTFT - target's own TTFT: p50 {p50:.3} ms, p99 {p99:.3} ms");
    }
    if let Some(x) = r.requests_per_cpu_s_ratio {
        println!("  requests per client CPU-second, ours / GuideLLM's (its whole process tree, start-up included): {x:.1}x");
    }
    if let (Some(x), Some(g)) = (r.marginal_requests_per_cpu_s_ratio, &r.guidellm) {
        println!(
            "  ours / GuideLLM's marginal requests per CPU-second (its long run minus its short run, {} requests): {x:.1}x",
            g.short_run.requests
        );
    }
}

fn gateway_bench(a: &GatewayBenchArgs) -> anyhow::Result<()> {
    if let Some(l) = &a.litellm {
        if !l.is_file() {
            anyhow::bail!("--litellm {}: no such file", l.display());
        }
    }
    let work = tempfile::tempdir()?;
    let cfg = trilemma_bench::GatewayBenchConfig {
        trilemma: std::env::current_exe()?,
        litellm: a.litellm.clone(),
        concurrency: a.concurrency,
        requests: a.requests,
        warmup: a.warmup,
        pieces: 8,
        work_dir: work.path().to_path_buf(),
    };
    let r = trilemma_bench::gateway_bench(&cfg, |arm| {
        eprintln!(
            "{}: {:.0} requests/s, p50 {:.3} ms, p99 {:.3} ms ({} requests, {} errors)",
            arm.name, arm.requests_per_s, arm.p50_ms, arm.p99_ms, arm.requests, arm.errors
        )
    })?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    let mut t = crate::output::table(&[
        "arm",
        "requests/s",
        "p50 ms",
        "p99 ms",
        "added p50 ms",
        "added p99 ms",
        "throughput lost",
    ]);
    for arm in &r.arms {
        let add = r.added.iter().find(|x| x.proxy == arm.name);
        t.add_row(vec![
            arm.name.clone(),
            format!("{:.0}", arm.requests_per_s),
            format!("{:.3}", arm.p50_ms),
            format!("{:.3}", arm.p99_ms),
            add.map_or("-".into(), |x| format!("{:.3}", x.p50_ms)),
            add.map_or("-".into(), |x| format!("{:.3}", x.p99_ms)),
            add.map_or("-".into(), |x| format!("{:.1}%", 100.0 * x.throughput_loss)),
        ]);
    }
    println!("{t}");
    if let Some(ratio) = r.litellm_over_ours_p99 {
        println!(
            "LiteLLM {} adds {ratio:.1}x the p99 latency Trilemma's gateway adds",
            r.litellm_version.as_deref().unwrap_or("")
        );
    }
    println!("how: {}", r.how);
    Ok(())
}
