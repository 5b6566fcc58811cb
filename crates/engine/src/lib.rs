//! The `Engine` trait: what Trilemma asks of any inference backend.
//!
//! The trait is deliberately small so that the embedded llama.cpp engine and an
//! OpenAI-compatible HTTP server fit the same shape. Every method takes a batch:
//! an engine is free to evaluate the batch however it runs fastest (one
//! multi-sequence forward pass, concurrent HTTP requests, ...), and returns one
//! result per request, in order. A failure of one request is that request's
//! error, not the batch's.

pub mod conformance;
#[cfg(feature = "http")]
pub mod http;
pub mod sse;

use serde::{Deserialize, Serialize};
pub use trilemma_core::ModelInfo;
use trilemma_core::RequestTiming;
pub use trilemma_core::Truncation;
pub use trilemma_core::{Constraint, Sampling};

/// Errors an engine reports.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("cannot load model {path}: {reason}")]
    Load { path: String, reason: String },
    #[error("tokenization failed: {0}")]
    Tokenize(String),
    #[error("the prompt needs {needed} tokens but the context holds {limit}")]
    ContextOverflow { needed: usize, limit: usize },
    #[error("inference failed: {0}")]
    Inference(String),
    #[error("{0} is not supported by this engine")]
    Unsupported(String),
    #[error("transport error: {0}")]
    Transport(String),
    #[error("the output constraint cannot be used: {0}")]
    Constraint(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub use trilemma_core::EngineInfo;

/// A chat message for engines that apply a chat template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

/// Generation from a prompt: greedy unless `sampling` says otherwise.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerationRequest {
    pub prompt: String,
    pub max_tokens: u32,
    /// Generation stops before the first occurrence of any of these strings.
    pub stop: Vec<String>,
    /// The prompt as the model's token ids (OpenAI's completions accept them), read
    /// instead of `prompt` when set; an engine that cannot take ids refuses the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_ids: Option<Vec<u32>>,
    /// How many of the most likely tokens to report at each generated position, beside
    /// the chosen one's log-probability (0: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub top_logprobs: u8,
    /// How tokens are chosen (default: greedy).
    #[serde(default, skip_serializing_if = "Sampling::is_default_greedy")]
    pub sampling: Sampling,
    /// What the output must be, enforced token by token: structured output by
    /// construction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint: Option<Constraint>,
}

fn is_zero(k: &u8) -> bool {
    *k == 0
}

/// A prompt as text, or as the model's token ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PromptInput {
    Text(String),
    Tokens(Vec<u32>),
}

/// One of the most likely tokens at a position: its id, its text and its natural-log
/// probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopToken {
    pub id: u32,
    pub text: String,
    pub logprob: f64,
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    Length,
    EndOfSequence,
}

/// The outcome of one generation request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    /// Generated text, cut before the stop sequence that ended it.
    pub text: String,
    pub prompt_tokens: u32,
    /// Tokens generated (including any that a stop sequence later cut away).
    pub output_tokens: u32,
    pub finish: FinishReason,
    /// Raw monotonic stamps: request start, each token, end.
    pub timing: RequestTiming,
    /// Natural-log probability of each generated token under the model (greedy: the most
    /// likely token's). Empty where the engine does not report them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_logprobs: Vec<f32>,
    /// Each generated token's text (with `token_logprobs`; an end-of-sequence token is "").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_texts: Vec<String>,
    /// At each generated position, the request's `top_logprobs` most likely tokens, most
    /// likely first (empty when none were asked for).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_logprobs: Vec<Vec<TopToken>>,
    /// Prompt tokens the engine dropped so that the prompt and `max_tokens` fit its context
    /// (`None`: the whole prompt was read, or the engine does not know).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<Truncation>,
}

