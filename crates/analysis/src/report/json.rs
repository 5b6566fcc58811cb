//! The report as pretty-printed JSON.

use super::Report;
use crate::{Error, Result};

pub fn to_json(r: &Report) -> Result<String> {
    serde_json::to_string_pretty(r).map_err(|e| Error::Invalid {
        what: "report JSON".into(),
        reason: e.to_string(),
    })
}
