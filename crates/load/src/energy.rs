//! Steady-state J/token of one load profile: the meters' energy over the window in which
//! the batch was full (until the tail started draining, as ML.ENERGY defines it), divided
//! by the output tokens produced inside that window.

use trilemma_core::MonoNs;
use trilemma_telemetry::Readings;

use crate::{LoadRun, SourceEnergy, SteadyEnergy};

/// J/token over the steady-state `window` from each energy source the meters had (never
/// summed across sources); J/request = J/token x the mean output tokens of a completed
/// request. Without a window no J/token is attributed, and the text says why.
pub fn steady_energy(
    readings: &Readings,
    run: &LoadRun,
    window: Option<(MonoNs, MonoNs)>,
) -> SteadyEnergy {
    let Some((t0, t1)) = window else {
        return SteadyEnergy {
            text: "no steady-state window (the batch never filled, or never drained): J/token not attributed".into(),
            window_ns: None,
            tokens_in_window: None,
            sources: Vec::new(),
        };
    };
    let ok: Vec<_> = run.requests.iter().filter(|r| r.error.is_none()).collect();
    let spans: Vec<_> = ok
        .iter()
        .map(|r| (r.start_ns, r.end_ns, u64::from(r.output_tokens)))
        .collect();
    let tokens = trilemma_telemetry::tokens_in_window(&spans, (t0, t1));
    let mean_out =
        ok.iter().map(|r| f64::from(r.output_tokens)).sum::<f64>() / ok.len().max(1) as f64;
    let mut sources = Vec::new();
    let mut text = format!(
        "steady-state window {:.2} s, {:.0} output tokens in it",
        (t1 - t0) as f64 / 1e9,
        tokens
    );
    for source in readings.sources() {
        let Some(j) = readings.energy_between(source, t0, t1) else {
            continue;
        };
        let per_token = j / tokens.max(1.0);
        text.push_str(&format!(
            "; {}: {:.3} J/token, {:.2} J/request{}",
            source.label(),
            per_token,
            per_token * mean_out,
            if source.is_measurement() {
                ""
            } else {
                " (ESTIMATE from the whole machine's CPU use, client included)"
            }
        ));
        sources.push(SourceEnergy {
            source,
            joules: j,
            j_per_token: per_token,
            j_per_request: per_token * mean_out,
        });
    }
    SteadyEnergy {
        text,
        window_ns: Some((t0, t1)),
        tokens_in_window: Some(tokens),
        sources,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Profile, RequestRecord};
    use trilemma_telemetry::{Telemetry, TelemetryConfig};

    fn request(start_ns: MonoNs, end_ns: MonoNs, output_tokens: u32) -> RequestRecord {
        RequestRecord {
            start_ns,
            token_ns: vec![end_ns],
            end_ns,
            output_tokens,
            error: None,
            server_ttft_ns: None,
        }
    }

    #[test]
    fn j_per_token_is_taken_over_the_window_per_source() {
        // Real meters on this machine (the estimate at least), over a short busy span.
        let meters = Telemetry::start(&TelemetryConfig {
            period: std::time::Duration::from_millis(10),
            estimate_machine_wide: true,
            ..Default::default()
        });
        let t0 = trilemma_core::now_ns();
        let mut x = 0u64;
        while trilemma_core::now_ns() < t0 + 200_000_000 {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        let readings = meters.finish();
        assert_ne!(x, 1);
        // A window inside the samples (energy is not extrapolated past them).
        let (first, last) = readings.span();
        let (t0, t1) = (first + (last - first) / 4, last - (last - first) / 4);
        let run = LoadRun {
            profile: Profile::Concurrency { n: 2 },
            started_ns: t0,
            ended_ns: t1,
            // Both requests lie inside the window: 30 tokens in it, 15 per request.
            requests: vec![request(t0, t1, 10), request(t0, t1, 20)],
            warm_connections: 2,
        };
        let none = steady_energy(&readings, &run, None);
        assert!(none.window_ns.is_none() && none.sources.is_empty());
        assert!(none.text.contains("no steady-state window"));

        let e = steady_energy(&readings, &run, Some((t0, t1)));
        assert_eq!(e.window_ns, Some((t0, t1)));
        assert_eq!(e.tokens_in_window, Some(30.0));
        assert!(
            e.text.starts_with("steady-state window ")
                && e.text.contains("s, 30 output tokens in it"),
            "{}",
            e.text
        );
        assert!(!e.sources.is_empty(), "{}", e.text);
        for s in &e.sources {
            assert!((s.j_per_token - s.joules / 30.0).abs() < 1e-12);
            assert!((s.j_per_request - s.j_per_token * 15.0).abs() < 1e-12);
            assert!(e.text.contains(s.source.label()));
        }
    }
}
