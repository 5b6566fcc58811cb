//! [`OpenAiEngine`]: connects (client, runtime, preflight), runs a batch of requests
//! under the concurrency limit, and implements [`Engine`] over the other modules.

use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::Semaphore;
use trilemma_core::{ModelInfo, RequestTiming};

use super::client::Shared;
use super::config::{ApiKey, OpenAiConfig};
use super::echo::{echo_request, echo_request_many, score_span};
use super::preflight::preflight;
use super::stream::stream_generation;
use crate::{
    ChatMessage, Engine, EngineInfo, Error, Generation, GenerationRequest, Loglikelihood,
    LoglikelihoodRequest, Result, RollingLoglikelihood,
};

/// One chat-completions request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub messages: Vec<ChatMessage>,
    pub max_tokens: u32,
    pub stop: Vec<String>,
}

/// The OpenAI-compatible HTTP engine.
#[derive(Debug)]
pub struct OpenAiEngine {
    shared: Arc<Shared>,
    rt: tokio::runtime::Runtime,
    info: ModelInfo,
}

impl OpenAiEngine {
    /// Builds the client and runs the preflight (`GET {base_url}/models`).
    pub fn connect(cfg: OpenAiConfig) -> Result<Self> {
        let key = match &cfg.api_key_env {
            None => None,
            Some(var) => match std::env::var(var) {
                Ok(k) if !k.is_empty() => Some(ApiKey(k)),
                _ => {
                    return Err(Error::Transport(format!(
                        "the API key variable {var} is not set"
                    )))
                }
            },
        };
        if !(cfg.base_url.starts_with("http://") || cfg.base_url.starts_with("https://")) {
            return Err(Error::Transport(format!(
                "engine URL {:?} must start with http:// or https:// (e.g. http://127.0.0.1:8080/v1)",
                cfg.base_url
            )));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.request_timeout)
            .build()
            .map_err(|e| Error::Transport(format!("cannot build HTTP client: {e}")))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("trilemma-http")
            .build()
            .map_err(|e| Error::Transport(format!("cannot start the async runtime: {e}")))?;
        let limit = Semaphore::new(cfg.max_concurrency.max(1));
        let shared = Arc::new(Shared {
            cfg,
            key,
            client,
            limit,
        });
        let info = rt.block_on(preflight(&shared))?;
        Ok(Self { shared, rt, info })
    }

    /// Greedy chat completions (the server applies the model's chat template).
    pub fn chat(&mut self, requests: &[ChatRequest]) -> Vec<Result<Generation>> {
        let jobs = requests.iter().map(|r| {
            let shared = self.shared.clone();
            let r = r.clone();
            async move {
                let messages: Vec<Value> = r
                    .messages
                    .iter()
                    .map(|m| json!({"role": m.role, "content": m.content}))
                    .collect();
                let body = greedy_stream_body(
                    &shared.cfg.model,
                    "messages",
                    json!(messages),
                    r.max_tokens,
                    &r.stop,
                );
                stream_generation(&shared, "chat/completions", body, &r.stop, true).await
            }
        });
        self.run_all(jobs)
    }

    fn run_all<F, T>(&self, jobs: impl Iterator<Item = F>) -> Vec<Result<T>>
    where
        F: std::future::Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        let shared = self.shared.clone();
        let handles: Vec<_> = jobs
            .map(|job| {
                let shared = shared.clone();
                self.rt.spawn(async move {
                    let _permit =
                        shared.limit.acquire().await.map_err(|e| {
                            Error::Transport(format!("request limiter closed: {e}"))
                        })?;
                    job.await
                })
            })
            .collect();
        self.rt.block_on(async move {
            let mut out = Vec::with_capacity(handles.len());
            for h in handles {
                out.push(match h.await {
                    Ok(r) => r,
                    Err(e) => Err(Error::Transport(format!("request task failed: {e}"))),
                });
            }
            out
        })
    }
}

impl Engine for OpenAiEngine {
    fn model_info(&self) -> &ModelInfo {
        &self.info
    }

    fn engine_info(&self) -> EngineInfo {
        EngineInfo {
            kind: "openai-http".into(),
            version: format!("trilemma-engine {}", env!("CARGO_PKG_VERSION")),
            threads: None,
            device: self.shared.cfg.base_url.clone(),
            max_batch: self.shared.cfg.max_concurrency as u32,
            gpu_layers: None,
        }
    }

    fn tokenize(&self, _text: &str, _add_special: bool) -> Result<Vec<u32>> {
        Err(Error::Unsupported(
            "tokenization (the OpenAI API has no tokenizer endpoint)".into(),
        ))
    }

    fn detokenize(&self, _tokens: &[u32]) -> Result<String> {
        Err(Error::Unsupported(
            "detokenization (the OpenAI API has no tokenizer endpoint)".into(),
        ))
    }

