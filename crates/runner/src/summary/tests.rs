use super::*;

#[test]
fn spread_across_repeats() {
    let mk = |repeat: u32, acc: f64, start: u64| SampleRecord {
        sample_id: format!("s{start}"),
        task: "t".into(),
        repeat,
        session: 0,
        outcome: trilemma_core::Outcome::Scored,
        prediction: String::new(),
        gold: String::new(),
        scores: BTreeMap::from([("acc".to_string(), acc)]),
        tokens: Default::default(),
        timing: trilemma_core::RequestTiming {
            start_ns: start,
            end_ns: start + 1_000_000_000,
            ..Default::default()
        },
        detail: serde_json::Value::Null,
    };
    let recs = vec![
        mk(0, 1.0, 0),
        mk(0, 0.0, 0),
        mk(1, 1.0, 5_000_000_000),
        mk(1, 1.0, 5_000_000_000),
    ];
    let s = repeat_spread(&recs);
    assert_eq!(s["acc"].values, vec![0.5, 1.0]);
    assert!((s["acc"].std - 0.353_553_390_593_273_8).abs() < 1e-12);
    assert_eq!(s["samples_per_s"].values, vec![2.0, 2.0]);
    assert!(repeat_spread(&recs[..2]).is_empty());
}

#[test]
fn macro_average_over_groups_with_stratified_bootstrap() {
    let mk = |group: &str, i: usize, acc: f64| SampleRecord {
        sample_id: format!("{group}/{i}"),
        task: "mmlu".into(),
        repeat: 0,
        session: 0,
        outcome: trilemma_core::Outcome::Scored,
        prediction: String::new(),
        gold: String::new(),
        scores: BTreeMap::from([("acc".to_string(), acc)]),
        tokens: Default::default(),
        timing: Default::default(),
        detail: serde_json::json!({ "group": group }),
    };
    // Group a: 1 of 2 right (0.5); group b: 8 of 8 right (1.0).
    let mut recs = vec![mk("a", 0, 1.0), mk("a", 1, 0.0)];
    recs.extend((0..8).map(|i| mk("b", i, 1.0)));
    let (per_group, macros) = group_metrics(&recs);
    assert_eq!(per_group["a"]["acc"].value, 0.5);
    assert_eq!(per_group["b"]["acc"].n, 8);
    let m = &macros["acc_macro"];
    // Macro (0.5 + 1.0) / 2, not the micro 9/10.
    assert!((m.value - 0.75).abs() < 1e-12);
    assert_eq!(m.n, 10);
    // se = sqrt(se_a^2 + se_b^2) / 2, se_a = 0.5 (sample std 0.7071 / sqrt 2), se_b = 0.
    assert!((m.stderr - 0.25).abs() < 1e-12, "{}", m.stderr);
    // Only group a varies: the resampled macro is 0.5, 0.75 or 1.0.
    assert!(m.ci_low >= 0.5 && m.ci_high <= 1.0 && m.ci_low < m.ci_high);
    // With a group of one item, the spread comes from the group means.
    let (_, single) = group_metrics(&[mk("a", 0, 1.0), mk("b", 0, 0.0), mk("c", 0, 1.0)]);
    let m = &single["acc_macro"];
    assert!((m.value - 2.0 / 3.0).abs() < 1e-12);
    assert!(m.stderr > 0.0 && m.ci_low < m.ci_high, "{m:?}");
    // Records without groups give nothing.
    let plain: Vec<_> = recs
        .iter()
        .cloned()
        .map(|mut r| {
            r.detail = serde_json::Value::Null;
            r
        })
        .collect();
    assert!(group_metrics(&plain).0.is_empty());
}

#[test]
fn corpus_metrics_use_every_reference() {
    let mk = |pred: &str, refs: &[&str]| SampleRecord {
        sample_id: pred.into(),
        task: "t".into(),
        repeat: 0,
        session: 0,
        outcome: trilemma_core::Outcome::Scored,
        prediction: pred.into(),
        gold: refs[0].into(),
        scores: BTreeMap::new(),
        tokens: Default::default(),
        timing: Default::default(),
        detail: serde_json::json!({ "references": refs }),
    };
    let recs = vec![
        mk("positive", &["positive"]),
        mk("negative", &["positive"]),
        mk("negative", &["negative"]),
        mk("banana", &["negative"]),
    ];
    let m = corpus_metrics(&recs, &["macro_f1".to_string(), "nope".to_string()]);
    assert!(!m.contains_key("nope"));
    let f = &m["macro_f1"];
    // Same as trilemma-scoring on the same pairs (its parity tests pin it to scikit-learn).
    let want = trilemma_scoring::corpus_score(
        "macro_f1",
        &recs
            .iter()
            .map(|r| r.prediction.clone())
            .collect::<Vec<_>>(),
        &recs
            .iter()
            .map(|r| vec![r.gold.clone()])
            .collect::<Vec<_>>(),
    )
    .unwrap()
    .value;
    assert!((f.value - want).abs() < 1e-12);
    assert!(f.value > 0.0 && f.value < 1.0);
    assert_eq!(f.n, 4);
}

