//! The report as CSV: one row per run.

use super::{opt, Report};
use crate::{Error, Result};

/// One CSV row per run, with its group's task and hardware.
pub fn to_csv(r: &Report) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| Error::Invalid {
        what: "report CSV".into(),
        reason: e.to_string(),
    };
    w.write_record([
        "task",
        "hardware",
        "name",
        "run_id",
        "batch_size",
        "accuracy",
        "latency_s",
        "throughput",
        "memory_mb",
        "energy_j",
        "energy_source",
        "co2_g",
        "cost_usd",
        "per",
        "gold",
        "silver",
        "bronze",
        "pareto",
    ])
    .map_err(err)?;
    for g in &r.groups {
        for row in &g.rows {
            w.write_record([
                g.task.clone(),
                g.hardware.clone(),
                row.label.clone(),
                row.run_id.clone(),
                row.batch_size.to_string(),
                format!("{:.6}", row.accuracy),
                format!("{:.6}", row.latency_s),
                format!("{:.4}", row.per_throughput),
                opt(row.memory_mb, 1).replace('-', ""),
                opt(row.energy_j, 6).replace('-', ""),
                row.energy_source.clone().unwrap_or_default(),
                opt(row.co2_g, 9).replace('-', ""),
                opt(row.cost_usd, 12).replace('-', ""),
                opt(row.per, 4).replace('-', ""),
                row.medals.gold.to_string(),
                row.medals.silver.to_string(),
                row.medals.bronze.to_string(),
                row.frontiers.all_axes.to_string(),
            ])
            .map_err(err)?;
        }
    }
    let bytes = w.into_inner().map_err(|e| Error::Invalid {
        what: "report CSV".into(),
        reason: e.to_string(),
    })?;
    String::from_utf8(bytes).map_err(|e| Error::Invalid {
        what: "report CSV".into(),
        reason: e.to_string(),
    })
}
