//! The embedded engine: GGUF models through llama.cpp (the `llama-cpp-2` bindings).
//!
//! Where evaluation spends its time, this engine avoids repeated work:
//! - the choices of a multiple-choice item share one evaluation of their context:
//!   the context is decoded once into a sequence whose KV cache is then shared
//!   (`seq_cp`) by one sequence per choice, so only the choices' own tokens are new;
//! - independent items and generations run as sequences of one llama.cpp batch;
//! - generation admits waiting requests as soon as a sequence finishes
//!   (continuous batching within a call).

mod generate;
mod loglik;
pub mod quantize;

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::OnceLock;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaModel};
use llama_cpp_2::token::LlamaToken;
pub use quantize::{derive as derive_variant, DerivedInfo, DerivedModel, QuantType, QuantizeError};
use trilemma_engine::{
    ChatMessage, Engine, EngineInfo, Error, Generation, GenerationRequest, Loglikelihood,
    LoglikelihoodRequest, ModelInfo, Result, RollingLoglikelihood, Truncation,
};
pub use trilemma_gguf::{check_file, metadata, read_header, GgufHeader, HeaderError};
use trilemma_gguf::{ftype, header};
pub use trilemma_store::run::GgufMetadata;

self_cell::self_cell!(
    /// A model and the one inference context that borrows it.
    struct ModelContext {
        owner: LlamaModel,
        #[not_covariant]
        dependent: LlamaContext,
    }
);

/// The version of the bindings (and so of the llama.cpp they vendor) this engine is built with.
pub const BINDINGS_VERSION: &str = "llama-cpp-2 0.1.160 (llama-cpp-sys-2 0.1.161)";

/// How to open a GGUF model.
#[derive(Debug, Clone)]
pub struct GgufConfig {
    pub path: PathBuf,
    /// Display name (catalog name or file stem).
    pub name: String,
    /// SHA-256 of the file, when the caller already knows it.
    pub sha256: Option<String>,
    /// CPU threads; `None` uses every available core.
    pub threads: Option<u32>,
    /// KV cells shared by all sequences (tokens of context in flight at once).
    pub n_ctx: u32,
    /// Most sequences evaluated together in one batch.
    pub max_sequences: u32,
    /// GPU layers to offload (only with the `cuda` feature).
    pub gpu_layers: u32,
}

impl GgufConfig {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        Self {
            path,
            name,
            sha256: None,
            threads: None,
            n_ctx: 4096,
            max_sequences: 16,
            gpu_layers: 0,
        }
    }
}

fn backend() -> Result<&'static LlamaBackend> {
    static BACKEND: OnceLock<std::result::Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            // llama.cpp's own logging goes to `tracing` (shown with RUST_LOG=llama_cpp_2=debug).
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::Load {
            path: "llama.cpp backend".into(),
            reason: e.clone(),
        })
}

/// Architectures this build of llama.cpp is known to run; others are refused up front.
const SUPPORTED_ARCHITECTURES: &[&str] = &[
    "llama",
    "gemma",
    "gemma2",
    "gemma3",
    "qwen2",
    "qwen3",
    "phi3",
    "mistral",
    "smollm3",
    "granite",
    "olmo",
    "olmo2",
    "stablelm",
    "gpt2",
    "starcoder2",
    "falcon",
];

/// The embedded llama.cpp engine.
pub struct GgufEngine {
    inner: ModelContext,
    info: ModelInfo,
    threads: u32,
    max_sequences: u32,
    n_ctx: u32,
    n_vocab: usize,
    add_bos: bool,
    bos: LlamaToken,
    /// Evaluate one sequence's new tokens per decode (sliding-window attention models).
    isolate_sequences: bool,
}

impl std::fmt::Debug for GgufEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufEngine")
            .field("info", &self.info)
            .finish()
    }
}

