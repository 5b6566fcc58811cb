//! A prompts file: one prompt per line, or JSON lines with a `"prompt"` field (the two
//! may be mixed); blank lines are skipped.

use std::path::Path;

use crate::{Error, Result};

/// Reads a prompts file. Errors name the file and, for a bad line, its number.
pub fn read_prompts(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Prompts(format!("cannot read prompts file {}: {e}", path.display())))?;
    let mut out = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        if line.trim_start().starts_with('{') {
            let v: serde_json::Value = serde_json::from_str(line).map_err(|e| {
                Error::Prompts(format!("{}:{}: not JSON: {e}", path.display(), i + 1))
            })?;
            let p = v.get("prompt").and_then(|p| p.as_str()).ok_or_else(|| {
                Error::Prompts(format!(
                    "{}:{}: no string field \"prompt\"",
                    path.display(),
                    i + 1
                ))
            })?;
            out.push(p.to_string());
        } else {
            out.push(line.to_string());
        }
    }
    if out.is_empty() {
        return Err(Error::Prompts(format!(
            "{} holds no prompts",
            path.display()
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_json_lines_mix_and_a_bad_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("prompts.jsonl");
        std::fs::write(&p, "hello\n\n{\"prompt\": \"world\"}\n").unwrap();
        assert_eq!(read_prompts(&p).unwrap(), ["hello", "world"]);
        std::fs::write(&p, "{\"prompt\": \"a\"}\n{\"text\": \"b\"}\n").unwrap();
        let e = read_prompts(&p).unwrap_err().to_string();
        assert!(
            e.contains("prompts.jsonl:2: no string field \"prompt\""),
            "{e}"
        );
        std::fs::write(&p, "\n  \n").unwrap();
        let e = read_prompts(&p).unwrap_err().to_string();
        assert!(e.contains("holds no prompts"), "{e}");
    }
}
