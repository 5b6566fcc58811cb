//! What stands between the network and a Trilemma server, the same for `trilemma serve`
//! and `trilemma serve --cascade`: API keys ([`KeySet`], compared as SHA-256 hashes in
//! constant time), request limits as tower layers ([`apply`]: body size, `max_tokens`,
//! requests in flight, per-key rate, request and body timeouts), and a listener
//! ([`serve`]) whose connections have a header-read timeout and a write timeout, so that
//! a client that stops reading its stream is cut instead of held.
//!
//! Every refusal is in OpenAI's error shape; a 429 carries `Retry-After`. A key never
//! appears in an answer, a log line or a metric: requests are named by [`KeyId`].

mod keys;
mod layers;
mod listen;

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

pub use keys::{KeyId, KeySet};
pub use layers::{apply, error_response};
pub use listen::serve;

/// Errors of the guard's settings.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A key file that cannot be used, named with its line.
    #[error("--api-keys {0}")]
    Keys(String),
    /// A limit that cannot be honoured, named.
    #[error("{0}")]
    Limit(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The default most bytes of a request body (larger: 413).
pub const DEFAULT_MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Limits on what one request, and one connection, may take.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Most bytes of a request body; a larger one is answered 413.
    pub max_body_bytes: usize,
    /// Most `max_tokens` (or `max_completion_tokens`) a request may ask for (400 above).
    pub max_tokens: Option<u64>,
    /// Most requests handled at once; one more is answered 429 with `Retry-After`.
    pub max_in_flight: Option<usize>,
    /// Requests per minute per key (all clients share one budget when no keys are set).
    pub rate_per_minute: Option<NonZeroU32>,
    /// Most time from a request's arrival to its answer's head (504 after).
    pub request_timeout: Option<Duration>,
    /// Most time between two pieces of a request body (408 after): a client that sends
    /// its body slowly is cut.
    pub body_timeout: Duration,
    /// Most time to receive a request's headers; the connection is closed after.
    pub header_timeout: Duration,
    /// Most time one write to a client may wait (the client not reading); the
    /// connection is closed after, and its stream with it.
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_tokens: None,
            max_in_flight: None,
            rate_per_minute: None,
            request_timeout: None,
            body_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
        }
    }
}

type KeyedLimiter = governor::DefaultKeyedRateLimiter<KeyId>;

/// Keys and limits of one server. Cheap to clone (shared state behind an `Arc`).
#[derive(Clone, Default)]
pub struct Guard {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    keys: Option<KeySet>,
    protect_metrics: bool,
    limits: Limits,
    limiter: Option<KeyedLimiter>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("keys", &self.inner.keys)
            .field("protect_metrics", &self.inner.protect_metrics)
            .field("limits", &self.inner.limits)
            .finish()
    }
}

impl Guard {
    /// `keys`: `None` lets every client in. `protect_metrics`: `/metrics` needs a key too.
    pub fn new(keys: Option<KeySet>, protect_metrics: bool, limits: Limits) -> Result<Self> {
        if protect_metrics && keys.is_none() {
            return Err(Error::Limit(
                "--protect-metrics needs keys (--api-keys or --api-key-env)".into(),
            ));
        }
        if limits.max_body_bytes == 0 {
            return Err(Error::Limit(
                "--max-body-bytes 0 would refuse every request".into(),
            ));
        }
        if limits.max_in_flight == Some(0) {
            return Err(Error::Limit(
                "--max-in-flight 0 would refuse every request".into(),
            ));
        }
        let limiter = limits
            .rate_per_minute
            .map(|n| governor::RateLimiter::keyed(governor::Quota::per_minute(n)));
        Ok(Self {
            inner: Arc::new(Inner {
                keys,
                protect_metrics,
                limits,
                limiter,
            }),
        })
    }

    /// No keys, default limits: for servers on loopback that only this process calls.
    pub fn open() -> Self {
        Self::default()
    }

    /// The same guard with `key` accepted too (a single key given another way).
    pub fn with_key(&self, key: Option<&str>) -> Self {
        let Some(key) = key else {
            return self.clone();
        };
        let one = KeySet::one(key);
        let keys = match &self.inner.keys {
            Some(k) => k.clone().union(&one),
            None => one,
        };
        let limiter = self
            .inner
            .limits
            .rate_per_minute
            .map(|n| governor::RateLimiter::keyed(governor::Quota::per_minute(n)));
        Self {
            inner: Arc::new(Inner {
                keys: Some(keys),
                protect_metrics: self.inner.protect_metrics,
                limits: self.inner.limits.clone(),
                limiter,
            }),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Whether clients must send a key.
    pub fn has_keys(&self) -> bool {
        self.inner.keys.is_some()
    }

    /// The warning to print before serving on `addr`: any address but loopback without
    /// keys lets anyone who reaches it use the model.
    pub fn exposure_warning(&self, addr: SocketAddr) -> Option<String> {
        (!addr.ip().is_loopback() && !self.has_keys()).then(|| {
            format!(
                "warning: listening on {addr} (not loopback) without API keys: anyone who can reach it can use it; give --api-keys FILE"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_open_non_loopback_server_is_warned_about() {
        let open = Guard::open();
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let lo: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert!(open.exposure_warning(any).unwrap().contains("0.0.0.0:8080"));
        assert_eq!(open.exposure_warning(lo), None);
        assert_eq!(open.with_key(Some("k")).exposure_warning(any), None);
    }

    #[test]
    fn settings_that_refuse_everything_are_refused() {
        let e = Guard::new(None, true, Limits::default()).unwrap_err();
        assert!(e.to_string().contains("--protect-metrics"));
        let l = Limits {
            max_in_flight: Some(0),
            ..Limits::default()
        };
        assert!(Guard::new(None, false, l).is_err());
    }
}
