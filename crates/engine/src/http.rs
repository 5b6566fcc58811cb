//! An engine that talks to an OpenAI-compatible server (vLLM, llama.cpp's server,
//! Ollama, SGLang, `trilemma serve`) over HTTP.
//!
//! - Generation streams `/v1/completions` (or `/v1/chat/completions` through
//!   [`OpenAiEngine::chat`]) with server-sent events, greedy (`temperature: 0`);
//!   every event that carries text is stamped with [`trilemma_core::now_ns`] when it
//!   arrives, which gives TTFT and inter-token gaps as the client sees them.
//! - Log-likelihood follows lm-evaluation-harness's `local-completions`: one
//!   `/v1/completions` request with `echo: true, logprobs: 1, max_tokens: 1` over
//!   context + continuation; the continuation's tokens are found by `text_offset`
//!   (character offsets into the prompt) and their logprobs summed.
//! - Connection errors, 429 and 5xx are retried with exponential backoff (before any
//!   byte of the answer has arrived); each request has a connect timeout, a total
//!   timeout and an idle timeout between stream chunks. A truncated stream, a
//!   malformed event or an error event becomes that request's error.
//! - [`OpenAiEngine::connect`] runs a preflight `GET /models` that names the problem
//!   for an unreachable endpoint, a wrong model name, or an answer that is not JSON.
//!
//! The API key is read from an environment variable named in the config and is never
//! formatted into errors, `Debug` output or engine info.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::Semaphore;
use trilemma_core::{now_ns, ModelInfo, RequestTiming};

use crate::{
    cut_at_stop, ChatMessage, Engine, EngineInfo, Error, FinishReason, Generation,
    GenerationRequest, Loglikelihood, LoglikelihoodRequest, Result, RollingLoglikelihood,
};

/// Tells the user what multiple-choice scoring needs from a server.
pub const NO_PROMPT_LOGPROBS: &str = "log-likelihood: the server returned no prompt logprobs; \
multiple-choice tasks need a /v1/completions endpoint that supports `echo: true` with `logprobs`";

/// How to reach the server.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// Base URL including the API prefix, e.g. `http://127.0.0.1:8080/v1`.
    pub base_url: String,
    /// The served model name sent as `model`.
    pub model: String,
    /// Name of the environment variable holding the API key (the key itself is never stored here).
    pub api_key_env: Option<String>,
    /// Most requests in flight at once.
    pub max_concurrency: usize,
    /// Retries after the first attempt for connection errors, 429 and 5xx.
    pub retries: u32,
    /// First backoff; doubles on each retry.
    pub backoff: Duration,
    pub connect_timeout: Duration,
    /// Limit on a whole request, stream included.
    pub request_timeout: Duration,
    /// Limit on the silence between two chunks of a streamed answer.
    pub idle_timeout: Duration,
    /// Context length to report in [`ModelInfo`] (the API does not say).
    pub context_length: u32,
    /// Ask for `stream_options.include_usage` (token counts in the last event).
    pub include_usage: bool,
}

impl OpenAiConfig {
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            model: model.into(),
            api_key_env: None,
            max_concurrency: 16,
            retries: 3,
            backoff: Duration::from_millis(200),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(600),
            idle_timeout: Duration::from_secs(60),
            context_length: 0,
            include_usage: true,
        }
    }
}

/// A secret that never prints.
#[derive(Clone)]
struct ApiKey(String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// One chat-completions request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub messages: Vec<ChatMessage>,
    pub max_tokens: u32,
    pub stop: Vec<String>,
}

