//! A minimal OpenAI-style streaming target: every streamed `POST` gets the same short
//! stream of text events, a usage event and `[DONE]` (any other `POST` one JSON
//! completion of the same text), with no model behind it. It answers in
//! microseconds, so a load generator driven against it measures its own cost
//! (`trilemma bench load`), and its fixed answer makes counts checkable in tests.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use trilemma_core::now_ns;

const HEAD: &str =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
const HEAD_JSON: &str =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";

fn chunk(out: &mut String, s: &str) {
    out.push_str(&format!("{:x}\r\n{s}\r\n", s.len()));
}

/// Serves keep-alive HTTP/1.1 on `listener` until the task is dropped. Each request gets
/// `pieces` text events (the first carries `server_timing.since_request_ns`, the time
/// since the request's last byte arrived), a usage event and `[DONE]`.
pub async fn serve_static(listener: tokio::net::TcpListener, pieces: usize) {
    loop {
        let Ok((mut s, _)) = listener.accept().await else {
            continue;
        };
        let _ = s.set_nodelay(true);
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut tmp = [0u8; 8192];
            loop {
                // One request: headers, then Content-Length bytes.
                let (head_end, len) = loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (i + 4, len);
                    }
                    match s.read(&mut tmp).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => buf.extend_from_slice(&tmp[..k]),
                    }
                };
                while buf.len() < head_end + len {
                    match s.read(&mut tmp).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => buf.extend_from_slice(&tmp[..k]),
                    }
                }
                let arrived = now_ns();
                let is_get = buf.starts_with(b"GET");
                // A request that does not ask for a stream gets one JSON completion.
                let body = &buf[head_end..head_end + len];
                let streamed = body.windows(13).any(|w| w == b"\"stream\":true")
                    || body.windows(14).any(|w| w == b"\"stream\": true");
                buf.drain(..head_end + len);
                let mut out = String::from(if is_get || !streamed { HEAD_JSON } else { HEAD });
                if is_get {
                    // /v1/models and /health alike: one model, "static".
                    chunk(
                        &mut out,
                        r#"{"object":"list","data":[{"id":"static","object":"model"}]}"#,
                    );
                } else if !streamed {
                    let text: String = (0..pieces).map(|i| format!(" w{i}")).collect();
                    chunk(
                        &mut out,
                        &format!(
                            "{{\"id\":\"static\",\"object\":\"text_completion\",\"model\":\"static\",\"choices\":[{{\"index\":0,\"text\":\"{text}\",\"finish_reason\":\"length\",\"logprobs\":null}}],\"usage\":{{\"prompt_tokens\":3,\"completion_tokens\":{pieces},\"total_tokens\":{}}}}}",
                            pieces + 3
                        ),
                    );
                } else {
                    for i in 0..pieces {
                        let timing = if i == 0 {
                            format!(
                                ",\"server_timing\":{{\"since_request_ns\":{}}}",
                                now_ns().saturating_sub(arrived)
                            )
                        } else {
                            String::new()
                        };
                        chunk(
                            &mut out,
                            &format!(
                                "data: {{\"object\":\"text_completion\",\"model\":\"static\",\"choices\":[{{\"index\":0,\"text\":\" w{i}\",\"finish_reason\":null}}]{timing}}}\n\n"
                            ),
                        );
                    }
                    chunk(
                        &mut out,
                        &format!(
                            "data: {{\"choices\":[],\"usage\":{{\"prompt_tokens\":3,\"completion_tokens\":{pieces},\"total_tokens\":{}}}}}\n\n",
                            pieces + 3
                        ),
                    );
                    chunk(&mut out, "data: [DONE]\n\n");
                }
                out.push_str("0\r\n\r\n");
                if s.write_all(out.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// Starts [`serve_static`] on its own thread (one core) and returns the base URL.
pub fn spawn_static(pieces: usize) -> std::io::Result<String> {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = std_listener.local_addr()?.port();
    std_listener.set_nonblocking(true)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("static-sse-target".into())
        .spawn(move || {
            rt.block_on(async move {
                if let Ok(l) = tokio::net::TcpListener::from_std(std_listener) {
                    serve_static(l, pieces).await;
                }
            });
        })?;
    Ok(format!("http://127.0.0.1:{port}/v1"))
}
