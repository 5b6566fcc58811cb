//! `trilemma load` and `trilemma bench load` against the static SSE target (no model):
//! the preflight, the GuideLLM-style sweep, bad prompt files, and the overhead benchmark.

mod common;
use common::{run_ok, trilemma};

use std::process::{Child, Stdio};
use trilemma_store::load::Profile;

/// `trilemma bench sse-target` on a free port, killed when dropped.
struct Target(Child, String);

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn target() -> Target {
    let addr = format!("127.0.0.1:{}", free_port());
    let t = Target(
        trilemma()
            .args(["bench", "sse-target", "--listen", &addr])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
        format!("http://{addr}/v1"),
    );
    for _ in 0..100 {
        if std::net::TcpStream::connect(&addr).is_ok() {
            return t;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the static target did not start");
}

fn prompts(dir: &std::path::Path, text: &str) -> std::path::PathBuf {
    let p = dir.join("prompts.jsonl");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn an_unreachable_server_fails_the_preflight() {
    let tmp = tempfile::tempdir().unwrap();
    let out = trilemma()
        .args(["load", "--engine"])
        .arg(format!("http://127.0.0.1:{}/v1", free_port()))
        .args(["--served-model", "m", "--concurrency", "1", "--prompts"])
        .arg(prompts(tmp.path(), "hello\n"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("preflight") && err.contains("cannot reach") && err.contains("refused"),
        "{err}"
    );
}

#[test]
fn a_prompts_line_without_a_prompt_is_named() {
    let server = target();
    let tmp = tempfile::tempdir().unwrap();
    let out = trilemma()
        .args(["load", "--engine", &server.1, "--served-model", "static"])
        .args(["--concurrency", "1", "--prompts"])
        .arg(prompts(
            tmp.path(),
            "{\"prompt\": \"a\"}\n{\"text\": \"b\"}\n",
        ))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("prompts.jsonl:2: no string field \"prompt\""),
        "{err}"
    );
}

#[test]
fn the_sweep_runs_synchronous_then_throughput_then_rates_between() {
    let server = target();
    let tmp = tempfile::tempdir().unwrap();
    let report = tmp.path().join("load.json");
    run_ok(
        trilemma()
            .args(["load", "--engine", &server.1, "--served-model", "static"])
            .args([
                "--sweep",
                "2",
                "--max-concurrency",
                "8",
                "--requests",
                "200",
            ])
            .arg("--prompts")
            .arg(prompts(tmp.path(), "hello\nworld\n"))
            .arg("--out")
            .arg(&report),
    );
    let file = trilemma_store::load::read_load(&report).unwrap();
    assert_eq!(
        file.schema_version,
        trilemma_store::load::LOAD_SCHEMA_VERSION
    );
    let entries = &file.profiles;
    assert_eq!(entries.len(), 4);
    let summary = |i: usize| entries[i].summary.as_ref().unwrap();
    assert_eq!(summary(0).profile, Profile::Concurrency { n: 1 });
    assert_eq!(summary(1).profile, Profile::Concurrency { n: 8 });
    let (sync, max) = (summary(0).requests_per_s, summary(1).requests_per_s);
    // The two rates split [synchronous, throughput] in thirds.
    for (i, k) in [(2, 1.0), (3, 2.0)] {
        let Profile::Constant { rate: got } = summary(i).profile else {
            panic!("entry {i} is not a constant rate: {:?}", summary(i).profile);
        };
        let want = sync + (max - sync) * k / 3.0;
        assert!((got - want).abs() < 1e-6 * want, "{got} vs {want}");
    }
    for i in 0..entries.len() {
        let s = summary(i);
        assert_eq!((s.failed, s.completed), (0, 200));
        // The target reports its own TTFT; the client's gap to it is positive.
        assert!(s.ttft_gap_s.as_ref().unwrap().min > 0.0);
    }
    // The file is a load file `trilemma report` reads.
    let md = run_ok(trilemma().args(["report", "--format", "md"]).arg(&report));
    assert!(String::from_utf8_lossy(&md.stdout).contains("| concurrency 8 |"));
}

#[test]
fn bench_load_reports_the_generators_own_cost() {
    let out = run_ok(trilemma().args([
        "bench",
        "load",
        "--requests",
        "2000",
        "--concurrency",
        "8",
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ours = &v["ours"];
    assert_eq!(ours["completed"], 2000);
    assert_eq!(ours["failed"], 0);
    assert!(ours["client_cpu_s"].as_f64().unwrap() > 0.0);
    assert!(ours["requests_per_cpu_s"].as_f64().unwrap() > 0.0);
    assert!(ours["ttft_gap_p99_ms"].as_f64().unwrap() > 0.0);
    assert!(v["guidellm"].is_null());
}
