//! Benchmarks of Trilemma itself against peers. Each takes a typed config, returns a
//! typed report (serde; `--json` prints it as is) and leaves printing to the caller.
//!
//! - [`engine`]: the embedded engine against llama.cpp as PyPI's `llama-cpp-python`
//!   builds it (prefill and decode tokens/s, multiple-choice items/s), on the same GGUF
//!   and thread count; the peer runs `scripts/bench/peer_llama_cpp.py`;
//! - [`overhead`]: Trilemma's own cost: the meter thread's CPU, and the harness
//!   (scheduling, scoring, recording, meters) against direct engine calls;
//! - [`load`]: the load generator's own cost against a static SSE target in its own
//!   process, against GuideLLM's at the same concurrency;
//! - [`gateway`]: what `serve --cascade` adds to a request, against LiteLLM's proxy in
//!   front of the same static target.
//!
//! Report structs list their fields in alphabetical order: the reports were
//! `serde_json` maps before, which sort their keys, and `--json` output stays
//! byte-for-byte the same shape for scripts that read it.

pub mod engine;
pub mod gateway;
pub mod load;
pub mod overhead;

pub use engine::{
    engine_bench, BenchModel, Comparison, EngineBenchConfig, EngineBenchReport, EngineEvent,
    EngineSpeeds, GenerationSpeed, McSpeed, PeerSpeeds,
};
pub use gateway::{gateway_bench, GatewayBenchConfig, GatewayBenchReport};
pub use load::{
    load_bench, serve_sse_target, ClientCost, GuidellmCost, GuidellmShortRun, LoadBenchConfig,
    LoadBenchReport,
};
pub use overhead::{overhead_bench, OverheadConfig, OverheadReport};

use std::path::PathBuf;

/// Errors of the benchmarks. Each names the file, program or step that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Assets(#[from] trilemma_assets::Error),
    #[error(transparent)]
    Tasks(#[from] trilemma_tasks::Error),
    #[error(transparent)]
    Engine(#[from] trilemma_engine::Error),
    #[error(transparent)]
    Runner(#[from] trilemma_runner::Error),
    #[error(transparent)]
    Store(#[from] trilemma_store::Error),
    #[error(transparent)]
    Load(#[from] trilemma_load::Error),
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    /// A peer's program could not be started; `what` names it and its path.
    #[error("running {what}: {message}")]
    Run { what: String, message: String },
    /// A peer exited with an error; `detail` is the end of its log.
    #[error("{peer} failed ({status}): {detail}")]
    PeerFailed {
        peer: &'static str,
        status: String,
        detail: String,
    },
    /// A peer's results are missing or unreadable.
    #[error("{0}")]
    PeerOutput(String),
    /// The engine gave no token for a timing prompt (prefill speed needs one).
    #[error("no token generated")]
    NoToken,
    /// GuideLLM needs a local tokenizer directory and none was given or found.
    #[error("give --processor DIR (scripts/peer/guidellm_setup.sh writes one)")]
    NoProcessor,
    /// The static SSE target could not be started.
    #[error("{0}")]
    Target(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// The median of `xs` (the upper one of an even count), `None` when empty.
pub fn median(xs: &[f64]) -> Option<f64> {
    let mut xs = xs.to_vec();
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied()
}

/// `a / b` when both are finite and so is the quotient (a ratio to print or record).
pub fn ratio(a: f64, b: f64) -> Option<f64> {
    Some(a / b).filter(|r| a.is_finite() && b.is_finite() && r.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_takes_the_upper_middle_and_none_of_nothing() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(3.0));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn ratios_of_unmeasured_values_are_none() {
        assert_eq!(ratio(6.0, 3.0), Some(2.0));
        assert_eq!(ratio(f64::NAN, 3.0), None);
        assert_eq!(ratio(1.0, 0.0), None);
        assert_eq!(ratio(1.0, f64::INFINITY), None);
    }
}
