//! Quantization variants derived from a source GGUF with llama.cpp's own quantizer
//! (`llama_model_quantize`, which the safe bindings do not wrap), cached by source hash and
//! target type, each with a sidecar JSON that records what it was derived from.
//!
//! A variant derived from an already-quantized source (SmolLM2's pinned file is Q4_1) holds
//! no more information than its source, whatever its own type says: the sidecar's
//! `source_precision` and `source_is_quantized` say so, and reports show it.

use std::ffi::CString;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::BINDINGS_VERSION;
use trilemma_gguf::{ftype, header};

/// Quantization types `--quant` accepts: (name, llama.cpp `llama_ftype`).
pub const QUANT_TYPES: &[(&str, u32)] = &[
    ("f32", 0),
    ("f16", 1),
    ("bf16", 32),
    ("q8_0", 7),
    ("q6_k", 18),
    ("q5_k_m", 17),
    ("q5_k_s", 16),
    ("q5_1", 9),
    ("q5_0", 8),
    ("q4_k_m", 15),
    ("q4_k_s", 14),
    ("q4_1", 3),
    ("q4_0", 2),
    ("iq4_nl", 25),
    ("q3_k_l", 13),
    ("q3_k_m", 12),
    ("q3_k_s", 11),
    ("q2_k", 10),
];

/// Storage bits per weight of a llama.cpp file type's blocks (scales included): exact for
/// the fixed-block types, the mixture's nominal figure for the K-quant presets, whose
/// layers mix types. Used to estimate a derived file's size before it exists.
pub fn bits_per_weight(ftype: u32) -> Option<f64> {
    Some(match ftype {
        0 => 32.0,
        1 | 32 => 16.0,
        7 => 8.5,
        18 => 6.5625,
        17 => 5.69,
        16 => 5.54,
        9 => 6.0,
        8 => 5.5,
        15 => 4.85,
        14 => 4.58,
        3 => 5.0,
        2 | 25 => 4.5,
        13 => 4.27,
        12 => 3.91,
        11 => 3.5,
        10 => 2.96,
        _ => return None,
    })
}

/// A target quantization type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QuantType {
    /// Lower-case name as `--quant` takes it (`q4_k_m`).
    pub name: &'static str,
    /// llama.cpp's `llama_ftype`.
    pub ftype: u32,
}

