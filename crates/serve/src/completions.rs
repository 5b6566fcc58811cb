//! The `/v1/completions` and `/v1/chat/completions` handlers: count the request, check
//! its fields, and answer an echo or hand the generations on.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use trilemma_core::now_ns;
use trilemma_engine::{ChatMessage, GenerationRequest, PromptFit};

use crate::body::JsonBody;
use crate::echo::Echo;
use crate::generate::{created, generate_reply, Prompt};
use crate::openai::{engine_error, params, usage, ApiError, Endpoint, Params};
use crate::routes::{answer, check_room, enqueue, AppState};
use crate::scheduler::Job;

/// The response header that names the request fields accepted and not acted on.
pub const IGNORED_HEADER: &str = "x-trilemma-ignored-fields";

/// Counts a request, runs `inner` and records its latency or its error.
async fn counted(
    st: &AppState,
    inner: impl std::future::Future<Output = Result<Response, ApiError>>,
) -> Response {
    let start = now_ns();
    st.metrics.requests.fetch_add(1, Ordering::Relaxed);
    let r = inner.await.unwrap_or_else(IntoResponse::into_response);
    if r.status().is_success() {
        st.metrics.observe((now_ns() - start) as f64 / 1e9);
    } else {
        st.metrics.errors.fetch_add(1, Ordering::Relaxed);
    }
    r
}

/// Names the ignored fields in the response's header.
fn with_ignored(mut r: Response, p: &Params) -> Response {
    if !p.ignored.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&p.ignored.join(", ")) {
            r.headers_mut().insert(IGNORED_HEADER, v);
        }
    }
    r
}

pub(crate) async fn completions(
    State(st): State<Arc<AppState>>,
    body: Result<JsonBody, ApiError>,
) -> Response {
    counted(&st, async {
        let JsonBody(body) = body?;
        completions_inner(&st, &body).await
    })
    .await
}

/// `prompt`: a string, or a list of strings (one choice each).
fn prompts(body: &Value) -> Result<Vec<String>, ApiError> {
    let bad = |why: &str| Err(ApiError::invalid(why).param("prompt"));
    match body.get("prompt") {
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(a)) if a.is_empty() => bad("prompt must not be an empty list"),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => Ok(a
            .iter()
            .filter_map(|s| s.as_str().map(String::from))
            .collect()),
        Some(Value::Array(a)) if a.iter().all(|v| v.is_number() || v.is_array()) => {
            bad("token-id prompts are not supported: send the prompt as text")
        }
        None | Some(Value::Null) => bad("prompt is required"),
        Some(_) => bad("prompt must be a string or a list of strings"),
    }
}

pub(crate) async fn completions_inner(st: &AppState, body: &Value) -> Result<Response, ApiError> {
    let received_ns = now_ns();
    let mut p = params(st, body, Endpoint::Completions)?;
    let prompts = prompts(body)?;
    let id = format!("cmpl-{received_ns}");
    if body.get("echo").and_then(Value::as_bool).unwrap_or(false) {
        if p.stream {
            return Err(ApiError::invalid("echo with stream is not supported").param("stream"));
        }
        if p.fit != PromptFit::Refuse {
            return Err(
                ApiError::invalid("truncate_prompt_tokens is not supported with echo")
                    .param("truncate_prompt_tokens"),
            );
        }
        // The answer is the prompt alone: nothing is generated after it.
        if body.get("max_tokens").and_then(Value::as_u64).unwrap_or(0) > 0 {
            p.ignored.push("max_tokens".into());
        }
        let r = echo_reply(st, prompts, id).await?;
        return Ok(with_ignored(r, &p));
    }
    let jobs = prompts
        .into_iter()
        .map(|prompt| Prompt {
            req: GenerationRequest {
                prompt,
                max_tokens: p.max_tokens,
                stop: p.stop.clone(),
            },
            chat: None,
        })
        .collect();
    let r = generate_reply(st, jobs, &p, id, Endpoint::Completions, received_ns).await?;
    Ok(with_ignored(r, &p))
}

