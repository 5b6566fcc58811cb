//! `trilemma serve`: an OpenAI-compatible server over one embedded model.

use std::net::SocketAddr;

use anyhow::Context;
use clap::Args;
use trilemma_serve::{serve_blocking, ServeConfig};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Catalog name or GGUF path of the model to serve.
    pub model: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Most sequences given to the engine at once (vLLM's max_num_seqs).
    #[arg(long, default_value_t = 8)]
    pub max_batch: usize,
    /// Model name served at /v1/models (default: the model argument).
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
    /// KV cells shared by the sequences in flight (prompt + output tokens of each).
    #[arg(long, default_value_t = 4096)]
    pub n_ctx: u32,
}

/// Opens the model (catalog name or path), serves until Ctrl-C, then finishes the
/// requests in flight.
pub fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let engine = trilemma_runner::open::open_spec(
        &args.model,
        &trilemma_runner::EngineOpts {
            threads: args.threads,
            n_ctx: args.n_ctx,
            max_sequences: args.max_batch.max(1) as u32,
        },
    )?;
    let cfg = ServeConfig {
        model_name: args
            .served_model
            .clone()
            .unwrap_or_else(|| args.model.clone()),
        max_batch: args.max_batch,
        prefill_chunk: (args.prefill_chunk > 0).then_some(args.prefill_chunk),
    };
    // First Ctrl-C: stop accepting and finish the requests in flight.
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let tx = std::sync::Mutex::new(Some(tx));
    ctrlc::set_handler(move || {
        if let Some(tx) = tx.lock().ok().and_then(|mut t| t.take()) {
            let _ = tx.send(());
        }
    })
    .context("installing the Ctrl-C handler")?;
    let (name, max_batch) = (cfg.model_name.clone(), cfg.max_batch);
    serve_blocking(
        args.listen,
        engine,
        cfg,
        async move {
            let _ = rx.await;
        },
        |addr| eprintln!("serving {name} at http://{addr}/v1 (max batch {max_batch}); Ctrl-C stops"),
    )?;
    eprintln!("stopped");
    Ok(())
}
