//! pass@k: the chance that at least one of `k` draws of an item is correct, estimated
//! without bias from `n >= k` draws of which `c` were correct (Chen et al. 2021, the
//! HumanEval paper): `1 - C(n - c, k) / C(n, k)`, computed as a product so that it
//! neither overflows nor loses precision for large `n`.

/// pass@k of one item with `n` draws, `c` of them correct; `None` when `k` is 0 or more
/// than `n`, or `c > n`.
pub fn pass_at_k(n: u64, c: u64, k: u64) -> Option<f64> {
    if k == 0 || k > n || c > n {
        return None;
    }
    if n - c < k {
        // Every choice of k draws holds a correct one.
        return Some(1.0);
    }
    // C(n-c, k) / C(n, k) = prod_{i = n-c+1}^{n} (1 - k / i)
    let miss: f64 = (n - c + 1..=n).map(|i| 1.0 - k as f64 / i as f64).product();
    Some(1.0 - miss)
}

#[cfg(test)]
mod tests {
    use super::pass_at_k;

    #[test]
    fn edges() {
        assert_eq!(pass_at_k(5, 0, 1), Some(0.0));
        assert_eq!(pass_at_k(5, 5, 5), Some(1.0));
        assert_eq!(pass_at_k(5, 1, 5), Some(1.0));
        // pass@1 is the fraction correct.
        assert!((pass_at_k(10, 3, 1).unwrap() - 0.3).abs() < 1e-12);
        // 1 - C(2,2)/C(4,2) = 1 - 1/6
        assert!((pass_at_k(4, 2, 2).unwrap() - 5.0 / 6.0).abs() < 1e-12);
        assert_eq!(pass_at_k(3, 1, 4), None);
        assert_eq!(pass_at_k(3, 1, 0), None);
        assert_eq!(pass_at_k(3, 4, 1), None);
    }
}
