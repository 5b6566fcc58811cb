//! Load files written by `trilemma load --out` before the load file was typed (a bare
//! list of entries, schema version 0) still read, and a written load file reads back
//! equal.

use std::path::{Path, PathBuf};

use trilemma_core::stats::Distribution;
use trilemma_core::EnergySource;
use trilemma_store::load::{read_load, write_load, LoadFile, Profile, LOAD_SCHEMA_VERSION};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// `trilemma load --engine URL --served-model static --prompts FILE --concurrency 2
/// --sweep 1 --max-concurrency 4 --poisson --seed 7 --requests 6 --max-tokens 4 --energy`
/// against `trilemma bench sse-target --pieces 4`, by the binary of `main` before the
/// load file was typed.
#[test]
fn a_sweep_written_before_the_schema_version_reads() {
    let file = read_load(&fixture("load-v0-sweep.json")).unwrap();
    assert_eq!(file.schema_version, 0);
    let profiles: Vec<Profile> = file.profiles.iter().map(|e| e.run.profile).collect();
    assert_eq!(profiles.len(), 4);
    assert_eq!(profiles[0], Profile::Concurrency { n: 2 });
    assert_eq!(profiles[1], Profile::Concurrency { n: 1 });
    assert_eq!(profiles[2], Profile::Concurrency { n: 4 });
    assert!(matches!(profiles[3], Profile::Poisson { seed: 7, rate } if rate > 0.0));
    for e in &file.profiles {
        assert!(e.max_batch.is_none() && e.error.is_none());
        let s = e.summary.as_ref().unwrap();
        assert_eq!((s.completed, s.failed), (6, 0));
        assert_eq!(s.profile, e.run.profile);
        assert_eq!(e.run.requests.len(), 6);
        assert!(e.run.requests.iter().all(|r| r.output_tokens == 4));
        assert!(s.ttft_gap_s.as_ref().unwrap().min > 0.0);
        let energy = e.energy.as_ref().unwrap();
        assert_eq!(energy.window_ns, s.steady_window_ns);
        assert!(energy.tokens_in_window.unwrap() > 0.0);
        assert_eq!(energy.sources[0].source, EnergySource::Estimate);
        assert!(energy.text.contains("ESTIMATE"));
    }
    assert_eq!(file.profiles[0].steady_batch, Some(2));
}

/// `trilemma load --serve smollm2-135m --max-batch 1,2 --task arc-easy --requests 4
/// --max-tokens 8 --sweep 1 --max-concurrency 2 --poisson --seed 7 --energy`, by the same
/// binary. Its spawned servers crashed on the first request on the machine it ran on
/// (ggml's AMX matrix multiply, since left out of the build), so every entry is one that
/// measured nothing: an `error`, the max batch and the failed requests, no summary.
#[test]
fn entries_that_measured_nothing_read() {
    let file = read_load(&fixture("load-v0-serve-failed.json")).unwrap();
    assert_eq!(file.schema_version, 0);
    let batches: Vec<Option<usize>> = file.profiles.iter().map(|e| e.max_batch).collect();
    assert_eq!(batches, [Some(1), Some(1), Some(2), Some(2)]);
    for e in &file.profiles {
        assert!(e.summary.is_none() && e.energy.is_none() && e.steady_batch.is_none());
        assert!(e
            .error
            .as_ref()
            .unwrap()
            .starts_with("no request succeeded"));
        assert_eq!(e.run.requests.len(), 4);
        assert!(e.run.requests.iter().all(|r| r.error.is_some()));
    }
}

#[test]
fn a_written_load_file_reads_back_equal_with_this_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["load-v0-sweep.json", "load-v0-serve-failed.json"] {
        let mut file = read_load(&fixture(name)).unwrap();
        file.schema_version = LOAD_SCHEMA_VERSION;
        let p = dir.path().join(name);
        write_load(&p, &file).unwrap();
        assert_eq!(read_load(&p).unwrap(), file, "{name}");
        let raw: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(raw["schema_version"], LOAD_SCHEMA_VERSION);
        assert!(raw["profiles"].is_array());
    }
    // Computed floats (shortest representations of 17 digits) read back exactly.
    let mut file = read_load(&fixture("load-v0-sweep.json")).unwrap();
    let xs: Vec<f64> = (1..2000)
        .map(|k| f64::from(k).sqrt() * 1e-5 / 3.0)
        .collect();
    let summary = file.profiles[0].summary.as_mut().unwrap();
    summary.itl_s = Some(Distribution::of(&xs).unwrap());
    summary.requests_per_s = 10.0 / 3.0;
    let p = dir.path().join("computed.json");
    write_load(&p, &file).unwrap();
    assert_eq!(read_load(&p).unwrap().profiles, file.profiles);
    let empty = LoadFile::new();
    let p = dir.path().join("empty.json");
    write_load(&p, &empty).unwrap();
    assert_eq!(read_load(&p).unwrap(), empty);
}
