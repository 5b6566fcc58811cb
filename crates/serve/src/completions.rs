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
use trilemma_engine::{ChatMessage, GenerationRequest, PromptFit, PromptInput};

use crate::body::JsonBody;
use crate::echo::Echo;
use crate::generate::{created, generate_all, generate_reply, Prompt};
use crate::logprobs;
use crate::openai::{engine_error, finish_str, params, usage, ApiError, Endpoint, Params};
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

/// `prompt`: a string, a list of strings (one choice each), a list of token ids, or a
/// list of such lists (one choice each), as OpenAI's completions API allows.
fn prompts(body: &Value) -> Result<Vec<PromptInput>, ApiError> {
    let bad = |why: String| ApiError::invalid(why).param("prompt");
    let ids = |v: &[Value], at: &str| -> Result<PromptInput, ApiError> {
        if v.is_empty() {
            return Err(bad(format!(
                "prompt{at} must not be an empty list of token ids"
            )));
        }
        v.iter()
            .enumerate()
            .map(|(j, t)| {
                t.as_u64()
                    .and_then(|id| u32::try_from(id).ok())
                    .ok_or_else(|| {
                        bad(format!(
                            "prompt{at}[{j}] must be a token id (a non-negative integer), got {t}"
                        ))
                    })
            })
            .collect::<Result<Vec<u32>, _>>()
            .map(PromptInput::Tokens)
    };
    match body.get("prompt") {
        Some(Value::String(s)) => Ok(vec![PromptInput::Text(s.clone())]),
        Some(Value::Array(a)) if a.is_empty() => Err(bad("prompt must not be an empty list".into())),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => Ok(a
            .iter()
            .filter_map(|s| s.as_str().map(|s| PromptInput::Text(s.into())))
            .collect()),
        Some(Value::Array(a)) if a.iter().all(Value::is_number) => Ok(vec![ids(a, "")?]),
        Some(Value::Array(a)) if a.iter().all(Value::is_array) => a
            .iter()
            .enumerate()
            .map(|(i, p)| ids(p.as_array().map_or(&[], Vec::as_slice), &format!("[{i}]")))
            .collect(),
        None | Some(Value::Null) => Err(bad("prompt is required".into())),
        Some(_) => Err(bad(
            "prompt must be a string, a list of strings, a list of token ids or a list of such lists"
                .into(),
        )),
    }
}

/// `n` generation jobs per prompt, in choice order (prompt `i`'s choice `j` is index
/// `i * n + j`, as OpenAI numbers them).
fn generation_jobs(prompts: &[PromptInput], p: &Params) -> Vec<Prompt> {
    prompts
        .iter()
        .flat_map(|prompt| {
            let (text, ids) = match prompt {
                PromptInput::Text(t) => (t.clone(), None),
                PromptInput::Tokens(ids) => (String::new(), Some(ids.clone())),
            };
            (0..p.drawing.n).map(move |j| Prompt {
                req: GenerationRequest {
                    prompt: text.clone(),
                    prompt_ids: ids.clone(),
                    ..request(p, j)
                },
                chat: None,
            })
        })
        .collect()
}

/// What every generation of a request shares, for its choice `j`.
fn request(p: &Params, j: usize) -> GenerationRequest {
    GenerationRequest {
        max_tokens: p.max_tokens,
        stop: p.stop.clone(),
        top_logprobs: p.logprobs.unwrap_or(0),
        sampling: p.drawing.sampling_for(j),
        constraint: p.drawing.constraint.clone(),
        ..Default::default()
    }
}

pub(crate) async fn completions_inner(st: &AppState, body: &Value) -> Result<Response, ApiError> {
    let received_ns = now_ns();
    let p = params(st, body, Endpoint::Completions)?;
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
        if p.drawing.n > 1 {
            return Err(ApiError::invalid("n above 1 is not supported with echo").param("n"));
        }
        let r = echo_reply(st, prompts, &p, id).await?;
        return Ok(with_ignored(r, &p));
    }
    let jobs = generation_jobs(&prompts, &p);
    let r = generate_reply(st, jobs, &p, id, Endpoint::Completions, received_ns).await?;
    Ok(with_ignored(r, &p))
}

/// Every prompt echoed with its tokens' logprobs (OpenAI's `echo`), one choice per
/// prompt, followed by what the model generates after it when `max_tokens` > 0 (as
/// lm-evaluation-harness asks: `max_tokens: 1`, reading all but the last position).
async fn echo_reply(
    st: &AppState,
    prompts: Vec<PromptInput>,
    p: &Params,
    id: String,
) -> Result<Response, ApiError> {
    check_room(st)?;
    let k = p.logprobs.unwrap_or(0);
    let mut waiting = Vec::with_capacity(prompts.len());
    for prompt in &prompts {
        let (reply, rx) = oneshot::channel();
        enqueue(
            st,
            Job::Echo {
                prompt: prompt.clone(),
                top: usize::from(k),
                reply,
            },
        )?;
        waiting.push(rx);
    }
    let mut echoes = Vec::with_capacity(waiting.len());
    for rx in waiting {
        let e: Echo = answer(&st.metrics, rx)
            .await
            .map_err(|e| engine_error(e, 0, "prompt"))?;
        echoes.push(e);
    }
    let gens = if p.max_tokens > 0 {
        generate_all(st, generation_jobs(&prompts, p), p, "prompt").await?
    } else {
        Vec::new()
    };
    let prompt_tokens: u64 = echoes.iter().map(|e| e.tokens.len() as u64).sum();
    let completion_tokens: u64 = gens.iter().map(|g| g.output_tokens as u64).sum();
    let choices: Vec<Value> = echoes
        .iter()
        .enumerate()
        .map(|(index, e)| {
            let mut positions = logprobs::of_echo(e);
            let mut text = e.text.clone();
            let mut finish = "length";
            if let Some(g) = gens.get(index) {
                positions.extend(logprobs::of_generation(g));
                text.push_str(&g.text);
                finish = finish_str(g.finish);
            }
            json!({"index": index, "text": text, "finish_reason": finish,
                   "logprobs": logprobs::completions(&positions, usize::from(k))})
        })
        .collect();
    st.metrics
        .prompt_tokens
        .fetch_add(prompt_tokens, Ordering::Relaxed);
    Ok(Json(json!({
        "id": id, "object": "text_completion", "created": created(), "model": st.cfg.model_name,
        "choices": choices, "usage": usage(prompt_tokens, completion_tokens)
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
    let jobs = (0..p.drawing.n)
        .map(|j| Prompt {
            req: request(&p, j),
            chat: Some(messages.clone()),
        })
        .collect();
    let id = format!("chatcmpl-{received_ns}");
    let r = generate_reply(st, jobs, &p, id, Endpoint::Chat, received_ns).await?;
    Ok(with_ignored(r, &p))
}
