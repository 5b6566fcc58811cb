//! The crate's error type.

/// Errors from scoring.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A metric name that the registry does not know.
    #[error("unknown metric {name:?}; known metrics: {known}")]
    UnknownMetric { name: String, known: String },
    /// Predictions and references of different lengths.
    #[error("{predictions} predictions but {references} reference sets")]
    LengthMismatch {
        predictions: usize,
        references: usize,
    },
    /// A reference set with no reference in it.
    #[error("reference set {index} is empty")]
    NoReference { index: usize },
    /// Nothing to score.
    #[error("nothing to score for {what}")]
    Empty { what: &'static str },
    /// A value that cannot be scored (NaN log-likelihood, zero length, ...).
    #[error("invalid input for {what}: {detail}")]
    Invalid { what: &'static str, detail: String },
    /// Statistics from the core crate.
    #[error(transparent)]
    Stats(#[from] trilemma_core::Error),
}

/// The crate's result alias.
pub type Result<T> = std::result::Result<T, Error>;