#[derive(Debug)]
struct Shared {
    cfg: OpenAiConfig,
    key: Option<ApiKey>,
    client: reqwest::Client,
    limit: Semaphore,
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
                let mut body = json!({
                    "model": shared.cfg.model,
                    "messages": messages,
                    "max_tokens": r.max_tokens,
                    "temperature": 0.0,
                    "stream": true,
                });
                if !r.stop.is_empty() {
                    body["stop"] = json!(r.stop);
                }
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

fn url(shared: &Shared, path: &str) -> String {
    format!("{}/{}", shared.cfg.base_url, path)
}

fn snippet(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    let s = s.trim();
    let mut cut: String = s.chars().take(200).collect();
    if cut.len() < s.len() {
        cut.push('…');
    }
    cut
}

/// The innermost error in a source chain: says why a connection failed (refused, TLS
/// handshake, DNS) where reqwest's own message only says "error sending request".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

async fn preflight(shared: &Shared) -> Result<ModelInfo> {
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

/// Sends a JSON POST, retrying connection errors, 429 and 5xx with backoff.
async fn post(shared: &Shared, path: &str, body: &Value) -> Result<reqwest::Response> {
    let u = url(shared, path);
    let bytes = serde_json::to_vec(body)
        .map_err(|e| Error::Transport(format!("cannot encode request: {e}")))?;
    let mut attempt = 0u32;
    let mut delay = shared.cfg.backoff;
    loop {
        let mut rb = shared
            .client
            .post(&u)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(bytes.clone());
        if let Some(k) = &shared.key {
            rb = rb.bearer_auth(&k.0);
        }
        let failure = match rb.send().await {
            Ok(r) if r.status().is_success() => return Ok(r),
            Ok(r) => {
                let status = r.status();
                let retryable = status.as_u16() == 429 || status.is_server_error();
                let body = r.bytes().await.unwrap_or_default();
                let msg = format!("{u} answered HTTP {status}: {}", snippet(&body));
                if !retryable {
                    return Err(Error::Transport(msg));
                }
                msg
            }
            Err(e) => {
                let msg = format!("{u}: {e}");
                if !(e.is_connect() || e.is_timeout() || e.is_request()) {
                    return Err(Error::Transport(msg));
                }
                msg
            }
        };
        if attempt >= shared.cfg.retries {
            return Err(Error::Transport(format!(
                "{failure} (gave up after {} attempts)",
                attempt + 1
            )));
        }
        tokio::time::sleep(delay).await;
        delay = delay.saturating_mul(2);
        attempt += 1;
    }
}

/// Reads one whole (non-streamed) JSON answer with the idle timeout applied per chunk.
async fn read_json(shared: &Shared, mut resp: reqwest::Response, what: &str) -> Result<Value> {
    let mut buf = Vec::new();
    while let Some(chunk) = next_chunk(shared, &mut resp, what).await? {
        buf.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&buf).map_err(|e| {
        Error::Transport(format!(
            "{what}: the answer is not JSON ({e}): {}",
            snippet(&buf)
        ))
    })
}

async fn next_chunk(
    shared: &Shared,
    resp: &mut reqwest::Response,
    what: &str,
) -> Result<Option<Vec<u8>>> {
    match tokio::time::timeout(shared.cfg.idle_timeout, resp.chunk()).await {
        Err(_) => Err(Error::Transport(format!(
            "{what}: no data for {:?}",
            shared.cfg.idle_timeout
        ))),
        Ok(Err(e)) => Err(Error::Transport(format!("{what}: stream broken: {e}"))),
        Ok(Ok(c)) => Ok(c.map(|b| b.to_vec())),
    }
}

/// Splits complete SSE events off the front of `buf` and returns their `data:` payloads.
fn take_events(buf: &mut String) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(end) = buf.find("\n\n") {
        let event: String = buf.drain(..end + 2).collect();
        let data: Vec<&str> = event
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect();
        if !data.is_empty() {
            out.push(data.join("\n"));
        }
    }
    out
}

fn map_finish(reason: &str, stop: &[String], stopped_client_side: bool) -> Result<FinishReason> {
    Ok(match reason {
        "length" => FinishReason::Length,
        // OpenAI says `stop` both for a stop sequence and for end-of-sequence.
        "stop" if stopped_client_side || !stop.is_empty() => FinishReason::Stop,
        "stop" | "eos" | "eos_token" => FinishReason::EndOfSequence,
        other => {
            return Err(Error::Transport(format!(
                "unknown finish_reason {other:?} in the stream"
            )))
        }
    })
}

async fn stream_generation(
    shared: &Shared,
    path: &str,
    mut body: Value,
    stop: &[String],
    chat: bool,
) -> Result<Generation> {
    if shared.cfg.include_usage {
        body["stream_options"] = json!({"include_usage": true});
    }
    let what = url(shared, path);
    let start_ns = now_ns();
    let mut resp = post(shared, path, &body).await?;
    let mut raw = Vec::<u8>::new();
    let mut buf = String::new();
    let mut text = String::new();
    let mut token_ns = Vec::new();
    let mut finish: Option<String> = None;
    let mut usage: Option<(u64, u64)> = None;
    let mut done = false;
    'read: while let Some(chunk) = next_chunk(shared, &mut resp, &what).await? {
        let at = now_ns();
        raw.extend_from_slice(&chunk);
        // Only decode up to the last complete UTF-8 character.
        let valid = match std::str::from_utf8(&raw) {
            Ok(s) => s.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(e) => {
                return Err(Error::Transport(format!(
                    "{what}: the stream is not UTF-8 ({e})"
                )))
            }
        };
        let rest = raw.split_off(valid);
        buf.push_str(&String::from_utf8_lossy(&raw).replace('\r', ""));
        raw = rest;
        for data in take_events(&mut buf) {
            if data.trim() == "[DONE]" {
                done = true;
                break 'read;
            }
            let v: Value = serde_json::from_str(&data).map_err(|e| {
                Error::Transport(format!(
                    "{what}: malformed stream event ({e}): {}",
                    snippet(data.as_bytes())
                ))
            })?;
            if let Some(err) = v.get("error") {
                return Err(Error::Inference(format!("{what}: server error: {err}")));
            }
            if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
                let p = u.get("prompt_tokens").and_then(Value::as_u64).unwrap_or(0);
                let c = u
                    .get("completion_tokens")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                usage = Some((p, c));
            }
            let Some(choice) = v.pointer("/choices/0") else {
                continue;
            };
            let piece = if chat {
                choice.pointer("/delta/content").and_then(Value::as_str)
            } else {
                choice.get("text").and_then(Value::as_str)
            };
            if let Some(p) = piece.filter(|p| !p.is_empty()) {
                text.push_str(p);
                token_ns.push(at);
            }
            if let Some(f) = choice.get("finish_reason").and_then(Value::as_str) {
                finish = Some(f.to_string());
            }
        }
    }
    let end_ns = now_ns();
    let Some(reason) = finish else {
        return Err(Error::Transport(format!(
            "{what}: the stream ended before a finish_reason{} after {} tokens",
            if done { "" } else { " or [DONE]" },
            token_ns.len()
        )));
    };
    let (cut, stopped) = cut_at_stop(&text, stop);
    let finish = map_finish(&reason, stop, stopped)?;
    let text = cut.to_string();
    let (prompt_tokens, output_tokens) = match usage {
        Some((p, c)) => (p as u32, (c as u32).max(token_ns.len() as u32)),
        None => (0, token_ns.len() as u32),
    };
    Ok(Generation {
        text,
        prompt_tokens,
        output_tokens,
        finish,
        timing: RequestTiming {
            start_ns,
            first_token_ns: token_ns.first().copied(),
            token_ns,
            end_ns,
        },
    })
}

