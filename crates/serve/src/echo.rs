//! A prompt's per-token logprobs (OpenAI's `echo`), cut into the text pieces the tokens
//! print.

use trilemma_engine::{Engine, Error, Result};

/// Per-token prompt logprobs of an echoed prompt.
#[derive(Debug, Clone)]
pub(crate) struct Echo {
    pub(crate) tokens: Vec<String>,
    pub(crate) offsets: Vec<usize>,
    pub(crate) logprobs: Vec<Option<f64>>,
    pub(crate) greedy: Vec<bool>,
}

/// Per-token logprobs of a prompt (OpenAI's `echo`): the engine scores every token given
/// the ones before it in one pass, and the tokens are cut into the text pieces they print.
pub(crate) fn echo(engine: &mut dyn Engine, prompt: &str) -> Result<Echo> {
    let p = engine.prompt_logprobs(prompt)?;
    let mut texts = Vec::with_capacity(p.tokens.len());
    let mut offsets = Vec::with_capacity(p.tokens.len());
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
        offsets.push(prev.chars().count());
        texts.push(piece);
        if !s.contains('\u{fffd}') {
            prev = s;
        }
    }
    Ok(Echo {
        tokens: texts,
        offsets,
        logprobs: p.logprobs,
        greedy: p.greedy,
    })
}