    fn apply_chat_template(&self, _messages: &[ChatMessage]) -> Result<String> {
        Err(Error::Unsupported(
            "rendering a chat template client-side (use OpenAiEngine::chat, the server applies it)"
                .into(),
        ))
    }

    fn generate(&mut self, requests: &[GenerationRequest]) -> Vec<Result<Generation>> {
        let jobs = requests.iter().map(|r| {
            let shared = self.shared.clone();
            let r = r.clone();
            async move {
                let body = greedy_stream_body(
                    &shared.cfg.model,
                    "prompt",
                    json!(r.prompt),
                    r.max_tokens,
                    &r.stop,
                );
                stream_generation(&shared, "completions", body, &r.stop, false).await
            }
        });
        self.run_all(jobs)
    }

    fn loglikelihood(&mut self, requests: &[LoglikelihoodRequest]) -> Vec<Result<Loglikelihood>> {
        // Consecutive requests with one context are the choices of one item: they go in
        // one request (`prompt` as a list) so that the server sees them together.
        let mut groups: Vec<Vec<LoglikelihoodRequest>> = Vec::new();
        for r in requests {
            match groups.last_mut() {
                Some(g) if self.shared.cfg.group_choices && g[0].context == r.context => {
                    g.push(r.clone())
                }
                _ => groups.push(vec![r.clone()]),
            }
        }
        let jobs = groups.into_iter().map(|group| {
            let shared = self.shared.clone();
            async move {
                let split: Vec<(String, String)> = group
                    .iter()
                    .map(|r| {
                        let (c, k) = crate::move_trailing_spaces(&r.context, &r.continuation);
                        (c.to_string(), k.to_string())
                    })
                    .collect();
                if split.iter().any(|(c, _)| c.is_empty()) {
                    let e = || {
                        Err(Error::Unsupported(
                            "log-likelihood with an empty context over HTTP".into(),
                        ))
                    };
                    return Ok(group.iter().map(|_| e()).collect::<Vec<_>>());
                }
                let prompts: Vec<String> = split.iter().map(|(c, k)| format!("{c}{k}")).collect();
                let echoed = if prompts.len() == 1 {
                    echo_request(&shared, &prompts[0])
                        .await
                        .map(|(t, a, b)| (vec![t], a, b))
                } else {
                    echo_request_many(&shared, &prompts).await
                };
                let (tokens, start_ns, end_ns) = match echoed {
                    Ok(x) => x,
                    Err(e) => return Ok(group.iter().map(|_| Err(e.clone())).collect()),
                };
                Ok(split
                    .iter()
                    .zip(&prompts)
                    .zip(&tokens)
                    .map(|(((ctx, _), prompt), toks)| {
                        let from = ctx.chars().count();
                        let to = prompt.chars().count();
                        let (logprob, n, is_greedy, before) = score_span(toks, from, to)?;
                        Ok(Loglikelihood {
                            logprob,
                            tokens: n,
                            is_greedy,
                            context_tokens: before,
                            timing: RequestTiming {
                                start_ns,
                                first_token_ns: None,
                                token_ns: vec![],
                                end_ns,
                            },
                            truncated: None,
                        })
                    })
                    .collect())
            }
        });
        self.run_all(jobs)
            .into_iter()
            .flat_map(|g| match g {
                Ok(v) => v,
                Err(e) => vec![Err(e)],
            })
            .collect()
    }

    fn loglikelihood_rolling(&mut self, texts: &[String]) -> Vec<Result<RollingLoglikelihood>> {
        let jobs = texts.iter().map(|t| {
            let shared = self.shared.clone();
            let t = t.clone();
            async move {
                let (tokens, start_ns, end_ns) = echo_request(&shared, &t).await?;
                let to = t.chars().count();
                // The first prompt token has no logprob (nothing precedes it).
                let first_end = tokens
                    .first()
                    .map(|f| f.offset + f.text.chars().count())
                    .unwrap_or(0);
                let (logprob, n, _, _) = score_span(&tokens, first_end, to)?;
                Ok(RollingLoglikelihood {
                    logprob,
                    tokens: n,
                    timing: RequestTiming {
                        start_ns,
                        first_token_ns: None,
                        token_ns: vec![],
                        end_ns,
                    },
                })
            }
        });
        self.run_all(jobs)
    }
}

/// The body of a greedy, streamed generation request: `input` is the prompt or the chat
/// messages, under `key`.
fn greedy_stream_body(
    model: &str,
    key: &str,
    input: Value,
    max_tokens: u32,
    stop: &[String],
) -> Value {
    let mut body = json!({
        "model": model,
        key: input,
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "stream": true,
    });
    if !stop.is_empty() {
        body["stop"] = json!(stop);
    }
    body
}
