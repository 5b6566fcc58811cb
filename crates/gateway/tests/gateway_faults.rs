//! Fault injection at the gateway's upstream tiers: a two-tier cascade whose tiers are
//! both upstream URLs, the first a server that fails (an error status, a reset, an answer
//! cut short, a body that is not JSON, silence, a slow drip), the second a normal one.
//! Each fault is retried or escalated with the reason `error` and an error that names
//! it; a 5xx that passes is answered by the first tier after a retry; when every tier
//! fails the client gets a 502 in OpenAI's shape naming the last error, never a hang.
//!
//! The gateway runs in this process from the library (`serve_blocking`, the command's
//! own entry point, preflight included); no model is loaded.

#[path = "../../load/tests/fault_server/mod.rs"]
mod fault_server;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use fault_server::{Fault, FaultServer};
use serde_json::{json, Value};
use trilemma_cascade::CascadeConfig;

/// How long a test waits for the gateway's answer before calling it a hang.
const HANG: Duration = Duration::from_secs(20);

/// How the gateway reaches a tier (the cascade file's `retries` and `timeout_s`).
struct Reach {
    retries: u32,
    timeout_s: f64,
}

/// A single attempt, with a timeout far above a normal answer's few milliseconds.
const ONE_TRY: Reach = Reach {
    retries: 0,
    timeout_s: 1.0,
};

/// One retry and a timeout no normal answer comes near, for tiers that must answer.
const PATIENT: Reach = Reach {
    retries: 1,
    timeout_s: 5.0,
};

/// A two-tier cascade of upstreams, each tier named after its server: the first tier's
/// normal answers (mean log-probability -0.1) pass its threshold of -1, so it answers
/// whenever it answers at all.
fn cascade(tiers: [(&FaultServer, &Reach); 2], gateway: &str) -> String {
    let tier = |(s, r): (&FaultServer, &Reach)| {
        format!(
            "[[tier]]\nname = \"{0}\"\nurl = \"{1}\"\nserved_model = \"{0}\"\n\
             retries = {2}\ntimeout_s = {3}\n\n",
            s.name, s.url, r.retries, r.timeout_s
        )
    };
    format!(
        "{}{}[policy]\nsignal = \"logprob_mean\"\nthresholds = [-1.0]\n\n{gateway}",
        tier(tiers[0]),
        tier(tiers[1])
    )
}

/// Starts the gateway on a free loopback port and returns its address (`127.0.0.1:PORT`).
fn start_gateway(toml: &str) -> String {
    let cfg = CascadeConfig::parse(toml, Path::new("cascade.toml")).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let failed = tx.clone();
    std::thread::spawn(move || {
        let served = trilemma_gateway::serve_blocking(
            cfg,
            None,
            "cascade".into(),
            "127.0.0.1:0".parse().unwrap(),
            &mut |t| Err(format!("tier {} is not an upstream", t.name)),
            trilemma_gateway::Security::default(),
            std::future::pending(),
            move |addr, _| {
                let _ = tx.send(Ok(addr.to_string()));
            },
        );
        if let Err(e) = served {
            let _ = failed.send(Err(e.to_string()));
        }
    });
    rx.recv_timeout(HANG)
        .expect("the gateway did not start")
        .expect("the gateway failed to start")
}

/// An HTTP answer as the client saw it.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// POSTs `body` to `path` of the gateway on a fresh connection and reads the whole answer;
/// no answer within [`HANG`] fails the test.
fn post(addr: &str, path: &str, body: &Value) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(HANG)).unwrap();
    let body = body.to_string();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("no answer from the gateway within {HANG:?}: {e}"));
    parse(&String::from_utf8_lossy(&raw))
}

/// The status, headers and body of an answer. The gateway's answers all have a length
/// (its JSON and its replayed streams are buffered), so the body is the rest as read.
fn parse(raw: &str) -> Reply {
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    let mut lines = head.lines();
    let status = lines.next().unwrap_or("").split(' ').nth(1).unwrap_or("");
    Reply {
        status: status.parse().unwrap_or(0),
        headers: lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect(),
        body: body.to_string(),
    }
}

fn completion_request() -> Value {
    json!({"model": "cascade", "prompt": "What is 2+2?", "max_tokens": 4})
}

/// Small fails every request with `fault`, large is normal: the answer is large's, and
/// says that small escalated with the reason `error` and an error naming `cause`.
fn assert_escalated_naming(fault: Fault, how: &Reach, cause: &str) {
    let small = FaultServer::faulty("small", fault, 0..usize::MAX);
    let large = FaultServer::normal("large");
    let gw = start_gateway(&cascade([(&small, how), (&large, &PATIENT)], ""));
    let r = post(&gw, "/v1/completions", &completion_request());
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-trilemma-tier"), Some("large"));
    assert_eq!(r.header("x-trilemma-escalations"), Some("small:error"));
    let v = r.json();
    assert!(v["choices"][0]["text"].as_str().unwrap().contains("large"));
    assert_eq!(v["trilemma"]["tier"], "large");
    let esc = &v["trilemma"]["escalations"][0];
    assert_eq!(
        (&esc["tier"], &esc["reason"]),
        (&json!("small"), &json!("error"))
    );
    let error = esc["error"].as_str().unwrap_or_default();
    assert!(
        error.to_lowercase().contains(&cause.to_lowercase()),
        "the error does not name {cause:?}: {error}"
    );
    assert_eq!(small.completions(), how.retries as usize + 1, "attempts");
    assert_eq!(large.completions(), 1);
}

