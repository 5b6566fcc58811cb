//! A study's plan: the preset under a budget, with the user's model and task choices,
//! checked before anything runs (names, files, disk), with its runs and a time estimate.

use std::path::{Path, PathBuf};

use trilemma_assets::{Cache, Catalog};
use trilemma_engine_gguf::quantize::{self, QuantType};

use crate::preset::{BudgetName, Preset};
use crate::{Error, Result};

/// What a user asks of a study (the binary builds it from flags).
#[derive(Debug, Clone)]
pub struct StudyRequest {
    /// Models instead of the budget's (catalog names or GGUF paths); empty: the budget's.
    pub models: Vec<String>,
    /// Tasks instead of the budget's (each one of the preset's); empty: the budget's.
    pub tasks: Vec<String>,
    pub budget: BudgetName,
    /// Where the study's runs and report go (default `runs/study-NAME-BUDGET`).
    pub out: Option<PathBuf>,
}

/// A study ready to run.
#[derive(Debug, Clone)]
pub struct StudyPlan {
    pub preset: Preset,
    pub budget: BudgetName,
    pub models: Vec<String>,
    pub tasks: Vec<String>,
    pub quant: Vec<QuantType>,
    pub limit: Option<usize>,
    pub idle_baseline_s: f64,
    pub out: PathBuf,
    /// Runs the study makes: model files x tasks.
    pub runs: usize,
    /// Items over all runs.
    pub items: usize,
    /// Rough wall time on this machine, seconds.
    pub estimate_s: f64,
    /// Bytes the study would add to the cache (models to fetch, variants to derive).
    pub disk_needed: u64,
    /// Bytes free where the cache is.
    pub disk_free: u64,
}

const GB: f64 = 1e9;

/// Bits per weight of a GGUF file type (for sizing derived variants).
fn bits_of_file(path: &Path) -> Option<f64> {
    let ftype = quantize::file_type(path)?;
    // The label of the file's type, as llama.cpp names it (`Q4_K_M`).
    let label = QuantType { name: "", ftype }.label();
    trilemma_analysis::quant::precision_bits(&label)
}

/// A model's weights: size in bytes, whether it is cached, its bits per weight.
struct ModelSize {
    bytes: u64,
    cached: bool,
    bits: Option<f64>,
    sha256: Option<String>,
}

fn model_size(spec: &str, cache: &Cache, catalog: &Catalog) -> Result<ModelSize> {
    match catalog.model(spec) {
        Ok(asset) => {
            let path = cache.model_path(spec);
            let cached = path.is_file();
            Ok(ModelSize {
                bytes: asset.bytes,
                cached,
                bits: if cached { bits_of_file(&path) } else { None },
                sha256: Some(asset.sha256.clone()),
            })
        }
        Err(_) => {
            let path = Path::new(spec);
            let bytes = std::fs::metadata(path)
                .map(|m| m.len())
                .map_err(|e| Error::Input(format!("model {spec}: cannot read it ({e})")))?;
            Ok(ModelSize {
                bytes,
                cached: true,
                bits: bits_of_file(path),
                sha256: None,
            })
        }
    }
}

