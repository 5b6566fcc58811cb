//! CI's run of every fuzz target on stable: each committed corpus file of
//! `fuzz/corpus/TARGET/`, then `GENERATED` inputs per target made from those files by
//! seeded mutations (flipped, inserted, deleted and repeated bytes, cuts, splices of two
//! files). A panic here is a finding: the failing input is printed in hex.

use std::path::PathBuf;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Generated inputs per target, beside the corpus (CI's fixed number); a longer local run
/// sets `TRILEMMA_FUZZ_GENERATED`.
const GENERATED: usize = 3000;

fn generated() -> usize {
    std::env::var("TRILEMMA_FUZZ_GENERATED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(GENERATED)
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn mutate(rng: &mut ChaCha8Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut b = seeds[rng.gen_range(0..seeds.len())].clone();
    for _ in 0..rng.gen_range(1..6) {
        let at = if b.is_empty() {
            0
        } else {
            rng.gen_range(0..b.len())
        };
        match rng.gen_range(0..7) {
            0 if !b.is_empty() => b[at] ^= 1 << rng.gen_range(0..8),
            1 => b.insert(at, rng.gen()),
            2 if !b.is_empty() => {
                b.remove(at);
            }
            3 => b.truncate(at),
            4 if !b.is_empty() => {
                let end = (at + rng.gen_range(1..64)).min(b.len());
                let piece = b[at..end].to_vec();
                b.splice(at..at, piece);
            }
            5 => {
                let other = &seeds[rng.gen_range(0..seeds.len())];
                let from = if other.is_empty() {
                    0
                } else {
                    rng.gen_range(0..other.len())
                };
                b.truncate(at);
                b.extend_from_slice(&other[from..]);
            }
            // Bytes that parsers treat specially: 0xff, NUL, quotes, newlines, digits.
            _ => b.insert(
                at,
                *[0xff, 0, b'"', b'\n', b'9', b'{', b'[']
                    .get(rng.gen_range(0..7))
                    .unwrap(),
            ),
        }
    }
    b
}

#[test]
fn every_fuzz_target_survives_its_corpus_and_generated_inputs() {
    let mut rng = ChaCha8Rng::seed_from_u64(0x7121_e33a);
    let n = generated();
    for (name, run) in trilemma_fuzzing::TARGETS {
        let started = std::time::Instant::now();
        let seeds = corpus(name);
        assert!(!seeds.is_empty(), "fuzz/corpus/{name} is empty");
        for input in seeds
            .iter()
            .cloned()
            .chain((0..n).map(|_| mutate(&mut rng, &seeds)))
        {
            let result = std::panic::catch_unwind(|| run(&input));
            assert!(
                result.is_ok(),
                "fuzz target {name} failed on the input (hex) {}",
                input.iter().map(|b| format!("{b:02x}")).collect::<String>()
            );
        }
        eprintln!(
            "{name}: {} corpus files + {n} generated inputs, 0 failures, {:.1} s",
            seeds.len(),
            started.elapsed().as_secs_f64()
        );
    }
}

#[test]
fn every_target_has_a_libfuzzer_target_of_its_name() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/fuzz_targets");
    for (name, _) in trilemma_fuzzing::TARGETS {
        let src = std::fs::read_to_string(dir.join(format!("{name}.rs")))
            .unwrap_or_else(|e| panic!("fuzz/fuzz_targets/{name}.rs: {e}"));
        assert!(
            src.contains(&format!("trilemma_fuzzing::{name}")),
            "{name}.rs calls another entry point"
        );
    }
}
