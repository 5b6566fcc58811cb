//! Deriving a quantization variant of the real SmolLM2-135M with llama.cpp's own quantizer,
//! then loading it.

use trilemma_assets::{Cache, Catalog};
use trilemma_engine::Engine;
use trilemma_engine_gguf::quantize::{derive, derived_path, file_type, QuantType};
use trilemma_engine_gguf::{metadata, GgufConfig, GgufEngine};

#[test]
fn smollm2_q4_1_requantized_to_q4_0_loads_and_reads_back_q4_0() {
    let model = Cache::from_env()
        .resolve_model(&Catalog::builtin(), "smollm2-135m", true)
        .expect("model fetched and verified");
    assert_eq!(file_type(&model.path), Some(3), "the pinned file is Q4_1");
    let dir = tempfile::tempdir().unwrap();
    let q4_0 = QuantType::parse("q4_0").unwrap();
    let d = derive(&model.path, &model.sha256, q4_0, dir.path(), Some(2)).expect("derived");
    assert!(!d.reused);
    assert_eq!(d.path, derived_path(dir.path(), &model.sha256, q4_0));
    assert_eq!(file_type(&d.path), Some(2));
    assert_eq!(d.info.source_precision, "Q4_1");
    assert!(d.info.source_is_quantized);
    assert_eq!(d.info.target, "Q4_0");
    assert_eq!(d.info.bytes, std::fs::metadata(&d.path).unwrap().len());
    // The sidecar holds the same record, and no temporary file is left behind.
    let side: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path.with_extension("json")).unwrap())
            .unwrap();
    assert_eq!(side["source_sha256"], model.sha256.as_str());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    // The variant's header says it is the same model (what reports group variants of a
    // file the user brings by), of its own type.
    let (src, var) = (metadata(&model.path).unwrap(), metadata(&d.path).unwrap());
    assert_eq!(var.name, src.name);
    assert_eq!(var.architecture, src.architecture);
    assert_eq!(var.parameters, src.parameters);
    assert_eq!(var.file_type.as_deref(), Some("Q4_0"));

    let mut cfg = GgufConfig::new(&d.path);
    cfg.n_ctx = 256;
    cfg.max_sequences = 1;
    cfg.threads = Some(2);
    let engine = GgufEngine::open(&cfg).expect("derived model loads");
    assert_eq!(engine.model_info().quantization.as_deref(), Some("Q4_0"));
    assert_eq!(engine.model_info().architecture.as_deref(), Some("llama"));
    assert!(!engine
        .tokenize("The sky is blue.", true)
        .unwrap()
        .is_empty());

    // Second call: the cached file is reused, not derived again.
    let again = derive(&model.path, &model.sha256, q4_0, dir.path(), Some(2)).unwrap();
    assert!(again.reused);
    assert_eq!(again.info, d.info);
    // A truncated cached file is not trusted: it is derived anew.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&d.path)
        .unwrap();
    f.set_len(d.info.bytes / 2).unwrap();
    let fresh = derive(&model.path, &model.sha256, q4_0, dir.path(), Some(2)).unwrap();
    assert!(!fresh.reused);
    assert_eq!(
        fresh.info.sha256, d.info.sha256,
        "llama.cpp's quantizer is deterministic"
    );
}
