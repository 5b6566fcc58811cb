//! The axum router: shared state, routes, serving with graceful shutdown, the small
//! endpoints (`/metrics`, `/v1/models`), and handing a job to the scheduler.

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use trilemma_engine::Engine;

use crate::body::{error_shape, unknown_route, wrong_method};
use crate::completions::{chat_completions, completions};
use crate::metrics::Metrics;
use crate::openai::ApiError;
use crate::scheduler::{schedule, Job};
use crate::{Error, Result, ServeConfig};

pub(crate) struct AppState {
    pub(crate) cfg: ServeConfig,
    /// The engine's context length in tokens (0: unknown).
    pub(crate) context_length: usize,
    pub(crate) jobs: mpsc::Sender<Job>,
    pub(crate) metrics: Arc<Metrics>,
}

/// The router and the scheduler thread behind it. The scheduler ends when the
/// router (every clone of it) is dropped.
pub fn router(engine: Box<dyn Engine>, cfg: ServeConfig) -> Result<Router> {
    let (tx, rx) = mpsc::channel::<Job>();
    let metrics = Arc::new(Metrics::default());
    let m = metrics.clone();
    let context_length = engine.model_info().context_length as usize;
    let (max_batch, chunk) = (cfg.max_batch.max(1), cfg.prefill_chunk);
    let guard = cfg.guard.with_key(cfg.api_key.as_deref());
    std::thread::Builder::new()
        .name("trilemma-scheduler".into())
        .spawn(move || schedule(engine, rx, max_batch, chunk, &m))
        .map_err(|e| Error::Start(format!("cannot start the scheduler thread: {e}")))?;
    let state = Arc::new(AppState {
        cfg,
        context_length,
        jobs: tx,
        metrics,
    });
    let routes = Router::new()
        .route("/health", get(|| async { "ok" }).fallback(wrong_method))
        .route("/metrics", get(metrics_text).fallback(wrong_method))
        .route("/v1/models", get(models).fallback(wrong_method))
        .route("/v1/completions", post(completions).fallback(wrong_method))
        .route(
            "/v1/chat/completions",
            post(chat_completions).fallback(wrong_method),
        )
        .fallback(unknown_route)
        .layer(middleware::from_fn(error_shape))
        .with_state(state);
    Ok(trilemma_guard::apply(routes, &guard))
}

/// Serves on `listener` until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    engine: Box<dyn Engine>,
    cfg: ServeConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let limits = cfg.guard.limits().clone();
    trilemma_guard::serve(listener, router(engine, cfg)?, &limits, shutdown)
        .await
        .map_err(|e| Error::Serve(e.to_string()))
}

async fn metrics_text(State(st): State<Arc<AppState>>) -> String {
    st.metrics.render()
}

async fn models(State(st): State<Arc<AppState>>) -> Json<Value> {
    Json(
        json!({"object": "list", "data": [{"id": st.cfg.model_name, "object": "model", "owned_by": "trilemma"}]}),
    )
}

/// Whether the server takes another request: 429 when `max_waiting` requests already
/// wait for a sequence.
pub(crate) fn check_room(st: &AppState) -> Result<(), ApiError> {
    if let Some(most) = st.cfg.max_waiting {
        let waiting = st.metrics.queue_depth.load(Ordering::Relaxed) as usize;
        if waiting >= most {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "the server is at capacity: {waiting} requests wait for a sequence (--max-waiting {most}); retry later"
                ),
            ));
        }
    }
    Ok(())
}

fn engine_stopped() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the engine has stopped; restart the server",
    )
}

/// Hands a job to the scheduler.
pub(crate) fn enqueue(st: &AppState, job: Job) -> Result<(), ApiError> {
    if st.metrics.engine_stopped.load(Ordering::SeqCst) {
        return Err(engine_stopped());
    }
    st.metrics.queue_depth.fetch_add(1, Ordering::Relaxed);
    if st.jobs.send(job).is_err() {
        st.metrics.queue_depth.fetch_sub(1, Ordering::Relaxed);
        return Err(engine_stopped());
    }
    Ok(())
}

/// The engine's answer to a job.
pub(crate) async fn answer<T>(
    metrics: &Metrics,
    rx: oneshot::Receiver<trilemma_engine::Result<T>>,
) -> Result<T, Failure> {
    match rx.await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Failure::Engine(e)),
        Err(_) if metrics.engine_stopped.load(Ordering::SeqCst) => {
            Err(Failure::Api(engine_stopped()))
        }
        Err(_) => Err(Failure::Api(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the engine dropped the request",
        ))),
    }
}

/// Why a job has no answer.
pub(crate) enum Failure {
    /// The engine's error for this request.
    Engine(trilemma_engine::Error),
    /// The server's own.
    Api(ApiError),
}

/// Binds `listen`, serves on a runtime of its own until `shutdown` resolves, then
/// finishes the requests in flight. `started` is called with the bound address once the
/// server accepts connections.
pub fn serve_blocking(
    listen: std::net::SocketAddr,
    engine: Box<dyn Engine>,
    cfg: ServeConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    started: impl FnOnce(std::net::SocketAddr),
) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Start(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| Error::Start(format!("cannot listen on {listen}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Start(format!("cannot listen on {listen}: {e}")))?;
        started(addr);
        serve(listener, engine, cfg, shutdown).await
    })
}
