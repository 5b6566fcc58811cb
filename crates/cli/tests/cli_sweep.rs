//! `trilemma sweep` end to end: quantization variants derived from the real model, one
//! run per combination, then a report that gathers the sweep and says what each variant
//! was derived from.

mod common;
use common::trilemma;

use std::process::Stdio;

#[test]
fn a_sweep_runs_every_variant_and_its_report_names_their_source() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sw");
    let sweep = || {
        trilemma()
            .args([
                "sweep",
                "--name",
                "quant",
                "-m",
                "smollm2-135m",
                "--quant",
                "f16,q4_0",
                "-t",
                "arc-easy",
                "--batch-size",
                "2",
                "--limit",
                "2",
                "--idle-baseline",
                "0",
                "--out",
            ])
            .arg(&out)
            .stdout(Stdio::null())
            .output()
            .unwrap()
    };
    let first = sweep();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let runs: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("summary.json").exists())
        .collect();
    assert_eq!(runs.len(), 2, "one run per quantization variant");
    assert!(out.join("sweep.json").exists());
    for r in &runs {
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(r.path().join("manifest.json")).unwrap())
                .unwrap();
        assert_eq!(manifest["model"]["derived"]["source_precision"], "Q4_1");
    }

    // Again: nothing is recomputed, both runs are found finished.
    let again = sweep();
    assert!(again.status.success());
    for r in &runs {
        let samples = std::fs::read_to_string(r.path().join("samples.jsonl")).unwrap();
        assert_eq!(samples.lines().count(), 2);
    }

    let report = trilemma()
        .args(["report", "--format", "md"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(report.status.success());
    let md = String::from_utf8_lossy(&report.stdout);
    assert!(md.contains("Quantization deltas"), "{md}");
    assert!(md.contains("Q4_0 (derived from Q4_1)"), "{md}");
}

#[test]
fn shards_run_the_plan_once_between_them_into_one_results_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("tree");
    let args = |extra: &[&str]| {
        let mut a: Vec<String> = [
            "sweep",
            "--name",
            "grid",
            "-m",
            "smollm2-135m",
            "-t",
            "arc-easy,hellaswag",
            "--batch-size",
            "1,2",
            "--limit",
            "2",
            "--idle-baseline",
            "0",
            "--out",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.push(out.to_str().unwrap().to_string());
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    // The plan: four runs, each given to one of two shards; nothing is run or written.
    let plan = common::run_ok(trilemma().args(args(&["--plan", "--shard", "0/2", "--json"])));
    let plan: Vec<serde_json::Value> = serde_json::from_slice(&plan.stdout).unwrap();
    assert_eq!(plan.len(), 4);
    assert!(!out.join("sweep.json").exists(), "a plan writes nothing");
    let of = |k: u64| -> Vec<String> {
        let mut v: Vec<String> = plan
            .iter()
            .filter(|r| r["shard"] == k)
            .map(|r| r["dir"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    assert!(!of(0).is_empty() && !of(1).is_empty(), "{plan:?}");
    assert_eq!(of(0).len() + of(1).len(), 4);

    // Each shard runs exactly its own runs, into the same tree.
    let finished = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("summary.json").exists())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    common::run_ok(
        trilemma()
            .args(args(&["--shard", "1/2"]))
            .stdout(Stdio::null()),
    );
    assert_eq!(finished(), of(1));
    common::run_ok(
        trilemma()
            .args(args(&["--shard", "0/2"]))
            .stdout(Stdio::null()),
    );
    let mut all = of(0);
    all.extend(of(1));
    all.sort();
    assert_eq!(finished(), all);

    // A shard of another plan (other axes) into the same tree is refused, naming why.
    let mut other = args(&["--shard", "0/2"]);
    let i = other.iter().position(|a| a == "1,2").unwrap();
    other[i] = "1,4".into();
    let refused = trilemma().args(&other).output().unwrap();
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("shard 0/2") && err.contains("sweep.json"),
        "{err}"
    );
}