/// Checks the request against the preset and the machine, and plans the study.
pub fn plan(preset: &Preset, req: &StudyRequest, cache: &Cache) -> Result<StudyPlan> {
    let catalog = Catalog::builtin();
    let budget = preset.budget(req.budget);
    let models: Vec<String> = if req.models.is_empty() {
        budget
            .models
            .clone()
            .unwrap_or_else(|| preset.models.clone())
    } else {
        req.models.clone()
    };
    for m in &models {
        if m.starts_with("http://") || m.starts_with("https://") {
            return Err(Error::Input(format!(
                "--models {m}: study {} cannot use a served model: it runs the embedded engine on local GGUF files, whose memory and energy this process meters{}",
                preset.name,
                if preset.quant.is_empty() { "" } else { " and which it quantizes" }
            )));
        }
        trilemma_runner::open::check_spec(m).map_err(|e| {
            Error::Input(format!(
                "--models {m}: study {} cannot use it: {e}",
                preset.name
            ))
        })?;
    }
    let tasks: Vec<String> = if req.tasks.is_empty() {
        budget
            .tasks
            .clone()
            .unwrap_or_else(|| preset.tasks.iter().map(|t| t.name.clone()).collect())
    } else {
        req.tasks.clone()
    };
    for t in &tasks {
        if !preset.tasks.iter().any(|p| &p.name == t) {
            let covered: Vec<String> = preset
                .tasks
                .iter()
                .map(|p| format!("{} ({})", p.name, p.paper))
                .collect();
            return Err(Error::Input(format!(
                "--tasks {t}: study {} cannot use it: seed {}'s tables have rows for {} only{}",
                preset.name,
                preset.seed,
                covered.join(", "),
                if trilemma_tasks::data_set_for(t).is_ok() {
                    " (run it with `trilemma run` or `trilemma sweep` instead)"
                } else {
                    " (and it is not a built-in task)"
                }
            )));
        }
    }
    let quant_names = budget.quant.clone().unwrap_or_else(|| preset.quant.clone());
    let quant: Vec<QuantType> = quant_names
        .iter()
        .map(|q| QuantType::parse(q))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::Input(format!("{}: quant: {e}", preset.file)))?;
    let limit = budget.limit;
    let out = req.out.clone().unwrap_or_else(|| {
        PathBuf::from("runs").join(format!("study-{}-{}", preset.name, req.budget.name()))
    });

    // Sizes, disk and time.
    let derived_dir = cache.root().join("models").join("derived");
    let mut disk_needed = 0u64;
    let mut estimate_s = 0.0;
    let mut items = 0usize;
    let mut runs = 0usize;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as f64;
    for m in &models {
        let size = model_size(m, cache, &catalog)?;
        if !size.cached {
            disk_needed += size.bytes;
        }
        let files: Vec<f64> = if quant.is_empty() {
            vec![size.bytes as f64]
        } else {
            quant
                .iter()
                .map(|q| {
                    let target_bits =
                        trilemma_analysis::quant::precision_bits(q.name).unwrap_or(16.0);
                    let est = size.bytes as f64 * target_bits / size.bits.unwrap_or(4.5);
                    let cached = size
                        .sha256
                        .as_deref()
                        .is_some_and(|sha| quantize::derived_path(&derived_dir, sha, *q).is_file());
                    if !cached {
                        disk_needed += est as u64;
                    }
                    est
                })
                .collect()
        };
        for bytes in files {
            for t in &tasks {
                let pt = preset.tasks.iter().find(|p| &p.name == t);
                let n = pt.map_or(0, |p| limit.map_or(p.items, |l| l.min(p.items)));
                let per_item = pt.map_or(1.0, |p| p.s_per_item_gb) * bytes / GB * 2.0 / cores;
                estimate_s += n as f64 * per_item + 2.0;
                items += n;
                runs += 1;
            }
        }
    }
    estimate_s += budget.idle_baseline_s;
    // Each item's record and the summaries: a few KB.
    disk_needed += items as u64 * 4096;
    std::fs::create_dir_all(cache.root()).map_err(|e| {
        Error::Input(format!(
            "cache {}: cannot create it ({e})",
            cache.root().display()
        ))
    })?;
    let disk_free = fs2::available_space(cache.root()).map_err(|e| {
        Error::Input(format!(
            "cache {}: cannot read its free space ({e})",
            cache.root().display()
        ))
    })?;
    check_disk(
        disk_needed,
        disk_free,
        &format!("budget {} of study {}", req.budget.name(), preset.name),
        cache.root(),
    )?;
    Ok(StudyPlan {
        preset: preset.clone(),
        budget: req.budget,
        models,
        tasks,
        quant,
        limit,
        idle_baseline_s: budget.idle_baseline_s,
        out,
        runs,
        items,
        estimate_s,
        disk_needed,
        disk_free,
    })
}

impl StudyPlan {
    /// The protocol in words, the runs it will make and the estimate (`study show`).
    pub fn describe(&self) -> String {
        let p = &self.preset;
        let mut s = format!(
            "{} (seed {}): {}\n\n{}\n\nbudget {}: {} model(s) x {} task(s){} = {} runs, {} items{}\n",
            p.name,
            p.seed,
            p.title,
            p.protocol.trim(),
            self.budget.name(),
            self.models.len(),
            self.tasks.len(),
            if self.quant.is_empty() {
                String::new()
            } else {
                format!(
                    " x {} precision(s) ({})",
                    self.quant.len(),
                    self.quant.iter().map(|q| q.name).collect::<Vec<_>>().join(", ")
                )
            },
            self.runs,
            self.items,
            self.limit
                .map_or(", every item".to_string(), |l| format!(", at most {l} per task")),
        );
        s.push_str(&format!("models: {}\n", self.models.join(", ")));
        for t in &self.tasks {
            if let Some(pt) = p.tasks.iter().find(|x| &x.name == t) {
                s.push_str(&format!("task {t}: the paper's {}\n", pt.paper));
            }
        }
        for u in &p.uncovered {
            s.push_str(&format!("not reproduced: {} ({})\n", u.paper, u.why));
        }
        s.push_str(&format!(
            "estimate on this machine: about {} (rough: from per-item costs per GB of weights in {}); adds about {:.2} GB to the cache ({:.1} GB free)\nresults: {}\n",
            human(self.estimate_s),
            p.file,
            self.disk_needed as f64 / GB,
            self.disk_free as f64 / GB,
            self.out.display()
        ));
        s
    }
}

/// Refuses a study that would need more of the cache's disk than is free.
pub fn check_disk(needed: u64, free: u64, what: &str, root: &Path) -> Result<()> {
    if needed > free {
        return Err(Error::Input(format!(
            "{what} needs about {:.2} GB in the cache {} (models to fetch, variants to derive, results) but {:.2} GB are free; choose a smaller budget, fewer --models, or free space",
            needed as f64 / GB,
            root.display(),
            free as f64 / GB
        )));
    }
    Ok(())
}

/// `1h02m`, `3m05s` or `12s`.
pub fn human(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_over_the_free_disk_is_refused_with_both_figures() {
        let e = check_disk(
            3_000_000_000,
            1_000_000_000,
            "budget full of study slim-eval",
            Path::new("/c"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("budget full of study slim-eval"), "{e}");
        assert!(
            e.contains("3.00 GB") && e.contains("1.00 GB") && e.contains("/c"),
            "{e}"
        );
        assert!(check_disk(1, 1, "x", Path::new("/c")).is_ok());
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(human(12.4), "12s");
        assert_eq!(human(185.0), "3m05s");
        assert_eq!(human(3720.0), "1h02m");
    }
}
