//! The gateway's routes and the decision loop of one request.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use trilemma_cascade::{Action, RequestView, Signal, Step, StreamMode};

use crate::answer::{
    as_sse, request_text, strip_unasked, tier_body, to_answer, untrusted_text, Kind,
};
use crate::audit::{host_of, AuditLine};
use crate::metrics::Outcome;
use crate::trace::{Call, Trace};
use crate::upstream::{call, CallError};
use crate::{Endpoint, Gateway, Result};
use trilemma_guard::KeyId;

/// An error in OpenAI's shape.
fn error(status: StatusCode, message: impl Into<String>, param: Option<&str>) -> Response {
    let kind = match status.as_u16() {
        400 | 413 | 422 => "invalid_request_error",
        401 => "authentication_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        _ => "server_error",
    };
    (
        status,
        Json(
            json!({"error": {"message": message.into(), "type": kind, "param": param,
                              "code": status.as_u16().to_string()}}),
        ),
    )
        .into_response()
}

/// Now, in milliseconds since the Unix epoch, for traces and audit lines.
fn unix_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// Who sent a request: the key's id from the guard.
type Who = Option<Extension<KeyId>>;

fn who(k: Who) -> String {
    k.map_or_else(|| KeyId::anonymous().0, |Extension(id)| id.0)
}

/// The gateway's routes behind its guard (keys, limits).
pub fn router(gw: Arc<Gateway>) -> Router {
    let guard = gw.guard.clone();
    let routes = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/metrics",
            get(|State(gw): State<Arc<Gateway>>| async move { gw.metrics.render() }),
        )
        .route("/v1/models", get(models))
        .route(
            "/v1/completions",
            post(
                |State(gw): State<Arc<Gateway>>, k: Who, h: HeaderMap, b: Bytes| async move {
                    handle(gw, "completions", who(k), h, b).await
                },
            ),
        )
        .route(
            "/v1/chat/completions",
            post(
                |State(gw): State<Arc<Gateway>>, k: Who, h: HeaderMap, b: Bytes| async move {
                    handle(gw, "chat/completions", who(k), h, b).await
                },
            ),
        )
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such route", None) })
        .with_state(gw);
    trilemma_guard::apply(routes, &guard)
}

/// Serves on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    gw: Arc<Gateway>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let limits = gw.guard.limits().clone();
    trilemma_guard::serve(listener, router(gw), &limits, shutdown)
        .await
        .map_err(|e| crate::Error::Start(e.to_string()))
}

async fn models(State(gw): State<Arc<Gateway>>) -> Json<Value> {
    Json(
        json!({"object": "list", "data": [{"id": gw.served_name, "object": "model", "owned_by": "trilemma",
        "tiers": gw.endpoints.iter().map(|e| e.name.clone()).collect::<Vec<_>>()}]}),
    )
}

fn view<'a>(
    text: &'a str,
    untrusted: &'a str,
    headers: &HeaderMap,
    body: &Value,
) -> RequestView<'a> {
    RequestView {
        text,
        untrusted,
        headers: headers.keys().map(|k| k.as_str().to_string()).collect(),
        metadata: body
            .get("metadata")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default(),
        // Rules fire before any tier has tokenized the prompt: 4 bytes per token, an
        // estimate.
        prompt_tokens: (text.len() as u64).div_ceil(4),
    }
}

