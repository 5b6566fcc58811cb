//! OpenAI's request and response shapes: the error body every failure has, the request
//! fields this server knows and what it does with each, stop lists, finish reasons,
//! usage.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use trilemma_engine::{FinishReason, Generation, PromptFit};

use crate::logprobs::MAX_LOGPROBS;
use crate::routes::{AppState, Failure};
use crate::sampling::{self, Drawing};

/// An error answer in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.
/// Every failure the server answers goes through here (the one `IntoResponse` of an
/// error), so that a client's error handling sees one shape.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    pub(crate) kind: &'static str,
    pub(crate) param: Option<String>,
    pub(crate) code: Option<&'static str>,
}

impl ApiError {
    /// A client error (400 `invalid_request_error`).
    pub(crate) fn invalid(message: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// An error with `status`; its `type` follows from the status as OpenAI's do.
    pub(crate) fn new(status: StatusCode, message: impl std::fmt::Display) -> Self {
        let (kind, code) = match status.as_u16() {
            401 => ("invalid_request_error", Some("invalid_api_key")),
            404 => ("invalid_request_error", Some("not_found")),
            405 => ("invalid_request_error", Some("method_not_allowed")),
            413 => ("invalid_request_error", Some("request_too_large")),
            429 => ("rate_limit_error", Some("rate_limit_exceeded")),
            503 => ("server_error", Some("engine_unavailable")),
            s if s >= 500 => ("server_error", Some("engine_error")),
            _ => ("invalid_request_error", Some("invalid_request")),
        };
        Self {
            status,
            message: message.to_string(),
            kind,
            param: None,
            code,
        }
    }

    /// Names the request field at fault.
    pub(crate) fn param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub(crate) fn code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// The `{"error": {...}}` object (also sent as a stream's last event).
    pub(crate) fn body(&self) -> Value {
        json!({"error": {"message": self.message, "type": self.kind,
                         "param": self.param, "code": self.code}})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

/// Which endpoint a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Completions,
    Chat,
}

/// What the server does with a request field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Treatment {
    /// Acted on.
    Honoured,
    /// Accepted for the values that mean what greedy decoding does anyway; any other
    /// value is refused with a 400 naming the field.
    NeutralOnly,
    /// Accepted and not acted on; named in the `x-trilemma-ignored-fields` header.
    Ignored,
    /// Refused with a 400 naming the field whenever it is set (not null).
    Refused,
}

/// A request field this server knows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub(crate) name: &'static str,
    pub(crate) completions: bool,
    pub(crate) chat: bool,
    pub(crate) treatment: Treatment,
}

const fn field(name: &'static str, completions: bool, chat: bool, treatment: Treatment) -> Field {
    Field {
        name,
        completions,
        chat,
        treatment,
    }
}

/// Every request field the server knows and what it does with it. `docs/serve.md`
/// holds the same table for people (a test keeps the two together); a field not listed
/// here is ignored and named in the `x-trilemma-ignored-fields` header.
pub(crate) const FIELDS: &[Field] = &[
    field("model", true, true, Treatment::Honoured),
    field("prompt", true, false, Treatment::Honoured),
    field("messages", false, true, Treatment::Honoured),
    field("max_tokens", true, true, Treatment::Honoured),
    field("max_completion_tokens", false, true, Treatment::Honoured),
    field("stop", true, true, Treatment::Honoured),
    field("stream", true, true, Treatment::Honoured),
    field("stream_options", true, true, Treatment::Honoured),
    field("echo", true, false, Treatment::Honoured),
    field("logprobs", true, true, Treatment::Honoured),
    field("truncate_prompt_tokens", true, true, Treatment::Honoured),
    field("temperature", true, true, Treatment::Honoured),
    field("n", true, true, Treatment::Honoured),
    field("best_of", true, false, Treatment::NeutralOnly),
    field("presence_penalty", true, true, Treatment::Honoured),
    field("frequency_penalty", true, true, Treatment::Honoured),
    field("repetition_penalty", true, true, Treatment::Honoured),
    field("logit_bias", true, true, Treatment::NeutralOnly),
    field("min_tokens", true, true, Treatment::NeutralOnly),
    field("ignore_eos", true, true, Treatment::NeutralOnly),
    field("top_logprobs", false, true, Treatment::Honoured),
    field("suffix", true, false, Treatment::Refused),
    field("tools", false, true, Treatment::Refused),
    field("tool_choice", false, true, Treatment::Refused),
    field("functions", false, true, Treatment::Refused),
    field("function_call", false, true, Treatment::Refused),
    field("response_format", true, true, Treatment::Honoured),
    field("top_p", true, true, Treatment::Honoured),
    field("top_k", true, true, Treatment::Honoured),
    field("min_p", true, true, Treatment::Honoured),
    field("seed", true, true, Treatment::Honoured),
    field("user", true, true, Treatment::Ignored),
];

