//! lm-eval's answer-extraction filters (a task file's `filter_list`).

use serde::{Deserialize, Serialize};

/// One step of lm-eval's answer-extraction filters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterStep {
    /// The `group_select`-th match (negative counts from the end) of the pattern; its
    /// first capture group when it has one. No match gives lm-eval's "[invalid]".
    Regex {
        pattern: String,
        group_select: i64,
    },
    Lowercase,
    Uppercase,
    Strip,
}

/// Applies filter steps to a generation, in order.
pub fn apply_filters(text: &str, filters: &[FilterStep]) -> String {
    let mut out = text.to_string();
    for f in filters {
        out = match f {
            FilterStep::Regex {
                pattern,
                group_select,
            } => {
                let Ok(re) = regex::Regex::new(pattern) else {
                    return "[invalid]".into();
                };
                let matches: Vec<String> = re
                    .captures_iter(&out)
                    .map(|c| {
                        c.get(1)
                            .or_else(|| c.get(0))
                            .map_or("", |m| m.as_str())
                            .to_string()
                    })
                    .collect();
                let idx = if *group_select < 0 {
                    matches
                        .len()
                        .checked_sub(group_select.unsigned_abs() as usize)
                } else {
                    Some(*group_select as usize)
                };
                match idx.and_then(|i| matches.get(i)) {
                    Some(m) => m.clone(),
                    None => "[invalid]".into(),
                }
            }
            FilterStep::Lowercase => out.to_lowercase(),
            FilterStep::Uppercase => out.to_uppercase(),
            FilterStep::Strip => out.trim().to_string(),
        };
    }
    out
}
