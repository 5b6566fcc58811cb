//! Prometheus counters of the gateway: requests, calls, escalations and errors per tier,
//! and the live deferral rate.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

#[derive(Debug, Default)]
struct Counts {
    requests: u64,
    /// Requests escalated at least once.
    escalated: u64,
    answered: BTreeMap<String, u64>,
    calls: BTreeMap<String, u64>,
    escalations: BTreeMap<(String, String), u64>,
    errors: BTreeMap<String, u64>,
    failed_requests: u64,
    /// Requests an input-guard rule refused.
    refused: u64,
}

#[derive(Debug)]
pub(crate) struct Metrics {
    tiers: Vec<String>,
    counts: Mutex<Counts>,
}

/// What one request did, for the counters.
pub(crate) struct Outcome<'a> {
    pub answered_by: Option<&'a str>,
    pub calls: Vec<(&'a str, Option<&'a str>)>,
}

impl Metrics {
    pub(crate) fn new(tiers: Vec<String>) -> Self {
        Self {
            tiers,
            counts: Mutex::new(Counts::default()),
        }
    }

    pub(crate) fn record(&self, o: &Outcome<'_>) {
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        c.requests += 1;
        match o.answered_by {
            Some(t) => *c.answered.entry(t.to_string()).or_insert(0) += 1,
            None => c.failed_requests += 1,
        }
        if o.calls.iter().any(|(_, r)| r.is_some()) {
            c.escalated += 1;
        }
        for (tier, reason) in &o.calls {
            *c.calls.entry(tier.to_string()).or_insert(0) += 1;
            if let Some(r) = reason {
                *c.escalations
                    .entry((tier.to_string(), r.to_string()))
                    .or_insert(0) += 1;
                if *r == "error" {
                    *c.errors.entry(tier.to_string()).or_insert(0) += 1;
                }
            }
        }
    }

    /// A request an input-guard rule refused (counted as a request, never as a call).
    pub(crate) fn refused(&self) {
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        c.requests += 1;
        c.refused += 1;
    }

    pub(crate) fn render(&self) -> String {
        let c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# HELP trilemma_cascade_requests_total Requests the gateway received."
        );
        let _ = writeln!(s, "# TYPE trilemma_cascade_requests_total counter");
        let _ = writeln!(s, "trilemma_cascade_requests_total {}", c.requests);
        let _ = writeln!(
            s,
            "# HELP trilemma_cascade_failed_requests_total Requests no tier answered."
        );
        let _ = writeln!(s, "# TYPE trilemma_cascade_failed_requests_total counter");
        let _ = writeln!(
            s,
            "trilemma_cascade_failed_requests_total {}",
            c.failed_requests
        );
        let _ = writeln!(
            s,
            "# HELP trilemma_cascade_refused_requests_total Requests an input-guard rule refused."
        );
        let _ = writeln!(s, "# TYPE trilemma_cascade_refused_requests_total counter");
        let _ = writeln!(s, "trilemma_cascade_refused_requests_total {}", c.refused);
        for (name, help, map) in [
            ("answered", "Requests answered by each tier.", &c.answered),
            ("calls", "Calls made to each tier.", &c.calls),
            (
                "errors",
                "Calls to each tier that failed (errors and timeouts).",
                &c.errors,
            ),
        ] {
            let _ = writeln!(s, "# HELP trilemma_cascade_{name}_total {help}");
            let _ = writeln!(s, "# TYPE trilemma_cascade_{name}_total counter");
            for t in &self.tiers {
                let _ = writeln!(
                    s,
                    "trilemma_cascade_{name}_total{{tier=\"{t}\"}} {}",
                    map.get(t).copied().unwrap_or(0)
                );
            }
        }
        let _ = writeln!(
            s,
            "# HELP trilemma_cascade_escalations_total Escalations away from a tier, by reason."
        );
        let _ = writeln!(s, "# TYPE trilemma_cascade_escalations_total counter");
        for ((t, r), n) in &c.escalations {
            let _ = writeln!(
                s,
                "trilemma_cascade_escalations_total{{tier=\"{t}\",reason=\"{r}\"}} {n}"
            );
        }
        let _ = writeln!(s, "# HELP trilemma_cascade_deferral_rate Share of requests escalated at least once, since start.");
        let _ = writeln!(s, "# TYPE trilemma_cascade_deferral_rate gauge");
        let rate = if c.requests == 0 {
            0.0
        } else {
            c.escalated as f64 / c.requests as f64
        };
        let _ = writeln!(s, "trilemma_cascade_deferral_rate {rate}");
        s
    }
}
