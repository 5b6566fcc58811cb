//! Errors of the meters. A meter that fails does not stop a run: the error becomes
//! the reason in [`crate::Readings::unavailable`].

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A sysfs or procfs file that could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A counter file that does not hold an integer.
    #[error("{}: not a counter value ({value:?}): {source}", path.display())]
    Parse {
        path: PathBuf,
        value: String,
        #[source]
        source: std::num::ParseIntError,
    },
    /// A powercap tree without package or DRAM domains.
    #[error("no RAPL domains under {}", .0.display())]
    NoRapl(PathBuf),
}

pub type Result<T> = std::result::Result<T, Error>;
