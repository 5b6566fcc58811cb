//! The preflight `GET /models`: names the problem for an unreachable endpoint, a wrong
//! model name or an answer that is not JSON, and reads what the server says of the model.

use serde_json::Value;
use trilemma_core::ModelInfo;

use super::client::{root_cause, snippet, url, Shared};
use crate::{Error, Result};

pub(super) async fn preflight(shared: &Shared) -> Result<ModelInfo> {
    let u = url(shared, "models");
    let mut rb = shared.client.get(&u);
    if let Some(k) = &shared.key {
        rb = rb.bearer_auth(&k.0);
    }
    let resp = rb.send().await.map_err(|e| {
        Error::Transport(format!(
            "cannot reach {u}: {}",
            if e.is_connect() {
                format!("connection failed ({})", root_cause(&e))
            } else {
                e.to_string()
            }
        ))
    })?;
    let status = resp.status();
    let ctype = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = resp
        .bytes()
        .await
        .map_err(|e| Error::Transport(format!("{u}: reading the answer failed: {e}")))?;
    if !status.is_success() {
        return Err(Error::Transport(format!(
            "{u} answered HTTP {status}: {}",
            snippet(&body)
        )));
    }
    let v: Value = serde_json::from_slice(&body).map_err(|_| {
        Error::Transport(format!(
            "{u} is not an OpenAI-compatible endpoint: expected JSON, got {} ({})",
            if ctype.is_empty() {
                "no content type"
            } else {
                &ctype
            },
            snippet(&body)
        ))
    })?;
    let models = v.get("data").and_then(Value::as_array).ok_or_else(|| {
        Error::Transport(format!(
            "{u} is not an OpenAI-compatible endpoint: no `data` list in {}",
            snippet(&body)
        ))
    })?;
    let ids: Vec<&str> = models
        .iter()
        .filter_map(|m| m.get("id").and_then(Value::as_str))
        .collect();
    let Some(entry) = models
        .iter()
        .find(|m| m.get("id").and_then(Value::as_str) == Some(shared.cfg.model.as_str()))
    else {
        return Err(Error::Load {
            path: u,
            reason: format!(
                "the server does not serve a model named {:?}; it serves {:?}",
                shared.cfg.model, ids
            ),
        });
    };
    // llama.cpp's server reports `meta.n_ctx_train`; vLLM reports `max_model_len`.
    let trained = entry
        .pointer("/meta/n_ctx_train")
        .or_else(|| entry.get("max_model_len"))
        .and_then(Value::as_u64)
        .map(|n| n as u32);
    let parameters = entry.pointer("/meta/n_params").and_then(Value::as_u64);
    Ok(ModelInfo {
        name: shared.cfg.model.clone(),
        architecture: None,
        parameters,
        quantization: None,
        file_bytes: entry.pointer("/meta/size").and_then(Value::as_u64),
        context_length: if shared.cfg.context_length > 0 {
            shared.cfg.context_length
        } else {
            trained.unwrap_or(0)
        },
        trained_context_length: trained,
        sha256: None,
        has_chat_template: true,
    })
}