/// The settings of a request, checked.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    pub(crate) max_tokens: u32,
    pub(crate) stop: Vec<String>,
    pub(crate) stream: bool,
    /// Send the usage chunk at the end of a stream (`stream_options.include_usage`).
    pub(crate) include_usage: bool,
    pub(crate) fit: PromptFit,
    /// Log-probabilities: `None` not asked; `Some(k)` with the `k` most likely tokens at
    /// each position (completions: of the echoed prompt with `echo`, and of the generated
    /// tokens; chat: of the generated tokens).
    pub(crate) logprobs: Option<u8>,
    /// How tokens are drawn, how many choices per prompt, what the output must be.
    pub(crate) drawing: Drawing,
    /// Fields accepted and not acted on, for the response header.
    pub(crate) ignored: Vec<String>,
}

fn is_set(v: &Value) -> bool {
    !v.is_null()
}

/// Whether `v` is a value that changes nothing under greedy decoding with one choice.
fn neutral(name: &str, v: &Value) -> bool {
    let num = |x: f64| v.as_f64() == Some(x);
    match name {
        "best_of" => num(1.0),
        "min_tokens" => num(0.0),
        "ignore_eos" => v == &Value::Bool(false),
        "logit_bias" => v.as_object().is_some_and(Map::is_empty),
        _ => false,
    }
}

fn refusal(name: &str, v: &Value) -> ApiError {
    let why = match name {
        "best_of" => format!("{name} must be 1: ask for more choices with n (got {v})"),
        "suffix" => "suffix (insertion) is not supported".to_string(),
        "tools" | "tool_choice" | "functions" | "function_call" => {
            format!("{name}: tool calls are not supported")
        }
        _ => {
            format!("{name} = {v} is not supported: decoding is greedy with no penalties or biases")
        }
    };
    ApiError::invalid(why).param(name).code("unsupported_value")
}

/// The log-probabilities asked for: `Some(k)` alternatives at each position.
/// Completions: `logprobs: k`; chat: `logprobs: true` with `top_logprobs: k`. `k` is at
/// most [`MAX_LOGPROBS`], as vLLM allows by default.
fn requested_logprobs(
    obj: &Map<String, Value>,
    endpoint: Endpoint,
    stream: bool,
) -> Result<Option<u8>, ApiError> {
    let count = |name: &str| -> Result<Option<u8>, ApiError> {
        match obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_u64() {
                Some(k) if k <= MAX_LOGPROBS => Ok(Some(k as u8)),
                Some(k) => Err(ApiError::invalid(format!(
                    "Requested {name} of {k}, which is greater than max allowed: {MAX_LOGPROBS}"
                ))
                .param(name)),
                None => Err(ApiError::invalid(format!(
                    "{name} must be an integer from 0 to {MAX_LOGPROBS}, got {v}"
                ))
                .param(name)),
            },
        }
    };
    let k = match endpoint {
        Endpoint::Completions => match obj.get("logprobs") {
            Some(Value::Bool(false)) => None,
            _ => count("logprobs")?,
        },
        Endpoint::Chat => {
            let top = count("top_logprobs")?;
            match obj.get("logprobs") {
                None | Some(Value::Null) | Some(Value::Bool(false)) => {
                    if top.is_some_and(|k| k > 0) {
                        return Err(ApiError::invalid("top_logprobs needs logprobs to be true")
                            .param("top_logprobs"));
                    }
                    None
                }
                Some(Value::Bool(true)) => Some(top.unwrap_or(0)),
                Some(v) => {
                    return Err(
                        ApiError::invalid(format!("logprobs must be a boolean, got {v}"))
                            .param("logprobs"),
                    )
                }
            }
        }
    };
    if stream && k.is_some() {
        return Err(
            ApiError::invalid("log-probabilities are given without stream only")
                .param("logprobs")
                .code("unsupported_value"),
        );
    }
    Ok(k)
}

