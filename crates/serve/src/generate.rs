//! Generations' answer: one JSON body, or server-sent events piece by piece as the
//! engine produces them, each stamped with the server's time since the request arrived.
//! A request of several prompts gets one choice per prompt, `index` in prompt order.

use std::sync::atomic::Ordering;

use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tokio::sync::mpsc as mpsc_async;
use tokio::sync::oneshot;
use tokio_stream::StreamExt;
use trilemma_core::now_ns;
use trilemma_engine::{ChatMessage, Generation, GenerationRequest};

use crate::logprobs;
use crate::openai::{engine_error, finish_str, usage_of, ApiError, Endpoint, Params};
use crate::routes::{answer, check_room, enqueue, AppState};
use crate::scheduler::Job;

/// One prompt of a request: its text, or chat messages to render with the template.
pub(crate) struct Prompt {
    pub(crate) req: GenerationRequest,
    pub(crate) chat: Option<Vec<ChatMessage>>,
}

/// Seconds since the Unix epoch (OpenAI's `created`).
pub(crate) fn created() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A prompt's generation under way: its text pieces and its final answer.
struct Running {
    pieces: mpsc_async::UnboundedReceiver<String>,
    reply: oneshot::Receiver<trilemma_engine::Result<Generation>>,
}

/// Hands every prompt to the scheduler; all of them or none (429/503) are taken.
fn submit_all(
    st: &AppState,
    prompts: Vec<Prompt>,
    p: &Params,
    stream: bool,
) -> Result<Vec<Running>, ApiError> {
    check_room(st)?;
    let mut running = Vec::with_capacity(prompts.len());
    for Prompt { req, chat } in prompts {
        let (piece_tx, pieces) = mpsc_async::unbounded_channel();
        let (reply_tx, reply) = oneshot::channel();
        enqueue(
            st,
            Job::Generate {
                req,
                chat,
                fit: p.fit,
                stream: stream.then_some(piece_tx),
                reply: reply_tx,
            },
        )?;
        running.push(Running { pieces, reply });
    }
    Ok(running)
}

/// Every prompt's generation, in prompt order (the answer of a request without stream).
pub(crate) async fn generate_all(
    st: &AppState,
    prompts: Vec<Prompt>,
    p: &Params,
    prompt_field: &str,
) -> Result<Vec<Generation>, ApiError> {
    let running = submit_all(st, prompts, p, false)?;
    let mut gens = Vec::with_capacity(running.len());
    for r in running {
        let g = answer(&st.metrics, r.reply)
            .await
            .map_err(|e| engine_error(e, p.max_tokens, prompt_field))?;
        st.metrics.count(&g);
        gens.push(g);
    }
    Ok(gens)
}

