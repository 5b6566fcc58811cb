//! Server counters and the latency histogram, rendered as Prometheus text at `/metrics`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use trilemma_engine::Generation;

/// Latency histogram bucket bounds in seconds.
pub(crate) const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) requests: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) prompt_tokens: AtomicU64,
    pub(crate) output_tokens: AtomicU64,
    pub(crate) queue_depth: AtomicU64,
    /// Sequences the engine is generating now.
    pub(crate) running: AtomicU64,
    pub(crate) latency_buckets: [AtomicU64; BUCKETS.len()],
    pub(crate) latency_count: AtomicU64,
    pub(crate) latency_sum_us: AtomicU64,
    /// The scheduler thread has ended (the engine panicked): no request is answered.
    pub(crate) engine_stopped: AtomicBool,
}

impl Metrics {
    pub(crate) fn count(&self, g: &Generation) {
        self.prompt_tokens
            .fetch_add(g.prompt_tokens as u64, Ordering::Relaxed);
        self.output_tokens
            .fetch_add(g.output_tokens as u64, Ordering::Relaxed);
    }

    pub(crate) fn observe(&self, seconds: f64) {
        for (b, c) in BUCKETS.iter().zip(&self.latency_buckets) {
            if seconds <= *b {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    pub(crate) fn render(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut s = String::new();
        let mut line = |name: &str, kind: &str, v: u64| {
            s.push_str(&format!("# TYPE {name} {kind}\n{name} {v}\n"));
        };
        line("trilemma_requests_total", "counter", g(&self.requests));
        line("trilemma_request_errors_total", "counter", g(&self.errors));
        line(
            "trilemma_prompt_tokens_total",
            "counter",
            g(&self.prompt_tokens),
        );
        line(
            "trilemma_output_tokens_total",
            "counter",
            g(&self.output_tokens),
        );
        line("trilemma_running_sequences", "gauge", g(&self.running));
        line("trilemma_queue_depth", "gauge", g(&self.queue_depth));
        line(
            "trilemma_engine_stopped",
            "gauge",
            self.engine_stopped.load(Ordering::Relaxed) as u64,
        );
        s.push_str("# TYPE trilemma_request_latency_seconds histogram\n");
        for (b, c) in BUCKETS.iter().zip(&self.latency_buckets) {
            s.push_str(&format!(
                "trilemma_request_latency_seconds_bucket{{le=\"{b}\"}} {}\n",
                g(c)
            ));
        }
        let n = g(&self.latency_count);
        s.push_str(&format!(
            "trilemma_request_latency_seconds_bucket{{le=\"+Inf\"}} {n}\n\
             trilemma_request_latency_seconds_sum {}\n\
             trilemma_request_latency_seconds_count {n}\n",
            g(&self.latency_sum_us) as f64 / 1e6
        ));
        s
    }
}
