//! The GGUF header, read without loading the model: what a file says it is (name, size
//! label, architecture, file type) and how many weights its tensors hold.
//!
//! The layout (versions 2 and 3, little-endian): the magic `GGUF`, a `u32` version, a
//! `u64` tensor count, a `u64` key-value count; then each key-value pair (a string key, a
//! `u32` value type, the value); then each tensor's info (a string name, a `u32` dimension
//! count, one `u64` per dimension, a `u32` element type, a `u64` data offset). A string
//! is a `u64` byte length and UTF-8 bytes; an array is a `u32` element type, a `u64`
//! length and the elements. Only the keys kept here are decoded; every other value is
//! skipped by seeking, so a header with a 262,144-token vocabulary reads in milliseconds.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};

use trilemma_store::run::GgufMetadata;

use crate::ftype;

/// Why a header could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{path}: GGUF header: {reason}")]
pub struct HeaderError {
    pub path: PathBuf,
    pub reason: String,
}

/// Value types of the format.
const U8: u32 = 0;
const I8: u32 = 1;
const U16: u32 = 2;
const I16: u32 = 3;
const U32: u32 = 4;
const I32: u32 = 5;
const F32: u32 = 6;
const BOOL: u32 = 7;
const STRING: u32 = 8;
const ARRAY: u32 = 9;
const U64: u32 = 10;
const I64: u32 = 11;
const F64: u32 = 12;

/// Longest string value decoded (names and labels are short; a longer one is a corrupt
/// length, refused before it is allocated).
const MAX_KEPT_STRING: u64 = 64 * 1024;
/// Most dimensions a tensor may have (ggml's limit).
const MAX_DIMS: u32 = 4;

/// The header's bytes, read in order; `at` is the offset of the next byte, for messages.
struct Cursor<R> {
    r: R,
    at: u64,
}

impl<R: Read + Seek> Cursor<R> {
    fn bytes<const N: usize>(&mut self, what: &str) -> Result<[u8; N], String> {
        let mut b = [0u8; N];
        self.r
            .read_exact(&mut b)
            .map_err(|e| format!("{what} at byte {}: {e}", self.at))?;
        self.at += N as u64;
        Ok(b)
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        self.bytes::<4>(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &str) -> Result<u64, String> {
        self.bytes::<8>(what).map(u64::from_le_bytes)
    }

    fn skip(&mut self, n: u64, what: &str) -> Result<(), String> {
        let step = i64::try_from(n).map_err(|_| format!("{what}: length {n} is not plausible"))?;
        self.r
            .seek_relative(step)
            .map_err(|e| format!("{what} at byte {}: {e}", self.at))?;
        self.at += n;
        Ok(())
    }

    fn string(&mut self, what: &str) -> Result<String, String> {
        let n = self.u64(what)?;
        if n > MAX_KEPT_STRING {
            return Err(format!(
                "{what} at byte {}: string of {n} bytes (at most {MAX_KEPT_STRING} expected)",
                self.at
            ));
        }
        let mut b = vec![0u8; n as usize];
        self.r
            .read_exact(&mut b)
            .map_err(|e| format!("{what} at byte {}: {e}", self.at))?;
        self.at += n;
        String::from_utf8(b).map_err(|_| format!("{what}: not UTF-8"))
    }

    /// Skips one value of type `t`.
    fn skip_value(&mut self, t: u32, what: &str) -> Result<(), String> {
        match t {
            STRING => {
                let n = self.u64(what)?;
                self.skip(n, what)
            }
            ARRAY => {
                let inner = self.u32(what)?;
                let n = self.u64(what)?;
                match fixed_size(inner) {
                    Some(size) => {
                        let total = n
                            .checked_mul(size)
                            .ok_or_else(|| format!("{what}: array of {n} elements"))?;
                        self.skip(total, what)
                    }
                    None => (0..n).try_for_each(|_| self.skip_value(inner, what)),
                }
            }
            t => match fixed_size(t) {
                Some(size) => self.skip(size, what),
                None => Err(format!("{what}: unknown value type {t}")),
            },
        }
    }

    /// A value of type `t` as a `u64`, when it is an unsigned or non-negative integer.
    fn unsigned(&mut self, t: u32, what: &str) -> Result<Option<u64>, String> {
        Ok(match t {
            U8 => Some(u64::from(self.bytes::<1>(what)?[0])),
            U16 => Some(u64::from(u16::from_le_bytes(self.bytes::<2>(what)?))),
            U32 => Some(u64::from(self.u32(what)?)),
            U64 => Some(self.u64(what)?),
            I32 => u64::try_from(i32::from_le_bytes(self.bytes::<4>(what)?)).ok(),
            I64 => u64::try_from(i64::from_le_bytes(self.bytes::<8>(what)?)).ok(),
            other => {
                self.skip_value(other, what)?;
                None
            }
        })
    }
}

/// Size in bytes of a fixed-size value type.
fn fixed_size(t: u32) -> Option<u64> {
    match t {
        U8 | I8 | BOOL => Some(1),
        U16 | I16 => Some(2),
        U32 | I32 | F32 => Some(4),
        U64 | I64 | F64 => Some(8),
        _ => None,
    }
}

/// Where a string key the metadata keeps goes.
fn kept_string<'a>(m: &'a mut GgufMetadata, key: &str) -> Option<&'a mut Option<String>> {
    match key {
        "general.name" => Some(&mut m.name),
        "general.size_label" => Some(&mut m.size_label),
        "general.architecture" => Some(&mut m.architecture),
        _ => None,
    }
}

