//! Corpus and sentence BLEU exactly as sacreBLEU's defaults compute them: 13a tokenizer,
//! no lowercasing, max n-gram order 4, exponential smoothing, brevity penalty against the
//! closest reference length (shorter on ties), scores on a 0-100 scale.

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;

use crate::text::{py_rstrip, py_split, py_squash};
use crate::{check_pairs, Result};

/// Maximum n-gram order.
pub const MAX_ORDER: usize = 4;

/// Label naming the variant.
pub const LABEL: &str = "sacreBLEU 13a, exp smoothing";

fn rules() -> &'static [(Regex, &'static str); 4] {
    static RE: OnceLock<[(Regex, &'static str); 4]> = OnceLock::new();
    RE.get_or_init(|| {
        let r = |p: &str| Regex::new(p).expect("static regex");
        [
            (r(r"([\{-\~\[-\` -\&\(-\+\:-\@/])"), " $1 "),
            (r(r"([^0-9])([\.,])"), "$1 $2 "),
            (r(r"([\.,])([^0-9])"), " $1 $2"),
            (r(r"([0-9])(-)"), "$1 $2 "),
        ]
    })
}

/// sacreBLEU's `Tokenizer13a`.
pub fn tokenize_13a(line: &str) -> String {
    let mut line = line
        .replace("<skipped>", "")
        .replace("-\n", "")
        .replace('\n', " ");
    if line.contains('&') {
        line = line
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">");
    }
    let mut s = format!(" {line} ");
    for (re, rep) in rules() {
        s = re.replace_all(&s, *rep).into_owned();
    }
    py_squash(&s)
}

fn tokens(s: &str) -> Vec<String> {
    py_split(&tokenize_13a(py_rstrip(s)))
        .into_iter()
        .map(str::to_string)
        .collect()
}

fn ngrams(toks: &[String]) -> HashMap<&[String], u64> {
    let mut m: HashMap<&[String], u64> = HashMap::new();
    for n in 1..=MAX_ORDER {
        for w in toks.windows(n) {
            *m.entry(w).or_default() += 1;
        }
    }
    m
}

/// Sufficient statistics of one segment (or, summed, of a corpus).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BleuStats {
    pub hyp_len: u64,
    pub ref_len: u64,
    pub correct: [u64; MAX_ORDER],
    pub total: [u64; MAX_ORDER],
}

impl std::ops::AddAssign for BleuStats {
    fn add_assign(&mut self, o: Self) {
        self.hyp_len += o.hyp_len;
        self.ref_len += o.ref_len;
        for n in 0..MAX_ORDER {
            self.correct[n] += o.correct[n];
            self.total[n] += o.total[n];
        }
    }
}

/// The statistics of one hypothesis against its references.
pub fn segment_stats(hypothesis: &str, references: &[String]) -> BleuStats {
    let hyp = tokens(hypothesis);
    let hyp_len = hyp.len() as u64;
    let refs: Vec<Vec<String>> = references.iter().map(|r| tokens(r)).collect();
    let mut max_ref: HashMap<&[String], u64> = HashMap::new();
    let mut closest_diff = u64::MAX;
    let mut closest_len = u64::MAX;
    for r in &refs {
        let len = r.len() as u64;
        let diff = len.abs_diff(hyp_len);
        if diff < closest_diff || (diff == closest_diff && len < closest_len) {
            closest_diff = diff;
            closest_len = len;
        }
        for (g, c) in ngrams(r) {
            let e = max_ref.entry(g).or_default();
            *e = (*e).max(c);
        }
    }
    let mut st = BleuStats {
        hyp_len,
        ref_len: if refs.is_empty() { 0 } else { closest_len },
        ..BleuStats::default()
    };
    for (g, c) in ngrams(&hyp) {
        let n = g.len() - 1;
        st.total[n] += c;
        st.correct[n] += c.min(max_ref.get(g).copied().unwrap_or(0));
    }
    st
}

fn my_log(x: f64) -> f64 {
    if x == 0.0 {
        -9_999_999_999.0
    } else {
        x.ln()
    }
}

/// BLEU (0-100) from statistics; `effective_order` as in sacreBLEU's sentence BLEU.
pub fn score_from_stats(st: &BleuStats, effective_order: bool) -> f64 {
    // sacreBLEU stops early when nothing matches at any order.
    if st.correct.iter().all(|&c| c == 0) {
        return 0.0;
    }
    let mut precisions = [0.0f64; MAX_ORDER];
    let mut smooth = 1.0f64;
    let mut eff = MAX_ORDER;
    for n in 1..=MAX_ORDER {
        if st.total[n - 1] == 0 {
            break;
        }
        if effective_order {
            eff = n;
        }
        if st.correct[n - 1] == 0 {
            smooth *= 2.0;
            precisions[n - 1] = 100.0 / (smooth * st.total[n - 1] as f64);
        } else {
            precisions[n - 1] = 100.0 * st.correct[n - 1] as f64 / st.total[n - 1] as f64;
        }
    }
    let bp = if st.hyp_len < st.ref_len {
        if st.hyp_len > 0 {
            (1.0 - st.ref_len as f64 / st.hyp_len as f64).exp()
        } else {
            0.0
        }
    } else {
        1.0
    };
    let sum: f64 = precisions[..eff].iter().map(|&p| my_log(p)).sum();
    bp * (sum / eff as f64).exp()
}

/// Corpus BLEU over pairs; `references[i]` holds every reference of hypothesis `i`.
pub fn corpus_bleu(predictions: &[String], references: &[Vec<String>]) -> Result<f64> {
    check_pairs(predictions, references)?;
    let mut total = BleuStats::default();
    for (p, r) in predictions.iter().zip(references) {
        total += segment_stats(p, r);
    }
    Ok(score_from_stats(&total, false))
}

/// sacreBLEU's `sentence_bleu` (effective order on).
pub fn sentence_bleu(prediction: &str, references: &[String]) -> f64 {
    score_from_stats(&segment_stats(prediction, references), true)
}
