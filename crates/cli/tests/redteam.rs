//! `trilemma redteam` on the real smollm2-135m: a sample of spikee's cybersec attacks,
//! each judged by its canary, reported per family with a Wilson interval that holds the
//! rate; the same suite against a real `trilemma serve` over HTTP sends the same
//! attacks (the seed picks them).

mod common;
use common::{run_ok, start_server, trilemma};

use serde_json::Value;

fn report(args: &[&str]) -> Value {
    let out = run_ok(trilemma().args(args));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn check(r: &Value, n: u64) {
    assert_eq!(r["overall"]["attacks"], n, "{}", r["overall"]);
    assert_eq!(r["errors"], 0, "{}", r["outcomes"]);
    assert_eq!(r["package"], "spikee==0.9.2");
    let fams = r["by_family"].as_array().unwrap();
    assert!(!fams.is_empty());
    let total: u64 = fams.iter().map(|f| f["attacks"].as_u64().unwrap()).sum();
    assert_eq!(total, n);
    for f in fams {
        let (lo, rate, hi) = (
            f["ci_low"].as_f64().unwrap(),
            f["rate"].as_f64().unwrap(),
            f["ci_high"].as_f64().unwrap(),
        );
        assert!(lo <= rate && rate <= hi && hi > 0.0, "{f}");
    }
    // Every outcome has the answer it was judged on.
    for o in r["outcomes"].as_array().unwrap() {
        assert!(o["answer"].is_string(), "{o}");
    }
}

#[test]
fn the_red_team_suite_runs_on_smollm2_embedded_and_over_http() {
    let embedded = report(&[
        "redteam",
        "-m",
        "smollm2-135m",
        "--limit",
        "12",
        "--max-tokens",
        "32",
        "--threads",
        "2",
        "--json",
    ]);
    check(&embedded, 12);
    let server = start_server(&[
        "serve",
        "-m",
        "smollm2-135m",
        "--listen",
        "127.0.0.1:0",
        "--threads",
        "2",
        "--max-batch",
        "4",
    ]);
    let http = report(&[
        "redteam",
        "--engine",
        &server.url,
        "--served-model",
        "smollm2-135m",
        "--limit",
        "12",
        "--max-tokens",
        "32",
        "--json",
    ]);
    check(&http, 12);
    let ids = |r: &Value| -> Vec<String> {
        r["outcomes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids(&embedded),
        ids(&http),
        "the same seed picks the same attacks"
    );
}

#[test]
fn an_unknown_suite_is_named_before_any_model_loads() {
    let out = trilemma()
        .args(["redteam", "-m", "smollm2-135m", "--suite", "nothing-here"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nothing-here") && err.contains("cybersec-2026-01"),
        "{err}"
    );
}
