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
mod logits;
mod loglik;
pub mod quantize;
mod sampler;

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
pub use sampler::grammar_of;
pub use trilemma_core::GpuLayers;
use trilemma_engine::{
    ChatMessage, Engine, EngineInfo, Error, Generation, GenerationRequest, Loglikelihood,
    LoglikelihoodRequest, ModelInfo, PromptInput, Result, RollingLoglikelihood, TopToken,
    Truncation,
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
    /// Layers to offload to a GPU (`auto`: all where the build has a GPU backend and
    /// finds a GPU, else none).
    pub gpu_layers: GpuLayers,
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
            gpu_layers: GpuLayers::Auto,
        }
    }
}

/// The layers to hand llama.cpp for `asked`, given whether this build can offload (a GPU
/// backend that found a device); llama.cpp takes more than the model has as all of them.
/// Asking a build that cannot offload for any layer is an error rather than a silent CPU
/// run.
pub fn offloaded_layers(asked: GpuLayers, can_offload: bool) -> std::result::Result<u32, String> {
    let all = u32::MAX;
    match asked {
        GpuLayers::Count(0) => Ok(0),
        GpuLayers::Auto if !can_offload => Ok(0),
        GpuLayers::Auto | GpuLayers::All if can_offload => Ok(all),
        GpuLayers::Count(n) if can_offload => Ok(n),
        _ => Err(format!(
            "--gpu-layers {asked}: this build of llama.cpp has no GPU backend, or it found no \
             GPU (a CUDA build: `cargo build --release --features cuda` with CUDA's toolkit \
             installed); use --gpu-layers 0 or auto to run on the CPU"
        )),
    }
}

/// Checks `--gpu-layers` against this build and machine before anything slow runs (it
/// starts llama.cpp's backend, which takes milliseconds).
pub fn check_gpu_layers(asked: GpuLayers) -> std::result::Result<(), String> {
    let backend = backend().map_err(|e| e.to_string())?;
    offloaded_layers(asked, backend.supports_gpu_offload()).map(|_| ())
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
    /// Layers offloaded to a GPU.
    gpu_layers: u32,
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
        let offload =
            offloaded_layers(cfg.gpu_layers, backend.supports_gpu_offload()).map_err(load_err)?;
        let mparams = LlamaModelParams::default().with_n_gpu_layers(offload);
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
        // The blocks and the output layer, as llama.cpp counts what it offloads.
        let offload = offload.min(model.n_layer().saturating_add(1));
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
            gpu_layers: offload,
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

    /// Token ids from outside as the model's tokens; an id outside the vocabulary is
    /// refused, naming it.
    fn checked_ids(&self, ids: &[u32]) -> Result<Vec<LlamaToken>> {
        checked_ids(ids, self.n_vocab)
    }

    /// Most likely tokens as ids with their text.
    fn top_tokens(&self, top: &[(u32, f64)]) -> Vec<TopToken> {
        top_tokens(&self.model().vocab(), top)
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

/// Token ids from outside as tokens of a vocabulary of `n_vocab`.
fn checked_ids(ids: &[u32], n_vocab: usize) -> Result<Vec<LlamaToken>> {
    ids.iter()
        .enumerate()
        .map(|(i, &id)| {
            if (id as usize) < n_vocab {
                Ok(LlamaToken(id as i32))
            } else {
                Err(Error::Tokenize(format!(
                    "token id {id} (position {i}) is outside the model's vocabulary of {n_vocab} tokens"
                )))
            }
        })
        .collect()
}

/// The text one token prints (a control token prints nothing; a piece of a character
/// split across tokens shows as U+FFFD).
fn token_text(vocab: &llama_cpp_2::vocab::LlamaVocab<'_>, tok: LlamaToken) -> String {
    let mut bytes = Vec::new();
    vocab.token_to_piece_into(tok, &mut bytes, false, None);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Most likely tokens (id, log-probability) with the text each prints.
fn top_tokens(vocab: &llama_cpp_2::vocab::LlamaVocab<'_>, top: &[(u32, f64)]) -> Vec<TopToken> {
    top.iter()
        .map(|&(id, logprob)| TopToken {
            id,
            text: token_text(vocab, LlamaToken(id as i32)),
            logprob,
        })
        .collect()
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
    let tmpl = model.chat_template(None).map_err(|e| {
        Error::Unsupported(format!(
            "chat: this model's GGUF carries no chat template ({e}), so it cannot render \
                 chat messages; send a prompt to /v1/completions, or serve a chat model"
        ))
    })?;
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
            device: if self.gpu_layers > 0 { "gpu" } else { "cpu" }.into(),
            max_batch: self.max_sequences,
            gpu_layers: Some(self.gpu_layers),
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

    fn prompt_logprobs(
        &mut self,
        prompt: &PromptInput,
        top: usize,
    ) -> Result<trilemma_engine::PromptLogprobs> {
        loglik::prompt_logprobs(self, prompt, top)
    }
}

fn decode_err(e: impl std::fmt::Display) -> Error {
    Error::Inference(format!("llama_decode: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpu_layers_go_to_a_gpu_only_where_one_can_take_them() {
        // A CPU build (or no GPU found): auto and 0 run on the CPU, asking for layers fails.
        assert_eq!(offloaded_layers(GpuLayers::Auto, false), Ok(0));
        assert_eq!(offloaded_layers(GpuLayers::Count(0), false), Ok(0));
        let e = offloaded_layers(GpuLayers::All, false).unwrap_err();
        assert!(
            e.contains("--gpu-layers all") && e.contains("no GPU"),
            "{e}"
        );
        assert!(offloaded_layers(GpuLayers::Count(8), false).is_err());
        // A GPU build with a device: auto and all offload everything, a count that many.
        assert_eq!(offloaded_layers(GpuLayers::Auto, true), Ok(u32::MAX));
        assert_eq!(offloaded_layers(GpuLayers::All, true), Ok(u32::MAX));
        assert_eq!(offloaded_layers(GpuLayers::Count(8), true), Ok(8));
        assert_eq!(offloaded_layers(GpuLayers::Count(0), true), Ok(0));
        // The flag's words.
        assert_eq!("all".parse::<GpuLayers>(), Ok(GpuLayers::All));
        assert_eq!("12".parse::<GpuLayers>(), Ok(GpuLayers::Count(12)));
        assert!("some".parse::<GpuLayers>().unwrap_err().contains("`all`"));
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
