//! The guard's layers around a server's router, outermost first: every refusal in
//! OpenAI's error shape (and `Retry-After` on a 429); the API key and the per-key rate;
//! the cap on requests in flight (tower's global concurrency limit with load shedding);
//! the request timeout (tower-http); the body's read timeout and size limit (tower-http);
//! and the check of `max_tokens` against this server's limit.

use std::time::Duration;

use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use governor::clock::{Clock, DefaultClock};
use serde_json::{json, Value};
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::LoadShedLayer;
use tower::{BoxError, ServiceBuilder};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

use crate::{Guard, KeyId};

/// An error answer in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.
pub fn error_response(
    status: StatusCode,
    message: impl Into<String>,
    code: &str,
    param: Option<&str>,
) -> Response {
    let kind = match status.as_u16() {
        429 => "rate_limit_error",
        s if s >= 500 => "server_error",
        _ => "invalid_request_error",
    };
    (
        status,
        Json(json!({"error": {"message": message.into(), "type": kind, "param": param, "code": code}})),
    )
        .into_response()
}

fn with_retry_after(mut r: Response, seconds: u64) -> Response {
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    r
}

/// Wraps `router` in the guard's layers (see the module docs).
pub fn apply<S>(router: Router<S>, guard: &Guard) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let l = guard.limits();
    let mut r = router
        .layer(middleware::from_fn_with_state(guard.clone(), check_body))
        // The size limit below is the one that answers; axum's own default (2 MB) is off.
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(l.max_body_bytes))
        .layer(RequestBodyTimeoutLayer::new(l.body_timeout));
    if let Some(t) = l.request_timeout {
        r = r.layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            t,
        ));
    }
    if let Some(n) = l.max_in_flight {
        r = r.layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(move |e: BoxError| async move {
                    overloaded(e, n)
                }))
                .layer(LoadShedLayer::new())
                .layer(GlobalConcurrencyLimitLayer::new(n)),
        );
    }
    r.layer(middleware::from_fn_with_state(guard.clone(), authorize))
        .layer(middleware::from_fn_with_state(guard.clone(), shape))
}

fn overloaded(e: BoxError, n: usize) -> Response {
    if e.is::<tower::load_shed::error::Overloaded>() {
        return with_retry_after(
            error_response(
                StatusCode::TOO_MANY_REQUESTS,
                format!("the server is at capacity: {n} requests in flight (--max-in-flight {n}); retry later"),
                "rate_limit_exceeded",
                None,
            ),
            1,
        );
    }
    error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        e.to_string(),
        "server_error",
        None,
    )
}

/// The key a request presents as `Authorization: Bearer KEY`.
fn bearer(req: &Request) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// With keys, every `/v1/` route (and `/metrics` when protected) needs one: 401 in
/// OpenAI's words otherwise; `/health` stays open. The key's id goes with the request (for audit lines);
/// the per-key rate is spent here.
async fn authorize(State(g): State<Guard>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let guarded = path.starts_with("/v1/") || (path == "/metrics" && g.inner.protect_metrics);
    if !guarded {
        return next.run(req).await;
    }
    let id = match &g.inner.keys {
        None => KeyId::anonymous(),
        Some(keys) => match bearer(&req).map(|k| keys.check(k)) {
            Some(Some(id)) => id,
            Some(None) => {
                return error_response(
                    StatusCode::UNAUTHORIZED,
                    "Incorrect API key provided",
                    "invalid_api_key",
                    None,
                )
            }
            None => {
                return error_response(
                    StatusCode::UNAUTHORIZED,
                    "No API key provided: send the header `Authorization: Bearer KEY`",
                    "invalid_api_key",
                    None,
                )
            }
        },
    };
    if let Some(limiter) = &g.inner.limiter {
        if let Err(not_until) = limiter.check_key(&id) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let per_min = g.limits().rate_per_minute.map_or(0, |n| n.get());
            return with_retry_after(
                error_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("{id} sent more than {per_min} requests a minute (--rate-per-minute); retry in {:.1} s", wait.as_secs_f64()),
                    "rate_limit_exceeded",
                    None,
                ),
                wait.as_secs_f64().ceil() as u64,
            );
        }
    }
    req.extensions_mut().insert(id);
    next.run(req).await
}

/// Whether `e` (or what caused it) is of type `T`.
fn caused_by<T: std::error::Error + 'static>(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(c) = cur {
        if c.is::<T>() {
            return true;
        }
        cur = c.source();
    }
    false
}

/// Reads a POST body whole (its size and time already bounded by the layers outside),
/// refuses a `max_tokens` above the server's limit, and hands the body on.
async fn check_body(State(g): State<Guard>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            let inner = e.into_inner();
            return if caused_by::<http_body_util::LengthLimitError>(inner.as_ref()) {
                too_large(g.limits().max_body_bytes)
            } else if caused_by::<tower_http::timeout::TimeoutError>(inner.as_ref()) {
                slow_body(g.limits().body_timeout)
            } else {
                error_response(
                    StatusCode::BAD_REQUEST,
                    format!("cannot read the request body: {inner}"),
                    "invalid_request",
                    None,
                )
            };
        }
    };
    if let Some(most) = g.limits().max_tokens {
        if let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(&bytes) {
            for field in ["max_tokens", "max_completion_tokens"] {
                if let Some(n) = o.get(field).and_then(Value::as_u64).filter(|n| *n > most) {
                    return error_response(
                        StatusCode::BAD_REQUEST,
                        format!("{field} is {n}, more than this server's limit of {most} (--max-tokens-limit)"),
                        "invalid_request",
                        Some(field),
                    );
                }
            }
        }
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn too_large(most: usize) -> Response {
    error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the request body is larger than this server's limit of {most} bytes (--max-body-bytes)"),
        "request_too_large",
        None,
    )
}

fn slow_body(t: Duration) -> Response {
    error_response(
        StatusCode::REQUEST_TIMEOUT,
        format!(
            "the request body did not arrive in time: more than {} s between two pieces (--body-timeout)",
            t.as_secs_f64()
        ),
        "request_timeout",
        None,
    )
}

/// The last guard: an error answer that is not JSON (one a layer or the framework made)
/// is given OpenAI's shape; a 429 without `Retry-After` gets one.
async fn shape(State(g): State<Guard>, req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let res = if (status.is_client_error() || status.is_server_error()) && !is_json {
        let l = g.limits();
        match status {
            StatusCode::PAYLOAD_TOO_LARGE => too_large(l.max_body_bytes),
            StatusCode::REQUEST_TIMEOUT => slow_body(l.body_timeout),
            StatusCode::GATEWAY_TIMEOUT => error_response(
                status,
                format!(
                    "no answer within this server's limit of {} s (--request-timeout)",
                    l.request_timeout.map_or(0.0, |t| t.as_secs_f64())
                ),
                "request_timeout",
                None,
            ),
            _ => {
                let (_, body) = res.into_parts();
                let text = axum::body::to_bytes(body, 64 * 1024)
                    .await
                    .map(|b| String::from_utf8_lossy(&b).trim().to_string())
                    .unwrap_or_default();
                let message = if text.is_empty() {
                    status.canonical_reason().unwrap_or("request failed").into()
                } else {
                    text
                };
                error_response(status, message, "invalid_request", None)
            }
        }
    } else {
        res
    };
    if status == StatusCode::TOO_MANY_REQUESTS && !res.headers().contains_key(header::RETRY_AFTER) {
        return with_retry_after(res, 1);
    }
    res
}