/// What [`read`] finds: the metadata, and the file type as llama.cpp's number.
struct Header {
    meta: GgufMetadata,
    file_type: Option<u32>,
}

fn read(r: impl Read + Seek) -> Result<Header, String> {
    let mut c = Cursor { r, at: 0 };
    let magic = c
        .bytes::<4>("magic")
        .map_err(|_| "too short for the GGUF magic".to_string())?;
    if &magic != b"GGUF" {
        return Err(format!(
            "not a GGUF file (starts with {magic:02x?}, expected \"GGUF\")"
        ));
    }
    let version = c.u32("version")?;
    if !(2..=3).contains(&version) {
        return Err(format!("version {version} (2 and 3 are read)"));
    }
    let tensors = c.u64("tensor count")?;
    let kvs = c.u64("key-value count")?;
    let mut meta = GgufMetadata::default();
    let mut file_type = None;
    for i in 0..kvs {
        let key = c.string(&format!("key {i}"))?;
        let t = c.u32(&format!("type of {key}"))?;
        if let (STRING, Some(slot)) = (t, kept_string(&mut meta, &key)) {
            let v = c.string(&key)?;
            let v = v.trim();
            *slot = (!v.is_empty()).then(|| v.to_string());
        } else if key == "general.file_type" {
            file_type = c.unsigned(t, &key)?.and_then(|v| u32::try_from(v).ok());
            meta.file_type = file_type.map(ftype::name);
        } else {
            c.skip_value(t, &key)?;
        }
    }
    let mut parameters: u64 = 0;
    for i in 0..tensors {
        let name = c.string(&format!("tensor {i} name"))?;
        let dims = c.u32(&name)?;
        if dims > MAX_DIMS {
            return Err(format!("tensor {name}: {dims} dimensions"));
        }
        let mut elements: u64 = 1;
        for _ in 0..dims {
            let d = c.u64(&name)?;
            elements = elements
                .checked_mul(d)
                .ok_or_else(|| format!("tensor {name}: element count overflows"))?;
        }
        parameters = parameters
            .checked_add(elements)
            .ok_or_else(|| "parameter count overflows".to_string())?;
        c.skip(4 + 8, &name)?; // element type, data offset
    }
    // An empty tensor list says nothing about the size, so no count.
    meta.parameters = (tensors > 0).then_some(parameters);
    Ok(Header { meta, file_type })
}

fn read_file(path: &Path) -> Result<Header, HeaderError> {
    let err = |reason: String| HeaderError {
        path: path.to_path_buf(),
        reason,
    };
    let f = File::open(path).map_err(|e| err(e.to_string()))?;
    read(BufReader::new(f)).map_err(err)
}

/// What the GGUF header at `path` says the model is, read without loading it.
pub fn metadata(path: &Path) -> Result<GgufMetadata, HeaderError> {
    read_file(path).map(|h| h.meta)
}

/// `general.architecture` of a GGUF file, if its header reads and holds it.
pub fn architecture(path: &Path) -> Option<String> {
    read_file(path).ok()?.meta.architecture
}

