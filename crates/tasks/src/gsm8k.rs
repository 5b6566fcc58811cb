//! GSM8K answer extraction, as lm-evaluation-harness's `gsm8k` task filters it.
//!
//! - strict-match: the number after `#### ` (regex `#### (\-?[0-9\.\,]+)`, first match);
//! - flexible-extract: the last number in the text (`(-?[$0-9.,]{2,})|(-?[0-9]+)`);
//! - before comparing, both sides drop `,`, `$`, everything up to `#### `, and a trailing `.`
//!   (oe-eval's `regexes_to_ignore` for GSM8K).

use std::sync::OnceLock;

use regex::Regex;

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("valid regex"))
}

pub fn extract_strict(text: &str) -> Option<String> {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"#### (\-?[0-9\.\,]+)")
        .captures(text)
        .map(|c| c[1].to_string())
}

pub fn extract_flexible(text: &str) -> Option<String> {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"(-?[$0-9.,]{2,})|(-?[0-9]+)")
        .captures_iter(text)
        .last()
        .and_then(|c| c.get(1).or_else(|| c.get(2)))
        .map(|m| m.as_str().to_string())
}

pub fn normalize_answer(s: &str) -> String {
    static HEAD: OnceLock<Regex> = OnceLock::new();
    let s = re(&HEAD, r"(?s).*#### ").replace(s, "");
    let s = s.replace([',', '$'], "");
    let s = s.trim();
    s.strip_suffix('.').unwrap_or(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extraction_matches_lm_eval_filters() {
        assert_eq!(
            extract_strict("so #### -1,234.5 done"),
            Some("-1,234.5".into())
        );
        assert_eq!(extract_strict("no marker 12"), None);
        assert_eq!(
            extract_flexible("3 apples, then 12, then $1,000."),
            Some("$1,000.".into())
        );
        assert_eq!(extract_flexible("answer 7"), Some("7".into()));
        assert_eq!(extract_flexible("none"), None);
        assert_eq!(normalize_answer("$1,000."), "1000");
        assert_eq!(normalize_answer("work\n#### 72"), "72");
    }
}
