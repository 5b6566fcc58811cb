//! Study presets: declarative TOML files (`studies/*.toml`, shipped inside the binary),
//! typed with unknown keys refused; a user copies one, edits it and runs the copy.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::{Error, Result};

/// The presets shipped with Trilemma: file name and text.
pub const BUILTIN: [(&str, &str); 3] = [
    (
        "studies/slm-bench.toml",
        include_str!("../../../studies/slm-bench.toml"),
    ),
    (
        "studies/per.toml",
        include_str!("../../../studies/per.toml"),
    ),
    (
        "studies/slim-eval.toml",
        include_str!("../../../studies/slim-eval.toml"),
    ),
];

/// Which seed's tables a preset's report holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Seed 000: every metric family per task, medals, the leaderboard.
    SlmBench,
    /// Seed 001: PER per task, ranks, published against recomputed.
    Per,
    /// Seed 003: models x precisions, deltas, recommendations.
    SlimEval,
}

/// A budget's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BudgetName {
    Smoke,
    Standard,
    Full,
}

impl BudgetName {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "smoke" => Ok(Self::Smoke),
            "standard" => Ok(Self::Standard),
            "full" => Ok(Self::Full),
            _ => Err(Error::Input(format!(
                "--budget {s:?}: one of smoke, standard, full"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Smoke => "smoke",
            Self::Standard => "standard",
            Self::Full => "full",
        }
    }
}

/// One task of a preset.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresetTask {
    /// Trilemma's task name.
    pub name: String,
    /// The paper's name for it.
    pub paper: String,
    /// Items in the whole evaluated split (for time and disk estimates).
    pub items: usize,
    /// Rough seconds per item per GB of weights on two cores (for `study show`'s estimate).
    pub s_per_item_gb: f64,
}

/// A paper's task or axis the catalog cannot reproduce.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Uncovered {
    pub paper: String,
    pub why: String,
}

/// What a budget changes: the item limit, and optionally fewer models, tasks or precisions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Items per task (none: every item).
    pub limit: Option<usize>,
    pub models: Option<Vec<String>>,
    pub tasks: Option<Vec<String>>,
    pub quant: Option<Vec<String>>,
    /// Seconds of idle power measured first (subtracted from energy; 0 skips it).
    pub idle_baseline_s: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budgets {
    pub smoke: Budget,
    pub standard: Budget,
    pub full: Budget,
}

/// A study preset as its TOML file holds it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    pub name: String,
    pub seed: String,
    pub kind: Kind,
    pub title: String,
    pub protocol: String,
    pub models: Vec<String>,
    /// Quantization types derived from each model (empty: each file as it is).
    #[serde(default)]
    pub quant: Vec<String>,
    #[serde(default = "one")]
    pub batch_size: usize,
    #[serde(default = "default_n_ctx")]
    pub n_ctx: u32,
    #[serde(rename = "task")]
    pub tasks: Vec<PresetTask>,
    #[serde(default)]
    pub uncovered: Vec<Uncovered>,
    pub budget: Budgets,
    /// How each column's measurement differs from the paper, by column key.
    pub notes: BTreeMap<String, String>,
    /// The file it was read from (set on load).
    #[serde(skip)]
    pub file: String,
}

fn one() -> usize {
    1
}

fn default_n_ctx() -> u32 {
    4096
}

/// The 1-based line of the first line of `text` holding `needle`.
fn line_of(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}

