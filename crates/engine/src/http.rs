//! An engine that talks to an OpenAI-compatible server (vLLM, llama.cpp's server,
//! Ollama, SGLang, `trilemma serve`) over HTTP.
//!
//! - Generation streams `/v1/completions` (or `/v1/chat/completions` through
//!   [`OpenAiEngine::chat`]) with server-sent events, greedy (`temperature: 0`);
//!   every event that carries text is stamped with [`trilemma_core::now_ns`] when it
//!   arrives, which gives TTFT and inter-token gaps as the client sees them.
//! - Log-likelihood follows lm-evaluation-harness's `local-completions`: one
//!   `/v1/completions` request with `echo: true, logprobs: 1, max_tokens: 1` over
//!   context + continuation; the continuation's tokens are found by `text_offset`
//!   (character offsets into the prompt) and their logprobs summed.
//! - Connection errors, 429 and 5xx are retried with exponential backoff (before any
//!   byte of the answer has arrived); each request has a connect timeout, a total
//!   timeout and an idle timeout between stream chunks. A truncated stream, a
//!   malformed event or an error event becomes that request's error.
//! - [`OpenAiEngine::connect`] runs a preflight `GET /models` that names the problem
//!   for an unreachable endpoint, a wrong model name, or an answer that is not JSON.
//!
//! The API key is read from an environment variable named in the config and is never
//! formatted into errors, `Debug` output or engine info.

mod client;
mod config;
mod echo;
mod engine;
mod preflight;
mod stream;

pub use config::OpenAiConfig;
pub use echo::NO_PROMPT_LOGPROBS;
pub use engine::{ChatRequest, OpenAiEngine};

#[cfg(test)]
mod server_tests;
#[cfg(test)]
mod test_server;
