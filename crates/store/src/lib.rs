//! The files Trilemma writes and reads back, with their types.
//!
//! Every file a command leaves behind has one owner here: its serde type (with a schema
//! version), its writer and its reader. The other crates never build these files from
//! untyped JSON nor read them through JSON paths.
//!
//! - [`atomic`]: JSON written through a temporary file and a rename, so that a reader
//!   never sees half a file;
//! - [`jsonl`]: a locked, append-only JSONL file next to a manifest that a resumed
//!   writer must match (the run's samples, a judge's judgements);
//! - [`run`]: the run directory (manifest, samples, summary);
//! - [`sweep`]: a sweep's `sweep.json`;
//! - [`load`]: the load file of `trilemma load --out FILE`;
//! - [`judge`]: a judge's judgements, their manifest and summary.

pub mod atomic;
pub mod jsonl;
pub mod judge;
pub mod load;
pub mod run;
pub mod sweep;

pub use atomic::write_json_atomic;
pub use jsonl::{read_jsonl, JsonlStore, Layout};

use std::path::PathBuf;

/// Errors of reading and writing Trilemma's files. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("{path}: line {line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// Another process holds the file's lock.
    #[error("another process is writing into {path} (its lock {lock} is held); wait for it or choose another output")]
    Locked { path: PathBuf, lock: PathBuf },
    /// A resumed writer's manifest differs from the one on disk in an identity field.
    #[error(
        "{path} holds a different {what} ({field} was {was}, now {now}); choose another output"
    )]
    Mismatch {
        path: PathBuf,
        what: &'static str,
        field: String,
        was: String,
        now: String,
    },
    /// A file written by a newer Trilemma.
    #[error("{path}: schema version {found} is newer than this build reads ({supported}); update trilemma")]
    Schema {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Refuses a file written by a newer build: its `found` schema version is above the
/// `supported` one this build writes (older versions read as they are).
pub fn check_schema(path: &std::path::Path, found: u32, supported: u32) -> Result<()> {
    if found > supported {
        return Err(Error::Schema {
            path: path.to_path_buf(),
            found,
            supported,
        });
    }
    Ok(())
}

/// Reads a JSON file into `T`, naming the file and the position of a parse error.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    serde_json::from_str(&text).map_err(|e| Error::Line {
        path: path.to_path_buf(),
        line: e.line(),
        message: e.to_string(),
    })
}
