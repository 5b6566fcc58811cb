//! Reading predictions and references from files: one item per line, or JSON Lines of
//! strings; a reference line that is a JSON list of strings is a multi-reference set.

use std::path::Path;

use crate::{Error, Result};

fn lines(text: &str) -> Vec<&str> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    if body.is_empty() && text.len() <= 1 {
        return Vec::new();
    }
    body.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect()
}

/// A file is JSON Lines of strings when its first line is a JSON string.
fn is_jsonl(lines: &[&str]) -> bool {
    lines
        .first()
        .is_some_and(|l| serde_json::from_str::<String>(l).is_ok())
}

fn bad(source: &str, line: usize, detail: String) -> Error {
    Error::Input {
        file: source.to_string(),
        line,
        detail,
    }
}

/// Parses predictions: plain lines, or JSON Lines of strings.
pub fn parse_predictions(text: &str, source: &str) -> Result<Vec<String>> {
    let ls = lines(text);
    if !is_jsonl(&ls) {
        return Ok(ls.into_iter().map(str::to_string).collect());
    }
    ls.iter()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str::<String>(l)
                .map_err(|e| bad(source, i + 1, format!("not a JSON string: {e}")))
        })
        .collect()
}

/// Parses references: a line that is a JSON list of strings is a set of references;
/// otherwise a line is one reference (a JSON string in a JSON Lines file).
pub fn parse_references(text: &str, source: &str) -> Result<Vec<Vec<String>>> {
    let ls = lines(text);
    // JSON Lines when any line is a JSON string; then every line must be JSON.
    let jsonl = ls.iter().any(|l| serde_json::from_str::<String>(l).is_ok());
    ls.iter()
        .enumerate()
        .map(|(i, l)| {
            if l.trim_start().starts_with('[') {
                if let Ok(v) = serde_json::from_str::<Vec<String>>(l) {
                    if v.is_empty() {
                        return Err(bad(source, i + 1, "empty reference list".into()));
                    }
                    return Ok(v);
                }
            }
            if jsonl {
                serde_json::from_str::<String>(l)
                    .map(|s| vec![s])
                    .map_err(|e| bad(source, i + 1, format!("not a JSON string or list: {e}")))
            } else {
                Ok(vec![l.to_string()])
            }
        })
        .collect()
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        source: e,
    })
}

/// Reads a predictions file and a references file and checks that they pair up.
pub fn load_pairs(
    predictions: &Path,
    references: &Path,
) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    let p_name = predictions.display().to_string();
    let r_name = references.display().to_string();
    let p = parse_predictions(&read(predictions)?, &p_name)?;
    let r = parse_references(&read(references)?, &r_name)?;
    if p.len() != r.len() {
        return Err(Error::FileMismatch {
            predictions: p_name,
            n_predictions: p.len(),
            references: r_name,
            n_references: r.len(),
        });
    }
    Ok((p, r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_jsonl_and_multi_reference() {
        assert_eq!(
            parse_predictions("a b\n\nc\r\n", "p").unwrap(),
            ["a b", "", "c"]
        );
        assert_eq!(parse_predictions("", "p").unwrap(), Vec::<String>::new());
        assert_eq!(
            parse_predictions("\"x\\ny\"\n\"z\"\n", "p").unwrap(),
            ["x\ny", "z"]
        );
        let e = parse_predictions("\"x\"\nplain\n", "p.jsonl")
            .unwrap_err()
            .to_string();
        assert!(e.contains("p.jsonl") && e.contains("line 2"), "{e}");
        let r = parse_references("one ref\n[\"r1\", \"r2\"]\n[not json\n", "r").unwrap();
        assert_eq!(
            r,
            vec![vec!["one ref"], vec!["r1", "r2"], vec!["[not json"]]
        );
        let r = parse_references("[\"b\",\"c\"]\n\"a\"\n", "r").unwrap();
        assert_eq!(r, vec![vec!["b", "c"], vec!["a"]]);
        let e = parse_references("\"a\"\nplain\n", "r.jsonl")
            .unwrap_err()
            .to_string();
        assert!(e.contains("r.jsonl: line 2"), "{e}");
        assert!(parse_references("[]\n", "r").is_err());
    }

    #[test]
    fn mismatched_files_name_both() {
        let dir =
            std::env::temp_dir().join(format!("trilemma-scoring-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("pred.txt");
        let r = dir.join("ref.txt");
        std::fs::write(&p, "a\nb\n").unwrap();
        std::fs::write(&r, "a\n").unwrap();
        let e = load_pairs(&p, &r).unwrap_err().to_string();
        assert!(
            e.contains("pred.txt") && e.contains("ref.txt") && e.contains('2') && e.contains('1'),
            "{e}"
        );
        std::fs::write(&r, "a\n[\"b\", \"B\"]\n").unwrap();
        let (ps, rs) = load_pairs(&p, &r).unwrap();
        assert_eq!(ps.len(), 2);
        assert_eq!(rs[1], ["b", "B"]);
        assert!(load_pairs(&dir.join("missing"), &r)
            .unwrap_err()
            .to_string()
            .contains("missing"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
