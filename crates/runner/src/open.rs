//! The one engine opener: a model (catalog name or local GGUF, resolved by the asset
//! cache) opened with the embedded llama.cpp engine, or a model a server holds, reached
//! over its OpenAI-compatible API. `run`, `sweep`, `serve`, `judge` and the benchmarks
//! all open engines here.

use std::path::PathBuf;

use trilemma_assets::{Cache, Catalog, ResolvedModel};
use trilemma_engine::http::{OpenAiConfig, OpenAiEngine};
use trilemma_engine::Engine;
use trilemma_engine_gguf::{GgufConfig, GgufEngine};

use crate::Result;

/// Settings of an embedded engine.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineOpts {
    /// CPU threads for inference (`None`: all cores).
    pub threads: Option<u32>,
    /// KV cache size in tokens, shared by the sequences in flight.
    pub n_ctx: u32,
    /// Sequences that can be in flight at once.
    pub max_sequences: u32,
}

impl Default for EngineOpts {
    fn default() -> Self {
        Self {
            threads: None,
            n_ctx: 4096,
            max_sequences: 16,
        }
    }
}

impl EngineOpts {
    /// Settings for evaluating `batch_size` items per engine call: a multiple-choice item
    /// of up to 5 choices is one sequence per choice, so 5 slots per item (at most 64).
    pub fn for_batch(threads: Option<u32>, n_ctx: u32, batch_size: usize) -> Self {
        Self {
            threads,
            n_ctx,
            max_sequences: (batch_size * 5).clamp(1, 64) as u32,
        }
    }
}

/// Where the model runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Backend {
    /// In this process, with the embedded llama.cpp engine.
    Embedded(EngineOpts),
    /// Behind an OpenAI-compatible server.
    Http {
        url: String,
        /// Environment variable holding the API key (the key is never recorded).
        api_key_env: Option<String>,
        /// Requests in flight at once.
        max_concurrency: usize,
        /// The server's context length, as far as the client knows it.
        context_length: u32,
    },
}

/// Resolves a model spec (catalog name, fetched and verified unless `offline`, or a path
/// to a GGUF file, hashed on first use).
pub fn resolve(spec: &str, offline: bool) -> Result<ResolvedModel> {
    Ok(Cache::from_env().resolve_model(&Catalog::builtin(), spec, !offline)?)
}

/// The record of a model a server holds: named, neither resolved nor hashed.
pub fn served(name: &str, url: &str) -> ResolvedModel {
    ResolvedModel {
        name: name.to_string(),
        path: PathBuf::from(url),
        sha256: format!("served over HTTP: {name} at {url}"),
        origin: format!("OpenAI-compatible server at {url}"),
    }
}

/// Opens a resolved model with the embedded engine.
pub fn open_embedded(model: &ResolvedModel, opts: &EngineOpts) -> Result<GgufEngine> {
    let mut cfg = GgufConfig::new(&model.path);
    cfg.name = model.name.clone();
    cfg.sha256 = Some(model.sha256.clone());
    cfg.threads = opts.threads;
    cfg.n_ctx = opts.n_ctx;
    cfg.max_sequences = opts.max_sequences;
    Ok(GgufEngine::open(&cfg)?)
}

/// Opens `model` on `backend`.
pub fn open(model: &ResolvedModel, backend: &Backend) -> Result<Box<dyn Engine>> {
    Ok(match backend {
        Backend::Embedded(opts) => Box::new(open_embedded(model, opts)?),
        Backend::Http {
            url,
            api_key_env,
            max_concurrency,
            context_length,
        } => {
            let mut cfg = OpenAiConfig::new(url.clone(), model.name.clone());
            cfg.api_key_env = api_key_env.clone();
            cfg.max_concurrency = *max_concurrency;
            cfg.context_length = *context_length;
            Box::new(OpenAiEngine::connect(cfg)?)
        }
    })
}

/// Resolves `spec` (fetching it if needed) and opens it with the embedded engine.
pub fn open_spec(spec: &str, opts: &EngineOpts) -> Result<Box<dyn Engine>> {
    let model = resolve(spec, false)?;
    Ok(Box::new(open_embedded(&model, opts)?))
}