pub(crate) async fn generate_reply(
    st: &AppState,
    prompts: Vec<Prompt>,
    p: &Params,
    id: String,
    endpoint: Endpoint,
    received_ns: u64,
) -> Result<Response, ApiError> {
    let is_chat = endpoint == Endpoint::Chat;
    let prompt_field = if is_chat { "messages" } else { "prompt" };
    let model = st.cfg.model_name.clone();
    let created = created();
    if !p.stream {
        let gens = generate_all(st, prompts, p, prompt_field).await?;
        let choices: Vec<Value> = gens
            .iter()
            .enumerate()
            .map(|(index, g)| {
                let finish = finish_str(g.finish);
                let lp = p.logprobs.map(|k| {
                    if is_chat {
                        logprobs::chat(g, usize::from(k))
                    } else {
                        logprobs::completions(&logprobs::of_generation(g), usize::from(k))
                    }
                });
                if is_chat {
                    json!({"index": index, "message": {"role": "assistant", "content": g.text}, "finish_reason": finish, "logprobs": lp})
                } else {
                    json!({"index": index, "text": g.text, "finish_reason": finish, "logprobs": lp})
                }
            })
            .collect();
        let object = if is_chat {
            "chat.completion"
        } else {
            "text_completion"
        };
        return Ok(Json(
            json!({"id": id, "object": object, "created": created, "model": model,
                              "choices": choices, "usage": usage_of(&gens)}),
        )
        .into_response());
    }

    let running = submit_all(st, prompts, p, true)?;
    // Streamed. Each prompt's first event is awaited before the answer starts, so that
    // a prompt the engine refuses (too long for the context) is an error answer with
    // its status, not a stream that breaks off.
    let mut begun = Vec::with_capacity(running.len());
    for mut r in running {
        begun.push(match r.pieces.recv().await {
            Some(first) => Begun::Text {
                first,
                pieces: r.pieces,
                reply: r.reply,
            },
            // The engine ended the request before any text: refused, or nothing to say.
            None => Begun::Ended(
                answer(&st.metrics, r.reply)
                    .await
                    .map_err(|e| engine_error(e, p.max_tokens, prompt_field))?,
            ),
        });
    }
    let object = if is_chat {
        "chat.completion.chunk"
    } else {
        "text_completion"
    };
    let chunk = move |index: usize, text: Option<&str>, first: bool, finish: Option<&str>| {
        let choice = if is_chat {
            let delta = match (text, first) {
                (Some(t), true) => json!({"role": "assistant", "content": t}),
                (Some(t), false) => json!({"content": t}),
                (None, _) => json!({}),
            };
            json!({"index": index, "delta": delta, "finish_reason": finish})
        } else {
            json!({"index": index, "text": text.unwrap_or(""), "finish_reason": finish, "logprobs": null})
        };
        let mut c = json!({"id": id, "object": object, "created": created, "model": model, "choices": [choice]});
        if text.is_some() {
            // The server's own clock: how long after the request arrived this piece left,
            // so that a client can check its TTFT against the server's.
            c["server_timing"] = json!({"since_request_ns": now_ns().saturating_sub(received_ns)});
        }
        c
    };
    let (event_tx, event_rx) = mpsc_async::unbounded_channel::<String>();
    let max_tokens = p.max_tokens;
    let tasks: Vec<_> = begun
        .into_iter()
        .enumerate()
        .map(|(index, b)| {
            let (tx, chunk, metrics) = (event_tx.clone(), chunk.clone(), st.metrics.clone());
            tokio::spawn(async move {
                let g = match b {
                    Begun::Ended(g) => Ok(g),
                    Begun::Text {
                        first,
                        mut pieces,
                        reply,
                    } => {
                        // A client that went away stops the sending, not the generation.
                        let mut open = tx
                            .send(chunk(index, Some(&first), true, None).to_string())
                            .is_ok();
                        while let Some(piece) = pieces.recv().await {
                            if open {
                                open = tx
                                    .send(chunk(index, Some(&piece), false, None).to_string())
                                    .is_ok();
                            }
                        }
                        answer(&metrics, reply).await
                    }
                };
                let (last, g) = match g {
                    Ok(g) => (
                        chunk(index, None, false, Some(finish_str(g.finish))),
                        Some(g),
                    ),
                    Err(e) => (engine_error(e, max_tokens, prompt_field).body(), None),
                };
                let _ = tx.send(last.to_string());
                g
            })
        })
        .collect();
    drop(event_tx);
    let metrics = st.metrics.clone();
    let include_usage = p.include_usage;
    let (last_tx, last_rx) = mpsc_async::unbounded_channel::<String>();
    tokio::spawn(async move {
        let mut gens = Vec::with_capacity(tasks.len());
        let mut failed = false;
        for t in tasks {
            match t.await {
                Ok(Some(g)) => {
                    metrics.count(&g);
                    gens.push(g);
                }
                _ => failed = true,
            }
        }
        if failed {
            metrics.errors.fetch_add(1, Ordering::Relaxed);
        } else if include_usage {
            let mut last = chunk(0, None, false, None);
            last["choices"] = json!([]);
            last["usage"] = usage_of(&gens);
            let _ = last_tx.send(last.to_string());
        }
        let _ = last_tx.send("[DONE]".into());
    });
    // The prompts' events as they come, then the usage chunk and [DONE] once all ended.
    let events = tokio_stream::wrappers::UnboundedReceiverStream::new(event_rx)
        .chain(tokio_stream::wrappers::UnboundedReceiverStream::new(
            last_rx,
        ))
        .map(|e| Ok::<_, std::convert::Infallible>(Event::default().data(e)));
    Ok(Sse::new(events).into_response())
}

/// A streamed prompt once its first event came.
enum Begun {
    /// Text is coming: the first piece, the rest, and the final answer.
    Text {
        first: String,
        pieces: mpsc_async::UnboundedReceiver<String>,
        reply: oneshot::Receiver<trilemma_engine::Result<Generation>>,
    },
    /// The generation ended without text.
    Ended(Generation),
}
