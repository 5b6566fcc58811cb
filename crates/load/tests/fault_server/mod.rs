//! A misbehaving OpenAI-compatible server for fault-injection tests, written once and
//! shared: `load`'s tests use it as `mod fault_server;`, the gateway's include this file
//! by its path.
//!
//! It is a raw TCP server on 127.0.0.1 because the faults live at the byte level, where
//! a real server cannot be made to fail on demand: an error status, a reset connection,
//! a stream cut inside an event, a body that is not JSON, silence, a slow drip. Only
//! completion requests (`POST`) are faulted, and only those whose 0-based count falls in
//! the faulty range (`0..2`: the first two; `4..usize::MAX`: all after the fourth), so
//! that a run mixes failures with normal answers in numbers a test can know. `GET`
//! requests (the preflights' `/models`) are always answered, so a run gets as far as its
//! requests. Every answer closes its connection, so each request meets the server anew.
//!
//! A normal answer is [`TOKENS`] text pieces, each ` NAME`, with `usage` (and, not
//! streamed, `finish_reason = "stop"` and a log-probability of [`LOGPROB`] per token):
//! the server's name in the text says which server answered.

// Each test file uses a different part of the server.
#![allow(dead_code)]

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Text pieces (tokens) of a normal answer.
pub const TOKENS: usize = 3;

/// The log-probability of each token of a normal non-streamed answer.
pub const LOGPROB: f64 = -0.1;

/// How a faulty completion request is answered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// This status, with an OpenAI-style JSON error body.
    Status(u16),
    /// The request is read, then the connection is reset (`SO_LINGER` 0: a TCP RST).
    Reset,
    /// The answer starts, then the connection closes inside an event (a stream) or
    /// inside the JSON body (a non-streamed answer, shorter than its `Content-Length`).
    Cut,
    /// A 200 whose payload is not JSON: one event `data: {"choices": [oops` after a good
    /// one (a stream), or the whole body (a non-streamed answer).
    InvalidJson,
    /// The request is read and never answered; the socket stays open until the client
    /// gives up and closes it.
    Silent,
    /// A valid answer whose first piece comes at once and each next one after this
    /// pause, unless the client gives up first.
    Drip(Duration),
}

/// A running server; it serves until the test process ends.
pub struct FaultServer {
    /// Base URL with the API prefix: `http://127.0.0.1:PORT/v1`.
    pub url: String,
    /// The model it serves (`/models`) and the word its answers are made of.
    pub name: String,
    completions: Arc<AtomicUsize>,
}

/// What every connection handler needs to know.
struct Behaviour {
    name: String,
    fault: Option<Fault>,
    faulty: Range<usize>,
    completions: Arc<AtomicUsize>,
}

impl FaultServer {
    /// A server that answers every request correctly.
    pub fn normal(name: &str) -> Self {
        Self::start(name, None, 0..0)
    }

    /// A server that answers the completion requests whose 0-based count is in `faulty`
    /// with `fault`, and the others correctly.
    pub fn faulty(name: &str, fault: Fault, faulty: Range<usize>) -> Self {
        Self::start(name, Some(fault), faulty)
    }

    /// Completion requests received so far (faulted or not).
    pub fn completions(&self) -> usize {
        self.completions.load(Ordering::SeqCst)
    }

    fn start(name: &str, fault: Option<Fault>, faulty: Range<usize>) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let completions = Arc::new(AtomicUsize::new(0));
        let behaviour = Arc::new(Behaviour {
            name: name.to_string(),
            fault,
            faulty,
            completions: completions.clone(),
        });
        // Its own runtime on its own thread: the server works the same under a test that
        // has no runtime (`load`) and under one that has (the gateway).
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        std::thread::Builder::new()
            .name(format!("fault-server-{name}"))
            .spawn(move || rt.block_on(accept(listener, behaviour)))
            .unwrap();
        Self {
            url: format!("http://127.0.0.1:{port}/v1"),
            name: name.to_string(),
            completions,
        }
    }
}

async fn accept(listener: std::net::TcpListener, behaviour: Arc<Behaviour>) {
    let listener = TcpListener::from_std(listener).unwrap();
    loop {
        let Ok((s, _)) = listener.accept().await else {
            continue;
        };
        let _ = s.set_nodelay(true);
        tokio::spawn(serve_one(s, behaviour.clone()));
    }
}

/// One request read from a connection.
struct Request {
    method: String,
    body: Value,
}

impl Request {
    fn streamed(&self) -> bool {
        self.body.get("stream").and_then(Value::as_bool) == Some(true)
    }
}

