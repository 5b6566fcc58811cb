//! OpenAI's contract at the server, as vLLM keeps it, over the fake engine (one token per
//! character, so that token counts are known exactly): prompts too long for the context
//! are a 400 in vLLM's words unless `truncate_prompt_tokens` asks for truncation, a
//! `max_tokens` too large is a 400 naming the field, every error answer has OpenAI's
//! shape, and `prompt` may be a list of strings.

mod common;

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use common::{assert_error, get, post_json, raw, start_with, Answer, FakeEngine};
use serde_json::{json, Value};
use trilemma_serve::{ServeConfig, IGNORED_HEADER};

fn fake(context: u32) -> FakeEngine {
    FakeEngine::new(Arc::new(AtomicUsize::new(0)), Duration::ZERO).with_context(context)
}

fn cfg() -> ServeConfig {
    ServeConfig::new("fake-model", 4)
}

const C: &str = "/v1/completions";
const CHAT: &str = "/v1/chat/completions";

#[test]
fn a_prompt_longer_than_the_context_is_a_400_in_vllms_words() {
    let s = start_with(fake(64), cfg());
    let long = "x".repeat(100);
    for stream in [false, true] {
        let a = post_json(s.port, C, &json!({"prompt": long, "stream": stream}));
        let e = assert_error(&a, 400);
        let m = e["message"].as_str().unwrap();
        assert!(
            m.contains("maximum context length is 64 tokens")
                && m.contains("you requested 116 tokens (100 in the prompt, 16 in the completion)"),
            "{m}"
        );
        assert_eq!(e["param"], "prompt");
        assert_eq!(e["code"], "context_length_exceeded");
        assert_eq!(e["type"], "invalid_request_error");
    }
    // A prompt that fits alone but not beside max_tokens names max_tokens.
    let a = post_json(
        s.port,
        C,
        &json!({"prompt": "x".repeat(50), "max_tokens": 20}),
    );
    let e = assert_error(&a, 400);
    assert_eq!(e["param"], "max_tokens", "{e}");
    assert!(e["message"]
        .as_str()
        .unwrap()
        .contains("(50 in the prompt, 20 in the completion)"));
    // Chat: the rendered messages are what must fit.
    let a = post_json(
        s.port,
        CHAT,
        &json!({"messages": [{"role": "user", "content": long}], "max_tokens": 4}),
    );
    let e = assert_error(&a, 400);
    assert_eq!(e["param"], "messages", "{e}");
    assert!(e["message"].as_str().unwrap().contains("in the messages"));
    // What fits is answered.
    let a = post_json(
        s.port,
        C,
        &json!({"prompt": "x".repeat(48), "max_tokens": 16}),
    );
    assert_eq!(a.status, 200, "{}", a.body);
}

