//! How the pipeline tells its caller what it is doing: events, and a progress sink per
//! run. The binary draws bars and prints lines from them; a library caller may ignore them.

use std::path::PathBuf;

use crate::Progress;

/// Something the pipeline did that its caller may want to show.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent {
    /// A quantization variant is being derived (cached after the first time).
    Deriving { model: String, target: String },
    /// A variant derived from an already quantized file: it cannot be more precise than it.
    FromQuantized {
        model: String,
        target: String,
        source_precision: String,
    },
    /// A group of runs (one engine, every task) finished earlier and is skipped.
    Skipped {
        done: usize,
        total: usize,
        model: String,
        tag: String,
        batch_size: usize,
    },
    /// A run of a sweep starts.
    Starting {
        done: usize,
        total: usize,
        dir: PathBuf,
    },
    /// A run resumed samples an earlier process recorded.
    Resumed {
        run_id: String,
        samples: usize,
        dir: PathBuf,
    },
    /// A meter could not be read (its figures are left out, never filled in).
    MeterUnavailable { what: String },
}

/// Receives the pipeline's events and draws each run's progress.
pub trait RunObserver {
    fn event(&mut self, _event: RunEvent) {}
    /// The progress sink of one run, labelled `model · task`.
    fn run_progress(&mut self, _label: &str) -> Box<dyn Progress> {
        Box::new(crate::Silent)
    }
}

/// An observer that shows nothing.
impl RunObserver for crate::Silent {}
