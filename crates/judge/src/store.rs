//! `judgements.jsonl`: one `Judgement` per line, appended and flushed per batch, next to a
//! manifest naming the judge and the rubric. A resumed run skips what is already judged,
//! cuts a torn last line, and refuses a file written with another judge or rubric.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use fs2::FileExt;

use crate::{Error, Judgement, Result};

/// Default file name, inside the judged run's directory.
pub const JUDGEMENTS: &str = "judgements.jsonl";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// An open judgements file, locked for this process.
#[derive(Debug)]
pub struct JudgementStore {
    path: PathBuf,
    file: File,
    _lock: File,
    /// Judgements already in the file when it was opened, then those appended.
    pub judgements: Vec<Judgement>,
    /// How many were there on opening.
    pub resumed: usize,
}

/// `judgements.jsonl` → `judgements.manifest.json`.
pub fn manifest_path(path: &Path) -> PathBuf {
    path.with_extension("manifest.json")
}

fn write_json_atomic(path: &Path, value: &serde_json::Value) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io(dir))?;
    let mut text = serde_json::to_string_pretty(value).map_err(|e| Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    text.push('\n');
    tmp.write_all(text.as_bytes()).map_err(io(path))?;
    tmp.as_file().sync_all().map_err(io(path))?;
    tmp.persist(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    Ok(())
}

impl JudgementStore {
    /// Opens (or creates) `path`. `identity` lists the manifest fields (JSON pointers
    /// without the leading `/`, dots for nesting) that must match on resume.
    pub fn open(path: &Path, manifest: &serde_json::Value, identity: &[&str]) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        let lock_path = path.with_extension("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        lock.try_lock_exclusive().map_err(|_| Error::Locked {
            path: path.display().to_string(),
        })?;
        let mpath = manifest_path(path);
        if mpath.exists() {
            let text = std::fs::read_to_string(&mpath).map_err(io(&mpath))?;
            let old: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Io {
                path: mpath.display().to_string(),
                message: format!("not a judge manifest: {e}"),
            })?;
            for field in identity {
                let ptr = format!("/{}", field.replace('.', "/"));
                if old.pointer(&ptr) != manifest.pointer(&ptr) {
                    let show = |v: Option<&serde_json::Value>| {
                        v.map(|v| v.to_string()).unwrap_or_else(|| "nothing".into())
                    };
                    return Err(Error::Mismatch {
                        path: path.display().to_string(),
                        field: (*field).to_string(),
                        was: show(old.pointer(&ptr)),
                        now: show(manifest.pointer(&ptr)),
                    });
                }
            }
        } else {
            write_json_atomic(&mpath, manifest)?;
        }
        let judgements = read_judgements(path)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io(path))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            _lock: lock,
            resumed: judgements.len(),
            judgements,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// (task, sample id) pairs already judged.
    pub fn done(&self) -> HashSet<(String, String)> {
        self.judgements
            .iter()
            .map(|j| (j.task.clone(), j.sample_id.clone()))
            .collect()
    }

    /// Appends whole lines in one write and flushes them.
    pub fn append(&mut self, lines: &[Judgement]) -> Result<()> {
        let mut buf = Vec::new();
        for j in lines {
            serde_json::to_writer(&mut buf, j).map_err(|e| Error::Io {
                path: self.path.display().to_string(),
                message: e.to_string(),
            })?;
            buf.push(b'\n');
        }
        self.file.write_all(&buf).map_err(io(&self.path))?;
        self.file.flush().map_err(io(&self.path))?;
        self.judgements.extend_from_slice(lines);
        Ok(())
    }

    /// Writes `summary` atomically next to the judgements (`judgements.summary.json`).
    pub fn write_summary(&self, summary: &impl serde::Serialize) -> Result<PathBuf> {
        self.file.sync_all().map_err(io(&self.path))?;
        let path = self.path.with_extension("summary.json");
        let value = serde_json::to_value(summary).map_err(|e| Error::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        write_json_atomic(&path, &value)?;
        Ok(path)
    }
}

/// Reads complete judgements; a torn last line (a kill mid-write) is cut off the file,
/// any other bad line is an error naming it.
fn read_judgements(path: &Path) -> Result<Vec<Judgement>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let mut good_len = 0usize;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        let last = i + 1 == lines.len();
        match serde_json::from_str::<Judgement>(line.trim_end()) {
            Ok(j) if line.ends_with('\n') => {
                out.push(j);
                good_len += line.len();
            }
            _ if last => {
                tracing::warn!(path = %path.display(), line = i + 1, "cutting a torn last line from an interrupted judge run");
                let f = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(io(path))?;
                f.set_len(good_len as u64).map_err(io(path))?;
            }
            Ok(_) => unreachable!("only the last line can lack a newline"),
            Err(e) => {
                return Err(Error::Io {
                    path: path.display().to_string(),
                    message: format!("line {}: not a judgement: {e}", i + 1),
                })
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use trilemma_core::{Outcome, RequestTiming};

    fn j(id: &str) -> Judgement {
        Judgement {
            task: "t".into(),
            sample_id: id.into(),
            raw_output: " 3".into(),
            verdict: Some("3".into()),
            score: Some(1.0),
            outcome: Outcome::Scored,
            prompt_tokens: 5,
            output_tokens: 1,
            timing: RequestTiming::default(),
        }
    }

    #[test]
    fn resumes_after_a_torn_line_and_refuses_another_judge() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(JUDGEMENTS);
        let m = serde_json::json!({"judge": {"sha256": "aa"}, "rubric": {"sha256": "r"}});
        let ids = ["judge.sha256", "rubric.sha256"];
        {
            let mut s = JudgementStore::open(&p, &m, &ids).unwrap();
            assert!(JudgementStore::open(&p, &m, &ids).is_err(), "second writer");
            s.append(&[j("a"), j("b")]).unwrap();
        }
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(br#"{"task":"t","sample_"#).unwrap();
        drop(f);
        let mut s = JudgementStore::open(&p, &m, &ids).unwrap();
        assert_eq!(s.resumed, 2);
        s.append(&[j("c")]).unwrap();
        drop(s);
        let s = JudgementStore::open(&p, &m, &ids).unwrap();
        let got: Vec<_> = s.judgements.iter().map(|j| j.sample_id.as_str()).collect();
        assert_eq!(got, ["a", "b", "c"]);
        drop(s);
        let other = serde_json::json!({"judge": {"sha256": "bb"}, "rubric": {"sha256": "r"}});
        let e = JudgementStore::open(&p, &other, &ids)
            .unwrap_err()
            .to_string();
        assert!(e.contains("judge.sha256"), "{e}");
    }

    #[test]
    fn a_corrupt_middle_line_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(JUDGEMENTS);
        let good = serde_json::to_string(&j("a")).unwrap();
        std::fs::write(&p, format!("{good}\nnot json\n{good}\n")).unwrap();
        let e = JudgementStore::open(&p, &serde_json::json!({}), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
    }
}
