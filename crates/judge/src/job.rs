//! `trilemma judge` as a library: read a run's responses, judge them into the judgements
//! file (resuming what is there), and write the summary.
//!
//! It comes in two steps so that a mistyped run or rubric is refused before the judge
//! model is loaded: [`JudgeJob::prepare`] reads the rubric and the judged run,
//! [`JudgeJob::run`] takes the judge engine and does the judging.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use trilemma_assets::{Cache, Catalog};
use trilemma_engine::Engine;
use trilemma_store::judge::{
    JudgeManifest, JudgeModel, JudgeSummaryFile, Judgement, JudgementStore, RubricLevel,
    RubricRecord, JUDGEMENTS, JUDGE_SCHEMA_VERSION,
};

use crate::{judge_items, summarize, Error, JudgeItem, Result, Rubric, DEFAULT_RUBRIC_PATH};

/// How the summary's score is computed, as written into `judgements.summary.json`.
pub const SUMMARY_HOW: &str = "mean of the rubric scores of the judgements with a verdict \
     (errors excluded); 95% percentile bootstrap CI, 1,000 resamples, fixed seed; stderr as lm-eval's";

/// What to judge, where, and with which rubric.
#[derive(Debug, Clone)]
pub struct JudgeConfig {
    /// The run directory whose responses are judged (first repeat of each sample).
    pub run: PathBuf,
    /// A rubric file, or a task file whose `[judge]` table holds one; `None`: the shipped
    /// seed-004 rubric.
    pub rubric: Option<PathBuf>,
    /// The judgements file; `None`: `RUN/judgements.jsonl`. An existing one is resumed.
    pub out: Option<PathBuf>,
    /// Judge only the first N samples.
    pub limit: Option<usize>,
    /// Responses judged together in one engine call.
    pub batch_size: usize,
    /// The command line, recorded in the manifest.
    pub command: Vec<String>,
    /// Where the judged run's task data is found, to show the judge what was asked.
    pub cache: Cache,
}

impl JudgeConfig {
    /// The judgements file this config writes.
    pub fn judgements_path(&self) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| self.run.join(JUDGEMENTS))
    }
}

/// What [`JudgeJob::run`] reports as it goes.
#[derive(Debug, Clone, PartialEq)]
pub enum JudgeEvent {
    /// The judgements file already held `already` judgements; they are kept.
    Resumed { already: usize, path: PathBuf },
    /// Judging starts: `total` responses, `already` of them judged before.
    Started {
        judge: String,
        total: usize,
        already: usize,
    },
    /// `done` of the `total` responses are judged (those judged before included).
    Judged { done: usize },
}

/// A judge run, read and checked, waiting for its judge model.
#[derive(Debug, Clone)]
pub struct JudgeJob {
    config: JudgeConfig,
    rubric: Rubric,
    /// Where the rubric came from, for the manifest.
    rubric_path: String,
    run_id: Option<String>,
    items: Vec<JudgeItem>,
    /// Samples (first repeats) with an error outcome: they have no response to judge.
    pub unscored: usize,
    /// Why the judge sees responses without the questions they answer, when it does.
    pub inputs_unavailable: Option<String>,
}

/// The result of a judge run: the summary written, and where.
#[derive(Debug, Clone)]
pub struct JudgeReport {
    pub summary: JudgeSummaryFile,
    pub summary_path: PathBuf,
}

