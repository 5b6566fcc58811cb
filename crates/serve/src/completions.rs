//! The `/v1/completions` and `/v1/chat/completions` handlers: count the request, read
//! its body, and answer an echo or hand the generation on.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use trilemma_core::now_ns;
use trilemma_engine::{ChatMessage, GenerationRequest};

use crate::generate::generate_reply;
use crate::openai::{bad, common};
use crate::routes::{submit, AppState};
use crate::scheduler::Job;

pub(crate) async fn completions(
    State(st): State<Arc<AppState>>,
    Json(body): Json<Value>,
) -> Response {
    let start = now_ns();
    st.metrics.requests.fetch_add(1, Ordering::Relaxed);
    let r = completions_inner(&st, &body, start).await;
    if r.status().is_success() {
        st.metrics.observe((now_ns() - start) as f64 / 1e9);
    } else {
        st.metrics.errors.fetch_add(1, Ordering::Relaxed);
    }
    r
}

pub(crate) async fn completions_inner(st: &AppState, body: &Value, received_ns: u64) -> Response {
    let (max_tokens, stop, stream) = match common(st, body) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let Some(prompt) = body.get("prompt").and_then(Value::as_str).map(String::from) else {
        return bad(StatusCode::BAD_REQUEST, "prompt must be a string");
    };
    let echo_on = body.get("echo").and_then(Value::as_bool).unwrap_or(false);
    let id = format!("cmpl-{}", now_ns());
    if echo_on {
        if stream {
            return bad(StatusCode::BAD_REQUEST, "echo with stream is not supported");
        }
        let e = match submit(st, |reply| Job::Echo {
            prompt: prompt.clone(),
            reply,
        })
        .await
        {
            Ok(e) => e,
            Err(r) => return r.into_response(),
        };
        st.metrics
            .prompt_tokens
            .fetch_add(e.tokens.len() as u64, Ordering::Relaxed);
        let tops: Vec<Value> = e
            .tokens
            .iter()
            .zip(&e.logprobs)
            .zip(&e.greedy)
            .map(|((t, lp), g)| match (lp, g) {
                (Some(lp), true) => json!({ t.as_str(): lp }),
                _ => Value::Null,
            })
            .collect();
        // Only the prompt is returned: max_tokens counts no generated token here.
        return Json(json!({
            "id": id, "object": "text_completion", "model": st.cfg.model_name,
            "choices": [{"index": 0, "text": prompt, "finish_reason": "length",
                "logprobs": {"tokens": e.tokens, "token_logprobs": e.logprobs,
                             "top_logprobs": tops, "text_offset": e.offsets}}],
            "usage": {"prompt_tokens": e.tokens.len(), "completion_tokens": 0, "total_tokens": e.tokens.len()}
        }))
        .into_response();
    }
    let req = GenerationRequest {
        prompt,
        max_tokens,
        stop,
    };
    generate_reply(st, req, None, stream, id, false, received_ns).await
}

pub(crate) async fn chat_completions(
    State(st): State<Arc<AppState>>,
    Json(body): Json<Value>,
) -> Response {
    let start = now_ns();
    st.metrics.requests.fetch_add(1, Ordering::Relaxed);
    let r = chat_inner(&st, &body, start).await;
    if r.status().is_success() {
        st.metrics.observe((now_ns() - start) as f64 / 1e9);
    } else {
        st.metrics.errors.fetch_add(1, Ordering::Relaxed);
    }
    r
}

pub(crate) async fn chat_inner(st: &AppState, body: &Value, received_ns: u64) -> Response {
    let (max_tokens, stop, stream) = match common(st, body) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let Some(msgs) = body.get("messages").and_then(Value::as_array) else {
        return bad(StatusCode::BAD_REQUEST, "messages must be a list");
    };
    let mut messages = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        let (Some(role), Some(content)) = (
            m.get("role").and_then(Value::as_str),
            m.get("content").and_then(Value::as_str),
        ) else {
            return bad(
                StatusCode::BAD_REQUEST,
                format!("messages[{i}] needs string `role` and `content`"),
            );
        };
        messages.push(ChatMessage {
            role: role.into(),
            content: content.into(),
        });
    }
    let req = GenerationRequest {
        prompt: String::new(),
        max_tokens,
        stop,
    };
    let id = format!("chatcmpl-{}", now_ns());
    generate_reply(st, req, Some(messages), stream, id, true, received_ns).await
}