#[test]
fn a_5xx_at_the_first_tier_that_passes_on_retry_is_answered_by_that_tier() {
    let small = FaultServer::faulty("small", Fault::Status(503), 0..1);
    let large = FaultServer::normal("large");
    let gw = start_gateway(&cascade([(&small, &PATIENT), (&large, &PATIENT)], ""));
    let r = post(&gw, "/v1/completions", &completion_request());
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-trilemma-tier"), Some("small"));
    assert_eq!(r.header("x-trilemma-escalations"), Some(""));
    let v = r.json();
    assert!(v["choices"][0]["text"].as_str().unwrap().contains("small"));
    assert_eq!(v["trilemma"]["escalations"], json!([]));
    assert_eq!((small.completions(), large.completions()), (2, 0));
}

#[test]
fn a_5xx_that_persists_is_retried_then_escalated_naming_the_status() {
    assert_escalated_naming(Fault::Status(500), &PATIENT, "HTTP 500 (2 attempts)");
}

#[test]
fn a_reset_connection_escalates_with_an_error_naming_the_reset() {
    assert_escalated_naming(Fault::Reset, &ONE_TRY, "connection reset");
}

#[test]
fn an_answer_cut_mid_body_escalates_with_an_error_naming_the_cut() {
    assert_escalated_naming(Fault::Cut, &ONE_TRY, "before message length reached");
}

#[test]
fn an_answer_that_is_not_json_escalates_as_an_error_not_as_an_answer() {
    assert_escalated_naming(Fault::InvalidJson, &ONE_TRY, "not JSON");
}

#[test]
fn a_tier_that_never_answers_times_out_and_escalates() {
    assert_escalated_naming(Fault::Silent, &ONE_TRY, "timed out after 1.0 s");
}

#[test]
fn a_slow_drip_past_the_timeout_escalates_as_timed_out() {
    let drip = Fault::Drip(Duration::from_secs(60));
    assert_escalated_naming(drip, &ONE_TRY, "timed out after 1.0 s");
}

#[test]
fn a_streamed_request_escalates_past_a_fault_the_same_way() {
    let small = FaultServer::faulty("small", Fault::Reset, 0..usize::MAX);
    let large = FaultServer::normal("large");
    let gw = start_gateway(&cascade([(&small, &ONE_TRY), (&large, &PATIENT)], ""));
    let mut body = completion_request();
    body["stream"] = json!(true);
    let r = post(&gw, "/v1/completions", &body);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-trilemma-escalations"), Some("small:error"));
    assert!(r.body.ends_with("data: [DONE]\n\n"), "{}", r.body);
    let decision: Value = r
        .body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .find(|v| v["object"] == "trilemma.decision")
        .expect("a decision event");
    let error = decision["trilemma"]["escalations"][0]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(error.contains("reset"), "{error}");
}

#[test]
fn when_every_tier_fails_the_client_gets_a_502_naming_the_last_error() {
    let small = FaultServer::faulty("small", Fault::Status(503), 0..usize::MAX);
    let large = FaultServer::faulty("large", Fault::InvalidJson, 0..usize::MAX);
    let gw = start_gateway(&cascade([(&small, &ONE_TRY), (&large, &PATIENT)], ""));
    let r = post(&gw, "/v1/completions", &completion_request());
    assert_eq!(r.status, 502, "{}", r.body);
    let v = r.json();
    let message = v["error"]["message"].as_str().unwrap_or_default();
    // The last tier's error, after its retry: a 200 that is not JSON is no answer.
    assert!(
        message.starts_with("no tier answered")
            && message.contains("not JSON")
            && message.contains("(2 attempts)"),
        "{message}"
    );
    assert!(
        message.contains(&large.url),
        "names the tier's URL: {message}"
    );
    assert_eq!(v["error"]["type"], "server_error");
    assert_eq!(v["error"]["code"], "502");
    assert_eq!((small.completions(), large.completions()), (1, 2));
}

#[test]
fn when_the_last_tier_never_answers_the_client_gets_a_502_not_a_hang() {
    let small = FaultServer::faulty("small", Fault::Reset, 0..usize::MAX);
    let large = FaultServer::faulty("large", Fault::Silent, 0..usize::MAX);
    let gw = start_gateway(&cascade([(&small, &ONE_TRY), (&large, &ONE_TRY)], ""));
    let r = post(&gw, "/v1/completions", &completion_request());
    assert_eq!(r.status, 502, "{}", r.body);
    let message = r.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.contains("timed out after 1.0 s"), "{message}");
}

#[test]
fn in_commit_mode_a_reset_first_tier_is_a_502_naming_the_reset() {
    let small = FaultServer::faulty("small", Fault::Reset, 0..usize::MAX);
    let large = FaultServer::normal("large");
    let toml = cascade(
        [(&small, &ONE_TRY), (&large, &PATIENT)],
        "[gateway]\nstream = \"commit\"\n",
    );
    let gw = start_gateway(&toml);
    let mut body = completion_request();
    body["stream"] = json!(true);
    let r = post(&gw, "/v1/completions", &body);
    assert_eq!(r.status, 502, "{}", r.body);
    let message = r.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.starts_with("small:") && message.contains("reset"),
        "{message}"
    );
}