impl QuantType {
    /// Parses a name such as `q4_0`, `Q4_K_M` or `f16`.
    pub fn parse(s: &str) -> Result<Self, QuantizeError> {
        let l = s.trim().to_ascii_lowercase();
        QUANT_TYPES
            .iter()
            .find(|(n, _)| *n == l)
            .map(|&(name, ftype)| Self { name, ftype })
            .ok_or_else(|| QuantizeError::UnknownType {
                name: s.to_string(),
                known: QUANT_TYPES
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The label llama.cpp's file type has in GGUF metadata (`Q4_K_M`).
    pub fn label(&self) -> String {
        ftype::name(self.ftype)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QuantizeError {
    #[error("unknown quantization type {name:?} (known: {known})")]
    UnknownType { name: String, known: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a GGUF file with a general.file_type header field")]
    NotGguf { path: PathBuf },
    #[error("{path}: path holds a NUL byte and cannot be passed to llama.cpp")]
    BadPath { path: PathBuf },
    #[error("llama.cpp could not load its backend: {0}")]
    Backend(String),
    #[error(
        "llama.cpp failed to quantize {source_path} to {target} (llama_model_quantize returned {code}; \
         run with -vv for llama.cpp's own log)"
    )]
    Failed {
        source_path: PathBuf,
        target: String,
        code: u32,
    },
    #[error("{path}: derived file has file type {found}, expected {expected}")]
    WrongType {
        path: PathBuf,
        found: String,
        expected: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> QuantizeError + '_ {
    move |source| QuantizeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The sidecar JSON written next to a derived file (`<file>.json`), typed in the store.
pub use trilemma_store::run::Derivation as DerivedInfo;

/// A variant ready to load.
#[derive(Debug, Clone)]
pub struct DerivedModel {
    pub path: PathBuf,
    pub info: DerivedInfo,
    /// True when the cached file was reused rather than derived now.
    pub reused: bool,
}

/// llama.cpp's `general.file_type` of a GGUF file.
pub fn file_type(path: &Path) -> Option<u32> {
    header::read_header(path).ok()?.file_type
}

/// Whether an ftype stores weights unquantized (F32, F16, BF16).
pub fn is_full_precision(ftype: u32) -> bool {
    matches!(ftype, 0 | 1 | 32)
}

fn sha256_file(path: &Path) -> Result<String, QuantizeError> {
    let mut f = std::fs::File::open(path).map_err(io(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Where `derive` keeps the variant of a source with this hash: `<dir>/<sha12>-<type>.gguf`.
pub fn derived_path(dir: &Path, source_sha256: &str, target: QuantType) -> PathBuf {
    let short: String = source_sha256.chars().take(12).collect();
    dir.join(format!("{short}-{}.gguf", target.name))
}

fn sidecar_path(gguf: &Path) -> PathBuf {
    gguf.with_extension("json")
}

/// A cached variant whose sidecar matches the source and whose file has the recorded size.
fn cached(path: &Path, source_sha256: &str, target: QuantType) -> Option<DerivedInfo> {
    let info: DerivedInfo = trilemma_store::read_json(&sidecar_path(path)).ok()?;
    let len = std::fs::metadata(path).ok()?.len();
    (info.source_sha256 == source_sha256 && info.target_ftype == target.ftype && info.bytes == len)
        .then_some(info)
}

/// Runs llama.cpp's quantizer from `src` to `dst`.
#[allow(unsafe_code)]
fn llama_quantize(src: &Path, dst: &Path, ftype: u32, threads: Option<u32>) -> u32 {
    use std::os::unix::ffi::OsStrExt;
    let (Ok(c_src), Ok(c_dst)) = (
        CString::new(src.as_os_str().as_bytes()),
        CString::new(dst.as_os_str().as_bytes()),
    ) else {
        return u32::MAX;
    };
    // SAFETY: takes no arguments and returns a plain C struct by value.
    let mut params = unsafe { llama_cpp_sys_2::llama_model_quantize_default_params() };
    params.ftype = ftype as llama_cpp_sys_2::llama_ftype;
    params.nthread = threads.map_or(0, |t| t as i32);
    // The source may itself be quantized (dequantized to F32, then quantized again).
    params.allow_requantize = true;
    // SAFETY: both pointers are NUL-terminated strings that outlive the call, `params` is a
    // valid struct from llama.cpp's own defaults whose pointer fields (imatrix, overrides)
    // are left null as the defaults set them, and llama.cpp keeps none of the pointers after
    // returning. It catches its own C++ exceptions and reports failure as a non-zero return.
    unsafe { llama_cpp_sys_2::llama_model_quantize(c_src.as_ptr(), c_dst.as_ptr(), &params) }
}

/// Derives (or reuses from `dir`) the `target` variant of the GGUF at `source`, whose
/// SHA-256 the caller knows. The file appears under its final name only when complete
/// (temporary name, then rename), and its sidecar after it.
pub fn derive(
    source: &Path,
    source_sha256: &str,
    target: QuantType,
    dir: &Path,
    threads: Option<u32>,
) -> Result<DerivedModel, QuantizeError> {
    let src_ftype = file_type(source).ok_or_else(|| QuantizeError::NotGguf {
        path: source.to_path_buf(),
    })?;
    let path = derived_path(dir, source_sha256, target);
    if let Some(info) = cached(&path, source_sha256, target) {
        return Ok(DerivedModel {
            path,
            info,
            reused: true,
        });
    }
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    crate::backend().map_err(|e| QuantizeError::Backend(e.to_string()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        std::process::id()
    ));
    if tmp.as_os_str().as_encoded_bytes().contains(&0)
        || source.as_os_str().as_encoded_bytes().contains(&0)
    {
        return Err(QuantizeError::BadPath {
            path: source.to_path_buf(),
        });
    }
    tracing::info!(source = %source.display(), target = target.name, "deriving a quantization variant");
    let code = llama_quantize(source, &tmp, target.ftype, threads);
    if code != 0 {
        let _ = std::fs::remove_file(&tmp);
        return Err(QuantizeError::Failed {
            source_path: source.to_path_buf(),
            target: target.label(),
            code,
        });
    }
    let found = file_type(&tmp);
    if found != Some(target.ftype) {
        let _ = std::fs::remove_file(&tmp);
        return Err(QuantizeError::WrongType {
            path: tmp,
            found: found.map_or_else(|| "none".into(), ftype::name),
            expected: target.label(),
        });
    }
    let bytes = std::fs::metadata(&tmp).map_err(io(&tmp))?.len();
    let info = DerivedInfo {
        source_path: source.display().to_string(),
        source_sha256: source_sha256.to_string(),
        source_precision: ftype::name(src_ftype),
        source_is_quantized: !is_full_precision(src_ftype),
        target: target.label(),
        target_ftype: target.ftype,
        quantizer: format!("llama.cpp llama_model_quantize ({BINDINGS_VERSION})"),
        sha256: sha256_file(&tmp)?,
        bytes,
        created_unix_s: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    let side = sidecar_path(&path);
    trilemma_store::write_json_atomic(&side, &info).map_err(|e| QuantizeError::Io {
        path: side.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(DerivedModel {
        path,
        info,
        reused: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_has_a_size_and_smaller_types_are_smaller() {
        for (name, ftype) in QUANT_TYPES {
            assert!(bits_per_weight(*ftype).is_some(), "{name}");
        }
        let bits = |n| bits_per_weight(QuantType::parse(n).unwrap().ftype).unwrap();
        assert!(bits("q2_k") < bits("q4_0") && bits("q4_0") < bits("q8_0"));
        assert!(bits("q8_0") < bits("f16") && bits("f16") < bits("f32"));
        assert_eq!(bits_per_weight(9999), None);
    }

    #[test]
    fn names_map_to_llama_ftypes() {
        let q = QuantType::parse("Q4_K_M").unwrap();
        assert_eq!(
            (q.name, q.ftype, q.label().as_str()),
            ("q4_k_m", 15, "Q4_K_M")
        );
        assert_eq!(QuantType::parse("f16").unwrap().label(), "F16");
        assert_eq!(QuantType::parse("q8_0").unwrap().ftype, 7);
        let e = QuantType::parse("q9_9").unwrap_err().to_string();
        assert!(e.contains("q9_9") && e.contains("q4_k_m"), "{e}");
        // Every name's label round-trips through the ftype table.
        for (n, f) in QUANT_TYPES {
            assert_eq!(ftype::name(*f).to_ascii_lowercase(), *n);
        }
    }

    #[test]
    fn cache_path_uses_the_source_hash_and_type() {
        let p = derived_path(
            Path::new("/c"),
            "abcdef0123456789ff",
            QuantType::parse("q4_0").unwrap(),
        );
        assert_eq!(p, Path::new("/c/abcdef012345-q4_0.gguf"));
    }

    #[test]
    fn a_source_that_is_not_gguf_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("x.gguf");
        std::fs::write(&src, b"not gguf").unwrap();
        let e = derive(
            &src,
            "00",
            QuantType::parse("q4_0").unwrap(),
            dir.path(),
            Some(1),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("x.gguf") && e.contains("not a GGUF"), "{e}");
    }
}