fn usage(resp: &Value) -> (u64, u64) {
    let u = |k: &str| {
        resp.pointer(&format!("/usage/{k}"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    (u("prompt_tokens"), u("completion_tokens"))
}

/// The JSON schema a chat request's `response_format` demands, if any (`json_object`:
/// any JSON).
fn response_schema(body: &Value) -> std::result::Result<Option<jsonschema::Validator>, String> {
    let Some(rf) = body.get("response_format") else {
        return Ok(None);
    };
    match rf.get("type").and_then(Value::as_str) {
        Some("json_schema") => {
            let schema = rf
                .pointer("/json_schema/schema")
                .ok_or("response_format.json_schema.schema is missing")?;
            trilemma_cascade::Judge::compile(schema).map(Some)
        }
        Some("json_object") => trilemma_cascade::Judge::compile(&json!({})).map(Some),
        _ => Ok(None),
    }
}

/// Why a request went to a tier, for the audit log: the rule, the plan's first tier, or
/// the tier before it and why that one escalated.
fn reason_for(k: usize, rule: Option<usize>, kind: Kind, prev: Option<&Call>) -> String {
    match (k, prev) {
        (0, _) if rule.is_some() => format!("rule {} of the cascade file", rule.unwrap_or(0)),
        (0, _) if kind == Kind::LoneEcho => "echo tier".into(),
        (0, _) => "first tier of the plan".into(),
        (_, Some(p)) => format!(
            "escalated from {}: {}",
            p.tier,
            p.escalated.as_deref().unwrap_or("error")
        ),
        (_, None) => "fallback".into(),
    }
}

/// An audit line for a call to upstream `ep`.
struct Audited<'a> {
    request: &'a str,
    key_id: &'a str,
    ep: &'a Endpoint,
    reason: String,
    endpoint: &'a str,
    request_bytes: usize,
    prompt: &'a str,
}

impl Audited<'_> {
    fn write(self, gw: &Gateway, call: Option<&Call>) {
        let Some(log) = &gw.audit else { return };
        let (host, loopback) = host_of(&self.ep.base_url);
        let outcome = match call {
            Some(c) if c.error.is_some() => "error",
            Some(c) if c.escalated.is_some() => "escalated",
            _ => "answered",
        };
        log.write(&AuditLine {
            unix_ms: unix_ms(),
            request: self.request.to_string(),
            key_id: self.key_id.to_string(),
            tier: self.ep.name.clone(),
            host,
            loopback,
            reason: self.reason,
            endpoint: self.endpoint.to_string(),
            request_bytes: self.request_bytes,
            prompt_tokens: call.map_or(0, |c| c.prompt_tokens),
            completion_tokens: call.map_or(0, |c| c.completion_tokens),
            outcome,
            error: call.and_then(|c| c.error.clone()),
            prompt: log.prompts.then(|| self.prompt.to_string()),
        });
    }
}

async fn handle(
    gw: Arc<Gateway>,
    path: &'static str,
    key_id: String,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let started = Instant::now();
    let request_id = format!("casc-{}", trilemma_core::now_ns());
    let body: Value = match serde_json::from_slice(&raw) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "the body must be a JSON object",
                None,
            )
        }
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("the body is not JSON: {e}"),
                None,
            )
        }
    };
    let kind = Kind::of(path, &body);
    let schema = match response_schema(&body) {
        Ok(s) => s,
        Err(m) => return error(StatusCode::BAD_REQUEST, m, Some("response_format")),
    };
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let tiers = gw.endpoints.len();
    let last = tiers - 1;
    let text = request_text(&body);
    let untrusted = untrusted_text(&body);
    let fired = gw.rules.route(&view(&text, &untrusted, &headers, &body));
    if let Some(f) = fired.filter(|f| f.action == Action::Refuse) {
        return refuse(&gw, request_id, kind, f.rule, started);
    }
    // The rule that fired and the tier it names.
    let rule = fired.and_then(|f| match f.action {
        Action::Tier(t) => Some((t, f.rule)),
        Action::Refuse => None,
    });
    if stream
        && gw.cascade.gateway.stream == StreamMode::Commit
        && matches!(kind, Kind::Completion | Kind::Chat)
    {
        let first = rule.map(|(t, _)| t).unwrap_or_else(|| {
            gw.plan
                .iter()
                .position(|s| *s != Step::Skip)
                .unwrap_or(last)
        });
        let audited = gw.endpoints[first].upstream.then(|| Audited {
            request: &request_id,
            key_id: &key_id,
            ep: &gw.endpoints[first],
            reason: reason_for(0, rule.map(|(_, r)| r), kind, None),
            endpoint: path,
            request_bytes: raw.len(),
            prompt: &text,
        });
        if let Some(a) = audited {
            a.write(&gw, None);
        }
        return commit_stream(&gw, first, path, &body).await;
    }

    // The tiers to try, in order, each with its threshold (`None`: it answers whatever it
    // says). A rule or a lone echo names one tier; the tiers after it are fallbacks for
    // failures only.
    let steps: Vec<(usize, Option<f64>)> = match (rule, kind) {
        (Some((t, _)), _) => (t..tiers).map(|i| (i, None)).collect(),
        (None, Kind::LoneEcho) => {
            let t = gw
                .cascade
                .gateway
                .echo_tier
                .as_deref()
                .and_then(|n| gw.cascade.tier_index(n))
                .unwrap_or(last);
            (t..tiers).map(|i| (i, None)).collect()
        }
        (None, _) => gw
            .plan
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match *s {
                Step::Skip => None,
                Step::Threshold { threshold } => Some((i, Some(threshold))),
                Step::Answer => Some((i, None)),
            })
            .collect(),
    };
    let want_logprobs = gw.judge.signal != Signal::Margin;
    let mut calls: Vec<Call> = Vec::new();
    let mut answer: Option<(usize, Value)> = None;
    let mut refusal: Option<(u16, Value)> = None;
    for (k, &(i, threshold)) in steps.iter().enumerate() {
        let ep = &gw.endpoints[i];
        let sent = tier_body(&body, kind, &ep.model, want_logprobs);
        let audited = (ep.upstream && gw.audit.is_some()).then(|| Audited {
            request: &request_id,
            key_id: &key_id,
            ep,
            reason: reason_for(k, rule.map(|(_, r)| r), kind, calls.last()),
            endpoint: path,
            request_bytes: serde_json::to_vec(&sent).map_or(0, |b| b.len()),
            prompt: &text,
        });
        let t0 = Instant::now();
        let result = call(&gw.client, ep, path, &sent).await;
        let latency_s = t0.elapsed().as_secs_f64();
        let is_last_try = k + 1 == steps.len();
        match result {
            Err(e) => {
                if let CallError::Refused(s, b) = &e {
                    refusal = Some((*s, b.clone()));
                }
                calls.push(Call {
                    tier: ep.name.clone(),
                    latency_s,
                    prompt_tokens: 0,
                    completion_tokens: 0,
                    score: None,
                    escalated: (!is_last_try).then(|| "error".to_string()),
                    error: Some(e.message()),
                    joules_attributed: None,
                });
                if let Some(a) = audited {
                    a.write(&gw, calls.last());
                }
            }
            Ok(resp) => {
                let (p, c) = usage(&resp);
                let a = to_answer(kind, &resp);
                // A rule's or echo's tier answers whatever it says; so does the last one.
                let threshold = if rule.is_some() || kind == Kind::LoneEcho {
                    None
                } else {
                    threshold
                };
                let decision = gw.judge.decide(&a, threshold, schema.as_ref());
                calls.push(Call {
                    tier: ep.name.clone(),
                    latency_s,
                    prompt_tokens: p,
                    completion_tokens: c,
                    score: gw.judge.score(&a),
                    escalated: decision.as_ref().err().map(|r| r.name().to_string()),
                    error: None,
                    joules_attributed: ep
                        .joules_per_token
                        .as_ref()
                        .map(|(j, _)| j * (p + c) as f64),
                });
                if let Some(a) = audited {
                    a.write(&gw, calls.last());
                }
                if decision.is_ok() {
                    answer = Some((i, resp));
                    break;
                }
            }
        }
    }
    let answered_by = answer.as_ref().map(|(i, _)| gw.endpoints[*i].name.clone());
    let joules: Option<f64> = calls
        .iter()
        .map(|c| {
            c.joules_attributed
                .or(if c.error.is_some() { Some(0.0) } else { None })
        })
        .sum();
    let trace = Trace {
        id: request_id,
        unix_ms: unix_ms(),
        kind: kind.name(),
        rule: rule.map(|(_, r)| r),
        refused: false,
        calls,
        answered_by: answered_by.clone(),
        latency_s: started.elapsed().as_secs_f64(),
        joules_attributed: joules,
        energy_from:
            "each tier's J/token (from its run summary or the cascade file) x the call's tokens",
    };
    gw.metrics.record(&Outcome {
        answered_by: answered_by.as_deref(),
        calls: trace
            .calls
            .iter()
            .map(|c| (c.tier.as_str(), c.escalated.as_deref()))
            .collect(),
    });
    if let Some(w) = &gw.trace {
        w.write(&trace);
    }
    let Some((_, mut resp)) = answer else {
        if let Some((s, b)) = refusal {
            let status = StatusCode::from_u16(s).unwrap_or(StatusCode::BAD_GATEWAY);
            return (status, Json(b)).into_response();
        }
        let last_err = trace
            .calls
            .last()
            .and_then(|c| c.error.clone())
            .unwrap_or_default();
        return error(
            StatusCode::BAD_GATEWAY,
            format!("no tier answered: {last_err}"),
            None,
        );
    };
    strip_unasked(&mut resp, kind, &body);
    let escalations: Vec<Value> = trace
        .calls
        .iter()
        .filter(|c| c.escalated.is_some())
        .map(|c| json!({"tier": c.tier, "reason": c.escalated, "score": c.score, "error": c.error}))
        .collect();
    let tier = answered_by.unwrap_or_default();
    resp["model"] = json!(gw.served_name);
    resp["trilemma"] = json!({
        "tier": tier,
        "escalations": escalations,
        "rule": trace.rule,
        "plan": gw.plan_from,
        "joules_attributed": trace.joules_attributed,
    });
    let mut response = if stream {
        Response::builder()
            .header("content-type", "text/event-stream")
            .header("cache-control", "no-cache")
            .body(Body::from(as_sse(kind, &resp)))
            .unwrap_or_else(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "response", None))
    } else {
        Json(resp).into_response()
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&tier) {
        h.insert("x-trilemma-tier", v);
    }
    let esc = trace
        .calls
        .iter()
        .filter_map(|c| Some(format!("{}:{}", c.tier, c.escalated.as_ref()?)))
        .collect::<Vec<_>>()
        .join(",");
    h.insert(
        "x-trilemma-escalations",
        HeaderValue::from_str(&esc).unwrap_or(HeaderValue::from_static("")),
    );
    response
}

