//! With several draws of each item (a sampled run's repeats): pass@k, the
//! self-consistency score (the item's most frequent answer), and how much an item's draws
//! disagree.

use std::collections::BTreeMap;

use trilemma_core::stats::{mean_estimate, sample_std};
use trilemma_core::{DrawsSummary, ItemDraws, SampleRecord};
use trilemma_scoring::pass_at_k::pass_at_k;

/// The ks pass@k is given for: 1, 2, 5, 10, 20, ... up to the draws every item has,
/// and that number itself.
fn ks(draws: usize) -> Vec<u64> {
    let mut out: Vec<u64> = [1, 2, 5, 10, 20, 50, 100]
        .into_iter()
        .filter(|&k| k <= draws as u64)
        .collect();
    if out.last() != Some(&(draws as u64)) {
        out.push(draws as u64);
    }
    out
}

/// The draw whose answer is the most frequent among `draws` (in draw order; a tie goes to
/// the answer drawn first).
fn majority<'a>(draws: &[&'a SampleRecord]) -> &'a SampleRecord {
    let mut counts: Vec<(&str, usize, &SampleRecord)> = Vec::new();
    for r in draws {
        let answer = r.prediction.trim();
        match counts.iter_mut().find(|(a, _, _)| *a == answer) {
            Some(c) => c.1 += 1,
            None => counts.push((answer, 1, r)),
        }
    }
    let best = counts.iter().map(|c| c.1).max().unwrap_or(0);
    counts
        .into_iter()
        .find(|c| c.1 == best)
        .map(|c| c.2)
        .expect("an item has at least one draw")
}

/// `None` unless every item has at least two scored draws.
pub(crate) fn summarize_draws(records: &[SampleRecord]) -> Option<DrawsSummary> {
    let mut by_item: BTreeMap<&str, Vec<&SampleRecord>> = BTreeMap::new();
    for r in records.iter().filter(|r| r.is_scored()) {
        by_item.entry(&r.sample_id).or_default().push(r);
    }
    let fewest = by_item.values().map(Vec::len).min()?;
    if fewest < 2 {
        return None;
    }
    for v in by_item.values_mut() {
        v.sort_by_key(|r| r.repeat);
    }
    let metrics: std::collections::BTreeSet<&str> = by_item
        .values()
        .flatten()
        .flat_map(|r| r.scores.keys().map(String::as_str))
        .collect();
    let mut out = BTreeMap::new();
    for metric in metrics {
        let per_item: Vec<(Vec<f64>, &Vec<&SampleRecord>)> = by_item
            .values()
            .map(|d| {
                (
                    d.iter()
                        .filter_map(|r| r.scores.get(metric).copied())
                        .collect(),
                    d,
                )
            })
            .filter(|(v, _): &(Vec<f64>, _)| v.len() >= 2)
            .collect();
        if per_item.is_empty() {
            continue;
        }
        let stds: Vec<f64> = per_item.iter().map(|(v, _)| sample_std(v)).collect();
        let disagreeing = per_item
            .iter()
            .filter(|(v, _)| v.iter().any(|x| x != &v[0]))
            .count();
        let binary = per_item
            .iter()
            .all(|(v, _)| v.iter().all(|&x| x == 0.0 || x == 1.0));
        let mut pass = BTreeMap::new();
        if binary {
            let least = per_item.iter().map(|(v, _)| v.len()).min().unwrap_or(0);
            for k in ks(least) {
                let values: Vec<f64> = per_item
                    .iter()
                    .filter_map(|(v, _)| {
                        let c = v.iter().filter(|&&x| x == 1.0).count() as u64;
                        pass_at_k(v.len() as u64, c, k)
                    })
                    .collect();
                if let Ok(e) = mean_estimate(&values) {
                    pass.insert(k, e);
                }
            }
        }
        let voted: Vec<f64> = per_item
            .iter()
            .filter_map(|(_, d)| majority(d).scores.get(metric).copied())
            .collect();
        out.insert(
            metric.to_string(),
            ItemDraws {
                items: per_item.len(),
                mean_item_std: stds.iter().sum::<f64>() / stds.len() as f64,
                items_disagreeing: disagreeing,
                pass_at_k: pass,
                majority: mean_estimate(&voted).ok(),
            },
        );
    }
    Some(DrawsSummary {
        draws_per_item: fewest as u32,
        items: by_item.len(),
        metrics: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use trilemma_core::Outcome;

    fn rec(id: &str, repeat: u32, answer: &str, correct: bool) -> SampleRecord {
        SampleRecord {
            sample_id: id.into(),
            task: "t".into(),
            repeat,
            session: 0,
            outcome: Outcome::Scored,
            prediction: answer.into(),
            gold: "a".into(),
            scores: [("exact_match".to_string(), f64::from(u8::from(correct)))].into(),
            tokens: Default::default(),
            timing: Default::default(),
            detail: serde_json::Value::Null,
        }
    }

    #[test]
    fn pass_at_k_majority_and_spread_over_an_items_draws() {
        let records = vec![
            // item x: 1 of 3 correct; the majority answer "b" is wrong.
            rec("x", 0, "b", false),
            rec("x", 1, "a", true),
            rec("x", 2, "b", false),
            // item y: 3 of 3 correct.
            rec("y", 0, "a", true),
            rec("y", 1, "a", true),
            rec("y", 2, "a", true),
        ];
        let d = summarize_draws(&records).unwrap();
        assert_eq!((d.draws_per_item, d.items), (3, 2));
        let m = &d.metrics["exact_match"];
        assert_eq!(m.items_disagreeing, 1);
        assert_eq!(
            m.pass_at_k.keys().copied().collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        // pass@1 = mean(1/3, 1); pass@2 = mean(1 - C(2,2)/C(3,2), 1) = mean(2/3, 1).
        assert!((m.pass_at_k[&1].value - (1.0 / 3.0 + 1.0) / 2.0).abs() < 1e-12);
        assert!((m.pass_at_k[&2].value - (2.0 / 3.0 + 1.0) / 2.0).abs() < 1e-12);
        assert!((m.pass_at_k[&3].value - 1.0).abs() < 1e-12);
        assert_eq!(m.majority.as_ref().unwrap().value, 0.5);
        // std of (0, 1, 0) is 1/sqrt(3); of (1, 1, 1) is 0.
        assert!((m.mean_item_std - (1.0 / 3f64.sqrt()) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn a_tie_goes_to_the_answer_drawn_first_and_one_draw_is_not_a_spread() {
        let tie = vec![rec("x", 1, "b", false), rec("x", 0, "a", true)];
        let d = summarize_draws(&tie).unwrap();
        assert_eq!(
            d.metrics["exact_match"].majority.as_ref().unwrap().value,
            1.0
        );
        assert!(summarize_draws(&[rec("x", 0, "a", true)]).is_none());
    }
}
