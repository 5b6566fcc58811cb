//! `trilemma load`: drive an OpenAI-compatible server and summarize latency and throughput.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use trilemma_load::{run as run_load, summarize, LoadConfig, Profile, Slo};

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Server base URL with the API prefix, e.g. http://127.0.0.1:8080/v1.
    #[arg(long, required_unless_present = "serve", conflicts_with = "serve")]
    pub engine: Option<String>,
    /// Model name the server serves (with --serve: the name to serve it under).
    #[arg(long, required_unless_present = "serve")]
    pub served_model: Option<String>,
    /// Start `trilemma serve MODEL` on 127.0.0.1 for each --max-batch in turn, load it,
    /// and stop it: a batch-size sweep whose energy-latency curve ends the report.
    #[arg(long, value_name = "MODEL")]
    pub serve: Option<String>,
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
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The prompts of a built-in task's items, in the data set's order.
fn task_prompts(name: &str) -> anyhow::Result<Vec<String>> {
    let catalog = trilemma_assets::Catalog::builtin();
    let cache = trilemma_assets::Cache::from_env();
    let data_set = trilemma_tasks::data_set_for(name)?;
    let package = cache.fetch_dataset(catalog.dataset(data_set)?)?;
    let task = trilemma_tasks::load(name, &package)?;
    Ok(task
        .items
        .iter()
        .map(|item| match item {
            trilemma_tasks::Item::MultipleChoice { context, .. } => context.clone(),
            trilemma_tasks::Item::Generate { prompt, .. } => prompt.clone(),
            trilemma_tasks::Item::Rolling { text, .. } => text.clone(),
        })
        .collect())
}

fn read_prompts(path: &PathBuf) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read prompts file {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        if line.trim_start().starts_with('{') {
            let v: serde_json::Value = serde_json::from_str(line)
                .with_context(|| format!("{}:{}: not JSON", path.display(), i + 1))?;
            let p = v.get("prompt").and_then(|p| p.as_str()).with_context(|| {
                format!("{}:{}: no string field \"prompt\"", path.display(), i + 1)
            })?;
            out.push(p.to_string());
        } else {
            out.push(line.to_string());
        }
    }
    if out.is_empty() {
        bail!("{} holds no prompts", path.display());
    }
    Ok(out)
}

/// A server under load: given by URL, or started here for one max batch size.
struct Target {
    url: String,
    model: String,
    max_batch: Option<usize>,
    /// Held so that the server stops when the target is dropped.
    _server: Option<trilemma_load::process::SpawnedServer>,
}

/// Starts `trilemma serve` on a free port and waits until it answers.
fn spawn_server(
    model: &str,
    served: &str,
    max_batch: usize,
    threads: Option<u32>,
    prefill_chunk: Option<usize>,
    log: &std::path::Path,
) -> anyhow::Result<Target> {
    let (server, url) =
        trilemma_load::process::spawn_serve(model, served, max_batch, threads, prefill_chunk, log)?;
    Ok(Target {
        url,
        model: served.to_string(),
        max_batch: Some(max_batch),
        _server: Some(server),
    })
}

fn ms(d: &Option<trilemma_core::stats::Distribution>) -> String {
    d.as_ref()
        .map(|d| format!("{:.1}/{:.1}", d.p50 * 1e3, d.p99 * 1e3))
        .unwrap_or_else(|| "-".into())
}

/// What a profile run is for: a sweep's synchronous and throughput runs place its rates.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    Given,
    SweepSynchronous,
    SweepThroughput,
}

/// Profiles given on the command line, in order (the sweep's rates come later, once its
/// synchronous and throughput runs are measured).
fn planned(args: &LoadArgs, max_batch: Option<usize>) -> Vec<(Profile, Role)> {
    let mut profiles: Vec<(Profile, Role)> = args
        .concurrency
        .iter()
        .map(|&n| (Profile::Concurrency { n }, Role::Given))
        .collect();
    for &rate in &args.rate {
        profiles.push((rate_profile(args, rate), Role::Given));
    }
    if args.sweep.is_some() {
        profiles.push((Profile::Concurrency { n: 1 }, Role::SweepSynchronous));
        profiles.push((
            Profile::Concurrency {
                n: args.max_concurrency,
            },
            Role::SweepThroughput,
        ));
    }
    if profiles.is_empty() {
        if let Some(b) = max_batch {
            profiles.push((Profile::Concurrency { n: b }, Role::Given));
        }
    }
    profiles
}

