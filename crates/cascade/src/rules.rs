//! Rules on the live request, compiled once: a request that matches goes straight to the
//! rule's tier before any tier answers.

use std::collections::BTreeMap;

use crate::config::CascadeConfig;
use crate::{Error, Result};

/// What a rule can see of a request.
#[derive(Debug, Clone, Default)]
pub struct RequestView<'a> {
    /// The prompt, or the chat messages' contents joined.
    pub text: &'a str,
    /// Lower-case header names present on the request.
    pub headers: Vec<String>,
    /// The body's `metadata` object, string values only.
    pub metadata: BTreeMap<String, String>,
    /// Prompt tokens, where known (else estimated by the caller and said so).
    pub prompt_tokens: u64,
}

/// The cascade's rules, regexes compiled.
#[derive(Debug, Clone)]
pub struct Rules {
    rules: Vec<(usize, Option<regex::Regex>, crate::config::Rule)>,
}

impl Rules {
    pub fn new(cfg: &CascadeConfig) -> Result<Self> {
        let mut rules = Vec::new();
        for (i, r) in cfg.rules.iter().enumerate() {
            let tier = cfg
                .tier_index(&r.tier)
                .ok_or_else(|| Error::Input(format!("rule[{i}].tier: no tier {:?}", r.tier)))?;
            let re = r
                .pattern
                .as_deref()
                .map(regex::Regex::new)
                .transpose()
                .map_err(|e| Error::Input(format!("rule[{i}].pattern: {e}")))?;
            rules.push((tier, re, r.clone()));
        }
        Ok(Self { rules })
    }

    /// The tier the first matching rule names, with the rule's index. Every condition a
    /// rule gives must hold.
    pub fn route(&self, req: &RequestView<'_>) -> Option<(usize, usize)> {
        self.rules
            .iter()
            .enumerate()
            .find_map(|(i, (tier, re, r))| {
                let ok = re.as_ref().is_none_or(|re| re.is_match(req.text))
                    && r.header
                        .as_ref()
                        .is_none_or(|h| req.headers.iter().any(|x| x.eq_ignore_ascii_case(h)))
                    && r.metadata
                        .iter()
                        .all(|(k, v)| req.metadata.get(k) == Some(v))
                    && r.min_prompt_tokens.is_none_or(|m| req.prompt_tokens >= m);
                ok.then_some((*tier, i))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_condition_of_a_rule_must_hold() {
        let cfg = CascadeConfig::parse(
            r#"
[[tier]]
name = "s"
model = "a"
[[tier]]
name = "l"
model = "b"
[[rule]]
pattern = "(?i)dosage"
tier = "l"
[[rule]]
header = "x-high-stakes"
metadata = { team = "legal" }
tier = "l"
[[rule]]
min_prompt_tokens = 1000
tier = "s"
"#,
            std::path::Path::new("c.toml"),
        )
        .unwrap();
        let rules = Rules::new(&cfg).unwrap();
        let view = |text, headers: &[&str], team: Option<&str>, tokens| RequestView {
            text,
            headers: headers.iter().map(|h| h.to_string()).collect(),
            metadata: team
                .map(|t| BTreeMap::from([("team".to_string(), t.to_string())]))
                .unwrap_or_default(),
            prompt_tokens: tokens,
        };
        assert_eq!(
            rules.route(&view("What DOSAGE?", &[], None, 5)),
            Some((1, 0))
        );
        assert_eq!(rules.route(&view("hi", &["X-High-Stakes"], None, 5)), None);
        assert_eq!(
            rules.route(&view("hi", &["x-high-stakes"], Some("legal"), 5)),
            Some((1, 1))
        );
        assert_eq!(rules.route(&view("hi", &[], None, 2000)), Some((0, 2)));
        assert_eq!(rules.route(&view("hi", &[], None, 5)), None);
    }
}
