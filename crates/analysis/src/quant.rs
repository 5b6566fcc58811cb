//! Quantization deltas against a model's highest-precision variant (seed 003, Table III).
//!
//! Variants are compared only within one source: whatever the caller knows makes them
//! one model's (a report's lineage of file hashes; a published table's model column),
//! never a name that merely looks the same.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One precision variant of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variant {
    /// The model as a table shows it.
    pub model: String,
    /// What makes variants one model's: only variants of the same source are compared.
    pub source: String,
    /// Precision label (F32, F16, BF16, FP16, Q8_0, INT8, Q4_K_M, INT4, ...).
    pub precision: String,
    /// The precision of the file this variant was derived from, when it was derived
    /// (shown beside its precision: a variant holds no more than its source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub derived_from: Option<String>,
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

/// A variant's precision as tables show it.
fn shown(v: &Variant) -> String {
    match &v.derived_from {
        Some(src) => format!("{} (derived from {src})", v.precision),
        None => v.precision.clone(),
    }
}

/// Deltas of every variant against the highest-precision variant of the same source, in
/// the order sources first appear. A variant of the baseline's own precision has no
/// delta (two files of one precision are not a quantization step), so a source with a
/// single precision has no rows.
pub fn deltas(variants: &[Variant]) -> Result<Vec<Delta>> {
    let mut by_source: Vec<(&str, Vec<&Variant>)> = Vec::new();
    for v in variants {
        if precision_bits(&v.precision).is_none() {
            return Err(Error::Invalid {
                what: format!("{} {}", v.model, v.precision),
                reason: "unknown precision label".into(),
            });
        }
        match by_source.iter_mut().find(|(s, _)| *s == v.source) {
            Some((_, vs)) => vs.push(v),
            None => by_source.push((&v.source, vec![v])),
        }
    }
    let mut out = Vec::new();
    for (_, vs) in &by_source {
        let base = vs
            .iter()
            .copied()
            .reduce(|best, v| {
                // The first of the most precise stays the baseline.
                let bits = |x: &Variant| precision_bits(&x.precision).unwrap_or(0.0);
                if bits(v) > bits(best) {
                    v
                } else {
                    best
                }
            })
            .ok_or_else(|| Error::Invalid {
                what: "quantization deltas".into(),
                reason: "empty model group".into(),
            })?;
        let steps = vs
            .iter()
            .filter(|v| !v.precision.eq_ignore_ascii_case(&base.precision));
        for v in steps {
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
                model: base.model.clone(),
                precision: shown(v),
                baseline: shown(base),
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

    fn v(model: &str, source: &str, precision: &str, latency: f64) -> Variant {
        Variant {
            model: model.into(),
            source: source.into(),
            precision: precision.into(),
            derived_from: None,
            latency,
            memory: 100.0 / latency,
            energy: None,
            accuracy: BTreeMap::from([("t".to_string(), 0.5)]),
        }
    }

    #[test]
    fn variants_are_compared_within_a_source_and_only_across_precisions() {
        let d = deltas(&[
            // Two different models that happen to share a name.
            v("model", "a", "Q4_K_M", 1.0),
            v("model", "b", "Q4_K_M", 2.0),
            // One model at two precisions, and a second file at the baseline's.
            v("qwen", "c", "Q8_0", 2.0),
            v("qwen", "c", "Q4_K_M", 1.0),
            v("qwen", "c", "q8_0", 1.5),
        ])
        .unwrap();
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(
            (
                d[0].model.as_str(),
                d[0].precision.as_str(),
                d[0].baseline.as_str()
            ),
            ("qwen", "Q4_K_M", "Q8_0")
        );
        assert!((d[0].speedup - 2.0).abs() < 1e-12);
        let mut derived = v("m", "s", "Q4_0", 1.0);
        derived.derived_from = Some("Q4_1".into());
        let d = deltas(&[v("m", "s", "Q4_1", 1.0), derived]).unwrap();
        assert_eq!(d[0].precision, "Q4_0 (derived from Q4_1)");
        assert_eq!(d[0].baseline, "Q4_1");
    }

    #[test]
    fn precision_order() {
        assert_eq!(precision_bits("F16"), Some(16.0));
        assert_eq!(precision_bits("Q4_K_M"), Some(4.0));
        assert_eq!(precision_bits("INT8"), Some(8.0));
        assert_eq!(precision_bits("MOSTLY_Q8_0"), Some(8.0));
        assert_eq!(precision_bits("weird"), None);
    }
}
