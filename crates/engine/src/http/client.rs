//! The transport every request shares: the client and its limits, JSON POST with
//! retries and backoff, chunk reads under the idle timeout, and error snippets.

use serde_json::Value;
use tokio::sync::Semaphore;

use super::config::{ApiKey, OpenAiConfig};
use crate::{Error, Result};

#[derive(Debug)]
pub(super) struct Shared {
    pub(super) cfg: OpenAiConfig,
    pub(super) key: Option<ApiKey>,
    pub(super) client: reqwest::Client,
    pub(super) limit: Semaphore,
}

pub(super) fn url(shared: &Shared, path: &str) -> String {
    format!("{}/{}", shared.cfg.base_url, path)
}

pub(super) fn snippet(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    let s = s.trim();
    let mut cut: String = s.chars().take(200).collect();
    if cut.len() < s.len() {
        cut.push('…');
    }
    cut
}

/// The innermost error in a source chain: says why a connection failed (refused, TLS
/// handshake, DNS) where reqwest's own message only says "error sending request".
pub(super) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Sends a JSON POST, retrying connection errors, 429 and 5xx with backoff.
pub(super) async fn post(shared: &Shared, path: &str, body: &Value) -> Result<reqwest::Response> {
    let u = url(shared, path);
    let bytes = serde_json::to_vec(body)
        .map_err(|e| Error::Transport(format!("cannot encode request: {e}")))?;
    let mut attempt = 0u32;
    let mut delay = shared.cfg.backoff;
    loop {
        let mut rb = shared
            .client
            .post(&u)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(bytes.clone());
        if let Some(k) = &shared.key {
            rb = rb.bearer_auth(&k.0);
        }
        let failure = match rb.send().await {
            Ok(r) if r.status().is_success() => return Ok(r),
            Ok(r) => {
                let status = r.status();
                let retryable = status.as_u16() == 429 || status.is_server_error();
                let body = r.bytes().await.unwrap_or_default();
                let msg = format!("{u} answered HTTP {status}: {}", snippet(&body));
                if !retryable {
                    return Err(Error::Transport(msg));
                }
                msg
            }
            Err(e) => {
                let msg = format!("{u}: {e}");
                if !(e.is_connect() || e.is_timeout() || e.is_request()) {
                    return Err(Error::Transport(msg));
                }
                msg
            }
        };
        if attempt >= shared.cfg.retries {
            return Err(Error::Transport(format!(
                "{failure} (gave up after {} attempts)",
                attempt + 1
            )));
        }
        tokio::time::sleep(delay).await;
        delay = delay.saturating_mul(2);
        attempt += 1;
    }
}

/// Reads one whole (non-streamed) JSON answer with the idle timeout applied per chunk.
pub(super) async fn read_json(
    shared: &Shared,
    mut resp: reqwest::Response,
    what: &str,
) -> Result<Value> {
    let mut buf = Vec::new();
    while let Some(chunk) = next_chunk(shared, &mut resp, what).await? {
        buf.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&buf).map_err(|e| {
        Error::Transport(format!(
            "{what}: the answer is not JSON ({e}): {}",
            snippet(&buf)
        ))
    })
}

pub(super) async fn next_chunk(
    shared: &Shared,
    resp: &mut reqwest::Response,
    what: &str,
) -> Result<Option<Vec<u8>>> {
    match tokio::time::timeout(shared.cfg.idle_timeout, resp.chunk()).await {
        Err(_) => Err(Error::Transport(format!(
            "{what}: no data for {:?}",
            shared.cfg.idle_timeout
        ))),
        Ok(Err(e)) => Err(Error::Transport(format!("{what}: stream broken: {e}"))),
        Ok(Ok(c)) => Ok(c.map(|b| b.to_vec())),
    }
}
