//! LLM as a judge (seed 004): a judge model scores responses on a rubric read from a file.
//!
//! The rubric is TOML: a prompt template and the levels the judge may answer with, each
//! with a score (seed 004: incorrect / partially correct / correct → 0, 0.5, 1). The judge
//! generates greedily; the earliest level label in its output, as a whole word, is the
//! verdict. Its raw output is always kept; an output naming no level is an `Error` outcome,
//! never a crash. Judgements are appended to a JSONL file that a killed process can resume
//! (the file and its types are `trilemma_store::judge`'s).
//!
//! [`JudgeJob`] is the whole of `trilemma judge`: read the judged run, judge its responses
//! into the judgements file, and write the summary.

mod job;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use trilemma_core::{Outcome, RequestTiming};
use trilemma_engine::{Engine, GenerationRequest};

pub use job::{JudgeConfig, JudgeEvent, JudgeJob, JudgeReport, SUMMARY_HOW};
pub use trilemma_store::judge::{
    JudgeManifest, JudgeSummary, JudgeSummaryFile, Judgement, JudgementStore, JUDGEMENTS,
};

/// The rubric shipped with Trilemma: seed 004's three levels.
pub const DEFAULT_RUBRIC: &str = include_str!("../rubrics/seed-004.toml");
/// Where the default rubric lives in the repository (for messages and manifests).
pub const DEFAULT_RUBRIC_PATH: &str = "crates/judge/rubrics/seed-004.toml";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {message}")]
    Rubric { path: String, message: String },
    /// Reading the judged run or writing the judgements.
    #[error(transparent)]
    Store(#[from] trilemma_store::Error),
    #[error("{path} has no scored samples to judge")]
    NothingToJudge { path: PathBuf },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One level of a rubric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Level {
    /// What the judge answers to choose this level (e.g. `3`).
    pub label: String,
    /// The score the level is worth, 0..=1.
    pub score: f64,
    pub description: String,
}

/// A judging rubric: the prompt template and the levels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rubric {
    pub name: String,
    /// Prompt with `{input}`, `{response}` and `{reference}` placeholders.
    pub template: String,
    /// Most tokens the judge may generate.
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    /// Generation stops at any of these strings.
    #[serde(default = "default_stop")]
    pub stop: Vec<String>,
    pub levels: Vec<Level>,
    /// SHA-256 of the rubric file's text (set on loading).
    #[serde(skip)]
    pub sha256: String,
}

fn default_max_tokens() -> u32 {
    8
}

fn default_stop() -> Vec<String> {
    vec!["\n".into()]
}

impl Rubric {
    /// Parses a rubric; errors name `path` and, for TOML errors, the line and field.
    pub fn parse(text: &str, path: &str) -> Result<Self> {
        let err = |message: String| Error::Rubric {
            path: path.to_string(),
            message,
        };
        // A task file carries its rubric in a `[judge]` table (same fields as a rubric file).
        let parsed: Result<Rubric, toml::de::Error> = match toml::from_str::<toml::Table>(text) {
            Ok(t) if t.contains_key("task") && t.contains_key("judge") => {
                let mut judge = t["judge"].clone();
                if let (Some(table), Some(task)) = (judge.as_table_mut(), t["task"].as_str()) {
                    table
                        .entry("name")
                        .or_insert_with(|| toml::Value::String(format!("{task} (task file)")));
                }
                judge.try_into()
            }
            _ => toml::from_str(text),
        };
        let mut r: Rubric = parsed.map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            err(match line {
                Some(l) => format!("line {l}: {}", e.message()),
                None => e.message().to_string(),
            })
        })?;
        if r.levels.len() < 2 {
            return Err(err(
                "field levels: a rubric needs at least two levels".into()
            ));
        }
        for (i, l) in r.levels.iter().enumerate() {
            if !(0.0..=1.0).contains(&l.score) {
                return Err(err(format!(
                    "field levels[{i}].score: {} is outside 0..=1",
                    l.score
                )));
            }
            if l.label.trim().is_empty() || l.label.trim() != l.label {
                return Err(err(format!(
                    "field levels[{i}].label: {:?} must be non-empty without surrounding spaces",
                    l.label
                )));
            }
            if r.levels[..i]
                .iter()
                .any(|o| o.label.eq_ignore_ascii_case(&l.label))
            {
                return Err(err(format!(
                    "field levels[{i}].label: {:?} appears twice",
                    l.label
                )));
            }
        }
        if !r.template.contains("{response}") {
            return Err(err(
                "field template: has no {response} placeholder; the judge would not see the response"
                    .into(),
            ));
        }
        if r.max_tokens == 0 {
            return Err(err("field max_tokens: must be at least 1".into()));
        }
        r.sha256 = hex::encode(Sha256::digest(text.as_bytes()));
        Ok(r)
    }

    /// Reads a rubric file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Rubric {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The default rubric (seed 004).
    pub fn seed_004() -> Self {
        Self::parse(DEFAULT_RUBRIC, DEFAULT_RUBRIC_PATH)
            .unwrap_or_else(|e| unreachable!("the shipped rubric parses: {e}"))
    }

    /// The judge's prompt for one item. Placeholders are filled in one pass, so text
    /// inside the input or response that looks like a placeholder stays as it is.
    pub fn render(&self, item: &JudgeItem) -> String {
        let re = placeholder_re();
        re.replace_all(&self.template, |c: &regex::Captures<'_>| match &c[1] {
            "input" => item.input.clone(),
            "response" => item.response.clone(),
            _ => item.reference.clone(),
        })
        .into_owned()
    }

    /// The level the judge chose: the earliest label in its output, as a whole word
    /// (case-insensitive; the longest label wins at the same position; a label inside a
    /// decimal number such as `1.5` does not count).
    pub fn verdict(&self, raw: &str) -> Option<&Level> {
        let lower = raw.to_lowercase();
        let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        let mut best: Option<(usize, usize, &Level)> = None;
        for level in &self.levels {
            let label = level.label.to_lowercase();
            let mut from = 0;
            while let Some(off) = lower[from..].find(&label) {
                let at = from + off;
                let end = at + label.len();
                let before = lower[..at].chars().next_back();
                let after = lower[end..].chars().next();
                // "1.5" or "0.1" is a number, not the label "1".
                let decimal_after = after == Some('.')
                    && lower[end + 1..]
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_digit());
                let decimal_before = before == Some('.')
                    && lower[..at - 1]
                        .chars()
                        .next_back()
                        .is_some_and(|c| c.is_ascii_digit());
                if !is_word(before) && !is_word(after) && !decimal_after && !decimal_before {
                    let better = match best {
                        None => true,
                        Some((b_at, b_len, _)) => at < b_at || (at == b_at && label.len() > b_len),
                    };
                    if better {
                        best = Some((at, label.len(), level));
                    }
                    break;
                }
                from = at + label.len().max(1);
            }
        }
        best.map(|(_, _, l)| l)
    }
}

