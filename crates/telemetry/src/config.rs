//! What the meters are set to: period, powercap root, grid intensity and price, and
//! what drives the estimate.

use std::path::PathBuf;
use std::time::Duration;

use crate::grid::{DEFAULT_PRICE_USD_PER_KWH, GRID_INTENSITY};

#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryConfig {
    pub period: Duration,
    /// Root of the powercap tree (tests point it at a fake tree).
    pub powercap_root: PathBuf,
    pub grid_g_per_kwh: f64,
    pub price_usd_per_kwh: f64,
    /// Drive the `estimate` source from the whole machine's CPU use and memory instead
    /// of this process's (load mode: the engine is another process on this machine).
    pub estimate_machine_wide: bool,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            period: Duration::from_millis(100),
            powercap_root: PathBuf::from("/sys/class/powercap"),
            grid_g_per_kwh: GRID_INTENSITY[0].1,
            price_usd_per_kwh: DEFAULT_PRICE_USD_PER_KWH,
            estimate_machine_wide: false,
        }
    }
}
