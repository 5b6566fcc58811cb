//! lm-evaluation-harness itself scores through `trilemma serve`: lm-eval 0.4.13 (installed
//! here with pip, pinned, into the test build's own directory) runs ARC-Easy against a real
//! server with its `gguf` backend and its `local-completions` backend (text prompts and
//! token-id prompts), and its accuracy and picks must equal those of `trilemma run
//! --batch-size 1` on the same items, with the per-choice log-likelihoods equal but for a
//! residue: on 50 items, 4 of 200 choices differ by up to 0.089 nats (short continuations
//! decoded after another choice of the same context; see the session 6 note), every other
//! choice to the bit. The work is `scripts/peer/lmeval_serve.sh`, which people run by hand
//! too; this test runs it on 20 items (CI time) and reads its summary; the 50-item figures
//! are the script's, in the notes.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

const ITEMS: usize = 20;

#[test]
fn lm_eval_scores_through_serve_as_trilemma_run_does() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    // The venv and the tokenizer persist between test runs, beside the test build.
    let peer = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("peer");
    let out = tempfile::tempdir().unwrap();
    let status = Command::new("bash")
        .arg(root.join("scripts/peer/lmeval_serve.sh"))
        .arg(ITEMS.to_string())
        .arg(out.path())
        .env("TRILEMMA", env!("CARGO_BIN_EXE_trilemma"))
        .env("LMEVAL_VENV", peer.join("lm-eval-api"))
        .env("TOKENIZER_DIR", peer.join("smollm2-tokenizer"))
        // One thread: llama.cpp's spinning threads slow down by 10x or more when the test
        // shares its cores with other work.
        .env("THREADS", "1")
        .status()
        .expect("bash runs");
    let summary = out.path().join("summary.json");
    let text = std::fs::read_to_string(&summary).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the script exited with {status})",
            summary.display()
        )
    });
    let v: Value = serde_json::from_str(&text).unwrap();
    eprintln!("{text}");
    for backend in ["gguf", "local-completions", "local-completions-ids"] {
        let s = &v[backend];
        assert_eq!(s["items"], ITEMS, "{backend}: {s}");
        let median = s["median_abs_logprob_diff"].as_f64().unwrap();
        assert!(median <= 1e-6, "{backend}: median difference {median}: {s}");
        let max = s["max_abs_logprob_diff"].as_f64().unwrap();
        assert!(
            max < 0.25,
            "{backend}: log-likelihoods differ by {max}: {s}"
        );
        assert_eq!(s["trilemma_acc"], s["lm_eval_acc"], "{backend}: {s}");
        for pick in s["pick_agreement"].as_array().unwrap() {
            assert_eq!(pick["agree"], pick["n"], "{backend}: {s}");
        }
    }
    assert!(status.success(), "{status}");
}