/// Log-likelihood of `continuation` given `context`, as lm-evaluation-harness defines it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LoglikelihoodRequest {
    pub context: String,
    pub continuation: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Loglikelihood {
    /// Sum of the natural-log probabilities of the continuation's tokens.
    pub logprob: f64,
    /// Number of continuation tokens scored.
    pub tokens: u32,
    /// Whether every continuation token was the argmax at its position.
    pub is_greedy: bool,
    /// Context tokens the engine had to evaluate for this request (0 when shared and cached).
    pub context_tokens: u32,
    pub timing: RequestTiming,
    /// Context tokens the engine dropped so that the pair fits its context (`None`: the
    /// whole context was read, or the engine does not know).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<Truncation>,
}

/// Log-likelihood of a whole text, for perplexity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollingLoglikelihood {
    /// Sum of natural-log probabilities of every token of the text.
    pub logprob: f64,
    pub tokens: u32,
    pub timing: RequestTiming,
}

/// Per-token log-probabilities of a prompt (OpenAI's `echo` with `logprobs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptLogprobs {
    /// The prompt's tokens, without any special prefix the model adds.
    pub tokens: Vec<u32>,
    /// Each token's natural-log probability given all tokens before it; `None` for the
    /// first, as OpenAI-compatible servers report it.
    pub logprobs: Vec<Option<f64>>,
    /// Whether each token was the most likely one at its position (false for the first).
    pub greedy: Vec<bool>,
    /// At each position, the `top` most likely tokens given the tokens before it, most
    /// likely first (empty for the first position, and when `top` was 0).
    #[serde(default)]
    pub top: Vec<Vec<TopToken>>,
}

/// What an engine does with a prompt that does not fit the context beside its
/// `max_tokens`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PromptFit {
    /// Keep the newest prompt tokens that fit, as lm-evaluation-harness truncates
    /// (evaluation).
    #[default]
    KeepNewest,
    /// Answer [`Error::ContextOverflow`], with `needed` = prompt tokens + `max_tokens`
    /// (an OpenAI-compatible server's 400).
    Refuse,
    /// Keep only the last `n` prompt tokens (vLLM's `truncate_prompt_tokens`); a prompt
    /// that still does not fit beside `max_tokens` is refused as with [`PromptFit::Refuse`].
    KeepLast(usize),
}

/// A generation request that arrives while [`Engine::generate_continuous`] runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    /// The caller's handle for the request; the engine passes it back with each piece.
    pub id: u64,
    pub request: GenerationRequest,
    /// When set, the prompt is these messages rendered with the model's chat template
    /// (and `request.prompt` is ignored).
    pub chat: Option<Vec<ChatMessage>>,
    /// What to do when the prompt and `max_tokens` do not fit the context together.
    pub fit: PromptFit,
}

/// What a [`GenerationSource`] answers when the engine asks for work.
#[derive(Debug, Clone, PartialEq)]
pub enum Admit {
    /// These requests (possibly none) join the batch now.
    Requests(Vec<Incoming>),
    /// Admit nothing more: finish the sequences in flight and return.
    Close,
}

/// Feeds [`Engine::generate_continuous`] and takes its output.
pub trait GenerationSource {
    /// Asked before every decode step. `free`: how many more sequences would start
    /// now; `idle`: nothing is in flight, so the source may block until work arrives.
    fn admit(&mut self, free: usize, idle: bool) -> Admit;
    /// More text of request `id` (pieces concatenate to the final text).
    fn on_text(&mut self, id: u64, piece: &str);
    /// Request `id` ended; its sequence is free for the next request.
    fn on_done(&mut self, id: u64, result: Result<Generation>);
}

/// An inference backend.
///
/// Methods take `&mut self`: an engine owns its inference state (KV cache,
/// connection pool) and the runner drives one engine from one thread.
pub trait Engine: Send {
    fn model_info(&self) -> &ModelInfo;
    fn engine_info(&self) -> EngineInfo;

