//! The GGUF header, read without loading the model: what a file says it is (name, size
//! label, architecture, file type), how many weights its tensors hold, and whether the
//! file is long enough for the tensors its header places in it. The one GGUF reader:
//! the engine opener checks a model with it before anything slow, the engine before
//! llama.cpp loads it, and run manifests record what it finds.
//!
//! The layout (versions 2 and 3, little-endian): the magic `GGUF`, a `u32` version, a
//! `u64` tensor count, a `u64` key-value count; then each key-value pair (a string key, a
//! `u32` value type, the value); then each tensor's info (a string name, a `u32` dimension
//! count, one `u64` per dimension, a `u32` element type, a `u64` data offset); then, from
//! the next multiple of `general.alignment` (32 by default), the tensor data. A string
//! is a `u64` byte length and UTF-8 bytes; an array is a `u32` element type, a `u64`
//! length and the elements. Only the keys kept here are decoded; every other value is
//! skipped by seeking, so a header with a 262,144-token vocabulary reads in milliseconds,
//! and every length is checked against the bytes left, so a corrupt one is an error
//! rather than a huge allocation.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};

use trilemma_store::run::GgufMetadata;

use crate::ftype;

/// The header of a GGUF file held in memory (`data` is the whole file, or its start:
/// the tensor data need not be there); the error is the whole reason.
pub fn read_bytes(data: &[u8]) -> Result<GgufHeader, String> {
    read(std::io::Cursor::new(data), data.len() as u64)
}

/// Why a GGUF file was refused: the file, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct HeaderError {
    pub path: PathBuf,
    /// What is wrong (`not a GGUF file: ...`, `a damaged GGUF model file: ...`).
    pub reason: String,
}

/// A GGUF file's header as read, and what its layout asks of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GgufHeader {
    /// What the file says the model is.
    pub metadata: GgufMetadata,
    /// `general.file_type` as llama.cpp's number (`llama_ftype`).
    pub file_type: Option<u32>,
    pub version: u32,
    pub tensors: u64,
    /// `general.alignment`: tensor data starts at the next multiple of it after the header.
    pub alignment: u64,
    /// Bytes the file must hold: the header, padded to the alignment, then up to the end
    /// of the furthest tensor (one of a type whose size is not known here counts by its
    /// offset alone).
    pub bytes_needed: u64,
    /// The file's length.
    pub file_bytes: u64,
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

/// Longest string decoded (keys, names and labels are short; a longer one is a corrupt
/// length, refused before it is allocated).
const MAX_KEPT_STRING: u64 = 64 * 1024;
/// Most dimensions a tensor may have (ggml's limit).
const MAX_DIMS: u32 = 4;
/// Deepest nesting of arrays skipped (GGUF writers nest none; a corrupt type could
/// otherwise recurse until the stack ends).
const MAX_ARRAY_DEPTH: u32 = 4;
/// `general.alignment` when the header does not set it.
const DEFAULT_ALIGNMENT: u64 = 32;

/// The header's bytes, read in order; `at` is the offset of the next byte and `len` the
/// file's length, so that every length read is checked against what is left.
struct Cursor<R> {
    r: R,
    at: u64,
    len: u64,
}

impl<R: Read + Seek> Cursor<R> {
    fn ends_inside(&self, what: &str) -> String {
        format!(
            "{what}: the file ends at byte {} inside the header",
            self.len
        )
    }

