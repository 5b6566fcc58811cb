//! How a generation chooses its tokens ([`Sampling`]) and what its output must be
//! ([`Constraint`]): part of a run's settings (recorded in its manifest) and of each
//! generation request.

use serde::{Deserialize, Serialize};

/// How the next token is chosen: the most likely one (greedy, the default, what evaluation
/// uses), or a draw from the model's distribution reshaped by llama.cpp's sampler chain.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sampling {
    /// 0 is greedy; above 0 the distribution is sharpened (< 1) or flattened (> 1).
    #[serde(default)]
    pub temperature: f32,
    /// Keep the most likely tokens whose probabilities sum to `top_p` (nucleus).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Keep the `top_k` most likely tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// Keep tokens at least `min_p` times as likely as the most likely one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_p: Option<f32>,
    /// Divides the logit of every token already generated (vLLM's multiplicative penalty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repetition_penalty: Option<f32>,
    /// OpenAI's: subtracted once from the logit of every token already generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f32>,
    /// OpenAI's: subtracted from a token's logit once per time it was generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f32>,
    /// The draw's seed: the same seed, prompt and batch give the same text. `None` draws
    /// a fresh seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl Sampling {
    /// Whether this chooses the most likely token at every step.
    pub fn is_greedy(&self) -> bool {
        self.temperature <= 0.0
    }

    /// Whether any penalty changes the logits.
    pub fn has_penalties(&self) -> bool {
        self.repetition_penalty.is_some_and(|p| p != 1.0)
            || self.presence_penalty.is_some_and(|p| p != 0.0)
            || self.frequency_penalty.is_some_and(|p| p != 0.0)
    }

    /// Whether this is plain greedy decoding (nothing to hand a sampler).
    pub fn is_default_greedy(&self) -> bool {
        self.is_greedy() && !self.has_penalties()
    }
}

/// A constraint on a generation's output, enforced while decoding (only tokens that can
/// continue a valid output are drawn).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Constraint {
    /// JSON valid under this JSON Schema (its text); `{"type": "object"}` asks for any
    /// JSON object.
    JsonSchema(String),
    /// A grammar in llama.cpp's GBNF, starting at rule `root`.
    Gbnf(String),
    /// The task's own answer schema (e.g. a JSON-label task's `result` among its labels),
    /// which the runner replaces with [`Constraint::JsonSchema`] for each task before
    /// anything is decoded; an engine never receives it.
    AnswerSchema,
}

impl Constraint {
    /// Any JSON object (OpenAI's `response_format: {"type": "json_object"}`).
    pub fn json_object() -> Self {
        Constraint::JsonSchema(r#"{"type": "object"}"#.into())
    }
}
