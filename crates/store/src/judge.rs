//! The judgement file: what `trilemma judge` leaves next to a judged run (or at `--out`).
//!
//! - `judgements.jsonl` (one [`Judgement`] per line): appended and flushed per batch, so a
//!   killed judge loses at most the batch in flight; a torn last line is cut on resuming;
//! - `judgements.manifest.json` ([`JudgeManifest`]): written once, atomically; a resumed
//!   judge must match it on [`JudgeManifest::IDENTITY`] (same judge model, same rubric);
//! - `judgements.summary.json` ([`JudgeSummaryFile`]): derived from the judgements, written
//!   atomically at the end;
//! - `judgements.lock`: held while a process writes the judgements.
//!
//! The three companions are named after the judgements file: `--out x.jsonl` writes
//! `x.manifest.json`, `x.summary.json` and `x.lock`.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use trilemma_core::stats::Estimate;
use trilemma_core::{EngineInfo, Outcome, RequestTiming};

use crate::{read_json, read_jsonl, write_json_atomic, JsonlStore, Layout, Result};

/// Default file name, inside the judged run's directory.
pub const JUDGEMENTS: &str = "judgements.jsonl";

/// The manifest's schema version this build writes. Files without one are version 0
/// (written before the field existed) and read the same way.
pub const JUDGE_SCHEMA_VERSION: u32 = 1;

/// One line of `judgements.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    pub task: String,
    pub sample_id: String,
    /// The judge's output exactly as generated.
    pub raw_output: String,
    /// The level label found in the output.
    pub verdict: Option<String>,
    /// The level's score (0..=1); absent for an error.
    pub score: Option<f64>,
    pub outcome: Outcome,
    pub prompt_tokens: u32,
    pub output_tokens: u32,
    pub timing: RequestTiming,
}

/// `judgements.manifest.json`: the judged run, the judge model and the rubric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeManifest {
    #[serde(default)]
    pub schema_version: u32,
    pub trilemma_version: String,
    pub created_at: String,
    /// The command line that started the judge.
    #[serde(default)]
    pub command: Vec<String>,
    /// The judged run's directory.
    pub run: PathBuf,
    /// The judged run's id (absent when its manifest could not be read).
    pub run_id: Option<String>,
    pub judge: JudgeModel,
    pub rubric: RubricRecord,
    /// How the judge chose tokens.
    pub decoding: String,
}

impl JudgeManifest {
    /// The fields a resumed judge must share with the one on disk.
    pub const IDENTITY: &'static [&'static str] = &["judge.name", "judge.sha256", "rubric.sha256"];
}

/// The judge model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeModel {
    pub name: String,
    /// SHA-256 of the weights file, when the engine loaded a file.
    pub sha256: Option<String>,
    pub engine: EngineInfo,
}

/// The rubric the judge scored on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RubricRecord {
    pub name: String,
    /// The rubric's file (or the task file holding it).
    pub path: String,
    /// SHA-256 of the rubric file's text.
    pub sha256: String,
    pub levels: Vec<RubricLevel>,
    /// Most tokens the judge could generate.
    pub max_tokens: u32,
}

/// One level of the rubric, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RubricLevel {
    pub label: String,
    pub score: f64,
    pub description: String,
}

/// Mean judge score with its uncertainty, and how the verdicts split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeSummary {
    pub judged: usize,
    pub errors: usize,
    /// Mean score over the judgements with a verdict (errors excluded), with the standard
    /// error and a 95% percentile bootstrap CI (1,000 resamples, fixed seed).
    pub score: Option<Estimate>,
    /// Judgements per verdict label, plus `Error`.
    pub counts: BTreeMap<String, usize>,
}

/// `judgements.summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeSummaryFile {
    /// The judgements file summarized.
    pub judgements: PathBuf,
    /// The rubric's name.
    pub rubric: String,
    /// The judge model's name.
    pub judge: String,
    pub summary: JudgeSummary,
    /// How the summary was computed, in words.
    pub how: String,
}