#[test]
fn label_tasks_score_every_label_and_error_as_classes() {
    let labels = ["GROUNDED", "UNGROUNDED", "SMALL_TALK"];
    let mk = |pred: &str, gold: &str| SampleRecord {
        sample_id: format!("{pred}{gold}"),
        task: "v".into(),
        repeat: 0,
        session: 0,
        outcome: trilemma_core::Outcome::Scored,
        prediction: pred.into(),
        gold: gold.into(),
        scores: BTreeMap::new(),
        tokens: Default::default(),
        timing: Default::default(),
        detail: serde_json::json!({ "references": [gold], "labels": labels }),
    };
    let recs = vec![
        mk("GROUNDED", "GROUNDED"),
        mk("SMALL_TALK", "GROUNDED"),
        mk("UNGROUNDED", "UNGROUNDED"),
        mk("Error", "UNGROUNDED"),
    ];
    let m = corpus_metrics(&recs, &["macro_f1".to_string()]);
    // Classes Error, GROUNDED, SMALL_TALK, UNGROUNDED: F1 0, 2/3, 0, 2/3.
    assert!(
        (m["macro_f1"].value - (4.0 / 3.0) / 4.0).abs() < 1e-12,
        "{:?}",
        m
    );
    let task = TaskInfo {
        name: "v".into(),
        output_type: trilemma_tasks::OutputType::JsonLabel,
        primary_metric: "macro_f1".into(),
        level: "sample".into(),
        source: String::new(),
        data_set: String::new(),
        num_fewshot: 0,
        corpus_metrics: vec!["macro_f1".into()],
    };
    let c = classification(&recs, &task).unwrap();
    assert_eq!(
        c["confusion"]["labels"],
        serde_json::json!(["Error", "GROUNDED", "SMALL_TALK", "UNGROUNDED"])
    );
    // Row UNGROUNDED (true): one predicted Error, one UNGROUNDED.
    assert_eq!(c["confusion"]["counts"][3], serde_json::json!([1, 0, 0, 1]));
}

#[test]
fn corpus_perplexities_weight_by_units() {
    let mk = |i: u32, ll: f64, tokens: u64, words: u64, bytes: u64| SampleRecord {
        sample_id: format!("d{i}"),
        task: "p".into(),
        repeat: 0,
        session: 0,
        outcome: trilemma_core::Outcome::Scored,
        prediction: String::new(),
        gold: String::new(),
        scores: BTreeMap::from([("loglikelihood".to_string(), ll)]),
        tokens: Default::default(),
        timing: Default::default(),
        detail: serde_json::json!({
            "loglikelihood": ll, "tokens": tokens, "words": words, "bytes": bytes
        }),
    };
    let recs = vec![
        mk(0, -10.0, 4, 5, 20),
        mk(1, -20.0, 6, 5, 40),
        mk(2, -3.0, 2, 1, 6),
    ];
    let names: Vec<String> = trilemma_tasks::PERPLEXITY_METRICS
        .iter()
        .map(|m| (*m).to_string())
        .collect();
    let m = corpus_metrics(&recs, &names);
    // Summed log-likelihood over summed units, not a mean of per-document perplexities.
    assert!((m["word_perplexity"].value - (33.0f64 / 11.0).exp()).abs() < 1e-9);
    assert!((m["token_perplexity"].value - (33.0f64 / 12.0).exp()).abs() < 1e-9);
    assert!((m["byte_perplexity"].value - (33.0f64 / 66.0).exp()).abs() < 1e-9);
    assert!((m["bits_per_byte"].value - 33.0 / 66.0 / std::f64::consts::LN_2).abs() < 1e-12);
    let w = &m["word_perplexity"];
    assert!(w.ci_low <= w.value && w.value <= w.ci_high && w.ci_low < w.ci_high);
    assert_eq!(w.n, 3);
}

#[test]
fn overlapping_windows_count_once() {
    assert_eq!(covered_ns(vec![(0, 10), (5, 20), (30, 40)]), 30);
    assert_eq!(covered_ns(vec![]), 0);
    assert_eq!(covered_ns(vec![(3, 4), (0, 10)]), 10);
}
