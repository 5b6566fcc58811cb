//! What a task is: its items, how it asks the model, how its prompts are built, and what
//! the run manifest says of it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::FilterStep;

pub use trilemma_core::{OutputType, TaskInfo};

/// One item to evaluate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Item {
    /// Score each choice's log-likelihood after the context.
    MultipleChoice {
        id: String,
        context: String,
        /// Continuations, each with its leading space as the model should see it.
        choices: Vec<String>,
        gold: usize,
        /// Partial scoring (WinoGrande): one context per choice, each followed by the
        /// choice's continuation (all the same); empty when every choice follows `context`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        choice_contexts: Vec<String>,
        /// Sub-task the item belongs to (an MMLU subject), for per-group scores.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<String>,
    },
    /// The log-likelihood of a whole text (lm-eval's `loglikelihood_rolling`), for
    /// token-, word- and byte-level perplexity over the corpus.
    Rolling { id: String, text: String },
    /// Generate greedily and compare the extracted answer with the gold one.
    Generate {
        id: String,
        prompt: String,
        gold: String,
        stop: Vec<String>,
        max_tokens: u32,
        /// Every acceptable reference (SQuAD's several answers); empty means `[gold]`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        references: Vec<String>,
        /// Per-sample metrics from `trilemma-scoring` (e.g. `squad_em`, `rouge1`); empty
        /// means GSM8K's answer extraction and exact match.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        metrics: Vec<String>,
        /// A classification read from the generation: the one label of these it names as a
        /// whole word (else class "Error"; the raw text stays in the record's detail).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        labels: Vec<String>,
        /// Answer extraction applied to the generation before scoring (a task file's
        /// `filter_list`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        filters: Vec<FilterStep>,
    },
}

impl Item {
    pub fn id(&self) -> &str {
        match self {
            Item::MultipleChoice { id, .. }
            | Item::Generate { id, .. }
            | Item::Rolling { id, .. } => id,
        }
    }

    /// The text the model is given for this item: a multiple-choice item's context, a
    /// generation item's prompt, a rolling item's whole text. `trilemma load --task` sends
    /// it as the request's prompt and the judge shows it beside the answer.
    pub fn prompt(&self) -> &str {
        match self {
            Item::MultipleChoice { context, .. } => context,
            Item::Generate { prompt, .. } => prompt,
            Item::Rolling { text, .. } => text,
        }
    }

    /// The sub-task (MMLU subject) the item belongs to, if any.
    pub fn group(&self) -> Option<&str> {
        match self {
            Item::MultipleChoice { group, .. } => group.as_deref(),
            Item::Generate { .. } | Item::Rolling { .. } => None,
        }
    }

    /// The (context, continuation) pairs whose log-likelihoods score a multiple-choice
    /// item, one per choice; empty for a generation item.
    pub fn loglikelihood_pairs(&self) -> Vec<(String, String)> {
        match self {
            Item::MultipleChoice {
                context,
                choices,
                choice_contexts,
                ..
            } => choices
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let ctx = choice_contexts.get(i).unwrap_or(context);
                    (ctx.clone(), c.clone())
                })
                .collect(),
            Item::Generate { .. } | Item::Rolling { .. } => Vec::new(),
        }
    }
}

/// How to build a task's prompts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LoadOptions {
    /// Few-shot examples before each item (`None`: the task's default).
    pub num_fewshot: Option<usize>,
    /// Seed for drawing few-shot examples.
    pub seed: u64,
}

/// A loaded task.
#[derive(Debug, Clone)]
pub struct Task {
    pub info: TaskInfo,
    pub items: Vec<Item>,
    /// Rows that could not be parsed (skipped, counted, never silent).
    pub skipped_rows: usize,
}

impl Task {
    /// The JSON Schema an answer of this task can be held to while decoding, when the
    /// task scores a JSON verdict: an object whose `result` is one of the items' labels
    /// (what [`crate::read_json_label`] reads), with the optional `sources` (strings) and
    /// `reason` (a string) the validator prompt asks for, and nothing else. `None` for
    /// other tasks.
    pub fn answer_schema(&self) -> Option<String> {
        if self.info.output_type != OutputType::JsonLabel {
            return None;
        }
        let labels = self.items.iter().find_map(|it| match it {
            Item::Generate { labels, .. } if !labels.is_empty() => Some(labels.clone()),
            _ => None,
        })?;
        Some(
            serde_json::json!({
                "type": "object",
                "properties": {
                    "result": {"type": "string", "enum": labels},
                    "sources": {"type": "array", "items": {"type": "string"}},
                    "reason": {"type": "string"}
                },
                "required": ["result"],
                "additionalProperties": false
            })
            .to_string(),
        )
    }

    /// The items a run with `--limit N` evaluates, in data-set order: the first N, or for
    /// a task made of groups (MMLU subjects) the first N of each group, as lm-eval applies
    /// `--limit` to each sub-task.
    pub fn limited(&self, limit: Option<usize>) -> Vec<&Item> {
        let Some(n) = limit else {
            return self.items.iter().collect();
        };
        let mut taken: BTreeMap<Option<&str>, usize> = BTreeMap::new();
        self.items
            .iter()
            .filter(|it| {
                let c = taken.entry(it.group()).or_default();
                *c += 1;
                *c <= n
            })
            .collect()
    }
}