/// `judgements.jsonl` -> `judgements.manifest.json`.
pub fn manifest_path(judgements: &Path) -> PathBuf {
    judgements.with_extension("manifest.json")
}

/// `judgements.jsonl` -> `judgements.summary.json`.
pub fn summary_path(judgements: &Path) -> PathBuf {
    judgements.with_extension("summary.json")
}

/// The store layout of a judgements file.
pub fn layout(judgements: &Path) -> Layout {
    Layout {
        records: judgements.to_path_buf(),
        manifest: manifest_path(judgements),
        lock: judgements.with_extension("lock"),
        what: "judge run",
    }
}

/// A judgements file open for writing, locked for this process.
#[derive(Debug)]
pub struct JudgementStore {
    store: JsonlStore<Judgement>,
}

impl JudgementStore {
    /// Opens (or creates) the judgements file at `path` for `manifest`. A file written
    /// with another judge model or rubric is refused, naming the field that differs.
    pub fn open(path: &Path, manifest: &JudgeManifest) -> Result<Self> {
        Self::open_with(path, manifest, JudgeManifest::IDENTITY)
    }

    /// As [`JudgementStore::open`], with any manifest type and identity fields.
    pub fn open_with(path: &Path, manifest: &impl Serialize, identity: &[&str]) -> Result<Self> {
        Ok(Self {
            store: JsonlStore::open(layout(path), manifest, identity)?,
        })
    }

    /// The judgements file.
    pub fn path(&self) -> &Path {
        &self.store.layout().records
    }

    /// Judgements already in the file when it was opened.
    pub fn existing(&self) -> &[Judgement] {
        &self.store.existing
    }

    /// (task, sample id) pairs already judged.
    pub fn done(&self) -> HashSet<(String, String)> {
        self.store
            .records()
            .map(|j| (j.task.clone(), j.sample_id.clone()))
            .collect()
    }

    /// Appends judgements in one write and hands them to the OS before returning.
    pub fn append(&mut self, judgements: &[Judgement]) -> Result<()> {
        self.store.append(judgements)
    }

    /// Every judgement: those found on opening, then those appended since.
    pub fn judgements(&self) -> impl Iterator<Item = &Judgement> {
        self.store.records()
    }

    /// Syncs the judgements, then writes `summary` atomically next to them
    /// (`judgements.summary.json`); returns its path.
    pub fn write_summary(&self, summary: &JudgeSummaryFile) -> Result<PathBuf> {
        self.store.sync()?;
        let path = summary_path(self.path());
        write_json_atomic(&path, summary)?;
        Ok(path)
    }
}

/// Reads a judgements file's complete judgements (a torn last line is left out).
pub fn read_judgements(judgements: &Path) -> Result<Vec<Judgement>> {
    read_jsonl(judgements)
}

/// Reads the manifest next to a judgements file (any schema version up to this build's).
pub fn read_manifest(judgements: &Path) -> Result<JudgeManifest> {
    let path = manifest_path(judgements);
    let m: JudgeManifest = read_json(&path)?;
    crate::check_schema(&path, m.schema_version, JUDGE_SCHEMA_VERSION)?;
    Ok(m)
}

/// Reads the summary next to a judgements file.
pub fn read_summary(judgements: &Path) -> Result<JudgeSummaryFile> {
    read_json(&summary_path(judgements))
}

#[cfg(test)]
mod tests {
    use std::fs::OpenOptions;
    use std::io::Write;

    use super::*;

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

    fn manifest(judge_sha: &str) -> JudgeManifest {
        JudgeManifest {
            schema_version: JUDGE_SCHEMA_VERSION,
            trilemma_version: "0.1.0".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            command: vec!["trilemma".into(), "judge".into()],
            run: "run".into(),
            run_id: Some("r".into()),
            judge: JudgeModel {
                name: "judge".into(),
                sha256: Some(judge_sha.into()),
                engine: EngineInfo {
                    kind: "llama.cpp".into(),
                    version: "v".into(),
                    threads: Some(2),
                    device: "cpu".into(),
                    max_batch: 4,
                    gpu_layers: None,
                },
            },
            rubric: RubricRecord {
                name: "r".into(),
                path: "r.toml".into(),
                sha256: "rr".into(),
                levels: vec![],
                max_tokens: 8,
            },
            decoding: "greedy".into(),
        }
    }

