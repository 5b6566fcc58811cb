//! `cascade.toml`: the tiers, cheapest first, and the escalation policy.
//!
//! ```toml
//! [[tier]]
//! name = "small"
//! model = "smollm2-135m"          # a catalog name or a GGUF path
//! threads = 2
//!
//! [[tier]]
//! name = "large"
//! url = "http://127.0.0.1:8080/v1" # an OpenAI-compatible upstream
//! served_model = "qwen"
//! api_key_env = "UPSTREAM_KEY"
//! cost = { usd_per_mtok = 0.15 }
//!
//! [policy]
//! signal = "margin"               # the score a tier's answer is judged by
//! thresholds = [0.8]              # one per tier but the last; accept when score >= threshold
//! require_json = false
//! escalate_on_length = true
//!
//! [[rule]]                        # sent straight to a tier, before any tier answers
//! pattern = "(?i)dosage|diagnos"
//! tier = "large"
//!
//! [[rule]]                        # an input guard: refused, no tier called
//! pattern = "(?i)ignore (all )?previous instructions"
//! refuse = true
//! ```
//!
//! A policy is a score (the signal) and thresholds kept apart, so that calibration can sweep
//! the thresholds offline on recorded runs and `serve --cascade` can read the result.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A whole cascade file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CascadeConfig {
    /// Ordered tiers, cheapest first; the last one answers whatever reaches it.
    #[serde(rename = "tier")]
    pub tiers: Vec<Tier>,
    #[serde(default)]
    pub policy: Policy,
    /// Requests sent straight to a named tier.
    #[serde(default, rename = "rule")]
    pub rules: Vec<Rule>,
    /// How `serve --cascade` answers.
    #[serde(default)]
    pub gateway: GatewaySettings,
}

/// How a streamed request is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StreamMode {
    /// Wait for the decision, then stream the chosen tier's answer.
    #[default]
    Buffer,
    /// Stream the first tier's answer as it comes; it is never escalated.
    Commit,
}

/// Settings of the live gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    #[serde(default)]
    pub stream: StreamMode,
    /// The tier that answers a lone echo request (one choice of a multiple-choice item sent
    /// on its own, as lm-evaluation-harness does): default the last tier, so that the
    /// choices of one item are never scored on different tiers.
    #[serde(default)]
    pub echo_tier: Option<String>,
    /// Request traces, one JSON line per request.
    #[serde(default)]
    pub trace: Option<PathBuf>,
}

/// One tier: an embedded model or an upstream server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub name: String,
    /// A catalog name or a GGUF path (an embedded tier).
    #[serde(default)]
    pub model: Option<String>,
    /// CPU threads of an embedded tier (`None`: all cores).
    #[serde(default)]
    pub threads: Option<u32>,
    /// KV cache of an embedded tier, tokens.
    #[serde(default)]
    pub n_ctx: Option<u32>,
    /// Base URL with the API prefix of an upstream tier, e.g. `http://127.0.0.1:8080/v1`.
    #[serde(default)]
    pub url: Option<String>,
    /// The model name the upstream expects.
    #[serde(default)]
    pub served_model: Option<String>,
    /// Environment variable holding the upstream's API key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Upstream request timeout, seconds.
    #[serde(default = "default_timeout_s")]
    pub timeout_s: f64,
    /// Retries against a failing upstream before falling back to the next tier.
    #[serde(default = "default_retries")]
    pub retries: u32,
    #[serde(default)]
    pub cost: Cost,
}

fn default_timeout_s() -> f64 {
    60.0
}

fn default_retries() -> u32 {
    1
}

/// What a tier costs. Measured J/token comes from a run summary when one is named
/// (`summary = "runs/x/summary.json"`), else from `joules_per_token` as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cost {
    #[serde(default)]
    pub joules_per_token: Option<f64>,
    #[serde(default)]
    pub usd_per_mtok: Option<f64>,
    /// A run's `summary.json` whose measured energy per token is this tier's cost.
    #[serde(default)]
    pub summary: Option<PathBuf>,
}

/// Which confidence score judges a tier's answer; higher means more confident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// Multiple choice: log-likelihood of the best choice minus the second best.
    #[default]
    Margin,
    /// Generation: mean log-probability of the generated tokens.
    LogprobMean,
    /// Generation: the lowest token log-probability.
    LogprobMin,
    /// Generation: the 10th percentile of token log-probabilities.
    LogprobP10,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Self::Margin => "margin",
            Self::LogprobMean => "logprob_mean",
            Self::LogprobMin => "logprob_min",
            Self::LogprobP10 => "logprob_p10",
        }
    }
}

