//! `trilemma load`: drive an OpenAI-compatible server and summarize latency and throughput.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use trilemma_load::{run as run_load, summarize, LoadConfig, Profile, Slo};

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Server base URL with the API prefix, e.g. http://127.0.0.1:8080/v1.
    #[arg(long)]
    pub engine: String,
    /// Model name the server serves.
    #[arg(long)]
    pub served_model: String,
    /// Prompts file: one prompt per line, or JSON lines with a "prompt" field.
    #[arg(long, required_unless_present = "task", conflicts_with = "task")]
    pub prompts: Option<PathBuf>,
    /// Take the prompts from a built-in task instead (the items' prompts, in order;
    /// multiple-choice items give their question context).
    #[arg(long)]
    pub task: Option<String>,
    /// Closed-loop concurrencies to sweep (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub concurrency: Vec<usize>,
    /// Open-loop rates in requests/s to sweep (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub rate: Vec<f64>,
    /// Poisson arrivals for --rate (default: constant rate).
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
    /// Batch size that opens the steady-state window (default: the concurrency).
    #[arg(long)]
    pub steady_batch: Option<usize>,
    /// Meter the machine during each profile (the server runs on this machine) and
    /// report J/token over the steady-state window.
    #[arg(long)]
    pub energy: bool,
    /// Write raw per-request records and summaries as JSON here.
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

pub fn run(args: &LoadArgs) -> anyhow::Result<()> {
    let slo: Slo = args.slo.parse()?;
    let mut profiles: Vec<Profile> = args
        .concurrency
        .iter()
        .map(|&n| Profile::Concurrency { n })
        .collect();
    for &rate in &args.rate {
        profiles.push(if args.poisson {
            Profile::Poisson {
                rate,
                seed: args.seed,
            }
        } else {
            Profile::Constant { rate }
        });
    }
    if profiles.is_empty() {
        bail!("give --concurrency and/or --rate");
    }
    let cfg = LoadConfig {
        base_url: args.engine.clone(),
        model: args.served_model.clone(),
        prompts: match (&args.prompts, &args.task) {
            (Some(p), _) => read_prompts(p)?,
            (None, Some(t)) => task_prompts(t)?,
            (None, None) => bail!("give --prompts FILE or --task NAME"),
        },
        max_tokens: args.max_tokens,
        requests: args.requests,
        profile: profiles[0],
        api_key_env: args.api_key_env.clone(),
        timeout: Duration::from_secs(600),
        threads: args.threads,
    };
    let mut report = Vec::new();
    for p in profiles {
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
        let batch = args.steady_batch.unwrap_or(match p {
            Profile::Concurrency { n } => n,
            _ => 1,
        });
        let failed = run.requests.iter().filter(|r| r.error.is_some()).count();
        match summarize(&run, &slo, batch) {
            Ok(s) => {
                let ms = |d: Option<trilemma_core::stats::Distribution>| {
                    d.map(|d| format!("{:.1}/{:.1}", d.p50 * 1e3, d.p99 * 1e3))
                        .unwrap_or_else(|| "-".into())
                };
                println!(
                    "{p:?}: {:.2} req/s, {:.1} tok/s, goodput {:.2}/s, TTFT p50/p99 {} ms, ITL p50/p99 {} ms, e2e p50/p99 {} ms, {} failed",
                    s.requests_per_s,
                    s.output_tokens_per_s,
                    s.goodput_per_s,
                    ms(s.ttft_s),
                    ms(s.itl_s),
                    ms(s.e2e_s),
                    s.failed
                );
                let energy = readings
                    .as_ref()
                    .map(|r| steady_energy(r, &run, s.steady_window_ns));
                if let Some(e) = &energy {
                    println!("  energy: {}", e["text"].as_str().unwrap_or_default());
                }
                report.push(serde_json::json!({"summary": s, "energy": energy, "run": run}));
            }
            Err(e) => {
                eprintln!("{p:?}: {e} ({failed} failed)");
                report.push(serde_json::json!({"error": e.to_string(), "run": run}));
            }
        }
    }
    if let Some(out) = &args.out {
        std::fs::write(out, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
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
