//! GSM8K answer extraction and comparison as lm-eval's `gsm8k` task does it.

use std::sync::OnceLock;

use regex::Regex;

use crate::exact_match::ExactMatchOptions;

/// What lm-eval's regex filter returns when nothing matches.
pub const INVALID: &str = "[invalid]";

fn strict_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"#### (-?[0-9.,]+)").expect("static regex"))
}

fn flexible_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"(-?[$0-9.,]{2,})|(-?[0-9]+)").expect("static regex"))
}

fn select(re: &Regex, text: &str, last: bool) -> String {
    let mut found = re.captures_iter(text).map(|c| {
        // Python's findall gives a tuple of groups; lm-eval keeps the first non-empty one.
        (1..c.len())
            .filter_map(|g| c.get(g))
            .map(|m| m.as_str())
            .find(|s| !s.is_empty())
            .unwrap_or("")
            .to_string()
    });
    let pick = if last { found.last() } else { found.next() };
    match pick {
        Some(s) => s.trim_matches(crate::text::py_is_space).to_string(),
        None => INVALID.to_string(),
    }
}

/// The "strict-match" filter: the first `#### (-?[0-9.,]+)`.
pub fn extract_strict(response: &str) -> String {
    select(strict_re(), response, false)
}

/// The "flexible-extract" filter: the last `(-?[$0-9.,]{2,})|(-?[0-9]+)`.
pub fn extract_flexible(response: &str) -> String {
    select(flexible_re(), response, true)
}

/// The gsm8k task's `exact_match` options: regexes `,`, `\$`, `(?s).*#### `, `\.$`
/// ignored, case ignored.
pub fn gsm8k_options() -> ExactMatchOptions {
    let pats = [",", r"\$", r"(?s).*#### ", r"\.(\n?)\z"];
    ExactMatchOptions {
        regexes_to_ignore: pats
            .iter()
            .map(|p| Regex::new(p).expect("static regex"))
            .collect(),
        ignore_case: true,
        ignore_punctuation: false,
    }
}

/// Normalises a string like the gsm8k task's exact_match does before comparing.
pub fn gsm8k_normalise(s: &str) -> String {
    let opts = gsm8k_options();
    let mut out = s.to_string();
    for (i, re) in opts.regexes_to_ignore.iter().enumerate() {
        // Python's `\.$` also matches before a final newline, which it keeps.
        let repl = if i == 3 { "$1" } else { "" };
        out = re.replace_all(&out, repl).into_owned();
    }
    out.to_lowercase()
}

/// 1.0 when the extracted answer equals the target after normalisation.
pub fn gsm8k_match(extracted: &str, target: &str) -> f64 {
    f64::from(u8::from(
        gsm8k_normalise(extracted) == gsm8k_normalise(target),
    ))
}
