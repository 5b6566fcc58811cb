//! Judging one tier's answer: the confidence score its policy thresholds, and the checks
//! that escalate whatever the score. The same code judges a recorded sample (calibration)
//! and a live answer (the gateway), so a calibration predicts what the gateway does.

use serde::{Deserialize, Serialize};
pub use trilemma_core::LogprobStats;
use trilemma_core::{Outcome, SampleRecord};

use crate::config::{Policy, Signal};
use crate::{Error, Result};

/// What a tier answered, as the policy sees it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Answer {
    pub text: String,
    /// The call failed (an upstream error, a timeout): the message.
    pub error: Option<String>,
    /// Generation stopped at `max_tokens`.
    pub cut_at_length: bool,
    /// Generation: statistics of the generated tokens' log-probabilities.
    pub confidence: Option<LogprobStats>,
    /// Multiple choice: each choice's log-likelihood.
    pub choice_logprobs: Option<Vec<f64>>,
}

impl Answer {
    /// The answer a recorded sample holds (`detail.logprobs` for multiple choice,
    /// `detail.raw`, `detail.confidence` and `detail.finish` for generation, as the runner
    /// writes them).
    pub fn from_record(r: &SampleRecord) -> Self {
        let d = &r.detail;
        Self {
            // What the model said: the raw generation where the task filtered it (a
            // validity check must see what a client would), else the prediction.
            text: d
                .get("raw")
                .and_then(|t| t.as_str())
                .map_or_else(|| r.prediction.clone(), String::from),
            error: match &r.outcome {
                Outcome::Error { message } => Some(message.clone()),
                Outcome::Scored => None,
            },
            cut_at_length: d.get("finish").and_then(|f| f.as_str()) == Some("length"),
            confidence: d
                .get("confidence")
                .and_then(|c| serde_json::from_value(c.clone()).ok()),
            choice_logprobs: d
                .get("logprobs")
                .and_then(|l| serde_json::from_value::<Vec<f64>>(l.clone()).ok()),
        }
    }
}

/// Why an answer was escalated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The call failed: counted apart from quality escalations.
    Error,
    Length,
    Empty,
    InvalidJson,
    /// The signal could not be computed from this answer (e.g. a margin of a generation).
    NoSignal,
    /// The score fell below the threshold.
    LowScore,
}

impl Reason {
    pub fn name(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Length => "length",
            Self::Empty => "empty",
            Self::InvalidJson => "invalid_json",
            Self::NoSignal => "no_signal",
            Self::LowScore => "low_score",
        }
    }
}

/// The policy made executable: the signal and the checks (the JSON schema compiled once).
pub struct Judge {
    pub signal: Signal,
    require_json: bool,
    schema: Option<jsonschema::Validator>,
    escalate_on_length: bool,
    escalate_on_empty: bool,
}

impl std::fmt::Debug for Judge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Judge")
            .field("signal", &self.signal)
            .field("require_json", &self.require_json)
            .field("schema", &self.schema.is_some())
            .finish()
    }
}

impl Judge {
    pub fn new(policy: &Policy) -> Result<Self> {
        let schema = match &policy.json_schema {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                let value: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| Error::Config {
                        path: path.clone(),
                        message: format!("not JSON: {e}"),
                    })?;
                Some(Self::compile(&value).map_err(|message| Error::Config {
                    path: path.clone(),
                    message,
                })?)
            }
        };
        Ok(Self {
            signal: policy.signal,
            require_json: policy.require_json || schema.is_some(),
            schema,
            escalate_on_length: policy.escalate_on_length,
            escalate_on_empty: policy.escalate_on_empty,
        })
    }

    /// Compiles a JSON schema (a request's `response_format` schema, or the policy's).
    pub fn compile(
        schema: &serde_json::Value,
    ) -> std::result::Result<jsonschema::Validator, String> {
        jsonschema::validator_for(schema).map_err(|e| format!("not a valid JSON schema: {e}"))
    }

    /// The confidence score of an answer (higher: more confident), if the signal applies.
    pub fn score(&self, a: &Answer) -> Option<f64> {
        match self.signal {
            Signal::Margin => {
                let lp = a.choice_logprobs.as_ref()?;
                if lp.len() < 2 {
                    return None;
                }
                let mut sorted = lp.clone();
                sorted.sort_by(|x, y| y.total_cmp(x));
                Some(sorted[0] - sorted[1])
            }
            Signal::LogprobMean => a.confidence.map(|c| c.mean),
            Signal::LogprobMin => a.confidence.map(|c| c.min),
            Signal::LogprobP10 => a.confidence.map(|c| c.p10),
        }
    }

    /// The checks that escalate whatever the score, in order of precedence.
    pub fn hard_check(&self, a: &Answer, schema: Option<&jsonschema::Validator>) -> Option<Reason> {
        if a.error.is_some() {
            return Some(Reason::Error);
        }
        if self.escalate_on_length && a.cut_at_length {
            return Some(Reason::Length);
        }
        if self.escalate_on_empty && a.text.trim().is_empty() {
            return Some(Reason::Empty);
        }
        let schema = schema.or(self.schema.as_ref());
        if self.require_json || schema.is_some() {
            match serde_json::from_str::<serde_json::Value>(strip_fence(&a.text)) {
                Err(_) => return Some(Reason::InvalidJson),
                Ok(v) => {
                    if schema.is_some_and(|s| !s.is_valid(&v)) {
                        return Some(Reason::InvalidJson);
                    }
                }
            }
        }
        None
    }

    /// Accept the answer at `threshold` (`None` for the last tier, which always answers),
    /// or the reason to escalate. `schema`: a per-request schema (`response_format`).
    pub fn decide(
        &self,
        a: &Answer,
        threshold: Option<f64>,
        schema: Option<&jsonschema::Validator>,
    ) -> std::result::Result<Option<f64>, Reason> {
        let score = self.score(a);
        let Some(t) = threshold else {
            return Ok(score);
        };
        if let Some(r) = self.hard_check(a, schema) {
            return Err(r);
        }
        match score {
            None => Err(Reason::NoSignal),
            Some(s) if s >= t => Ok(Some(s)),
            Some(_) => Err(Reason::LowScore),
        }
    }
}

