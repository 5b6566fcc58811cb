//! Just enough of the GGUF header to name a file's architecture before llama.cpp
//! loads it, so that an unsupported model gets a message that says so.

use std::io::{BufReader, Read};
use std::path::Path;

fn read_u32(r: &mut impl Read) -> Option<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b).ok()?;
    Some(u32::from_le_bytes(b))
}

fn read_u64(r: &mut impl Read) -> Option<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b).ok()?;
    Some(u64::from_le_bytes(b))
}

fn read_string(r: &mut impl Read) -> Option<String> {
    let n = read_u64(r)?;
    if n > 1 << 20 {
        return None;
    }
    let mut b = vec![0u8; n as usize];
    r.read_exact(&mut b).ok()?;
    String::from_utf8(b).ok()
}

/// Skips one value of GGUF type `t`.
fn skip_value(r: &mut impl Read, t: u32) -> Option<()> {
    let fixed = |n: u64, r: &mut dyn Read| -> Option<()> {
        std::io::copy(&mut r.take(n), &mut std::io::sink())
            .ok()
            .filter(|c| *c == n)
            .map(|_| ())
    };
    match t {
        0 | 1 | 7 => fixed(1, r),
        2 | 3 => fixed(2, r),
        4..=6 => fixed(4, r),
        10..=12 => fixed(8, r),
        8 => read_string(r).map(|_| ()),
        9 => {
            let inner = read_u32(r)?;
            let n = read_u64(r)?;
            (0..n).try_for_each(|_| skip_value(r, inner))
        }
        _ => None,
    }
}

/// Positions a reader just after the type tag of key `wanted` (of GGUF type `want_type`)
/// in a GGUF file (versions 2 and 3).
fn seek_key(path: &Path, wanted: &str, want_type: u32) -> Option<BufReader<std::fs::File>> {
    let mut r = BufReader::new(std::fs::File::open(path).ok()?);
    let mut magic = [0u8; 4];
    r.read_exact(&mut magic).ok()?;
    if &magic != b"GGUF" || read_u32(&mut r)? < 2 {
        return None;
    }
    let _tensors = read_u64(&mut r)?;
    let kvs = read_u64(&mut r)?;
    for _ in 0..kvs.min(10_000) {
        let key = read_string(&mut r)?;
        let t = read_u32(&mut r)?;
        if key == wanted && t == want_type {
            return Some(r);
        }
        skip_value(&mut r, t)?;
    }
    None
}

/// `general.architecture` of a GGUF file (versions 2 and 3), if the header holds it.
pub fn architecture(path: &Path) -> Option<String> {
    read_string(&mut seek_key(path, "general.architecture", 8)?)
}

/// `general.file_type` (llama.cpp's `llama_ftype`) of a GGUF file, if the header holds it.
pub fn file_type(path: &Path) -> Option<u32> {
    read_u32(&mut seek_key(path, "general.file_type", 4)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv_string(out: &mut Vec<u8>, k: &str, v: &str) {
        out.extend((k.len() as u64).to_le_bytes());
        out.extend(k.as_bytes());
        out.extend(8u32.to_le_bytes());
        out.extend((v.len() as u64).to_le_bytes());
        out.extend(v.as_bytes());
    }

    #[test]
    fn finds_the_architecture_after_other_keys() {
        let mut f = b"GGUF".to_vec();
        f.extend(3u32.to_le_bytes());
        f.extend(0u64.to_le_bytes());
        f.extend(3u64.to_le_bytes());
        // A u32 and an array of strings before the key we want.
        f.extend(12u64.to_le_bytes());
        f.extend(b"general.size");
        f.extend(4u32.to_le_bytes());
        f.extend(7u32.to_le_bytes());
        f.extend(4u64.to_le_bytes());
        f.extend(b"tags");
        f.extend(9u32.to_le_bytes());
        f.extend(8u32.to_le_bytes());
        f.extend(1u64.to_le_bytes());
        f.extend(2u64.to_le_bytes());
        f.extend(b"ab");
        kv_string(&mut f, "general.architecture", "mamba9");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.gguf");
        std::fs::write(&p, &f).unwrap();
        assert_eq!(architecture(&p).as_deref(), Some("mamba9"));
        std::fs::write(&p, &f[..30]).unwrap();
        assert_eq!(architecture(&p), None);
    }
}