impl Preset {
    /// Parses a preset's text; `file` names it in errors (which give line and key).
    pub fn parse(file: &str, text: &str) -> Result<Self> {
        let mut p: Preset = toml::from_str(text).map_err(|e| Error::Preset {
            file: file.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        p.file = file.to_string();
        p.check(text)?;
        Ok(p)
    }

    /// Reads a preset from a file.
    pub fn from_path(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Preset {
            file: path.display().to_string(),
            message: format!("cannot read it: {e}"),
        })?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// The budget of that name.
    pub fn budget(&self, b: BudgetName) -> &Budget {
        match b {
            BudgetName::Smoke => &self.budget.smoke,
            BudgetName::Standard => &self.budget.standard,
            BudgetName::Full => &self.budget.full,
        }
    }

    /// Checks what serde cannot: task names are built-in tasks, quantization types exist,
    /// a budget names only the preset's models and tasks.
    fn check(&self, text: &str) -> Result<()> {
        let at = |key: &str, needle: &str, message: String| Error::Preset {
            file: self.file.clone(),
            message: match line_of(text, needle) {
                Some(l) => format!("line {l}: `{key}`: {message}"),
                None => format!("`{key}`: {message}"),
            },
        };
        if self.models.is_empty() || self.tasks.is_empty() {
            return Err(at(
                "models",
                "models",
                "a study needs at least one model and one `[[task]]`".into(),
            ));
        }
        for (i, t) in self.tasks.iter().enumerate() {
            trilemma_tasks::data_set_for(&t.name).map_err(|e| {
                at(
                    &format!("task[{i}].name"),
                    &format!("\"{}\"", t.name),
                    e.to_string(),
                )
            })?;
        }
        for q in &self.quant {
            trilemma_engine_gguf::quantize::QuantType::parse(q)
                .map_err(|e| at("quant", "quant", e.to_string()))?;
        }
        if self.batch_size == 0 {
            return Err(at(
                "batch_size",
                "batch_size",
                "0 is not a batch size".into(),
            ));
        }
        for b in [BudgetName::Smoke, BudgetName::Standard, BudgetName::Full] {
            let budget = self.budget(b);
            let key = |k: &str| format!("budget.{}.{k}", b.name());
            for m in budget.models.iter().flatten() {
                if !self.models.contains(m) {
                    return Err(at(
                        &key("models"),
                        &format!("\"{m}\""),
                        format!("{m:?} is not among the preset's models"),
                    ));
                }
            }
            for t in budget.tasks.iter().flatten() {
                if !self.tasks.iter().any(|x| &x.name == t) {
                    return Err(at(
                        &key("tasks"),
                        &format!("\"{t}\""),
                        format!("{t:?} is not among the preset's tasks"),
                    ));
                }
            }
            for q in budget.quant.iter().flatten() {
                trilemma_engine_gguf::quantize::QuantType::parse(q)
                    .map_err(|e| at(&key("quant"), q, e.to_string()))?;
            }
            if budget.idle_baseline_s.is_nan() || budget.idle_baseline_s < 0.0 {
                return Err(at(
                    &key("idle_baseline_s"),
                    "idle_baseline_s",
                    "must be 0 or more seconds".into(),
                ));
            }
        }
        Ok(())
    }
}

/// Every shipped preset, parsed.
pub fn builtin() -> Result<Vec<Preset>> {
    BUILTIN.iter().map(|(f, t)| Preset::parse(f, t)).collect()
}

/// A shipped preset by name, or a preset file by path (`*.toml`).
pub fn find(name: &str) -> Result<Preset> {
    let path = Path::new(name);
    if name.ends_with(".toml") || path.is_file() {
        return Preset::from_path(path);
    }
    let all = builtin()?;
    let known: Vec<String> = all.iter().map(|p| p.name.clone()).collect();
    all.into_iter().find(|p| p.name == name).ok_or_else(|| {
        Error::Input(format!(
            "unknown study {name:?} (known: {}; or give a preset file, e.g. a copy of studies/per.toml)",
            known.join(", ")
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_presets_parse_and_are_named_like_their_files() {
        for (file, text) in BUILTIN {
            let p = Preset::parse(file, text).unwrap();
            assert_eq!(file, format!("studies/{}.toml", p.name));
            let smoke = p.budget(BudgetName::Smoke);
            assert!(
                smoke.limit.is_some_and(|l| l <= 5),
                "{file}: smoke is a few items"
            );
            assert_eq!(
                smoke.models.as_deref(),
                Some(&["smollm2-135m".to_string(), "gemma3-270m".to_string()][..]),
                "{file}: smoke runs the two small models"
            );
        }
    }

    #[test]
    fn an_unknown_key_names_file_line_and_key() {
        let text = BUILTIN[1]
            .1
            .replace("batch_size = 1", "batch_size = 1\nbatchsize = 2");
        let e = Preset::parse("my.toml", &text).unwrap_err().to_string();
        assert!(e.contains("my.toml"), "{e}");
        assert!(e.contains("batchsize"), "{e}");
        assert!(e.contains("line "), "{e}");
    }

    #[test]
    fn a_budget_naming_a_foreign_task_is_refused_with_its_line() {
        let text = BUILTIN[1].1.replace(
            "tasks = [\"arc-easy\", \"hellaswag\"]",
            "tasks = [\"boolq\"]",
        );
        let e = Preset::parse("p.toml", &text).unwrap_err().to_string();
        assert!(e.contains("budget.smoke.tasks"), "{e}");
        assert!(e.contains("boolq"), "{e}");
        assert!(e.contains("line "), "{e}");
    }

    #[test]
    fn unknown_study_lists_the_known_ones() {
        let e = find("nope").unwrap_err().to_string();
        assert!(
            e.contains("per") && e.contains("slm-bench") && e.contains("slim-eval"),
            "{e}"
        );
    }
}
