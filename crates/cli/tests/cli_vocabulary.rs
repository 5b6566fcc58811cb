//! One vocabulary across commands: `-m/--model` everywhere, `--json` on every command
//! that prints a result, inputs checked before anything slow, a grouped `--help`, and
//! shell completions.

mod common;
use common::{run_ok, trilemma};

use std::path::{Path, PathBuf};
use std::process::Output;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn help(args: &[&str]) -> String {
    let out = run_ok(trilemma().args(args).arg("--help"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The cached path of the pinned smollm2-135m model (fetched and verified on first use).
fn cached_model() -> PathBuf {
    let out = run_ok(trilemma().args(["assets", "fetch", "smollm2-135m", "--json"]));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["name"], "smollm2-135m", "{v}");
    assert_eq!(v[0]["sha256"].as_str().map(str::len), Some(64), "{v}");
    PathBuf::from(v[0]["path"].as_str().unwrap())
}

/// Bad inputs to every command that runs a model fail with one line naming what is
/// wrong, before anything slow: no idle power is measured, no server is started, no
/// model is loaded.
#[test]
fn bad_inputs_fail_before_any_slow_step() {
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let corrupt = d("corrupt.gguf");
    std::fs::write(&corrupt, b"\x00\x01 random bytes, not a model").unwrap();
    // The real model cut short: its header is whole, its tensors are not.
    let model = std::fs::read(cached_model()).unwrap();
    let truncated = d("truncated.gguf");
    std::fs::write(&truncated, &model[..model.len() / 2]).unwrap();
    let a_file = d("a-file");
    std::fs::write(&a_file, "x").unwrap();
    let under_file = format!("{a_file}/runs");
    let prompts = d("prompts.txt");
    std::fs::write(&prompts, "Hello\n").unwrap();
    let out = d("runs");
    let missing_toml = d("missing.toml");
    let no_prompts = d("none.txt");
    let load_out = format!("{under_file}/load.json");

    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["run", "-m", &corrupt, "--out", &out],
            vec![&corrupt, "not a GGUF file"],
        ),
        (
            vec!["run", "-m", &truncated, "--out", &out],
            vec![&truncated, "truncated"],
        ),
        (
            vec!["run", "-t", "arc-hardest", "--out", &out],
            vec!["--task arc-hardest", "unknown task"],
        ),
        (
            vec!["run", "--task-file", &missing_toml, "--out", &out],
            vec!["--task-file", "missing.toml", "no such file"],
        ),
        (
            vec![
                "run",
                "--engine",
                "localhost:8080/v1",
                "-m",
                "x",
                "--out",
                &out,
            ],
            vec!["--engine", "localhost:8080/v1"],
        ),
        (
            vec![
                "run",
                "--engine",
                "http//127.0.0.1:8080/v1",
                "-m",
                "x",
                "--out",
                &out,
            ],
            vec!["--engine", "is not a URL"],
        ),
        (
            vec!["run", "-m", "smollm2-135m", "--out", &under_file],
            vec!["--out", &under_file, "cannot create"],
        ),
        (
            vec!["sweep", "--name", "s", "-m", &corrupt, "--out", &out],
            vec![&corrupt, "not a GGUF file"],
        ),
        (
            vec!["serve", "-m", &truncated],
            vec![&truncated, "truncated"],
        ),
        (vec!["serve", &corrupt], vec![&corrupt, "not a GGUF file"]),
        (
            vec![
                "load",
                "--serve",
                &corrupt,
                "--prompts",
                &prompts,
                "--concurrency",
                "1",
            ],
            vec![&corrupt, "not a GGUF file"],
        ),
        (
            vec![
                "load",
                "--engine",
                "ftp://h/v1",
                "-m",
                "x",
                "--prompts",
                &prompts,
                "--concurrency",
                "1",
            ],
            vec!["--engine", "scheme must be http or https"],
        ),
        (
            vec![
                "load",
                "--engine",
                "http://127.0.0.1:9/v1",
                "-m",
                "x",
                "--prompts",
                &no_prompts,
                "--concurrency",
                "1",
            ],
            vec!["--prompts", "none.txt", "no such file"],
        ),
        (
            vec![
                "load",
                "--engine",
                "http://127.0.0.1:9/v1",
                "-m",
                "x",
                "--prompts",
                &prompts,
                "--concurrency",
                "1",
                "--out",
                &load_out,
            ],
            vec!["--out", "cannot create"],
        ),
        (
            vec![
                "load",
                "--engine",
                "http://127.0.0.1:9/v1",
                "--prompts",
                &prompts,
                "--concurrency",
                "1",
            ],
            vec!["-m MODEL"],
        ),
        (
            vec![
                "judge",
                "--run",
                dir.path().to_str().unwrap(),
                "-m",
                &corrupt,
            ],
            vec![&corrupt, "not a GGUF file"],
        ),
    ];
    for (args, expect) in cases {
        let o = trilemma().args(&args).output().unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        for e in expect {
            assert!(err.contains(e), "{args:?}: expected {e:?} in {err}");
        }
        for slow in [
            "measuring idle power",
            "serving",
            "starting trilemma serve",
            "fetching",
            "panicked",
        ] {
            assert!(
                !err.contains(slow),
                "{args:?} got as far as {slow:?}: {err}"
            );
        }
    }
    assert!(!Path::new(&out).join("smollm2-135m__arc-easy").exists());
}

