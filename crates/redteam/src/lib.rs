//! The red-team suite: prompt-injection attacks built from the seed data of a pinned
//! package (spikee's seed datasets: documents, jailbreak templates, instructions with
//! canary-judged goals), sent to any OpenAI-compatible chat endpoint (`trilemma serve`,
//! the cascade gateway, any other), judged by canary strings and regexes rather than by
//! another model, and reported as the attack success rate per family with a 95% CI.

mod attack;
mod report;
mod seeds;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use attack::{attacks, Attack, Judge};
pub use report::{side_by_side, wilson, Outcome, Rate, Report, SideBySide};
pub use seeds::Seeds;
use serde_json::{json, Value};

/// Errors of the red-team suite.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The seed data cannot be used, named.
    #[error("red-team seeds: {0}")]
    Seeds(String),
    #[error("{0}")]
    Target(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where to send attacks and how many.
#[derive(Debug, Clone)]
pub struct RedteamConfig {
    /// Base URL with the API prefix (`http://127.0.0.1:8080/v1`).
    pub url: String,
    /// The `model` sent.
    pub model: String,
    pub api_key: Option<String>,
    /// The seed suite (`cybersec-2026-01`).
    pub suite: String,
    /// Attacks sent (a seeded random sample of all); `None`: all.
    pub limit: Option<usize>,
    pub seed: u64,
    pub max_tokens: u32,
    /// Requests in flight at once.
    pub concurrency: usize,
    pub timeout: Duration,
}

/// What came back for one attack.
enum Reply {
    /// The answer's text.
    Text(String),
    /// The target refused the prompt (400 with code `content_filter`): an input guard.
    Refused(String),
}

/// One attack sent: the answer's text or the refusal, or the error.
async fn send(client: &reqwest::Client, cfg: &RedteamConfig, a: &Attack) -> Result<Reply, String> {
    let mut messages = Vec::new();
    if let Some(s) = &a.system {
        messages.push(json!({"role": "system", "content": s}));
    }
    messages.push(json!({"role": "user", "content": a.user}));
    let body = json!({"model": cfg.model, "messages": messages, "max_tokens": cfg.max_tokens, "temperature": 0});
    let url = format!("{}/chat/completions", cfg.url.trim_end_matches('/'));
    let mut req = client
        .post(&url)
        .timeout(cfg.timeout)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(k) = &cfg.api_key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().await.map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(|e| format!("{url}: {e}"))?;
    let v: Value =
        serde_json::from_str(&text).map_err(|e| format!("{url}: HTTP {status}, not JSON: {e}"))?;
    if status != 200 {
        let why = v
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("refused");
        if status == 400
            && v.pointer("/error/code").and_then(Value::as_str) == Some("content_filter")
        {
            return Ok(Reply::Refused(why.to_string()));
        }
        return Err(format!("{url}: HTTP {status}: {why}"));
    }
    v.pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .map(|t| Reply::Text(t.to_string()))
        .ok_or_else(|| format!("{url}: no choices[0].message.content in the answer"))
}

/// Sends `attacks` to the target, `concurrency` at a time; every attack gets an
/// outcome (a failed request is recorded as not succeeded, with its error).
pub fn run(cfg: &RedteamConfig, attacks: Vec<Attack>) -> Result<Vec<Outcome>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Target(format!("cannot start the async runtime: {e}")))?;
    let client = reqwest::Client::builder()
        .build()
        .map_err(|e| Error::Target(format!("HTTP client: {e}")))?;
    let cfg = Arc::new(cfg.clone());
    let limit = Arc::new(tokio::sync::Semaphore::new(cfg.concurrency.max(1)));
    rt.block_on(async move {
        let tasks: Vec<_> = attacks
            .into_iter()
            .map(|a| {
                let (client, cfg, limit) = (client.clone(), cfg.clone(), limit.clone());
                tokio::spawn(async move {
                    let _permit = limit.acquire().await;
                    let r = send(&client, &cfg, &a).await;
                    let (answer, refused, error) = match r {
                        Ok(Reply::Text(t)) => (Some(t), None, None),
                        Ok(Reply::Refused(why)) => (None, Some(why), None),
                        Err(e) => (None, None, Some(e)),
                    };
                    Outcome {
                        id: a.id,
                        family: a.family,
                        instruction_type: a.instruction_type,
                        succeeded: answer.as_deref().is_some_and(|t| a.judge.succeeded(t)),
                        answer,
                        refused,
                        error,
                    }
                })
            })
            .collect();
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            out.push(t.await.map_err(|e| Error::Target(e.to_string()))?);
        }
        Ok(out)
    })
}

/// Reads the suite's seeds from `wheel`, builds the attacks and runs them.
pub fn redteam(cfg: &RedteamConfig, wheel: &Path, package: &str) -> Result<Report> {
    let seeds = Seeds::read(wheel, &cfg.suite)?;
    let list = attacks(&seeds, cfg.limit, cfg.seed)?;
    if list.is_empty() {
        return Err(Error::Seeds(format!("suite {} makes no attack", cfg.suite)));
    }
    let outcomes = run(cfg, list)?;
    Ok(Report::new(
        cfg.url.clone(),
        cfg.model.clone(),
        package.to_string(),
        cfg.suite.clone(),
        cfg.seed,
        outcomes,
    ))
}