/// Answers the one request of a connection, faulted or not.
async fn serve_one(mut s: TcpStream, b: Arc<Behaviour>) {
    let Some(req) = read_request(&mut s).await else {
        return;
    };
    if req.method != "POST" {
        let models = json!({"object": "list", "data": [{"id": b.name, "object": "model"}]});
        let _ = s
            .write_all(json_head(200, models.to_string().len()).as_bytes())
            .await;
        let _ = s.write_all(models.to_string().as_bytes()).await;
        return;
    }
    let n = b.completions.fetch_add(1, Ordering::SeqCst);
    let fault = b.fault.filter(|_| b.faulty.contains(&n));
    let (head, pieces) = if req.streamed() {
        (SSE_HEAD.to_string(), stream_pieces(&b.name))
    } else {
        let body = completion(&b.name).to_string();
        (json_head(200, body.len()), halves(&body))
    };
    match fault {
        None => send(&mut s, &head, &pieces, Duration::ZERO).await,
        Some(Fault::Status(code)) => {
            let body = json!({"error": {"message": format!("injected fault: HTTP {code}"),
                              "type": "server_error", "code": code}})
            .to_string();
            let _ = s.write_all(json_head(code, body.len()).as_bytes()).await;
            let _ = s.write_all(body.as_bytes()).await;
        }
        Some(Fault::Reset) => {
            // A zero linger makes the close an RST, not a FIN.
            let _ = s.set_zero_linger();
            drop(s);
        }
        Some(Fault::Cut) => {
            let last = &pieces[1];
            let cut = [pieces[0].clone(), last[..last.len() / 2].to_string()];
            send(&mut s, &head, &cut, Duration::ZERO).await;
        }
        Some(Fault::InvalidJson) if req.streamed() => {
            let bad = [
                pieces[0].clone(),
                "data: {\"choices\": [oops\n\n".to_string(),
            ];
            send(&mut s, &head, &bad, Duration::ZERO).await;
        }
        Some(Fault::InvalidJson) => {
            let body = "{\"choices\": [oops";
            let _ = s.write_all(json_head(200, body.len()).as_bytes()).await;
            let _ = s.write_all(body.as_bytes()).await;
        }
        Some(Fault::Silent) => {
            closed_within(&mut s, Duration::MAX).await;
        }
        Some(Fault::Drip(pause)) => send(&mut s, &head, &pieces, pause).await,
    }
}

/// Reads one request: its head, then `Content-Length` bytes of body.
async fn read_request(s: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match s.read(&mut tmp).await {
            Ok(0) | Err(_) => return None,
            Ok(k) => buf.extend_from_slice(&tmp[..k]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        match s.read(&mut tmp).await {
            Ok(0) | Err(_) => return None,
            Ok(k) => buf.extend_from_slice(&tmp[..k]),
        }
    }
    Some(Request {
        method: head.split(' ').next().unwrap_or("").to_string(),
        body: serde_json::from_slice(&buf[head_end..head_end + len]).unwrap_or(Value::Null),
    })
}

/// Writes the head and the pieces in turn, waiting `pause` between two pieces; stops
/// early when the client closes the connection meanwhile.
async fn send(s: &mut TcpStream, head: &str, pieces: &[String], pause: Duration) {
    if s.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    for (i, p) in pieces.iter().enumerate() {
        if i > 0 && !pause.is_zero() && closed_within(s, pause).await {
            return;
        }
        if s.write_all(p.as_bytes()).await.is_err() || s.flush().await.is_err() {
            return;
        }
    }
}

/// Waits up to `limit` for the client to close the connection; true if it did. The
/// request was read whole before, so anything more the client sends is only its close.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    let mut tmp = [0u8; 1024];
    let until_closed = async {
        loop {
            match s.read(&mut tmp).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    // Tokio waits forever for a limit past the end of time (`Duration::MAX`).
    tokio::time::timeout(limit, until_closed).await.is_ok()
}

const SSE_HEAD: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                        Cache-Control: no-cache\r\nConnection: close\r\n\r\n";

fn json_head(status: u16, len: usize) -> String {
    format!(
        "HTTP/1.1 {status} Injected\r\nContent-Type: application/json\r\n\
         Content-Length: {len}\r\nConnection: close\r\n\r\n"
    )
}

/// A normal streamed answer, one piece per event: the text pieces, `usage`, `[DONE]`.
fn stream_pieces(name: &str) -> Vec<String> {
    let event = |v: Value| format!("data: {v}\n\n");
    let mut out: Vec<String> = (0..TOKENS)
        .map(|_| {
            event(json!({"id": "cmpl-fault", "object": "text_completion", "model": name,
                         "choices": [{"index": 0, "text": format!(" {name}"), "finish_reason": null}]}))
        })
        .collect();
    out.push(event(
        json!({"id": "cmpl-fault", "object": "text_completion", "model": name,
        "choices": [],
        "usage": {"prompt_tokens": 3, "completion_tokens": TOKENS, "total_tokens": 3 + TOKENS}}),
    ));
    out.push("data: [DONE]\n\n".to_string());
    out
}

/// A normal non-streamed completion, with token log-probabilities and `usage`.
fn completion(name: &str) -> Value {
    json!({"id": "cmpl-fault", "object": "text_completion", "model": name,
        "choices": [{"index": 0, "text": format!(" {name}").repeat(TOKENS), "finish_reason": "stop",
                     "logprobs": {"tokens": vec![format!(" {name}"); TOKENS],
                                  "token_logprobs": vec![LOGPROB; TOKENS]}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": TOKENS, "total_tokens": 3 + TOKENS}})
}

/// A body in two pieces, so that it can be cut or dripped in the middle.
fn halves(body: &str) -> Vec<String> {
    let mid = body.len() / 2;
    vec![body[..mid].to_string(), body[mid..].to_string()]
}
