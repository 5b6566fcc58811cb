//! The run directory: a manifest, per-sample results appended as they are
//! produced, and a summary derived from them.
//!
//! - `manifest.json` — written once, atomically; a resumed run must match it;
//! - `samples.jsonl` — one `SampleRecord` per line, appended and flushed per batch,
//!   so a killed process loses at most the batch in flight; a torn last line is
//!   cut off when the run resumes;
//! - `summary.json` — written atomically at the end (and on a clean interrupt);
//! - `run.lock` — held while a process writes into the directory.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use fs2::FileExt;
use serde::Serialize;
use trilemma_core::SampleRecord;

use crate::{Error, Result};

pub const MANIFEST: &str = "manifest.json";
pub const SAMPLES: &str = "samples.jsonl";
pub const SUMMARY: &str = "summary.json";
const LOCK: &str = "run.lock";

/// An open run directory, locked for this process.
#[derive(Debug)]
pub struct RunStore {
    dir: PathBuf,
    samples: File,
    _lock: File,
    /// Records already in the directory when it was opened.
    pub existing: Vec<SampleRecord>,
    /// The session number this process writes under.
    pub session: u32,
    /// Records this process appended.
    appended: Vec<SampleRecord>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Writes JSON through a temporary file and a rename: readers never see half a file.
pub fn write_json_atomic(path: &Path, value: &impl Serialize) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io(dir))?;
    serde_json::to_writer_pretty(&mut tmp, value).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    tmp.write_all(b"\n").map_err(io(path))?;
    tmp.as_file().sync_all().map_err(io(path))?;
    tmp.persist(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(())
}

impl RunStore {
    /// Opens (or creates) a run directory for `manifest`. A directory holding another
    /// run's manifest is refused, naming the field that differs.
    pub fn open(
        dir: &Path,
        manifest: &serde_json::Value,
        identity_fields: &[&str],
    ) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let lock_path = dir.join(LOCK);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        lock.try_lock_exclusive().map_err(|_| Error::Locked {
            dir: dir.to_path_buf(),
        })?;

