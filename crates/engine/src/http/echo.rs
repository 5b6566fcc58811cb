//! Log-likelihood from an echoed completion (lm-evaluation-harness's
//! `local-completions`): the prompt's tokens with their logprobs and character offsets,
//! and the sum over the span of the continuation.

use serde_json::{json, Value};
use trilemma_core::now_ns;

use super::client::{post, read_json, url, Shared};
use crate::{Error, Result};

/// Tells the user what multiple-choice scoring needs from a server.
pub const NO_PROMPT_LOGPROBS: &str = "log-likelihood: the server returned no prompt logprobs; \
multiple-choice tasks need a /v1/completions endpoint that supports `echo: true` with `logprobs`";

/// Prompt tokens of an echoed completion: `(text, logprob, is_greedy, char_offset)`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct EchoToken {
    pub(super) text: String,
    pub(super) logprob: Option<f64>,
    pub(super) greedy: Option<bool>,
    pub(super) offset: usize,
}

fn parse_echo(v: &Value) -> Result<Vec<EchoToken>> {
    parse_echo_choice(v, 0)
}

/// The echoed prompt of choice `index` (the completions API answers a list of prompts
/// with one choice per prompt, `index` in order).
fn parse_echo_choice(v: &Value, index: usize) -> Result<Vec<EchoToken>> {
    let choice = v.get("choices").and_then(Value::as_array).and_then(|cs| {
        cs.iter()
            .find(|c| c.get("index").and_then(Value::as_u64) == Some(index as u64))
            .or_else(|| cs.get(index))
    });
    let lp = choice
        .and_then(|c| c.get("logprobs"))
        .filter(|l| !l.is_null())
        .ok_or_else(|| Error::Unsupported(NO_PROMPT_LOGPROBS.into()))?;
    let arr = |k: &str| lp.get(k).and_then(Value::as_array);
    let (Some(tokens), Some(lps), Some(offsets)) =
        (arr("tokens"), arr("token_logprobs"), arr("text_offset"))
    else {
        return Err(Error::Unsupported(NO_PROMPT_LOGPROBS.into()));
    };
    if tokens.len() != lps.len() || tokens.len() != offsets.len() {
        return Err(Error::Transport(format!(
            "logprobs lists differ in length: {} tokens, {} logprobs, {} offsets",
            tokens.len(),
            lps.len(),
            offsets.len()
        )));
    }
    let tops = arr("top_logprobs");
    let mut out = Vec::with_capacity(tokens.len());
    for i in 0..tokens.len() {
        let logprob = lps[i].as_f64();
        let greedy = tops
            .and_then(|t| t.get(i))
            .and_then(|t| t.as_object())
            .and_then(|m| {
                let best = m
                    .values()
                    .filter_map(Value::as_f64)
                    .fold(f64::NEG_INFINITY, f64::max);
                logprob.map(|l| best.is_finite() && l >= best - 1e-6)
            });
        out.push(EchoToken {
            text: tokens[i].as_str().unwrap_or_default().to_string(),
            logprob,
            greedy,
            offset: offsets[i].as_u64().ok_or_else(|| {
                Error::Transport(format!("text_offset[{i}] is not a number: {}", offsets[i]))
            })? as usize,
        });
    }
    Ok(out)
}

/// Sums the logprobs of the tokens covering characters `from..to` of the prompt.
/// A token straddling `from` counts as the continuation's (its text differs from what
/// a separate tokenization would give, as with lm-eval's own token split).
pub(super) fn score_span(
    tokens: &[EchoToken],
    from: usize,
    to: usize,
) -> Result<(f64, u32, bool, u32)> {
    let mut sum = 0.0;
    let mut n = 0u32;
    let mut greedy = true;
    let mut before = 0u32;
    for (i, t) in tokens.iter().enumerate() {
        let end = t.offset + t.text.chars().count();
        if t.offset >= to {
            break;
        }
        if end <= from && !(end == from && t.text.is_empty()) {
            before += 1;
            continue;
        }
        let Some(lp) = t.logprob else {
            return Err(Error::Unsupported(format!(
                "log-likelihood of prompt token {i} ({:?}): the server gives no logprob for it \
                 (the first token of a prompt has none; the context must not be empty)",
                t.text
            )));
        };
        sum += lp;
        n += 1;
        greedy &= t.greedy.unwrap_or(false);
    }
    if n == 0 {
        return Err(Error::Inference(format!(
            "no prompt token covers characters {from}..{to}"
        )));
    }
    Ok((sum, n, greedy, before))
}