/// Checks the request's fields against [`FIELDS`] and reads the settings every request
/// shares.
pub(crate) fn params(st: &AppState, body: &Value, endpoint: Endpoint) -> Result<Params, ApiError> {
    let Some(obj) = body.as_object() else {
        return Err(
            ApiError::invalid("the request body must be a JSON object").code("invalid_json")
        );
    };
    if let Some(m) = obj.get("model").filter(|m| is_set(m)) {
        let Some(m) = m.as_str() else {
            return Err(ApiError::invalid("model must be a string").param("model"));
        };
        if m != st.cfg.model_name {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "The model `{m}` does not exist: this server serves {:?}",
                    st.cfg.model_name
                ),
            )
            .param("model")
            .code("model_not_found"));
        }
    }
    let mut ignored = Vec::new();
    for (name, v) in obj {
        let known = FIELDS.iter().find(|f| {
            f.name == name
                && match endpoint {
                    Endpoint::Completions => f.completions,
                    Endpoint::Chat => f.chat,
                }
        });
        match known.map(|f| f.treatment) {
            Some(Treatment::Honoured) => {}
            Some(Treatment::NeutralOnly) if !is_set(v) || neutral(name, v) => {}
            Some(Treatment::NeutralOnly) => return Err(refusal(name, v)),
            Some(Treatment::Refused) if is_set(v) => return Err(refusal(name, v)),
            Some(Treatment::Refused) => {}
            Some(Treatment::Ignored) | None => ignored.push(name.clone()),
        }
    }
    let int = |name: &str| -> Result<Option<u64>, ApiError> {
        match obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                ApiError::invalid(format!("{name} must be a non-negative integer, got {v}"))
                    .param(name)
            }),
        }
    };
    // OpenAI's chat API renamed max_tokens max_completion_tokens; the newer name wins.
    let (tokens_field, requested) = match int("max_completion_tokens")? {
        Some(n) if endpoint == Endpoint::Chat => ("max_completion_tokens", Some(n)),
        _ => ("max_tokens", int("max_tokens")?),
    };
    let max_tokens = requested.unwrap_or(16);
    let limit = st.context_length as u64;
    if limit > 0 && max_tokens >= limit {
        return Err(ApiError::invalid(format!(
            "'{tokens_field}' is too large: {max_tokens}. This model's maximum context length is \
             {limit} tokens, and a prompt takes at least one of them: {tokens_field} must be at most {}.",
            limit - 1
        ))
        .param(tokens_field)
        .code("context_length_exceeded"));
    }
    let max_tokens = u32::try_from(max_tokens).map_err(|_| {
        ApiError::invalid(format!("'{tokens_field}' is too large: {max_tokens}"))
            .param(tokens_field)
    })?;
    let stop = match obj.get("stop") {
        None | Some(Value::Null) => vec![],
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => a
            .iter()
            .filter_map(|s| s.as_str().map(String::from))
            .collect(),
        Some(v) => {
            return Err(ApiError::invalid(format!(
                "stop must be a string or a list of strings, got {v}"
            ))
            .param("stop"))
        }
    };
    let stream = match obj.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => {
            return Err(
                ApiError::invalid(format!("stream must be a boolean, got {v}")).param("stream"),
            )
        }
    };
    let include_usage = match obj.get("stream_options") {
        None | Some(Value::Null) => false,
        Some(_) if !stream => {
            return Err(
                ApiError::invalid("stream_options are only allowed when stream is true")
                    .param("stream_options"),
            )
        }
        Some(o) => match o.get("include_usage") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(v) => {
                return Err(ApiError::invalid(format!(
                    "stream_options.include_usage must be a boolean, got {v}"
                ))
                .param("stream_options"))
            }
        },
    };
    let fit = match obj.get("truncate_prompt_tokens") {
        None | Some(Value::Null) => PromptFit::Refuse,
        // vLLM: -1 keeps as many of the newest prompt tokens as the context holds.
        Some(v) if v.as_i64() == Some(-1) => PromptFit::KeepLast(st.context_length.max(1)),
        Some(v) => match v.as_u64() {
            Some(k) if k >= 1 => PromptFit::KeepLast(k as usize),
            _ => {
                return Err(ApiError::invalid(format!(
                    "truncate_prompt_tokens must be a positive integer or -1, got {v}"
                ))
                .param("truncate_prompt_tokens"))
            }
        },
    };
    let logprobs = requested_logprobs(obj, endpoint, stream)?;
    let drawing = sampling::read(obj)?;
    Ok(Params {
        max_tokens,
        stop,
        stream,
        include_usage,
        fit,
        logprobs,
        drawing,
        ignored,
    })
}