/// A request an input-guard rule refused: 400 with code `content_filter` (Azure OpenAI's
/// answer to a prompt its filter flags), traced and counted; no tier is called.
fn refuse(gw: &Gateway, id: String, kind: Kind, rule: usize, started: Instant) -> Response {
    let trace = Trace {
        id,
        unix_ms: unix_ms(),
        kind: kind.name(),
        rule: Some(rule),
        refused: true,
        calls: Vec::new(),
        answered_by: None,
        latency_s: started.elapsed().as_secs_f64(),
        joules_attributed: Some(0.0),
        energy_from: "no tier was called",
    };
    gw.metrics.refused();
    if let Some(w) = &gw.trace {
        w.write(&trace);
    }
    let mut r = (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": {
            "message": gw.rules.refusal_message(rule),
            "type": "invalid_request_error",
            "param": "prompt",
            "code": "content_filter",
        }})),
    )
        .into_response();
    let h = r.headers_mut();
    h.insert("x-trilemma-tier", HeaderValue::from_static(""));
    if let Ok(v) = HeaderValue::from_str(&format!("rule[{rule}]")) {
        h.insert("x-trilemma-refused-by", v);
    }
    r
}

/// Streams tier `t`'s answer as it comes (`stream = "commit"`): never escalated.
async fn commit_stream(gw: &Gateway, t: usize, path: &str, body: &Value) -> Response {
    let ep = &gw.endpoints[t];
    let mut b = body.clone();
    b["model"] = json!(ep.model);
    let url = format!("{}/{path}", ep.base_url.trim_end_matches('/'));
    let mut req = gw.client.post(&url).timeout(ep.timeout).json_body(&b);
    if let Some(k) = &ep.api_key {
        req = req.bearer_auth(k);
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            let why = trilemma_core::with_causes(&e);
            return error(StatusCode::BAD_GATEWAY, format!("{}: {why}", ep.name), None);
        }
    };
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let (tx, rx) = tokio::sync::mpsc::channel::<std::result::Result<Bytes, std::io::Error>>(32);
    let mut resp = resp;
    tokio::spawn(async move {
        loop {
            match resp.chunk().await {
                Ok(Some(c)) => {
                    if tx.send(Ok(c)).await.is_err() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    break;
                }
            }
        }
    });
    gw.metrics.record(&Outcome {
        answered_by: Some(&ep.name),
        calls: vec![(&ep.name, None)],
    });
    let mut r = Response::builder()
        .status(status)
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        ))
        .unwrap_or_else(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "response", None));
    if let Ok(v) = HeaderValue::from_str(&ep.name) {
        r.headers_mut().insert("x-trilemma-tier", v);
    }
    r.headers_mut()
        .insert("x-trilemma-escalations", HeaderValue::from_static(""));
    r
}

/// A JSON body without reqwest's `json` feature.
trait JsonBody {
    fn json_body(self, v: &Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, v: &Value) -> Self {
        self.header("content-type", "application/json")
            .body(serde_json::to_vec(v).unwrap_or_default())
    }
}