impl GgufEngine {
    pub fn open(cfg: &GgufConfig) -> Result<Self> {
        let load_err = |reason: String| Error::Load {
            path: cfg.path.display().to_string(),
            reason,
        };
        // The header first: a foreign or truncated file gets a clear message instead of
        // llama.cpp's generic load failure.
        let header = header::check_file(&cfg.path).map_err(|e| load_err(e.reason))?;
        let backend = backend()?;
        let mut mparams = LlamaModelParams::default();
        if cfg!(feature = "cuda") {
            mparams = mparams.with_n_gpu_layers(cfg.gpu_layers);
        }
        let model = LlamaModel::load_from_file(backend, &cfg.path, &mparams).map_err(|e| {
            match header.metadata.architecture.as_deref() {
                Some(arch) if !SUPPORTED_ARCHITECTURES.contains(&arch) => load_err(format!(
                    "unsupported architecture {arch:?} (llama.cpp could not load it: {e}); supported: {}",
                    SUPPORTED_ARCHITECTURES.join(", ")
                )),
                _ => load_err(format!(
                    "llama.cpp could not load it ({e}); the file may be truncated or corrupt"
                )),
            }
        })?;
        let architecture = model.meta_val_str("general.architecture").ok();
        if let Some(arch) = &architecture {
            if !SUPPORTED_ARCHITECTURES.contains(&arch.as_str()) {
                tracing::warn!(%arch, "architecture not in Trilemma's tested list; trying anyway");
            }
        }
        let threads = cfg.threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get() as u32)
                .unwrap_or(1)
        });
        let n_ctx = cfg.n_ctx.max(64);
        let max_sequences = cfg.max_sequences.clamp(1, 256);
        let info = ModelInfo {
            name: cfg.name.clone(),
            architecture,
            parameters: Some(model.n_params()),
            quantization: model
                .meta_val_str("general.file_type")
                .ok()
                .and_then(|v| v.parse::<u32>().ok())
                .map(ftype::name),
            file_bytes: Some(header.file_bytes),
            context_length: n_ctx,
            trained_context_length: Some(model.n_ctx_train()),
            sha256: cfg.sha256.clone(),
            has_chat_template: model.chat_template(None).is_ok(),
        };
        let n_vocab = usize::try_from(model.n_vocab()).unwrap_or(0);
        let isolate_sequences = info.architecture.as_ref().is_some_and(|a| {
            model
                .meta_val_str(&format!("{a}.attention.sliding_window"))
                .is_ok()
        });
        let add_bos = model.vocab().should_add_bos();
        let bos = model.vocab().bos();
        let cparams = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_ctx))
            .with_n_batch(n_ctx)
            .with_n_ubatch(512.min(n_ctx))
            .with_n_seq_max(max_sequences)
            .with_kv_unified(true)
            .with_swa_full(true)
            // Flash attention off: on CPU it cut decode speed after a 512-token prompt
            // from ~75 to ~46 tokens/s (smollm2-135m, 2 threads), and with it Gemma 3's
            // sliding-window layers drift more when the batch composition changes.
            .with_flash_attention_policy(llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_DISABLED)
            .with_n_threads(threads as i32)
            .with_n_threads_batch(threads as i32);
        let inner = ModelContext::try_new(model, |m| m.new_context(backend, cparams))
            .map_err(|e| load_err(format!("cannot create an inference context: {e}")))?;
        Ok(Self {
            inner,
            info,
            threads,
            max_sequences,
            n_ctx,
            n_vocab,
            add_bos,
            bos,
            isolate_sequences,
        })
    }

    fn model(&self) -> &LlamaModel {
        self.inner.borrow_owner()
    }

    fn tokens(&self, text: &str, add_special: bool) -> Vec<LlamaToken> {
        tokenize_with(self.model(), text, add_special && self.add_bos)
    }

    /// The token that conditions the first token of a text with no context.
    fn prefix_token(&self) -> LlamaToken {
        if self.bos.0 >= 0 {
            self.bos
        } else {
            self.model().vocab().eos()
        }
    }
}

/// Tokens of `text`, with the model's BOS in front when `add_bos`.
fn tokenize_with(model: &LlamaModel, text: &str, add_bos: bool) -> Vec<LlamaToken> {
    model.vocab().tokenize(text.as_bytes(), add_bos, true)
}

/// Drops the oldest of `prompt`'s tokens so that at most `room` remain (lm-evaluation-
/// harness keeps the newest), and says what it dropped: `None` when the prompt fits.
fn keep_newest(prompt: &mut Vec<LlamaToken>, room: usize) -> Option<Truncation> {
    let dropped = prompt.len().checked_sub(room).filter(|&d| d > 0)?;
    let cut = Truncation {
        prompt_tokens: prompt.len() as u32,
        tokens_dropped: dropped as u32,
    };
    prompt.drain(..dropped);
    Some(cut)
}

