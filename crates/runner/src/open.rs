//! The one engine opener: a model (catalog name or local GGUF, resolved by the asset
//! cache) opened with the embedded llama.cpp engine, or a model a server holds, reached
//! over its OpenAI-compatible API. `run`, `sweep`, `serve`, `judge` and the benchmarks
//! all open engines here.

use std::path::{Path, PathBuf};

use trilemma_assets::{Cache, Catalog, ResolvedModel};
use trilemma_engine::http::{OpenAiConfig, OpenAiEngine};
use trilemma_engine::Engine;
use trilemma_engine_gguf::{GgufConfig, GgufEngine, GgufMetadata};

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
    /// Layers offloaded to a GPU (`--gpu-layers`).
    pub gpu_layers: trilemma_core::GpuLayers,
}

impl Default for EngineOpts {
    fn default() -> Self {
        Self {
            threads: None,
            n_ctx: 4096,
            max_sequences: 16,
            gpu_layers: Default::default(),
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
            gpu_layers: Default::default(),
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
/// to a GGUF file, hashed on first use) and names it: a catalog model (the catalog's
/// file, by hash) by its catalog name; any other file by what its GGUF header calls it
/// ([`display_name`]), else by its file stem. Two files both called `model.gguf` are two
/// names, and reports show each beside its file type. The spec is checked first
/// ([`check_spec`]), so that a file that is no GGUF model fails before it is hashed.
pub fn resolve(spec: &str, offline: bool) -> Result<ResolvedModel> {
    check_spec(spec)?;
    let catalog = Catalog::builtin();
    let mut model = Cache::from_env().resolve_model(&catalog, spec, !offline)?;
    let in_catalog = catalog
        .model(&model.name)
        .is_ok_and(|a| a.sha256 == model.sha256);
    if !in_catalog {
        match trilemma_engine_gguf::metadata(&model.path) {
            Ok(meta) => {
                if let Some(name) = display_name(&meta) {
                    model.name = name;
                }
            }
            // Opening it will say what is wrong with the file; until then, its stem.
            Err(e) => tracing::debug!(%e, "no name from the GGUF header"),
        }
    }
    Ok(model)
}

/// Longest display name taken from a header, in characters (it names directories).
const MAX_NAME_CHARS: usize = 80;

/// The name a GGUF header gives its model: `general.name`, followed by the size label
/// when the name does not already hold it (`Gemma 3` + `270M`); `None` without a name.
/// The file type is not part of it: a report shows it beside the name, and a variant
/// derived from the file keeps the name and has a type of its own.
pub fn display_name(meta: &GgufMetadata) -> Option<String> {
    let name = meta
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())?;
    let name = match meta.size_label.as_deref().map(str::trim) {
        Some(size) if !size.is_empty() && !name.to_lowercase().contains(&size.to_lowercase()) => {
            format!("{name} {size}")
        }
        _ => name.to_string(),
    };
    Some(if name.chars().count() > MAX_NAME_CHARS {
        let cut: String = name.chars().take(MAX_NAME_CHARS - 1).collect();
        format!("{}…", cut.trim_end())
    } else {
        name
    })
}

/// Checks a model spec in milliseconds, before anything slow (fetching, hashing, idle
/// metering, loading): a path must be a readable GGUF file whose header holds together
/// and whose tensors fit in the file ([`check_gguf`]); any other spec must be a catalog
/// name (a cached copy is checked the same way). Classifies specs as
/// `Cache::resolve_model` does.
pub fn check_spec(spec: &str) -> Result<()> {
    let catalog = Catalog::builtin();
    let path = Path::new(spec);
    let looks_like_path = spec.contains('/') || spec.ends_with(".gguf");
    if looks_like_path || (path.exists() && catalog.model(spec).is_err()) {
        if !path.is_file() {
            return Err(crate::Error::Input(format!(
                "model {spec}: no such file (give a catalog name, see `trilemma assets list`, or a path to a GGUF file)"
            )));
        }
        return check_gguf(path);
    }
    catalog.model(spec)?;
    let cached = Cache::from_env().model_path(spec);
    if cached.is_file() {
        check_gguf(&cached)?;
    }
    Ok(())
}

/// Checks a GGUF file's header (versions 2 and 3: magic, metadata, tensor table) and
/// that the file is long enough for every tensor the table places in it, reading the
/// header only ([`trilemma_engine_gguf::check_file`]): a truncated or foreign file fails
/// in milliseconds, naming the file and what is wrong.
pub fn check_gguf(path: &Path) -> Result<()> {
    trilemma_engine_gguf::check_file(path)
        .map(drop)
        .map_err(|e| crate::Error::Input(e.to_string()))
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
    cfg.gpu_layers = opts.gpu_layers;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A GGUF file of one F32 tensor of `elements` values, `data` bytes of tensor data.
    fn gguf(elements: u64, data: usize) -> Vec<u8> {
        let mut f = b"GGUF".to_vec();
        f.extend(3u32.to_le_bytes());
        f.extend(1u64.to_le_bytes()); // tensors
        f.extend(2u64.to_le_bytes()); // metadata entries
        let key = |f: &mut Vec<u8>, k: &str| {
            f.extend((k.len() as u64).to_le_bytes());
            f.extend(k.as_bytes());
        };
        key(&mut f, "general.architecture");
        f.extend(8u32.to_le_bytes());
        key(&mut f, "llama");
        key(&mut f, "tokenizer.ggml.tokens");
        f.extend(9u32.to_le_bytes());
        f.extend(8u32.to_le_bytes());
        f.extend(2u64.to_le_bytes());
        key(&mut f, "a");
        key(&mut f, "b");
        key(&mut f, "w");
        f.extend(1u32.to_le_bytes());
        f.extend(elements.to_le_bytes());
        f.extend(0u32.to_le_bytes()); // F32
        f.extend(0u64.to_le_bytes()); // offset
        while !f.len().is_multiple_of(32) {
            f.push(0);
        }
        f.extend(vec![0u8; data]);
        f
    }

    fn check(bytes: &[u8]) -> std::result::Result<(), String> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.gguf");
        std::fs::write(&p, bytes).unwrap();
        check_gguf(&p).map_err(|e| e.to_string())
    }

    #[test]
    fn a_whole_gguf_passes_and_damaged_ones_are_named() {
        assert_eq!(check(&gguf(16, 64)), Ok(()));
        let e = check(&gguf(16, 63)).unwrap_err();
        assert!(e.contains("m.gguf") && e.contains("truncated"), "{e}");
        let e = check(b"PK\x03\x04 not a model").unwrap_err();
        assert!(e.contains("GGUF magic"), "{e}");
        assert!(check(b"")
            .unwrap_err()
            .contains("shorter than a GGUF header"));
        let full = gguf(16, 64);
        let e = check(&full[..40]).unwrap_err();
        assert!(e.contains("metadata"), "{e}");
        let mut v1 = full.clone();
        v1[4] = 1;
        assert!(check(&v1).unwrap_err().contains("GGUF version 1"));
    }

    #[test]
    fn specs_are_checked_without_fetching() {
        let e = check_spec("./no/such/model.gguf").unwrap_err().to_string();
        assert!(e.contains("no such file"), "{e}");
        let e = check_spec("no-such-catalog-model").unwrap_err().to_string();
        assert!(e.contains("no-such-catalog-model"), "{e}");
    }

    fn meta(name: Option<&str>, size: Option<&str>) -> GgufMetadata {
        GgufMetadata {
            name: name.map(str::to_string),
            size_label: size.map(str::to_string),
            ..GgufMetadata::default()
        }
    }

    #[test]
    fn a_header_names_its_model_with_the_size_once() {
        assert_eq!(
            display_name(&meta(Some("Gemma 3 270m"), Some("270M"))).as_deref(),
            Some("Gemma 3 270m")
        );
        assert_eq!(
            display_name(&meta(Some("Qwen2.5 Coder Instruct"), Some("1.5B"))).as_deref(),
            Some("Qwen2.5 Coder Instruct 1.5B")
        );
        assert_eq!(
            display_name(&meta(Some("Tiny"), None)).as_deref(),
            Some("Tiny")
        );
        // A size label alone is not a name: the caller keeps the file stem.
        assert_eq!(display_name(&meta(None, Some("7B"))), None);
        assert_eq!(display_name(&meta(Some("  "), Some("7B"))), None);
        let long = display_name(&meta(Some(&"x".repeat(500)), None)).unwrap();
        assert_eq!(long.chars().count(), MAX_NAME_CHARS);
        assert!(long.ends_with('…'));
    }
}
