//! `trilemma bench`: benchmarks of Trilemma itself against peers (`trilemma-bench`):
//! flags into configs, the benchmark, and its table or `--json` report.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use trilemma_bench::{
    BenchModel, EngineBenchConfig, EngineBenchReport, EngineEvent, OverheadConfig, OverheadReport,
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
    Load(crate::cmd_bench_load::LoadBenchArgs),
    /// The static SSE target `bench load` drives (started by it as its own process).
    #[command(hide = true)]
    SseTarget(crate::cmd_bench_load::SseTargetArgs),
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
}

#[derive(Debug, Args)]
pub struct OverheadArgs {
    #[command(flatten)]
    pub bench: BenchModelArgs,
    /// Seconds the idle meter thread is watched for its CPU cost.
    #[arg(long, default_value_t = 10.0)]
    pub sampler_seconds: f64,
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

pub fn run(cmd: &BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Engine(a) => engine_bench(a),
        BenchCommand::Overhead(a) => overhead_bench(a),
        BenchCommand::Load(a) => crate::cmd_bench_load::load_bench(a),
        BenchCommand::SseTarget(a) => crate::cmd_bench_load::sse_target(a),
    }
}

fn bench_model(b: &BenchModelArgs) -> BenchModel {
    BenchModel {
        model: b.model.clone(),
        items: b.items,
        batch_size: b.batch_size,
        repeats: b.repeats,
        n_ctx: b.n_ctx,
        max_sequences: b.max_sequences,
    }
}

fn engine_bench(args: &EngineBenchArgs) -> anyhow::Result<()> {
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
    print_overhead(&trilemma_bench::overhead_bench(&cfg)?);
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
