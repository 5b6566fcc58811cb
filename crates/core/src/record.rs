//! What one sample of a run produced: its outcome, scores, token counts and timings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::clock::MonoNs;

/// Monotonic timestamps of one request, in nanoseconds on [`crate::clock`].
///
/// Every latency figure is derived from these raw stamps; nothing else is stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestTiming {
    pub start_ns: MonoNs,
    /// When the first output token was available (generation only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_token_ns: Option<MonoNs>,
    /// When each output token was available, in order (generation only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_ns: Vec<MonoNs>,
    pub end_ns: MonoNs,
}

impl RequestTiming {
    /// End-to-end latency in seconds.
    pub fn e2e_s(&self) -> f64 {
        self.end_ns.saturating_sub(self.start_ns) as f64 / 1e9
    }

    /// Time to first token in seconds, when the request generated tokens.
    pub fn ttft_s(&self) -> Option<f64> {
        self.first_token_ns
            .map(|t| t.saturating_sub(self.start_ns) as f64 / 1e9)
    }

    /// Gaps between consecutive output tokens, in seconds (inter-token latency).
    pub fn itl_s(&self) -> Vec<f64> {
        self.token_ns
            .windows(2)
            .map(|w| w[1].saturating_sub(w[0]) as f64 / 1e9)
            .collect()
    }

    /// Decode latency: from the first output token to the end, in seconds.
    pub fn decode_s(&self) -> Option<f64> {
        self.first_token_ns
            .map(|t| self.end_ns.saturating_sub(t) as f64 / 1e9)
    }

    /// Time per output token after the first (decode latency / tokens), in seconds.
    pub fn tpot_s(&self) -> Option<f64> {
        let first = self.first_token_ns?;
        let n = self.token_ns.len();
        (n > 1).then(|| self.end_ns.saturating_sub(first) as f64 / 1e9 / (n - 1) as f64)
    }
}

/// Tokens a sample consumed and produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenCounts {
    /// Tokens the engine evaluated as input (context and scored continuations).
    pub input: u64,
    /// Tokens the engine generated.
    pub output: u64,
}

/// Prompt tokens an engine dropped so that a request fits its context: the oldest ones,
/// as lm-evaluation-harness keeps only the newest `max_length` tokens. A sample that was
/// cut carries it in `samples.jsonl` as `detail.truncated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Truncation {
    /// Prompt tokens before the cut.
    pub prompt_tokens: u32,
    /// The oldest of them, dropped.
    pub tokens_dropped: u32,
}

impl Truncation {
    /// The key of a sample's `detail` that holds it.
    pub const DETAIL_KEY: &'static str = "truncated";

    /// Marks a sample's detail as truncated.
    pub fn mark(self, detail: &mut serde_json::Value) {
        if let Ok(v) = serde_json::to_value(self) {
            detail[Self::DETAIL_KEY] = v;
        }
    }

    /// The truncation a sample record is marked with, if any.
    pub fn of_record(r: &SampleRecord) -> Option<Self> {
        serde_json::from_value(r.detail.get(Self::DETAIL_KEY)?.clone()).ok()
    }
}

/// Whether a sample was scored, or why it was not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Scored,
    Error { message: String },
}

/// Where an energy figure came from. Figures from different sources are never summed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnergySource {
    /// NVML total-energy counter (Volta and newer).
    NvmlCounter,
    /// NVML power samples integrated over time.
    NvmlPower,
    /// Linux powercap RAPL counters (CPU package + DRAM).
    Rapl,
    /// A power model (TDP x utilisation); never a measurement.
    Estimate,
}

impl EnergySource {
    pub fn label(self) -> &'static str {
        match self {
            Self::NvmlCounter => "nvml-counter",
            Self::NvmlPower => "nvml-power",
            Self::Rapl => "rapl",
            Self::Estimate => "estimate",
        }
    }

    /// True when the figure is read from a hardware counter or sensor.
    pub fn is_measurement(self) -> bool {
        !matches!(self, Self::Estimate)
    }
}

impl std::fmt::Display for EnergySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// One line of a run's `samples.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRecord {
    /// The task's own id for the item (e.g. ARC's `Mercury_417466`).
    pub sample_id: String,
    pub task: String,
    /// Which repeat of the run produced this record (0-based).
    #[serde(default)]
    pub repeat: u32,
    /// Which process session wrote it (a resumed run starts a new session); monotonic
    /// timestamps are only comparable within one session.
    #[serde(default)]
    pub session: u32,
    pub outcome: Outcome,
    /// What the model answered (generated text, or the chosen choice's text).
    pub prediction: String,
    /// The reference answer.
    pub gold: String,
    /// Per-sample metric values, by metric name (e.g. `acc`, `acc_norm`, `exact_match`).
    pub scores: BTreeMap<String, f64>,
    pub tokens: TokenCounts,
    pub timing: RequestTiming,
    /// Task-specific detail (per-choice log-likelihoods, extracted answer, ...).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub detail: serde_json::Value,
}

