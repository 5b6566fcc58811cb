//! `trilemma redteam`: prompt-injection attacks from the pinned spikee seeds against an
//! OpenAI-compatible endpoint (`--engine URL`: a server, the cascade gateway) or an
//! embedded model (`-m`, served on a loopback port for the run), judged by canaries;
//! `--compare` puts saved reports of the same attacks side by side (the monolith, the
//! cascade, the cascade behind an input guard).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use trilemma_assets::{Cache, Catalog};
use trilemma_redteam::{redteam, side_by_side, RedteamConfig, Report};

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["engine", "model", "compare"])))]
pub struct RedteamArgs {
    /// An OpenAI-compatible endpoint with its API prefix (`http://127.0.0.1:8080/v1`).
    #[arg(long, value_name = "URL")]
    pub engine: Option<String>,
    /// The model the endpoint serves (with --engine), sent as `model`.
    #[arg(long, value_name = "NAME", requires = "engine")]
    pub served_model: Option<String>,
    /// An embedded model (catalog name or GGUF path), served on a loopback port for the run.
    #[arg(long, short = 'm', value_name = "MODEL")]
    pub model: Option<String>,
    /// Reports saved with --out from runs of the same attacks (same --suite, --limit,
    /// --seed) against different targets: print them side by side, labelled by file name.
    #[arg(long, value_name = "REPORT", num_args = 1..)]
    pub compare: Vec<PathBuf>,
    /// The spikee seed suite (`seeds-NAME` in the package).
    #[arg(long, default_value = "cybersec-2026-01")]
    pub suite: String,
    /// Attacks sent: a seeded random sample of the suite's (0: all of them).
    #[arg(long, default_value_t = 60)]
    pub limit: usize,
    #[arg(long, default_value_t = trilemma_core::DEFAULT_SEED)]
    pub seed: u64,
    /// Most tokens of each answer.
    #[arg(long, default_value_t = 96)]
    pub max_tokens: u32,
    /// Attacks in flight at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Environment variable holding the endpoint's API key.
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,
    /// CPU threads of the embedded model.
    #[arg(long)]
    pub threads: Option<u32>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Write the report (JSON, with every attack's answer) to this file.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn run(args: &RedteamArgs) -> anyhow::Result<()> {
    if !args.compare.is_empty() {
        return compare(args);
    }
    let api_key = match &args.api_key_env {
        Some(var) => Some(std::env::var(var).map_err(|_| {
            anyhow::anyhow!("--api-key-env {var}: the environment variable {var} is not set")
        })?),
        None => None,
    };
    if let Some(m) = &args.model {
        crate::preflight::models(&[m.as_str()])?;
    }
    let catalog = Catalog::builtin();
    let asset = catalog.dataset("spikee")?;
    let wheel = Cache::from_env().fetch_dataset(asset)?;
    // The seeds are read (and checked) before any model loads.
    trilemma_redteam::Seeds::read(&wheel, &args.suite)?;
    let mut cfg = RedteamConfig {
        url: String::new(),
        model: String::new(),
        api_key,
        suite: args.suite.clone(),
        limit: (args.limit > 0).then_some(args.limit),
        seed: args.seed,
        max_tokens: args.max_tokens,
        concurrency: args.concurrency,
        timeout: Duration::from_secs(300),
    };
    let report = match (&args.engine, &args.model) {
        (Some(url), _) => {
            cfg.url = url.clone();
            cfg.model = args
                .served_model
                .clone()
                .unwrap_or_else(|| "default".into());
            redteam(&cfg, &wheel, &asset.package)?
        }
        (None, Some(model)) => {
            let server = crate::embedded::Embedded::start(model, args.threads, args.concurrency)?;
            cfg.url = server.url.clone();
            cfg.model = model.clone();
            let r = redteam(&cfg, &wheel, &asset.package)?;
            drop(server);
            r
        }
        (None, None) => anyhow::bail!("give --engine URL or -m MODEL"),
    };
    if let Some(path) = &args.out {
        trilemma_store::write_json_atomic(path, &report)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

/// `--compare`: saved reports side by side.
fn compare(args: &RedteamArgs) -> anyhow::Result<()> {
    let mut reports = Vec::new();
    for path in &args.compare {
        let report = Report::read(path).map_err(|e| anyhow::anyhow!("--compare {e}"))?;
        let label = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        reports.push((label, report));
    }
    let table = side_by_side(&reports).map_err(|e| anyhow::anyhow!("--compare {e}"))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&table)?);
    } else {
        print!("{}", table.table());
    }
    Ok(())
}
