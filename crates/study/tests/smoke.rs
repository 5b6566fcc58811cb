//! Every shipped preset at `--budget smoke` (a few items, the two small models): the
//! report holds the seed's tables, every cell filled or marked with why not, and the
//! tables' shape is held by snapshots. Bad requests fail before anything runs.
//!
//! Needs the catalog's small models and data in $TRILEMMA_CACHE (fetched on first use).

use std::path::Path;
use std::sync::atomic::AtomicBool;

use trilemma_analysis::study::{Cell, StudyReport};
use trilemma_assets::Cache;
use trilemma_study::{
    find, plan, run_study, BudgetName, StudyObserver, StudyRequest, StudySettings,
};

struct Quiet;
impl StudyObserver for Quiet {}

fn settings() -> StudySettings {
    StudySettings {
        meters: trilemma_telemetry::TelemetryConfig {
            period: std::time::Duration::from_millis(100),
            powercap_root: "/sys/class/powercap".into(),
            grid_g_per_kwh: 475.0,
            price_usd_per_kwh: 0.15,
            estimate_machine_wide: false,
        },
        threads: None,
        offline: false,
        seed: trilemma_core::DEFAULT_SEED,
        command: vec!["test".into()],
    }
}

fn request(out: &Path) -> StudyRequest {
    StudyRequest {
        models: Vec::new(),
        tasks: Vec::new(),
        budget: BudgetName::Smoke,
        out: Some(out.to_path_buf()),
    }
}

fn shape(r: &StudyReport) -> String {
    r.shape()
}

fn smoke(name: &str) -> StudyReport {
    let dir = tempfile::tempdir().unwrap();
    let preset = find(name).unwrap();
    let p = plan(&preset, &request(dir.path()), &Cache::from_env()).unwrap();
    let done = run_study(&p, &settings(), &AtomicBool::new(false), &mut Quiet).unwrap();
    assert!(!done.interrupted);
    for f in ["study.json", "study.md", "study.html", "report.html"] {
        assert!(dir.path().join(f).is_file(), "{name}: {f} written");
    }
    let r = done.report.unwrap();
    for t in &r.tables {
        assert_eq!(
            t.rows.iter().map(Vec::len).max().unwrap_or(t.columns.len()),
            t.columns.len()
        );
        for row in &t.rows {
            assert_eq!(row.len(), t.columns.len(), "{name} {}: ragged row", t.id);
            for c in row {
                if let Cell::Missing { why } = c {
                    assert!(!why.is_empty(), "{name} {}: a missing cell says why", t.id);
                }
            }
        }
        for c in &t.columns {
            assert!(
                !c.how.is_empty() && !c.differs.is_empty(),
                "{name} {}: {} has notes",
                t.id,
                c.key
            );
        }
    }
    // Resuming a finished study evaluates nothing again and gives the same tables.
    let again = run_study(&p, &settings(), &AtomicBool::new(false), &mut Quiet).unwrap();
    assert_eq!(again.evaluated, 0, "{name}: a finished study is not rerun");
    assert_eq!(shape(again.report.as_ref().unwrap()), shape(&r));
    r
}

#[test]
fn slm_bench_smoke_has_the_leaderboard_and_every_metric_family() {
    let r = smoke("slm-bench");
    insta::assert_snapshot!("slm_bench_shape", shape(&r));
    let board = &r.tables[0];
    assert_eq!(board.id, "medals");
    // Two tasks x the four metrics every run has (accuracy, runtime, FLOPs, memory; energy,
    // CO2 and cost need the meters to have read during the run): a gold each at least.
    let golds: f64 = board
        .rows
        .iter()
        .map(|row| match row[2] {
            Cell::Number { value, .. } => value,
            _ => 0.0,
        })
        .sum();
    assert!(golds >= 8.0, "{golds} golds");
    let keys: Vec<&str> = r.tables[1].columns.iter().map(|c| c.key.as_str()).collect();
    for k in [
        "accuracy", "runtime", "flops", "memory", "energy", "co2", "cost", "medals",
    ] {
        assert!(keys.contains(&k), "{k}");
    }
}

#[test]
fn per_smoke_has_per_ranks_and_the_published_tables() {
    let r = smoke("per");
    insta::assert_snapshot!("per_shape", shape(&r));
    let ids: Vec<&str> = r.tables.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "per-arc-easy",
            "per-hellaswag",
            "per-ranks",
            "per-published"
        ]
    );
}

#[test]
fn slim_eval_smoke_names_each_variants_source_precision() {
    let r = smoke("slim-eval");
    insta::assert_snapshot!("slim_eval_shape", shape(&r));
    let t2 = &r.tables[0];
    assert!(
        t2.rows
            .iter()
            .all(|row| row[1].show().contains("derived from")),
        "{:?}",
        t2.rows
    );
    // Two models, each with a step below its highest precision.
    assert_eq!(r.tables[1].rows.len(), 2);
    let objectives: Vec<String> = r.tables[2].rows.iter().map(|row| row[0].show()).collect();
    for o in [
        "accuracy-critical",
        "latency-critical",
        "energy-constrained",
        "memory-constrained",
    ] {
        assert!(objectives.iter().any(|x| x == o), "{o}: {objectives:?}");
    }
}

#[test]
fn bad_requests_fail_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::from_env();
    let e = find("no-such-study").unwrap_err().to_string();
    assert!(
        e.contains("no-such-study") && e.contains("slim-eval"),
        "{e}"
    );
    let per = find("per").unwrap();
    let mut req = request(dir.path());
    req.tasks = vec!["boolq".into()];
    let e = plan(&per, &req, &cache).unwrap_err().to_string();
    assert!(
        e.contains("boolq") && e.contains("cannot use") && e.contains("seed 001"),
        "{e}"
    );
    let mut req = request(dir.path());
    req.models = vec!["http://127.0.0.1:1/v1".into()];
    let e = plan(&per, &req, &cache).unwrap_err().to_string();
    assert!(e.contains("served model"), "{e}");
    let mut req = request(dir.path());
    req.models = vec![dir.path().join("missing.gguf").display().to_string()];
    let e = plan(&per, &req, &cache).unwrap_err().to_string();
    assert!(
        e.contains("missing.gguf") && e.contains("no such file"),
        "{e}"
    );
    // Nothing was written.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
