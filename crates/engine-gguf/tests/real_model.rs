//! The embedded engine on a real model: SmolLM2-135M-Instruct (fetched and verified
//! through the asset cache on first use).

use trilemma_assets::{Cache, Catalog};
use trilemma_engine::{conformance, ChatMessage, Engine};
use trilemma_engine_gguf::{metadata, GgufConfig, GgufEngine};

fn open(name: &str) -> GgufEngine {
    let model = Cache::from_env()
        .resolve_model(&Catalog::builtin(), name, true)
        .expect("model fetched and verified");
    // The header, read without loading, says what llama.cpp finds once it has loaded.
    let meta = metadata(&model.path).expect("header reads");
    let mut cfg = GgufConfig::new(&model.path);
    cfg.name = model.name;
    cfg.sha256 = Some(model.sha256);
    cfg.n_ctx = 2048;
    cfg.max_sequences = 8;
    let e = GgufEngine::open(&cfg).expect("model loads");
    let info = e.model_info();
    assert_eq!(meta.architecture, info.architecture, "{name}");
    assert_eq!(meta.parameters, info.parameters, "{name}");
    assert_eq!(meta.file_type, info.quantization, "{name}");
    e
}

#[test]
fn headers_name_the_two_catalog_models() {
    let name = |m: &str| {
        let model = Cache::from_env()
            .resolve_model(&Catalog::builtin(), m, true)
            .expect("model fetched and verified");
        let meta = metadata(&model.path).unwrap();
        (meta.name.unwrap(), meta.size_label.unwrap())
    };
    assert_eq!(
        name("smollm2-135m"),
        (
            "Smollm2 135M 8k Lc100K Mix1 Ep2".to_string(),
            "135M".to_string()
        )
    );
    assert_eq!(
        name("gemma3-270m"),
        ("Gemma 3 270m".to_string(), "270M".to_string())
    );
}

#[test]
fn smollm2_passes_the_engine_conformance_suite() {
    let mut e = open("smollm2-135m");
    let info = e.model_info().clone();
    assert_eq!(info.architecture.as_deref(), Some("llama"));
    assert_eq!(info.quantization.as_deref(), Some("Q4_1"));
    let params = info.parameters.unwrap();
    assert!((100_000_000..200_000_000).contains(&params), "{params}");
    assert!(info.has_chat_template);
    // llama.cpp's logits move with the batch composition by up to ~0.05 nats on some
    // CPUs (see `Tolerance`); picks are checked separately against the peer.
    conformance::run_all(&mut e, conformance::Tolerance(0.1));
}

#[test]
fn chat_template_comes_from_the_gguf() {
    let e = open("smollm2-135m");
    let s = e
        .apply_chat_template(&[ChatMessage {
            role: "user".into(),
            content: "Hi".into(),
        }])
        .unwrap();
    assert!(s.contains("<|im_start|>user\nHi<|im_end|>"), "{s}");
    assert!(s.trim_end().ends_with("<|im_start|>assistant"), "{s}");
}

#[test]
fn gemma3_passes_the_engine_conformance_suite() {
    let mut e = open("gemma3-270m");
    assert_eq!(e.model_info().architecture.as_deref(), Some("gemma3"));
    assert_eq!(e.model_info().quantization.as_deref(), Some("Q4_K_M"));
    // Sliding-window attention: see `Tolerance`.
    conformance::run_all(&mut e, conformance::Tolerance(0.1));
}