/// The escalation policy: a score, thresholds, and the checks that escalate regardless.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default)]
    pub signal: Signal,
    /// Accept tier i's answer when its score is at least `thresholds[i]` (one per tier but
    /// the last). Uncalibrated values: a FrugalGPT-style fixed cascade. Calibration replaces
    /// them.
    #[serde(default)]
    pub thresholds: Vec<f64>,
    /// The answer must parse as JSON, else escalate.
    #[serde(default)]
    pub require_json: bool,
    /// The answer must also match this JSON schema (a file), else escalate.
    #[serde(default)]
    pub json_schema: Option<PathBuf>,
    /// Escalate an answer cut by `max_tokens` (`finish_reason = length`).
    #[serde(default = "yes")]
    pub escalate_on_length: bool,
    /// Escalate an empty answer.
    #[serde(default = "yes")]
    pub escalate_on_empty: bool,
}

fn yes() -> bool {
    true
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            signal: Signal::default(),
            thresholds: Vec::new(),
            require_json: false,
            json_schema: None,
            escalate_on_length: true,
            escalate_on_empty: true,
        }
    }
}

/// A rule on the live request, before any tier answers: it sends a matching request
/// straight to a tier, or (an input guard) refuses it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The tier (by name) that answers a matching request.
    #[serde(default)]
    pub tier: Option<String>,
    /// Refuse a matching request instead: HTTP 400 with code `content_filter` (as Azure
    /// OpenAI answers a prompt its filter flags); no tier is called.
    #[serde(default)]
    pub refuse: bool,
    /// The refusal's message (default: says which rule refused).
    #[serde(default)]
    pub message: Option<String>,
    /// A regular expression over the prompt (or the chat messages' text).
    #[serde(default)]
    pub pattern: Option<String>,
    /// A request header that must be present (e.g. `x-high-stakes`).
    #[serde(default)]
    pub header: Option<String>,
    /// `metadata` fields of the request body that must hold these values.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Prompts of at least this many tokens.
    #[serde(default)]
    pub min_prompt_tokens: Option<u64>,
}

