//! lm-evaluation-harness's per-sample log (`samples_<task>_*.jsonl`, written by
//! `lm_eval --log_samples`) read as one side of a comparison, for the peer check of
//! Trilemma's scores and choices against lm-eval's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::compare::{ItemView, Side};
use crate::{Error, Result};

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The continuations lm-eval scored, in choice order (both of its `arguments` layouts).
fn lm_eval_continuations(args: &Value) -> Option<Vec<String>> {
    let pairs: Vec<&Value> = match args {
        Value::Array(a) => a.iter().collect(),
        // {"gen_args_0": {"arg_0": ctx, "arg_1": cont}, "gen_args_1": ...}
        Value::Object(o) => {
            let mut keyed: Vec<(usize, &Value)> = o
                .iter()
                .map(|(k, v)| Some((k.strip_prefix("gen_args_")?.parse().ok()?, v)))
                .collect::<Option<_>>()?;
            keyed.sort_by_key(|(i, _)| *i);
            keyed.into_iter().map(|(_, v)| v).collect()
        }
        _ => return None,
    };
    pairs
        .into_iter()
        .map(|p| match p {
            Value::Array(a) => a.get(1)?.as_str().map(str::to_string),
            Value::Object(o) => o.get("arg_1")?.as_str().map(str::to_string),
            _ => None,
        })
        .collect()
}

/// Index of the largest value; the first one on ties (numpy's argmax, which lm-eval uses).
fn argmax(xs: &[f64]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, x) in xs.iter().enumerate() {
        match best {
            Some(b) if *x <= xs[b] => {}
            _ => best = Some(i),
        }
    }
    best
}

/// Reads lm-evaluation-harness's `--log_samples` JSONL as one side, tagged with `task`.
///
/// Metrics are the numeric top-level fields of each line (`acc`, `acc_norm`, ...). For
/// multiple choice, `pick` is the argmax of the per-choice log-likelihoods in
/// `filtered_resps`, and `pick_norm` follows lm-eval's `acc_norm`: log-likelihood over the
/// choice's length in characters, without the space lm-eval puts before it.
pub fn load_samples(path: &Path, task: &str, id_field: &str) -> Result<Side> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut side = Side {
        label: format!("lm-eval {}", path.display()),
        tasks: BTreeSet::from([task.to_string()]),
        ..Side::default()
    };
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{}:{}", path.display(), i + 1);
        let v: Value = serde_json::from_str(line).map_err(|e| Error::Invalid {
            what: at(),
            reason: format!("not JSON: {e}"),
        })?;
        let id = match v.get("doc").and_then(|d| d.get(id_field)) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Err(Error::Invalid {
                    what: at(),
                    reason: format!(
                        "no doc.{id_field} (choose the id field with --lm-eval-id-field)"
                    ),
                })
            }
        };
        let scores: BTreeMap<String, f64> = v
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| !matches!(k.as_str(), "doc_id" | "target" | "doc_hash"))
            .filter_map(|(k, x)| x.as_f64().map(|x| (k.clone(), x)))
            .collect();
        let logprobs: Option<Vec<f64>> = v
            .get("filtered_resps")
            .and_then(Value::as_array)
            .and_then(|a| {
                a.iter()
                    .map(|r| match r {
                        Value::Array(pair) => pair.first().and_then(number),
                        other => number(other),
                    })
                    .collect()
            });
        let continuations = v.get("arguments").and_then(lm_eval_continuations);
        let pick = logprobs.as_deref().and_then(argmax);
        let pick_norm = match (&logprobs, &continuations) {
            (Some(lp), Some(c)) if lp.len() == c.len() => {
                let normed: Vec<f64> = lp
                    .iter()
                    .zip(c)
                    .map(|(l, c)| {
                        let chars = c.strip_prefix(' ').unwrap_or(c).chars().count();
                        l / chars.max(1) as f64
                    })
                    .collect();
                argmax(&normed)
            }
            _ => None,
        };
        let key = (task.to_string(), id);
        if side.items.contains_key(&key) {
            return Err(Error::Invalid {
                what: at(),
                reason: format!("item {:?} appears twice", key.1),
            });
        }
        side.items.insert(
            key,
            ItemView {
                scores,
                pick,
                pick_norm,
                logprobs,
            },
        );
    }
    if side.items.is_empty() {
        return Err(Error::Invalid {
            what: path.display().to_string(),
            reason: "no samples".into(),
        });
    }
    Ok(side)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lm_eval_pick_norm_uses_chars_without_the_leading_space() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("samples_arc.jsonl");
        // " ab" -> 2 chars: -3/2 = -1.5; " abcdé" -> 5 chars: -6/5 = -1.2 -> choice 1.
        // (By bytes with the space, 3 and 7: -1.0 and -0.857, also 1; raw ll picks 0.)
        let line = serde_json::json!({
            "doc_id": 0, "doc": {"id": "Q1"}, "target": 0,
            "arguments": {"gen_args_0": {"arg_0": "Q", "arg_1": " ab"},
                          "gen_args_1": {"arg_0": "Q", "arg_1": " abcdé"}},
            "filtered_resps": [["-3.0", "False"], [-6.0, false]],
            "acc": 1.0, "acc_norm": 0.0
        });
        std::fs::write(&p, format!("{line}\n")).unwrap();
        let side = load_samples(&p, "arc-easy", "id").unwrap();
        let item = &side.items[&("arc-easy".to_string(), "Q1".to_string())];
        assert_eq!(item.pick, Some(0));
        assert_eq!(item.pick_norm, Some(1));
        assert_eq!(item.logprobs.as_deref(), Some(&[-3.0, -6.0][..]));
        assert_eq!(item.scores.keys().collect::<Vec<_>>(), ["acc", "acc_norm"]);
        let err = load_samples(&p, "arc-easy", "nope")
            .unwrap_err()
            .to_string();
        assert!(err.contains(":1: no doc.nope"), "{err}");
    }
}
