//! A request's token choice as llama.cpp's sampler chain: the grammar first (tokens that
//! cannot continue it are masked), then the penalties, the truncations (top-k, top-p,
//! min-p), the temperature and a seeded draw; or greedy after the grammar and penalties.
//! Plain greedy decoding needs no sampler at all (the argmax of the logits).

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use trilemma_engine::{Constraint, Error, Result, Sampling};

/// llama.cpp's "draw a fresh seed" value.
const RANDOM_SEED: u32 = u32::MAX;

/// A constraint as a GBNF grammar: a JSON Schema through llama.cpp's own converter (its
/// common library's `json_schema_to_grammar`, as the bindings expose it).
pub fn grammar_of(constraint: &Constraint) -> Result<String> {
    match constraint {
        Constraint::Gbnf(g) => Ok(g.clone()),
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

/// The sampler for `sampling` and `constraint`, or `None` when the choice is the argmax.
pub(crate) fn build(
    model: &LlamaModel,
    sampling: &Sampling,
    constraint: Option<&Constraint>,
    max_tokens: usize,
) -> Result<Option<LlamaSampler>> {
    if sampling.is_default_greedy() && constraint.is_none() {
        return Ok(None);
    }
    let mut chain = Vec::new();
    if let Some(c) = constraint {
        let g = grammar_of(c)?;
        chain.push(
            LlamaSampler::grammar(model, &g, "root")
                .map_err(|e| Error::Constraint(format!("the grammar: {e}")))?,
        );
    }
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
    Ok(Some(LlamaSampler::chain_simple(chain)))
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
