use super::*;

fn speed(prefill: Option<f64>, decode: Option<f64>) -> GenerationSpeed {
    GenerationSpeed {
        decode_tps: decode,
        output_tokens: 128,
        prefill_tps: prefill,
        prompt_tokens: 129,
    }
}

fn report(peer: Option<PeerSpeeds>) -> EngineBenchReport {
    EngineBenchReport {
        batch_size: 8,
        max_new_tokens: MAX_NEW_TOKENS,
        mc_choice_agreement: None,
        method: METHOD.into(),
        model: "smollm2-135m".into(),
        ours: EngineSpeeds {
            mc: McSpeed {
                items: 4,
                items_per_s: 2.0,
                picks: None,
                seconds: 2.0,
            },
            prompt_128: speed(Some(1000.0), Some(50.0)),
            prompt_512: speed(Some(800.0), None),
        },
        peer,
        repeats: 3,
        sha256: "ab".into(),
        threads: 2,
    }
}

/// What `peer_llama_cpp.py` prints (the shape of its `out` dict).
const PEER_STDOUT: &str = r#"{"peer": "llama-cpp-python", "version": "0.3.16", "prompt_128": {"prompt_tokens": 129, "prefill_tps": 500.0, "decode_tps": 25.0, "output_tokens": 128}, "prompt_512": {"prompt_tokens": 513, "prefill_tps": 400.0, "decode_tps": 20.0, "output_tokens": 128}, "mc": {"items": 4, "seconds": 4.0, "items_per_s": 1.0, "picks": [0, 2, 1, 3]}}"#;

#[test]
fn the_peer_scripts_output_parses_and_compares() {
    let peer = parse_peer(PEER_STDOUT.as_bytes()).unwrap();
    assert_eq!(peer.mc.picks.as_deref(), Some(&[0, 2, 1, 3][..]));
    let r = report(Some(peer));
    let rows = r.comparisons();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0].measure, "prefill tok/s, 128-token prompt");
    assert_eq!(rows[0].ratio(), Some(2.0));
    assert_eq!(rows[1].ratio(), Some(2.0));
    // Ours unmeasured (no decode after one token): no ratio.
    assert_eq!(rows[3].ours, None);
    assert_eq!(rows[3].ratio(), None);
    assert_eq!(rows[4].ratio(), Some(2.0));
}

#[test]
fn without_a_peer_nothing_is_compared() {
    let r = report(None);
    assert!(r.comparisons().iter().all(|c| c.peer.is_none()));
    assert!(r.comparisons().iter().all(|c| c.ratio().is_none()));
    let zero = Comparison {
        measure: "x",
        ours: Some(1.0),
        peer: Some(0.0),
    };
    assert_eq!(zero.ratio(), None);
}

#[test]
fn unparsable_peer_output_is_an_error_naming_the_peer() {
    let e = parse_peer(b"Traceback").unwrap_err().to_string();
    assert!(e.starts_with("the peer's output is not JSON"), "{e}");
}

#[test]
fn agreement_counts_equal_picks_over_ours() {
    assert_eq!(agreement(&[0, 1, 2, 3], &[0, 1, 0, 3]), 0.75);
    // A peer that scored fewer items: the missing ones disagree.
    assert_eq!(agreement(&[0, 1], &[0]), 0.5);
    assert_eq!(agreement(&[], &[]), 0.0);
}

/// The `--json` report keeps the keys (sorted, as the old `json!` maps had them)
/// and the shape scripts read: null peer and agreement without a peer, ours'
/// `mc` without picks, null for an unmeasured speed.
#[test]
fn the_json_report_keeps_its_shape() {
    let v = serde_json::to_value(report(None)).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "batch_size",
            "max_new_tokens",
            "mc_choice_agreement",
            "method",
            "model",
            "ours",
            "peer",
            "repeats",
            "sha256",
            "threads"
        ]
    );
    assert!(v["peer"].is_null() && v["mc_choice_agreement"].is_null());
    assert_eq!(
        v["ours"]["mc"],
        serde_json::json!({"items": 4, "items_per_s": 2.0, "seconds": 2.0})
    );
    assert!(v["ours"]["prompt_512"]["decode_tps"].is_null());
    assert_eq!(v["ours"]["prompt_128"]["prompt_tokens"], 129);
    // The text is byte-for-byte what a sorted `json!` map gave.
    let text = serde_json::to_string(&report(None)).unwrap();
    assert_eq!(text, serde_json::to_string(&v).unwrap());
    // A peer's report round-trips with its picks.
    let peer = parse_peer(PEER_STDOUT.as_bytes()).unwrap();
    let with = report(Some(peer));
    let back: EngineBenchReport =
        serde_json::from_str(&serde_json::to_string(&with).unwrap()).unwrap();
    assert_eq!(back, with);
}
