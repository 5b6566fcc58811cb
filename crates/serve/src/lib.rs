//! `trilemma serve`: an OpenAI-compatible HTTP server over any [`Engine`].
//!
//! A scheduler thread owns the engine and feeds it through
//! [`Engine::generate_continuous`]: up to `max_batch` sequences generate together
//! (vLLM's `max_num_seqs`), a request that arrives joins at the next decode step once
//! a sequence is free, and each answer goes out as soon as its sequence ends. With
//! `prefill_chunk`, prompts are read a chunk per decode step (chunked prefill). Streamed
//! answers are sent piece by piece as the engine produces them; every piece carries
//! `server_timing.since_request_ns`, the server's own time since the request arrived,
//! so that a load generator can check its client-side TTFT against it.
//!
//! `echo` + `logprobs` scores the whole prompt in one pass. An echo needs the engine to
//! itself: it waits for the sequences in flight to end. A token's `top_logprobs` entry
//! is `{token: logprob}` when the token was the argmax, and `null` when it was not.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::mpsc as mpsc_async;
use tokio::sync::oneshot;
use tokio_stream::StreamExt;
use trilemma_core::now_ns;
use trilemma_engine::{
    Admit, ChatMessage, Engine, FinishReason, Generation, GenerationRequest, GenerationSource,
    Incoming,
};

/// Errors of the server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot start the server: {0}")]
    Start(String),
    #[error("server failed: {0}")]
    Serve(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Name served at `/v1/models` and expected in `model`.
    pub model_name: String,
    /// Most sequences generating at once.
    pub max_batch: usize,
    /// Most prompt tokens evaluated per decode step (chunked prefill); `None`: whole prompts.
    pub prefill_chunk: Option<usize>,
}

/// Per-token prompt logprobs of an echoed prompt.
#[derive(Debug, Clone)]
struct Echo {
    tokens: Vec<String>,
    offsets: Vec<usize>,
    logprobs: Vec<Option<f64>>,
    greedy: Vec<bool>,
}

enum Job {
    Generate {
        req: GenerationRequest,
        chat: Option<Vec<ChatMessage>>,
        /// Where text pieces go as they are generated (streamed requests).
        stream: Option<mpsc_async::UnboundedSender<String>>,
        reply: oneshot::Sender<Result<Generation, String>>,
    },
    Echo {
        prompt: String,
        reply: oneshot::Sender<Result<Echo, String>>,
    },
}

/// Latency histogram bucket bounds in seconds.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Debug, Default)]
struct Metrics {
    requests: AtomicU64,
    errors: AtomicU64,
    prompt_tokens: AtomicU64,
    output_tokens: AtomicU64,
    queue_depth: AtomicU64,
    /// Sequences the engine is generating now.
    running: AtomicU64,
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
}

impl Metrics {
    fn count(&self, g: &Generation) {
        self.prompt_tokens
            .fetch_add(g.prompt_tokens as u64, Ordering::Relaxed);
        self.output_tokens
            .fetch_add(g.output_tokens as u64, Ordering::Relaxed);
    }

    fn observe(&self, seconds: f64) {
        for (b, c) in BUCKETS.iter().zip(&self.latency_buckets) {
            if seconds <= *b {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    fn render(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut s = String::new();
        let mut line = |name: &str, kind: &str, v: u64| {
            s.push_str(&format!("# TYPE {name} {kind}\n{name} {v}\n"));
        };
        line("trilemma_requests_total", "counter", g(&self.requests));
        line("trilemma_request_errors_total", "counter", g(&self.errors));
        line(
            "trilemma_prompt_tokens_total",
            "counter",
            g(&self.prompt_tokens),
        );
        line(
            "trilemma_output_tokens_total",
            "counter",
            g(&self.output_tokens),
        );
        line("trilemma_running_sequences", "gauge", g(&self.running));
        line("trilemma_queue_depth", "gauge", g(&self.queue_depth));
        s.push_str("# TYPE trilemma_request_latency_seconds histogram\n");
        for (b, c) in BUCKETS.iter().zip(&self.latency_buckets) {
            s.push_str(&format!(
                "trilemma_request_latency_seconds_bucket{{le=\"{b}\"}} {}\n",
                g(c)
            ));
        }
        let n = g(&self.latency_count);
        s.push_str(&format!(
            "trilemma_request_latency_seconds_bucket{{le=\"+Inf\"}} {n}\n\
             trilemma_request_latency_seconds_sum {}\n\
             trilemma_request_latency_seconds_count {n}\n",
            g(&self.latency_sum_us) as f64 / 1e6
        ));
        s
    }
}

struct AppState {
    cfg: ServeConfig,
    jobs: mpsc::Sender<Job>,
    metrics: Arc<Metrics>,
}

/// The router and the scheduler thread behind it. The scheduler ends when the
/// router (every clone of it) is dropped.
pub fn router(engine: Box<dyn Engine>, cfg: ServeConfig) -> Result<Router> {
    let (tx, rx) = mpsc::channel::<Job>();
    let metrics = Arc::new(Metrics::default());
    let m = metrics.clone();
    let (max_batch, chunk) = (cfg.max_batch.max(1), cfg.prefill_chunk);
    std::thread::Builder::new()
        .name("trilemma-scheduler".into())
        .spawn(move || schedule(engine, rx, max_batch, chunk, &m))
        .map_err(|e| Error::Start(format!("cannot start the scheduler thread: {e}")))?;
    let state = Arc::new(AppState {
        cfg,
        jobs: tx,
        metrics,
    });
    Ok(Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/metrics", get(metrics_text))
        .route("/v1/models", get(models))
        .route("/v1/completions", post(completions))
        .route("/v1/chat/completions", post(chat_completions))
        .with_state(state))
}

/// Serves on `listener` until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    engine: Box<dyn Engine>,
    cfg: ServeConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    axum::serve(listener, router(engine, cfg)?)
        // Each streamed piece leaves at once (no Nagle delay behind the previous one).
        .tcp_nodelay(true)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| Error::Serve(e.to_string()))
}

/// Jobs waiting in the channel, handed to the engine's continuous batching.
struct Feed<'a> {
    rx: &'a mpsc::Receiver<Job>,
    /// Received but not yet admitted, in arrival order.
    backlog: VecDeque<Job>,
    /// Admitted generations: where their pieces and their answer go.
    inflight: HashMap<u64, Reply>,
    next_id: u64,
    disconnected: bool,
    metrics: &'a Metrics,
}

