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
    /// A malformed line in an input file.
    #[error("{file}: line {line}: {detail}")]
    Input {
        file: String,
        line: usize,
        detail: String,
    },
    /// A file that cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// Prediction and reference files of different lengths.
    #[error("{predictions} has {n_predictions} predictions but {references} has {n_references} reference lines")]
    FileMismatch {
        predictions: String,
        n_predictions: usize,
        references: String,
        n_references: usize,
    },
    /// Statistics from the core crate.
    #[error(transparent)]
    Stats(#[from] trilemma_core::Error),
}

/// The crate's result alias.
pub type Result<T> = std::result::Result<T, Error>;