    fn tokenize(&self, text: &str, add_special: bool) -> Result<Vec<u32>>;
    fn detokenize(&self, tokens: &[u32]) -> Result<String>;

    /// Renders messages with the model's chat template, ending with the assistant's turn.
    fn apply_chat_template(&self, messages: &[ChatMessage]) -> Result<String>;

    /// Greedy generation for each request.
    fn generate(&mut self, requests: &[GenerationRequest]) -> Vec<Result<Generation>>;

    /// [`Engine::generate`], calling `on_text(request, piece)` as each request's text
    /// grows. The pieces of a request concatenate to its final text (stop sequences
    /// never appear in them). Engines that cannot stream send each text whole at the end.
    fn generate_streaming(
        &mut self,
        requests: &[GenerationRequest],
        on_text: &mut dyn FnMut(usize, &str),
    ) -> Vec<Result<Generation>> {
        let out = self.generate(requests);
        for (i, g) in out.iter().enumerate() {
            if let Ok(g) = g {
                if !g.text.is_empty() {
                    on_text(i, &g.text);
                }
            }
        }
        out
    }

    /// Serves requests as they arrive: up to `max_batch` sequences are in flight, a
    /// request joins at the next decode step after a sequence frees, and each one is
    /// answered as soon as it ends (continuous batching, vLLM's `max_num_seqs`).
    /// `prefill_chunk` caps the prompt tokens evaluated per step (chunked prefill), so
    /// that a newcomer's prompt delays the others' next token by one chunk; `None`
    /// evaluates each prompt whole. Engines without step-level scheduling ignore it and
    /// run one [`Engine::generate_streaming`] call per batch of waiting requests.
    fn generate_continuous(
        &mut self,
        source: &mut dyn GenerationSource,
        max_batch: usize,
        prefill_chunk: Option<usize>,
    ) {
        let _ = prefill_chunk;
        loop {
            let incoming = match source.admit(max_batch.max(1), true) {
                Admit::Close => return,
                Admit::Requests(r) => r,
            };
            let mut ids = Vec::with_capacity(incoming.len());
            let mut requests = Vec::with_capacity(incoming.len());
            for Incoming {
                id,
                mut request,
                chat,
                fit,
            } in incoming
            {
                if let Some(messages) = chat {
                    match self.apply_chat_template(&messages) {
                        Ok(p) => request.prompt = p,
                        Err(e) => {
                            source.on_done(id, Err(e));
                            continue;
                        }
                    }
                }
                let unsupported = if request.prompt_ids.is_some() {
                    Some("token-id prompts")
                } else if !request.sampling.is_default_greedy() {
                    Some("sampling (temperature, penalties)")
                } else if request.constraint.is_some() {
                    Some("constrained output")
                } else {
                    None
                };
                if let Some(what) = unsupported {
                    source.on_done(id, Err(Error::Unsupported(what.into())));
                    continue;
                }
                if let Err(e) = fit_prompt(&*self, &mut request, fit) {
                    source.on_done(id, Err(e));
                    continue;
                }
                ids.push(id);
                requests.push(request);
            }
            if requests.is_empty() {
                continue;
            }
            let out = self.generate_streaming(&requests, &mut |i, piece| {
                source.on_text(ids[i], piece);
            });
            for (id, r) in ids.iter().zip(out) {
                source.on_done(*id, r);
            }
        }
    }

    /// Log-likelihood of each continuation given its context. Requests that share a
    /// context (the choices of one multiple-choice item) may share its evaluation.
    fn loglikelihood(&mut self, requests: &[LoglikelihoodRequest]) -> Vec<Result<Loglikelihood>>;

    /// Log-likelihood of each whole text (perplexity), windowed over the context length.
    fn loglikelihood_rolling(&mut self, texts: &[String]) -> Vec<Result<RollingLoglikelihood>>;

