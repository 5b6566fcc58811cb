//! Benchmark tasks: what to ask a model, and how to score its answer.
//!
//! A task is data + a prompt + an output type + a scorer. Items are loaded from
//! pinned packages (see `trilemma-assets`) and scored per sample, so that every
//! aggregate can be bootstrapped from the per-sample values.

mod arrow;
mod custom;
mod error;
mod filters;
mod gsm8k;
mod halueval;
mod hf;
mod langtest;
mod olmo;
mod registry;
mod score;
mod task;
mod wheel;

pub use custom::load_task_file;
pub use error::{Error, Result};
pub use filters::{apply_filters, FilterStep};
pub use gsm8k::{extract_flexible, extract_strict, normalize_answer};
pub use registry::{data_set_for, load, load_with, BUILTIN};
pub use score::{
    norm_lengths, read_json_label, read_label, score_generation, score_generation_with,
    score_multiple_choice, score_multiple_choice_with, score_rolling, ItemScore, ERROR_LABEL,
    PERPLEXITY_METRICS,
};
pub use task::{Item, LoadOptions, OutputType, Task, TaskInfo};
pub(crate) use wheel::{list_members, member_path, read_member};
