//! Resolving what a run evaluates, before anything slow starts: task names and task
//! files into loaded tasks (data packages fetched and verified), model specs into files.

use std::path::PathBuf;

use trilemma_assets::{Cache, Catalog};
use trilemma_tasks::{LoadOptions, Task};

use crate::Result;

/// The tasks a run names.
#[derive(Debug, Clone, Default)]
pub struct TaskSpec {
    /// Built-in task names (`arc-easy` when neither names nor files are given).
    pub names: Vec<String>,
    /// Custom task files (TOML).
    pub files: Vec<PathBuf>,
    pub num_fewshot: Option<usize>,
    /// Seed of the few-shot draw.
    pub seed: u64,
    /// Do not fetch missing data packages.
    pub offline: bool,
}

/// Loaded tasks, and the warnings loading them raised (rows skipped, named).
#[derive(Debug, Clone)]
pub struct LoadedTasks {
    pub tasks: Vec<Task>,
    pub warnings: Vec<String>,
}

/// Loads the tasks `spec` names. Every name is checked before anything is fetched.
pub fn load_tasks(spec: &TaskSpec, cache: &Cache, catalog: &Catalog) -> Result<LoadedTasks> {
    let names: Vec<String> = if spec.names.is_empty() && spec.files.is_empty() {
        vec!["arc-easy".to_string()]
    } else {
        spec.names.clone()
    };
    for t in &names {
        trilemma_tasks::data_set_for(t)?;
    }
    let mut tasks = Vec::new();
    let mut warnings = Vec::new();
    for f in &spec.files {
        if spec.num_fewshot.is_some_and(|k| k > 0) {
            return Err(crate::Error::Input(format!(
                "--num-fewshot is not supported for task files yet ({})",
                f.display()
            )));
        }
        let task = trilemma_tasks::load_task_file(f)?;
        if task.skipped_rows > 0 {
            warnings.push(format!(
                "{}: skipped {} rows that could not be parsed (see the log for their lines)",
                task.info.name, task.skipped_rows
            ));
        }
        tasks.push(task);
    }
    for t in &names {
        let data_set = trilemma_tasks::data_set_for(t)?;
        let package = if spec.offline {
            cache.dataset(catalog, data_set)?
        } else {
            cache.fetch_dataset(catalog.dataset(data_set)?)?
        };
        let task = trilemma_tasks::load_with(
            t,
            &package,
            &LoadOptions {
                num_fewshot: spec.num_fewshot,
                seed: spec.seed,
            },
        )?;
        if task.skipped_rows > 0 {
            warnings.push(format!(
                "{t}: skipped {} rows that could not be parsed",
                task.skipped_rows
            ));
        }
        tasks.push(task);
    }
    Ok(LoadedTasks { tasks, warnings })
}
