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
//! `echo` + `logprobs` scores the whole prompt in one pass. An echo needs the engine to
//! itself: it waits for the sequences in flight to end. A token's `top_logprobs` entry
//! is `{token: logprob}` when the token was the argmax, and `null` when it was not.
//!
//! [`Engine`]: trilemma_engine::Engine
//! [`Engine::generate_continuous`]: trilemma_engine::Engine::generate_continuous

mod completions;
mod echo;
mod generate;
mod metrics;
mod openai;
mod routes;
mod scheduler;

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
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Name served at `/v1/models` and expected in `model`.
    pub model_name: String,
    /// Most sequences generating at once.
    pub max_batch: usize,
    /// Most prompt tokens evaluated per decode step (chunked prefill); `None`: whole prompts.
    pub prefill_chunk: Option<usize>,
}
