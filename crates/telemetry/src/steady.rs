//! The steady-state window of a batched or load run (seed 004, ML.ENERGY).
//!
//! In a batched run the first and last seconds are not representative: the batch
//! fills up at the start and drains at the end. Energy per token is therefore
//! attributed over the window where the batch is full:
//!
//! - the window **opens** when the number of requests in flight first reaches the
//!   target batch size;
//! - it **closes** when the count drops below the target for the last time, i.e.
//!   when the tail starts to drain and the batch never fills again. A momentary
//!   dip in the middle of the run (one request done, its successor admitted a
//!   moment later) does not close the window.
//!
//! Events at the same instant are applied together before the count is checked,
//! so a request that ends exactly when the next one starts is no dip.

use trilemma_core::MonoNs;

/// In-flight counts over time from request spans `(start_ns, end_ns)`: one
/// `(t_ns, in_flight_after_t)` per distinct instant, in time order.
pub fn inflight_from_spans(spans: &[(MonoNs, MonoNs)]) -> Vec<(MonoNs, usize)> {
    let mut deltas: Vec<(MonoNs, i64)> = Vec::with_capacity(spans.len() * 2);
    for &(a, b) in spans.iter().filter(|(a, b)| b >= a) {
        deltas.push((a, 1));
        deltas.push((b, -1));
    }
    deltas.sort_unstable();
    let mut out: Vec<(MonoNs, usize)> = Vec::new();
    let mut n: i64 = 0;
    for (t, d) in deltas {
        n += d;
        let count = n.max(0) as usize;
        match out.last_mut() {
            Some(last) if last.0 == t => last.1 = count,
            _ => out.push((t, count)),
        }
    }
    out
}

/// The steady-state window `(t0, t1)` of in-flight counts `(t_ns, in_flight)` in
/// time order (as [`inflight_from_spans`] makes them), for a target batch size.
/// `None` when the batch never fills, or never drains within the events.
pub fn steady_state_window(events: &[(MonoNs, usize)], target: usize) -> Option<(MonoNs, MonoNs)> {
    if target == 0 {
        return None;
    }
    let open = events.iter().position(|&(_, n)| n >= target)?;
    let mut close = None;
    for w in events[open..].windows(2) {
        if w[0].1 >= target && w[1].1 < target {
            close = Some(w[1].0);
        }
    }
    let t0 = events[open].0;
    let t1 = close?;
    (t1 > t0).then_some((t0, t1))
}

/// The intervals in which at least `target` requests are in flight, from in-flight
/// counts `(t_ns, in_flight)` in time order. A static-batch runner drains after
/// every engine call, so its steady state is the union of these intervals rather
/// than one window: each opens when the batch is full and closes at the first
/// request that leaves it.
pub fn full_batch_intervals(events: &[(MonoNs, usize)], target: usize) -> Vec<(MonoNs, MonoNs)> {
    if target == 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut open: Option<MonoNs> = None;
    for &(t, n) in events {
        match (open, n >= target) {
            (None, true) => open = Some(t),
            (Some(t0), false) => {
                if t > t0 {
                    out.push((t0, t));
                }
                open = None;
            }
            _ => {}
        }
    }
    out
}

/// Tokens generated inside `window`, from requests `(start_ns, end_ns, tokens)`,
/// counting each request's tokens in proportion to the part of its span that lies
/// in the window (tokens are assumed evenly spread over the span).
pub fn tokens_in_window(requests: &[(MonoNs, MonoNs, u64)], window: (MonoNs, MonoNs)) -> f64 {
    let (w0, w1) = window;
    requests
        .iter()
        .map(|&(a, b, tokens)| {
            if b <= a {
                return if a >= w0 && a <= w1 {
                    tokens as f64
                } else {
                    0.0
                };
            }
            let lo = a.max(w0);
            let hi = b.min(w1);
            if hi <= lo {
                0.0
            } else {
                tokens as f64 * (hi - lo) as f64 / (b - a) as f64
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_opens_at_full_batch_and_closes_at_the_drain() {
        // Batch of 2. Requests: A 0-10, B 2-6, C 6-12 (admitted as B ends), D 8-9, E 9-14.
        // Counts: t0:1, t2:2, t6:2 (B out, C in), t8:3, t9:3 (D out, E in), t10:2, t12:1, t14:0.
        let spans = [(0, 10), (2, 6), (6, 12), (8, 9), (9, 14)];
        let ev = inflight_from_spans(&spans);
        assert_eq!(
            ev,
            vec![
                (0, 1),
                (2, 2),
                (6, 2),
                (8, 3),
                (9, 3),
                (10, 2),
                (12, 1),
                (14, 0)
            ]
        );
        assert_eq!(steady_state_window(&ev, 2), Some((2, 12)));
        assert_eq!(steady_state_window(&ev, 3), Some((8, 10)));
        assert_eq!(steady_state_window(&ev, 4), None);
        assert_eq!(steady_state_window(&ev, 0), None);
    }

    #[test]
    fn a_dip_mid_run_does_not_close_the_window() {
        // Batch 2 reached at 1, dips to 1 at 5, refills at 6, drains at 9.
        let ev = [(0, 1), (1, 2), (5, 1), (6, 2), (9, 1), (10, 0)];
        assert_eq!(steady_state_window(&ev, 2), Some((1, 9)));
        // Never drains within the events: no window.
        assert_eq!(steady_state_window(&[(0, 1), (1, 2)], 2), None);
    }

    #[test]
    fn full_batch_intervals_leave_out_fill_and_drain() {
        // Two static batches of 2: calls 0-10 (items end at 6 and 10) and 12-20
        // (both end at 20), then a last partial call of 1 item 21-25.
        let spans = [(0, 6), (0, 10), (12, 20), (12, 20), (21, 25)];
        let ev = inflight_from_spans(&spans);
        assert_eq!(full_batch_intervals(&ev, 2), vec![(0, 6), (12, 20)]);
        assert_eq!(full_batch_intervals(&ev, 3), vec![]);
        assert_eq!(full_batch_intervals(&ev, 0), vec![]);
        // Never drains: the open interval is not counted.
        assert_eq!(full_batch_intervals(&[(0, 2)], 2), vec![]);
    }

    #[test]
    fn tokens_are_prorated_over_the_window() {
        // 100 tokens over 0-10 with window 5-15: half; 30 tokens over 6-8: all;
        // 40 tokens over 14-18 with window ending at 15: a quarter; 7 outside: none.
        let req = [(0, 10, 100), (6, 8, 30), (14, 18, 40), (20, 30, 7)];
        let t = tokens_in_window(&req, (5, 15));
        assert!((t - (50.0 + 30.0 + 10.0)).abs() < 1e-9, "{t}");
    }
}
