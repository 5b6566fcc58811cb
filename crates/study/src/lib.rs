//! Study presets: a seed's protocol with one command, tables and all.
//!
//! A study is a declarative TOML preset ([`preset`]): the seed's models, tasks and
//! precisions, three budgets (`smoke`, `standard`, `full`), the tasks the catalog cannot
//! reproduce, and for each column of the seed's tables how this measurement differs from
//! the paper's. [`plan::plan`] checks a request against the preset and the machine
//! (model and task names, the cache's free disk) before anything runs; [`run::run_study`]
//! runs it as one resumable sweep and writes the seed's tables (`trilemma-analysis`'s
//! `study` module) as JSON, Markdown and an HTML page beside the standard report.

pub mod plan;
pub mod preset;
pub mod run;

pub use plan::{plan, StudyPlan, StudyRequest};
pub use preset::{builtin, find, BudgetName, Kind, Preset};
pub use run::{
    build_report, run_study, Eta, StudyEvent, StudyObserver, StudyOutcome, StudySettings,
};

/// Errors of a study: a bad preset or request (named), or what the pipeline reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A preset file that does not parse or hold together (file, line, key).
    #[error("{file}: {message}")]
    Preset { file: String, message: String },
    /// A request the study cannot run (the message names the flag and why).
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Runner(#[from] trilemma_runner::Error),
    #[error(transparent)]
    Analysis(#[from] trilemma_analysis::Error),
    #[error(transparent)]
    Store(#[from] trilemma_store::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