fn placeholder_re() -> Regex {
    Regex::new(r"\{(input|response|reference)\}").unwrap_or_else(|e| unreachable!("{e}"))
}

/// One response to judge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeItem {
    pub task: String,
    pub sample_id: String,
    /// What the judged model was asked.
    pub input: String,
    /// What it answered.
    pub response: String,
    /// The reference answer (may be empty).
    pub reference: String,
}

/// Judges `items` (those not already in `store`) in batches, appending as it goes.
/// Returns how many it judged in this call.
pub fn judge_items(
    engine: &mut dyn Engine,
    rubric: &Rubric,
    items: &[JudgeItem],
    batch_size: usize,
    store: &mut JudgementStore,
    mut on_batch: impl FnMut(usize),
) -> Result<usize> {
    let done = store.done();
    let todo: Vec<&JudgeItem> = items
        .iter()
        .filter(|i| !done.contains(&(i.task.clone(), i.sample_id.clone())))
        .collect();
    let mut judged = 0;
    for chunk in todo.chunks(batch_size.max(1)) {
        let requests: Vec<GenerationRequest> = chunk
            .iter()
            .map(|i| GenerationRequest {
                prompt: rubric.render(i),
                max_tokens: rubric.max_tokens,
                stop: rubric.stop.clone(),
                ..Default::default()
            })
            .collect();
        let results = engine.generate(&requests);
        let lines: Vec<Judgement> = chunk
            .iter()
            .zip(results)
            .map(|(item, res)| judgement(rubric, item, res))
            .collect();
        store.append(&lines)?;
        judged += lines.len();
        on_batch(judged);
    }
    Ok(judged)
}

