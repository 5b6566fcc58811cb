//! What is read from one position's logits: the most likely token, a token's
//! log-probability, and the `k` most likely tokens.

/// Index of the largest logit.
pub(crate) fn argmax(logits: &[f32]) -> usize {
    let mut best = 0;
    let mut best_v = f32::NEG_INFINITY;
    for (i, &v) in logits.iter().enumerate() {
        if v > best_v {
            best_v = v;
            best = i;
        }
    }
    best
}

/// log(sum(exp(logits))), computed stably in f64.
pub(crate) fn log_sum_exp(logits: &[f32]) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = logits.iter().map(|&v| (v as f64 - max).exp()).sum();
    max + sum.ln()
}

/// The log-probability of token `tok` under `logits`: one pass for the maximum and one
/// for the sum, the exponentials in f32 (cheap beside a decode step even for a 150k-token
/// vocabulary) summed in f64 (an f32 sum of 150k terms drifts by ~1e-4).
pub(crate) fn logprob_of(logits: &[f32], tok: usize) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&v| f64::from((v - max).exp())).sum();
    (f64::from(logits[tok] - max) - sum.ln()) as f32
}

/// The `k` largest logits as (token, log-probability), most likely first; ties keep the
/// lower token id first, as a stable sort of the whole vocabulary would. `lse` is
/// [`log_sum_exp`] of the same logits. One pass over the vocabulary, keeping a sorted
/// list of at most `k` (`k` is small: an API allows at most 20).
pub(crate) fn top_k(logits: &[f32], k: usize, lse: f64) -> Vec<(u32, f64)> {
    let mut best: Vec<(f32, u32)> = Vec::with_capacity(k + 1);
    if k == 0 {
        return Vec::new();
    }
    for (i, &v) in logits.iter().enumerate() {
        if best.len() == k && v <= best[k - 1].0 {
            continue;
        }
        // After every entry not smaller than v: equal logits stay in id order.
        let at = best.partition_point(|&(b, _)| b >= v);
        best.insert(at, (v, i as u32));
        best.truncate(k);
    }
    best.into_iter()
        .map(|(v, i)| (i, f64::from(v) - lse))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_sum_exp_is_stable() {
        let l = [1000.0f32, 1000.0];
        assert!((log_sum_exp(&l) - (1000.0 + 2f64.ln())).abs() < 1e-9);
        assert_eq!(argmax(&[0.1, 3.0, -1.0]), 1);
        let l = [0.1f32, 3.0, -1.0, 2.5];
        let want = f64::from(l[1]) - log_sum_exp(&l);
        assert!((f64::from(logprob_of(&l, 1)) - want).abs() < 1e-6);
    }

    #[test]
    fn top_k_equals_a_full_sort() {
        // A pseudo-random vocabulary with ties, against sorting all of it.
        let mut x = 12345u64;
        let logits: Vec<f32> = (0..5000)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((x >> 33) % 997) as f32 / 37.0
            })
            .collect();
        let lse = log_sum_exp(&logits);
        for k in [0, 1, 2, 5, 20] {
            let mut all: Vec<(u32, f32)> = logits
                .iter()
                .enumerate()
                .map(|(i, &v)| (i as u32, v))
                .collect();
            all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            let want: Vec<(u32, f64)> = all[..k]
                .iter()
                .map(|&(i, v)| (i, f64::from(v) - lse))
                .collect();
            assert_eq!(top_k(&logits, k, lse), want, "k = {k}");
        }
        let top = top_k(&logits, 1, lse);
        assert_eq!(top[0].0 as usize, argmax(&logits));
        // Every probability is at most 1, and the k best sum to at most 1.
        let p: f64 = top_k(&logits, 20, lse).iter().map(|t| t.1.exp()).sum();
        assert!(p <= 1.0 + 1e-9);
    }
}
