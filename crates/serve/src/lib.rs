//! `trilemma serve`: an OpenAI-compatible HTTP server over any [`Engine`].
//!
//! A scheduler thread owns the engine and feeds it through
//! [`Engine::generate_continuous`]: up to `max_batch` sequences generate together
//! (vLLM's `max_num_seqs`), a request that arrives joins at the next decode step once
//! a sequence is free, and each answer goes out as soon as its sequence ends. With
//! `prefill_chunk`, prompts are read a chunk per decode step (chunked prefill). Streamed
//! answers are sent piece by piece as the engine produces them; every piece carries
//! `server_timing.since_request_ns`, the server's own time since the request arrived,
//! so that a load generator can check its client-side TTFT against it.
//!
//! The server keeps OpenAI's contract as vLLM does (`docs/serve.md` has the table of
//! request fields honoured, ignored and refused): a prompt that does not fit the context
//! beside `max_tokens` is a 400 in vLLM's words, unless the client asks for
//! `truncate_prompt_tokens`; every error answer is `{"error": {"message", "type",
//! "param", "code"}}`; `prompt` may be a list of strings (one choice per prompt).
//!
//! `echo` + `logprobs` scores the whole prompt in one pass. An echo needs the engine to
//! itself: it waits for the sequences in flight to end. A token's `top_logprobs` entry
//! is `{token: logprob}` when the token was the argmax, and `null` when it was not.
//!
//! [`Engine`]: trilemma_engine::Engine
//! [`Engine::generate_continuous`]: trilemma_engine::Engine::generate_continuous

mod body;
mod completions;
mod echo;
#[doc(hidden)]
pub mod fuzzing;
mod generate;
mod logprobs;
mod metrics;
mod openai;
mod routes;
mod sampling;
mod scheduler;

pub use completions::IGNORED_HEADER;
pub use routes::{router, serve, serve_blocking};

/// Errors of the server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot start the server: {0}")]
    Start(String),
    #[error("server failed: {0}")]
    Serve(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Server settings.
#[derive(Clone)]
pub struct ServeConfig {
    /// Name served at `/v1/models` and expected in `model`.
    pub model_name: String,
    /// Most sequences generating at once.
    pub max_batch: usize,
    /// Most prompt tokens evaluated per decode step (chunked prefill); `None`: whole prompts.
    pub prefill_chunk: Option<usize>,
    /// When set, every `/v1/` request must send `Authorization: Bearer KEY` (else 401).
    pub api_key: Option<String>,
    /// Most requests waiting for a sequence; one more is answered 429. `None`: no limit.
    pub max_waiting: Option<usize>,
    /// Keys and limits in front of the routes (`api_key`, when set, is accepted too).
    pub guard: trilemma_guard::Guard,
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("model_name", &self.model_name)
            .field("max_batch", &self.max_batch)
            .field("prefill_chunk", &self.prefill_chunk)
            // The key itself never prints.
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("max_waiting", &self.max_waiting)
            .field("guard", &self.guard)
            .finish()
    }
}

impl ServeConfig {
    /// Serves `model_name` with batches of up to `max_batch`, whole-prompt prefill, no
    /// API key, the guard's default limits and no limit on waiting requests.
    pub fn new(model_name: impl Into<String>, max_batch: usize) -> Self {
        Self {
            model_name: model_name.into(),
            max_batch,
            prefill_chunk: None,
            api_key: None,
            max_waiting: None,
            guard: trilemma_guard::Guard::open(),
        }
    }
}
