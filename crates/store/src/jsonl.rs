//! The one append-only JSONL store: records appended as they finish, next to a manifest
//! that says what the records are of, under a lock that keeps a second writer out.
//!
//! - the manifest is written once, atomically; a resumed writer's manifest must agree
//!   with it on the identity fields (JSON paths with dots, e.g. `model.sha256`), and the
//!   error names the first field that differs;
//! - records are appended a batch per write and flushed, so a killed process loses at
//!   most the batch in flight; a torn last line is cut off when the file is reopened,
//!   and any other unreadable line is an error naming it;
//! - the lock file is held while a process writes.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use fs2::FileExt;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{io, write_json_atomic, Error, Result};

/// Where a store's three files live, and what its records are called in messages.
#[derive(Debug, Clone)]
pub struct Layout {
    pub records: PathBuf,
    pub manifest: PathBuf,
    pub lock: PathBuf,
    /// What the manifest describes, for messages ("run", "judge run").
    pub what: &'static str,
}

/// An open store, locked for this process.
#[derive(Debug)]
pub struct JsonlStore<R> {
    layout: Layout,
    file: File,
    _lock: File,
    /// Records already in the file when it was opened.
    pub existing: Vec<R>,
    /// Records this process appended.
    appended: Vec<R>,
    _record: PhantomData<R>,
}

/// The JSON value at a dotted path (`model.sha256`).
fn at<'a>(v: &'a serde_json::Value, field: &str) -> Option<&'a serde_json::Value> {
    v.pointer(&format!("/{}", field.replace('.', "/")))
}

impl<R: Serialize + DeserializeOwned + Clone> JsonlStore<R> {
    /// Opens (or creates) the store for `manifest`. A store written for another manifest
    /// (one of `identity` differs) is refused, naming the field.
    pub fn open(layout: Layout, manifest: &impl Serialize, identity: &[&str]) -> Result<Self> {
        for p in [&layout.records, &layout.manifest, &layout.lock] {
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(io(dir))?;
            }
        }
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&layout.lock)
            .map_err(io(&layout.lock))?;
        lock.try_lock_exclusive().map_err(|_| Error::Locked {
            path: layout
                .records
                .parent()
                .unwrap_or(&layout.records)
                .to_path_buf(),
            lock: layout.lock.clone(),
        })?;

        let now = serde_json::to_value(manifest).map_err(|e| Error::Io {
            path: layout.manifest.clone(),
            message: e.to_string(),
        })?;
        if layout.manifest.exists() {
            let old: serde_json::Value = crate::read_json(&layout.manifest)?;
            for field in identity {
                let (was, is) = (at(&old, field), at(&now, field));
                if was != is {
                    let show = |v: Option<&serde_json::Value>| {
                        v.map(|v| v.to_string()).unwrap_or_else(|| "nothing".into())
                    };
                    return Err(Error::Mismatch {
                        path: layout.manifest.clone(),
                        what: layout.what,
                        field: (*field).to_string(),
                        was: show(was),
                        now: show(is),
                    });
                }
            }
        } else {
            write_json_atomic(&layout.manifest, &now)?;
        }

        let existing = read_and_repair(&layout.records)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&layout.records)
            .map_err(io(&layout.records))?;
        Ok(Self {
            layout,
            file,
            _lock: lock,
            existing,
            appended: Vec::new(),
            _record: PhantomData,
        })
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Appends records in one write and hands them to the OS before returning.
    pub fn append(&mut self, records: &[R]) -> Result<()> {
        let path = &self.layout.records;
        let mut buf = Vec::new();
        for r in records {
            serde_json::to_writer(&mut buf, r).map_err(|e| Error::Io {
                path: path.clone(),
                message: e.to_string(),
            })?;
            buf.push(b'\n');
        }
        // One write per batch: a kill leaves whole lines, or at worst one torn last line.
        self.file.write_all(&buf).map_err(io(path))?;
        self.file.flush().map_err(io(path))?;
        self.appended.extend_from_slice(records);
        Ok(())
    }

    /// Every record: those found on opening, then those appended since.
    pub fn records(&self) -> impl Iterator<Item = &R> {
        self.existing.iter().chain(&self.appended)
    }

    /// Syncs the records to disk (before a summary derived from them is written).
    pub fn sync(&self) -> Result<()> {
        self.file.sync_all().map_err(io(&self.layout.records))
    }
}

