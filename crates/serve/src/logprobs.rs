//! Log-probabilities in OpenAI's two shapes: completions' parallel lists (`tokens`,
//! `token_logprobs`, `top_logprobs`, `text_offset`) over the echoed prompt and the
//! generated tokens, and chat's `content` entries.

use serde_json::{json, Map, Value};
use trilemma_engine::{Generation, TopToken};

use crate::echo::Echo;

/// The most alternatives a request may ask for at each position (vLLM's default
/// `max_logprobs`).
pub(crate) const MAX_LOGPROBS: u64 = 20;

/// One token of an answer, with what the engine says of it.
pub(crate) struct Position<'a> {
    pub(crate) text: &'a str,
    /// `None` at the prompt's first token (nothing comes before it).
    pub(crate) logprob: Option<f64>,
    pub(crate) top: &'a [TopToken],
}

/// The positions of an echoed prompt.
pub(crate) fn of_echo(e: &Echo) -> Vec<Position<'_>> {
    e.tokens
        .iter()
        .enumerate()
        .map(|(i, t)| Position {
            text: t,
            logprob: e.logprobs.get(i).copied().flatten(),
            top: e.top.get(i).map_or(&[], Vec::as_slice),
        })
        .collect()
}

/// The positions of a generation.
pub(crate) fn of_generation(g: &Generation) -> Vec<Position<'_>> {
    g.token_texts
        .iter()
        .enumerate()
        .map(|(i, t)| Position {
            text: t,
            logprob: g.token_logprobs.get(i).map(|&l| f64::from(l)),
            top: g.top_logprobs.get(i).map_or(&[], Vec::as_slice),
        })
        .collect()
}

/// Completions' `top_logprobs` entry: the `k` most likely tokens and the chosen one (so
/// up to `k` + 1 entries, as OpenAI and vLLM answer), keyed by text. The chosen token
/// keeps the very value of `token_logprobs` (clients compare the two for equality to
/// tell a greedy token); another text two tokens share keeps the likelier. `null` where
/// the token has no log-probability.
fn top_map(p: &Position<'_>, k: usize) -> Value {
    let Some(lp) = p.logprob else {
        return Value::Null;
    };
    let mut m = Map::new();
    m.insert(p.text.to_string(), json!(lp));
    for t in p.top.iter().take(k) {
        m.entry(t.text.clone()).or_insert(json!(t.logprob));
    }
    Value::Object(m)
}

/// Completions' `logprobs` object over `positions` (the echoed prompt's, then the
/// generated ones'), `k` alternatives each; `text_offset` counts characters from the
/// start of the choice's text.
pub(crate) fn completions(positions: &[Position<'_>], k: usize) -> Value {
    let mut offset = 0;
    let mut tokens = Vec::with_capacity(positions.len());
    let mut lps = Vec::with_capacity(positions.len());
    let mut tops = Vec::with_capacity(positions.len());
    let mut offsets = Vec::with_capacity(positions.len());
    for p in positions {
        tokens.push(p.text);
        lps.push(p.logprob);
        tops.push(top_map(p, k));
        offsets.push(offset);
        offset += p.text.chars().count();
    }
    json!({"tokens": tokens, "token_logprobs": lps, "top_logprobs": tops, "text_offset": offsets})
}

/// Chat's `logprobs`: one `content` entry per generated token, with its `k` most likely
/// alternatives, most likely first.
pub(crate) fn chat(g: &Generation, k: usize) -> Value {
    let entry =
        |text: &str, lp: f64| json!({"token": text, "logprob": lp, "bytes": text.as_bytes()});
    let content: Vec<Value> = of_generation(g)
        .iter()
        .map(|p| {
            let lp = p.logprob.unwrap_or(f64::NAN);
            let mut e = entry(p.text, lp);
            let top: Vec<Value> = p
                .top
                .iter()
                .take(k)
                .map(|t| entry(&t.text, t.logprob))
                .collect();
            e["top_logprobs"] = json!(top);
            e
        })
        .collect();
    json!({ "content": content })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn top(list: &[(&str, f64)]) -> Vec<TopToken> {
        list.iter()
            .enumerate()
            .map(|(i, &(t, l))| TopToken {
                id: i as u32,
                text: t.into(),
                logprob: l,
            })
            .collect()
    }

    #[test]
    fn completions_lists_line_up_and_name_the_chosen_token_beside_the_k_best() {
        let first = top(&[]);
        let second = top(&[(" b", -0.1), (" c", -2.0), (" d", -3.0)]);
        let third = top(&[("!", -0.5), (" c", -1.0)]);
        let positions = [
            Position {
                text: "a",
                logprob: None,
                top: &first,
            },
            Position {
                text: " b",
                logprob: Some(-0.1),
                top: &second,
            },
            // Not the most likely: k best plus the chosen token.
            Position {
                text: "é",
                logprob: Some(-4.0),
                top: &third,
            },
        ];
        let v = completions(&positions, 2);
        assert_eq!(v["tokens"], json!(["a", " b", "é"]));
        assert_eq!(v["token_logprobs"], json!([null, -0.1, -4.0]));
        assert_eq!(v["text_offset"], json!([0, 1, 3]));
        assert_eq!(v["top_logprobs"][0], Value::Null);
        assert_eq!(v["top_logprobs"][1], json!({" b": -0.1, " c": -2.0}));
        assert_eq!(
            v["top_logprobs"][2],
            json!({"!": -0.5, " c": -1.0, "é": -4.0})
        );
        // k = 0: the chosen token alone.
        assert_eq!(
            completions(&positions, 0)["top_logprobs"][1],
            json!({" b": -0.1})
        );
    }
}
