//! The guard in front of real `trilemma serve` and `serve --cascade` processes on the
//! real smollm2-135m, spoken to over 127.0.0.1: keys from a key file (raw and hashed),
//! 401 without one, /health open; an oversized body 413; max_tokens over the limit
//! 400; a full server 429 with Retry-After while a client stalls its upload, then 408
//! for that client and the others served; a client that never reads its stream does not
//! hold the only sequence; the audit log of upstream calls; keys never echoed.

mod common;
use common::{run_ok, start_server as start, trilemma};

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

const KEY_A: &str = "tk-alpha-0123456789";
/// Given to the server only as its SHA-256.
const KEY_B: &str = "tk-bravo-9876543210";
const KEY_B_SHA256: &str = "777721a0495101b674ea4503779cc00bf484a31ac5c2148079945ac3d2ac682e";

/// The key file: KEY_A raw, KEY_B as its hash, a comment and a blank line.
fn key_file(dir: &Path) -> PathBuf {
    let p = dir.join("keys.txt");
    std::fs::write(
        &p,
        format!("# who may call\n{KEY_A}\n\nsha256:{KEY_B_SHA256}\n"),
    )
    .unwrap();
    p
}

struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn error(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}\n{}", self.head, self.body);
        let v: Value =
            serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body));
        for f in ["message", "type", "param", "code"] {
            assert!(v["error"].get(f).is_some(), "no error.{f}: {v}");
        }
        v["error"].clone()
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// Reads an HTTP/1.1 answer (the connection closes after it).
fn read_answer(c: &mut TcpStream) -> Answer {
    let mut raw = Vec::new();
    c.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 || n > tail.len() {
                break;
            }
            out.push_str(&tail[..n]);
            rest = tail[n..].trim_start_matches("\r\n");
        }
        out
    } else {
        body.to_string()
    };
    Answer {
        status,
        head: head.to_string(),
        body,
    }
}

fn send(addr: &str, method: &str, path: &str, key: Option<&str>, body: &str) -> Answer {
    let mut c = TcpStream::connect(addr).unwrap();
    let auth = key.map_or(String::new(), |k| format!("Authorization: Bearer {k}\r\n"));
    write!(
        c,
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    read_answer(&mut c)
}

fn completion(addr: &str, key: Option<&str>, body: Value) -> Answer {
    send(addr, "POST", "/v1/completions", key, &body.to_string())
}

fn short_prompt() -> Value {
    json!({"prompt": "The capital of France is", "max_tokens": 4})
}

#[test]
fn keys_limits_and_a_full_server_at_a_real_serve() {
    let dir = tempfile::tempdir().unwrap();
    let keys = key_file(dir.path());
    let s = start(&[
        "serve",
        "-m",
        "smollm2-135m",
        "--listen",
        "127.0.0.1:0",
        "--threads",
        "2",
        "--n-ctx",
        "512",
        "--max-batch",
        "1",
        "--api-keys",
        keys.to_str().unwrap(),
        "--max-body-bytes",
        "4096",
        "--max-tokens-limit",
        "32",
        "--max-in-flight",
        "1",
        "--body-timeout",
        "3",
    ]);
    let addr = s.addr();
    let a = addr.as_str();

    // Keys: none, a wrong one, each of the file's (raw and hashed); /health open.
    let e = completion(a, None, short_prompt()).error(401);
    assert_eq!(e["code"], "invalid_api_key");
    completion(a, Some("tk-wrong"), short_prompt()).error(401);
    send(a, "GET", "/v1/models", None, "").error(401);
    let health = send(a, "GET", "/health", None, "");
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));
    for key in [KEY_A, KEY_B] {
        let ok = completion(a, Some(key), short_prompt());
        assert_eq!(ok.status, 200, "{}", ok.body);
        let v: Value = serde_json::from_str(&ok.body).unwrap();
        assert_eq!(
            v["usage"]["completion_tokens"].as_u64().map(|n| n > 0),
            Some(true),
            "{v}"
        );
    }

    // Limits: a body over 4096 bytes (sized or chunked), max_tokens over 32.
    let big = json!({"prompt": "x".repeat(5000), "max_tokens": 1});
    let e = completion(a, Some(KEY_A), big.clone()).error(413);
    assert_eq!(e["code"], "request_too_large");
    let mut c = TcpStream::connect(a).unwrap();
    let body = big.to_string();
    write!(
        c,
        "POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY_A}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    )
    .unwrap();
    read_answer(&mut c).error(413);
    let e = completion(a, Some(KEY_A), json!({"prompt": "x", "max_tokens": 64})).error(400);
    assert_eq!(e["param"], "max_tokens");

    // A full server: one client stalls its upload (holding the one request in flight);
    // the next is refused 429 with Retry-After at once, the staller gets 408 once its
    // body stops arriving, and then the others are served again.
    let mut staller = TcpStream::connect(a).unwrap();
    write!(
        staller,
        "POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY_A}\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{{\"prompt\": "
    )
    .unwrap();
    let mut refused = None;
    for _ in 0..50 {
        let r = completion(a, Some(KEY_B), short_prompt());
        if r.status == 429 {
            refused = Some(r);
            break;
        }
        // The staller's request may not have reached the limit yet.
        std::thread::sleep(Duration::from_millis(20));
    }
    let refused = refused.expect("no 429 while a client held the only request in flight");
    let e = refused.error(429);
    assert_eq!(e["type"], "rate_limit_error");
    assert!(
        refused
            .header("retry-after")
            .is_some_and(|v| v.parse::<u64>().is_ok()),
        "{}",
        refused.head
    );
    let e = read_answer(&mut staller).error(408);
    assert_eq!(e["code"], "request_timeout");
    let ok = completion(a, Some(KEY_B), short_prompt());
    assert_eq!(ok.status, 200, "{}", ok.body);

    // No key in what the server shows: /metrics (open by default) names none.
    let m = send(a, "GET", "/metrics", None, "");
    assert_eq!(m.status, 200);
    assert!(!m.body.contains(KEY_A) && !m.body.contains(KEY_B) && !m.body.contains(KEY_B_SHA256));
}