impl SampleRecord {
    pub fn is_scored(&self) -> bool {
        matches!(self.outcome, Outcome::Scored)
    }
}

/// Statistics of the log-probabilities of generated tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LogprobStats {
    pub mean: f64,
    pub min: f64,
    /// 10th percentile (nearest rank).
    pub p10: f64,
    pub n: usize,
}

impl LogprobStats {
    /// `None` for no tokens.
    pub fn of(logprobs: &[f64]) -> Option<Self> {
        if logprobs.is_empty() {
            return None;
        }
        let mut sorted = logprobs.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank = ((sorted.len() as f64) * 0.1).ceil().max(1.0) as usize - 1;
        Some(Self {
            mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
            min: sorted[0],
            p10: sorted[rank],
            n: sorted.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_derives_ttft_itl_tpot() {
        let t = RequestTiming {
            start_ns: 1_000,
            first_token_ns: Some(101_000),
            token_ns: vec![101_000, 111_000, 131_000],
            end_ns: 131_000,
        };
        assert!((t.ttft_s().unwrap() - 100e-6).abs() < 1e-12);
        assert_eq!(t.itl_s().len(), 2);
        assert!((t.itl_s()[1] - 20e-6).abs() < 1e-12);
        assert!((t.tpot_s().unwrap() - 15e-6).abs() < 1e-12);
        assert!((t.e2e_s() - 130e-6).abs() < 1e-12);
    }

    #[test]
    fn record_round_trips_through_json() {
        let r = SampleRecord {
            sample_id: "x1".into(),
            task: "arc-easy".into(),
            repeat: 0,
            session: 0,
            outcome: Outcome::Error {
                message: "bad".into(),
            },
            prediction: String::new(),
            gold: "A".into(),
            scores: BTreeMap::from([("acc".to_string(), 0.0)]),
            tokens: TokenCounts {
                input: 3,
                output: 0,
            },
            timing: RequestTiming::default(),
            detail: serde_json::Value::Null,
        };
        let line = serde_json::to_string(&r).unwrap();
        assert!(line.contains(r#""status":"error""#), "{line}");
        let back: SampleRecord = serde_json::from_str(&line).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn a_truncated_sample_is_marked_and_counted() {
        let mut r: SampleRecord = serde_json::from_str(
            r#"{"sample_id":"x","task":"t","outcome":{"status":"scored"},"prediction":"",
                "gold":"","scores":{},"tokens":{"input":1,"output":0},
                "timing":{"start_ns":0,"end_ns":0}}"#,
        )
        .unwrap();
        assert_eq!(
            Truncation::of_record(&r),
            None,
            "a record of old reads unmarked"
        );
        let cut = Truncation {
            prompt_tokens: 200,
            tokens_dropped: 150,
        };
        cut.mark(&mut r.detail);
        let line = serde_json::to_string(&r).unwrap();
        assert!(
            line.contains(r#""truncated":{"prompt_tokens":200,"tokens_dropped":150}"#),
            "{line}"
        );
        let back: SampleRecord = serde_json::from_str(&line).unwrap();
        assert_eq!(Truncation::of_record(&back), Some(cut));

        let other = Truncation {
            prompt_tokens: 100,
            tokens_dropped: 10,
        };
        let s = crate::TruncationSummary::of(&[cut, other]).unwrap();
        assert_eq!(
            (s.samples, s.tokens_dropped, s.max_tokens_dropped),
            (2, 160, 150)
        );
        // (150/200 + 10/100) / 2
        assert!((s.mean_share_dropped - 0.425).abs() < 1e-12);
        assert_eq!(
            s.to_string(),
            "2 samples truncated to fit the context, the oldest prompt tokens dropped: 160 in all, at most 150 from one sample, 42% of a truncated prompt on average"
        );
        assert_eq!(crate::TruncationSummary::of(&[]), None);
    }

    #[test]
    fn energy_source_labels() {
        assert_eq!(EnergySource::NvmlCounter.to_string(), "nvml-counter");
        assert_eq!(
            serde_json::to_string(&EnergySource::Estimate).unwrap(),
            "\"estimate\""
        );
        assert!(!EnergySource::Estimate.is_measurement());
    }
}