fn rate_profile(args: &LoadArgs, rate: f64) -> Profile {
    if args.poisson {
        Profile::Poisson {
            rate,
            seed: args.seed,
        }
    } else {
        Profile::Constant { rate }
    }
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
    let prompts = match (&args.prompts, &args.task) {
        (Some(p), _) => read_prompts(p)?,
        (None, Some(t)) => task_prompts(t)?,
        (None, None) => bail!("give --prompts FILE or --task NAME"),
    };
    let logs = tempfile::tempdir()?;
    let mut report: Vec<serde_json::Value> = Vec::new();
    let batches: Vec<Option<usize>> = match &args.serve {
        Some(_) => args.max_batch.iter().map(|&b| Some(b)).collect(),
        None => vec![None],
    };
    for max_batch in batches {
        let target = match (&args.serve, max_batch) {
            (Some(model), Some(b)) => {
                let served = args.served_model.clone().unwrap_or_else(|| model.clone());
                let log = logs.path().join(format!("serve-{b}.log"));
                eprintln!("starting trilemma serve {model} --max-batch {b}");
                spawn_server(
                    model,
                    &served,
                    b,
                    args.serve_threads,
                    args.serve_prefill_chunk,
                    &log,
                )?
            }
            _ => Target {
                url: args
                    .engine
                    .clone()
                    .context("give --engine URL or --serve MODEL")?,
                model: args
                    .served_model
                    .clone()
                    .context("give --served-model with --engine")?,
                max_batch: None,
                _server: None,
            },
        };
        // Preflight: an unreachable server, a wrong model name or a server that is not
        // OpenAI-compatible is a clear error before any load is sent.
        let mut pre = trilemma_engine::http::OpenAiConfig::new(&target.url, &target.model);
        pre.api_key_env = args.api_key_env.clone();
        trilemma_engine::http::OpenAiEngine::connect(pre)
            .with_context(|| format!("preflight of {}", target.url))?;
        let cfg = LoadConfig {
            base_url: target.url.clone(),
            model: target.model.clone(),
            prompts: prompts.clone(),
            max_tokens: args.max_tokens,
            requests: args.requests,
            profile: Profile::Concurrency { n: 1 },
            api_key_env: args.api_key_env.clone(),
            timeout: Duration::from_secs(600),
            threads: args.threads,
            chat: args.chat,
        };
        let mut queue: std::collections::VecDeque<(Profile, Role)> =
            planned(args, max_batch).into();
        let mut sync_rps = f64::NAN;
        while let Some((p, role)) = queue.pop_front() {
            let entry = run_profile(args, &cfg, p, &slo, &target)?;
            let rps = entry
                .pointer("/summary/requests_per_s")
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(f64::NAN);
            match role {
                Role::Given => {}
                Role::SweepSynchronous => sync_rps = rps,
                Role::SweepThroughput => {
                    let rates = trilemma_load::sweep_rates(sync_rps, rps, args.sweep.unwrap_or(0));
                    if rates.is_empty() {
                        eprintln!("sweep: the throughput run was not faster than the synchronous one; no rates between them");
                    }
                    queue.extend(
                        rates
                            .into_iter()
                            .map(|r| (rate_profile(args, r), Role::Given)),
                    );
                }
            }
            report.push(entry);
            if let Some(out) = &args.out {
                trilemma_runner::store::write_json_atomic(out, &report)
                    .with_context(|| format!("cannot write {}", out.display()))?;
            }
        }
        drop(target);
    }
    if args.serve.is_some() && args.max_batch.len() > 1 {
        print_batch_curve(&report, args.out.as_deref())?;
    }
    Ok(())
}

