//! API keys: a key file read into SHA-256 hashes, and a presented key checked against
//! every one of them in constant time. The keys themselves are never kept: a key file
//! may hold `sha256:HEX` lines, so that the file itself need not hold a secret, and a
//! key is named in logs and audit lines only by its [`KeyId`].

use std::path::Path;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{Error, Result};

/// A key's name where a key may not appear: `key-` and the first 8 hex digits of its
/// SHA-256 (of the hash, not of anything a client could replay).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyId(pub String);

impl KeyId {
    /// The id every request has when the server takes no keys.
    pub fn anonymous() -> Self {
        Self("anonymous".into())
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The keys a server accepts, held as SHA-256 hashes.
#[derive(Clone, Default)]
pub struct KeySet {
    hashes: Vec<[u8; 32]>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not even the hashes print.
        write!(f, "KeySet({} keys)", self.hashes.len())
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl KeySet {
    /// Reads a key file: one key per line, raw or as `sha256:HEX` (64 hex digits); blank
    /// lines and lines starting with `#` are skipped. A bad line is an error naming the
    /// file and the line; a file without any key is an error too.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Keys(format!("{}: cannot read it ({e})", path.display())))?;
        Self::parse(&text, path)
    }

    /// [`KeySet::read`] of text already read; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let mut set = Self::default();
        let mut lines_of: Vec<usize> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let bad = |why: &str| Error::Keys(format!("{}:{n}: {why}", path.display()));
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.chars().any(char::is_whitespace) {
                return Err(bad(
                    "a key line holds one key and nothing else (no spaces inside)",
                ));
            }
            let hash = match line.strip_prefix("sha256:") {
                Some(hex_digits) => {
                    let bytes = hex::decode(hex_digits).map_err(|_| {
                        bad("sha256: must be followed by 64 hex digits (the SHA-256 of the key)")
                    })?;
                    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
                        bad("sha256: must be followed by 64 hex digits (the SHA-256 of the key)")
                    })?
                }
                None => sha256(line.as_bytes()),
            };
            if let Some(j) = set.hashes.iter().position(|h| *h == hash) {
                return Err(bad(&format!("the same key as line {}", lines_of[j])));
            }
            set.hashes.push(hash);
            lines_of.push(n);
        }
        if set.hashes.is_empty() {
            return Err(Error::Keys(format!(
                "{}: no key in it (one key per line, raw or sha256:HEX)",
                path.display()
            )));
        }
        Ok(set)
    }

    /// One raw key (`--api-key-env`).
    pub fn one(key: &str) -> Self {
        Self {
            hashes: vec![sha256(key.as_bytes())],
        }
    }

    /// Both sets' keys.
    pub fn union(mut self, other: &KeySet) -> Self {
        for h in &other.hashes {
            if !self.hashes.contains(h) {
                self.hashes.push(*h);
            }
        }
        self
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The id of `presented` when it is one of the keys. Every stored hash is compared,
    /// each in constant time, so the time taken says neither which key matched nor how
    /// much of one did.
    pub fn check(&self, presented: &str) -> Option<KeyId> {
        let h = sha256(presented.as_bytes());
        let mut found: Option<[u8; 32]> = None;
        for stored in &self.hashes {
            if bool::from(stored.ct_eq(&h)) {
                found = Some(*stored);
            }
        }
        found.map(|stored| KeyId(format!("key-{}", &hex::encode(sha256(&stored))[..8])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<KeySet> {
        KeySet::parse(text, Path::new("keys.txt"))
    }

    #[test]
    fn raw_and_hashed_keys_are_both_accepted_and_named_by_id_only() {
        let hashed = hex::encode(sha256(b"second-key-0002"));
        let set = parse(&format!("# team keys\nfirst-key-0001\n\nsha256:{hashed}\n")).unwrap();
        assert_eq!(set.len(), 2);
        let a = set.check("first-key-0001").unwrap();
        let b = set.check("second-key-0002").unwrap();
        assert_ne!(a, b);
        assert!(a.0.starts_with("key-") && a.0.len() == 12);
        assert!(!a.0.contains("first"));
        assert_eq!(set.check("first-key-0002"), None);
        assert_eq!(set.check(""), None);
        assert!(!format!("{set:?}").contains("first"));
    }

    #[test]
    fn a_bad_line_is_named_by_file_and_line() {
        let e = parse("good-key\nsha256:abc\n").unwrap_err().to_string();
        assert!(
            e.contains("keys.txt:2:") && e.contains("64 hex digits"),
            "{e}"
        );
        let e = parse("one key\n").unwrap_err().to_string();
        assert!(e.contains("keys.txt:1:") && e.contains("no spaces"), "{e}");
        let e = parse("k1\nk2\nk1\n").unwrap_err().to_string();
        assert!(e.contains("keys.txt:3:") && e.contains("line 1"), "{e}");
        let e = parse("# nothing\n\n").unwrap_err().to_string();
        assert!(e.contains("no key"), "{e}");
    }
}
