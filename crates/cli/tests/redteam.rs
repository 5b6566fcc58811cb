//! `trilemma redteam` on the real smollm2-135m: a sample of spikee's cybersec attacks,
//! each judged by its canary, reported per family with a Wilson interval that holds the
//! rate; the same suite against a real `trilemma serve` over HTTP sends the same
//! attacks (the seed picks them); a cascade gateway whose input guard refuses them is
//! compared with it side by side.

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
fn the_red_team_suite_runs_on_smollm2_embedded_over_http_and_behind_a_guard() {
    let tmp = tempfile::tempdir().unwrap();
    let monolith = tmp.path().join("monolith.json");
    let guarded = tmp.path().join("guarded.json");
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
        "--out",
        monolith.to_str().unwrap(),
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

    // A cascade gateway (both tiers the same server) whose input guard refuses every
    // request: no attack reaches a model, each is counted as refused, none as an error.
    let cfg = tmp.path().join("guarded.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[tier]]\nname = \"a\"\nurl = \"{0}\"\nserved_model = \"smollm2-135m\"\n\n\
             [[tier]]\nname = \"b\"\nurl = \"{0}\"\nserved_model = \"smollm2-135m\"\n\n\
             [policy]\nsignal = \"logprob_mean\"\nthresholds = [-1.0]\n\n\
             [[rule]]\npattern = \"(?s).\"\nrefuse = true\nmessage = \"refused by the test's guard\"\n",
            server.url
        ),
    )
    .unwrap();
    let gw = start_server(&[
        "serve",
        "--cascade",
        cfg.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    let behind = report(&[
        "redteam",
        "--engine",
        &gw.url,
        "--served-model",
        "cascade",
        "--limit",
        "12",
        "--max-tokens",
        "32",
        "--out",
        guarded.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(behind["refused"], 12, "{}", behind["outcomes"]);
    assert_eq!(behind["errors"], 0);
    assert_eq!(behind["overall"]["successes"], 0);
    for o in behind["outcomes"].as_array().unwrap() {
        assert_eq!(o["refused"], "refused by the test's guard", "{o}");
    }
    let metrics = common::http(&gw.url.replace("/v1", ""), "GET", "metrics", None).body;
    assert!(
        metrics.contains("trilemma_cascade_refused_requests_total 12"),
        "{metrics}"
    );

    let side = report(&[
        "redteam",
        "--compare",
        monolith.to_str().unwrap(),
        guarded.to_str().unwrap(),
        "--json",
    ]);
    let cols = side["columns"].as_array().unwrap();
    assert_eq!(cols[0]["label"], "monolith");
    assert_eq!(cols[1]["label"], "guarded");
    assert_eq!(cols[0]["overall"], http["overall"]);
    assert_eq!(cols[1]["refused"], 12);
    let text = run_ok(trilemma().args([
        "redteam",
        "--compare",
        monolith.to_str().unwrap(),
        guarded.to_str().unwrap(),
    ]));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("12 refused by an input guard"), "{text}");
}

#[test]
fn compare_refuses_reports_of_other_attacks() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a.json");
    std::fs::write(&a, "{\"not\": \"a report\"}").unwrap();
    let out = trilemma()
        .args(["redteam", "--compare", a.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("a.json") && err.contains("not a red-team report"),
        "{err}"
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
