//! The one engine opener: a model (catalog name or local GGUF, resolved by the asset
//! cache) opened with the embedded llama.cpp engine, or a model a server holds, reached
//! over its OpenAI-compatible API. `run`, `sweep`, `serve`, `judge` and the benchmarks
//! all open engines here.

use std::io::{BufReader, Read};
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

/// Bytes per block and elements per block of the ggml tensor types whose size is known
/// here (others are bounded by their offset alone).
fn ggml_block(t: u32) -> Option<(u64, u64)> {
    Some(match t {
        0 => (4, 1),      // F32
        1 => (2, 1),      // F16
        2 => (18, 32),    // Q4_0
        3 => (20, 32),    // Q4_1
        6 => (22, 32),    // Q5_0
        7 => (24, 32),    // Q5_1
        8 => (34, 32),    // Q8_0
        9 => (36, 32),    // Q8_1
        10 => (84, 256),  // Q2_K
        11 => (110, 256), // Q3_K
        12 => (144, 256), // Q4_K
        13 => (176, 256), // Q5_K
        14 => (210, 256), // Q6_K
        15 => (292, 256), // Q8_K
        24 => (1, 1),     // I8
        25 => (2, 1),     // I16
        26 => (4, 1),     // I32
        27 => (8, 1),     // I64
        28 => (8, 1),     // F64
        30 => (2, 1),     // BF16
        _ => return None,
    })
}

/// Reads a GGUF file's header (versions 2 and 3): magic, metadata, tensor table; the file
/// must be long enough to hold every tensor the table places in it. Reads the header
/// only, so a truncated or foreign file fails in milliseconds, naming the file and what
/// is wrong, where llama.cpp would fail only after the run's slow start.
pub fn check_gguf(path: &Path) -> Result<()> {
    let bad = |why: String| {
        crate::Error::Input(format!(
            "{}: a damaged GGUF model file: {why}",
            path.display()
        ))
    };
    let file = std::fs::File::open(path).map_err(|e| bad(format!("cannot open it ({e})")))?;
    let len = file
        .metadata()
        .map_err(|e| bad(format!("cannot read its size ({e})")))?
        .len();
    let mut r = GgufReader {
        inner: BufReader::new(file),
        pos: 0,
        len,
    };
    let magic: [u8; 4] = r
        .array()
        .map_err(|_| bad("the file is empty or shorter than a GGUF header".into()))?;
    if &magic != b"GGUF" {
        return Err(crate::Error::Input(format!(
            "{}: not a GGUF file: it does not start with the GGUF magic (found {:02x?})",
            path.display(),
            magic
        )));
    }
    let version = r.u32().map_err(bad)?;
    if !(2..=3).contains(&version) {
        return Err(bad(format!("GGUF version {version} (2 and 3 are read)")));
    }
    let tensors = r.u64().map_err(bad)?;
    let kvs = r.u64().map_err(bad)?;
    // Every entry takes at least a few bytes: counts larger than the file are corrupt.
    if tensors > len / 8 || kvs > len / 8 {
        return Err(bad(format!(
            "the header counts {tensors} tensors and {kvs} metadata entries, more than the file's {len} bytes hold"
        )));
    }
    let mut alignment = 32u64;
    for i in 0..kvs {
        let key = r
            .string()
            .map_err(|e| bad(format!("metadata entry {i}: {e}")))?;
        let t = r.u32().map_err(|e| bad(format!("metadata `{key}`: {e}")))?;
        if key == "general.alignment" && t == 4 {
            alignment = u64::from(r.u32().map_err(|e| bad(format!("metadata `{key}`: {e}")))?);
            continue;
        }
        r.skip_value(t, 0)
            .map_err(|e| bad(format!("metadata `{key}`: {e}")))?;
    }
    if alignment == 0 || !alignment.is_power_of_two() {
        return Err(bad(format!(
            "general.alignment {alignment} is not a power of two"
        )));
    }
    let mut data_needed = 0u64;
    for i in 0..tensors {
        let name = r.string().map_err(|e| bad(format!("tensor {i}: {e}")))?;
        let dims = r.u32().map_err(|e| bad(format!("tensor `{name}`: {e}")))?;
        if dims > 8 {
            return Err(bad(format!("tensor `{name}` has {dims} dimensions")));
        }
        let mut elements = 1u64;
        for _ in 0..dims {
            let d = r.u64().map_err(|e| bad(format!("tensor `{name}`: {e}")))?;
            elements = elements.saturating_mul(d);
        }
        let t = r.u32().map_err(|e| bad(format!("tensor `{name}`: {e}")))?;
        let offset = r.u64().map_err(|e| bad(format!("tensor `{name}`: {e}")))?;
        let size = ggml_block(t).map_or(0, |(bytes, per)| {
            elements.div_ceil(per).saturating_mul(bytes)
        });
        data_needed = data_needed.max(offset.saturating_add(size));
    }
    // Tensor data starts at the next multiple of the alignment (none without tensors).
    let needed = if tensors == 0 {
        r.pos
    } else {
        (r.pos.div_ceil(alignment) * alignment).saturating_add(data_needed)
    };
    if needed > len {
        return Err(bad(format!(
            "its tensors need {needed} bytes but the file has {len}: it is truncated"
        )));
    }
    Ok(())
}

