//! A judgement file written by `trilemma judge` before its files were typed (no
//! `schema_version`, the manifest built as untyped JSON) still reads, typed.
//!
//! The fixture: `trilemma run -t gsm8k --limit 2` on SmolLM2-135M (F16), then
//! `trilemma judge --run <that run>` with the same model as judge on the shipped rubric.

use std::path::{Path, PathBuf};

use trilemma_core::Outcome;
use trilemma_store::judge::{self, JudgeManifest, JUDGEMENTS};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/judge")
}

#[test]
fn judgements_written_before_the_typed_files_read_typed() {
    let path = fixture().join(JUDGEMENTS);

    let judgements = judge::read_judgements(&path).unwrap();
    assert_eq!(judgements.len(), 2);
    let ids: Vec<&str> = judgements.iter().map(|j| j.sample_id.as_str()).collect();
    assert_eq!(ids, ["0", "1"]);
    for j in &judgements {
        assert_eq!(j.task, "gsm8k");
        assert_eq!(j.outcome, Outcome::Scored);
        assert_eq!(j.verdict.as_deref(), Some("1"));
        assert_eq!(j.score, Some(0.0));
        assert!(j.output_tokens >= 1 && !j.raw_output.is_empty());
        assert_eq!(j.timing.token_ns.len(), j.output_tokens as usize);
    }

    let m = judge::read_manifest(&path).unwrap();
    assert_eq!(m.schema_version, 0, "written before the field existed");
    assert_eq!(m.run_id.as_deref(), Some("smollm2-135m__gsm8k"));
    assert_eq!(m.judge.name, "b179c9523d0e-f16");
    assert_eq!(m.judge.sha256.as_deref().map(str::len), Some(64));
    assert_eq!(m.judge.engine.kind, "llama.cpp");
    assert_eq!(m.rubric.name, "seed-004-3-level");
    assert_eq!(m.rubric.path, "crates/judge/rubrics/seed-004.toml");
    let scores: Vec<f64> = m.rubric.levels.iter().map(|l| l.score).collect();
    assert_eq!(scores, [0.0, 0.5, 1.0]);
    assert_eq!(m.rubric.max_tokens, 8);
    assert_eq!(m.command[1], "judge");

    let s = judge::read_summary(&path).unwrap();
    assert_eq!(s.rubric, m.rubric.name);
    assert_eq!(s.judge, m.judge.name);
    assert_eq!(s.summary.judged, 2);
    assert_eq!(s.summary.errors, 0);
    assert_eq!(s.summary.counts["1"], 2);
    let score = s.summary.score.unwrap();
    assert_eq!((score.value, score.n), (0.0, 2));
}

#[test]
fn an_old_judgement_file_resumes_with_a_manifest_written_today() {
    // A judge resumed today over the old file: same judge and rubric, so it is accepted,
    // the old judgements are kept, and the old manifest is left as it was.
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "judgements.jsonl",
        "judgements.manifest.json",
        "judgements.summary.json",
    ] {
        std::fs::copy(fixture().join(name), dir.path().join(name)).unwrap();
    }
    let path = dir.path().join(JUDGEMENTS);
    let old = judge::read_manifest(&path).unwrap();
    let today = JudgeManifest {
        schema_version: judge::JUDGE_SCHEMA_VERSION,
        created_at: "2027-01-01T00:00:00+00:00".into(),
        command: vec!["trilemma".into(), "judge".into()],
        ..old.clone()
    };
    let store = judge::JudgementStore::open(&path, &today).unwrap();
    assert_eq!(store.existing().len(), 2);
    assert_eq!(store.done().len(), 2);
    drop(store);
    assert_eq!(judge::read_manifest(&path).unwrap(), old);

    let mut other = today;
    other.rubric.sha256 = "0".repeat(64);
    let e = judge::JudgementStore::open(&path, &other)
        .unwrap_err()
        .to_string();
    assert!(e.contains("rubric.sha256"), "{e}");
}