/// Prompt tokens of an echoed completion: `(text, logprob, is_greedy, char_offset)`.
#[derive(Debug, Clone, PartialEq)]
struct EchoToken {
    text: String,
    logprob: Option<f64>,
    greedy: Option<bool>,
    offset: usize,
}

fn parse_echo(v: &Value) -> Result<Vec<EchoToken>> {
    let lp = v
        .pointer("/choices/0/logprobs")
        .filter(|l| !l.is_null())
        .ok_or_else(|| Error::Unsupported(NO_PROMPT_LOGPROBS.into()))?;
    let arr = |k: &str| lp.get(k).and_then(Value::as_array);
    let (Some(tokens), Some(lps), Some(offsets)) =
        (arr("tokens"), arr("token_logprobs"), arr("text_offset"))
    else {
        return Err(Error::Unsupported(NO_PROMPT_LOGPROBS.into()));
    };
    if tokens.len() != lps.len() || tokens.len() != offsets.len() {
        return Err(Error::Transport(format!(
            "logprobs lists differ in length: {} tokens, {} logprobs, {} offsets",
            tokens.len(),
            lps.len(),
            offsets.len()
        )));
    }
    let tops = arr("top_logprobs");
    let mut out = Vec::with_capacity(tokens.len());
    for i in 0..tokens.len() {
        let logprob = lps[i].as_f64();
        let greedy = tops
            .and_then(|t| t.get(i))
            .and_then(|t| t.as_object())
            .and_then(|m| {
                let best = m
                    .values()
                    .filter_map(Value::as_f64)
                    .fold(f64::NEG_INFINITY, f64::max);
                logprob.map(|l| best.is_finite() && l >= best - 1e-6)
            });
        out.push(EchoToken {
            text: tokens[i].as_str().unwrap_or_default().to_string(),
            logprob,
            greedy,
            offset: offsets[i].as_u64().ok_or_else(|| {
                Error::Transport(format!("text_offset[{i}] is not a number: {}", offsets[i]))
            })? as usize,
        });
    }
    Ok(out)
}