struct Reply {
    stream: Option<mpsc_async::UnboundedSender<String>>,
    reply: oneshot::Sender<Result<Generation, String>>,
}

impl GenerationSource for Feed<'_> {
    fn admit(&mut self, free: usize, idle: bool) -> Admit {
        if idle && self.backlog.is_empty() && !self.disconnected {
            match self.rx.recv() {
                Ok(j) => self.backlog.push_back(j),
                Err(_) => self.disconnected = true,
            }
        }
        while let Ok(j) = self.rx.try_recv() {
            self.backlog.push_back(j);
        }
        let mut admitted = Vec::new();
        while admitted.len() < free {
            match self.backlog.pop_front() {
                Some(Job::Generate {
                    req,
                    chat,
                    stream,
                    reply,
                }) => {
                    let id = self.next_id;
                    self.next_id += 1;
                    self.inflight.insert(id, Reply { stream, reply });
                    admitted.push(Incoming {
                        id,
                        request: req,
                        chat,
                    });
                }
                // An echo needs the engine to itself: let the sequences in flight end.
                Some(echo) => {
                    self.backlog.push_front(echo);
                    break;
                }
                None => break,
            }
        }
        self.metrics
            .queue_depth
            .fetch_sub(admitted.len() as u64, Ordering::Relaxed);
        self.metrics
            .running
            .store(self.inflight.len() as u64, Ordering::Relaxed);
        let echo_waits = matches!(self.backlog.front(), Some(Job::Echo { .. }));
        if admitted.is_empty() && (echo_waits || (self.disconnected && self.backlog.is_empty())) {
            Admit::Close
        } else {
            Admit::Requests(admitted)
        }
    }

    fn on_text(&mut self, id: u64, piece: &str) {
        if let Some(Reply {
            stream: Some(tx), ..
        }) = self.inflight.get(&id)
        {
            // A client that went away is not an error of the others.
            let _ = tx.send(piece.to_string());
        }
    }

    fn on_done(&mut self, id: u64, result: trilemma_engine::Result<Generation>) {
        if let Some(r) = self.inflight.remove(&id) {
            // Dropping the stream first tells a streamed response its text is complete.
            drop(r.stream);
            let _ = r.reply.send(result.map_err(|e| e.to_string()));
        }
        self.metrics
            .running
            .store(self.inflight.len() as u64, Ordering::Relaxed);
    }
}

/// Owns the engine: generations run continuously batched (a request joins at the next
/// decode step once a sequence is free); an echo waits for the sequences in flight to
/// end, then runs alone.
fn schedule(
    mut engine: Box<dyn Engine>,
    rx: mpsc::Receiver<Job>,
    max_batch: usize,
    prefill_chunk: Option<usize>,
    m: &Metrics,
) {
    let mut feed = Feed {
        rx: &rx,
        backlog: VecDeque::new(),
        inflight: HashMap::new(),
        next_id: 0,
        disconnected: false,
        metrics: m,
    };
    loop {
        engine.generate_continuous(&mut feed, max_batch, prefill_chunk);
        // The echoes at the front of the backlog run now, alone.
        while let Some(job) = feed.backlog.pop_front() {
            let Job::Echo { prompt, reply } = job else {
                feed.backlog.push_front(job);
                break;
            };
            m.queue_depth.fetch_sub(1, Ordering::Relaxed);
            let _ = reply.send(echo(engine.as_mut(), &prompt));
        }
        if feed.disconnected && feed.backlog.is_empty() {
            break;
        }
    }
}

