//! Trade-off analysis over stored results or plain tables: PER (seed 001), OM (seed 004),
//! Pareto frontiers, medals (seed 000), quantization deltas (seed 003 Table III),
//! recommendations per objective, reports from run directories, and paired comparisons
//! of two runs (or of a run and lm-evaluation-harness's samples).

pub mod compare;
pub mod error;
pub mod lm_eval;
pub mod pareto;
pub mod quant;
pub mod recommend;
pub mod report;
pub mod score;
pub mod serving;
pub mod study;
pub mod table;

pub use error::{Error, Result};
pub use pareto::{non_dominated, pareto_2d};
pub use score::{medals, min_max, om, per, weight_grid, Direction, Medals, OmWeights};
pub use table::Table;
