//! The SLM-first cascade on real models (SmolLM2-135M -> Gemma 3 270M, 12 ARC-Easy items):
//! calibration on recorded runs, the live gateway escalating and naming the tier, traces,
//! fallback on a dead upstream, bad inputs refused before serving, and `trilemma run
//! --engine` through the gateway scoring what the calibration predicted.

mod common;
use common::{http, run_ok, start_server, trilemma};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

const ITEMS: usize = 12;

fn records(dir: &Path) -> BTreeMap<String, f64> {
    std::fs::read_to_string(dir.join("samples.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|r| {
            (
                r["sample_id"].as_str().unwrap().to_string(),
                r["scores"]["acc"].as_f64().unwrap(),
            )
        })
        .collect()
}

fn write(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).unwrap();
    path.to_path_buf()
}

fn cascade_file(dir: &Path, name: &str, tier0: &str, thresholds: &str) -> PathBuf {
    write(
        &dir.join(name),
        &format!(
            "[[tier]]\n{tier0}\n\n[[tier]]\nname = \"gemma3-270m\"\nmodel = \"gemma3-270m\"\nthreads = 2\n\n\
             [policy]\nsignal = \"margin\"\nthresholds = [{thresholds}]\n\n\
             [gateway]\ntrace = \"{name}.trace.jsonl\"\n"
        ),
    )
}

const SMALL: &str = "name = \"smollm2-135m\"\nmodel = \"smollm2-135m\"\nthreads = 2";