/// A GGUF header reader that knows how many bytes are left, so that a corrupt length
/// is an error rather than a huge allocation.
struct GgufReader<R> {
    inner: R,
    pos: u64,
    len: u64,
}

impl<R: Read> GgufReader<R> {
    fn array<const N: usize>(&mut self) -> std::result::Result<[u8; N], String> {
        let mut b = [0u8; N];
        self.inner
            .read_exact(&mut b)
            .map_err(|_| format!("the file ends at byte {} inside the header", self.len))?;
        self.pos += N as u64;
        Ok(b)
    }

    fn u32(&mut self) -> std::result::Result<u32, String> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> std::result::Result<u64, String> {
        self.array().map(u64::from_le_bytes)
    }

    fn skip(&mut self, n: u64) -> std::result::Result<(), String> {
        if n > self.len.saturating_sub(self.pos) {
            return Err(format!(
                "a length of {n} bytes at byte {} runs past the end of the file ({} bytes)",
                self.pos, self.len
            ));
        }
        let copied = std::io::copy(&mut (&mut self.inner).take(n), &mut std::io::sink())
            .map_err(|e| e.to_string())?;
        if copied < n {
            return Err(format!(
                "the file ends at byte {} inside the header",
                self.len
            ));
        }
        self.pos += n;
        Ok(())
    }

    fn string(&mut self) -> std::result::Result<String, String> {
        let n = self.u64()?;
        if n > 1 << 20 || n > self.len.saturating_sub(self.pos) {
            return Err(format!("a string of {n} bytes at byte {}", self.pos));
        }
        let mut b = vec![0u8; n as usize];
        self.inner
            .read_exact(&mut b)
            .map_err(|_| format!("the file ends at byte {} inside the header", self.len))?;
        self.pos += n;
        Ok(String::from_utf8_lossy(&b).into_owned())
    }

    /// Skips one metadata value of GGUF type `t`.
    fn skip_value(&mut self, t: u32, depth: u32) -> std::result::Result<(), String> {
        match t {
            0 | 1 | 7 => self.skip(1),
            2 | 3 => self.skip(2),
            4..=6 => self.skip(4),
            10..=12 => self.skip(8),
            8 => {
                let n = self.u64()?;
                self.skip(n)
            }
            9 if depth < 4 => {
                let item = self.u32()?;
                let n = self.u64()?;
                if n > self.len.saturating_sub(self.pos) {
                    return Err(format!("an array of {n} items at byte {}", self.pos));
                }
                let fixed = match item {
                    0 | 1 | 7 => Some(1),
                    2 | 3 => Some(2),
                    4..=6 => Some(4),
                    10..=12 => Some(8),
                    _ => None,
                };
                match fixed {
                    Some(size) => self.skip(n.saturating_mul(size)),
                    None => (0..n).try_for_each(|_| self.skip_value(item, depth + 1)),
                }
            }
            _ => Err(format!("unknown value type {t} at byte {}", self.pos)),
        }
    }
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
