//! `trilemma load`: drive an OpenAI-compatible server and summarize latency and throughput.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use trilemma_load::{LoadEntry, LoadEvent, LoadPlan, ProfilePlan, Server, Slo, SpawnServers};

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The model: with --engine, the name the server serves (unless --served-model says
    /// otherwise); with --serve, the catalog name or GGUF path to serve.
    #[arg(long, short = 'm', value_name = "MODEL")]
    pub model: Option<String>,
    /// Server base URL with the API prefix, e.g. http://127.0.0.1:8080/v1.
    #[arg(
        long,
        value_name = "URL",
        required_unless_present = "serve",
        conflicts_with = "serve"
    )]
    pub engine: Option<String>,
    /// Model name the server serves (with --serve: the name to serve it under); default:
    /// the -m given.
    #[arg(long)]
    pub served_model: Option<String>,
    /// Start `trilemma serve -m MODEL` on 127.0.0.1 for each --max-batch in turn, load
    /// it, and stop it: a batch-size sweep whose energy-latency curve ends the report.
    /// MODEL defaults to the -m given.
    #[arg(long, value_name = "MODEL", num_args = 0..=1)]
    pub serve: Option<Option<String>>,
    /// The servers' max batch sizes (vLLM's max_num_seqs), comma-separated; with no
    /// --concurrency/--rate/--sweep, each is loaded at a concurrency equal to its batch.
    #[arg(long, value_delimiter = ',', requires = "serve", default_value = "8")]
    pub max_batch: Vec<usize>,
    /// CPU threads of the spawned servers (default: every core).
    #[arg(long, requires = "serve")]
    pub serve_threads: Option<u32>,
    /// The spawned servers' --prefill-chunk (default: serve's own; 0 reads whole prompts).
    #[arg(long, requires = "serve")]
    pub serve_prefill_chunk: Option<usize>,
    /// Prompts file: one prompt per line, or JSON lines with a "prompt" field.
    #[arg(long, required_unless_present = "task", conflicts_with = "task")]
    pub prompts: Option<PathBuf>,
    /// Take the prompts from a built-in task instead (the items' prompts, in order;
    /// multiple-choice items give their question context).
    #[arg(long)]
    pub task: Option<String>,
    /// Send each prompt as the user message of /v1/chat/completions (the server applies
    /// the model's chat template), as a chat client does; default: raw /v1/completions.
    #[arg(long)]
    pub chat: bool,
    /// Closed-loop concurrencies to sweep (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub concurrency: Vec<usize>,
    /// Open-loop rates in requests/s to sweep (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub rate: Vec<f64>,
    /// GuideLLM-style sweep: synchronous (one request at a time), then throughput
    /// (--max-concurrency in flight), then this many constant rates evenly spaced
    /// between the two measured request rates.
    #[arg(long, value_name = "N")]
    pub sweep: Option<usize>,
    /// Requests in flight for the sweep's throughput run.
    #[arg(long, default_value_t = 32)]
    pub max_concurrency: usize,
    /// Poisson arrivals for --rate and the sweep's rates (default: constant rate).
    #[arg(long)]
    pub poisson: bool,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Requests per profile.
    #[arg(long, default_value_t = 200)]
    pub requests: usize,
    #[arg(long, default_value_t = 64)]
    pub max_tokens: u32,
    /// Latency objectives for goodput, e.g. ttft=500ms,tpot=50ms.
    #[arg(long, default_value = "")]
    pub slo: String,
    /// Environment variable holding the API key.
    #[arg(long)]
    pub api_key_env: Option<String>,
    /// Client runtime threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Batch size that opens the steady-state window (default: the concurrency, or
    /// the spawned server's max batch when that is smaller).
    #[arg(long)]
    pub steady_batch: Option<usize>,
    /// Meter the machine during each profile (the server runs on this machine) and
    /// report J/token over the steady-state window.
    #[arg(long)]
    pub energy: bool,
    /// Write raw per-request records and summaries as JSON here (rewritten whole after
    /// every profile, so an interrupted sweep keeps what it measured).
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Print the load file (what --out writes) as JSON on stdout; progress goes to stderr.
    #[arg(long)]
    pub json: bool,
}

