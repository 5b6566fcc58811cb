//! `trilemma serve` on a real model, evaluated through the HTTP engine: the same
//! per-item choices as the embedded engine, and echo logprobs that line up with the
//! tokens they score.

mod common;
use common::{http, start_server, trilemma, Server};

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;

fn serve() -> Server {
    serve_with(&[])
}

fn serve_with(extra: &[&str]) -> Server {
    let mut args = vec![
        "serve",
        "smollm2-135m",
        "--listen",
        "127.0.0.1:0",
        "--max-batch",
        "4",
    ];
    args.extend_from_slice(extra);
    start_server(&args)
}

/// Per-item (pick, choice logprobs) of a run directory's samples.
fn picks(dir: &Path) -> BTreeMap<String, (u64, Vec<f64>)> {
    std::fs::read_to_string(dir.join("smollm2-135m__arc-easy/samples.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let r: serde_json::Value = serde_json::from_str(l).unwrap();
            let lps = r["detail"]["logprobs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            (
                r["sample_id"].as_str().unwrap().to_string(),
                (r["detail"]["pick"].as_u64().unwrap(), lps),
            )
        })
        .collect()
}

fn run(extra: &[&str], out: &Path) {
    let status = trilemma()
        .args([
            "run",
            "-t",
            "arc-easy",
            "--limit",
            "12",
            "--batch-size",
            "1",
            "--idle-baseline",
            "0",
            "--json",
        ])
        .args(extra)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn evaluating_through_serve_picks_what_the_embedded_engine_picks() {
    let server = serve();
    let tmp = tempfile::tempdir().unwrap();
    let (http, local) = (tmp.path().join("http"), tmp.path().join("local"));
    run(
        &["--engine", &server.url, "--served-model", "smollm2-135m"],
        &http,
    );
    run(&["-m", "smollm2-135m"], &local);
    let (a, b) = (picks(&http), picks(&local));
    assert_eq!(a.len(), 12);
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (id, (pick, lps)) in &a {
        let (pick_local, lps_local) = &b[id];
        assert_eq!(pick, pick_local, "{id}: {lps:?} vs {lps_local:?}");
        // Echo scores the whole prompt in one sequence, the embedded engine the choices
        // together after a shared context: llama.cpp's kernels differ with the batch's
        // shape, so the sums agree closely but not to the last bit.
        for (x, y) in lps.iter().zip(lps_local) {
            assert!((x - y).abs() < 0.5, "{id}: {x} vs {y}");
        }
    }

    // The run through HTTP says what it was and leaves out the client's own meters.
    let summary: serde_json::Value = serde_json::from_slice(
        &std::fs::read(http.join("smollm2-135m__arc-easy/summary.json")).unwrap(),
    )
    .unwrap();
    assert!(summary["engine"].as_str().unwrap().contains("openai-http"));
    assert!(summary["memory"].is_null());
    assert!(summary["energy"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["source"] != "estimate"));
}

/// POSTs to `{base}/completions`; returns the body, after checking for a 200.
fn post_raw(base: &str, body: &serde_json::Value) -> String {
    let r = http(base, "POST", "completions", Some(body));
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

#[test]
fn streamed_completion_sends_the_text_token_by_token() {
    let server = serve();
    let ask = |stream: bool| {
        serde_json::json!({
            "model": "smollm2-135m",
            "prompt": "Once upon a time",
            "max_tokens": 24,
            "stream": stream,
        })
    };
    let whole: serde_json::Value =
        serde_json::from_str(&post_raw(&server.url, &ask(false))).unwrap();
    let sse = post_raw(&server.url, &ask(true));
    let mut pieces = Vec::new();
    let mut finish = None;
    let mut done = false;
    for data in sse.lines().filter_map(|l| l.strip_prefix("data: ")) {
        if data == "[DONE]" {
            done = true;
            continue;
        }
        let ev: serde_json::Value = serde_json::from_str(data).unwrap();
        if let Some(c) = ev["choices"].as_array().and_then(|c| c.first()) {
            let text = c["text"].as_str().unwrap_or_default();
            if !text.is_empty() {
                pieces.push(text.to_string());
            }
            if !c["finish_reason"].is_null() {
                finish = Some(c["finish_reason"].clone());
            }
        }
    }
    assert!(done);
    assert_eq!(finish, Some(whole["choices"][0]["finish_reason"].clone()));
    // One event per generated token (whole characters), adding up to the same text.
    assert!(pieces.len() >= 12, "{pieces:?}");
    assert_eq!(
        pieces.concat(),
        whole["choices"][0]["text"].as_str().unwrap()
    );
}

#[test]
fn echo_logprobs_line_up_with_the_tokens_they_score() {
    let server = serve();
    let post = |body: serde_json::Value| -> serde_json::Value {
        serde_json::from_str(&post_raw(&server.url, &body)).unwrap()
    };
    let echo = post(serde_json::json!({
        "model": "smollm2-135m",
        "prompt": "The capital of France is Paris",
        "max_tokens": 0,
        "echo": true,
        "logprobs": 1,
    }));
    let lp = &echo["choices"][0]["logprobs"];
    let tokens: Vec<&str> = lp["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(tokens.concat(), "The capital of France is Paris");
    assert_eq!(tokens.last(), Some(&" Paris"));
    assert!(lp["token_logprobs"][0].is_null());
    let paris = lp["token_logprobs"][tokens.len() - 1].as_f64().unwrap();
    // " Paris" is what the model generates after the prompt without it, so the echo
    // must list it as the most likely token at its own position (a shifted echo scores
    // the wrong position and fails this).
    let plain = post(serde_json::json!({
        "model": "smollm2-135m",
        "prompt": "The capital of France is",
        "max_tokens": 1,
    }));
    assert_eq!(plain["choices"][0]["text"], " Paris");
    assert_eq!(lp["top_logprobs"][tokens.len() - 1][" Paris"], paris);
    assert!(paris > -1.0, "{paris}");
    // Five alternatives at every position but the first, the chosen token among the keys
    // with its own logprob; the largest value is the chosen token's where it was the
    // most likely. The same prompt as token ids scores the same.
    let five = post(serde_json::json!({
        "model": "smollm2-135m",
        "prompt": "The capital of France is Paris",
        "max_tokens": 0,
        "echo": true,
        "logprobs": 5,
    }));
    let lp5 = &five["choices"][0]["logprobs"];
    assert_eq!(lp5["token_logprobs"], lp["token_logprobs"]);
    let tops = lp5["top_logprobs"].as_array().unwrap();
    assert!(tops[0].is_null());
    for (i, top) in tops.iter().enumerate().skip(1) {
        let m = top.as_object().unwrap();
        assert!((5..=6).contains(&m.len()), "position {i}: {top}");
        assert_eq!(m[tokens[i]], lp["token_logprobs"][i], "position {i}");
        let best = m
            .values()
            .filter_map(|v| v.as_f64())
            .fold(f64::MIN, f64::max);
        let total: f64 = m.values().filter_map(|v| v.as_f64()).map(f64::exp).sum();
        assert!(total <= 1.0 + 1e-6, "position {i}: {top}");
        if i == tokens.len() - 1 {
            assert_eq!(best, paris, "{top}");
        }
    }
    // With max_tokens 1 (lm-evaluation-harness's request), the greedy next token follows
    // the echoed prompt, and it is the most likely at its position.
    let next = post(serde_json::json!({
        "model": "smollm2-135m",
        "prompt": "The capital of France is",
        "max_tokens": 1,
        "echo": true,
        "logprobs": 3,
    }));
    let c = &next["choices"][0];
    assert_eq!(c["text"], "The capital of France is Paris");
    let n = c["logprobs"]["tokens"].as_array().unwrap().len();
    assert_eq!(c["logprobs"]["tokens"][n - 1], " Paris");
    let last = c["logprobs"]["token_logprobs"][n - 1].as_f64().unwrap();
    assert!((last - paris).abs() < 0.02, "{last} vs {paris}");
    // Causal: text after " Paris" does not change its score.
    let longer = post(serde_json::json!({
        "model": "smollm2-135m",
        "prompt": "The capital of France is Paris, of course.",
        "max_tokens": 0,
        "echo": true,
        "logprobs": 1,
    }));
    let again = longer["choices"][0]["logprobs"]["token_logprobs"][tokens.len() - 1]
        .as_f64()
        .unwrap();
    assert!((again - paris).abs() < 0.02, "{again} vs {paris}");
}

#[test]
fn load_mode_drives_serve_with_a_built_in_tasks_prompts() {
    let server = serve();
    let tmp = tempfile::tempdir().unwrap();
    // A wrong model name is refused by the preflight, before any load is sent.
    let wrong = trilemma()
        .args([
            "load",
            "--engine",
            &server.url,
            "--served-model",
            "gpt-9",
            "--task",
            "arc-easy",
        ])
        .args(["--concurrency", "1", "--requests", "1"])
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        err.contains("does not serve a model named \"gpt-9\""),
        "{err}"
    );
    let report = tmp.path().join("load.json");
    let status = trilemma()
        .args([
            "load",
            "--engine",
            &server.url,
            "--served-model",
            "smollm2-135m",
            "--task",
            "arc-easy",
            "--chat",
            "--concurrency",
            "2",
            "--requests",
            "4",
            "--max-tokens",
            "4",
            "--energy",
            "--out",
        ])
        .arg(&report)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let s = &report["profiles"][0]["summary"];
    assert_eq!(s["failed"], 0, "{s}");
    assert!(s["output_tokens_per_s"].as_f64().unwrap() > 0.0);
    // As chat messages, the instruct model answers every question with text.
    assert_eq!(s["ttft_s"]["n"], 4, "{s}");
    // The raw per-request records are kept beside the summary.
    let requests = report["profiles"][0]["run"]["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 4);
    // Energy over the steady-state window, or a plain statement that there was none;
    // without RAPL it is the machine-wide estimate, labelled as such.
    let energy = &report["profiles"][0]["energy"];
    assert!(energy["text"]
        .as_str()
        .unwrap()
        .contains("steady-state window"));
    if !energy["window_ns"].is_null() {
        let first = &energy["sources"][0];
        assert_eq!(first["source"], "estimate");
        assert!(first["j_per_token"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn a_request_joins_the_batch_in_flight_and_ends_first() {
    // Continuous batching: a short request sent while a long one is generating starts at
    // the next decode step and is answered long before the long one ends. A server that
    // batched whole engine calls would answer it only after the long request.
    let server = serve();
    let url = server.url.clone();
    let long = std::thread::spawn(move || {
        let sse = post_raw(
            &url,
            &serde_json::json!({"model": "smollm2-135m", "prompt": "Once upon a time",
                "max_tokens": 160, "stream": true}),
        );
        (std::time::Instant::now(), sse)
    });
    // Let the long request reach the engine.
    std::thread::sleep(std::time::Duration::from_millis(800));
    let short: serde_json::Value = serde_json::from_str(&post_raw(
        &server.url,
        &serde_json::json!({"model": "smollm2-135m", "prompt": "The capital of France is", "max_tokens": 2}),
    ))
    .unwrap();
    let short_done = std::time::Instant::now();
    assert_eq!(short["usage"]["completion_tokens"], 2, "{short}");
    let (long_done, sse) = long.join().unwrap();
    assert!(
        short_done < long_done,
        "the short request waited for the long one"
    );
    // Every text piece carries the server's own time since the request arrived, growing.
    let stamps: Vec<u64> = sse
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .filter_map(|v| v.pointer("/server_timing/since_request_ns")?.as_u64())
        .collect();
    assert!(stamps.len() > 100, "{}", stamps.len());
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn load_sweeps_the_servers_batch_size() {
    let tmp = tempfile::tempdir().unwrap();
    let report = tmp.path().join("load.json");
    // Story openings: every answer has text, so every request has a TTFT (an ARC-Easy
    // question often gets an immediate end of sequence from this model).
    let prompts = tmp.path().join("prompts.txt");
    std::fs::write(&prompts, "Once upon a time\nThe little robot\n").unwrap();
    let out = trilemma()
        .args([
            "load",
            "--serve",
            "smollm2-135m",
            "--max-batch",
            "1,2",
            "--prompts",
            prompts.to_str().unwrap(),
            "--requests",
            "4",
            "--max-tokens",
            "4",
            "--energy",
            "--out",
        ])
        .arg(&report)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Energy-latency over batch sizes"),
        "{stdout}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let entries = report["profiles"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    for (e, b) in entries.iter().zip([1, 2]) {
        // Each server's batch is loaded at its own size, and every request succeeded.
        assert_eq!(e["max_batch"], b);
        assert_eq!(e["summary"]["profile"]["n"], b);
        assert_eq!(e["summary"]["failed"], 0);
        // The client's TTFT is checked against the server's own.
        assert_eq!(e["summary"]["ttft_gap_s"]["n"], 4);
        assert!(e["summary"]["ttft_gap_s"]["min"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn chunked_prefill_gives_the_text_of_a_whole_prompt() {
    // A prompt of about 60 tokens read in chunks of 16 (four decode steps) and read whole
    // give the same greedy answer.
    let chunked = serve_with(&["--prefill-chunk", "16"]);
    let whole = serve_with(&["--prefill-chunk", "0"]);
    let ask = serde_json::json!({
        "model": "smollm2-135m",
        "prompt": "The river begins high in the mountains, where snow melts every spring and \
                   runs down through pine forests into a long valley. Farmers in the valley \
                   have used its water for centuries to grow wheat, barley and apples. In \
                   the summer the river is slow and warm, and children swim in it. The river \
                   is important because",
        "max_tokens": 6,
    });
    let text = |server: &Server| -> String {
        let v: serde_json::Value = serde_json::from_str(&post_raw(&server.url, &ask)).unwrap();
        assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 48, "{v}");
        v["choices"][0]["text"].as_str().unwrap().to_string()
    };
    let (a, b) = (text(&chunked), text(&whole));
    assert!(!a.trim().is_empty());
    assert_eq!(a, b);
}
