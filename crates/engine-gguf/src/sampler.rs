//! A request's token choice as llama.cpp's sampler chain: the penalties, the truncations
//! (top-k, top-p, min-p), the temperature and a seeded draw, or greedy after the
//! penalties; a grammar, when there is one, is checked against the pick and masks the
//! candidates only when the pick breaks it (see [`Chooser`]). Plain greedy decoding needs
//! no sampler at all (the argmax of the logits).

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use llama_cpp_2::token::LlamaToken;
use trilemma_engine::{Constraint, Error, Result, Sampling};

/// llama.cpp's "draw a fresh seed" value.
const RANDOM_SEED: u32 = u32::MAX;

/// A constraint as a GBNF grammar: a JSON Schema through llama.cpp's own converter (its
/// common library's `json_schema_to_grammar`, as the bindings expose it).
pub fn grammar_of(constraint: &Constraint) -> Result<String> {
    match constraint {
        Constraint::Gbnf(g) => Ok(g.clone()),
        Constraint::AnswerSchema => Err(Error::Constraint(
            "a task's answer schema is resolved by the runner, not the engine".into(),
        )),
        Constraint::JsonSchema(schema) => {
            serde_json::from_str::<serde_json::Value>(schema)
                .map_err(|e| Error::Constraint(format!("the JSON Schema is not JSON: {e}")))?;
            llama_cpp_2::json_schema_to_grammar(schema).map_err(|e| {
                Error::Constraint(format!(
                    "the JSON Schema cannot be compiled to a grammar: {e}"
                ))
            })
        }
    }
}

/// How a request's tokens are chosen when it samples or follows a grammar.
///
/// The grammar is checked lazily, as llama.cpp's own `common_sampler` does: the token the
/// chain picks from the raw logits is tried against the grammar alone, and only when the
/// grammar rejects it are all candidates masked by the grammar and the chain run again.
/// Masking the whole vocabulary at every step (the grammar first in the chain) chooses
/// the same token but costs a grammar walk per vocabulary entry.
pub(crate) struct Chooser {
    grammar: Option<LlamaSampler>,
    /// Penalties, truncations, temperature and the draw (or greedy).
    chain: LlamaSampler,
    /// Reused candidate buffer (one entry per vocabulary token).
    candidates: Vec<LlamaTokenData>,
    /// Steps where the chain's first pick broke the grammar (for the run's notes).
    pub(crate) resampled: usize,
}

impl Chooser {
    /// Chooses the next token from `logits` and makes the grammar and the penalties
    /// remember it.
    pub(crate) fn choose(&mut self, logits: &[f32]) -> LlamaToken {
        let picked = self.run_chain(logits, false);
        let broken = self
            .grammar
            .as_mut()
            .is_some_and(|g| !allows(g, picked, logits));
        let token = if broken {
            self.resampled += 1;
            self.run_chain(logits, true)
        } else {
            picked
        };
        if let Some(g) = self.grammar.as_mut() {
            g.accept(token);
        }
        self.chain.accept(token);
        token
    }

    fn run_chain(&mut self, logits: &[f32], masked: bool) -> LlamaToken {
        self.candidates.clear();
        self.candidates.extend(
            logits
                .iter()
                .enumerate()
                .map(|(i, &l)| LlamaTokenData::new(LlamaToken(i as i32), l, 0.0)),
        );
        let mut array = LlamaTokenDataArray::new(std::mem::take(&mut self.candidates), false);
        if masked {
            if let Some(g) = self.grammar.as_mut() {
                array.apply_sampler(g);
            }
        }
        array.apply_sampler(&mut self.chain);
        let token = array
            .selected_token()
            .unwrap_or_else(|| LlamaToken(crate::logits::argmax(logits) as i32));
        self.candidates = array.data;
        token
    }
}

/// Whether the grammar, in its present state, lets `token` come next.
fn allows(grammar: &mut LlamaSampler, token: LlamaToken, logits: &[f32]) -> bool {
    let logit = logits.get(token.0 as usize).copied().unwrap_or(0.0);
    let mut one = LlamaTokenDataArray::new(vec![LlamaTokenData::new(token, logit, 0.0)], false);
    one.apply_sampler(grammar);
    one.data[0].logit().is_finite()
}

/// The chooser for `sampling` and `constraint`, or `None` when the choice is the argmax.
pub(crate) fn build(
    model: &LlamaModel,
    sampling: &Sampling,
    constraint: Option<&Constraint>,
    max_tokens: usize,
) -> Result<Option<Chooser>> {
    if sampling.is_default_greedy() && constraint.is_none() {
        return Ok(None);
    }
    let grammar = match constraint {
        Some(c) => {
            let g = grammar_of(c)?;
            Some(
                LlamaSampler::grammar(model, &g, "root")
                    .map_err(|e| Error::Constraint(format!("the grammar: {e}")))?,
            )
        }
        None => None,
    };
    let mut chain = Vec::new();
    if sampling.has_penalties() {
        // Over every token generated so far (never the prompt), as OpenAI's are.
        chain.push(LlamaSampler::penalties(
            model.n_vocab(),
            i32::try_from(max_tokens).unwrap_or(i32::MAX),
            sampling.repetition_penalty.unwrap_or(1.0),
            sampling.frequency_penalty.unwrap_or(0.0),
            sampling.presence_penalty.unwrap_or(0.0),
        ));
    }
    if sampling.is_greedy() {
        chain.push(LlamaSampler::greedy());
    } else {
        if let Some(k) = sampling.top_k.filter(|&k| k > 0) {
            chain.push(LlamaSampler::top_k(i32::try_from(k).unwrap_or(i32::MAX)));
        }
        if let Some(p) = sampling.top_p.filter(|&p| p < 1.0) {
            chain.push(LlamaSampler::top_p(p, 1));
        }
        if let Some(p) = sampling.min_p.filter(|&p| p > 0.0) {
            chain.push(LlamaSampler::min_p(p, 1));
        }
        chain.push(LlamaSampler::temp(sampling.temperature));
        chain.push(LlamaSampler::dist(seed32(sampling.seed)));
    }
    Ok(Some(Chooser {
        grammar,
        chain: LlamaSampler::chain_simple(chain),
        candidates: Vec::new(),
        resampled: 0,
    }))
}

/// A 64-bit seed folded into llama.cpp's 32 bits (never its "random" value); `None` asks
/// for a fresh one.
fn seed32(seed: Option<u64>) -> u32 {
    match seed {
        None => RANDOM_SEED,
        Some(s) => {
            let folded = (s as u32) ^ ((s >> 32) as u32);
            if folded == RANDOM_SEED {
                folded - 1
            } else {
                folded
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::seed32;

    #[test]
    fn seeds_fold_to_32_bits_and_never_mean_random() {
        assert_eq!(seed32(Some(7)), 7);
        assert_ne!(seed32(Some(7)), seed32(Some(8)));
        assert_ne!(seed32(Some(1 << 32)), seed32(Some(1 << 33)));
        assert_ne!(seed32(Some(u64::from(u32::MAX))), u32::MAX);
        assert_eq!(seed32(None), u32::MAX);
    }
}