impl LoadArgs {
    /// The model to serve with --serve: its value, else -m.
    fn serve_model(&self) -> anyhow::Result<Option<&str>> {
        match &self.serve {
            None => Ok(None),
            Some(Some(m)) => Ok(Some(m)),
            Some(None) => self
                .model
                .as_deref()
                .map(Some)
                .context("--serve needs a model: give -m MODEL (or --serve MODEL)"),
        }
    }

    /// The name requests carry as `model`.
    fn served_name(&self) -> anyhow::Result<String> {
        if let Some(s) = &self.served_model {
            return Ok(s.clone());
        }
        if let Some(m) = self.serve_model()? {
            return Ok(m.to_string());
        }
        self.model
            .clone()
            .context("give -m MODEL (the name the server serves) with --engine")
    }
}

/// The prompts of a built-in task's items, in the data set's order. (Here, not in
/// `trilemma-load`: it needs the task loaders and the asset cache.)
fn task_prompts(name: &str) -> anyhow::Result<Vec<String>> {
    let spec = trilemma_runner::inputs::TaskSpec {
        names: vec![name.to_string()],
        seed: trilemma_core::DEFAULT_SEED,
        ..Default::default()
    };
    let loaded = trilemma_runner::inputs::load_tasks(
        &spec,
        &trilemma_assets::Cache::from_env(),
        &trilemma_assets::Catalog::builtin(),
    )?;
    Ok(loaded
        .tasks
        .iter()
        .flat_map(|t| t.items.iter().map(|i| i.prompt().to_string()))
        .collect())
}

fn ms(d: &Option<trilemma_core::stats::Distribution>) -> String {
    d.as_ref()
        .map(|d| format!("{:.1}/{:.1}", d.p50 * 1e3, d.p99 * 1e3))
        .unwrap_or_else(|| "-".into())
}

/// The session's settings from the flags.
fn plan(args: &LoadArgs, slo: Slo, prompts: Vec<String>) -> anyhow::Result<LoadPlan> {
    let served = args.served_name()?;
    let server = match args.serve_model()? {
        Some(model) => Server::Spawn(SpawnServers {
            model: model.to_string(),
            served,
            max_batches: args.max_batch.clone(),
            threads: args.serve_threads,
            prefill_chunk: args.serve_prefill_chunk,
        }),
        None => Server::Given {
            url: args
                .engine
                .clone()
                .context("give --engine URL or --serve MODEL")?,
            model: served,
        },
    };
    Ok(LoadPlan {
        server,
        profiles: ProfilePlan {
            concurrency: args.concurrency.clone(),
            rates: args.rate.clone(),
            sweep: args.sweep,
            max_concurrency: args.max_concurrency,
            poisson: args.poisson,
            seed: args.seed,
        },
        prompts,
        chat: args.chat,
        requests: args.requests,
        max_tokens: args.max_tokens,
        slo,
        api_key_env: args.api_key_env.clone(),
        threads: args.threads,
        timeout: Duration::from_secs(600),
        steady_batch: args.steady_batch,
        energy: args.energy,
        out: args.out.clone(),
    })
}

/// Checks the inputs in milliseconds, before any server starts or prompt is sent.
fn preflight(args: &LoadArgs) -> anyhow::Result<()> {
    use crate::preflight;
    if let Some(url) = &args.engine {
        preflight::engine_url(url, "--engine")?;
    }
    if let Some(model) = args.serve_model()? {
        preflight::models(&[model])?;
    }
    args.served_name()?;
    if let Some(p) = &args.prompts {
        preflight::input_file(p, "--prompts")?;
    }
    if let Some(t) = &args.task {
        preflight::tasks(std::slice::from_ref(t), &[])?;
    }
    if let Some(out) = &args.out {
        preflight::out_file(out, "--out")?;
    }
    if let Some(var) = &args.api_key_env {
        if std::env::var_os(var).is_none() {
            bail!("--api-key-env {var}: the environment variable {var} is not set");
        }
    }
    Ok(())
}

