//! Request traces: one JSON line per request, appended and flushed as each request ends.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde::Serialize;

use crate::{Error, Result};

/// One tier call of a request.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Call {
    pub tier: String,
    pub latency_s: f64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// The policy's score of the answer, when the signal applies.
    pub score: Option<f64>,
    /// Why it escalated (`None`: it answered).
    pub escalated: Option<String>,
    pub error: Option<String>,
    /// Energy attributed to the call: the tier's J/token times its tokens.
    pub joules_attributed: Option<f64>,
}

/// One request.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Trace {
    pub id: String,
    pub unix_ms: u128,
    pub kind: &'static str,
    pub rule: Option<usize>,
    /// The rule refused the request (an input guard); no tier was called.
    pub refused: bool,
    pub calls: Vec<Call>,
    pub answered_by: Option<String>,
    pub latency_s: f64,
    pub joules_attributed: Option<f64>,
    pub energy_from: &'static str,
}

#[derive(Debug)]
pub(crate) struct TraceWriter {
    file: Mutex<std::fs::File>,
}

impl TraceWriter {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::Start(format!("trace {}: {e}", path.display())))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::Start(format!("trace {}: {e}", path.display())))?;
        Ok(Self {
            file: Mutex::new(file),
        })
    }

    /// Appends one line (written whole, with its newline, in one call).
    pub(crate) fn write(&self, t: &Trace) {
        let Ok(mut line) = serde_json::to_vec(t) else {
            return;
        };
        line.push(b'\n');
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = f.write_all(&line) {
            tracing::error!("cannot write the trace: {e}");
        }
    }
}
