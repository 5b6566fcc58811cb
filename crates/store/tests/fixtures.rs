//! Files written before the run files were typed (schema version 0) read with today's
//! types, and today's files round-trip.

use std::path::{Path, PathBuf};

use trilemma_store::run::{self, GgufMetadata, RunDir, RunManifest, RunStore, RUN_SCHEMA_VERSION};
use trilemma_store::sweep::read_sweep;

fn fixture(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/v0")
        .join(p)
}

#[test]
fn a_run_directory_written_before_typing_reads() {
    let r = RunDir::read(&fixture("run")).unwrap();
    let m = &r.manifest;
    assert_eq!(m.schema_version, 0, "no schema_version field: version 0");
    assert_eq!(m.model.name, "smollm2-135m");
    assert_eq!(m.model.sha256.len(), 64);
    assert!(m.model.derived.is_none());
    assert!(
        m.model.gguf.is_none(),
        "written before headers were recorded"
    );
    assert_eq!(m.task.name, "arc-easy");
    assert_eq!(m.settings.limit, Some(3));
    assert_eq!(m.settings.batch_size, 2);
    assert_eq!(m.engine.kind, "llama.cpp");
    assert!(m.meters.idle_baseline.is_some());
    assert_eq!(r.summary.samples, 3);
    assert_eq!(r.summary.run_id, m.run_id);
    let samples = r.samples().unwrap();
    assert_eq!(samples.len(), 3);
    assert!(samples.iter().all(|s| s.task == "arc-easy"));
    // Written before truncation was counted: nothing marked, no count.
    assert_eq!(r.summary.truncated, None);
    assert!(samples
        .iter()
        .all(|s| trilemma_core::Truncation::of_record(s).is_none()));
}

#[test]
fn a_sweep_manifest_written_before_typing_reads() {
    let s = read_sweep(&fixture("sweep")).unwrap();
    assert_eq!(s.schema_version, 0);
    assert_eq!(s.name, "fx");
    assert_eq!(s.axes.tasks, ["arc-easy"]);
    assert_eq!(s.axes.batch_sizes, [2]);
    assert_eq!(s.axes.threads, [None]);
    assert!(s.axes.quant.is_empty());
    assert_eq!(s.run_flags.limit, Some(2));
    // Resuming it with the same axes is accepted, with other axes refused.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("sweep/sweep.json"), dir.path().join("sweep.json")).unwrap();
    s.write_or_check(dir.path()).unwrap();
    let mut other = s.clone();
    other.axes.batch_sizes = vec![1, 2];
    let e = other.write_or_check(dir.path()).unwrap_err().to_string();
    assert!(e.contains("axes") && e.contains("sweep.json"), "{e}");
}

#[test]
fn a_derived_variant_names_its_source() {
    let text = std::fs::read_to_string(fixture("derived/manifest.json")).unwrap();
    let m: RunManifest = serde_json::from_str(&text).unwrap();
    let d = m.model.derived.expect("a derived variant");
    assert_eq!(d.target, "Q8_0");
    assert_eq!(d.sha256, m.model.sha256);
    assert_eq!(d.source_sha256.len(), 64);
}

#[test]
fn a_resumed_run_must_match_the_manifest_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let m = run::read_manifest(&fixture("run")).unwrap();
    for f in [run::MANIFEST, run::SAMPLES] {
        std::fs::copy(fixture("run").join(f), dir.path().join(f)).unwrap();
    }
    // Same run, written now: resumes, and keeps the old samples.
    let mut now = m.clone();
    now.schema_version = RUN_SCHEMA_VERSION;
    let store = RunStore::open(dir.path(), &now).unwrap();
    assert_eq!(store.existing().len(), 3);
    assert_eq!(store.session, 1);
    drop(store);
    // Another batch size is another run.
    now.settings.batch_size = 8;
    let e = RunStore::open(dir.path(), &now).unwrap_err().to_string();
    assert!(e.contains("settings.batch_size"), "{e}");
}

#[test]
fn todays_manifest_round_trips() {
    let mut m = run::read_manifest(&fixture("run")).unwrap();
    m.schema_version = RUN_SCHEMA_VERSION;
    let text = serde_json::to_string(&m).unwrap();
    let back: RunManifest = serde_json::from_str(&text).unwrap();
    assert_eq!(back, m);
    // A file from a newer build is refused by name, not misread.
    let dir = tempfile::tempdir().unwrap();
    m.schema_version = RUN_SCHEMA_VERSION + 1;
    trilemma_store::write_json_atomic(&dir.path().join(run::MANIFEST), &m).unwrap();
    let e = run::read_manifest(dir.path()).unwrap_err().to_string();
    assert!(e.contains("schema version"), "{e}");
}

#[test]
fn what_a_header_says_is_recorded_and_read_back() {
    let mut m = run::read_manifest(&fixture("run")).unwrap();
    m.schema_version = RUN_SCHEMA_VERSION;
    m.model.gguf = Some(GgufMetadata {
        name: Some("Smollm2 135M 8k Lc100K Mix1 Ep2".into()),
        size_label: Some("135M".into()),
        architecture: Some("llama".into()),
        parameters: Some(134_515_008),
        file_type: Some("Q4_1".into()),
    });
    let dir = tempfile::tempdir().unwrap();
    trilemma_store::write_json_atomic(&dir.path().join(run::MANIFEST), &m).unwrap();
    assert_eq!(run::read_manifest(dir.path()).unwrap(), m);
    // A header without a name or size label (many files have neither) reads too.
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join(run::MANIFEST)).unwrap())
            .unwrap();
    v["model"]["gguf"] = serde_json::json!({"architecture": "gemma3", "parameters": 268_098_176});
    let back: RunManifest = serde_json::from_value(v).unwrap();
    let g = back.model.gguf.unwrap();
    assert_eq!(g.architecture.as_deref(), Some("gemma3"));
    assert_eq!((g.name, g.size_label, g.file_type), (None, None, None));
}
