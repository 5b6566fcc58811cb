//! ARC-Easy and ARC-Challenge: the oe-eval dump's test items, with few-shot examples
//! drawn from the validation snapshot.

use std::path::Path;

use super::docs::{arrow_member, build_items, docs, s, shots_note, strings, Doc, Shots};
use crate::{olmo, Item, LoadOptions, Result, Task};

/// ARC (test split from the oe-eval dump); few-shot examples from the validation snapshot.
pub fn arc(package: &Path, config: &str, name: &str, opts: &LoadOptions) -> Result<Task> {
    let dump = if config == "ARC-Easy" {
        "arc_easy"
    } else {
        "arc_challenge"
    };
    let base = olmo::arc(package, dump, name)?;
    let k = opts.num_fewshot.unwrap_or(0);
    if k == 0 {
        return Ok(base);
    }
    let member = arrow_member(&format!("ai2_arc/{config}/validation"));
    let (pool, _) = docs(package, &member, |i, v| {
        let choices = v.get("choices")?;
        let labels = strings(choices.get("label")?)?;
        let key = s(v, "answerKey")?;
        Some(Doc {
            id: s(v, "id").map_or_else(|| i.to_string(), String::from),
            text: format!("Question: {}\nAnswer:", s(v, "question")?),
            choices: strings(choices.get("text")?)?,
            gold: labels.iter().position(|l| l == key)?,
            contexts: Vec::new(),
        })
    })?;
    // The test items become docs again (their prompt is the context, choices without the space).
    let test: Vec<Doc> = base
        .items
        .iter()
        .filter_map(|it| match it {
            Item::MultipleChoice {
                id,
                context,
                choices,
                gold,
                ..
            } => Some(Doc {
                id: id.clone(),
                text: context.clone(),
                choices: choices.iter().map(|c| c[1..].to_string()).collect(),
                gold: *gold,
                contexts: Vec::new(),
            }),
            Item::Generate { .. } | Item::Rolling { .. } => None,
        })
        .collect();
    // ARC ships a few questions in both splits (under other ids): never show one as an example.
    let asked: std::collections::HashSet<&str> = test.iter().map(|d| d.text.as_str()).collect();
    let pool: Vec<Doc> = pool
        .into_iter()
        .filter(|d| !asked.contains(d.text.as_str()))
        .collect();
    let (items, k) = build_items(name, test, &Shots::Sample(&pool), opts, "", None)?;
    let mut info = base.info;
    info.source = format!(
        "{}; {}",
        info.source,
        shots_note(
            k,
            &format!("{member} (validation split, {} items)", pool.len())
        )
    );
    info.num_fewshot = k;
    Ok(Task {
        info,
        items,
        skipped_rows: base.skipped_rows,
    })
}