/// `general.file_type` (llama.cpp's `llama_ftype`) of a GGUF file, if its header reads
/// and holds it.
pub fn file_type(path: &Path) -> Option<u32> {
    read_file(path).ok()?.file_type
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A GGUF header built field by field.
    struct Gguf(Vec<u8>);

    impl Gguf {
        fn new(tensors: u64, kvs: u64) -> Self {
            let mut b = b"GGUF".to_vec();
            b.extend(3u32.to_le_bytes());
            b.extend(tensors.to_le_bytes());
            b.extend(kvs.to_le_bytes());
            Self(b)
        }
        fn str_bytes(&mut self, s: &str) -> &mut Self {
            self.0.extend((s.len() as u64).to_le_bytes());
            self.0.extend(s.as_bytes());
            self
        }
        fn key(&mut self, k: &str, t: u32) -> &mut Self {
            self.str_bytes(k);
            self.0.extend(t.to_le_bytes());
            self
        }
        fn string(&mut self, k: &str, v: &str) -> &mut Self {
            self.key(k, STRING).str_bytes(v)
        }
        fn u32(&mut self, k: &str, v: u32) -> &mut Self {
            self.key(k, U32);
            self.0.extend(v.to_le_bytes());
            self
        }
        fn tensor(&mut self, name: &str, dims: &[u64]) -> &mut Self {
            self.str_bytes(name);
            self.0.extend((dims.len() as u32).to_le_bytes());
            for d in dims {
                self.0.extend(d.to_le_bytes());
            }
            self.0.extend(2u32.to_le_bytes());
            self.0.extend(0u64.to_le_bytes());
            self
        }
        fn write(&self, dir: &Path) -> PathBuf {
            let p = dir.join("m.gguf");
            std::fs::write(&p, &self.0).unwrap();
            p
        }
    }

    #[test]
    fn reads_what_a_file_says_it_is_past_values_it_skips() {
        let mut g = Gguf::new(2, 7);
        g.string("general.architecture", "qwen2");
        // An array of strings and an array of floats before the keys we keep.
        g.key("tokenizer.ggml.tokens", ARRAY);
        g.0.extend(STRING.to_le_bytes());
        g.0.extend(2u64.to_le_bytes());
        g.str_bytes("<s>").str_bytes("hello");
        g.key("tokenizer.ggml.scores", ARRAY);
        g.0.extend(F32.to_le_bytes());
        g.0.extend(3u64.to_le_bytes());
        g.0.extend([0u8; 12]);
        g.string("general.name", " Qwen2.5 Coder 1.5B Instruct ");
        g.string("general.size_label", "1.5B");
        g.u32("general.file_type", 15);
        g.key("general.flag", BOOL);
        g.0.push(1);
        g.tensor("token_embd.weight", &[1536, 151936]);
        g.tensor("output_norm.weight", &[1536]);
        g.0.extend([0u8; 64]); // tensor data, never read
        let dir = tempfile::tempdir().unwrap();
        let p = g.write(dir.path());
        let m = metadata(&p).unwrap();
        assert_eq!(m.name.as_deref(), Some("Qwen2.5 Coder 1.5B Instruct"));
        assert_eq!(m.size_label.as_deref(), Some("1.5B"));
        assert_eq!(m.architecture.as_deref(), Some("qwen2"));
        assert_eq!(m.file_type.as_deref(), Some("Q4_K_M"));
        assert_eq!(m.parameters, Some(1536 * 151_936 + 1536));
        assert_eq!(architecture(&p).as_deref(), Some("qwen2"));
        assert_eq!(file_type(&p), Some(15));
    }

    #[test]
    fn a_header_of_only_an_architecture_names_it() {
        let mut g = Gguf::new(0, 1);
        g.string("general.architecture", "mamba9");
        let dir = tempfile::tempdir().unwrap();
        let p = g.write(dir.path());
        let m = metadata(&p).unwrap();
        assert_eq!(m.architecture.as_deref(), Some("mamba9"));
        assert_eq!((m.name, m.parameters, m.file_type), (None, None, None));
    }

    #[test]
    fn a_broken_header_is_refused_naming_the_file_and_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = Gguf::new(1, 2);
        g.string("general.architecture", "llama");
        g.string("general.name", "x");
        g.tensor("blk.0.attn_q.weight", &[64, 64]);
        let whole = g.0.clone();
        let p = dir.path().join("m.gguf");
        // Cut inside the second key's value, then inside the tensor list.
        for (cut, field) in [
            (95, "general.name"),
            (whole.len() - 20, "blk.0.attn_q.weight"),
        ] {
            std::fs::write(&p, &whole[..cut]).unwrap();
            let e = metadata(&p).unwrap_err().to_string();
            assert!(e.contains("m.gguf") && e.contains(field), "{e}");
        }
        std::fs::write(&p, b"<html>").unwrap();
        let e = metadata(&p).unwrap_err().to_string();
        assert!(e.contains("not a GGUF file"), "{e}");
        // A corrupt length is refused before anything is allocated for it.
        let mut g = Gguf::new(0, 1);
        g.key("general.name", STRING);
        g.0.extend(u64::MAX.to_le_bytes());
        std::fs::write(&p, &g.0).unwrap();
        let e = metadata(&p).unwrap_err().to_string();
        assert!(e.contains("general.name"), "{e}");
        assert_eq!(architecture(&p), None);
    }
}
