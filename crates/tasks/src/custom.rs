//! Custom tasks described in a TOML file with lm-evaluation-harness's field names, over a
//! local JSONL or CSV file.
//!
//! ```toml
//! task = "capitals"
//! dataset_path = "capitals.jsonl"        # relative to this file; .jsonl or .csv
//! output_type = "multiple_choice"        # or "generate_until"
//! doc_to_text = "Question: {{question}}\nAnswer:"
//! doc_to_choice = "{{choices}}"          # a field holding a list, or a literal list
//! doc_to_target = "{{answer}}"           # index or text of the right choice / the reference
//! target_delimiter = " "
//! fewshot_delimiter = "\n\n"
//! metric_list = [{ metric = "acc" }, { metric = "acc_norm" }]
//! [generation_kwargs]
//! until = ["\n"]
//! max_gen_toks = 32
//! [[filter_list]]
//! name = "strict"
//! filter = [{ function = "regex", regex_pattern = "answer is (\\w+)" }, { function = "take_first" }]
//! [judge]                                # optional: the rubric for `trilemma judge`
//! template = "...{input}...{reference}...{response}..."
//! levels = [{ label = "1", score = 0.0 }, { label = "2", score = 0.5 }, { label = "3", score = 1.0 }]
//! ```
//!
//! Templates substitute `{{field}}` (or `{{ field }}`, `{{a.b}}` for nested objects) with
//! the row's value. A row that cannot be parsed or lacks a field a template needs is
//! skipped with a counted warning naming its line.

use std::path::{Path, PathBuf};

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

use crate::{Error, FilterStep, Item, OutputType, Result, Task, TaskInfo};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskFile {
    task: String,
    dataset_path: String,
    output_type: String,
    doc_to_text: String,
    doc_to_target: String,
    #[serde(default)]
    doc_to_choice: Option<Choice>,
    #[serde(default = "space")]
    target_delimiter: String,
    #[serde(default = "blank_line")]
    fewshot_delimiter: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    generation_kwargs: GenerationKwargs,
    metric_list: Vec<MetricEntry>,
    #[serde(default)]
    filter_list: Vec<FilterEntry>,
    /// The rubric `trilemma judge --rubric THIS_FILE` scores responses with (fields as
    /// in crates/judge/rubrics/seed-004.toml); the task itself does not read it.
    #[serde(default)]
    #[allow(dead_code)]
    judge: Option<toml::Table>,
}

