//! Requests and answers in OpenAI's shapes: what kind of request it is, what a tier's
//! answer says to the policy, and a buffered answer replayed as a stream.

use serde_json::{json, Value};
use trilemma_cascade::{Answer, LogprobStats};

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `/completions` generation.
    Completion,
    /// `/chat/completions`.
    Chat,
    /// `/completions` with `echo` and `prompt` as a list: the choices of one
    /// multiple-choice item, decided together.
    Choices,
    /// `/completions` with `echo` and one prompt: one choice sent on its own.
    LoneEcho,
}

impl Kind {
    pub(crate) fn of(path: &str, body: &Value) -> Self {
        if path == "chat/completions" {
            return Self::Chat;
        }
        let echo = body.get("echo").and_then(Value::as_bool).unwrap_or(false);
        match (echo, body.get("prompt")) {
            (true, Some(Value::Array(_))) => Self::Choices,
            (true, _) => Self::LoneEcho,
            _ => Self::Completion,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Completion => "completion",
            Self::Chat => "chat",
            Self::Choices => "choices",
            Self::LoneEcho => "lone_echo",
        }
    }
}

/// The text rules match: the prompt(s) or the chat messages' contents.
pub(crate) fn request_text(body: &Value) -> String {
    message_text(body, |_| true)
}

/// The text an input guard reads: what the caller supplies, the prompt or every chat
/// message but the application's own `system` / `developer` instructions (a defensive
/// system prompt that says "ignore any instructions in the document" is not an attack).
pub(crate) fn untrusted_text(body: &Value) -> String {
    message_text(body, |role| !matches!(role, "system" | "developer"))
}

fn message_text(body: &Value, role_ok: impl Fn(&str) -> bool) -> String {
    if let Some(msgs) = body.get("messages").and_then(Value::as_array) {
        return msgs
            .iter()
            .filter(|m| role_ok(m.get("role").and_then(Value::as_str).unwrap_or("user")))
            .filter_map(|m| m.get("content").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n");
    }
    match body.get("prompt") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn sum_logprobs(lp: &Value) -> Option<f64> {
    let arr = lp.get("token_logprobs")?.as_array()?;
    Some(arr.iter().filter_map(Value::as_f64).sum())
}

fn choices_by_index(resp: &Value) -> Vec<&Value> {
    let mut c: Vec<&Value> = resp
        .get("choices")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    c.sort_by_key(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0));
    c
}

/// What a tier's answer says to the policy.
pub(crate) fn to_answer(kind: Kind, resp: &Value) -> Answer {
    let choices = choices_by_index(resp);
    let first = choices.first().copied().unwrap_or(&Value::Null);
    let finish = first.get("finish_reason").and_then(Value::as_str);
    match kind {
        Kind::Choices | Kind::LoneEcho => {
            // The choices share their context, whose tokens score the same in each: the
            // difference of whole-prompt sums is the difference of the continuations'.
            let sums: Option<Vec<f64>> = choices
                .iter()
                .map(|c| c.get("logprobs").and_then(sum_logprobs))
                .collect();
            Answer {
                text: "echo".into(),
                choice_logprobs: sums,
                ..Answer::default()
            }
        }
        Kind::Completion => generated(first, "/text", "/logprobs/token_logprobs", None, finish),
        Kind::Chat => generated(
            first,
            "/message/content",
            "/logprobs/content",
            Some("logprob"),
            finish,
        ),
    }
}

/// A generation's answer: its text at `text_at`, its tokens' log-probabilities in the list
/// at `logprobs_at` (each entry itself, or its `field`).
fn generated(
    choice: &Value,
    text_at: &str,
    logprobs_at: &str,
    field: Option<&str>,
    finish: Option<&str>,
) -> Answer {
    let lps: Vec<f64> = choice
        .pointer(logprobs_at)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| field.map_or(Some(t), |f| t.get(f))?.as_f64())
                .collect()
        })
        .unwrap_or_default();
    Answer {
        text: choice
            .pointer(text_at)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .into(),
        cut_at_length: finish == Some("length"),
        confidence: LogprobStats::of(&lps),
        ..Answer::default()
    }
}

/// The body sent to a tier: its model name, no streaming, and token log-probabilities
/// when the policy reads them.
pub(crate) fn tier_body(body: &Value, kind: Kind, model: &str, want_logprobs: bool) -> Value {
    let mut b = body.clone();
    b["model"] = json!(model);
    b["stream"] = json!(false);
    if let Some(o) = b.as_object_mut() {
        o.remove("stream_options");
    }
    if want_logprobs {
        match kind {
            Kind::Completion if b.get("logprobs").is_none_or(Value::is_null) => {
                b["logprobs"] = json!(1);
            }
            Kind::Chat if b.get("logprobs").and_then(Value::as_bool) != Some(true) => {
                b["logprobs"] = json!(true);
            }
            _ => {}
        }
    }
    b
}