/// One echo request (`prompt` a string or a list): the answer, and when it was sent and
/// came back.
async fn echo_call(shared: &Shared, prompt: Value) -> Result<(Value, u64, u64)> {
    let body = json!({
        "model": shared.cfg.model,
        "prompt": prompt,
        "echo": true,
        "logprobs": 1,
        "max_tokens": 1,
        "temperature": 0.0,
    });
    let start = now_ns();
    let resp = post(shared, "completions", &body).await?;
    let v = read_json(shared, resp, &url(shared, "completions")).await?;
    if let Some(err) = v.get("error") {
        return Err(Error::Inference(format!("server error: {err}")));
    }
    Ok((v, start, now_ns()))
}

pub(super) async fn echo_request(
    shared: &Shared,
    prompt: &str,
) -> Result<(Vec<EchoToken>, u64, u64)> {
    let (v, start, end) = echo_call(shared, json!(prompt)).await?;
    Ok((parse_echo(&v)?, start, end))
}

/// The echoed prompts of several prompts in one request (`prompt` as a list): the choices
/// of one multiple-choice item, so that a server (such as a cascade gateway) sees and
/// decides them together.
pub(super) async fn echo_request_many(
    shared: &Shared,
    prompts: &[String],
) -> Result<(Vec<Vec<EchoToken>>, u64, u64)> {
    let (v, start, end) = echo_call(shared, json!(prompts)).await?;
    let n = v
        .get("choices")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if n != prompts.len() {
        return Err(Error::Transport(format!(
            "{} prompts sent in one request, {n} choices answered",
            prompts.len()
        )));
    }
    let toks = (0..prompts.len())
        .map(|i| parse_echo_choice(&v, i))
        .collect::<Result<Vec<_>>>()?;
    Ok((toks, start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(text: &str, lp: Option<f64>, offset: usize) -> EchoToken {
        EchoToken {
            text: text.into(),
            logprob: lp,
            greedy: Some(true),
            offset,
        }
    }

    #[test]
    fn continuation_span_by_offsets() {
        // "Answer: Paris" + one generated token " is".
        let toks = vec![
            tok("Answer", None, 0),
            tok(":", Some(-1.0), 6),
            tok(" Par", Some(-2.0), 7),
            tok("is", Some(-0.5), 11),
            tok(" is", Some(-9.0), 13),
        ];
        let (lp, n, greedy, before) = score_span(&toks, 7, 13).unwrap();
        assert_eq!((lp, n, greedy, before), (-2.5, 2, true, 2));
        // Empty context: the first token has no logprob.
        assert!(matches!(
            score_span(&toks, 0, 13),
            Err(Error::Unsupported(_))
        ));
    }

    #[test]
    fn choices_of_a_prompt_list_are_read_by_index() {
        let lp = |x: f64| json!({"tokens": ["a", "b"], "token_logprobs": [null, x], "text_offset": [0, 1]});
        let v = json!({"choices": [
            {"index": 1, "text": "ab", "logprobs": lp(-2.0)},
            {"index": 0, "text": "ab", "logprobs": lp(-1.0)},
        ]});
        assert_eq!(parse_echo_choice(&v, 0).unwrap()[1].logprob, Some(-1.0));
        assert_eq!(parse_echo_choice(&v, 1).unwrap()[1].logprob, Some(-2.0));
        assert!(parse_echo_choice(&v, 2).is_err());
    }

    #[test]
    fn missing_prompt_logprobs_is_a_clear_error() {
        let v = json!({"choices": [{"text": "x", "logprobs": null}]});
        let e = parse_echo(&v).unwrap_err().to_string();
        assert!(e.contains("echo"), "{e}");
    }
}