impl JudgeJob {
    /// Loads the rubric and reads the judged run: the first repeat of every scored sample
    /// is one response to judge (up to `limit`).
    pub fn prepare(config: JudgeConfig) -> Result<Self> {
        let (rubric, rubric_path) = match &config.rubric {
            Some(p) => (Rubric::load(p)?, p.display().to_string()),
            None => (Rubric::seed_004(), DEFAULT_RUBRIC_PATH.to_string()),
        };
        let records = trilemma_store::run::read_samples(&config.run)?;
        let (run_id, inputs, inputs_unavailable) =
            match trilemma_store::run::read_manifest(&config.run) {
                Ok(m) => match task_inputs(&m.task.name, &config.cache) {
                    Ok(inputs) => (Some(m.run_id), inputs, None),
                    Err(e) => (
                        Some(m.run_id),
                        HashMap::new(),
                        Some(format!(
                            "the inputs of task {:?} are unavailable ({e})",
                            m.task.name
                        )),
                    ),
                },
                Err(e) => (
                    None,
                    HashMap::new(),
                    Some(format!("the judged run's manifest is unreadable ({e})")),
                ),
            };
        let mut items: Vec<JudgeItem> = records
            .iter()
            .filter(|r| r.repeat == 0 && r.is_scored())
            .map(|r| JudgeItem {
                task: r.task.clone(),
                sample_id: r.sample_id.clone(),
                input: inputs.get(&r.sample_id).cloned().unwrap_or_default(),
                response: r.prediction.clone(),
                reference: r.gold.clone(),
            })
            .collect();
        let unscored = records.iter().filter(|r| r.repeat == 0).count() - items.len();
        if let Some(n) = config.limit {
            items.truncate(n);
        }
        if items.is_empty() {
            return Err(Error::NothingToJudge {
                path: config.run.clone(),
            });
        }
        Ok(Self {
            config,
            rubric,
            rubric_path,
            run_id,
            items,
            unscored,
            inputs_unavailable,
        })
    }

    pub fn rubric(&self) -> &Rubric {
        &self.rubric
    }

    /// The responses to judge.
    pub fn items(&self) -> &[JudgeItem] {
        &self.items
    }

    /// Judges the responses not already in the judgements file with `engine`, appending
    /// as it goes, then writes the summary of this job's responses.
    pub fn run(
        self,
        engine: &mut dyn Engine,
        mut on_event: impl FnMut(JudgeEvent),
    ) -> Result<JudgeReport> {
        let info = engine.model_info().clone();
        let manifest = JudgeManifest {
            schema_version: JUDGE_SCHEMA_VERSION,
            trilemma_version: env!("CARGO_PKG_VERSION").to_string(),
            created_at: chrono::Utc::now().to_rfc3339(),
            command: self.config.command.clone(),
            run: self.config.run.clone(),
            run_id: self.run_id.clone(),
            judge: JudgeModel {
                name: info.name.clone(),
                sha256: info.sha256.clone(),
                engine: engine.engine_info(),
            },
            rubric: RubricRecord {
                name: self.rubric.name.clone(),
                path: self.rubric_path.clone(),
                sha256: self.rubric.sha256.clone(),
                levels: self
                    .rubric
                    .levels
                    .iter()
                    .map(|l| RubricLevel {
                        label: l.label.clone(),
                        score: l.score,
                        description: l.description.clone(),
                    })
                    .collect(),
                max_tokens: self.rubric.max_tokens,
            },
            decoding: "greedy (argmax), temperature 0".to_string(),
        };
        let out = self.config.judgements_path();
        let mut store = JudgementStore::open(&out, &manifest)?;
        if !store.existing().is_empty() {
            on_event(JudgeEvent::Resumed {
                already: store.existing().len(),
                path: out.clone(),
            });
        }
        let key = |task: &str, id: &str| (task.to_string(), id.to_string());
        let done = store.done();
        let already = self
            .items
            .iter()
            .filter(|i| done.contains(&key(&i.task, &i.sample_id)))
            .count();
        on_event(JudgeEvent::Started {
            judge: info.name.clone(),
            total: self.items.len(),
            already,
        });
        judge_items(
            engine,
            &self.rubric,
            &self.items,
            self.config.batch_size,
            &mut store,
            |n| on_event(JudgeEvent::Judged { done: already + n }),
        )?;

        let wanted: HashSet<(String, String)> = self
            .items
            .iter()
            .map(|i| key(&i.task, &i.sample_id))
            .collect();
        let judged: Vec<Judgement> = store
            .judgements()
            .filter(|j| wanted.contains(&key(&j.task, &j.sample_id)))
            .cloned()
            .collect();
        let summary = JudgeSummaryFile {
            judgements: out,
            rubric: self.rubric.name.clone(),
            judge: info.name,
            summary: summarize(&judged),
            how: SUMMARY_HOW.to_string(),
        };
        let summary_path = store.write_summary(&summary)?;
        Ok(JudgeReport {
            summary,
            summary_path,
        })
    }
}