/// Every prompt's tokens and logprobs (OpenAI's `echo`), one choice per prompt.
async fn echo_reply(st: &AppState, prompts: Vec<String>, id: String) -> Result<Response, ApiError> {
    check_room(st)?;
    let mut waiting = Vec::with_capacity(prompts.len());
    for prompt in prompts {
        let (reply, rx) = oneshot::channel();
        enqueue(
            st,
            Job::Echo {
                prompt: prompt.clone(),
                reply,
            },
        )?;
        waiting.push((prompt, rx));
    }
    let mut choices = Vec::with_capacity(waiting.len());
    let mut prompt_tokens = 0u64;
    for (index, (prompt, rx)) in waiting.into_iter().enumerate() {
        let e: Echo = answer(&st.metrics, rx)
            .await
            .map_err(|e| engine_error(e, 0, "prompt"))?;
        prompt_tokens += e.tokens.len() as u64;
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
        choices.push(
            json!({"index": index, "text": prompt, "finish_reason": "length",
            "logprobs": {"tokens": e.tokens, "token_logprobs": e.logprobs,
                         "top_logprobs": tops, "text_offset": e.offsets}}),
        );
    }
    st.metrics
        .prompt_tokens
        .fetch_add(prompt_tokens, Ordering::Relaxed);
    Ok(Json(json!({
        "id": id, "object": "text_completion", "created": created(), "model": st.cfg.model_name,
        "choices": choices, "usage": usage(prompt_tokens, 0)
    }))
    .into_response())
}

pub(crate) async fn chat_completions(
    State(st): State<Arc<AppState>>,
    body: Result<JsonBody, ApiError>,
) -> Response {
    counted(&st, async {
        let JsonBody(body) = body?;
        chat_inner(&st, &body).await
    })
    .await
}

/// A message's `content`: a string, or a list of text parts (joined).
fn content(i: usize, c: Option<&Value>) -> Result<String, ApiError> {
    let bad = |why: String| ApiError::invalid(why).param(format!("messages[{i}].content"));
    match c {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => parts
            .iter()
            .map(
                |p| match (p.get("type").and_then(Value::as_str), p.get("text")) {
                    (Some("text"), Some(Value::String(t))) => Ok(t.as_str()),
                    _ => Err(bad(format!(
                        "messages[{i}].content: only text parts are supported, got {p}"
                    ))),
                },
            )
            .collect::<Result<Vec<_>, _>>()
            .map(|texts| texts.concat()),
        _ => Err(bad(format!(
            "messages[{i}] needs string `role` and `content` (a string or a list of text parts)"
        ))),
    }
}

pub(crate) async fn chat_inner(st: &AppState, body: &Value) -> Result<Response, ApiError> {
    let received_ns = now_ns();
    let p = params(st, body, Endpoint::Chat)?;
    let Some(msgs) = body.get("messages").and_then(Value::as_array) else {
        return Err(ApiError::invalid("messages must be a list").param("messages"));
    };
    let mut messages = Vec::with_capacity(msgs.len());
    for (i, m) in msgs.iter().enumerate() {
        let Some(role) = m.get("role").and_then(Value::as_str) else {
            return Err(ApiError::invalid(format!(
                "messages[{i}] needs string `role` and `content`"
            ))
            .param(format!("messages[{i}].role")));
        };
        messages.push(ChatMessage {
            role: role.into(),
            content: content(i, m.get("content"))?,
        });
    }
    let jobs = vec![Prompt {
        req: GenerationRequest {
            prompt: String::new(),
            max_tokens: p.max_tokens,
            stop: p.stop.clone(),
        },
        chat: Some(messages),
    }];
    let id = format!("chatcmpl-{received_ns}");
    let r = generate_reply(st, jobs, &p, id, Endpoint::Chat, received_ns).await?;
    Ok(with_ignored(r, &p))
}