/// Runs one profile against `target`, prints its line, and returns its JSON entry.
fn run_profile(
    args: &LoadArgs,
    cfg: &LoadConfig,
    p: Profile,
    slo: &Slo,
    target: &Target,
) -> anyhow::Result<serde_json::Value> {
    let mut c = cfg.clone();
    c.profile = p;
    let meters = args.energy.then(|| {
        trilemma_telemetry::Telemetry::start(&trilemma_telemetry::TelemetryConfig {
            estimate_machine_wide: true,
            ..Default::default()
        })
    });
    let run = run_load(&c)?;
    let readings = meters.map(trilemma_telemetry::Telemetry::finish);
    let concurrency = match p {
        Profile::Concurrency { n } => n,
        _ => 1,
    };
    let batch = args.steady_batch.unwrap_or(match target.max_batch {
        Some(b) => concurrency.min(b),
        None => concurrency,
    });
    let failed = run.requests.iter().filter(|r| r.error.is_some()).count();
    let label = match target.max_batch {
        Some(b) => format!("max batch {b}, {p:?}"),
        None => format!("{p:?}"),
    };
    Ok(match summarize(&run, slo, batch) {
        Ok(s) => {
            println!(
                "{label}: {:.2} req/s, {:.1} tok/s, goodput {:.2}/s, TTFT p50/p99 {} ms, ITL p50/p99 {} ms, e2e p50/p99 {} ms, {} failed",
                s.requests_per_s,
                s.output_tokens_per_s,
                s.goodput_per_s,
                ms(&s.ttft_s),
                ms(&s.itl_s),
                ms(&s.e2e_s),
                s.failed
            );
            if let Some(g) = &s.ttft_gap_s {
                println!(
                    "  client TTFT - server's own TTFT (server_timing), {} requests: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
                    g.n,
                    g.p50 * 1e3,
                    g.p99 * 1e3,
                    g.max * 1e3
                );
            }
            let energy = readings
                .as_ref()
                .map(|r| steady_energy(r, &run, s.steady_window_ns));
            if let Some(e) = &energy {
                println!("  energy: {}", e["text"].as_str().unwrap_or_default());
            }
            serde_json::json!({"max_batch": target.max_batch, "steady_batch": batch,
                "summary": s, "energy": energy, "run": run})
        }
        Err(e) => {
            eprintln!("{label}: {e} ({failed} failed)");
            serde_json::json!({"max_batch": target.max_batch, "error": e.to_string(), "run": run})
        }
    })
}

/// Seed 004's energy-latency curve over the servers' batch sizes: one line per
/// (batch, profile), with the Pareto front over median latency and J/token marked, as
/// `trilemma report` shows a load file.
fn print_batch_curve(
    report: &[serde_json::Value],
    out: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    use trilemma_analysis::serving;
    let mut points = serving::points_of(report, out.unwrap_or(std::path::Path::new("-")))?;
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

/// J/token over the steady-state window from each energy source the meters had (never
/// summed across sources), J/request = J/token x the mean output tokens of a request.
fn steady_energy(
    readings: &trilemma_telemetry::Readings,
    run: &trilemma_load::LoadRun,
    window: Option<(u64, u64)>,
) -> serde_json::Value {
    let Some((t0, t1)) = window else {
        return serde_json::json!({
            "text": "no steady-state window (the batch never filled, or never drained): J/token not attributed",
            "window_ns": null,
        });
    };
    let ok: Vec<_> = run.requests.iter().filter(|r| r.error.is_none()).collect();
    let spans: Vec<_> = ok
        .iter()
        .map(|r| (r.start_ns, r.end_ns, u64::from(r.output_tokens)))
        .collect();
    let tokens = trilemma_telemetry::tokens_in_window(&spans, (t0, t1));
    let mean_out =
        ok.iter().map(|r| f64::from(r.output_tokens)).sum::<f64>() / ok.len().max(1) as f64;
    let mut per_source = Vec::new();
    let mut text = format!(
        "steady-state window {:.2} s, {:.0} output tokens in it",
        (t1 - t0) as f64 / 1e9,
        tokens
    );
    for source in readings.sources() {
        let Some(j) = readings.energy_between(source, t0, t1) else {
            continue;
        };
        let per_token = j / tokens.max(1.0);
        text.push_str(&format!(
            "; {}: {:.3} J/token, {:.2} J/request{}",
            source.label(),
            per_token,
            per_token * mean_out,
            if source.is_measurement() {
                ""
            } else {
                " (ESTIMATE from the whole machine's CPU use, client included)"
            }
        ));
        per_source.push(serde_json::json!({
            "source": source,
            "joules": j,
            "j_per_token": per_token,
            "j_per_request": per_token * mean_out,
        }));
    }
    serde_json::json!({
        "text": text,
        "window_ns": [t0, t1],
        "tokens_in_window": tokens,
        "sources": per_source,
    })
}