    /// Every token of the prompt scored given the tokens before it, in one pass, with the
    /// `top` most likely tokens at each position.
    fn prompt_logprobs(&mut self, prompt: &PromptInput, top: usize) -> Result<PromptLogprobs> {
        let _ = (prompt, top);
        Err(Error::Unsupported(
            "per-token prompt log-probabilities".into(),
        ))
    }
}

/// [`PromptFit`] for an engine without step-level scheduling, on the prompt's text: an
/// engine that cannot tokenize, or does not know its context length, leaves the prompt
/// to its backend (a server applies its own limit).
fn fit_prompt<E: Engine + ?Sized>(
    engine: &E,
    request: &mut GenerationRequest,
    fit: PromptFit,
) -> Result<()> {
    if fit == PromptFit::KeepNewest {
        return Ok(());
    }
    let limit = engine.model_info().context_length as usize;
    let Ok(mut tokens) = engine.tokenize(&request.prompt, true) else {
        return Ok(());
    };
    if let PromptFit::KeepLast(n) = fit {
        if tokens.len() > n {
            tokens.drain(..tokens.len() - n);
            request.prompt = engine.detokenize(&tokens)?;
        }
    }
    let needed = tokens.len() + request.max_tokens as usize;
    if limit > 0 && needed > limit {
        return Err(Error::ContextOverflow { needed, limit });
    }
    Ok(())
}

/// Cuts `text` before the earliest occurrence of any stop sequence.
/// Returns the cut text and whether a stop sequence was found.
pub fn cut_at_stop<'a>(text: &'a str, stop: &[String]) -> (&'a str, bool) {
    let earliest = stop
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()))
        .min();
    match earliest {
        Some(i) => (&text[..i], true),
        None => (text, false),
    }
}

/// Splits a context/continuation pair the way lm-evaluation-harness does before
/// tokenizing: trailing spaces of the context move to the front of the continuation.
pub fn move_trailing_spaces(context: &str, continuation: &str) -> (String, String) {
    let trimmed = context.trim_end_matches(' ');
    let n = context.len() - trimmed.len();
    (
        trimmed.to_string(),
        format!("{}{}", &context[trimmed.len()..][..n], continuation),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_at_earliest_stop() {
        let stops = vec!["\n\n".to_string(), "Question:".to_string()];
        assert_eq!(cut_at_stop("42.\nQuestion: x\n\n", &stops), ("42.\n", true));
        assert_eq!(cut_at_stop("no stop here", &stops), ("no stop here", false));
        assert_eq!(cut_at_stop("abc", &[String::new()]), ("abc", false));
    }

    #[test]
    fn results_written_before_truncation_was_reported_read_untruncated() {
        let timing = r#""timing":{"start_ns":1,"end_ns":2}"#;
        let g: Generation = serde_json::from_str(&format!(
            r#"{{"text":"4","prompt_tokens":9,"output_tokens":1,"finish":"stop",{timing}}}"#
        ))
        .unwrap();
        assert_eq!(g.truncated, None);
        let l: Loglikelihood = serde_json::from_str(&format!(
            r#"{{"logprob":-1.5,"tokens":2,"is_greedy":true,"context_tokens":7,{timing}}}"#
        ))
        .unwrap();
        assert_eq!(l.truncated, None);
        let cut = Loglikelihood {
            truncated: Some(Truncation {
                prompt_tokens: 90,
                tokens_dropped: 30,
            }),
            ..l
        };
        let back: Loglikelihood =
            serde_json::from_str(&serde_json::to_string(&cut).unwrap()).unwrap();
        assert_eq!(back, cut);
    }

    #[test]
    fn trailing_spaces_move_to_continuation() {
        assert_eq!(
            move_trailing_spaces("Answer: ", "Paris"),
            ("Answer:".to_string(), " Paris".to_string())
        );
        assert_eq!(
            move_trailing_spaces("Answer:", " Paris"),
            ("Answer:".to_string(), " Paris".to_string())
        );
    }
}