impl CascadeConfig {
    /// Reads and checks a cascade file; errors name the file, line and key.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let mut cfg = Self::parse(&text, path)?;
        cfg.resolve_paths(path.parent().unwrap_or(Path::new(".")));
        Ok(cfg)
    }

    /// Parses and checks cascade TOML (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let cfg: Self = toml::from_str(text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        cfg.check().map_err(|message| Error::Config {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(cfg)
    }

    /// Relative paths in the file are relative to the file.
    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        for t in &mut self.tiers {
            if let Some(s) = t.cost.summary.as_mut() {
                fix(s);
            }
            if let Some(m) = t.model.as_mut() {
                if m.ends_with(".gguf") && Path::new(m.as_str()).is_relative() {
                    *m = base.join(&*m).to_string_lossy().into_owned();
                }
            }
        }
        if let Some(s) = self.policy.json_schema.as_mut() {
            fix(s);
        }
        if let Some(t) = self.gateway.trace.as_mut() {
            fix(t);
        }
    }

    fn check(&self) -> std::result::Result<(), String> {
        if self.tiers.is_empty() {
            return Err("no [[tier]]: a cascade needs at least one tier".into());
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, t) in self.tiers.iter().enumerate() {
            if !names.insert(t.name.as_str()) {
                return Err(format!("tier[{i}].name: {:?} is used twice", t.name));
            }
            match (&t.model, &t.url) {
                (Some(_), Some(_)) => {
                    return Err(format!(
                        "tier[{i}] ({}): give `model` (embedded) or `url` (upstream), not both",
                        t.name
                    ))
                }
                (None, None) => {
                    return Err(format!(
                        "tier[{i}] ({}): needs `model` (a catalog name or GGUF path) or `url`",
                        t.name
                    ))
                }
                (None, Some(url)) => {
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        return Err(format!("tier[{i}].url: {url:?} is not an http(s) URL"));
                    }
                }
                (Some(_), None) => {}
            }
            if t.timeout_s.is_nan() || t.timeout_s <= 0.0 {
                return Err(format!("tier[{i}].timeout_s must be positive"));
            }
        }
        let n = self.tiers.len();
        if !self.policy.thresholds.is_empty() && self.policy.thresholds.len() != n - 1 {
            return Err(format!(
                "policy.thresholds: {} given, a {n}-tier cascade takes {} (one per tier but the last)",
                self.policy.thresholds.len(),
                n - 1
            ));
        }
        if let Some(t) = &self.gateway.echo_tier {
            if !names.contains(t.as_str()) {
                return Err(format!("gateway.echo_tier: no tier named {t:?}"));
            }
        }
        for (i, r) in self.rules.iter().enumerate() {
            match (&r.tier, r.refuse) {
                (Some(t), false) if !names.contains(t.as_str()) => {
                    return Err(format!("rule[{i}].tier: no tier named {t:?}"));
                }
                (Some(_), true) => {
                    return Err(format!(
                        "rule[{i}]: `tier` and `refuse = true` both given; a rule sends a request to a tier or refuses it"
                    ));
                }
                (None, false) => {
                    return Err(format!(
                        "rule[{i}]: needs `tier` (send a matching request there) or `refuse = true` (refuse it)"
                    ));
                }
                _ => {}
            }
            if r.message.is_some() && !r.refuse {
                return Err(format!(
                    "rule[{i}].message: only a `refuse = true` rule sends a message"
                ));
            }
            if let Some(p) = &r.pattern {
                regex::Regex::new(p).map_err(|e| format!("rule[{i}].pattern: {e}"))?;
            }
            if r.pattern.is_none()
                && r.header.is_none()
                && r.metadata.is_empty()
                && r.min_prompt_tokens.is_none()
            {
                return Err(format!(
                    "rule[{i}]: needs `pattern`, `header`, `metadata` or `min_prompt_tokens`"
                ));
            }
        }
        Ok(())
    }

    /// The index of the tier named `name`.
    pub fn tier_index(&self, name: &str) -> Option<usize> {
        self.tiers.iter().position(|t| t.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = r#"
[[tier]]
name = "small"
model = "smollm2-135m"

[[tier]]
name = "large"
url = "http://127.0.0.1:9/v1"
served_model = "big"

[policy]
signal = "margin"
thresholds = [1.5]

[[rule]]
pattern = "(?i)dosage"
tier = "large"
"#;

    #[test]
    fn parses_tiers_policy_and_rules() {
        let c = CascadeConfig::parse(TWO, Path::new("c.toml")).unwrap();
        assert_eq!(c.tiers.len(), 2);
        assert_eq!(c.policy.thresholds, vec![1.5]);
        assert!(c.policy.escalate_on_length);
        assert_eq!(c.tier_index("large"), Some(1));
        assert_eq!(c.rules[0].tier.as_deref(), Some("large"));
        assert!(!c.rules[0].refuse);
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let bad = TWO.replace("served_model = \"big\"", "served_modle = \"big\"");
        let e = CascadeConfig::parse(&bad, Path::new("my/cascade.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("my/cascade.toml"), "{e}");
        assert!(e.contains("line 9"), "{e}");
        assert!(e.contains("served_modle"), "{e}");
    }

    #[test]
    fn bad_tiers_thresholds_and_rules_are_named() {
        let cases = [
            (
                TWO.replace("thresholds = [1.5]", "thresholds = [1.5, 2.0]"),
                "policy.thresholds",
            ),
            (
                TWO.replace("tier = \"large\"", "tier = \"huge\""),
                "rule[0].tier",
            ),
            (
                TWO.replace("name = \"large\"", "name = \"small\""),
                "used twice",
            ),
            (
                TWO.replace("url = \"http://127.0.0.1:9/v1\"", ""),
                "tier[1]",
            ),
            (TWO.replace("(?i)dosage", "(unclosed"), "rule[0].pattern"),
            (
                TWO.replace("tier = \"large\"\n", "refuse = true\ntier = \"large\"\n"),
                "both given",
            ),
            (
                TWO.replace("tier = \"large\"\n", "message = \"no\"\n"),
                "needs `tier`",
            ),
            (
                TWO.replace("tier = \"large\"\n", "tier = \"large\"\nmessage = \"no\"\n"),
                "rule[0].message",
            ),
        ];
        for (text, want) in cases {
            let e = CascadeConfig::parse(&text, Path::new("c.toml"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{want}: {e}");
        }
    }
}

#[cfg(test)]
mod example_tests {
    use super::*;

    #[test]
    fn the_shipped_examples_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/cascade");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                CascadeConfig::read(&p).unwrap_or_else(|e| panic!("{e}"));
                n += 1;
            }
        }
        assert!(n >= 3, "{n} examples in {}", dir.display());
    }
}
