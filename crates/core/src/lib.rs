//! Records, units and statistics shared by every Trilemma crate.
//!
//! Nothing here performs I/O: the types describe what a run measured, and the
//! statistics turn raw per-sample values into the summaries every report prints.

pub mod clock;
pub mod record;
pub mod sampling;
pub mod setup;
pub mod stats;
pub mod summary;

pub use clock::{now_ns, MonoNs};
pub use record::{
    EnergySource, LogprobStats, Outcome, RequestTiming, SampleRecord, TokenCounts, Truncation,
};
pub use sampling::{Constraint, Sampling};
pub use setup::{EngineInfo, GpuLayers, HostInfo, OutputType, RunSettings, TaskInfo, DEFAULT_SEED};
pub use summary::{
    Attribution, CpuUse, DrawsSummary, EnergySummary, ItemDraws, MemorySummary, ModelInfo,
    RepeatSpread, RunSummary, SteadyWindow, Throughput, TruncationSummary,
};

/// Errors raised by the core types.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot compute {what} over an empty set")]
    Empty { what: &'static str },
    #[error("invalid value for {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error and the chain of its sources, joined with `: `. reqwest's own message says
/// only what failed ("error sending request for url (...)"); its sources say why
/// ("connection reset by peer", "operation timed out"), which a recorded error must tell.
pub fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        msg.push_str(": ");
        msg.push_str(&cause.to_string());
        source = cause.source();
    }
    msg
}