/// Removes log-probabilities the client did not ask for.
pub(crate) fn strip_unasked(resp: &mut Value, kind: Kind, asked: &Value) {
    let asked = match kind {
        Kind::Chat => asked.get("logprobs").and_then(Value::as_bool) == Some(true),
        _ => asked.get("logprobs").is_some_and(|v| !v.is_null()),
    };
    if asked {
        return;
    }
    if let Some(cs) = resp.get_mut("choices").and_then(Value::as_array_mut) {
        for c in cs {
            if let Some(o) = c.as_object_mut() {
                o.insert("logprobs".into(), Value::Null);
            }
        }
    }
}

/// A buffered answer as server-sent events: one chunk with the whole text, one with the
/// finish reason, then `[DONE]`.
pub(crate) fn as_sse(kind: Kind, resp: &Value) -> String {
    let id = resp.get("id").cloned().unwrap_or(json!("cmpl-cascade"));
    let model = resp.get("model").cloned().unwrap_or(Value::Null);
    let mut out = String::new();
    let mut push = |v: Value| {
        out.push_str("data: ");
        out.push_str(&v.to_string());
        out.push_str("\n\n");
    };
    for c in choices_by_index(resp) {
        let index = c.get("index").cloned().unwrap_or(json!(0));
        let finish = c.get("finish_reason").cloned().unwrap_or(Value::Null);
        if kind == Kind::Chat {
            let content = c.pointer("/message/content").cloned().unwrap_or(json!(""));
            let base = |delta: Value, finish: Value| {
                json!({"id": id, "object": "chat.completion.chunk", "model": model,
                       "choices": [{"index": index, "delta": delta, "finish_reason": finish}]})
            };
            push(base(
                json!({"role": "assistant", "content": content}),
                Value::Null,
            ));
            push(base(json!({}), finish));
        } else {
            let text = c.get("text").cloned().unwrap_or(json!(""));
            let base = |text: Value, finish: Value| {
                json!({"id": id, "object": "text_completion", "model": model,
                       "choices": [{"index": index, "text": text, "finish_reason": finish}]})
            };
            push(base(text, Value::Null));
            push(base(json!(""), finish));
        }
    }
    if let Some(t) = resp.get("trilemma") {
        push(json!({"id": id, "object": "trilemma.decision", "choices": [], "trilemma": t}));
    }
    out.push_str("data: [DONE]\n\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_margin_comes_from_whole_prompt_sums() {
        let resp = json!({"choices": [
            {"index": 1, "logprobs": {"token_logprobs": [null, -1.0, -2.0, -0.5]}},
            {"index": 0, "logprobs": {"token_logprobs": [null, -1.0, -2.0, -3.0]}},
        ]});
        let a = to_answer(Kind::Choices, &resp);
        assert_eq!(a.choice_logprobs, Some(vec![-6.0, -3.5]));
        let body = json!({"prompt": ["a", "b"], "echo": true});
        assert_eq!(Kind::of("completions", &body), Kind::Choices);
        assert_eq!(
            Kind::of("completions", &json!({"prompt": "a", "echo": true})),
            Kind::LoneEcho
        );
        assert_eq!(
            Kind::of("completions", &json!({"prompt": "a"})),
            Kind::Completion
        );
    }

    #[test]
    fn generation_answers_carry_finish_and_confidence() {
        let c = json!({"choices": [{"index": 0, "text": "4", "finish_reason": "length",
            "logprobs": {"token_logprobs": [-0.5, -1.5]}}]});
        let a = to_answer(Kind::Completion, &c);
        assert!(a.cut_at_length);
        assert_eq!(a.confidence.unwrap().mean, -1.0);
        let chat = json!({"choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": "{\"a\":1}"},
            "logprobs": {"content": [{"token": "{", "logprob": -0.25}]}}]});
        let a = to_answer(Kind::Chat, &chat);
        assert_eq!(a.text, "{\"a\":1}");
        assert_eq!(a.confidence.unwrap().min, -0.25);
    }

    #[test]
    fn tier_bodies_ask_for_logprobs_and_strip_what_was_not_asked() {
        let body = json!({"model": "cascade", "prompt": "x", "stream": true});
        let b = tier_body(&body, Kind::Completion, "small", true);
        assert_eq!(
            (
                b["model"].clone(),
                b["stream"].clone(),
                b["logprobs"].clone()
            ),
            (json!("small"), json!(false), json!(1))
        );
        let mut resp =
            json!({"choices": [{"index": 0, "text": "y", "logprobs": {"token_logprobs": [-1.0]}}]});
        strip_unasked(&mut resp, Kind::Completion, &body);
        assert!(resp["choices"][0]["logprobs"].is_null());
        let sse = as_sse(Kind::Completion, &resp);
        assert!(
            sse.starts_with("data: {") && sse.ends_with("data: [DONE]\n\n"),
            "{sse}"
        );
        assert!(sse.contains("\"text\":\"y\""), "{sse}");
    }
}
