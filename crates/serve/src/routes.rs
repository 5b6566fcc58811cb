//! The axum router: shared state, routes, serving with graceful shutdown, the small
//! endpoints (`/metrics`, `/v1/models`), and handing a job to the scheduler.

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use trilemma_engine::Engine;

use crate::completions::{chat_completions, completions};
use crate::metrics::Metrics;
use crate::openai::ApiError;
use crate::scheduler::{schedule, Job};
use crate::{Error, Result, ServeConfig};

pub(crate) struct AppState {
    pub(crate) cfg: ServeConfig,
    pub(crate) jobs: mpsc::Sender<Job>,
    pub(crate) metrics: Arc<Metrics>,
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

async fn metrics_text(State(st): State<Arc<AppState>>) -> String {
    st.metrics.render()
}

async fn models(State(st): State<Arc<AppState>>) -> Json<Value> {
    Json(
        json!({"object": "list", "data": [{"id": st.cfg.model_name, "object": "model", "owned_by": "trilemma"}]}),
    )
}

pub(crate) async fn submit<T>(
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