fn stderr_of(args: &[&str]) -> String {
    let out = trilemma().args(args).output().unwrap();
    assert!(!out.status.success(), "{args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn trace_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `trilemma serve --cascade FILE` on a free port.
fn gateway(cfg: &Path) -> common::Server {
    start_server(&[
        "serve",
        "--cascade",
        cfg.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ])
}

fn choices_request() -> Value {
    json!({"model": "cascade", "echo": true, "logprobs": 1, "max_tokens": 0,
           "prompt": ["Question: Which is a planet? Answer: Mars",
                      "Question: Which is a planet? Answer: a spoon"]})
}

#[test]
fn a_calibrated_cascade_serves_what_it_predicted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let runs = dir.join("runs");
    run_ok(
        trilemma()
            .args([
                "run",
                "-m",
                "smollm2-135m",
                "-m",
                "gemma3-270m",
                "-t",
                "arc-easy",
                "--limit",
                "12",
                "--idle-baseline",
                "0",
                "--out",
            ])
            .arg(&runs),
    );
    let (small, large) = (
        runs.join("smollm2-135m__arc-easy"),
        runs.join("gemma3-270m__arc-easy"),
    );

    // Calibration on the recorded runs.
    let cfg = cascade_file(dir, "c.toml", SMALL, "1.0");
    let cal_path = dir.join("cal.json");
    let out = run_ok(
        trilemma()
            .args(["cascade", "calibrate", "--config"])
            .arg(&cfg)
            .arg("--runs")
            .args([&small, &large])
            .args(["--target", "0.2", "--json", "--chart"])
            .arg(dir.join("frontier.svg"))
            .arg("--out")
            .arg(&cal_path),
    );
    let svg = std::fs::read_to_string(dir.join("frontier.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("oracle"), "{svg}");
    let cal: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        cal,
        serde_json::from_str::<Value>(&std::fs::read_to_string(&cal_path).unwrap()).unwrap()
    );
    let routes = cal["routes"].as_object().unwrap();
    assert_eq!(routes.len(), ITEMS);
    for (run, dir) in cal["runs"].as_array().unwrap().iter().zip([&small, &large]) {
        let sha = trilemma_assets::sha256_file(&dir.join("samples.jsonl")).unwrap();
        assert_eq!(run["samples_sha256"], sha);
    }
    // What the routes predict on all items is what the two halves report.
    let acc = [records(&small), records(&large)];
    let tier = |name: &str| usize::from(name == "gemma3-270m");
    let predicted = routes
        .iter()
        .map(|(id, t)| acc[tier(t.as_str().unwrap())][id])
        .sum::<f64>()
        / ITEMS as f64;
    let halves = (cal["fit"]["quality"]["value"].as_f64().unwrap()
        * cal["fit_items"].as_f64().unwrap()
        + cal["achieved"]["quality"]["value"].as_f64().unwrap()
            * cal["report_items"].as_f64().unwrap())
        / ITEMS as f64;
    assert!((predicted - halves).abs() < 1e-9, "{predicted} vs {halves}");
    let mono = cal["monolith"]["quality"]["value"].as_f64().unwrap();
    assert!(
        cal["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f.as_str().unwrap().contains("monolith")),
        "{mono}"
    );

    // Bad inputs, each refused before any model loads.
    let e = stderr_of(&[
        "cascade",
        "calibrate",
        "--config",
        cfg.to_str().unwrap(),
        "--runs",
        small.to_str().unwrap(),
    ]);
    assert!(e.contains("1 runs given for 2 tiers"), "{e}");
    let e = stderr_of(&[
        "cascade",
        "calibrate",
        "--config",
        cfg.to_str().unwrap(),
        "--runs",
        large.to_str().unwrap(),
        small.to_str().unwrap(),
    ]);
    assert!(e.contains("give the runs in tier order"), "{e}");
    let bad = write(
        &dir.join("bad.toml"),
        &std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("signal", "signl"),
    );
    let e = stderr_of(&["serve", "--cascade", bad.to_str().unwrap()]);
    assert!(e.contains("bad.toml") && e.contains("signl"), "{e}");
    let other_run = cascade_file(
        dir,
        "other.toml",
        &format!(
            "{SMALL}\ncost = {{ summary = \"{}\" }}",
            large.join("summary.json").display()
        ),
        "1.0",
    );
    let e = stderr_of(&[
        "serve",
        "--cascade",
        other_run.to_str().unwrap(),
        "--calibration",
        cal_path.to_str().unwrap(),
    ]);
    assert!(e.contains("recalibrate"), "{e}");
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/v1", l.local_addr().unwrap())
    };
    let unreachable = cascade_file(
        dir,
        "dead.toml",
        &format!("name = \"far\"\nurl = \"{dead}\""),
        "1.0",
    );
    let e = stderr_of(&[
        "serve",
        "--cascade",
        unreachable.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(e.contains("tier far"), "{e}");

    // The gateway on the calibration; `trilemma run` through it.
    let gw = start_server(&[
        "serve",
        "--cascade",
        cfg.to_str().unwrap(),
        "--calibration",
        cal_path.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    let through = dir.join("through");
    run_ok(
        trilemma()
            .args([
                "run",
                "--engine",
                &gw.url,
                "--served-model",
                "cascade",
                "-t",
                "arc-easy",
            ])
            .args([
                "--limit",
                "12",
                "--batch-size",
                "1",
                "--idle-baseline",
                "0",
                "--out",
            ])
            .arg(&through),
    );
    let run_dir = std::fs::read_dir(&through)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("summary.json").exists())
        .unwrap();
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap())
            .unwrap();
    let got = summary["metrics"]["acc"]["value"].as_f64().unwrap();
    // Logits move a little with batch composition, so a pick or a route near its threshold
    // may differ: at most one item in six.
    assert!(
        (got - predicted).abs() <= 2.0 / ITEMS as f64 + 1e-9,
        "through the gateway {got}, predicted {predicted}"
    );
    let traces = trace_lines(&dir.join("c.toml.trace.jsonl"));
    assert_eq!(
        traces.len(),
        ITEMS,
        "one trace per item (its choices in one request)"
    );
    let choices = traces.iter().filter(|t| t["kind"] == "choices").count();
    assert_eq!(choices, ITEMS);
    let metrics = http(&gw.url.replace("/v1", ""), "GET", "metrics", None).body;
    assert!(
        metrics.contains(&format!("trilemma_cascade_requests_total {ITEMS}")),
        "{metrics}"
    );
}

#[test]
fn the_gateway_escalates_names_the_tier_and_falls_back_on_a_dead_upstream() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();

    // No margin reaches 1000: tier 0 always escalates; a lone echo goes to the last tier.
    let cfg = cascade_file(dir, "all.toml", SMALL, "1000.0");
    let gw = gateway(&cfg);
    let r = http(&gw.url, "POST", "completions", Some(&choices_request()));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-trilemma-tier"), Some("gemma3-270m"));
    assert_eq!(
        r.header("x-trilemma-escalations"),
        Some("smollm2-135m:low_score")
    );
    let v = r.json();
    assert_eq!(v["trilemma"]["tier"], "gemma3-270m");
    assert_eq!(v["trilemma"]["escalations"][0]["reason"], "low_score");
    assert!(v["trilemma"]["escalations"][0]["score"].as_f64().unwrap() >= 0.0);
    assert_eq!(v["choices"].as_array().unwrap().len(), 2);
    let lone = json!({"model": "cascade", "echo": true, "logprobs": 1, "max_tokens": 0,
                      "prompt": "Question: Which is a planet? Answer: Mars"});
    let r = http(&gw.url, "POST", "completions", Some(&lone));
    assert_eq!(r.header("x-trilemma-tier"), Some("gemma3-270m"));
    assert_eq!(r.header("x-trilemma-escalations"), Some(""));
    let traces = trace_lines(&dir.join("all.toml.trace.jsonl"));
    assert_eq!(traces.len(), 2);
    assert_eq!(traces[0]["calls"].as_array().unwrap().len(), 2);
    assert_eq!(traces[1]["kind"], "lone_echo");
    drop(gw);

    // Tier 0 is an upstream `trilemma serve` that accepts everything, until it dies.
    let upstream = start_server(&[
        "serve",
        "-m",
        "smollm2-135m",
        "--listen",
        "127.0.0.1:0",
        "--threads",
        "2",
    ]);
    let tier0 = format!(
        "name = \"smollm2-135m\"\nurl = \"{}\"\nserved_model = \"smollm2-135m\"\nretries = 1\ntimeout_s = 30",
        upstream.url
    );
    let cfg = cascade_file(dir, "fallback.toml", &tier0, "-1.0");
    let gw = gateway(&cfg);
    let r = http(&gw.url, "POST", "completions", Some(&choices_request()));
    assert_eq!(
        r.header("x-trilemma-tier"),
        Some("smollm2-135m"),
        "{}",
        r.body
    );
    drop(upstream);
    let r = http(&gw.url, "POST", "completions", Some(&choices_request()));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-trilemma-tier"), Some("gemma3-270m"));
    assert_eq!(
        r.header("x-trilemma-escalations"),
        Some("smollm2-135m:error")
    );
    let traces = trace_lines(&dir.join("fallback.toml.trace.jsonl"));
    let last = traces.last().unwrap();
    assert!(
        last["calls"][0]["error"]
            .as_str()
            .unwrap()
            .contains("2 attempts"),
        "{last}"
    );
    let metrics = http(&gw.url.replace("/v1", ""), "GET", "metrics", None).body;
    assert!(
        metrics.contains("trilemma_cascade_errors_total{tier=\"smollm2-135m\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("trilemma_cascade_answered_total{tier=\"gemma3-270m\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("trilemma_cascade_deferral_rate 0.5"),
        "{metrics}"
    );
}
