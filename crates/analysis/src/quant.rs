//! Quantization deltas against a model's highest-precision variant (seed 003, Table III).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One precision variant of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variant {
    pub model: String,
    /// Precision label (F32, F16, BF16, FP16, Q8_0, INT8, Q4_K_M, INT4, ...).
    pub precision: String,
    /// Latency per query, any unit shared by the variants.
    pub latency: f64,
    pub memory: f64,
    pub energy: Option<f64>,
    /// Accuracy per task.
    pub accuracy: BTreeMap<String, f64>,
}

/// Seed 003 Table III's columns for one variant against its model's baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    pub model: String,
    pub precision: String,
    pub baseline: String,
    /// Baseline latency / variant latency (above 1 = faster).
    pub speedup: f64,
    /// (baseline - variant) / baseline x 100: negative means more memory.
    pub memory_change_pct: f64,
    /// (baseline - variant) / baseline x 100.
    pub energy_reduction_pct: Option<f64>,
    /// (variant - baseline) / baseline x 100 per task, Table III's "drop" (negative = worse).
    pub accuracy_drop_pct: BTreeMap<String, f64>,
}

/// Bits per weight a precision label stands for (roughly; used only to order variants).
pub fn precision_bits(label: &str) -> Option<f64> {
    let l = label.to_ascii_uppercase();
    let l = l.trim_start_matches("MOSTLY_");
    if l.starts_with("F32") || l.starts_with("FP32") {
        return Some(32.0);
    }
    if l.starts_with("F16") || l.starts_with("FP16") || l.starts_with("BF16") {
        return Some(16.0);
    }
    let digits = ["INT", "IQ", "TQ", "Q"]
        .iter()
        .find_map(|p| l.strip_prefix(p))?;
    let n: String = digits.chars().take_while(|c| c.is_ascii_digit()).collect();
    n.parse::<f64>().ok()
}

fn pct(base: f64, v: f64) -> f64 {
    (base - v) / base * 100.0
}

/// Deltas of every variant against the highest-precision variant of the same model.
/// Models with a single variant have no deltas.
pub fn deltas(variants: &[Variant]) -> Result<Vec<Delta>> {
    let mut by_model: BTreeMap<&str, Vec<&Variant>> = BTreeMap::new();
    for v in variants {
        if precision_bits(&v.precision).is_none() {
            return Err(Error::Invalid {
                what: format!("{} {}", v.model, v.precision),
                reason: "unknown precision label".into(),
            });
        }
        by_model.entry(&v.model).or_default().push(v);
    }
    let mut out = Vec::new();
    for vs in by_model.values() {
        let base = vs
            .iter()
            .copied()
            .max_by(|a, b| {
                precision_bits(&a.precision)
                    .unwrap_or(0.0)
                    .total_cmp(&precision_bits(&b.precision).unwrap_or(0.0))
            })
            .ok_or_else(|| Error::Invalid {
                what: "quantization deltas".into(),
                reason: "empty model group".into(),
            })?;
        for v in vs.iter().filter(|v| !std::ptr::eq(**v, base)) {
            if v.latency <= 0.0 || base.latency <= 0.0 || base.memory == 0.0 {
                return Err(Error::Invalid {
                    what: format!("{} {}", v.model, v.precision),
                    reason: "latency and baseline memory must be above 0".into(),
                });
            }
            let energy_reduction_pct = match (base.energy, v.energy) {
                (Some(b), Some(e)) if b > 0.0 => Some(pct(b, e)),
                _ => None,
            };
            let accuracy_drop_pct = v
                .accuracy
                .iter()
                .filter_map(|(task, a)| {
                    let b = *base.accuracy.get(task)?;
                    (b != 0.0).then(|| (task.clone(), (a - b) / b * 100.0))
                })
                .collect();
            out.push(Delta {
                model: v.model.clone(),
                precision: v.precision.clone(),
                baseline: base.precision.clone(),
                speedup: base.latency / v.latency,
                memory_change_pct: pct(base.memory, v.memory),
                energy_reduction_pct,
                accuracy_drop_pct,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_order() {
        assert_eq!(precision_bits("F16"), Some(16.0));
        assert_eq!(precision_bits("Q4_K_M"), Some(4.0));
        assert_eq!(precision_bits("INT8"), Some(8.0));
        assert_eq!(precision_bits("MOSTLY_Q8_0"), Some(8.0));
        assert_eq!(precision_bits("weird"), None);
    }
}
