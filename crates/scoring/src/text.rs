//! Text helpers that follow Python's `str` semantics, which the reference metrics rely on.

/// Python's `str.isspace()` for one character (Unicode White_Space plus the
/// ASCII information separators U+001C..U+001F, which Python also treats as space).
pub fn py_is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.split()` with no argument.
pub fn py_split(s: &str) -> Vec<&str> {
    s.split(py_is_space).filter(|t| !t.is_empty()).collect()
}

/// Python's `' '.join(s.split())`.
pub fn py_squash(s: &str) -> String {
    py_split(s).join(" ")
}

/// Python's `str.rstrip()`.
pub fn py_rstrip(s: &str) -> &str {
    s.trim_end_matches(py_is_space)
}

/// Python's `str.strip()`.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(py_is_space)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_like_python() {
        assert_eq!(py_split(" a\u{1f}b\u{a0}c\t"), vec!["a", "b", "c"]);
        assert_eq!(py_squash("  x   y "), "x y");
        assert!(py_split("   ").is_empty());
    }
}