    fn ids(s: &JudgementStore) -> Vec<&str> {
        s.judgements().map(|j| j.sample_id.as_str()).collect()
    }

    #[test]
    fn resumes_after_a_torn_line_and_refuses_another_judge() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(JUDGEMENTS);
        let m = manifest("aa");
        {
            let mut s = JudgementStore::open(&p, &m).unwrap();
            let e = JudgementStore::open(&p, &m).unwrap_err().to_string();
            assert!(e.contains("judgements.lock"), "second writer: {e}");
            s.append(&[j("a"), j("b")]).unwrap();
        }
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(br#"{"task":"t","sample_"#).unwrap();
        drop(f);
        assert_eq!(read_judgements(&p).unwrap().len(), 2);
        let mut s = JudgementStore::open(&p, &m).unwrap();
        assert_eq!(s.existing().len(), 2);
        s.append(&[j("c")]).unwrap();
        assert_eq!(ids(&s), ["a", "b", "c"]);
        drop(s);
        let s = JudgementStore::open(&p, &m).unwrap();
        assert_eq!(ids(&s), ["a", "b", "c"]);
        assert_eq!(
            s.done(),
            HashSet::from([
                ("t".into(), "a".into()),
                ("t".into(), "b".into()),
                ("t".into(), "c".into())
            ])
        );
        drop(s);
        let e = JudgementStore::open(&p, &manifest("bb"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("judge.sha256") && e.contains("\"aa\"") && e.contains("judge run"),
            "{e}"
        );
    }

    #[test]
    fn a_corrupt_middle_line_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(JUDGEMENTS);
        let good = serde_json::to_string(&j("a")).unwrap();
        std::fs::write(&p, format!("{good}\nnot json\n{good}\n")).unwrap();
        let e = JudgementStore::open(&p, &manifest("aa"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains(JUDGEMENTS), "{e}");
    }

    #[test]
    fn files_are_named_after_the_judgements_and_read_back_typed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out/x.jsonl");
        let m = manifest("aa");
        let mut s = JudgementStore::open(&p, &m).unwrap();
        s.append(&[j("a")]).unwrap();
        let summary = JudgeSummaryFile {
            judgements: p.clone(),
            rubric: "r".into(),
            judge: "judge".into(),
            summary: JudgeSummary {
                judged: 1,
                errors: 0,
                score: None,
                counts: BTreeMap::from([("3".into(), 1)]),
            },
            how: "mean".into(),
        };
        let written = s.write_summary(&summary).unwrap();
        drop(s);
        assert_eq!(written, dir.path().join("out/x.summary.json"));
        assert!(dir.path().join("out/x.lock").exists());
        assert_eq!(read_manifest(&p).unwrap(), m);
        assert_eq!(read_summary(&p).unwrap(), summary);
        assert_eq!(read_judgements(&p).unwrap(), [j("a")]);
    }

    #[test]
    fn a_newer_manifest_is_refused_and_an_unversioned_one_reads() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(JUDGEMENTS);
        let mut v = serde_json::to_value(manifest("aa")).unwrap();
        v.as_object_mut().unwrap().remove("schema_version");
        std::fs::write(manifest_path(&p), v.to_string()).unwrap();
        assert_eq!(read_manifest(&p).unwrap().schema_version, 0);
        v["schema_version"] = (JUDGE_SCHEMA_VERSION + 1).into();
        std::fs::write(manifest_path(&p), v.to_string()).unwrap();
        let e = read_manifest(&p).unwrap_err().to_string();
        assert!(e.contains("schema version 2"), "{e}");
    }
}