/// Sums the logprobs of the tokens covering characters `from..to` of the prompt.
/// A token straddling `from` counts as the continuation's (its text differs from what
/// a separate tokenization would give, as with lm-eval's own token split).
fn score_span(tokens: &[EchoToken], from: usize, to: usize) -> Result<(f64, u32, bool, u32)> {
    let mut sum = 0.0;
    let mut n = 0u32;
    let mut greedy = true;
    let mut before = 0u32;
    for (i, t) in tokens.iter().enumerate() {
        let end = t.offset + t.text.chars().count();
        if t.offset >= to {
            break;
        }
        if end <= from && !(end == from && t.text.is_empty()) {
            before += 1;
            continue;
        }
        let Some(lp) = t.logprob else {
            return Err(Error::Unsupported(format!(
                "log-likelihood of prompt token {i} ({:?}): the server gives no logprob for it \
                 (the first token of a prompt has none; the context must not be empty)",
                t.text
            )));
        };
        sum += lp;
        n += 1;
        greedy &= t.greedy.unwrap_or(false);
    }
    if n == 0 {
        return Err(Error::Inference(format!(
            "no prompt token covers characters {from}..{to}"
        )));
    }
    Ok((sum, n, greedy, before))
}

async fn echo_request(shared: &Shared, prompt: &str) -> Result<(Vec<EchoToken>, u64, u64)> {
    let body = json!({
        "model": shared.cfg.model,
        "prompt": prompt,
        "echo": true,
        "logprobs": 1,
        "max_tokens": 1,
        "temperature": 0.0,
    });
    let start = now_ns();
    let resp = post(shared, "completions", &body).await?;
    let v = read_json(shared, resp, &url(shared, "completions")).await?;
    if let Some(err) = v.get("error") {
        return Err(Error::Inference(format!("server error: {err}")));
    }
    Ok((parse_echo(&v)?, start, now_ns()))
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
                let mut body = json!({
                    "model": shared.cfg.model,
                    "prompt": r.prompt,
                    "max_tokens": r.max_tokens,
                    "temperature": 0.0,
                    "stream": true,
                });
                if !r.stop.is_empty() {
                    body["stop"] = json!(r.stop);
                }
                stream_generation(&shared, "completions", body, &r.stop, false).await
            }
        });
        self.run_all(jobs)
    }

    fn loglikelihood(&mut self, requests: &[LoglikelihoodRequest]) -> Vec<Result<Loglikelihood>> {
        let jobs = requests.iter().map(|r| {
            let shared = self.shared.clone();
            let r = r.clone();
            async move {
                let (ctx, cont) = crate::move_trailing_spaces(&r.context, &r.continuation);
                if ctx.is_empty() {
                    return Err(Error::Unsupported(
                        "log-likelihood with an empty context over HTTP".into(),
                    ));
                }
                let prompt = format!("{ctx}{cont}");
                let (tokens, start_ns, end_ns) = echo_request(&shared, &prompt).await?;
                let from = ctx.chars().count();
                let to = prompt.chars().count();
                let (logprob, n, is_greedy, before) = score_span(&tokens, from, to)?;
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
                })
            }
        });
        self.run_all(jobs)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_split_across_chunks() {
        let mut buf = String::from("data: {\"a\":1}\n\ndata: [DO");
        assert_eq!(take_events(&mut buf), vec!["{\"a\":1}".to_string()]);
        buf.push_str("NE]\n\n: comment\n\n");
        assert_eq!(take_events(&mut buf), vec!["[DONE]".to_string()]);
        assert!(buf.is_empty());
    }

    fn tok(text: &str, lp: Option<f64>, offset: usize) -> EchoToken {
        EchoToken {
            text: text.into(),
            logprob: lp,
            greedy: Some(true),
            offset,
        }
    }

    #[test]
    fn continuation_span_by_offsets() {
        // "Answer: Paris" + one generated token " is".
        let toks = vec![
            tok("Answer", None, 0),
            tok(":", Some(-1.0), 6),
            tok(" Par", Some(-2.0), 7),
            tok("is", Some(-0.5), 11),
            tok(" is", Some(-9.0), 13),
        ];
        let (lp, n, greedy, before) = score_span(&toks, 7, 13).unwrap();
        assert_eq!((lp, n, greedy, before), (-2.5, 2, true, 2));
        // Empty context: the first token has no logprob.
        assert!(matches!(
            score_span(&toks, 0, 13),
            Err(Error::Unsupported(_))
        ));
    }

    #[test]
    fn missing_prompt_logprobs_is_a_clear_error() {
        let v = json!({"choices": [{"text": "x", "logprobs": null}]});
        let e = parse_echo(&v).unwrap_err().to_string();
        assert!(e.contains("echo"), "{e}");
    }
}

#[cfg(test)]
mod server_tests;
#[cfg(test)]
mod test_server;
