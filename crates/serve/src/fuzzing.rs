//! The entry point of the fuzz target for the request bodies `serve` accepts: a body is
//! read as JSON and checked by the completions or chat handler, with no engine behind
//! them (the engine reads as stopped, so a request that passes every check is answered
//! 503 instead of queued). Whatever the bytes, the answer must be a response, not a
//! panic.

use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};

use serde_json::Value;

use crate::completions::{chat_inner, completions_inner};
use crate::metrics::Metrics;
use crate::routes::AppState;
use crate::ServeConfig;

thread_local! {
    static RT: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
}

/// Runs `body` through the chat handler's checks when `chat`, else the completions
/// handler's; returns the answer's status (400-range for a refused body).
pub fn request_body(body: &[u8], chat: bool) -> u16 {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return 400;
    };
    let (jobs, _) = mpsc::channel();
    let metrics = Arc::new(Metrics::default());
    metrics.engine_stopped.store(true, Ordering::SeqCst);
    let st = AppState {
        cfg: ServeConfig::new("fuzz-model", 4),
        context_length: 4096,
        jobs,
        metrics,
    };
    RT.with(|rt| {
        rt.block_on(async {
            let r = if chat {
                chat_inner(&st, &v).await
            } else {
                completions_inner(&st, &v).await
            };
            match r {
                Ok(resp) => resp.status().as_u16(),
                Err(e) => e.status.as_u16(),
            }
        })
    })
}
