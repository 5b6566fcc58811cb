//! The SLM-first cascade: a cascade file (tiers, cheapest first, and an escalation policy),
//! the signals that judge a tier's answer, and calibration from recorded runs.
//!
//! A policy is a score and thresholds kept apart: [`signal::Judge`] scores an answer the
//! same way for a recorded sample and a live one, [`calibrate::calibrate`] sweeps the
//! thresholds offline over runs joined item by item ([`replay::join_runs`]) and writes a
//! [`calibrate::Calibration`] that the gateway reads.

pub mod calibrate;
pub mod calibration_file;
pub mod config;
pub mod frontier;
pub mod replay;
pub mod route;
pub mod rules;
pub mod signal;

use std::path::PathBuf;

pub use calibrate::{calibrate, CalibrateOptions, Calibration, Target};
pub use calibration_file::{diff, RouteDiff};
pub use config::{CascadeConfig, Cost, GatewaySettings, Policy, Rule, Signal, StreamMode, Tier};
pub use frontier::Frontier;
pub use replay::{join_runs, Joined};
pub use route::{Plan, Point, Step};
pub use rules::{Action, Fired, RequestView, Rules};
pub use signal::{Answer, Judge, LogprobStats, Reason};

/// Errors of the cascade.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A cascade or schema file that does not parse or check (names the file, line, key).
    #[error("{path}: {message}", path = path.display())]
    Config { path: PathBuf, message: String },
    #[error("{path}: {message}", path = path.display())]
    Io { path: PathBuf, message: String },
    #[error(transparent)]
    Store(#[from] trilemma_store::Error),
    /// Hashing a run's samples (the error names the file).
    #[error(transparent)]
    Assets(#[from] trilemma_assets::Error),
    /// Inputs that do not fit together (named).
    #[error("{0}")]
    Input(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
