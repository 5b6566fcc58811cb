//! The analysis crate's one error type.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: line {line}: {reason}")]
    Csv {
        path: PathBuf,
        line: u64,
        reason: String,
    },
    #[error("{path}: missing column `{column}` (the header has: {header})")]
    MissingColumn {
        path: PathBuf,
        column: String,
        header: String,
    },
    #[error("{path}: line {line}: column `{column}`: `{value}` is not a number")]
    NotANumber {
        path: PathBuf,
        line: u64,
        column: String,
        value: String,
    },
    #[error("{path}: {reason}")]
    Json { path: PathBuf, reason: String },
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error("no reference `{0}` among the rows")]
    UnknownReference(String),
    #[error(transparent)]
    Stats(#[from] trilemma_core::Error),
    /// Reading a file Trilemma wrote (the error names the file).
    #[error(transparent)]
    Store(#[from] trilemma_store::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