        let manifest_path = dir.join(MANIFEST);
        if manifest_path.exists() {
            let text = std::fs::read_to_string(&manifest_path).map_err(io(&manifest_path))?;
            let old: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Io {
                path: manifest_path.clone(),
                message: format!("not a run manifest: {e}"),
            })?;
            for field in identity_fields {
                let ptr = format!("/{}", field.replace('.', "/"));
                if old.pointer(&ptr) != manifest.pointer(&ptr) {
                    return Err(Error::Mismatch {
                        dir: dir.to_path_buf(),
                        field: (*field).to_string(),
                        was: old
                            .pointer(&ptr)
                            .map(|v| v.to_string())
                            .unwrap_or("nothing".into()),
                        now: manifest
                            .pointer(&ptr)
                            .map(|v| v.to_string())
                            .unwrap_or("nothing".into()),
                    });
                }
            }
        } else {
            write_json_atomic(&manifest_path, manifest)?;
        }

        let samples_path = dir.join(SAMPLES);
        let existing = read_samples(&samples_path)?;
        let samples = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&samples_path)
            .map_err(io(&samples_path))?;
        let session = existing.iter().map(|r| r.session + 1).max().unwrap_or(0);
        Ok(Self {
            dir: dir.to_path_buf(),
            samples,
            _lock: lock,
            existing,
            session,
            appended: Vec::new(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// (sample id, repeat) pairs already recorded.
    pub fn done(&self) -> HashSet<(String, u32)> {
        self.existing
            .iter()
            .map(|r| (r.sample_id.clone(), r.repeat))
            .collect()
    }

    /// Appends records and hands them to the OS before returning.
    pub fn append(&mut self, records: &[SampleRecord]) -> Result<()> {
        let path = self.dir.join(SAMPLES);
        let mut buf = Vec::new();
        for r in records {
            serde_json::to_writer(&mut buf, r).map_err(|e| Error::Io {
                path: path.clone(),
                message: e.to_string(),
            })?;
            buf.push(b'\n');
        }
        // One write per batch: a kill leaves whole lines, or at worst one torn last line.
        self.samples.write_all(&buf).map_err(io(&path))?;
        self.samples.flush().map_err(io(&path))?;
        self.appended.extend_from_slice(records);
        Ok(())
    }

    /// Every record of the run: those found on opening and those appended since.
    pub fn records(&self) -> impl Iterator<Item = &SampleRecord> {
        self.existing.iter().chain(&self.appended)
    }

    pub fn write_summary(&self, summary: &impl Serialize) -> Result<()> {
        self.samples.sync_all().map_err(io(&self.dir))?;
        write_json_atomic(&self.dir.join(SUMMARY), summary)
    }
}

/// Reads the complete records of `samples.jsonl`, cutting off a torn last line.
fn read_samples(path: &Path) -> Result<Vec<SampleRecord>> {
    let Ok(file) = File::open(path) else {
        return Ok(Vec::new());
    };
    let mut reader = BufReader::new(file);
    let mut out = Vec::new();
    let mut good_len = 0u64;
    let mut line = String::new();
    let mut line_no = 0;
    loop {
        line.clear();
        let n = reader.read_line(&mut line).map_err(io(path))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let complete = line.ends_with('\n');
        match serde_json::from_str::<SampleRecord>(line.trim_end()) {
            Ok(r) if complete => {
                out.push(r);
                good_len += n as u64;
            }
            Ok(_) | Err(_) => {
                // Only the last line may be torn (a kill mid-write); anything else is corruption.
                let rest = reader.fill_buf().map_err(io(path))?.is_empty();
                if !rest {
                    return Err(Error::Io {
                        path: path.to_path_buf(),
                        message: format!("line {line_no} is not a sample record"),
                    });
                }
                tracing::warn!(path = %path.display(), line = line_no, "dropping a torn last line from an interrupted run");
                let f = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(io(path))?;
                f.set_len(good_len).map_err(io(path))?;
                let mut f = f;
                f.seek(SeekFrom::End(0)).map_err(io(path))?;
                break;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use trilemma_core::{Outcome, RequestTiming, TokenCounts};

    fn rec(id: &str) -> SampleRecord {
        SampleRecord {
            sample_id: id.into(),
            task: "t".into(),
            repeat: 0,
            session: 0,
            outcome: Outcome::Scored,
            prediction: "p".into(),
            gold: "g".into(),
            scores: BTreeMap::from([("acc".into(), 1.0)]),
            tokens: TokenCounts::default(),
            timing: RequestTiming::default(),
            detail: serde_json::Value::Null,
        }
    }

    #[test]
    fn resume_cuts_a_torn_line_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let m = serde_json::json!({"model": {"sha256": "aa"}, "task": "t"});
        {
            let mut s = RunStore::open(dir.path(), &m, &["model.sha256", "task"]).unwrap();
            s.append(&[rec("a"), rec("b")]).unwrap();
        }
        // A kill mid-write leaves half a line.
        let p = dir.path().join(SAMPLES);
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(br#"{"sample_id":"c","ta"#).unwrap();
        drop(f);
        let mut s = RunStore::open(dir.path(), &m, &["model.sha256", "task"]).unwrap();
        assert_eq!(s.existing.len(), 2);
        assert_eq!(s.session, 1);
        s.append(&[rec("c")]).unwrap();
        drop(s);
        let s = RunStore::open(dir.path(), &m, &["task"]).unwrap();
        let ids: Vec<_> = s.existing.iter().map(|r| r.sample_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
    }

    #[test]
    fn a_second_writer_is_refused_and_a_different_run_too() {
        let dir = tempfile::tempdir().unwrap();
        let m = serde_json::json!({"model": {"sha256": "aa"}, "task": "t"});
        let _first = RunStore::open(dir.path(), &m, &["task"]).unwrap();
        let err = RunStore::open(dir.path(), &m, &["task"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("another run"), "{err}");
        drop(_first);
        let other = serde_json::json!({"model": {"sha256": "bb"}, "task": "t"});
        let err = RunStore::open(dir.path(), &other, &["model.sha256", "task"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("model.sha256"), "{err}");
    }

    #[test]
    fn corruption_before_the_last_line_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let line = serde_json::to_string(&rec("a")).unwrap();
        std::fs::write(dir.path().join(SAMPLES), format!("garbage\n{line}\n")).unwrap();
        let err = RunStore::open(dir.path(), &serde_json::json!({}), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1"), "{err}");
    }
}