fn space() -> String {
    " ".into()
}
fn blank_line() -> String {
    "\n\n".into()
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Choice {
    Template(String),
    List(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GenerationKwargs {
    #[serde(default)]
    until: Vec<String>,
    #[serde(default)]
    max_gen_toks: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricEntry {
    metric: String,
    #[serde(default)]
    aggregation: Option<String>,
    #[serde(default)]
    higher_is_better: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilterEntry {
    #[serde(default)]
    name: String,
    filter: Vec<FilterFn>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilterFn {
    function: String,
    #[serde(default)]
    regex_pattern: Option<String>,
    #[serde(default)]
    group_select: Option<i64>,
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line where `key` is assigned (or first mentioned), for errors found after parsing.
fn line_of_key(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            let t = l.trim_start();
            t.starts_with(key) && t[key.len()..].trim_start().starts_with('=')
        })
        .or_else(|| text.lines().position(|l| l.contains(key)))
        .map_or(1, |i| i + 1)
}

fn file_err(path: &Path, line: usize, field: &str, message: impl Into<String>) -> Error {
    Error::TaskFile {
        path: path.display().to_string(),
        line,
        field: field.into(),
        message: message.into(),
    }
}

/// The field a `toml` error is about: the text between the first pair of backticks.
fn field_in(message: &str) -> String {
    message
        .split('`')
        .nth(1)
        .map_or_else(|| "?".to_string(), String::from)
}

/// Metrics a multiple-choice task can ask for.
const MC_METRICS: &[&str] = &["acc", "acc_norm"];

/// Renders `{{ field }}` placeholders from a row; `None` when a field is missing.
fn render(template: &str, row: &Value) -> Option<String> {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}").expect("valid"));
    let mut out = String::new();
    let mut last = 0;
    for c in re.captures_iter(template) {
        let m = c.get(0)?;
        out.push_str(&template[last..m.start()]);
        out.push_str(&value_text(lookup(row, &c[1])?));
        last = m.end();
    }
    out.push_str(&template[last..]);
    Some(out)
}

fn lookup<'a>(row: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(row, |v, k| match v {
        Value::Object(o) => o.get(k),
        Value::Array(a) => a.get(k.parse::<usize>().ok()?),
        _ => None,
    })
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A template that is exactly one placeholder, e.g. `{{choices}}`: its field name.
fn sole_field(template: &str) -> Option<&str> {
    let t = template.trim();
    let inner = t.strip_prefix("{{")?.strip_suffix("}}")?.trim();
    (!inner.contains('{')).then_some(inner)
}

/// Reads the data rows: (1-based line, row) and the number of rows skipped.
fn read_rows(path: &Path) -> Result<(Vec<(usize, Value)>, usize)> {
    let data_err = |message: String| Error::Data {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| data_err(e.to_string()))?;
    let mut rows = Vec::new();
    let mut skipped = 0;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_lowercase();
    match ext.as_str() {
        "jsonl" | "json" => {
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<Value>(line) {
                    Ok(v) if v.is_object() => rows.push((i + 1, v)),
                    Ok(_) => {
                        tracing::warn!(path = %path.display(), line = i + 1, "skipping a row that is not a JSON object");
                        skipped += 1;
                    }
                    Err(e) => {
                        tracing::warn!(path = %path.display(), line = i + 1, %e, "skipping a row that does not parse");
                        skipped += 1;
                    }
                }
            }
        }
        "csv" => {
            let mut reader = csv::Reader::from_reader(text.as_bytes());
            let headers = reader
                .headers()
                .map_err(|e| data_err(format!("line 1: {e}")))?
                .clone();
            for rec in reader.records() {
                match rec {
                    Ok(r) if r.len() == headers.len() => {
                        let line = r.position().map_or(0, |p| p.line() as usize);
                        let obj = headers
                            .iter()
                            .zip(r.iter())
                            .map(|(h, v)| (h.to_string(), Value::String(v.to_string())))
                            .collect();
                        rows.push((line, Value::Object(obj)));
                    }
                    Ok(r) => {
                        let line = r.position().map_or(0, |p| p.line());
                        tracing::warn!(path = %path.display(), line, "skipping a row with the wrong number of fields");
                        skipped += 1;
                    }
                    Err(e) => {
                        tracing::warn!(path = %path.display(), %e, "skipping a row that does not parse");
                        skipped += 1;
                    }
                }
            }
        }
        other => {
            return Err(data_err(format!(
                "unsupported data file type {other:?} (use .jsonl or .csv)"
            )))
        }
    }
    Ok((rows, skipped))
}

/// Loads a task file and its data.
pub fn load_task_file(path: &Path) -> Result<Task> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Data {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let spec: TaskFile = toml::from_str(&text).map_err(|e| {
        let line = e.span().map_or(1, |s| line_of(&text, s.start));
        let message = e.message().to_string();
        file_err(path, line, &field_in(&message), message)
    })?;
    let output_type = match spec.output_type.as_str() {
        "multiple_choice" => OutputType::MultipleChoice,
        "generate_until" => OutputType::GenerateUntil,
        other => {
            return Err(file_err(
                path,
                line_of_key(&text, "output_type"),
                "output_type",
                format!("unknown output type {other:?}; use multiple_choice or generate_until"),
            ))
        }
    };
    if spec.metric_list.is_empty() {
        return Err(file_err(
            path,
            line_of_key(&text, "metric_list"),
            "metric_list",
            "names no metric",
        ));
    }
    let mut per_sample = Vec::new();
    let mut corpus = Vec::new();
    for m in &spec.metric_list {
        let _ = (&m.aggregation, m.higher_is_better);
        let name = m.metric.as_str();
        let known = match output_type {
            OutputType::MultipleChoice => MC_METRICS.contains(&name),
            _ => trilemma_scoring::METRICS.contains(&name),
        };
        if !known {
            let list = match output_type {
                OutputType::MultipleChoice => MC_METRICS.join(", "),
                _ => trilemma_scoring::METRICS.join(", "),
            };
            return Err(file_err(
                path,
                line_of_key(&text, &format!("\"{name}\"")),
                "metric_list.metric",
                format!(
                    "unknown metric {name:?} for {}; known: {list}",
                    spec.output_type
                ),
            ));
        }
        if matches!(name, "bleu" | "chrf" | "macro_f1") {
            corpus.push(name.to_string());
        } else {
            per_sample.push(name.to_string());
        }
    }
    let mut filters = Vec::new();
    // lm-eval scores each filter pipeline separately; this applies the first one.
    let filter_name = spec.filter_list.first().map(|f| f.name.clone());
    for f in spec.filter_list.iter().take(1).flat_map(|f| &f.filter) {
        let step = match f.function.as_str() {
            "regex" => {
                let pattern = f.regex_pattern.clone().ok_or_else(|| {
                    file_err(
                        path,
                        line_of_key(&text, "function"),
                        "filter_list.filter.regex_pattern",
                        "a regex filter needs regex_pattern",
                    )
                })?;
                Regex::new(&pattern).map_err(|e| {
                    file_err(
                        path,
                        line_of_key(&text, "regex_pattern"),
                        "filter_list.filter.regex_pattern",
                        e.to_string(),
                    )
                })?;
                FilterStep::Regex {
                    pattern,
                    group_select: f.group_select.unwrap_or(0),
                }
            }
            "take_first" => continue,
            "lowercase" => FilterStep::Lowercase,
            "uppercase" => FilterStep::Uppercase,
            "strip" => FilterStep::Strip,
            other => {
                return Err(file_err(
                    path,
                    line_of_key(&text, &format!("\"{other}\"")),
                    "filter_list.filter.function",
                    format!("unknown filter {other:?}; known: regex, take_first, lowercase, uppercase, strip"),
                ))
            }
        };
        filters.push(step);
    }
    if output_type == OutputType::MultipleChoice && spec.doc_to_choice.is_none() {
        return Err(file_err(
            path,
            1,
            "doc_to_choice",
            "a multiple_choice task needs doc_to_choice",
        ));
    }

    let data_path: PathBuf = path
        .parent()
        .unwrap_or(Path::new("."))
        .join(&spec.dataset_path);
    let (rows, mut skipped) = read_rows(&data_path)?;
    let mut items = Vec::new();
    for (line, row) in &rows {
        let item = (|| -> Option<Item> {
            let text_ = format!("{}{}", spec.description, render(&spec.doc_to_text, row)?);
            let target = render(&spec.doc_to_target, row)?;
            let id = format!("line-{line}");
            match output_type {
                OutputType::MultipleChoice => {
                    let choices: Vec<String> = match spec.doc_to_choice.as_ref()? {
                        Choice::List(l) => l.clone(),
                        Choice::Template(t) => match sole_field(t).and_then(|f| lookup(row, f)) {
                            Some(Value::Array(a)) => a.iter().map(value_text).collect(),
                            Some(Value::String(s)) if s.trim_start().starts_with('[') => {
                                serde_json::from_str::<Vec<Value>>(s)
                                    .ok()?
                                    .iter()
                                    .map(value_text)
                                    .collect()
                            }
                            _ => return None,
                        },
                    };
                    let gold = target
                        .trim()
                        .parse::<usize>()
                        .ok()
                        .filter(|i| *i < choices.len())
                        .or_else(|| choices.iter().position(|c| c == &target))?;
                    Some(Item::MultipleChoice {
                        id,
                        context: text_,
                        choices: choices
                            .iter()
                            .map(|c| format!("{}{c}", spec.target_delimiter))
                            .collect(),
                        gold,
                        choice_contexts: Vec::new(),
                        group: None,
                    })
                }
                _ => Some(Item::Generate {
                    id,
                    prompt: text_,
                    gold: target.clone(),
                    stop: spec.generation_kwargs.until.clone(),
                    max_tokens: spec.generation_kwargs.max_gen_toks.unwrap_or(256),
                    references: vec![target],
                    metrics: per_sample.clone(),
                    labels: Vec::new(),
                    filters: filters.clone(),
                }),
            }
        })();
        match item {
            Some(it) => items.push(it),
            None => {
                tracing::warn!(path = %data_path.display(), line, "skipping a row: a template field is missing or the target is not a choice");
                skipped += 1;
            }
        }
    }
    let _ = &spec.fewshot_delimiter;
    Ok(Task {
        info: TaskInfo {
            name: spec.task.clone(),
            output_type,
            primary_metric: spec.metric_list[0].metric.clone(),
            level: if output_type == OutputType::MultipleChoice {
                "sample".into()
            } else {
                "token".into()
            },
            source: format!(
                "task file {} over {} ({} rows, {} skipped); 0-shot{}",
                path.display(),
                data_path.display(),
                rows.len(),
                skipped,
                filter_name.map_or_else(String::new, |n| format!("; filter {n:?}"))
            ),
            data_set: "local".into(),
            num_fewshot: 0,
            corpus_metrics: corpus,
        },
        items,
        skipped_rows: skipped,
    })
}
