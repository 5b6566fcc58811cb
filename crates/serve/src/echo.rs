//! A prompt's per-token logprobs (OpenAI's `echo`), cut into the text pieces the tokens
//! print.

use trilemma_engine::{Engine, Error, PromptInput, Result, TopToken};

/// Per-token prompt logprobs of an echoed prompt.
#[derive(Debug, Clone)]
pub(crate) struct Echo {
    /// The prompt's text (token-id prompts: the text the ids print).
    pub(crate) text: String,
    pub(crate) tokens: Vec<String>,
    pub(crate) logprobs: Vec<Option<f64>>,
    /// The most likely tokens at each position (none at the first).
    pub(crate) top: Vec<Vec<TopToken>>,
}

/// Per-token logprobs of a prompt (OpenAI's `echo`) with the `top` most likely tokens at
/// each position: the engine scores every token given the ones before it in one pass,
/// and the tokens are cut into the text pieces they print.
pub(crate) fn echo(engine: &mut dyn Engine, prompt: &PromptInput, top: usize) -> Result<Echo> {
    let p = engine.prompt_logprobs(prompt, top)?;
    let mut texts = Vec::with_capacity(p.tokens.len());
    let mut prev = String::new();
    for i in 1..=p.tokens.len() {
        let s = engine.detokenize(&p.tokens[..i])?;
        // A token that ends inside a multi-byte character prints nothing until the
        // character is complete; its piece is empty and the next one carries the text.
        let piece = match s.strip_prefix(prev.as_str()) {
            Some(rest) => rest.to_string(),
            None if s.contains('\u{fffd}') => String::new(),
            None => {
                return Err(Error::Tokenize(
                    "the tokenizer does not round-trip this prompt".into(),
                ))
            }
        };
        texts.push(piece);
        if !s.contains('\u{fffd}') {
            prev = s;
        }
    }
    let text = match prompt {
        PromptInput::Text(t) => t.clone(),
        PromptInput::Tokens(_) => engine.detokenize(&p.tokens)?,
    };
    Ok(Echo {
        text,
        tokens: texts,
        logprobs: p.logprobs,
        top: p.top,
    })
}
