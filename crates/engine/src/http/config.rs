//! How to reach the server, and the API key that never prints.

use std::time::Duration;

/// How to reach the server.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// Base URL including the API prefix, e.g. `http://127.0.0.1:8080/v1`.
    pub base_url: String,
    /// The served model name sent as `model`.
    pub model: String,
    /// Name of the environment variable holding the API key (the key itself is never stored here).
    pub api_key_env: Option<String>,
    /// Most requests in flight at once.
    pub max_concurrency: usize,
    /// Retries after the first attempt for connection errors, 429 and 5xx.
    pub retries: u32,
    /// First backoff; doubles on each retry.
    pub backoff: Duration,
    pub connect_timeout: Duration,
    /// Limit on a whole request, stream included.
    pub request_timeout: Duration,
    /// Limit on the silence between two chunks of a streamed answer.
    pub idle_timeout: Duration,
    /// Context length to report in [`ModelInfo`] (the API does not say).
    pub context_length: u32,
    /// Ask for `stream_options.include_usage` (token counts in the last event).
    pub include_usage: bool,
    /// Send the choices of one multiple-choice item (consecutive log-likelihood requests
    /// with one context) in one request, `prompt` as a list, as the completions API
    /// allows; a cascade gateway then decides them together. Off: one request per choice.
    pub group_choices: bool,
}

impl OpenAiConfig {
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            model: model.into(),
            api_key_env: None,
            max_concurrency: 16,
            retries: 3,
            backoff: Duration::from_millis(200),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(600),
            idle_timeout: Duration::from_secs(60),
            context_length: 0,
            include_usage: true,
            group_choices: true,
        }
    }
}

/// A secret that never prints.
#[derive(Clone)]
pub(super) struct ApiKey(pub(super) String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}
