//! The embedded engine on a real model: SmolLM2-135M-Instruct (fetched and verified
//! through the asset cache on first use).

use trilemma_assets::{Cache, Catalog};
use trilemma_engine::{
    conformance, ChatMessage, Engine, Error, GenerationRequest, LoglikelihoodRequest, PromptInput,
    Truncation,
};
use trilemma_engine_gguf::{metadata, GgufConfig, GgufEngine};

fn open(name: &str) -> GgufEngine {
    open_with(name, 2048)
}

fn open_with(name: &str, n_ctx: u32) -> GgufEngine {
    let model = Cache::from_env()
        .resolve_model(&Catalog::builtin(), name, true)
        .expect("model fetched and verified");
    // The header, read without loading, says what llama.cpp finds once it has loaded.
    let meta = metadata(&model.path).expect("header reads");
    let mut cfg = GgufConfig::new(&model.path);
    cfg.name = model.name;
    cfg.sha256 = Some(model.sha256);
    cfg.n_ctx = n_ctx;
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

#[test]
fn a_context_too_small_drops_the_oldest_tokens_and_says_how_many() {
    const N_CTX: usize = 64;
    let mut e = open_with("smollm2-135m", N_CTX as u32);
    let long = "The quick brown fox jumps over the lazy dog. ".repeat(12);
    let long = long.trim_end();
    let prompt_tokens = e.tokenize(long, true).unwrap().len();
    assert!(prompt_tokens > N_CTX, "{prompt_tokens}");

    // Log-likelihood: the newest context tokens that fit beside the continuation.
    let pair = |context: &str| LoglikelihoodRequest {
        context: context.into(),
        continuation: " The end.".into(),
    };
    let r = e.loglikelihood(&[pair(long), pair("Short.")]);
    let (cut, whole) = (r[0].as_ref().unwrap(), r[1].as_ref().unwrap());
    assert_eq!(
        cut.truncated,
        Some(Truncation {
            prompt_tokens: prompt_tokens as u32,
            tokens_dropped: (prompt_tokens + cut.tokens as usize - N_CTX) as u32,
        })
    );
    assert_eq!(cut.context_tokens as usize + cut.tokens as usize, N_CTX);
    assert!(cut.logprob.is_finite());
    assert_eq!(whole.truncated, None);
    // Choices cut to one shared context that, with all their tokens, outgrow the context
    // (llama.cpp aborts on a batch larger than it): scored in parts, each as alone.
    let choices: Vec<LoglikelihoodRequest> = [" The end.", " The cat.", " The dog."]
        .iter()
        .map(|c| LoglikelihoodRequest {
            context: long.into(),
            continuation: (*c).into(),
        })
        .collect();
    let together = e.loglikelihood(&choices);
    for (c, t) in choices.iter().zip(together) {
        let alone = e.loglikelihood(std::slice::from_ref(c)).remove(0).unwrap();
        let t = t.unwrap();
        assert!(t.truncated.is_some());
        assert!(
            (t.logprob - alone.logprob).abs() < 0.1,
            "{t:?} vs {alone:?}"
        );
    }

    // Generation: the newest prompt tokens that leave room for max_tokens.
    let gen = |prompt: &str, max_tokens: u32| GenerationRequest {
        prompt: prompt.into(),
        max_tokens,
        stop: Vec::new(),
        ..Default::default()
    };
    let r = e.generate(&[gen(long, 16), gen("Short.", 16), gen(long, 64)]);
    let g = r[0].as_ref().unwrap();
    assert_eq!(g.prompt_tokens as usize, N_CTX - 16);
    assert_eq!(
        g.truncated,
        Some(Truncation {
            prompt_tokens: prompt_tokens as u32,
            tokens_dropped: (prompt_tokens + 16 - N_CTX) as u32,
        })
    );
    assert_eq!(r[1].as_ref().unwrap().truncated, None);
    // max_tokens alone fills the context: refused, saying so.
    match &r[2] {
        Err(e @ Error::ContextOverflow { limit, .. }) => {
            assert_eq!(*limit, N_CTX);
            assert!(e.to_string().contains("the context holds 64"), "{e}");
        }
        other => panic!("expected a context overflow, got {other:?}"),
    }
}

#[test]
fn prompt_and_generation_give_the_k_most_likely_tokens_and_read_token_ids() {
    let mut e = open("smollm2-135m");
    let text = "The capital of France is Paris";
    let a = e
        .prompt_logprobs(&PromptInput::Text(text.into()), 5)
        .unwrap();
    let n = a.tokens.len();
    assert!(n > 4);
    assert!(a.top[0].is_empty());
    for i in 1..n {
        let top = &a.top[i];
        assert_eq!(top.len(), 5, "position {i}");
        assert!(top.windows(2).all(|w| w[0].logprob >= w[1].logprob));
        let lp = a.logprobs[i].unwrap();
        // The best is at least as likely as the chosen token; greedy means it is the chosen.
        assert!(top[0].logprob >= lp - 1e-9);
        assert_eq!(a.greedy[i], top[0].id == a.tokens[i], "position {i}");
        if let Some(t) = top.iter().find(|t| t.id == a.tokens[i]) {
            assert!((t.logprob - lp).abs() < 1e-9);
        }
    }
    assert_eq!(a.top[n - 1][0].text, " Paris");
    // The same tokens given as ids score the same.
    let b = e
        .prompt_logprobs(&PromptInput::Tokens(a.tokens.clone()), 5)
        .unwrap();
    assert_eq!(b.tokens, a.tokens);
    for i in 1..n {
        let (x, y) = (a.logprobs[i].unwrap(), b.logprobs[i].unwrap());
        assert!((x - y).abs() < 1e-4, "position {i}: {x} vs {y}");
    }
    let bad = e
        .prompt_logprobs(&PromptInput::Tokens(vec![1, 10_000_000]), 1)
        .unwrap_err()
        .to_string();
    assert!(
        bad.contains("10000000") && bad.contains("vocabulary"),
        "{bad}"
    );

    // Generation: the k best at each generated position, the chosen (greedy) one first.
    let g = e
        .generate(&[GenerationRequest {
            prompt: "The capital of France is".into(),
            max_tokens: 4,
            top_logprobs: 3,
            ..Default::default()
        }])
        .remove(0)
        .unwrap();
    assert_eq!(g.top_logprobs.len(), g.output_tokens as usize);
    for (i, top) in g.top_logprobs.iter().enumerate() {
        assert_eq!(top.len(), 3);
        assert_eq!(top[0].text, g.token_texts[i], "position {i}");
        assert!((top[0].logprob - f64::from(g.token_logprobs[i])).abs() < 1e-4);
    }
    // From token ids: the same answer as from the text they are.
    let ids = e.tokenize("The capital of France is", true).unwrap();
    let h = e
        .generate(&[GenerationRequest {
            prompt_ids: Some(ids),
            max_tokens: 4,
            ..Default::default()
        }])
        .remove(0)
        .unwrap();
    assert_eq!(h.text, g.text);
}

/// Choices scored together after their shared context give what each gives alone, and
/// what one pass over the whole text gives (OpenAI's echo): to the bit, so that a run
/// equals lm-evaluation-harness through `serve` to 1e-4. (Decoded in one batch with
/// another choice's cells between the context and its own, choice 1 here came out 0.37
/// nats off.)
#[test]
fn choices_scored_together_equal_each_scored_alone() {
    let mut e = open("smollm2-135m");
    let ctx = "Question: Which is a statement about climate?\nAnswer:";
    let conts = [
        " The average temperature yesterday was 15\u{b0}C.",
        " The temperature range today was 10\u{b0}C to 20\u{b0}C.",
        " The high temperature tomorrow will be 14\u{b0}C.",
        " The average high temperature in May is 20\u{b0}C.",
    ];
    let reqs: Vec<LoglikelihoodRequest> = conts
        .iter()
        .map(|c| LoglikelihoodRequest {
            context: ctx.into(),
            continuation: (*c).into(),
        })
        .collect();
    // Two items in one batch, the second with a context of its own.
    let mut batch = reqs.clone();
    batch.push(LoglikelihoodRequest {
        context: "Question: What is the capital of France?\nAnswer:".into(),
        continuation: " Paris".into(),
    });
    let together: Vec<f64> = e
        .loglikelihood(&batch)
        .into_iter()
        .map(|r| r.unwrap().logprob)
        .collect();
    let n_ctx = e.tokenize(ctx, false).unwrap().len();
    for (i, r) in batch.iter().enumerate() {
        let alone = e
            .loglikelihood(std::slice::from_ref(r))
            .remove(0)
            .unwrap()
            .logprob;
        assert_eq!(together[i], alone, "choice {i}");
        if i < conts.len() {
            let p = e
                .prompt_logprobs(&PromptInput::Text(format!("{ctx}{}", conts[i])), 0)
                .unwrap();
            let echo: f64 = p.logprobs[n_ctx..].iter().map(|x| x.unwrap()).sum();
            assert!(
                (echo - alone).abs() < 1e-9,
                "choice {i}: echo {echo} vs {alone}"
            );
        }
    }
}
