//! Every metric against vectors from the reference implementations
//! (`scripts/parity/generate_vectors.py`: sacreBLEU, scikit-learn, the SQuAD v1.1 script).

use serde_json::Value;
use trilemma_scoring::{bleu, chrf, corpus_score, f1, meteor, porter, rouge, squad};

const TOL: f64 = 1e-6;

fn load(name: &str) -> Value {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn close(what: &str, i: usize, got: f64, want: f64, case: &Value) {
    assert!(
        (got - want).abs() <= TOL,
        "{what} case {i}: got {got}, want {want}; case {case}"
    );
}

#[test]
fn sentence_metrics_match_references() {
    let v = load("sentence.json");
    let cases = v["cases"].as_array().unwrap();
    assert!(cases.len() >= 300);
    for (i, c) in cases.iter().enumerate() {
        let p = c["prediction"].as_str().unwrap();
        let r = strings(&c["references"]);
        let f = |k: &str| c[k].as_f64().unwrap();
        close("bleu", i, bleu::sentence_bleu(p, &r), f("bleu"), c);
        close("chrf", i, chrf::sentence_chrf(p, &r), f("chrf"), c);
        close(
            "squad_em",
            i,
            squad::sentence_squad_em(p, &r),
            f("squad_em"),
            c,
        );
        close(
            "squad_f1",
            i,
            squad::sentence_squad_f1(p, &r),
            f("squad_f1"),
            c,
        );
        for m in ["rouge1", "rouge2", "rougeL", "rougeLsum"] {
            let kind = rouge::RougeType::from_name(m).unwrap();
            close(m, i, rouge::sentence_rouge(kind, p, &r), f(m), c);
        }
        close("meteor", i, meteor::sentence_meteor(p, &r), f("meteor"), c);
        let opts = trilemma_scoring::exact_match::ExactMatchOptions {
            ignore_case: true,
            ignore_punctuation: true,
            ..Default::default()
        };
        let em_cp = trilemma_scoring::exact_match::sentence_exact_match_with(p, &r[..1], &opts);
        close("em_case_punct", i, em_cp, f("em_case_punct"), c);
        let em = trilemma_scoring::exact_match::sentence_exact_match(p, &r);
        close("exact_match", i, em, f("exact_match"), c);
    }
}

#[test]
fn corpus_metrics_match_references() {
    let v = load("corpus.json");
    for (i, c) in v["corpora"].as_array().unwrap().iter().enumerate() {
        let p = strings(&c["predictions"]);
        let r: Vec<Vec<String>> = c["references"]
            .as_array()
            .unwrap()
            .iter()
            .map(strings)
            .collect();
        for m in [
            "bleu",
            "chrf",
            "rouge1",
            "rouge2",
            "rougeL",
            "rougeLsum",
            "meteor",
        ] {
            let got = corpus_score(m, &p, &r).unwrap().value;
            let want = c[m].as_f64().unwrap();
            assert!(
                (got - want).abs() <= TOL,
                "{m} corpus {i}: got {got}, want {want}"
            );
        }
    }
}

#[test]
fn macro_f1_matches_sklearn() {
    let v = load("macro_f1.json");
    for (i, c) in v["cases"].as_array().unwrap().iter().enumerate() {
        let t = strings(&c["y_true"]);
        let p = strings(&c["y_pred"]);
        let t: Vec<&str> = t.iter().map(String::as_str).collect();
        let p: Vec<&str> = p.iter().map(String::as_str).collect();
        let report = f1::f1_report(&t, &p).unwrap();
        close(
            "macro_f1",
            i,
            report.macro_f1,
            c["macro_f1"].as_f64().unwrap(),
            c,
        );
        assert_eq!(report.confusion.labels, strings(&c["labels"]), "labels {i}");
        let want: Vec<f64> = c["per_class_f1"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert_eq!(report.f1.len(), want.len(), "classes {i}");
        for (g, w) in report.f1.iter().zip(&want) {
            close("per_class_f1", i, *g, *w, c);
        }
    }
}

#[test]
fn porter_matches_nltk() {
    let v = load("porter.json");
    let stems = v["stems"].as_array().unwrap();
    assert!(stems.len() >= 100);
    for pair in stems {
        let (w, s) = (pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
        assert_eq!(porter::stem(w), s, "stem of {w:?}");
    }
}

#[test]
fn gsm8k_extraction_matches_lm_eval() {
    use trilemma_scoring::gsm8k;
    let v = load("gsm8k.json");
    let cases = v["cases"].as_array().unwrap();
    assert!(cases.len() >= 100);
    for (i, c) in cases.iter().enumerate() {
        let s = |k: &str| c[k].as_str().unwrap();
        let resp = s("response");
        assert_eq!(gsm8k::extract_strict(resp), s("strict"), "strict {i}: {c}");
        assert_eq!(
            gsm8k::extract_flexible(resp),
            s("flexible"),
            "flexible {i}: {c}"
        );
        assert_eq!(
            gsm8k::gsm8k_normalise(resp),
            s("normalised_response"),
            "norm {i}: {c}"
        );
        let sm = gsm8k::gsm8k_match(s("strict"), s("target"));
        close(
            "strict_match",
            i,
            sm,
            c["strict_match"].as_f64().unwrap(),
            c,
        );
        let opts = trilemma_scoring::exact_match::ExactMatchOptions {
            ignore_case: true,
            ignore_punctuation: true,
            ..Default::default()
        };
        let t = [s("target").to_string()];
        let em = trilemma_scoring::exact_match::sentence_exact_match_with(resp, &t, &opts);
        close(
            "em_case_punct",
            i,
            em,
            c["em_case_punct"].as_f64().unwrap(),
            c,
        );
        let fm = gsm8k::gsm8k_match(s("flexible"), s("target"));
        close(
            "flexible_match",
            i,
            fm,
            c["flexible_match"].as_f64().unwrap(),
            c,
        );
    }
}

#[test]
fn word_counts_match_lm_eval() {
    let v = load("words.json");
    for c in v["cases"].as_array().unwrap() {
        let (doc, n) = (c[0].as_str().unwrap(), c[1].as_u64().unwrap());
        let got = trilemma_scoring::perplexity::count_words(doc);
        assert_eq!(got, n, "{doc:?}");
    }
}

#[test]
fn pass_at_k_matches_human_eval() {
    let v = load("pass_at_k.json");
    let cases = v["cases"].as_array().unwrap();
    assert!(cases.len() >= 500);
    for (i, c) in cases.iter().enumerate() {
        let n = c[0].as_u64().unwrap();
        let correct = c[1].as_u64().unwrap();
        let k = c[2].as_u64().unwrap();
        let got = trilemma_scoring::pass_at_k::pass_at_k(n, correct, k).unwrap();
        close("pass@k", i, got, c[3].as_f64().unwrap(), c);
    }
}
