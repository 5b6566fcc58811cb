//! A scripted HTTP/1.1 server on 127.0.0.1:0 for the HTTP engine's tests: it answers
//! each request with whatever the script returns (JSON, SSE, HTML, a stream cut short,
//! silence), which a real server cannot be made to do on demand.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What the server sends back.
pub enum Reply {
    /// Status line, content type, body; the connection closes after the body.
    Full(u16, &'static str, String),
    /// 200 with `text/event-stream`, each part written and flushed separately.
    Stream(Vec<String>),
    /// Headers of a 200 stream, then nothing for this long.
    Stall(Duration),
}

pub type Script = dyn Fn(&str, &str, &serde_json::Value, usize) -> Reply + Send + Sync;

/// Serves until the process ends. Returns the base URL (`http://127.0.0.1:PORT/v1`)
/// and a count of requests seen.
pub fn start(script: Arc<Script>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let script = script.clone();
            let n = c.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let _ = serve_one(stream, &*script, n);
            });
        }
    });
    (format!("http://127.0.0.1:{port}/v1"), count)
}

fn serve_one(mut s: TcpStream, script: &Script, n: usize) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        let k = s.read(&mut tmp)?;
        if k == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&tmp[..k]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut first = head.lines().next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_string();
    let path = first.next().unwrap_or("").to_string();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let k = s.read(&mut tmp)?;
        if k == 0 {
            break;
        }
        buf.extend_from_slice(&tmp[..k]);
    }
    let body: serde_json::Value =
        serde_json::from_slice(&buf[head_end..]).unwrap_or(serde_json::Value::Null);
    match script(&method, &path, &body, n) {
        Reply::Full(code, ctype, text) => {
            write!(
                s,
                "HTTP/1.1 {code} X\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            )?;
        }
        Reply::Stream(parts) => {
            write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
            )?;
            for p in parts {
                s.write_all(p.as_bytes())?;
                s.flush()?;
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        Reply::Stall(d) => {
            write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
            )?;
            s.flush()?;
            std::thread::sleep(d);
        }
    }
    s.flush()
}
