//! `trilemma run` with sampled and constrained generation on a real model: each item
//! drawn K times (seeded, so a rerun draws the same), pass@k and self-consistency in the
//! summary, and a JSON grammar that the answers follow.

mod common;
use common::{run_ok, trilemma};

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

fn run(out: &Path, extra: &[&str]) -> Value {
    let o = run_ok(
        trilemma()
            .args([
                "run",
                "-m",
                "smollm2-135m",
                "--threads",
                "2",
                "--idle-baseline",
                "0",
                "--json",
            ])
            .args(extra)
            .arg("--out")
            .arg(out),
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The raw answer of each (item, draw).
fn answers(path: &Path) -> BTreeMap<(String, u64), String> {
    records(path)
        .iter()
        .map(|r| {
            (
                (
                    r["sample_id"].as_str().unwrap().to_string(),
                    r["repeat"].as_u64().unwrap(),
                ),
                r["detail"]["raw"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn each_item_is_drawn_k_times_with_pass_at_k_and_a_rerun_draws_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let sampled = [
        "-t",
        "imdb",
        "--limit",
        "3",
        "--temperature",
        "1.2",
        "--samples-per-item",
        "4",
    ];
    let s = &run(&dir.path().join("a"), &sampled)[0];
    assert_eq!(s["samples"], 12, "{s}");
    let d = &s["draws"];
    assert_eq!(d["draws_per_item"], 4, "{s}");
    assert_eq!(d["items"], 3, "{s}");
    let acc = &d["metrics"]["accuracy"];
    let pass = &acc["pass_at_k"];
    let (p1, p4) = (
        pass["1"]["value"].as_f64().unwrap(),
        pass["4"]["value"].as_f64().unwrap(),
    );
    assert!(pass.get("2").is_some(), "{acc}");
    assert!((0.0..=1.0).contains(&p1) && p4 >= p1, "{acc}");
    // pass@1 is the mean accuracy over every draw.
    let mean = s["metrics"]["accuracy"]["value"].as_f64().unwrap();
    assert!((p1 - mean).abs() < 1e-9, "pass@1 {p1} vs accuracy {mean}");
    assert!(acc["majority"]["value"].as_f64().is_some(), "{acc}");

    let first = answers(&dir.path().join("a/smollm2-135m__imdb/samples.jsonl"));
    assert_eq!(first.len(), 12);
    // At temperature 1.2 the draws of an item are not all the same text.
    let distinct: std::collections::BTreeSet<&String> = first.values().collect();
    assert!(distinct.len() > 3, "every item drew one answer: {first:?}");
    // The same seed draws the same answers again.
    run(&dir.path().join("b"), &sampled);
    let second = answers(&dir.path().join("b/smollm2-135m__imdb/samples.jsonl"));
    assert_eq!(first, second);
}

#[test]
fn a_constrained_task_answers_json_under_its_own_name() {
    let dir = tempfile::tempdir().unwrap();
    let s = &run(
        dir.path(),
        &[
            "-t",
            "halueval-validator",
            "--limit",
            "2",
            "--constrain",
            "json",
        ],
    )[0];
    assert_eq!(s["task"], "halueval-validator+json", "{s}");
    let recs = records(
        &dir.path()
            .join("smollm2-135m__halueval-validator_json/samples.jsonl"),
    );
    assert_eq!(recs.len(), 2);
    for r in &recs {
        let raw = r["detail"]["raw"].as_str().unwrap();
        // The grammar's root is an object: the answer opens one whatever the model prefers.
        assert!(raw.trim_start().starts_with('{'), "{raw}");
    }
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(
            dir.path()
                .join("smollm2-135m__halueval-validator_json/manifest.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(
        manifest.to_string().contains("json_schema"),
        "the manifest records the constraint: {manifest}"
    );
    // No GPU backend in this build: `--gpu-layers auto` offloaded nothing, and says so.
    assert!(
        manifest.to_string().contains(r#""gpu_layers":0"#),
        "{manifest}"
    );
}

#[test]
fn the_task_schema_holds_the_verdict_to_the_tasks_labels() {
    let dir = tempfile::tempdir().unwrap();
    let s = &run(
        dir.path(),
        &[
            "-t",
            "halueval-validator",
            "--limit",
            "2",
            "--constrain",
            "schema",
        ],
    )[0];
    assert_eq!(s["task"], "halueval-validator+schema", "{s}");
    let run_dir = dir.path().join("smollm2-135m__halueval-validator_schema");
    for r in records(&run_dir.join("samples.jsonl")) {
        let raw = r["detail"]["raw"].as_str().unwrap();
        // The schema's first (and only required) key is `result`, one of the labels.
        let after = raw
            .split_once("\"result\"")
            .map(|x| x.1)
            .unwrap_or_default();
        let value = after.trim_start().trim_start_matches(':').trim_start();
        assert!(
            ["\"GROUNDED\"", "\"UNGROUNDED\"", "\"SMALL_TALK\""]
                .iter()
                .any(|l| value.starts_with(l)),
            "{raw}"
        );
    }
    let manifest = std::fs::read_to_string(run_dir.join("manifest.json")).unwrap();
    assert!(
        manifest.contains("SMALL_TALK"),
        "the resolved schema is recorded: {manifest}"
    );
    // A task without a verdict schema is named before anything runs.
    let out = trilemma()
        .args([
            "run",
            "-m",
            "smollm2-135m",
            "-t",
            "imdb",
            "--constrain",
            "schema",
        ])
        .arg("--out")
        .arg(dir.path().join("imdb"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("task imdb has no answer schema"), "{err}");
}

#[test]
fn draws_without_a_temperature_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = trilemma()
        .args([
            "run",
            "-m",
            "smollm2-135m",
            "-t",
            "imdb",
            "--samples-per-item",
            "3",
        ])
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--samples-per-item 3") && err.contains("--temperature"),
        "{err}"
    );
    let out = trilemma()
        .args([
            "run",
            "-m",
            "smollm2-135m",
            "--samples-per-item",
            "3",
            "--repeats",
            "2",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot be used with"), "{err}");
    assert!(!dir.path().join("smollm2-135m__imdb").exists());
}
