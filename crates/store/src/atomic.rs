//! The one atomic JSON writer: a temporary file in the target's directory, synced, then
//! renamed over the target. A reader sees the old file or the new one, never half of one.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::{io, Error, Result};

/// Writes `value` as pretty JSON (and a final newline) to `path`, atomically.
pub fn write_json_atomic(path: &Path, value: &impl Serialize) -> Result<()> {
    let mut text = serde_json::to_vec_pretty(value).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    text.push(b'\n');
    write_atomic(path, &text)
}

/// Writes `bytes` to `path` atomically (any format: JSON, HTML, CSV, a script).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io(dir))?;
    tmp.write_all(bytes).map_err(io(path))?;
    tmp.as_file().sync_all().map_err(io(path))?;
    tmp.persist(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_whole_files_and_replaces_old_ones() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.json");
        write_json_atomic(&p, &serde_json::json!({"a": 1})).unwrap();
        write_json_atomic(&p, &serde_json::json!({"a": 2})).unwrap();
        let v: serde_json::Value = crate::read_json(&p).unwrap();
        assert_eq!(v["a"], 2);
        assert!(std::fs::read_to_string(&p).unwrap().ends_with("}\n"));
        // Nothing else is left in the directory (no temporary files).
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_it() {
        let e = write_json_atomic(Path::new("/nonexistent-dir/x.json"), &1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent-dir"), "{e}");
    }
}
