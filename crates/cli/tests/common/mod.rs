//! What the CLI tests share: the binary, and running it to success.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Output, Stdio};

pub fn trilemma() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trilemma"))
}

/// Runs `cmd` to its end; a failure fails the test with the command's stderr.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("the trilemma binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A `trilemma` server process (`serve`, `serve --cascade`), killed when dropped.
pub struct Server {
    pub child: Child,
    /// The base URL it printed (`http://127.0.0.1:PORT/v1`).
    pub url: String,
    /// What it printed before listening (warnings, the model it loaded).
    pub before: Vec<String>,
}

impl Server {
    /// `HOST:PORT` to connect to (a server listening on every interface is reached on
    /// 127.0.0.1).
    pub fn addr(&self) -> String {
        self.url
            .trim_start_matches("http://")
            .trim_end_matches("/v1")
            .replace("0.0.0.0", "127.0.0.1")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `trilemma ARGS` and waits for the first `http://` address on its stderr.
pub fn start_server(args: &[&str]) -> Server {
    let mut child = trilemma()
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut log = Vec::new();
    let url = loop {
        let Some(line) = lines.next() else {
            panic!(
                "trilemma {args:?} exited before listening:\n{}",
                log.join("\n")
            );
        };
        let line = line.unwrap();
        if let Some(at) = line.find("http://") {
            break line[at..].split_whitespace().next().unwrap().to_string();
        }
        log.push(line);
    };
    // Keep draining the server's log so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    Server {
        child,
        url,
        before: log,
    }
}

/// An HTTP answer: status, head (lower-cased header lines), body (de-chunked).
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// A plain HTTP/1.1 request to `{base}/{path}` (no client library needed).
pub fn http(base: &str, method: &str, path: &str, body: Option<&serde_json::Value>) -> Reply {
    let hostport = base
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap();
    let prefix = base
        .trim_start_matches("http://")
        .split_once('/')
        .map_or(String::new(), |(_, p)| format!("/{p}"));
    let mut conn = std::net::TcpStream::connect(hostport).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        conn,
        "{method} {prefix}/{path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    let (head, payload) = reply.split_once("\r\n\r\n").unwrap();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let head = head.to_ascii_lowercase();
    let body = if head.contains("transfer-encoding: chunked") {
        // De-chunk: size line, data, CRLF, until the zero-size chunk.
        let mut out = String::new();
        let mut rest = payload;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            if n == 0 {
                break;
            }
            out.push_str(&tail[..n]);
            rest = &tail[n + 2..];
        }
        out
    } else {
        payload.to_string()
    };
    Reply { status, head, body }
}
