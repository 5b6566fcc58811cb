//! Assembling a report: runs split into (task, hardware, setting) groups, provenance, and
//! serving points from load files.

use trilemma_core::EnergySource;

use super::group::build_group;
use super::identity::{identify, Identity};
use super::{EnergyProvenance, Provenance, Report, RunEntry};
use crate::serving::ServingPoint;
use crate::{Error, Result};

fn provenance(run: &RunEntry, id: &Identity) -> Provenance {
    let s = &run.summary;
    Provenance {
        run_id: s.run_id.clone(),
        model: id.name.clone(),
        model_sha256: id.file.clone(),
        dir: run.dir.display().to_string(),
        task: s.task.clone(),
        engine: s.engine.clone(),
        hardware: s.hardware.clone(),
        repeats: s.repeats,
        samples: s.samples,
        errors: s.errors,
        truncated: s.truncated,
        partial: s.partial,
        started_at: s.started_at.clone(),
        finished_at: s.finished_at.clone(),
        memory_method: s.memory.as_ref().map(|m| m.method.clone()),
        energy: s
            .energy
            .iter()
            .map(|e| EnergyProvenance {
                source: e.source.label().to_string(),
                is_estimate: e.source == EnergySource::Estimate,
                domains: e.domains.clone(),
                window_s: e.window_s,
                idle_w: e.idle_w,
                idle_window_s: e.idle_window_s,
                net_j: e.net_j,
                attribution: serde_json::to_value(e.attribution)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                method: e.method.clone(),
            })
            .collect(),
        manifest: run.manifest.clone(),
    }
}

/// What was evaluated, from a run's manifest: the item limit and the few-shot count.
fn setting_of(r: &RunEntry) -> String {
    let m = r.manifest.as_ref();
    let limit = m
        .and_then(|m| m.settings.limit)
        .map_or("all items".to_string(), |n| format!("first {n} items"));
    let shots = m.map_or(String::new(), |m| format!(", {}-shot", m.task.num_fewshot));
    format!("{limit}{shots}")
}

/// Builds the report: one group per (task, hardware, setting), in first-seen order.
pub fn build(runs: &[RunEntry]) -> Result<Report> {
    if runs.is_empty() {
        return Err(Error::Invalid {
            what: "report".into(),
            reason: "no runs".into(),
        });
    }
    let key = |r: &RunEntry| {
        (
            r.summary.task.clone(),
            r.summary.hardware.clone(),
            setting_of(r),
        )
    };
    let ids = identify(runs);
    let mut keys: Vec<(String, String, String)> = Vec::new();
    for r in runs {
        let k = key(r);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let groups = keys
        .iter()
        .map(|k| {
            let members: Vec<(&RunEntry, &Identity)> = runs
                .iter()
                .zip(&ids)
                .filter(|(r, _)| &key(r) == k)
                .collect();
            let mut g = build_group(&members)?;
            // Name the setting only where it tells groups of one task and hardware apart.
            if keys.iter().any(|o| o.0 == k.0 && o.1 == k.1 && o.2 != k.2) {
                g.setting = k.2.clone();
            }
            Ok(g)
        })
        .collect::<Result<Vec<_>>>()?;
    let note = if groups.len() > 1 {
        format!(
            "{} groups: runs are compared (and min-max normalised) only within one task, one hardware label and one evaluation setting (items, few-shot).",
            groups.len()
        )
    } else {
        "One group: every run has the same task and hardware label.".to_string()
    };
    Ok(Report {
        note,
        groups,
        provenance: runs
            .iter()
            .zip(&ids)
            .map(|(r, id)| provenance(r, id))
            .collect(),
        serving: Vec::new(),
    })
}

/// [`build`] over run directories (there may be none) and the points of load files,
/// whose energy-latency front is marked.
pub fn build_with_serving(runs: &[RunEntry], mut serving: Vec<ServingPoint>) -> Result<Report> {
    crate::serving::mark_frontier(&mut serving)?;
    let mut r = if runs.is_empty() && !serving.is_empty() {
        Report {
            note: "Serving under load only: no evaluation runs were given.".into(),
            groups: Vec::new(),
            provenance: Vec::new(),
            serving: Vec::new(),
        }
    } else {
        build(runs)?
    };
    r.serving = serving;
    Ok(r)
}