/// Per-token logprobs of a prompt (OpenAI's `echo`): the engine scores every token given
/// the ones before it in one pass, and the tokens are cut into the text pieces they print.
fn echo(engine: &mut dyn Engine, prompt: &str) -> Result<Echo, String> {
    let p = engine.prompt_logprobs(prompt).map_err(|e| e.to_string())?;
    let mut texts = Vec::with_capacity(p.tokens.len());
    let mut offsets = Vec::with_capacity(p.tokens.len());
    let mut prev = String::new();
    for i in 1..=p.tokens.len() {
        let s = engine
            .detokenize(&p.tokens[..i])
            .map_err(|e| e.to_string())?;
        // A token that ends inside a multi-byte character prints nothing until the
        // character is complete; its piece is empty and the next one carries the text.
        let piece = match s.strip_prefix(prev.as_str()) {
            Some(rest) => rest.to_string(),
            None if s.contains('\u{fffd}') => String::new(),
            None => return Err("the tokenizer does not round-trip this prompt".into()),
        };
        offsets.push(prev.chars().count());
        texts.push(piece);
        if !s.contains('\u{fffd}') {
            prev = s;
        }
    }
    Ok(Echo {
        tokens: texts,
        offsets,
        logprobs: p.logprobs,
        greedy: p.greedy,
    })
}

async fn metrics_text(State(st): State<Arc<AppState>>) -> String {
    st.metrics.render()
}

async fn models(State(st): State<Arc<AppState>>) -> Json<Value> {
    Json(
        json!({"object": "list", "data": [{"id": st.cfg.model_name, "object": "model", "owned_by": "trilemma"}]}),
    )
}

fn bad(code: StatusCode, msg: impl std::fmt::Display) -> Response {
    (
        code,
        Json(json!({"error": {"message": msg.to_string(), "type": "invalid_request_error"}})),
    )
        .into_response()
}

/// An error answer, kept small until it becomes a response.
struct ApiError(StatusCode, String);

impl ApiError {
    fn new(code: StatusCode, msg: impl std::fmt::Display) -> Self {
        Self(code, msg.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        bad(self.0, self.1)
    }
}

fn finish_str(f: FinishReason) -> &'static str {
    match f {
        FinishReason::Length => "length",
        FinishReason::Stop | FinishReason::EndOfSequence => "stop",
    }
}

fn parse_stop(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|s| s.as_str().map(String::from))
            .collect(),
        _ => vec![],
    }
}

/// Checks the fields every request shares; returns (max_tokens, stop, stream).
fn common(st: &AppState, body: &Value) -> Result<(u32, Vec<String>, bool), ApiError> {
    if let Some(m) = body.get("model").and_then(Value::as_str) {
        if m != st.cfg.model_name {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "model {m:?} is not served here; this server serves {:?}",
                    st.cfg.model_name
                ),
            ));
        }
    }
    if let Some(t) = body.get("temperature").and_then(Value::as_f64) {
        if t != 0.0 {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "only greedy decoding (temperature 0) is supported",
            ));
        }
    }
    let max_tokens = match body.get("max_tokens") {
        None | Some(Value::Null) => 16,
        Some(v) => v.as_u64().ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "max_tokens must be a non-negative integer",
            )
        })? as u32,
    };
    let stop = body.get("stop").map(parse_stop).unwrap_or_default();
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    Ok((max_tokens, stop, stream))
}

async fn submit<T>(
    st: &AppState,
    make: impl FnOnce(oneshot::Sender<Result<T, String>>) -> Job,
) -> Result<T, ApiError> {
    let (tx, rx) = oneshot::channel();
    st.metrics.queue_depth.fetch_add(1, Ordering::Relaxed);
    if st.jobs.send(make(tx)).is_err() {
        st.metrics.queue_depth.fetch_sub(1, Ordering::Relaxed);
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the engine has stopped",
        ));
    }
    match rx.await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e)),
        Err(_) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the engine dropped the request",
        )),
    }
}

async fn completions(State(st): State<Arc<AppState>>, Json(body): Json<Value>) -> Response {
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

async fn completions_inner(st: &AppState, body: &Value, received_ns: u64) -> Response {
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

async fn chat_completions(State(st): State<Arc<AppState>>, Json(body): Json<Value>) -> Response {
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

async fn chat_inner(st: &AppState, body: &Value, received_ns: u64) -> Response {
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

async fn generate_reply(
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

fn usage(g: &Generation) -> Value {
    json!({"prompt_tokens": g.prompt_tokens, "completion_tokens": g.output_tokens,
           "total_tokens": g.prompt_tokens + g.output_tokens})
}