fn judgement(
    rubric: &Rubric,
    item: &JudgeItem,
    res: trilemma_engine::Result<trilemma_engine::Generation>,
) -> Judgement {
    match res {
        Ok(g) => {
            let level = rubric.verdict(&g.text);
            Judgement {
                task: item.task.clone(),
                sample_id: item.sample_id.clone(),
                verdict: level.map(|l| l.label.clone()),
                score: level.map(|l| l.score),
                outcome: match level {
                    Some(_) => Outcome::Scored,
                    None => Outcome::Error {
                        message: format!(
                            "the judge's output names no level of rubric {:?} ({})",
                            rubric.name,
                            rubric
                                .levels
                                .iter()
                                .map(|l| l.label.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    },
                },
                raw_output: g.text,
                prompt_tokens: g.prompt_tokens,
                output_tokens: g.output_tokens,
                timing: g.timing,
            }
        }
        Err(e) => Judgement {
            task: item.task.clone(),
            sample_id: item.sample_id.clone(),
            raw_output: String::new(),
            verdict: None,
            score: None,
            outcome: Outcome::Error {
                message: format!("the judge failed: {e}"),
            },
            prompt_tokens: 0,
            output_tokens: 0,
            timing: RequestTiming::default(),
        },
    }
}

pub fn summarize(judgements: &[Judgement]) -> JudgeSummary {
    let scores: Vec<f64> = judgements.iter().filter_map(|j| j.score).collect();
    let mut counts = BTreeMap::new();
    for j in judgements {
        let key = j.verdict.clone().unwrap_or_else(|| "Error".into());
        *counts.entry(key).or_insert(0) += 1;
    }
    JudgeSummary {
        judged: judgements.len(),
        errors: judgements.len() - scores.len(),
        score: trilemma_core::stats::mean_estimate(&scores).ok(),
        counts,
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_task_file_carries_its_rubric_in_a_judge_table() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/tasks/arithmetic.toml");
        let r = super::Rubric::load(&path).unwrap();
        assert_eq!(r.name, "arithmetic (task file)");
        assert_eq!(r.levels.len(), 3);
        assert!(r.template.contains("{response}"));
    }

    use super::*;

    #[test]
    fn the_shipped_rubric_is_seed_004() {
        let r = Rubric::seed_004();
        let scores: Vec<f64> = r.levels.iter().map(|l| l.score).collect();
        assert_eq!(scores, [0.0, 0.5, 1.0]);
        assert_eq!(r.sha256.len(), 64);
    }

    #[test]
    fn verdict_is_the_earliest_whole_word_label() {
        let r = Rubric::seed_004();
        assert_eq!(r.verdict(" 3").map(|l| l.score), Some(1.0));
        assert_eq!(r.verdict("Score: 2 (not 3)").map(|l| l.score), Some(0.5));
        assert_eq!(r.verdict(" 10 out of 1"), r.levels.first());
        assert_eq!(r.verdict(" 12"), None);
        assert_eq!(r.verdict(" 1.5"), None);
        assert_eq!(r.verdict("0.3 or 2."), r.levels.get(1));
        assert_eq!(r.verdict("excellent"), None);
        assert_eq!(r.verdict(""), None);
        let words = Rubric::parse(
            r#"name = "w"
template = "{response}"
[[levels]]
label = "incorrect"
score = 0.0
description = ""
[[levels]]
label = "correct"
score = 1.0
description = ""
"#,
            "w.toml",
        )
        .unwrap();
        assert_eq!(words.verdict("Incorrect.").map(|l| l.score), Some(0.0));
        assert_eq!(words.verdict("it is correct").map(|l| l.score), Some(1.0));
    }

    #[test]
    fn render_fills_placeholders_once() {
        let r = Rubric::parse(
            "name = \"t\"\ntemplate = \"Q={input} A={response} R={reference}\"\n[[levels]]\nlabel = \"0\"\nscore = 0.0\ndescription = \"\"\n[[levels]]\nlabel = \"1\"\nscore = 1.0\ndescription = \"\"\n",
            "t.toml",
        )
        .unwrap();
        let item = JudgeItem {
            task: "t".into(),
            sample_id: "1".into(),
            input: "say {response}".into(),
            response: "ok".into(),
            reference: "ok!".into(),
        };
        assert_eq!(r.render(&item), "Q=say {response} A=ok R=ok!");
    }

    #[test]
    fn bad_rubrics_name_file_line_and_field() {
        let e = Rubric::parse("name = \"x\"\ntemplate = 3\nlevels = []\n", "bad.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("bad.toml: line 2"), "{e}");
        let e = Rubric::parse(
            "name = \"x\"\ntemplate = \"{response}\"\nlevels = []\nwho = 1\n",
            "u.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("u.toml: line 4") && e.contains("who"), "{e}");
        let e = Rubric::parse(
            "name = \"x\"\ntemplate = \"{input}\"\n[[levels]]\nlabel = \"a\"\nscore = 0.0\ndescription = \"\"\n[[levels]]\nlabel = \"b\"\nscore = 2.0\ndescription = \"\"\n",
            "s.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("levels[1].score"), "{e}");
    }

    #[test]
    fn summary_excludes_errors_from_the_mean() {
        let j = |v: Option<(&str, f64)>| Judgement {
            task: "t".into(),
            sample_id: "x".into(),
            raw_output: "r".into(),
            verdict: v.map(|(l, _)| l.to_string()),
            score: v.map(|(_, s)| s),
            outcome: if v.is_some() {
                Outcome::Scored
            } else {
                Outcome::Error {
                    message: "m".into(),
                }
            },
            prompt_tokens: 1,
            output_tokens: 1,
            timing: RequestTiming::default(),
        };
        let s = summarize(&[j(Some(("3", 1.0))), j(Some(("2", 0.5))), j(None)]);
        assert_eq!(s.judged, 3);
        assert_eq!(s.errors, 1);
        assert_eq!(s.score.unwrap().value, 0.75);
        assert_eq!(s.counts["Error"], 1);
    }
}
