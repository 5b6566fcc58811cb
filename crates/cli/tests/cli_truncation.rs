//! `trilemma run` with a context too small for its prompts says so under the table and
//! in the summary it writes, and marks each truncated sample.

mod common;
use common::{run_ok, trilemma};

#[test]
fn a_run_that_truncates_says_how_many_samples_and_by_how_much() {
    let dir = tempfile::tempdir().unwrap();
    // Three-shot ARC-Easy prompts are longer than a 64-token context.
    let args = "run -m smollm2-135m -t arc-easy --num-fewshot 3 --limit 4 --n-ctx 64 \
                --batch-size 2 --idle-baseline 0.5 --out";
    let out = run_ok(trilemma().args(args.split_whitespace()).arg(dir.path()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let run = dir.path().join("smollm2-135m__arc-easy");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    let t = &summary["truncated"];
    assert_eq!(t["samples"], 4, "{summary}");
    let dropped = t["tokens_dropped"].as_u64().unwrap();
    let samples = std::fs::read_to_string(run.join("samples.jsonl")).unwrap();
    let marked: Vec<u64> = samples
        .lines()
        .map(|l| {
            let r: serde_json::Value = serde_json::from_str(l).unwrap();
            r["detail"]["truncated"]["tokens_dropped"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(marked.len(), 4);
    assert_eq!(marked.iter().sum::<u64>(), dropped);
    let note = format!(
        "- truncated [smollm2-135m · arc-easy]: 4 samples truncated to fit the context, the oldest prompt tokens dropped: {dropped} in all, at most {} from one sample",
        marked.iter().max().unwrap()
    );
    assert!(stdout.contains(&note), "{note}\nnot in:\n{stdout}");
    assert!(stdout.contains("the context holds 64 tokens"), "{stdout}");
}
