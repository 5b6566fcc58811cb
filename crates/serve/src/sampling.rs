//! The request fields that choose how tokens are drawn (`temperature`, `top_p`, `top_k`,
//! `min_p`, the penalties, `seed`), how many choices each prompt gets (`n`), and what the
//! output must be (`response_format`), checked and read into the engine's terms.

use serde_json::{Map, Value};
use trilemma_engine::{Constraint, Sampling};

use crate::openai::ApiError;

/// The most choices one prompt may ask for.
pub(crate) const MAX_N: u64 = 16;

/// How a request's tokens are drawn and constrained.
#[derive(Debug, Clone, Default)]
pub(crate) struct Drawing {
    pub(crate) sampling: Sampling,
    /// Choices per prompt.
    pub(crate) n: usize,
    pub(crate) constraint: Option<Constraint>,
}

impl Drawing {
    /// Choice `j` of a prompt: with a seed, choice `j` draws with `seed + j`, so that the
    /// `n` choices differ and each repeats for the same seed.
    pub(crate) fn sampling_for(&self, j: usize) -> Sampling {
        let mut s = self.sampling.clone();
        s.seed = s.seed.map(|seed| seed.wrapping_add(j as u64));
        s
    }
}

fn number(obj: &Map<String, Value>, name: &str, lo: f64, hi: f64) -> Result<Option<f32>, ApiError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_f64() {
            Some(x) if (lo..=hi).contains(&x) => Ok(Some(x as f32)),
            _ => Err(ApiError::invalid(format!(
                "{name} must be a number from {lo} to {hi}, got {v}"
            ))
            .param(name)),
        },
    }
}

/// Reads the drawing fields of a request.
pub(crate) fn read(obj: &Map<String, Value>) -> Result<Drawing, ApiError> {
    let temperature = number(obj, "temperature", 0.0, 2.0)?.unwrap_or(0.0);
    let top_p = number(obj, "top_p", 0.0, 1.0)?;
    if top_p == Some(0.0) {
        return Err(
            ApiError::invalid("top_p must be above 0 (1 keeps every token)").param("top_p"),
        );
    }
    let top_k = match obj.get("top_k") {
        None | Some(Value::Null) => None,
        // vLLM's: -1 (or 0) keeps every token.
        Some(v) if matches!(v.as_i64(), Some(-1 | 0)) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|k| u32::try_from(k).ok())
                .ok_or_else(|| {
                    ApiError::invalid(format!(
                        "top_k must be -1 (every token) or a positive integer, got {v}"
                    ))
                    .param("top_k")
                })?,
        ),
    };
    let repetition_penalty = number(obj, "repetition_penalty", 0.0, 10.0)?;
    if repetition_penalty == Some(0.0) {
        return Err(
            ApiError::invalid("repetition_penalty must be above 0 (1 changes nothing)")
                .param("repetition_penalty"),
        );
    }
    let seed = match obj.get("seed") {
        None | Some(Value::Null) => None,
        // Any integer, negative ones by their bits (OpenAI's seed is a signed integer).
        Some(v) => Some(
            v.as_u64()
                .or_else(|| v.as_i64().map(|i| i as u64))
                .ok_or_else(|| {
                    ApiError::invalid(format!("seed must be an integer, got {v}")).param("seed")
                })?,
        ),
    };
    let n = match obj.get("n") {
        None | Some(Value::Null) => 1,
        Some(v) => match v.as_u64() {
            Some(n) if (1..=MAX_N).contains(&n) => n as usize,
            _ => {
                return Err(ApiError::invalid(format!(
                    "n must be an integer from 1 to {MAX_N}, got {v}"
                ))
                .param("n"))
            }
        },
    };
    Ok(Drawing {
        sampling: Sampling {
            temperature,
            top_p,
            top_k,
            min_p: number(obj, "min_p", 0.0, 1.0)?,
            repetition_penalty,
            presence_penalty: number(obj, "presence_penalty", -2.0, 2.0)?,
            frequency_penalty: number(obj, "frequency_penalty", -2.0, 2.0)?,
            seed,
        },
        n,
        constraint: response_format(obj.get("response_format"))?,
    })
}

/// OpenAI's `response_format`: `text` (no constraint), `json_object` (any JSON object), or
/// `json_schema` (JSON valid under `json_schema.schema`; the output follows it by
/// construction, so `strict` is always met).
fn response_format(v: Option<&Value>) -> Result<Option<Constraint>, ApiError> {
    let bad = |why: String| ApiError::invalid(why).param("response_format");
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    match v.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(Constraint::json_object())),
        Some("json_schema") => {
            let schema = v
                .get("json_schema")
                .and_then(|j| j.get("schema"))
                .filter(|s| s.is_object() || s.is_boolean())
                .ok_or_else(|| {
                    bad("response_format json_schema needs `json_schema.schema`, a JSON Schema object".into())
                })?;
            Ok(Some(Constraint::JsonSchema(schema.to_string())))
        }
        _ => Err(bad(format!(
            "response_format.type must be \"text\", \"json_object\" or \"json_schema\", got {v}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read_json(v: Value) -> Result<Drawing, ApiError> {
        read(v.as_object().unwrap())
    }

    #[test]
    fn sampling_fields_are_read_and_checked() {
        let d = read_json(
            json!({"temperature": 0.7, "top_p": 0.9, "top_k": 40, "seed": 5,
                                 "n": 3, "frequency_penalty": 0.5}),
        )
        .unwrap();
        assert_eq!(d.sampling.temperature, 0.7);
        assert_eq!((d.sampling.top_p, d.sampling.top_k), (Some(0.9), Some(40)));
        assert_eq!(d.n, 3);
        assert_eq!(d.sampling_for(0).seed, Some(5));
        assert_eq!(d.sampling_for(2).seed, Some(7));
        assert!(read_json(json!({})).unwrap().sampling.is_default_greedy());
        assert_eq!(
            read_json(json!({"top_k": -1})).unwrap().sampling.top_k,
            None
        );
        assert_eq!(
            read_json(json!({"seed": -1})).unwrap().sampling.seed,
            Some(u64::MAX)
        );
        for (body, field) in [
            (json!({"temperature": 3}), "temperature"),
            (json!({"temperature": "hot"}), "temperature"),
            (json!({"top_p": 0}), "top_p"),
            (json!({"top_k": 1.5}), "top_k"),
            (json!({"n": 0}), "n"),
            (json!({"n": 17}), "n"),
            (json!({"seed": "x"}), "seed"),
            (json!({"presence_penalty": 2.5}), "presence_penalty"),
            (json!({"repetition_penalty": 0}), "repetition_penalty"),
            (
                json!({"response_format": {"type": "xml"}}),
                "response_format",
            ),
            (
                json!({"response_format": {"type": "json_schema"}}),
                "response_format",
            ),
        ] {
            let e = read_json(body.clone()).unwrap_err();
            assert_eq!(e.param.as_deref(), Some(field), "{body}");
        }
    }

    #[test]
    fn response_format_becomes_a_json_schema_constraint() {
        let c = |v: Value| read_json(json!({"response_format": v})).unwrap().constraint;
        assert_eq!(c(json!({"type": "text"})), None);
        assert_eq!(
            c(json!({"type": "json_object"})),
            Some(Constraint::json_object())
        );
        let schema =
            json!({"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]});
        assert_eq!(
            c(
                json!({"type": "json_schema", "json_schema": {"name": "x", "schema": schema, "strict": true}})
            ),
            Some(Constraint::JsonSchema(schema.to_string()))
        );
    }
}
