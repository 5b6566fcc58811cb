//! The `trilemma` binary end to end on a real model and real data.

mod common;
use common::{run_ok, trilemma};

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn bad_input_gets_one_clear_line_and_a_failing_exit() {
    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("corrupt.gguf");
    std::fs::write(&corrupt, b"GGUF\x03\x00\x00\x00 truncated").unwrap();
    // A well-formed GGUF header naming an architecture llama.cpp does not know.
    let alien = dir.path().join("alien.gguf");
    let mut bytes = b"GGUF".to_vec();
    bytes.extend(3u32.to_le_bytes());
    bytes.extend(0u64.to_le_bytes());
    bytes.extend(1u64.to_le_bytes());
    bytes.extend(20u64.to_le_bytes());
    bytes.extend(b"general.architecture");
    bytes.extend(8u32.to_le_bytes());
    bytes.extend(9u64.to_le_bytes());
    bytes.extend(b"quantum42");
    std::fs::write(&alien, bytes).unwrap();
    let not_gguf = dir.path().join("page.gguf");
    std::fs::write(&not_gguf, b"<html>404</html>").unwrap();
    let cases: [(&[&str], &str); 7] = [
        (
            &["run", "--model", alien.to_str().unwrap(), "--limit", "1"],
            "unsupported architecture \"quantum42\"",
        ),
        (
            &["run", "--model", "gpt-17", "--offline"],
            "unknown model \"gpt-17\"",
        ),
        (&["run", "--task", "arc-hard"], "unknown task \"arc-hard\""),
        (&["run", "--model", "./missing.gguf"], "missing.gguf"),
        (
            &["run", "--model", corrupt.to_str().unwrap(), "--limit", "1"],
            "corrupt",
        ),
        (
            &["run", "--model", not_gguf.to_str().unwrap(), "--limit", "1"],
            "not a GGUF file",
        ),
        // This build has no GPU backend: asking for GPU layers fails before anything runs.
        (
            &[
                "run",
                "-m",
                "smollm2-135m",
                "--gpu-layers",
                "all",
                "--limit",
                "1",
            ],
            "--gpu-layers all: this build of llama.cpp has no GPU backend",
        ),
    ];
    for (args, expect) in cases {
        let out = trilemma()
            .args(args)
            .args(["--out", dir.path().join("runs").to_str().unwrap()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains(expect),
            "{args:?}: expected {expect:?} in {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn run_prints_the_table_and_writes_a_run_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_ok(
        trilemma()
            .args([
                "run",
                "-m",
                "smollm2-135m",
                "-t",
                "arc-easy",
                "--limit",
                "16",
                "--json",
                "--idle-baseline",
                "0.5",
                "--out",
            ])
            .arg(dir.path()),
    );
    let summaries: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &summaries[0];
    assert_eq!(s["samples"], 16);
    assert_eq!(s["task"], "arc-easy");
    let acc = s["metrics"]["acc"]["value"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc));
    assert!(s["throughput"]["tokens_per_s"].as_f64().unwrap() > 0.0);
    // No RAPL on this VM: energy is the labelled estimate, with an idle baseline.
    let energy = s["energy"].as_array().unwrap();
    let est = energy
        .iter()
        .find(|e| e["source"] == "estimate")
        .expect("an estimate");
    assert!(est["per_sample_j"].as_f64().unwrap() > 0.0);
    assert!(est["idle_w"].as_f64().is_some());
    // Two full batches of 8: energy per token over the steady state, window recorded.
    assert_eq!(est["attribution"], "steady_state_per_token");
    let w = &est["steady_state"];
    assert_eq!(w["batch"], 8);
    assert!(w["intervals"].as_u64().unwrap() >= 1);
    assert!(w["full_batch_s"].as_f64().unwrap() <= w["busy_s"].as_f64().unwrap() + 1e-9);
    assert!(s["cpu"]["process_busy_cores"].as_f64().unwrap() > 0.0);
    assert!(s["memory"]["peak_rss_bytes"].as_u64().unwrap() > 50_000_000);
    let run = dir.path().join("smollm2-135m__arc-easy");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        manifest["model"]["sha256"],
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    );
    let records = lines(&run.join("samples.jsonl"));
    assert_eq!(records.len(), 16);
    assert!(records[0]["detail"]["logprobs"].as_array().unwrap().len() >= 3);
    assert!(run.join("summary.json").exists());
}

/// The 48-item run that the interruption tests stop and resume.
fn resumable_run() -> Command {
    let mut c = trilemma();
    c.args([
        "run",
        "-m",
        "smollm2-135m",
        "-t",
        "arc-easy",
        "--limit",
        "48",
    ])
    .args(["--batch-size", "4", "--idle-baseline", "0.3", "--out"]);
    c
}

/// Starts a run, waits until at least `min_samples` are on disk, then signals it.
fn start_and_signal(out: &Path, signal: &str, min_samples: usize) -> std::process::ExitStatus {
    let mut child = resumable_run()
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let samples = out.join("smollm2-135m__arc-easy/samples.jsonl");
    let start = Instant::now();
    while lines(&samples).len() < min_samples {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "the run made no progress"
        );
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap()
}

#[test]
fn a_killed_run_resumes_without_redoing_or_duplicating_samples() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("smollm2-135m__arc-easy");
    let status = start_and_signal(dir.path(), "-KILL", 8);
    assert_eq!(status.code(), None, "killed by a signal");
    let before = lines(&run.join("samples.jsonl"));
    assert!(
        before.len() >= 8 && before.len() < 48,
        "{} samples",
        before.len()
    );
    assert!(
        !run.join("summary.json").exists(),
        "no summary after SIGKILL"
    );

    let out = resumable_run().arg(dir.path()).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("resumed"));
    let after = lines(&run.join("samples.jsonl"));
    assert_eq!(after.len(), 48);
    let ids: std::collections::HashSet<_> =
        after.iter().map(|r| r["sample_id"].to_string()).collect();
    assert_eq!(ids.len(), 48, "no duplicates");
    // The samples finished before the kill were kept, not recomputed.
    assert_eq!(&after[..before.len()], &before[..]);
    assert!(after[before.len()..].iter().all(|r| r["session"] == 1));
}

#[test]
fn sigint_stops_cleanly_with_a_partial_summary() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("smollm2-135m__arc-easy");
    let status = start_and_signal(dir.path(), "-INT", 4);
    assert_eq!(status.code(), Some(130));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["partial"], true);
    let n = lines(&run.join("samples.jsonl")).len();
    assert_eq!(summary["samples"].as_u64().unwrap() as usize, n);
    assert!(n < 48);
}
