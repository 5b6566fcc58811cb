//! A generation's answer: one JSON body, or server-sent events piece by piece as the
//! engine produces them, each stamped with the server's time since the request arrived.

use std::sync::atomic::Ordering;

use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tokio::sync::mpsc as mpsc_async;
use tokio::sync::oneshot;
use tokio_stream::StreamExt;
use trilemma_core::now_ns;
use trilemma_engine::{ChatMessage, GenerationRequest};

use crate::openai::{bad, finish_str, usage};
use crate::routes::{submit, AppState};
use crate::scheduler::Job;

pub(crate) async fn generate_reply(
    st: &AppState,
    req: GenerationRequest,
    chat: Option<Vec<ChatMessage>>,
    stream: bool,
    id: String,
    is_chat: bool,
    received_ns: u64,
) -> Response {
    let model = st.cfg.model_name.clone();
    let object = match (is_chat, stream) {
        (true, false) => "chat.completion",
        (true, true) => "chat.completion.chunk",
        (false, _) => "text_completion",
    };
    if !stream {
        let g = match submit(st, |reply| Job::Generate {
            req,
            chat,
            stream: None,
            reply,
        })
        .await
        {
            Ok(g) => g,
            Err(r) => return r.into_response(),
        };
        st.metrics.count(&g);
        let finish = finish_str(g.finish);
        let choice = if is_chat {
            json!({"index": 0, "message": {"role": "assistant", "content": g.text}, "finish_reason": finish})
        } else {
            json!({"index": 0, "text": g.text, "finish_reason": finish})
        };
        return Json(json!({"id": id, "object": object, "model": model, "choices": [choice], "usage": usage(&g)}))
            .into_response();
    }

    // Streamed: each piece is sent as the engine produces it.
    let (piece_tx, mut piece_rx) = mpsc_async::unbounded_channel::<String>();
    let (reply_tx, reply_rx) = oneshot::channel();
    st.metrics.queue_depth.fetch_add(1, Ordering::Relaxed);
    let job = Job::Generate {
        req,
        chat,
        stream: Some(piece_tx),
        reply: reply_tx,
    };
    if st.jobs.send(job).is_err() {
        st.metrics.queue_depth.fetch_sub(1, Ordering::Relaxed);
        return bad(StatusCode::SERVICE_UNAVAILABLE, "the engine has stopped");
    }
    let chunk = move |text: Option<&str>, finish: Option<&str>| {
        let choice = if is_chat {
            json!({"index": 0, "delta": text.map(|t| json!({"content": t})).unwrap_or(json!({})), "finish_reason": finish})
        } else {
            json!({"index": 0, "text": text.unwrap_or(""), "finish_reason": finish})
        };
        let mut c = json!({"id": id, "object": object, "model": model, "choices": [choice]});
        if text.is_some() {
            // The server's own clock: how long after the request arrived this piece left,
            // so that a client can check its TTFT against the server's.
            c["server_timing"] = json!({"since_request_ns": now_ns().saturating_sub(received_ns)});
        }
        c
    };
    let (event_tx, event_rx) = mpsc_async::unbounded_channel::<String>();
    let metrics = st.metrics.clone();
    tokio::spawn(async move {
        while let Some(piece) = piece_rx.recv().await {
            if event_tx
                .send(chunk(Some(&piece), None).to_string())
                .is_err()
            {
                break;
            }
        }
        match reply_rx.await {
            Ok(Ok(g)) => {
                metrics.count(&g);
                let finish = finish_str(g.finish);
                let mut last = chunk(None, Some(finish));
                let _ = event_tx.send(last.to_string());
                last["choices"] = json!([]);
                last["usage"] = usage(&g);
                let _ = event_tx.send(last.to_string());
            }
            Ok(Err(e)) => {
                metrics.errors.fetch_add(1, Ordering::Relaxed);
                let _ = event_tx
                    .send(json!({"error": {"message": e, "type": "engine_error"}}).to_string());
            }
            Err(_) => {
                let _ = event_tx.send(
                    json!({"error": {"message": "the engine dropped the request", "type": "engine_error"}})
                        .to_string(),
                );
            }
        }
        let _ = event_tx.send("[DONE]".into());
    });
    let events = tokio_stream::wrappers::UnboundedReceiverStream::new(event_rx)
        .map(|e| Ok::<_, std::convert::Infallible>(Event::default().data(e)));
    Sse::new(events).into_response()
}