#[test]
fn truncate_prompt_tokens_keeps_the_newest_tokens_when_asked() {
    let s = start_with(fake(64), cfg());
    let long = format!("{}{}", "x".repeat(90), "0123456789");
    let a = post_json(
        s.port,
        C,
        &json!({"prompt": long, "max_tokens": 3, "truncate_prompt_tokens": 10}),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let v = a.json();
    assert_eq!(v["usage"]["prompt_tokens"], 10, "{v}");
    // 10 characters: the answer starts at "ab "[10 % 3].
    assert_eq!(v["choices"][0]["text"], "b a");
    // Streamed too.
    let a = post_json(
        s.port,
        C,
        &json!({"prompt": long, "max_tokens": 3, "truncate_prompt_tokens": 10, "stream": true}),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    // Truncated and still too long beside max_tokens: refused, naming max_tokens.
    let a = post_json(
        s.port,
        C,
        &json!({"prompt": long, "max_tokens": 16, "truncate_prompt_tokens": 60}),
    );
    assert_eq!(assert_error(&a, 400)["param"], "max_tokens");
    // Not a count of tokens.
    for bad in [json!(0), json!(-2), json!("10"), json!(1.5)] {
        let a = post_json(
            s.port,
            C,
            &json!({"prompt": "x", "truncate_prompt_tokens": bad}),
        );
        assert_eq!(assert_error(&a, 400)["param"], "truncate_prompt_tokens");
    }
    // Chat honours it as well.
    let a = post_json(
        s.port,
        CHAT,
        &json!({"messages": [{"role": "user", "content": long}], "max_tokens": 2,
                "truncate_prompt_tokens": 20}),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["usage"]["prompt_tokens"], 20);
}

#[test]
fn max_tokens_too_large_is_a_400_naming_the_field() {
    let s = start_with(fake(4096), cfg());
    for (path, body, field) in [
        (
            C,
            json!({"prompt": "hi", "max_tokens": 100_000_000u64}),
            "max_tokens",
        ),
        (
            C,
            json!({"prompt": "hi", "max_tokens": 10_000_000_000u64}),
            "max_tokens",
        ),
        (C, json!({"prompt": "hi", "max_tokens": 4096}), "max_tokens"),
        (C, json!({"prompt": "hi", "max_tokens": -1}), "max_tokens"),
        (
            C,
            json!({"prompt": "hi", "max_tokens": "many"}),
            "max_tokens",
        ),
        (
            CHAT,
            json!({"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 5000}),
            "max_completion_tokens",
        ),
    ] {
        let a = post_json(s.port, path, &body);
        let e = assert_error(&a, 400);
        assert_eq!(e["param"], field, "{body}: {e}");
    }
    let e = assert_error(
        &post_json(
            s.port,
            C,
            &json!({"prompt": "hi", "max_tokens": 100_000_000u64}),
        ),
        400,
    );
    let m = e["message"].as_str().unwrap();
    assert!(
        m.contains("'max_tokens' is too large: 100000000") && m.contains("4096"),
        "{m}"
    );
    assert_eq!(e["code"], "context_length_exceeded");
    // The largest that can fit beside a prompt is answered.
    let a = post_json(s.port, C, &json!({"prompt": "hi", "max_tokens": 4094}));
    assert_eq!(a.status, 200, "{}", a.body);
}

#[test]
fn every_error_answer_has_openais_shape() {
    let mut c = cfg();
    c.api_key = Some("sesame".into());
    let s = start_with(fake(4096), c);
    let auth = "Authorization: Bearer sesame\r\n";
    let send = |method: &str, path: &str, headers: &str, body: &str| {
        Answer::parse(&raw(
            s.port,
            &format!(
                "{method} {path} HTTP/1.1\r\nHost: x\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        ))
    };
    // 401: no key, a wrong key.
    let e = assert_error(&send("POST", C, "", r#"{"prompt":"x"}"#), 401);
    assert_eq!(e["code"], "invalid_api_key");
    let wrong = "Authorization: Bearer nope\r\n";
    assert_error(&send("POST", C, wrong, r#"{"prompt":"x"}"#), 401);
    assert_error(&send("GET", "/v1/models", "", ""), 401);
    // /health stays open; the right key is answered.
    assert!(get(s.port, "/health").ends_with("ok"));
    assert_eq!(
        send("POST", C, auth, r#"{"prompt":"x","max_tokens":2}"#).status,
        200
    );
    // 400: a body that is not JSON, or not an object (axum's own rejections otherwise).
    let e = assert_error(&send("POST", C, auth, r#"{"prompt": "x""#), 400);
    assert_eq!(e["code"], "invalid_json");
    assert!(
        e["message"].as_str().unwrap().contains("not valid JSON"),
        "{e}"
    );
    assert_error(&send("POST", CHAT, auth, "[1, 2]"), 400);
    assert_error(&send("POST", C, auth, ""), 400);
    // A body sent without a JSON content type is still read as JSON.
    let plain = r#"{"prompt":"x","max_tokens":2}"#;
    let a = Answer::parse(&raw(
        s.port,
        &format!(
            "POST {C} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{plain}",
            plain.len()
        ),
    ));
    assert_eq!(a.status, 200, "{}", a.body);
    // 404: an unknown route, an unknown model.
    let e = assert_error(&send("POST", "/v1/nothing", auth, "{}"), 404);
    assert_eq!(e["message"], "Invalid URL (POST /v1/nothing)");
    assert_error(&send("GET", "/nothing", "", ""), 404);
    let e = assert_error(
        &send("POST", C, auth, r#"{"model":"gpt-9","prompt":"x"}"#),
        404,
    );
    assert_eq!(
        (e["param"].as_str(), e["code"].as_str()),
        (Some("model"), Some("model_not_found"))
    );
    // 405: a known route with the wrong method.
    assert_error(&send("GET", C, auth, ""), 405);
    assert_error(&send("DELETE", "/v1/models", auth, ""), 405);
    // 413: a body over the limit (2 MiB), refused on its Content-Length before it is read.
    // Only the headers are sent: a body the server never reads would make its close a
    // reset, which can drop the answer before the client reads it.
    let big = Answer::parse(&raw(
        s.port,
        &format!(
            "POST {C} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            3 << 20
        ),
    ));
    let e = assert_error(&big, 413);
    assert_eq!(e["code"], "request_too_large");
    // 500: the engine fails a request, streamed or not.
    let e = assert_error(&send("POST", C, auth, r#"{"prompt":"FAIL"}"#), 500);
    assert_eq!(e["type"], "server_error");
    let a = send("POST", C, auth, r#"{"prompt":"FAIL","stream":true}"#);
    assert_error(&a, 500);
    // Refused values name their field.
    for (body, field) in [
        (json!({"prompt": "x", "temperature": 2.5}), "temperature"),
        (json!({"prompt": "x", "n": 0}), "n"),
        (json!({"prompt": "x", "best_of": 3}), "best_of"),
        (json!({"prompt": "x", "suffix": "y"}), "suffix"),
        (json!({"prompt": "x", "logprobs": 21}), "logprobs"),
        (
            json!({"prompt": "x", "presence_penalty": 3}),
            "presence_penalty",
        ),
        (
            json!({"prompt": "x", "logit_bias": {"50256": -100}}),
            "logit_bias",
        ),
        (json!({"prompt": "x", "stop": 3}), "stop"),
        (
            json!({"prompt": "x", "stream_options": {"include_usage": true}}),
            "stream_options",
        ),
        (json!({"prompt": [1, -2, 3]}), "prompt"),
        (json!({"prompt": [[1, 2], []]}), "prompt"),
        (json!({"prompt": [1, "x"]}), "prompt"),
        (json!({"prompt": []}), "prompt"),
        (json!({"max_tokens": 2}), "prompt"),
        (
            json!({"prompt": "x", "echo": true, "stream": true}),
            "stream",
        ),
        (
            json!({"messages": [{"role": "user", "content": "x"}], "tools": []}),
            "tools",
        ),
        (
            json!({"messages": [{"role": "user", "content": "x"}], "logprobs": true, "top_logprobs": 21}),
            "top_logprobs",
        ),
        (
            json!({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2}),
            "top_logprobs",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}),
            "messages[0].content",
        ),
        (json!({"messages": "hi"}), "messages"),
    ] {
        let path = if body.get("messages").is_some() {
            CHAT
        } else {
            C
        };
        let e = assert_error(&send("POST", path, auth, &body.to_string()), 400);
        assert_eq!(e["param"], field, "{body}: {e}");
    }
}

#[test]
fn the_engine_stopping_is_a_503() {
    let s = start_with(fake(4096), cfg());
    // The engine's thread panics: the request in flight, and every one after it, is
    // told that the engine has stopped.
    for prompt in ["PANIC", "x"] {
        let e = assert_error(&post_json(s.port, C, &json!({"prompt": prompt})), 503);
        assert_eq!(e["type"], "server_error");
        assert_eq!(e["code"], "engine_unavailable");
        assert!(e["message"].as_str().unwrap().contains("stopped"), "{e}");
    }
    assert!(get(s.port, "/metrics").contains("trilemma_engine_stopped 1"));
}

#[test]
fn a_full_queue_is_a_429() {
    let mut c = ServeConfig::new("fake-model", 1);
    c.max_waiting = Some(1);
    let slow = FakeEngine::new(Arc::new(AtomicUsize::new(0)), Duration::from_millis(1500));
    let s = start_with(slow, c);
    let port = s.port;
    let metric = |name: &str| -> u64 {
        get(port, "/metrics")
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let wait_for = |name: &str, v: u64| {
        for _ in 0..500 {
            if metric(name) == v {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("{name} never reached {v}");
    };
    let body = json!({"prompt": "x", "max_tokens": 2});
    // One request runs, one waits: the next is refused until one ends.
    let first = std::thread::spawn(move || {
        post_json(port, C, &json!({"prompt": "x", "max_tokens": 2})).status
    });
    wait_for("trilemma_running_sequences", 1);
    let second = std::thread::spawn(move || {
        post_json(port, C, &json!({"prompt": "y", "max_tokens": 2})).status
    });
    wait_for("trilemma_queue_depth", 1);
    let e = assert_error(&post_json(port, C, &body), 429);
    assert_eq!(e["code"], "rate_limit_exceeded");
    assert_eq!(first.join().unwrap(), 200);
    assert_eq!(second.join().unwrap(), 200);
    assert_eq!(post_json(port, C, &body).status, 200);
}

#[test]
fn a_list_of_prompts_is_one_choice_each_in_order() {
    let s = start_with(fake(4096), cfg());
    let prompts = ["a", "bb", "ccc", "dddd"];
    let one = |p: &str| -> Value {
        let a = post_json(s.port, C, &json!({"prompt": p, "max_tokens": 5}));
        assert_eq!(a.status, 200, "{}", a.body);
        a.json()["choices"][0].clone()
    };
    let a = post_json(s.port, C, &json!({"prompt": prompts, "max_tokens": 5}));
    assert_eq!(a.status, 200, "{}", a.body);
    let v = a.json();
    let choices = v["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 4);
    for (i, (c, p)) in choices.iter().zip(prompts).enumerate() {
        assert_eq!(c["index"], i);
        assert_eq!(c["text"], one(p)["text"], "prompt {p:?}");
    }
    // Prompts of 1, 2, 3 characters answer differently here: the order is the prompts'.
    assert_eq!(choices[0]["text"], "b ab ");
    assert_eq!(choices[1]["text"], " ab a");
    assert_eq!(v["usage"]["prompt_tokens"], 1 + 2 + 3 + 4);
    assert_eq!(v["usage"]["completion_tokens"], 4 * 5);

    // Echo + logprobs per prompt: each choice is its own prompt's, as when sent alone.
    let echo = |p: Value| -> Value {
        let a = post_json(
            s.port,
            C,
            &json!({"prompt": p, "echo": true, "logprobs": 1, "max_tokens": 0}),
        );
        assert_eq!(a.status, 200, "{}", a.body);
        a.json()
    };
    let both = echo(json!(["Paris is", "Berlin"]));
    for (i, p) in ["Paris is", "Berlin"].iter().enumerate() {
        let alone = echo(json!(p));
        let c = &both["choices"][i];
        assert_eq!(c["index"], i);
        assert_eq!(c["text"], *p);
        assert_eq!(c["logprobs"], alone["choices"][0]["logprobs"], "{p}");
    }
    assert_eq!(both["usage"]["prompt_tokens"], 8 + 6);

    // Streamed: each event names its prompt's index; the pieces of each index make that
    // prompt's text; each index ends once; usage when asked; [DONE] last.
    let a = post_json(
        s.port,
        C,
        &json!({"prompt": prompts, "max_tokens": 5, "stream": true,
                "stream_options": {"include_usage": true}}),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let events = a.events();
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let mut texts = vec![String::new(); 4];
    let mut finished = [0; 4];
    let mut usage = None;
    for e in &events[..events.len() - 1] {
        let v: Value = serde_json::from_str(e).unwrap();
        if let Some(u) = v.get("usage") {
            usage = Some(u.clone());
            continue;
        }
        let c = &v["choices"][0];
        let i = c["index"].as_u64().unwrap() as usize;
        texts[i].push_str(c["text"].as_str().unwrap());
        if !c["finish_reason"].is_null() {
            finished[i] += 1;
        }
    }
    for (i, c) in choices.iter().enumerate() {
        assert_eq!(texts[i], c["text"].as_str().unwrap(), "index {i}");
    }
    assert_eq!(finished, [1; 4]);
    assert_eq!(usage.expect("a usage chunk")["completion_tokens"], 20);
    // Without include_usage no usage chunk is sent, as OpenAI does.
    let a = post_json(
        s.port,
        C,
        &json!({"prompt": "x", "max_tokens": 2, "stream": true}),
    );
    assert!(!a.body.contains("\"usage\""), "{}", a.body);
}

#[test]
fn fields_that_are_ignored_are_named_in_a_header() {
    let s = start_with(fake(4096), cfg());
    let a = post_json(
        s.port,
        C,
        &json!({"prompt": "x", "max_tokens": 2, "seed": 7, "user": "u", "top_p": 0.9,
                "frobnicate": true, "temperature": 0, "n": 1}),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let h = a.header(IGNORED_HEADER).expect("the ignored-fields header");
    let mut named: Vec<&str> = h.split(", ").collect();
    named.sort_unstable();
    assert_eq!(named, ["frobnicate", "user"]);
    // Nothing ignored: no header.
    let a = post_json(
        s.port,
        C,
        &json!({"prompt": "x", "max_tokens": 2, "temperature": 0}),
    );
    assert_eq!(a.header(IGNORED_HEADER), None);
    // Echo with max_tokens: the prompt, then what is generated after it (nothing ignored).
    let a = post_json(
        s.port,
        C,
        &json!({"prompt": "xy", "echo": true, "logprobs": 1, "max_tokens": 1}),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.header(IGNORED_HEADER), None);
    // Chat content given as text parts is joined.
    let a = post_json(
        s.port,
        CHAT,
        &json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "h"}, {"type": "text", "text": "i"}]}],
                "max_tokens": 4}),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["choices"][0]["message"]["content"], "b ab");
}

#[test]
fn generated_tokens_come_with_their_logprobs_when_asked() {
    let s = start_with(fake(4096), cfg());
    // The fake engine answers "ab ab..." after a 1-character prompt, one token per character.
    let a = post_json(
        s.port,
        C,
        &json!({"prompt": "a", "max_tokens": 4, "logprobs": 1}),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let v = a.json();
    let lp = &v["choices"][0]["logprobs"];
    let text = v["choices"][0]["text"].as_str().unwrap();
    let tokens: Vec<&str> = lp["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(tokens.concat(), text);
    let lps = lp["token_logprobs"].as_array().unwrap();
    for (t, l) in tokens.iter().zip(lps) {
        let want = common::char_lp(t.chars().next().unwrap());
        assert!((l.as_f64().unwrap() - want).abs() < 1e-6, "{t:?}: {l}");
    }
    assert_eq!(lp["text_offset"], json!([0, 1, 2, 3]));
    assert_eq!(lp["top_logprobs"][1], json!({tokens[1]: lps[1]}));
    // Two alternatives: the chosen (most likely) token and the fake's next one.
    let two = post_json(
        s.port,
        C,
        &json!({"prompt": "a", "max_tokens": 2, "logprobs": 2}),
    );
    assert_eq!(two.status, 200, "{}", two.body);
    let two = two.json();
    let top = &two["choices"][0]["logprobs"]["top_logprobs"];
    let chosen = &two["choices"][0]["logprobs"]["token_logprobs"][0];
    assert_eq!(top[0], json!({"b": chosen, "~": -5.0}));
    // Not asked: null, as before.
    let plain = post_json(s.port, C, &json!({"prompt": "a", "max_tokens": 4})).json();
    assert!(plain["choices"][0]["logprobs"].is_null());
    // Chat: `content` entries.
    let a = post_json(
        s.port,
        CHAT,
        &json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 3, "logprobs": true}),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let content = a.json()["choices"][0]["logprobs"]["content"].clone();
    assert_eq!(content.as_array().unwrap().len(), 3, "{content}");
    assert_eq!(content[0]["top_logprobs"], json!([]));
    let a = post_json(
        s.port,
        CHAT,
        &json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 3, "logprobs": true, "top_logprobs": 2}),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let content = a.json()["choices"][0]["logprobs"]["content"].clone();
    let first = &content[0];
    assert_eq!(
        first["top_logprobs"].as_array().unwrap().len(),
        2,
        "{first}"
    );
    assert_eq!(first["top_logprobs"][0]["token"], first["token"]);
    assert_eq!(first["top_logprobs"][1]["token"], "~");
    // More alternatives than vLLM allows (20), or with stream: refused, naming the field.
    for body in [
        json!({"prompt": "a", "logprobs": 21}),
        json!({"prompt": "a", "logprobs": 1, "stream": true}),
        json!({"messages": [{"role": "user", "content": "hi"}], "logprobs": true, "top_logprobs": 25}),
    ] {
        let path = if body.get("messages").is_some() {
            CHAT
        } else {
            C
        };
        let e = assert_error(&post_json(s.port, path, &body), 400);
        assert!(
            e["param"] == "logprobs" || e["param"] == "top_logprobs",
            "{e}"
        );
    }
}

#[test]
fn echo_gives_the_k_most_likely_tokens_at_every_position_and_takes_token_ids() {
    let s = start_with(fake(4096), cfg());
    let echo = |body: Value| -> Value {
        let a = post_json(s.port, C, &body);
        assert_eq!(a.status, 200, "{}", a.body);
        a.json()
    };
    let v = echo(json!({"prompt": "xay", "echo": true, "logprobs": 2, "max_tokens": 0}));
    let lp = &v["choices"][0]["logprobs"];
    assert_eq!(lp["tokens"], json!(["x", "a", "y"]));
    assert_eq!(lp["top_logprobs"][0], Value::Null);
    // 'a' was not the most likely ('z' was): the two best, the chosen among them.
    assert_eq!(
        lp["top_logprobs"][1],
        json!({"z": -0.05, "a": common::char_lp('a')})
    );
    assert_eq!(
        lp["top_logprobs"][2],
        json!({"y": common::char_lp('y'), "~": -5.0})
    );
    // The same prompt as token ids (the fake's id is the character's code) scores the same.
    let ids = echo(json!({"prompt": [120, 97, 121], "echo": true, "logprobs": 2, "max_tokens": 0}));
    assert_eq!(ids["choices"][0]["logprobs"], *lp);
    assert_eq!(ids["choices"][0]["text"], "xay");
    let two =
        echo(json!({"prompt": [[120, 97], [121]], "echo": true, "logprobs": 0, "max_tokens": 0}));
    assert_eq!(two["choices"][0]["text"], "xa");
    assert_eq!(two["choices"][1]["text"], "y");
    assert_eq!(
        two["choices"][0]["logprobs"]["top_logprobs"][1],
        json!({"a": common::char_lp('a')})
    );
    // max_tokens 1 (lm-evaluation-harness's request): the prompt, then one generated token.
    let v = echo(json!({"prompt": "xay", "echo": true, "logprobs": 1, "max_tokens": 1}));
    let c = &v["choices"][0];
    assert_eq!(c["text"], "xaya");
    assert_eq!(c["logprobs"]["tokens"], json!(["x", "a", "y", "a"]));
    assert_eq!(c["logprobs"]["text_offset"], json!([0, 1, 2, 3]));
    let last = c["logprobs"]["token_logprobs"][3].as_f64().unwrap();
    assert!((last - common::char_lp('a')).abs() < 1e-6, "{last}");
    assert_eq!(v["usage"]["prompt_tokens"], 3);
    assert_eq!(v["usage"]["completion_tokens"], 1);
}
