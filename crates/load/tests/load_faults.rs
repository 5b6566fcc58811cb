//! Fault injection for `trilemma load`: against a server that fails some requests (an
//! error status, a reset, a stream cut inside an event, an event that is not JSON,
//! silence, a slow drip) and answers the rest, every request keeps its record, each failed
//! one says why, and the ones that succeeded keep what they measured.
//!
//! The faulty requests are the first ones the server receives, so their number is known
//! whatever the order in which two workers send them.

mod fault_server;

use std::time::Duration;

use fault_server::{Fault, FaultServer, TOKENS};
use trilemma_load::{
    run, run_plan, summarize, LoadConfig, LoadPlan, LoadRun, Profile, ProfilePlan, Server, Slo,
};

/// Requests of each run, and how many of them are faulted.
const REQUESTS: usize = 8;
const FAULTY: usize = 3;

/// A closed loop of two workers against `server`, with a per-request `timeout`.
fn config(server: &FaultServer, timeout: Duration) -> LoadConfig {
    LoadConfig {
        base_url: server.url.clone(),
        model: server.name.clone(),
        prompts: vec!["hello".into(), "world".into()],
        max_tokens: 8,
        requests: REQUESTS,
        profile: Profile::Concurrency { n: 2 },
        api_key_env: None,
        timeout,
        threads: 2,
        chat: false,
    }
}

/// Runs the load against a server whose first [`FAULTY`] completion requests meet `fault`.
fn run_against(fault: Fault, timeout: Duration) -> (LoadRun, FaultServer) {
    let server = FaultServer::faulty("m", fault, 0..FAULTY);
    let r = run(&config(&server, timeout)).unwrap();
    (r, server)
}

/// Every request has a record; exactly [`FAULTY`] failed, each with an error naming
/// `cause`; the others measured a whole answer; the summary counts both. Returns the
/// failed records for the caller's own checks.
fn assert_failed_named_and_rest_kept(r: &LoadRun, cause: &str) -> Vec<String> {
    assert_eq!(r.requests.len(), REQUESTS, "a request lost its record");
    let errors: Vec<String> = r.requests.iter().filter_map(|q| q.error.clone()).collect();
    assert_eq!(errors.len(), FAULTY, "{errors:?}");
    for e in &errors {
        assert!(
            e.to_lowercase().contains(&cause.to_lowercase()),
            "the error does not name {cause:?}: {e}"
        );
    }
    for q in r.requests.iter().filter(|q| q.error.is_none()) {
        assert_eq!(q.token_ns.len(), TOKENS, "tokens seen by the client");
        assert_eq!(q.output_tokens, TOKENS as u32, "the server's usage");
        assert!(q.start_ns < q.token_ns[0] && q.token_ns[TOKENS - 1] <= q.end_ns);
    }
    let s = summarize(r, &Slo::default(), 2).unwrap();
    assert_eq!((s.completed, s.failed), (REQUESTS - FAULTY, FAULTY));
    assert_eq!(s.ttft_s.map(|d| d.n), Some(REQUESTS - FAULTY));
    assert!(s.output_tokens_per_s > 0.0);
    errors
}

/// The tokens a failed request saw before it failed, one count per failed request.
fn tokens_of_failed(r: &LoadRun) -> Vec<usize> {
    r.requests
        .iter()
        .filter(|q| q.error.is_some())
        .map(|q| q.token_ns.len())
        .collect()
}

#[test]
fn a_5xx_is_that_requests_error_naming_the_status_and_the_rest_are_kept() {
    let (r, server) = run_against(Fault::Status(503), Duration::from_secs(10));
    assert_failed_named_and_rest_kept(&r, "HTTP 503");
    // A load generator measures: it does not retry.
    assert_eq!(server.completions(), REQUESTS);
}

#[test]
fn a_reset_connection_is_that_requests_error_naming_the_reset() {
    let (r, _) = run_against(Fault::Reset, Duration::from_secs(10));
    assert_failed_named_and_rest_kept(&r, "reset");
}

#[test]
fn a_stream_cut_mid_event_is_that_requests_error_and_the_rest_are_kept() {
    let (r, _) = run_against(Fault::Cut, Duration::from_secs(10));
    assert_failed_named_and_rest_kept(&r, "stream ended without [DONE]");
    // The event before the cut was measured and is kept with the error.
    assert_eq!(tokens_of_failed(&r), vec![1; FAULTY]);
}

#[test]
fn an_event_that_is_not_json_is_that_requests_error_naming_the_malformed_event() {
    let (r, _) = run_against(Fault::InvalidJson, Duration::from_secs(10));
    assert_failed_named_and_rest_kept(&r, "malformed event");
    assert_eq!(tokens_of_failed(&r), vec![1; FAULTY]);
}

#[test]
fn a_server_that_never_answers_times_out_per_request_and_the_rest_are_kept() {
    let timeout = Duration::from_secs(1);
    let (r, _) = run_against(Fault::Silent, timeout);
    assert_failed_named_and_rest_kept(&r, "timed out");
    // Each silent request ended at its timeout, not earlier and not much later.
    for q in r.requests.iter().filter(|q| q.error.is_some()) {
        let took = Duration::from_nanos(q.end_ns - q.start_ns);
        assert!(took >= timeout && took < timeout * 5, "{took:?}");
    }
}

#[test]
fn a_slow_drip_past_the_timeout_is_an_error_that_keeps_the_tokens_that_came() {
    // The pause is far longer than the timeout; the server stops when the client leaves.
    let (r, _) = run_against(Fault::Drip(Duration::from_secs(60)), Duration::from_secs(1));
    assert_failed_named_and_rest_kept(&r, "timed out");
    assert_eq!(tokens_of_failed(&r), vec![1; FAULTY]);
}

#[test]
fn a_server_that_breaks_mid_session_keeps_the_profiles_already_measured() {
    // The first profile's 4 requests are answered; every request after them fails.
    let server = FaultServer::faulty("m", Fault::Status(500), 4..usize::MAX);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("load.json");
    let plan = LoadPlan {
        server: Server::Given {
            url: server.url.clone(),
            model: server.name.clone(),
        },
        profiles: ProfilePlan {
            concurrency: vec![1, 2],
            ..Default::default()
        },
        prompts: vec!["hello".into()],
        chat: false,
        requests: 4,
        max_tokens: 8,
        slo: Slo::default(),
        api_key_env: None,
        threads: 1,
        timeout: Duration::from_secs(10),
        steady_batch: None,
        energy: false,
        out: Some(out.clone()),
    };
    let file = run_plan(&plan, |_| {}).unwrap();
    assert_eq!(file.profiles.len(), 2);
    let measured = &file.profiles[0];
    let s = measured
        .summary
        .as_ref()
        .expect("the first profile's summary");
    assert_eq!((s.completed, s.failed), (4, 0));
    let broken = &file.profiles[1];
    assert!(broken.summary.is_none());
    let e = broken.error.as_deref().unwrap_or_default();
    assert!(
        e.contains("no request succeeded") && e.contains("500"),
        "{e}"
    );
    assert_eq!(
        broken.run.requests.len(),
        4,
        "a failed request lost its record"
    );
    // The file on disk holds both, the measured profile whole.
    assert_eq!(trilemma_store::load::read_load(&out).unwrap(), file);
}