/// `-m/--model` names the model in every command that takes one; serve keeps its first
/// argument as an alias, judge keeps --judge-model.
#[test]
fn the_model_is_dash_m_everywhere() {
    for cmd in [
        &["run"][..],
        &["sweep"],
        &["serve"],
        &["load"],
        &["judge"],
        &["bench", "engine"],
        &["bench", "overhead"],
    ] {
        let h = help(cmd);
        assert!(h.contains("-m, --model <MODEL>"), "{cmd:?}:\n{h}");
    }
    assert!(help(&["serve"]).contains("[MODEL]"));
    assert!(help(&["judge"]).contains("judge-model"));
    // Both forms of serve's model, but not both at once, and not neither.
    let o = trilemma().args(["serve", "a", "-m", "b"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = trilemma().args(["serve"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--model <MODEL>"), "{}", stderr(&o));
}

/// Every command that prints a result has --json.
#[test]
fn every_result_has_json() {
    for cmd in [
        &["run"][..],
        &["sweep"],
        &["judge"],
        &["compare"],
        &["report"],
        &["analyze", "per"],
        &["analyze", "om"],
        &["analyze", "pareto"],
        &["score"],
        &["load"],
        &["assets", "list"],
        &["assets", "fetch"],
        &["bench", "engine"],
        &["bench", "overhead"],
        &["bench", "load"],
        &["bench", "gateway"],
        &["cascade", "calibrate"],
        &["cascade", "diff"],
    ] {
        assert!(help(cmd).contains("--json"), "{cmd:?} has no --json");
    }
    // report --json is --format json.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("t.csv");
    std::fs::write(
        &csv,
        "name,accuracy,throughput,latency,memory\na,0.5,10,1,1\nb,0.6,5,2,2\n",
    )
    .unwrap();
    let out = run_ok(
        trilemma()
            .args(["analyze", "per", "--json", "--input"])
            .arg(&csv),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(2));
}

/// `trilemma --help` groups the commands by what a user wants to do.
#[test]
fn help_groups_commands_by_purpose() {
    let h = help(&[]);
    let at = |s: &str| h.find(s).unwrap_or_else(|| panic!("no {s:?} in\n{h}"));
    let order = [
        at("Measure:"),
        at("  run "),
        at("Compare:"),
        at("  compare "),
        at("Analyse:"),
        at("  report "),
        at("Serve:"),
        at("  serve "),
        at("Load-test:"),
        at("  load "),
        at("Set up and more:"),
        at("  completions "),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{h}");
}

/// Completion scripts for every shell; bash's is loaded by a real bash.
#[test]
fn completions_are_generated_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = run_ok(trilemma().args(["completions", shell]));
        let script = String::from_utf8_lossy(&out.stdout);
        for word in ["serve", "load", "model", "json"] {
            assert!(script.contains(word), "{shell}: no {word:?}");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("trilemma.bash");
    let out = run_ok(trilemma().args(["completions", "bash"]));
    std::fs::write(&script, &out.stdout).unwrap();
    let o = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {} && complete -p trilemma",
            script.display()
        ))
        .output()
        .expect("bash runs");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("trilemma"));
    let o = trilemma().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}
