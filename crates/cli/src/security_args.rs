//! The security flags that `serve` and `serve --cascade` share: keys, limits, timeouts,
//! the audit log. They become a `trilemma_guard::Guard` before any model loads.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use trilemma_guard::{Guard, KeySet, Limits, DEFAULT_MAX_BODY_BYTES};

#[derive(Debug, Clone, Args)]
pub struct SecurityArgs {
    /// A file of API keys, one per line, raw or as `sha256:HEX`; every /v1/ request must
    /// then send `Authorization: Bearer KEY` (else 401). Keys are held as SHA-256 hashes
    /// and never printed; logs name a key by its id (`key-` and 8 hex digits).
    #[arg(long, value_name = "FILE")]
    pub api_keys: Option<PathBuf>,
    /// /metrics needs a key too (by default it is open, as /health is).
    #[arg(long)]
    pub protect_metrics: bool,
    /// Most bytes of a request body; a larger one is answered 413.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// Most max_tokens a request may ask for (a larger one is a 400 naming the field).
    #[arg(long, value_name = "N")]
    pub max_tokens_limit: Option<u64>,
    /// Most requests handled at once; one more is answered 429 with Retry-After.
    #[arg(long, value_name = "N")]
    pub max_in_flight: Option<usize>,
    /// Requests per minute per API key (one shared budget without keys); over it: 429
    /// with Retry-After.
    #[arg(long, value_name = "N")]
    pub rate_per_minute: Option<NonZeroU32>,
    /// Seconds from a request's arrival to its answer's head (504 after; default: none).
    #[arg(long, value_name = "SECS")]
    pub request_timeout: Option<f64>,
    /// Seconds a client may pause while sending a request body (408 after).
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub body_timeout: f64,
    /// Seconds a client may take to send a request's headers (the connection is closed
    /// after).
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub header_timeout: f64,
    /// Seconds one write to a client may wait for it to read; a client that reads its
    /// stream slower is cut (the engine never waits for it).
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub write_timeout: f64,
    /// Append a JSON line for every request sent to an upstream tier (`serve --cascade`):
    /// key id, time, tier, reason, sizes; never the prompt unless --audit-prompts.
    #[arg(long, value_name = "FILE", requires = "cascade")]
    pub audit_log: Option<PathBuf>,
    /// Write each prompt into the audit log too.
    #[arg(long, requires = "audit_log")]
    pub audit_prompts: bool,
}

fn seconds(flag: &str, s: f64) -> anyhow::Result<Duration> {
    if !(s.is_finite() && s > 0.0) {
        anyhow::bail!("{flag} {s}: give a number of seconds above 0");
    }
    Ok(Duration::from_secs_f64(s))
}

impl SecurityArgs {
    /// The guard these flags ask for, with `api_key` (from --api-key-env) accepted too.
    /// Checked before any model loads.
    pub fn guard(&self, api_key: Option<&str>) -> anyhow::Result<Guard> {
        let file_keys = self.api_keys.as_deref().map(KeySet::read).transpose()?;
        let keys = match (file_keys, api_key) {
            (Some(k), Some(one)) => Some(k.union(&KeySet::one(one))),
            (Some(k), None) => Some(k),
            (None, Some(one)) => Some(KeySet::one(one)),
            (None, None) => None,
        };
        let limits = Limits {
            max_body_bytes: self.max_body_bytes,
            max_tokens: self.max_tokens_limit,
            max_in_flight: self.max_in_flight,
            rate_per_minute: self.rate_per_minute,
            request_timeout: self
                .request_timeout
                .map(|s| seconds("--request-timeout", s))
                .transpose()?,
            body_timeout: seconds("--body-timeout", self.body_timeout)?,
            header_timeout: seconds("--header-timeout", self.header_timeout)?,
            write_timeout: seconds("--write-timeout", self.write_timeout)?,
        };
        Ok(Guard::new(keys, self.protect_metrics, limits)?)
    }

    /// The audit log `serve --cascade` writes, if asked for.
    pub fn audit(&self) -> Option<trilemma_gateway::AuditConfig> {
        self.audit_log
            .as_ref()
            .map(|path| trilemma_gateway::AuditConfig {
                path: path.clone(),
                prompts: self.audit_prompts,
            })
    }
}