#[test]
fn a_client_that_never_reads_its_stream_does_not_hold_the_only_sequence() {
    let s = start(&[
        "serve",
        "-m",
        "smollm2-135m",
        "--listen",
        "127.0.0.1:0",
        "--threads",
        "2",
        "--n-ctx",
        "512",
        "--max-batch",
        "1",
    ]);
    let addr = s.addr();
    let a = addr.as_str();
    let mut slow = TcpStream::connect(a).unwrap();
    let body =
        json!({"prompt": "Write a long story about a dragon.", "max_tokens": 48, "stream": true})
            .to_string();
    write!(
        slow,
        "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // The slow client reads nothing; another client is answered meanwhile (it waits for
    // the one sequence, which the engine frees whatever the slow client does).
    let other = completion(a, None, short_prompt());
    assert_eq!(other.status, 200, "{}", other.body);
    let others_tokens = serde_json::from_str::<Value>(&other.body).unwrap()["usage"]
        ["completion_tokens"]
        .as_u64()
        .unwrap();
    // Which of the two ran first depends on when the server read each request; either
    // way the unread stream's generation ends (its sequence freed) without the client
    // reading a byte.
    let gauge = |body: &str, name: &str| -> u64 {
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing: {body}"))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let m = send(a, "GET", "/metrics", None, "");
        let idle = gauge(&m.body, "trilemma_running_sequences ") == 0;
        let generated = gauge(&m.body, "trilemma_output_tokens_total ");
        if idle && generated > others_tokens {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the unread stream still holds its sequence after 120 s: {}",
            m.body
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // When it reads at last, its stream is whole.
    let streamed = read_answer(&mut slow);
    assert_eq!(streamed.status, 200);
    assert!(streamed.body.contains("data: [DONE]"), "{}", streamed.body);
}

#[test]
fn an_open_server_off_loopback_is_warned_about_and_bad_key_files_are_named() {
    // Without keys on 0.0.0.0: a warning before it serves.
    let s = start(&[
        "serve",
        "-m",
        "smollm2-135m",
        "--listen",
        "0.0.0.0:0",
        "--threads",
        "2",
        "--n-ctx",
        "256",
    ]);
    assert!(
        s.before
            .iter()
            .any(|l| l.contains("warning") && l.contains("without API keys")),
        "{:?}",
        s.before
    );
    drop(s);
    // A bad key line is refused before the model loads, naming the file and line.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("keys.txt");
    std::fs::write(&bad, "good-key-1\nsha256:12ab\n").unwrap();
    let out = trilemma()
        .args([
            "serve",
            "-m",
            "smollm2-135m",
            "--api-keys",
            bad.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("keys.txt:2") && err.contains("64 hex digits"),
        "{err}"
    );
    assert!(!err.contains("good-key-1"), "{err}");
}

#[test]
fn the_gateway_takes_the_same_keys_and_audits_its_upstream_calls() {
    let dir = tempfile::tempdir().unwrap();
    let keys = key_file(dir.path());
    let upstream = start(&[
        "serve",
        "-m",
        "smollm2-135m",
        "--listen",
        "127.0.0.1:0",
        "--threads",
        "2",
        "--n-ctx",
        "512",
        "--served-model",
        "small",
    ]);
    let cascade = dir.path().join("cascade.toml");
    std::fs::write(
        &cascade,
        format!(
            "[[tier]]\nname = \"remote\"\nurl = \"http://{}/v1\"\nserved_model = \"small\"\n\n[policy]\nsignal = \"margin\"\n",
            upstream.addr()
        ),
    )
    .unwrap();
    let audit = dir.path().join("audit.jsonl");
    let gw = start(&[
        "serve",
        "--cascade",
        cascade.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--api-keys",
        keys.to_str().unwrap(),
        "--protect-metrics",
        "--max-body-bytes",
        "4096",
        "--audit-log",
        audit.to_str().unwrap(),
    ]);
    let addr = gw.addr();
    let a = addr.as_str();
    let e = completion(a, None, short_prompt()).error(401);
    assert_eq!(e["code"], "invalid_api_key");
    // /metrics is behind a key here; /health is not.
    send(a, "GET", "/metrics", None, "").error(401);
    assert_eq!(send(a, "GET", "/metrics", Some(KEY_A), "").status, 200);
    assert_eq!(send(a, "GET", "/health", None, "").status, 200);
    let ok = completion(a, Some(KEY_A), short_prompt());
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.header("x-trilemma-tier").as_deref(), Some("remote"));
    let big = json!({"prompt": "x".repeat(5000)});
    completion(a, Some(KEY_A), big).error(413);

    // One audit line, for the one request that reached the upstream: the key's id, the
    // tier, why, sizes; not the key, not the prompt.
    let text = std::fs::read_to_string(&audit).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    let l = &lines[0];
    assert!(l["key_id"].as_str().unwrap().starts_with("key-"), "{l}");
    assert_eq!(l["tier"], "remote");
    assert_eq!(l["host"], upstream.addr().as_str());
    assert_eq!(l["loopback"], true);
    assert_eq!(l["reason"], "first tier of the plan");
    assert_eq!(l["outcome"], "answered");
    assert!(
        l["request_bytes"].as_u64().unwrap() > 0 && l["completion_tokens"].as_u64().unwrap() > 0,
        "{l}"
    );
    assert!(l.get("prompt").is_none(), "{l}");
    assert!(
        !text.contains(KEY_A) && !text.contains("capital of France"),
        "{text}"
    );
}

#[test]
fn the_sbom_lists_the_catalog_and_a_runs_assets_with_their_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bom.json");
    run_ok(trilemma().args(["assets", "sbom", "--out", out.to_str().unwrap()]));
    let bom: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(
        (bom["bomFormat"].as_str(), bom["specVersion"].as_str()),
        (Some("CycloneDX"), Some("1.5"))
    );
    let catalog = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../catalog/assets.toml"
    ))
    .unwrap();
    let pins: Vec<&str> = catalog
        .lines()
        .filter_map(|l| l.strip_prefix("sha256 = \""))
        .map(|l| l.trim_end_matches('"'))
        .collect();
    let comps = bom["components"].as_array().unwrap();
    assert_eq!(comps.len(), pins.len());
    for pin in &pins {
        assert!(
            comps
                .iter()
                .any(|c| c["hashes"][0]["alg"] == "SHA-256" && c["hashes"][0]["content"] == *pin),
            "no component with SHA-256 {pin}"
        );
    }
    // A run directory: its model (the manifest's hash, the catalog's pin) and data set.
    let run = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../store/tests/fixtures/v0/run"
    );
    let printed = run_ok(trilemma().args(["assets", "sbom", "--run", run]));
    let bom: Value = serde_json::from_slice(&printed.stdout).unwrap();
    let comps = bom["components"].as_array().unwrap();
    let prop = |c: &Value, name: &str| {
        c["properties"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["value"].clone())
    };
    let model = comps
        .iter()
        .find(|c| c["type"] == "machine-learning-model")
        .unwrap();
    assert_eq!(model["name"], "smollm2-135m");
    assert_eq!(
        model["hashes"][0]["content"],
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    );
    assert_eq!(prop(model, "trilemma:verified"), Some(json!("true")));
    let data = comps.iter().find(|c| c["type"] == "data").unwrap();
    assert_eq!(data["name"], "olmo-eval");
}
