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