/// What the judged model was asked, by sample id, for a built-in task whose data the
/// cache holds (or can fetch).
fn task_inputs(name: &str, cache: &Cache) -> Result<HashMap<String, String>, String> {
    let data_set = trilemma_tasks::data_set_for(name).map_err(|e| e.to_string())?;
    let package = cache
        .dataset(&Catalog::builtin(), data_set)
        .map_err(|e| e.to_string())?;
    let task = trilemma_tasks::load(name, &package).map_err(|e| e.to_string())?;
    Ok(task
        .items
        .iter()
        .map(|item| (item.id().to_string(), item.prompt().to_string()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run directory of samples only (no manifest): (id, repeat, scored).
    fn run_dir(dir: &std::path::Path, samples: &[(&str, u32, bool)]) {
        let mut text = String::new();
        for (id, repeat, scored) in samples {
            let outcome = if *scored {
                serde_json::json!({"status": "scored"})
            } else {
                serde_json::json!({"status": "error", "message": "boom"})
            };
            let r = serde_json::json!({
                "sample_id": id, "task": "t", "repeat": repeat, "session": 0,
                "outcome": outcome, "prediction": format!("answer {id}"), "gold": "g",
                "scores": {}, "tokens": {"input": 1, "output": 1},
                "timing": {"start_ns": 0, "end_ns": 1}, "detail": null
            });
            text.push_str(&r.to_string());
            text.push('\n');
        }
        std::fs::write(dir.join(trilemma_store::run::SAMPLES), text).unwrap();
    }

    fn config(dir: &std::path::Path) -> JudgeConfig {
        JudgeConfig {
            run: dir.to_path_buf(),
            rubric: None,
            out: None,
            limit: None,
            batch_size: 4,
            command: vec![],
            cache: Cache::new(dir.join("cache")),
        }
    }

    #[test]
    fn prepare_takes_the_first_repeat_of_each_scored_sample() {
        let dir = tempfile::tempdir().unwrap();
        run_dir(
            dir.path(),
            &[
                ("a", 0, true),
                ("a", 1, true),
                ("b", 0, false),
                ("c", 0, true),
            ],
        );
        let job = JudgeJob::prepare(config(dir.path())).unwrap();
        let ids: Vec<&str> = job.items().iter().map(|i| i.sample_id.as_str()).collect();
        assert_eq!(ids, ["a", "c"]);
        assert_eq!(job.items()[0].response, "answer a");
        assert_eq!(job.items()[0].reference, "g");
        assert_eq!(job.unscored, 1);
        assert_eq!(job.rubric().name, Rubric::seed_004().name);
        // Without the run's manifest the judge sees no questions, and says why.
        let why = job.inputs_unavailable.unwrap();
        assert!(why.contains("manifest.json"), "{why}");
        assert_eq!(
            config(dir.path()).judgements_path(),
            dir.path().join(JUDGEMENTS)
        );

        let limited = JudgeJob::prepare(JudgeConfig {
            limit: Some(1),
            ..config(dir.path())
        })
        .unwrap();
        assert_eq!(limited.items().len(), 1);
    }

    #[test]
    fn a_run_without_scored_samples_or_a_bad_rubric_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        run_dir(dir.path(), &[("b", 0, false)]);
        let e = JudgeJob::prepare(config(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("has no scored samples to judge"), "{e}");

        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "name = \"x\"\ntemplate = 7\n").unwrap();
        let e = JudgeJob::prepare(JudgeConfig {
            rubric: Some(bad),
            ..config(dir.path())
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("bad.toml: line 2"), "{e}");

        let e = JudgeJob::prepare(config(&dir.path().join("nothing")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("samples.jsonl"), "{e}");
    }
}