/// A JSON answer wrapped in a Markdown code fence is still JSON.
fn strip_fence(text: &str) -> &str {
    let t = text.trim();
    let Some(rest) = t.strip_prefix("```") else {
        return t;
    };
    let rest = rest.strip_prefix("json").unwrap_or(rest);
    rest.strip_suffix("```").unwrap_or(rest).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(signal: Signal, require_json: bool) -> Judge {
        Judge::new(&Policy {
            signal,
            require_json,
            ..Policy::default()
        })
        .unwrap()
    }

    #[test]
    fn margin_is_best_minus_second() {
        let j = judge(Signal::Margin, false);
        let a = Answer {
            text: "B".into(),
            choice_logprobs: Some(vec![-3.0, -1.0, -1.5, -9.0]),
            ..Answer::default()
        };
        assert_eq!(j.score(&a), Some(0.5));
        assert_eq!(j.decide(&a, Some(0.4), None), Ok(Some(0.5)));
        assert_eq!(j.decide(&a, Some(0.6), None), Err(Reason::LowScore));
        let gen = Answer {
            text: "42".into(),
            ..Answer::default()
        };
        assert_eq!(j.decide(&gen, Some(0.1), None), Err(Reason::NoSignal));
        assert_eq!(
            j.decide(&gen, None, None),
            Ok(None),
            "the last tier always answers"
        );
    }

    #[test]
    fn logprob_stats_and_signals() {
        let s = LogprobStats::of(&[-0.1, -2.0, -0.3, -0.2, -0.4, -0.1, -0.1, -0.5, -0.2, -0.1])
            .unwrap();
        assert!((s.mean - (-0.4)).abs() < 1e-12);
        assert_eq!((s.min, s.p10, s.n), (-2.0, -2.0, 10));
        assert_eq!(LogprobStats::of(&[]), None);
        let a = Answer {
            text: "x".into(),
            confidence: Some(s),
            ..Answer::default()
        };
        assert_eq!(judge(Signal::LogprobMin, false).score(&a), Some(-2.0));
        assert!((judge(Signal::LogprobMean, false).score(&a).unwrap() + 0.4).abs() < 1e-12);
    }

    #[test]
    fn hard_checks_escalate_whatever_the_score() {
        let j = judge(Signal::LogprobMean, true);
        let sure = Some(LogprobStats::of(&[-0.01]).unwrap());
        let mk = |text: &str, error: Option<&str>, cut: bool| Answer {
            text: text.into(),
            error: error.map(String::from),
            cut_at_length: cut,
            confidence: sure,
            choice_logprobs: None,
        };
        assert_eq!(
            j.decide(&mk("{}", Some("timeout"), false), Some(-1.0), None),
            Err(Reason::Error)
        );
        assert_eq!(
            j.decide(&mk("{\"a\":", None, true), Some(-1.0), None),
            Err(Reason::Length)
        );
        assert_eq!(
            j.decide(&mk("  ", None, false), Some(-1.0), None),
            Err(Reason::Empty)
        );
        assert_eq!(
            j.decide(&mk("not json", None, false), Some(-1.0), None),
            Err(Reason::InvalidJson)
        );
        assert!(j
            .decide(
                &mk("```json\n{\"a\": 1}\n```", None, false),
                Some(-1.0),
                None
            )
            .is_ok());
        let schema = Judge::compile(&serde_json::json!({
            "type": "object", "required": ["verdict"],
            "properties": {"verdict": {"enum": ["PASS", "FAIL"]}}
        }))
        .unwrap();
        let ok = mk("{\"verdict\": \"PASS\"}", None, false);
        let bad = mk("{\"verdict\": \"MAYBE\"}", None, false);
        assert!(j.decide(&ok, Some(-1.0), Some(&schema)).is_ok());
        assert_eq!(
            j.decide(&bad, Some(-1.0), Some(&schema)),
            Err(Reason::InvalidJson)
        );
    }

    #[test]
    fn reads_what_the_runner_records() {
        let rec: SampleRecord = serde_json::from_value(serde_json::json!({
            "sample_id": "q1", "task": "t", "outcome": {"status": "scored"},
            "prediction": "x", "gold": "x", "scores": {"acc": 1.0},
            "tokens": {"input": 10, "output": 3},
            "timing": {"start_ns": 0, "first_token_ns": null, "token_ns": [], "end_ns": 5},
            "detail": {"finish": "length", "raw": "{\"verdict\": \"x\"}",
                       "confidence": {"mean": -0.5, "min": -1.0, "p10": -1.0, "n": 3}}
        }))
        .unwrap();
        let a = Answer::from_record(&rec);
        assert_eq!(
            a.text, "{\"verdict\": \"x\"}",
            "the raw generation, not the filtered one"
        );
        assert!(a.cut_at_length);
        assert_eq!(a.confidence.unwrap().n, 3);
    }
}