/// A failure of the engine as an answer: a prompt that does not fit is the client's
/// (400, worded as vLLM words it), anything else the server's (500).
pub(crate) fn engine_error(f: Failure, max_tokens: u32, prompt_field: &str) -> ApiError {
    let e = match f {
        Failure::Api(a) => return a,
        Failure::Engine(e) => e,
    };
    match e {
        trilemma_engine::Error::ContextOverflow { needed, limit } => {
            let asked = max_tokens as usize;
            let prompt = needed.saturating_sub(asked);
            let param = if prompt >= limit {
                prompt_field
            } else {
                "max_tokens"
            };
            ApiError::invalid(format!(
                "This model's maximum context length is {limit} tokens. However, you requested \
                 {needed} tokens ({prompt} in the {prompt_field}, {asked} in the completion). \
                 Please reduce the length of the {prompt_field} or completion \
                 (or set truncate_prompt_tokens to keep only the newest prompt tokens)."
            ))
            .param(param)
            .code("context_length_exceeded")
        }
        // The prompt itself cannot be read (a token id outside the vocabulary).
        trilemma_engine::Error::Tokenize(why) => ApiError::invalid(why).param(prompt_field),
        trilemma_engine::Error::Constraint(why) => ApiError::invalid(format!(
            "response_format: the output constraint cannot be used: {why}"
        ))
        .param("response_format"),
        // A model without a chat template cannot take messages: the engine says why.
        trilemma_engine::Error::Unsupported(what) if what.starts_with("chat:") => {
            ApiError::invalid(what.trim_start_matches("chat:").trim()).param("messages")
        }
        // An engine without a sampler (e.g. one in front of an HTTP upstream): the request
        // asked for what it cannot do, which is the client's to change.
        trilemma_engine::Error::Unsupported(what) => ApiError::invalid(format!(
            "{what} is not supported by this server's engine, whose decoding is greedy \
             (temperature 0) and unconstrained"
        ))
        .param(if what.starts_with("sampling") {
            "temperature"
        } else if what.starts_with("constrained") {
            "response_format"
        } else {
            prompt_field
        }),
        e => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

pub(crate) fn finish_str(f: FinishReason) -> &'static str {
    match f {
        FinishReason::Length => "length",
        FinishReason::Stop | FinishReason::EndOfSequence => "stop",
    }
}

pub(crate) fn usage(prompt_tokens: u64, completion_tokens: u64) -> Value {
    json!({"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
           "total_tokens": prompt_tokens + completion_tokens})
}

pub(crate) fn usage_of(gs: &[Generation]) -> Value {
    usage(
        gs.iter().map(|g| g.prompt_tokens as u64).sum(),
        gs.iter().map(|g| g.output_tokens as u64).sum(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/serve.md's table of request fields says what [`FIELDS`] does, row for row.
    #[test]
    fn the_docs_table_matches_the_fields_the_server_knows() {
        let doc = include_str!("../../../docs/serve.md");
        let rows: Vec<&str> = doc
            .lines()
            .filter(|l| l.starts_with("| `") && l.contains("| **"))
            .collect();
        assert_eq!(rows.len(), FIELDS.len(), "one row per field");
        for f in FIELDS {
            let row = rows
                .iter()
                .find(|r| r.starts_with(&format!("| `{}` |", f.name)))
                .unwrap_or_else(|| panic!("docs/serve.md has no row for `{}`", f.name));
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let yes = |b: bool| if b { "yes" } else { "-" };
            let treatment = match f.treatment {
                Treatment::Honoured => "**honoured**",
                Treatment::NeutralOnly => "**neutral only**",
                Treatment::Ignored => "**ignored**",
                Treatment::Refused => "**refused**",
            };
            assert_eq!(
                (cells[2], cells[3], cells[4]),
                (yes(f.completions), yes(f.chat), treatment),
                "{row}"
            );
        }
    }

    #[test]
    fn a_context_overflow_is_the_clients_and_names_what_to_cut() {
        let e = |needed, max_tokens| {
            engine_error(
                Failure::Engine(trilemma_engine::Error::ContextOverflow {
                    needed,
                    limit: 4096,
                }),
                max_tokens,
                "prompt",
            )
        };
        let long = e(6017, 16);
        assert_eq!(long.status, StatusCode::BAD_REQUEST);
        assert_eq!(long.param.as_deref(), Some("prompt"));
        assert!(long.message.contains(
            "maximum context length is 4096 tokens. However, you requested 6017 tokens (6001 in the prompt, 16 in the completion)"
        ));
        // The prompt fits alone: max_tokens is what to cut.
        assert_eq!(e(4100, 100).param.as_deref(), Some("max_tokens"));
        let other = engine_error(
            Failure::Engine(trilemma_engine::Error::Inference("boom".into())),
            1,
            "prompt",
        );
        assert_eq!(other.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(other.body()["error"]["type"], "server_error");
    }
}
