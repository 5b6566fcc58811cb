//! Streamed generation over `/v1/completions` and `/v1/chat/completions`: events are
//! stamped as they arrive, which gives TTFT and inter-token gaps as the client sees them.

use serde_json::{json, Value};
use trilemma_core::{now_ns, RequestTiming};

use super::client::{next_chunk, post, snippet, url, Shared};
use crate::sse::{SseEvent, SseParser};
use crate::{cut_at_stop, Error, FinishReason, Generation, Result};

fn map_finish(reason: &str, stop: &[String], stopped_client_side: bool) -> Result<FinishReason> {
    Ok(match reason {
        "length" => FinishReason::Length,
        // OpenAI says `stop` both for a stop sequence and for end-of-sequence.
        "stop" if stopped_client_side || !stop.is_empty() => FinishReason::Stop,
        "stop" | "eos" | "eos_token" => FinishReason::EndOfSequence,
        other => {
            return Err(Error::Transport(format!(
                "unknown finish_reason {other:?} in the stream"
            )))
        }
    })
}

pub(super) async fn stream_generation(
    shared: &Shared,
    path: &str,
    mut body: Value,
    stop: &[String],
    chat: bool,
) -> Result<Generation> {
    if shared.cfg.include_usage {
        body["stream_options"] = json!({"include_usage": true});
    }
    let what = url(shared, path);
    let start_ns = now_ns();
    let mut resp = post(shared, path, &body).await?;
    let mut events = SseParser::new();
    let mut text = String::new();
    let mut token_ns = Vec::new();
    let mut finish: Option<String> = None;
    let mut usage: Option<(u64, u64)> = None;
    let mut done = false;
    'read: while let Some(chunk) = next_chunk(shared, &mut resp, &what).await? {
        let at = now_ns();
        let arrived = events
            .push(&chunk)
            .map_err(|e| Error::Transport(format!("{what}: the stream is not UTF-8 ({e})")))?;
        for event in arrived {
            let data = match event {
                SseEvent::Done => {
                    done = true;
                    break 'read;
                }
                SseEvent::Data(data) => data,
            };
            let v: Value = serde_json::from_str(&data).map_err(|e| {
                Error::Transport(format!(
                    "{what}: malformed stream event ({e}): {}",
                    snippet(data.as_bytes())
                ))
            })?;
            if let Some(err) = v.get("error") {
                return Err(Error::Inference(format!("{what}: server error: {err}")));
            }
            if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
                let p = u.get("prompt_tokens").and_then(Value::as_u64).unwrap_or(0);
                let c = u
                    .get("completion_tokens")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                usage = Some((p, c));
            }
            let Some(choice) = v.pointer("/choices/0") else {
                continue;
            };
            let piece = if chat {
                choice.pointer("/delta/content").and_then(Value::as_str)
            } else {
                choice.get("text").and_then(Value::as_str)
            };
            if let Some(p) = piece.filter(|p| !p.is_empty()) {
                text.push_str(p);
                token_ns.push(at);
            }
            if let Some(f) = choice.get("finish_reason").and_then(Value::as_str) {
                finish = Some(f.to_string());
            }
        }
    }
    let end_ns = now_ns();
    let Some(reason) = finish else {
        return Err(Error::Transport(format!(
            "{what}: the stream ended before a finish_reason{} after {} tokens",
            if done { "" } else { " or [DONE]" },
            token_ns.len()
        )));
    };
    let (cut, stopped) = cut_at_stop(&text, stop);
    let finish = map_finish(&reason, stop, stopped)?;
    let text = cut.to_string();
    let (prompt_tokens, output_tokens) = match usage {
        Some((p, c)) => (p as u32, (c as u32).max(token_ns.len() as u32)),
        None => (0, token_ns.len() as u32),
    };
    Ok(Generation {
        text,
        prompt_tokens,
        output_tokens,
        finish,
        timing: RequestTiming {
            start_ns,
            first_token_ns: token_ns.first().copied(),
            token_ns,
            end_ns,
        },
        token_logprobs: Vec::new(),
        token_texts: Vec::new(),
        top_logprobs: Vec::new(),
        truncated: None,
    })
}
