//! `trilemma run` with task flags: --task-file, --num-fewshot (real model, real data).

mod common;
use common::{run_ok, trilemma};

#[test]
fn task_files_and_few_shot_runs_record_what_they_did() {
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/tasks/capitals.toml"
    );
    let run = |extra: &[&str]| {
        let out = run_ok(
            trilemma()
                .args(["run", "-m", "smollm2-135m", "--threads", "2", "--json"])
                .args(["--idle-baseline", "0", "--limit", "3"])
                .args(extra)
                .arg("--out")
                .arg(dir.path()),
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let custom = run(&["--task-file", example]);
    assert_eq!(custom[0]["task"], "capitals");
    assert_eq!(custom[0]["samples"], 3);
    let arc = run(&["-t", "arc-challenge", "--num-fewshot", "2"]);
    assert_eq!(arc[0]["task"], "arc-challenge");
    assert_eq!(arc[0]["samples"], 3);
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            dir.path()
                .join("smollm2-135m__arc-challenge")
                .join("manifest.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["task"]["num_fewshot"], 2);
    assert!(manifest["task"]["source"]
        .as_str()
        .unwrap()
        .contains("2-shot"));
}

#[test]
fn few_shot_without_a_split_to_draw_from_fails_clearly() {
    let out = trilemma()
        .args([
            "run",
            "-t",
            "hellaswag",
            "--num-fewshot",
            "3",
            "--limit",
            "1",
        ])
        .args(["--idle-baseline", "0", "--offline"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("hellaswag") && err.contains("only the evaluated"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
