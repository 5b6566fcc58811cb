//! ROUGE as the `rouge-score` package computes it with `use_stemmer=True`: lowercase,
//! non-alphanumerics to spaces, Porter-stem tokens longer than 3 characters; F-measure;
//! with several references the best F-measure wins (`score_multi`); ROUGE-Lsum splits
//! on newlines and takes the union LCS per reference sentence. Values are 0-1.

use std::collections::HashMap;

use crate::{check_pairs, porter, Error, Result};

/// The ROUGE variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RougeType {
    Rouge1,
    Rouge2,
    RougeL,
    RougeLsum,
}

impl RougeType {
    /// From the registry name (`rouge1`, `rouge2`, `rougeL`, `rougeLsum`).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "rouge1" => Self::Rouge1,
            "rouge2" => Self::Rouge2,
            "rougeL" => Self::RougeL,
            "rougeLsum" => Self::RougeLsum,
            _ => return None,
        })
    }
}

/// Label naming the variant.
pub const LABEL: &str = "rouge-score F-measure, Porter stemmer";

/// rouge-score's tokenizer with the stemmer on.
pub fn tokenize(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit()))
        .filter(|t| !t.is_empty())
        .map(|t| {
            if t.len() > 3 {
                porter::stem(t)
            } else {
                t.to_string()
            }
        })
        .filter(|t| {
            !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        .collect()
}

fn fmeasure(p: f64, r: f64) -> f64 {
    if p + r > 0.0 {
        2.0 * p * r / (p + r)
    } else {
        0.0
    }
}

fn ngrams(tokens: &[String], n: usize) -> HashMap<&[String], u64> {
    let mut m = HashMap::new();
    if tokens.len() >= n {
        for w in tokens.windows(n) {
            *m.entry(w).or_insert(0) += 1;
        }
    }
    m
}

fn rouge_n(target: &[String], pred: &[String], n: usize) -> f64 {
    let t = ngrams(target, n);
    let p = ngrams(pred, n);
    let inter: u64 = t
        .iter()
        .map(|(g, c)| (*c).min(p.get(g).copied().unwrap_or(0)))
        .sum();
    let tc: u64 = t.values().sum();
    let pc: u64 = p.values().sum();
    fmeasure(
        inter as f64 / pc.max(1) as f64,
        inter as f64 / tc.max(1) as f64,
    )
}

fn lcs_table(r: &[String], c: &[String]) -> Vec<Vec<usize>> {
    let mut t = vec![vec![0usize; c.len() + 1]; r.len() + 1];
    for i in 1..=r.len() {
        for j in 1..=c.len() {
            t[i][j] = if r[i - 1] == c[j - 1] {
                t[i - 1][j - 1] + 1
            } else {
                t[i - 1][j].max(t[i][j - 1])
            };
        }
    }
    t
}

fn rouge_l(target: &[String], pred: &[String]) -> f64 {
    if target.is_empty() || pred.is_empty() {
        return 0.0;
    }
    let lcs = lcs_table(target, pred)[target.len()][pred.len()] as f64;
    fmeasure(lcs / pred.len() as f64, lcs / target.len() as f64)
}

/// Indices into `r` of the LCS that rouge-score's backtracking picks.
fn lcs_indices(r: &[String], c: &[String]) -> Vec<usize> {
    let t = lcs_table(r, c);
    let (mut i, mut j) = (r.len(), c.len());
    let mut out = Vec::new();
    while i > 0 && j > 0 {
        if r[i - 1] == c[j - 1] {
            out.push(i - 1);
            i -= 1;
            j -= 1;
        } else if t[i][j - 1] > t[i - 1][j] {
            j -= 1;
        } else {
            i -= 1;
        }
    }
    out
}

fn sentences(text: &str) -> Vec<Vec<String>> {
    text.split('\n')
        .filter(|s| !s.is_empty())
        .map(tokenize)
        .collect()
}

fn rouge_lsum(target: &str, pred: &str) -> f64 {
    let refs = sentences(target);
    let cans = sentences(pred);
    if refs.is_empty() || cans.is_empty() {
        return 0.0;
    }
    let m: usize = refs.iter().map(Vec::len).sum();
    let n: usize = cans.iter().map(Vec::len).sum();
    if m == 0 || n == 0 {
        return 0.0;
    }
    let mut cnt_r: HashMap<&str, i64> = HashMap::new();
    let mut cnt_c: HashMap<&str, i64> = HashMap::new();
    for t in refs.iter().flatten() {
        *cnt_r.entry(t).or_default() += 1;
    }
    for t in cans.iter().flatten() {
        *cnt_c.entry(t).or_default() += 1;
    }
    let mut hits = 0usize;
    for r in &refs {
        let mut union: Vec<usize> = cans.iter().flat_map(|c| lcs_indices(r, c)).collect();
        union.sort_unstable();
        union.dedup();
        for i in union {
            let tok = r[i].as_str();
            let (Some(cc), Some(cr)) = (cnt_c.get(tok).copied(), cnt_r.get(tok).copied()) else {
                continue;
            };
            if cc > 0 && cr > 0 {
                hits += 1;
                cnt_c.insert(tok, cc - 1);
                cnt_r.insert(tok, cr - 1);
            }
        }
    }
    fmeasure(hits as f64 / n as f64, hits as f64 / m as f64)
}

/// F-measure of `prediction` against one `target`.
pub fn rouge_pair(kind: RougeType, target: &str, prediction: &str) -> f64 {
    match kind {
        RougeType::Rouge1 => rouge_n(&tokenize(target), &tokenize(prediction), 1),
        RougeType::Rouge2 => rouge_n(&tokenize(target), &tokenize(prediction), 2),
        RougeType::RougeL => rouge_l(&tokenize(target), &tokenize(prediction)),
        RougeType::RougeLsum => rouge_lsum(target, prediction),
    }
}

/// The best F-measure over the references (`score_multi`; 0.0 with none).
pub fn sentence_rouge(kind: RougeType, prediction: &str, references: &[String]) -> f64 {
    references
        .iter()
        .map(|r| rouge_pair(kind, r, prediction))
        .fold(f64::NEG_INFINITY, f64::max)
        .max(0.0)
}

/// Corpus ROUGE: the plain mean of per-pair F-measures.
pub fn corpus_rouge(
    kind: RougeType,
    predictions: &[String],
    references: &[Vec<String>],
) -> Result<f64> {
    check_pairs(predictions, references)?;
    if predictions.is_empty() {
        return Err(Error::Empty { what: "rouge" });
    }
    Ok(crate::mean_of(predictions, references, |p, r| {
        sentence_rouge(kind, p, r)
    }))
}