pub fn run(args: &LoadArgs) -> anyhow::Result<()> {
    let slo: Slo = args.slo.parse()?;
    if args.concurrency.is_empty()
        && args.rate.is_empty()
        && args.sweep.is_none()
        && args.serve.is_none()
    {
        bail!("give --concurrency, --rate or --sweep N");
    }
    if args.max_batch.contains(&0) {
        bail!("--max-batch sizes must be at least 1");
    }
    preflight(args)?;
    let prompts = match (&args.prompts, &args.task) {
        (Some(p), _) => trilemma_load::read_prompts(p)?,
        (None, Some(t)) => task_prompts(t)?,
        (None, None) => bail!("give --prompts FILE or --task NAME"),
    };
    let file = trilemma_load::run_plan(&plan(args, slo, prompts)?, |e| print_event(e, args.json))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&file)?);
    } else if args.serve.is_some() && args.max_batch.len() > 1 {
        print_batch_curve(&file.profiles, args.out.as_deref())?;
    }
    Ok(())
}

/// Prints a session's progress: a line per profile, as it ends (on stderr with --json,
/// whose stdout is the load file alone).
fn print_event(event: LoadEvent<'_>, json: bool) {
    match event {
        LoadEvent::Starting { model, max_batch } => {
            eprintln!("starting trilemma serve {model} --max-batch {max_batch}");
        }
        LoadEvent::NoSweepRates => eprintln!(
            "sweep: the throughput run was not faster than the synchronous one; no rates between them"
        ),
        LoadEvent::Profile(entry) => {
            let text = entry_text(entry);
            if json {
                eprint!("{text}");
            } else {
                print!("{text}");
            }
        }
    }
}

/// A profile's lines.
fn entry_text(entry: &LoadEntry) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let mut line = |s: String| {
        let _ = writeln!(out, "{s}");
    };
    let p = entry.run.profile;
    let label = match entry.max_batch {
        Some(b) => format!("max batch {b}, {p:?}"),
        None => format!("{p:?}"),
    };
    let Some(s) = &entry.summary else {
        let failed = entry
            .run
            .requests
            .iter()
            .filter(|r| r.error.is_some())
            .count();
        let error = entry.error.as_deref().unwrap_or("nothing measured");
        line(format!("{label}: {error} ({failed} failed)"));
        return out;
    };
    line(format!(
        "{label}: {:.2} req/s, {:.1} tok/s, goodput {:.2}/s, TTFT p50/p99 {} ms, ITL p50/p99 {} ms, e2e p50/p99 {} ms, {} failed",
        s.requests_per_s,
        s.output_tokens_per_s,
        s.goodput_per_s,
        ms(&s.ttft_s),
        ms(&s.itl_s),
        ms(&s.e2e_s),
        s.failed
    ));
    if let Some(g) = &s.ttft_gap_s {
        line(format!(
            "  client TTFT - server's own TTFT (server_timing), {} requests: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            g.n,
            g.p50 * 1e3,
            g.p99 * 1e3,
            g.max * 1e3
        ));
    }
    if let Some(e) = &entry.energy {
        line(format!("  energy: {}", e.text));
    }
    out
}

/// Seed 004's energy-latency curve over the servers' batch sizes: one line per
/// (batch, profile), with the Pareto front over median latency and J/token marked, as
/// `trilemma report` shows a load file.
fn print_batch_curve(entries: &[LoadEntry], out: Option<&std::path::Path>) -> anyhow::Result<()> {
    use trilemma_analysis::serving;
    let mut points = serving::points_of(entries, out.unwrap_or(std::path::Path::new("-")))?;
    serving::mark_frontier(&mut points)?;
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    // The load file's name is the same on every row: leave it out.
    t.set_header(&serving::COLUMNS[1..]);
    for p in &points {
        t.add_row(&serving::cells(p)[1..]);
    }
    println!(
        "\nEnergy-latency over batch sizes (seed 004). {}",
        trilemma_analysis::serving::NOTE
    );
    println!("{t}");
    Ok(())
}