    fn bytes<const N: usize>(&mut self, what: &str) -> Result<[u8; N], String> {
        let mut b = [0u8; N];
        self.r
            .read_exact(&mut b)
            .map_err(|_| self.ends_inside(what))?;
        self.at += N as u64;
        Ok(b)
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        self.bytes::<4>(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &str) -> Result<u64, String> {
        self.bytes::<8>(what).map(u64::from_le_bytes)
    }

    /// Fails when `n` bytes (or items of at least a byte) at the cursor would run past
    /// the end of the file.
    fn fits(&self, n: u64, unit: &str, what: &str) -> Result<(), String> {
        if n > self.len.saturating_sub(self.at) {
            return Err(format!(
                "{what}: {n} {unit} at byte {} run past the end of the file ({} bytes)",
                self.at, self.len
            ));
        }
        Ok(())
    }

    fn skip(&mut self, n: u64, what: &str) -> Result<(), String> {
        self.fits(n, "bytes", what)?;
        // `fits` bounds `n` by the file's length.
        self.r
            .seek_relative(n as i64)
            .map_err(|e| format!("{what} at byte {}: {e}", self.at))?;
        self.at += n;
        Ok(())
    }

    fn string(&mut self, what: &str) -> Result<String, String> {
        let n = self.u64(what)?;
        if n > MAX_KEPT_STRING {
            return Err(format!(
                "{what} at byte {}: a string of {n} bytes (at most {MAX_KEPT_STRING} expected)",
                self.at
            ));
        }
        self.fits(n, "bytes", what)?;
        let mut b = vec![0u8; n as usize];
        self.r
            .read_exact(&mut b)
            .map_err(|_| self.ends_inside(what))?;
        self.at += n;
        String::from_utf8(b).map_err(|_| format!("{what}: not UTF-8"))
    }

    /// Skips one value of type `t`, nested `depth` arrays deep.
    fn skip_value(&mut self, t: u32, depth: u32, what: &str) -> Result<(), String> {
        match t {
            STRING => {
                let n = self.u64(what)?;
                self.skip(n, what)
            }
            ARRAY if depth < MAX_ARRAY_DEPTH => {
                let inner = self.u32(what)?;
                let n = self.u64(what)?;
                // Every element takes at least a byte.
                self.fits(n, "array elements", what)?;
                match fixed_size(inner) {
                    Some(size) => self.skip(n.saturating_mul(size), what),
                    None => (0..n).try_for_each(|_| self.skip_value(inner, depth + 1, what)),
                }
            }
            ARRAY => Err(format!(
                "{what}: arrays nested deeper than {MAX_ARRAY_DEPTH}"
            )),
            t => match fixed_size(t) {
                Some(size) => self.skip(size, what),
                None => Err(format!(
                    "{what}: unknown value type {t} at byte {}",
                    self.at
                )),
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
                self.skip_value(other, 0, what)?;
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

/// Bytes per block and elements per block of the ggml tensor types whose size is known
/// here (`ggml_type` numbers; the sizes of ggml's block structs).
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

/// Where a string key the metadata keeps goes.
fn kept_string<'a>(m: &'a mut GgufMetadata, key: &str) -> Option<&'a mut Option<String>> {
    match key {
        "general.name" => Some(&mut m.name),
        "general.size_label" => Some(&mut m.size_label),
        "general.architecture" => Some(&mut m.architecture),
        _ => None,
    }
}

/// Reads the header of a file of `len` bytes; the error is the whole reason.
fn read(r: impl Read + Seek, len: u64) -> Result<GgufHeader, String> {
    let mut c = Cursor { r, at: 0, len };
    let damaged = |why: String| format!("a damaged GGUF model file: {why}");
    let magic = c
        .bytes::<4>("magic")
        .map_err(|_| damaged("the file is empty or shorter than a GGUF header".into()))?;
    if &magic != b"GGUF" {
        return Err(format!(
            "not a GGUF file: it does not start with the GGUF magic (found {magic:02x?})"
        ));
    }
    read_after_magic(&mut c).map_err(damaged)
}

fn read_after_magic(c: &mut Cursor<impl Read + Seek>) -> Result<GgufHeader, String> {
    let version = c.u32("version")?;
    if !(2..=3).contains(&version) {
        return Err(format!("GGUF version {version} (2 and 3 are read)"));
    }
    let tensors = c.u64("tensor count")?;
    let kvs = c.u64("metadata entry count")?;
    // Every entry takes more than 8 bytes: counts larger than the file are corrupt.
    if tensors > c.len / 8 || kvs > c.len / 8 {
        return Err(format!(
            "the header counts {tensors} tensors and {kvs} metadata entries, more than the file's {} bytes hold",
            c.len
        ));
    }
    let mut metadata = GgufMetadata::default();
    let mut file_type = None;
    let mut alignment = DEFAULT_ALIGNMENT;
    for i in 0..kvs {
        let key = c.string(&format!("metadata entry {i}"))?;
        let what = format!("metadata `{key}`");
        let t = c.u32(&what)?;
        if let (STRING, Some(slot)) = (t, kept_string(&mut metadata, &key)) {
            let v = c.string(&what)?;
            let v = v.trim();
            *slot = (!v.is_empty()).then(|| v.to_string());
        } else if key == "general.file_type" {
            file_type = c.unsigned(t, &what)?.and_then(|v| u32::try_from(v).ok());
            metadata.file_type = file_type.map(ftype::name);
        } else if key == "general.alignment" && t == U32 {
            alignment = u64::from(c.u32(&what)?);
        } else {
            c.skip_value(t, 0, &what)?;
        }
    }
    if !alignment.is_power_of_two() {
        return Err(format!(
            "general.alignment {alignment} is not a power of two"
        ));
    }
    let mut parameters: u64 = 0;
    let mut data_end: u64 = 0;
    for i in 0..tensors {
        let name = c.string(&format!("tensor {i} name"))?;
        let what = format!("tensor `{name}`");
        let dims = c.u32(&what)?;
        if dims > MAX_DIMS {
            return Err(format!("{what} has {dims} dimensions"));
        }
        let mut elements: u64 = 1;
        for _ in 0..dims {
            let d = c.u64(&what)?;
            elements = elements
                .checked_mul(d)
                .ok_or_else(|| format!("{what}: element count overflows"))?;
        }
        parameters = parameters
            .checked_add(elements)
            .ok_or_else(|| "parameter count overflows".to_string())?;
        let element_type = c.u32(&what)?;
        let offset = c.u64(&what)?;
        let size = ggml_block(element_type).map_or(0, |(bytes, per)| {
            elements.div_ceil(per).saturating_mul(bytes)
        });
        data_end = data_end.max(offset.saturating_add(size));
    }
    let bytes_needed = if tensors == 0 {
        c.at
    } else {
        (c.at.div_ceil(alignment) * alignment).saturating_add(data_end)
    };
    // An empty tensor list says nothing about the size, so no count.
    metadata.parameters = (tensors > 0).then_some(parameters);
    Ok(GgufHeader {
        metadata,
        file_type,
        version,
        tensors,
        alignment,
        bytes_needed,
        file_bytes: c.len,
    })
}

/// The header of the GGUF file at `path`, read without loading the model; its tensor
/// data is not required to be there (see [`check_file`]).
pub fn read_header(path: &Path) -> Result<GgufHeader, HeaderError> {
    let err = |reason: String| HeaderError {
        path: path.to_path_buf(),
        reason,
    };
    let f = File::open(path).map_err(|e| err(format!("cannot open it ({e})")))?;
    let len = f
        .metadata()
        .map_err(|e| err(format!("cannot read its size ({e})")))?
        .len();
    read(BufReader::new(f), len).map_err(err)
}

/// Checks a GGUF file in milliseconds, reading its header only: the magic, a version read
/// here, a header that holds together, and a file long enough for every tensor the
/// header places in it. A truncated or foreign file fails naming the file and what is
/// wrong, where llama.cpp would fail only after a slow start, and vaguely.
pub fn check_file(path: &Path) -> Result<GgufHeader, HeaderError> {
    let h = read_header(path)?;
    if h.bytes_needed > h.file_bytes {
        return Err(HeaderError {
            path: path.to_path_buf(),
            reason: format!(
                "a damaged GGUF model file: its tensors need {} bytes but the file has {}: it is truncated",
                h.bytes_needed, h.file_bytes
            ),
        });
    }
    Ok(h)
}

/// What the GGUF header at `path` says the model is, read without loading it.
pub fn metadata(path: &Path) -> Result<GgufMetadata, HeaderError> {
    read_header(path).map(|h| h.metadata)
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
        /// A Q4_0 tensor at offset 0.
        fn tensor(&mut self, name: &str, dims: &[u64]) -> &mut Self {
            self.tensor_at(name, dims, 2, 0)
        }
        fn tensor_at(
            &mut self,
            name: &str,
            dims: &[u64],
            ggml_type: u32,
            offset: u64,
        ) -> &mut Self {
            self.str_bytes(name);
            self.0.extend((dims.len() as u32).to_le_bytes());
            for d in dims {
                self.0.extend(d.to_le_bytes());
            }
            self.0.extend(ggml_type.to_le_bytes());
            self.0.extend(offset.to_le_bytes());
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
        let h = read_header(&p).unwrap();
        assert_eq!((h.file_type, h.version, h.tensors), (Some(15), 3, 2));
        // The metadata reads, but the file lacks its tensors' data.
        let e = check_file(&p).unwrap_err().to_string();
        assert!(e.contains("m.gguf") && e.contains("truncated"), "{e}");
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
        assert!(
            e.contains("not a GGUF file") && e.contains("GGUF magic"),
            "{e}"
        );
        std::fs::write(&p, b"GG").unwrap();
        let e = metadata(&p).unwrap_err().to_string();
        assert!(e.contains("shorter than a GGUF header"), "{e}");
        // A corrupt length is refused before anything is allocated for it.
        let mut g = Gguf::new(0, 1);
        g.key("general.name", STRING);
        g.0.extend(u64::MAX.to_le_bytes());
        std::fs::write(&p, &g.0).unwrap();
        let e = metadata(&p).unwrap_err().to_string();
        assert!(e.contains("general.name"), "{e}");
    }

    #[test]
    fn a_file_must_hold_the_tensors_its_header_places_in_it() {
        const GGML_F32: u32 = 0;
        const GGML_IQ2_XXS: u32 = 16;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.gguf");
        let file = |alignment: u32, data: u64, last_type: u32| {
            let mut g = Gguf::new(2, 2);
            g.string("general.architecture", "llama");
            g.u32("general.alignment", alignment);
            g.tensor_at("a", &[16], GGML_F32, 0);
            g.tensor_at("b", &[4, 4], last_type, 64);
            let start = (g.0.len() as u64).div_ceil(64) * 64;
            g.0.resize((start + data) as usize, 0);
            (g.0, start)
        };
        // Data from the next multiple of 64 after the header; "b" ends 128 bytes in.
        let (whole, start) = file(64, 128, GGML_F32);
        std::fs::write(&p, &whole).unwrap();
        let h = check_file(&p).unwrap();
        assert_eq!((h.alignment, h.bytes_needed), (64, start + 128));
        assert_eq!(h.file_bytes, whole.len() as u64);
        assert_eq!(h.metadata.parameters, Some(32));
        std::fs::write(&p, &whole[..whole.len() - 1]).unwrap();
        let e = check_file(&p).unwrap_err().to_string();
        let want = format!(
            "need {} bytes but the file has {}",
            start + 128,
            start + 127
        );
        assert!(e.contains(&want) && e.contains("truncated"), "{e}");
        // A tensor of a type whose block size is not known here counts by its offset.
        let (short, start) = file(64, 64, GGML_IQ2_XXS);
        std::fs::write(&p, short).unwrap();
        assert_eq!(check_file(&p).unwrap().bytes_needed, start + 64);
        let (bad, _) = file(48, 128, GGML_F32);
        std::fs::write(&p, bad).unwrap();
        let e = check_file(&p).unwrap_err().to_string();
        assert!(
            e.contains("general.alignment 48 is not a power of two"),
            "{e}"
        );
        // Counts no file of this length could hold are refused before any is read.
        std::fs::write(&p, &Gguf::new(1 << 40, 0).0).unwrap();
        let e = check_file(&p).unwrap_err().to_string();
        assert!(e.contains("1099511627776 tensors"), "{e}");
        let mut v1 = whole.clone();
        v1[4] = 1;
        std::fs::write(&p, v1).unwrap();
        let e = check_file(&p).unwrap_err().to_string();
        assert!(e.contains("GGUF version 1"), "{e}");
    }

    #[test]
    fn arrays_nested_past_any_writer_are_refused() {
        let mut g = Gguf::new(0, 1);
        g.key("x.nested", ARRAY);
        for _ in 0..MAX_ARRAY_DEPTH + 1 {
            g.0.extend(ARRAY.to_le_bytes());
            g.0.extend(1u64.to_le_bytes());
        }
        g.0.extend([0u8; 64]);
        let dir = tempfile::tempdir().unwrap();
        let e = metadata(&g.write(dir.path())).unwrap_err().to_string();
        assert!(e.contains("x.nested") && e.contains("nested deeper"), "{e}");
    }
}
