//! Calls to a tier: bounded retries with jittered exponential backoff on failures that may
//! pass (connection errors, timeouts, 429 and 5xx); a client error is not retried.

use std::time::Duration;

use rand::Rng;
use serde_json::Value;

use crate::Endpoint;

/// Why a tier gave no answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CallError {
    /// The tier refused the request (4xx other than 429): status and body.
    Refused(u16, Value),
    /// The tier could not be reached or failed, after every retry.
    Failed(String),
}

impl CallError {
    pub(crate) fn message(&self) -> String {
        match self {
            Self::Refused(s, b) => format!(
                "HTTP {s}: {}",
                b.pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("refused")
            ),
            Self::Failed(m) => m.clone(),
        }
    }
}

/// The wait before retry `attempt` (0-based): 50 ms x 2^attempt, times a jitter in
/// [0.5, 1.5), at most 2 s.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let base = 0.05 * f64::from(1u32 << attempt.min(8));
    let jitter = rand::thread_rng().gen_range(0.5..1.5);
    Duration::from_secs_f64((base * jitter).min(2.0))
}

pub(crate) async fn call(
    client: &reqwest::Client,
    ep: &Endpoint,
    path: &str,
    body: &Value,
) -> Result<Value, CallError> {
    let url = format!("{}/{path}", ep.base_url.trim_end_matches('/'));
    // Encoded once; each attempt shares the buffer (a reference-counted clone).
    let bytes = axum::body::Bytes::from(
        serde_json::to_vec(body).map_err(|e| CallError::Failed(e.to_string()))?,
    );
    let mut last = String::new();
    for attempt in 0..=ep.retries {
        if attempt > 0 {
            tokio::time::sleep(backoff(attempt - 1)).await;
        }
        let mut req = client
            .post(&url)
            .timeout(ep.timeout)
            .header("content-type", "application/json")
            .body(bytes.clone());
        if let Some(k) = &ep.api_key {
            req = req.bearer_auth(k);
        }
        match req.send().await {
            Err(e) => last = format!("{url}: {}", why(ep, &e)),
            Ok(resp) => {
                let status = resp.status();
                let body = match resp.bytes().await {
                    Ok(b) => b,
                    // A body cut short or too slow is a failure like a refused connection,
                    // not an empty answer to judge.
                    Err(e) if status.is_success() => {
                        last = format!("{url}: reading the answer: {}", why(ep, &e));
                        continue;
                    }
                    Err(_) => Default::default(),
                };
                if status.is_success() {
                    match serde_json::from_slice(&body) {
                        Ok(json) => return Ok(json),
                        Err(e) => {
                            last = format!(
                                "{url}: the answer is not JSON ({e}): {}",
                                String::from_utf8_lossy(&body[..body.len().min(200)])
                            );
                            continue;
                        }
                    }
                }
                let json: Value = serde_json::from_slice(&body).unwrap_or_else(
                    |_| serde_json::json!({"error": {"message": String::from_utf8_lossy(&body)}}),
                );
                if status.is_client_error() && status.as_u16() != 429 {
                    return Err(CallError::Refused(status.as_u16(), json));
                }
                last = format!("{url}: HTTP {}", status.as_u16());
            }
        }
    }
    Err(CallError::Failed(format!(
        "{last} ({} attempt{})",
        ep.retries + 1,
        if ep.retries == 0 { "" } else { "s" }
    )))
}

/// Why a request to `ep` failed: a timeout with the tier's limit, else reqwest's message
/// with its causes (its own message says only "error sending request", its sources say
/// why: "connection reset by peer", "end of file before message length reached").
fn why(ep: &Endpoint, e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("timed out after {:.1} s", ep.timeout.as_secs_f64());
    }
    trilemma_core::with_causes(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_is_bounded() {
        for attempt in 0..12 {
            let d = backoff(attempt).as_secs_f64();
            let base = 0.05 * f64::from(1u32 << attempt.min(8));
            assert!(
                d >= (base * 0.5).min(2.0) - 1e-9 && d <= (base * 1.5).min(2.0) + 1e-9,
                "{attempt}: {d}"
            );
        }
        assert!(backoff(20).as_secs_f64() <= 2.0);
    }
}
