//! OpenAI request and response shapes: the fields every request shares, stop lists,
//! finish reasons, usage, and error answers.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use trilemma_engine::{FinishReason, Generation};

use crate::routes::AppState;

pub(crate) fn bad(code: StatusCode, msg: impl std::fmt::Display) -> Response {
    (
        code,
        Json(json!({"error": {"message": msg.to_string(), "type": "invalid_request_error"}})),
    )
        .into_response()
}

/// An error answer, kept small until it becomes a response.
pub(crate) struct ApiError(StatusCode, String);

impl ApiError {
    pub(crate) fn new(code: StatusCode, msg: impl std::fmt::Display) -> Self {
        Self(code, msg.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        bad(self.0, self.1)
    }
}

pub(crate) fn finish_str(f: FinishReason) -> &'static str {
    match f {
        FinishReason::Length => "length",
        FinishReason::Stop | FinishReason::EndOfSequence => "stop",
    }
}

pub(crate) fn parse_stop(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|s| s.as_str().map(String::from))
            .collect(),
        _ => vec![],
    }
}

/// Checks the fields every request shares; returns (max_tokens, stop, stream).
pub(crate) fn common(st: &AppState, body: &Value) -> Result<(u32, Vec<String>, bool), ApiError> {
    if let Some(m) = body.get("model").and_then(Value::as_str) {
        if m != st.cfg.model_name {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "model {m:?} is not served here; this server serves {:?}",
                    st.cfg.model_name
                ),
            ));
        }
    }
    if let Some(t) = body.get("temperature").and_then(Value::as_f64) {
        if t != 0.0 {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "only greedy decoding (temperature 0) is supported",
            ));
        }
    }
    let max_tokens = match body.get("max_tokens") {
        None | Some(Value::Null) => 16,
        Some(v) => v.as_u64().ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "max_tokens must be a non-negative integer",
            )
        })? as u32,
    };
    let stop = body.get("stop").map(parse_stop).unwrap_or_default();
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    Ok((max_tokens, stop, stream))
}

pub(crate) fn usage(g: &Generation) -> Value {
    json!({"prompt_tokens": g.prompt_tokens, "completion_tokens": g.output_tokens,
           "total_tokens": g.prompt_tokens + g.output_tokens})
}