/// Parses the lines of a JSONL file. Returns the complete records and, when the last line
/// is torn, the byte length of the good part. A writer (`repair`) treats an unreadable last
/// line as torn (a kill mid-write); a reader only a last line without its newline (a
/// writer still writing). Any other unreadable line is an error naming it.
fn parse<R: DeserializeOwned>(
    path: &Path,
    text: &str,
    repair: bool,
) -> Result<(Vec<R>, Option<usize>)> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut out = Vec::with_capacity(lines.len());
    let mut good_len = 0usize;
    for (i, line) in lines.iter().enumerate() {
        let last = i + 1 == lines.len();
        match serde_json::from_str::<R>(line.trim_end()) {
            Ok(r) if line.ends_with('\n') => {
                out.push(r);
                good_len += line.len();
            }
            _ if last && (repair || !line.ends_with('\n')) => return Ok((out, Some(good_len))),
            Ok(_) => unreachable!("split_inclusive: only the last line can lack its newline"),
            Err(e) => {
                return Err(Error::Line {
                    path: path.to_path_buf(),
                    line: i + 1,
                    message: e.to_string(),
                })
            }
        }
    }
    Ok((out, None))
}

/// Reads a store's records for writing: a torn last line (a kill mid-write) is cut off.
fn read_and_repair<R: DeserializeOwned>(path: &Path) -> Result<Vec<R>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(path)(e)),
    };
    let (records, torn) = parse(path, &text, true)?;
    if let Some(good_len) = torn {
        tracing::warn!(path = %path.display(), "cutting a torn last line left by an interrupted writer");
        let f = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io(path))?;
        f.set_len(good_len as u64).map_err(io(path))?;
    }
    Ok(records)
}

/// Reads a JSONL file's complete records without writing to it (a last line without its
/// newline, from a writer killed or still writing, is left out). A missing file is an error.
pub fn read_jsonl<R: DeserializeOwned>(path: &Path) -> Result<Vec<R>> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    Ok(parse(path, &text, false)?.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Rec {
        id: String,
    }

    fn rec(id: &str) -> Rec {
        Rec { id: id.into() }
    }

    fn layout(dir: &Path) -> Layout {
        Layout {
            records: dir.join("r.jsonl"),
            manifest: dir.join("manifest.json"),
            lock: dir.join("r.lock"),
            what: "thing",
        }
    }

    fn ids(s: &JsonlStore<Rec>) -> Vec<String> {
        s.records().map(|r| r.id.clone()).collect()
    }

    #[test]
    fn resume_cuts_a_torn_line_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let m = serde_json::json!({"model": {"sha256": "aa"}, "task": "t"});
        let id = ["model.sha256", "task"];
        {
            let mut s = JsonlStore::<Rec>::open(layout(dir.path()), &m, &id).unwrap();
            s.append(&[rec("a"), rec("b")]).unwrap();
        }
        let p = dir.path().join("r.jsonl");
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(br#"{"id":"c","x"#).unwrap();
        drop(f);
        // A reader leaves the torn line alone.
        assert_eq!(read_jsonl::<Rec>(&p).unwrap().len(), 2);
        let mut s = JsonlStore::<Rec>::open(layout(dir.path()), &m, &id).unwrap();
        assert_eq!(s.existing.len(), 2);
        s.append(&[rec("c")]).unwrap();
        assert_eq!(ids(&s), ["a", "b", "c"]);
        drop(s);
        let s = JsonlStore::<Rec>::open(layout(dir.path()), &m, &id).unwrap();
        assert_eq!(ids(&s), ["a", "b", "c"]);
    }

    #[test]
    fn a_second_writer_and_another_manifest_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let m = serde_json::json!({"model": {"sha256": "aa"}, "task": "t"});
        let id = ["model.sha256", "task"];
        let first = JsonlStore::<Rec>::open(layout(dir.path()), &m, &id).unwrap();
        let e = JsonlStore::<Rec>::open(layout(dir.path()), &m, &id)
            .unwrap_err()
            .to_string();
        assert!(e.contains("another process") && e.contains("r.lock"), "{e}");
        drop(first);
        let other = serde_json::json!({"model": {"sha256": "bb"}, "task": "t"});
        let e = JsonlStore::<Rec>::open(layout(dir.path()), &other, &id)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("model.sha256") && e.contains("\"aa\"") && e.contains("thing"),
            "{e}"
        );
    }

    #[test]
    fn corruption_before_the_last_line_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let good = serde_json::to_string(&rec("a")).unwrap();
        std::fs::write(
            dir.path().join("r.jsonl"),
            format!("{good}\ngarbage\n{good}\n"),
        )
        .unwrap();
        let e = JsonlStore::<Rec>::open(layout(dir.path()), &serde_json::json!({}), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("r.jsonl"), "{e}");
    }
}