/// Messages rendered with the model's own chat template, ending with the assistant's turn.
fn render_chat(model: &LlamaModel, messages: &[ChatMessage]) -> Result<String> {
    let tmpl = model
        .chat_template(None)
        .map_err(|e| Error::Unsupported(format!("chat template ({e})")))?;
    let msgs = messages
        .iter()
        .map(|m| LlamaChatMessage::new(m.role.clone(), m.content.clone()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Inference(format!("chat message: {e}")))?;
    model
        .apply_chat_template(&tmpl, &msgs, true)
        .map_err(|e| Error::Inference(format!("applying the chat template: {e}")))
}

impl Engine for GgufEngine {
    fn model_info(&self) -> &ModelInfo {
        &self.info
    }

    fn engine_info(&self) -> EngineInfo {
        EngineInfo {
            kind: "llama.cpp".into(),
            version: BINDINGS_VERSION.into(),
            threads: Some(self.threads),
            device: if cfg!(feature = "cuda") {
                "cuda"
            } else {
                "cpu"
            }
            .into(),
            max_batch: self.max_sequences,
        }
    }

    fn tokenize(&self, text: &str, add_special: bool) -> Result<Vec<u32>> {
        Ok(self
            .tokens(text, add_special)
            .into_iter()
            .map(|t| t.0 as u32)
            .collect())
    }

    fn detokenize(&self, tokens: &[u32]) -> Result<String> {
        let toks: Vec<LlamaToken> = tokens.iter().map(|t| LlamaToken(*t as i32)).collect();
        let bytes = self.model().vocab().detokenize(&toks, false, false);
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn apply_chat_template(&self, messages: &[ChatMessage]) -> Result<String> {
        render_chat(self.model(), messages)
    }

    fn generate_continuous(
        &mut self,
        source: &mut dyn trilemma_engine::GenerationSource,
        max_batch: usize,
        prefill_chunk: Option<usize>,
    ) {
        generate::run(self, source, max_batch, prefill_chunk);
    }

    fn generate(&mut self, requests: &[GenerationRequest]) -> Vec<Result<Generation>> {
        generate::generate(self, requests, &mut |_, _| {})
    }

    fn loglikelihood(&mut self, requests: &[LoglikelihoodRequest]) -> Vec<Result<Loglikelihood>> {
        loglik::loglikelihood(self, requests)
    }

    fn loglikelihood_rolling(&mut self, texts: &[String]) -> Vec<Result<RollingLoglikelihood>> {
        loglik::rolling(self, texts)
    }

    fn generate_streaming(
        &mut self,
        requests: &[GenerationRequest],
        on_text: &mut dyn FnMut(usize, &str),
    ) -> Vec<Result<Generation>> {
        generate::generate(self, requests, on_text)
    }

    fn prompt_logprobs(&mut self, text: &str) -> Result<trilemma_engine::PromptLogprobs> {
        loglik::prompt_logprobs(self, text)
    }
}

/// Index of the largest logit.
fn argmax(logits: &[f32]) -> usize {
    let mut best = 0;
    let mut best_v = f32::NEG_INFINITY;
    for (i, &v) in logits.iter().enumerate() {
        if v > best_v {
            best_v = v;
            best = i;
        }
    }
    best
}

/// log(sum(exp(logits))), computed stably in f64.
fn log_sum_exp(logits: &[f32]) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = logits.iter().map(|&v| (v as f64 - max).exp()).sum();
    max + sum.ln()
}

/// The log-probability of token `tok` under `logits`, in f32: one pass for the maximum and
/// one for the sum, cheap beside a decode step even for a 150k-token vocabulary.
fn logprob_of(logits: &[f32], tok: usize) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = logits.iter().map(|&v| (v - max).exp()).sum();
    logits[tok] - max - sum.ln()
}

fn decode_err(e: impl std::fmt::Display) -> Error {
    Error::Inference(format!("llama_decode: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_sum_exp_is_stable() {
        let l = [1000.0f32, 1000.0];
        assert!((log_sum_exp(&l) - (1000.0 + 2f64.ln())).abs() < 1e-9);
        assert_eq!(argmax(&[0.1, 3.0, -1.0]), 1);
        let l = [0.1f32, 3.0, -1.0, 2.5];
        let want = f64::from(l[1]) - log_sum_exp(&l);
        assert!((f64::from(logprob_of(&l, 1)) - want).abs() < 1e-6);
    }

    #[test]
    fn non_gguf_file_is_refused_clearly() {
        let dir = std::env::temp_dir().join(format!("trilemma-gguf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("bad.gguf");
        std::fs::write(&p, b"<html>not a model</html>").unwrap();
        let err = GgufEngine::open(&GgufConfig::new(&p))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a GGUF file"), "{err}");
        std::fs::write(&p, b"GG").unwrap();
        let err = GgufEngine::open(&GgufConfig::new(&p))
            .unwrap_err()
            .to_string();
        assert!(err.contains("shorter than a GGUF header"), "{err}");
        let err = GgufEngine::open(&GgufConfig::new(dir.join("missing.gguf")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.gguf"), "{err}");
    }
}
