//! `trilemma serve`: an OpenAI-compatible server over one embedded model.

use std::net::SocketAddr;

use anyhow::Context;
use clap::Args;
use trilemma_serve::{serve_blocking, ServeConfig};

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("the_model").required(true).args(["model", "model_arg", "cascade"])))]
pub struct ServeArgs {
    /// Model to serve: a catalog name or a path to a GGUF file.
    #[arg(long, short = 'm', value_name = "MODEL")]
    pub model: Option<String>,
    /// The model as the first argument: the same as -m.
    #[arg(value_name = "MODEL", conflicts_with = "model")]
    pub model_arg: Option<String>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Most sequences given to the engine at once (vLLM's max_num_seqs).
    #[arg(long, default_value_t = 8)]
    pub max_batch: usize,
    /// Model name served at /v1/models and expected in requests (default: the model given).
    #[arg(long)]
    pub served_model: Option<String>,
    /// Most prompt tokens evaluated per decode step, across newly arrived requests
    /// (chunked prefill): a newcomer's prompt then delays the running sequences' next
    /// token by one chunk instead of the whole prompt. 0 (the default) evaluates whole
    /// prompts: on a 2-vCPU machine, chunks of 32 cut ITL p99 by ~15% but output
    /// tokens/s by ~20% (smollm2-135m, batch 8).
    #[arg(long, default_value_t = 0)]
    pub prefill_chunk: usize,
    /// CPU threads (default: every core).
    #[arg(long)]
    pub threads: Option<u32>,
    /// Layers offloaded to a GPU: a number, `all`, or `auto` (the default: all where the
    /// build has a GPU backend and finds a GPU, else none). Each tier of a --cascade too.
    #[arg(long, default_value = "auto", value_name = "N|all|auto")]
    pub gpu_layers: trilemma_core::GpuLayers,
    /// KV cells shared by the sequences in flight (prompt + output tokens of each); a
    /// prompt that does not fit beside its max_tokens is refused (400) unless the client
    /// sends truncate_prompt_tokens.
    #[arg(long, default_value_t = 4096)]
    pub n_ctx: u32,
    /// Environment variable holding an API key (beside any --api-keys): every /v1/
    /// request must then send `Authorization: Bearer KEY` (else 401). The key itself is
    /// never printed.
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,
    /// Most requests waiting for a sequence; one more is answered 429 (default: no limit).
    #[arg(long, value_name = "N")]
    pub max_waiting: Option<usize>,
    /// Serve an SLM-first cascade instead of one model: the tiers of this cascade file,
    /// each answer from the cheapest tier the policy accepts (docs/cascade.md).
    #[arg(long, value_name = "FILE")]
    pub cascade: Option<std::path::PathBuf>,
    /// The thresholds written by `trilemma cascade calibrate` (default: the cascade file's
    /// own `policy.thresholds`).
    #[arg(long, value_name = "FILE", requires = "cascade")]
    pub calibration: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub security: crate::security_args::SecurityArgs,
}

impl ServeArgs {
    /// The model given, with -m or as the first argument.
    pub fn model(&self) -> &str {
        self.model
            .as_deref()
            .or(self.model_arg.as_deref())
            .unwrap_or_default()
    }
}

/// Opens the model (catalog name or path), serves until Ctrl-C, then finishes the
/// requests in flight.
pub fn run(args: &ServeArgs) -> anyhow::Result<()> {
    // Keys and limits are checked before any model loads.
    let api_key = match &args.api_key_env {
        Some(var) => Some(std::env::var(var).map_err(|_| {
            anyhow::anyhow!("--api-key-env {var}: the environment variable {var} is not set")
        })?),
        None => None,
    };
    let guard = args.security.guard(api_key.as_deref())?;
    if let Some(w) = guard.exposure_warning(args.listen) {
        eprintln!("{w}");
    }
    if let Some(cascade) = &args.cascade {
        return run_cascade(args, cascade, guard);
    }
    let model = args.model();
    crate::preflight::models(&[model])?;
    trilemma_engine_gguf::check_gpu_layers(args.gpu_layers).map_err(anyhow::Error::msg)?;
    if args.max_waiting == Some(0) {
        anyhow::bail!("--max-waiting 0 would refuse every request; give at least 1");
    }
    let engine = trilemma_runner::open::open_spec(
        model,
        &trilemma_runner::EngineOpts {
            threads: args.threads,
            n_ctx: args.n_ctx,
            max_sequences: args.max_batch.max(1) as u32,
            gpu_layers: args.gpu_layers,
        },
    )?;
    let mut cfg = ServeConfig::new(
        args.served_model.as_deref().unwrap_or(model),
        args.max_batch,
    );
    cfg.prefill_chunk = (args.prefill_chunk > 0).then_some(args.prefill_chunk);
    cfg.guard = guard;
    cfg.max_waiting = args.max_waiting;
    // First Ctrl-C: stop accepting and finish the requests in flight.
    let rx = stop_on_ctrl_c()?;
    let (name, max_batch) = (cfg.model_name.clone(), cfg.max_batch);
    serve_blocking(
        args.listen,
        engine,
        cfg,
        async move {
            let _ = rx.await;
        },
        |addr| {
            eprintln!("serving {name} at http://{addr}/v1 (max batch {max_batch}); Ctrl-C stops")
        },
    )?;
    eprintln!("stopped");
    Ok(())
}

/// `serve --cascade`: the tiers' files are checked before any model loads, embedded tiers
/// are served on loopback ports, and every tier must answer before the gateway listens.
fn run_cascade(
    args: &ServeArgs,
    path: &std::path::Path,
    guard: trilemma_guard::Guard,
) -> anyhow::Result<()> {
    let cfg = trilemma_cascade::CascadeConfig::read(path)?;
    let models: Vec<&str> = cfg
        .tiers
        .iter()
        .filter_map(|t| t.model.as_deref())
        .collect();
    crate::preflight::models(&models)?;
    // The calibration is checked before any model loads.
    trilemma_gateway::plan_for(&cfg, args.calibration.as_deref())?;
    let rx = stop_on_ctrl_c()?;
    let (threads, n_ctx, max_batch) = (args.threads, args.n_ctx, args.max_batch.max(1));
    let gpu_layers = args.gpu_layers;
    let mut open = |t: &trilemma_cascade::Tier| {
        let spec = t.model.as_deref().unwrap_or_default();
        let engine = trilemma_runner::open::open_spec(
            spec,
            &trilemma_runner::EngineOpts {
                threads: t.threads.or(threads),
                n_ctx: t.n_ctx.unwrap_or(n_ctx),
                max_sequences: max_batch as u32,
                gpu_layers,
            },
        )
        .map_err(|e| e.to_string())?;
        Ok((engine, ServeConfig::new(&t.name, max_batch)))
    };
    let served = args
        .served_model
        .clone()
        .unwrap_or_else(|| "cascade".into());
    trilemma_gateway::serve_blocking(
        cfg,
        args.calibration.as_deref(),
        served,
        args.listen,
        &mut open,
        trilemma_gateway::Security {
            guard,
            audit: args.security.audit(),
        },
        async move {
            let _ = rx.await;
        },
        |addr, gw| {
            let tiers: Vec<String> = gw
                .endpoints
                .iter()
                .map(|e| format!("{} ({})", e.name, e.base_url))
                .collect();
            eprintln!(
                "serving cascade {} at http://{addr}/v1 (tiers {}; plan from {}); Ctrl-C stops",
                gw.served_name,
                tiers.join(" -> "),
                gw.plan_from
            );
            if let Some(t) = gw.trace_path() {
                eprintln!("request traces: {}", t.display());
            }
            if let Some(a) = &args.security.audit_log {
                eprintln!("audit log: {}", a.display());
            }
        },
    )?;
    eprintln!("stopped");
    Ok(())
}

/// The first Ctrl-C resolves the receiver: stop accepting, finish the requests in flight.
fn stop_on_ctrl_c() -> anyhow::Result<tokio::sync::oneshot::Receiver<()>> {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let tx = std::sync::Mutex::new(Some(tx));
    ctrlc::set_handler(move || {
        if let Some(tx) = tx.lock().ok().and_then(|mut t| t.take()) {
            let _ = tx.send(());
        }
    })
    .context("installing the Ctrl-C handler")?;
    Ok(rx)
}
