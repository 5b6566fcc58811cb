//! The audit log: one JSON line, appended and flushed, for every request the gateway
//! sends to an upstream tier (a tier reached by its `url`, which may be outside this
//! machine): who asked (the key's id, never the key), when, which tier and why (the
//! escalation that sent it there), and how much went out and came back. The prompt is
//! written only when the operator asks for it (`--audit-prompts`).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::Serialize;

use crate::{Error, Result};

/// Where the audit log goes and whether it holds prompts.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    pub path: PathBuf,
    pub prompts: bool,
}

/// One request sent to an upstream tier.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AuditLine {
    pub unix_ms: u128,
    /// The gateway's request id (the trace's `id`).
    pub request: String,
    /// The key's id (`anonymous` when the gateway takes no keys).
    pub key_id: String,
    pub tier: String,
    /// The upstream's host and port.
    pub host: String,
    /// Whether the host is this machine (loopback).
    pub loopback: bool,
    /// Why the request went to this tier.
    pub reason: String,
    pub endpoint: String,
    /// Bytes of the request body sent.
    pub request_bytes: usize,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// `answered`, `escalated` (its answer was not accepted) or `error`.
    pub outcome: &'static str,
    pub error: Option<String>,
    /// The prompt's text, only with `--audit-prompts`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
}

/// The host and port of `url`, and whether it is loopback.
pub(crate) fn host_of(url: &str) -> (String, bool) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split('/').next().unwrap_or_default().to_string();
    let name = host
        .rsplit_once(':')
        .map_or(host.as_str(), |(h, _)| h)
        .trim_matches(|c| c == '[' || c == ']');
    let loopback = name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    (host, loopback)
}

#[derive(Debug)]
pub(crate) struct AuditLog {
    file: Mutex<std::fs::File>,
    pub(crate) prompts: bool,
}

impl AuditLog {
    pub(crate) fn open(cfg: &AuditConfig) -> Result<Self> {
        let err =
            |e: std::io::Error| Error::Start(format!("--audit-log {}: {e}", cfg.path.display()));
        if let Some(dir) = cfg.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&cfg.path)
            .map_err(err)?;
        Ok(Self {
            file: Mutex::new(file),
            prompts: cfg.prompts,
        })
    }

    /// Appends one line (written whole, with its newline, in one call) and flushes it to
    /// the disk: an audit line that a crash could lose is not one.
    pub(crate) fn write(&self, line: &AuditLine) {
        let Ok(mut bytes) = serde_json::to_vec(line) else {
            return;
        };
        bytes.push(b'\n');
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = f.write_all(&bytes).and_then(|()| f.sync_data()) {
            tracing::error!("cannot write the audit log: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_split_from_urls_and_loopback_is_known() {
        assert_eq!(
            host_of("http://127.0.0.1:8080/v1"),
            ("127.0.0.1:8080".into(), true)
        );
        assert_eq!(host_of("http://[::1]:9/v1"), ("[::1]:9".into(), true));
        assert!(host_of("http://localhost/v1").1);
        assert_eq!(
            host_of("https://api.example.invalid/v1"),
            ("api.example.invalid".into(), false)
        );
    }
}
