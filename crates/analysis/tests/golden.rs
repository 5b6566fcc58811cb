//! Golden tests from the seeds' own tables (transcribed under tests/data/, each file names
//! its table).

use std::path::PathBuf;

use trilemma_analysis::quant::{deltas, Variant};
use trilemma_analysis::recommend::{recommend, Candidate, Objective};
use trilemma_analysis::Table;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Rows whose published PER does not follow from the paper's own inputs; the test pins what
/// the formula gives (to 1e-3) instead. The rest agree within 0.02, the error that rounding
/// the table's inputs (e.g. latency 15 ms, throughput 65/s) leaves in a fourth root.
const PINNED: [(&str, &str, f64, f64); 5] = [
    // (task, model, formula, published)
    // Table 1 GSM8K: Mistral-7B is neither worst nor best on any input; 0.2837 cannot follow.
    ("gsm8k", "Mistral-7B", 0.5138, 0.2837),
    // Table 1 SQuAD 2.0: Qwen2.5-32B is published as 0 but is worst on no input.
    ("squad2", "Qwen2.5-32B", 0.2987, 0.0),
    // Table 1 SQuAD 2.0: Llama-3.1-70B has the lowest throughput (19, tied), so PER is 0.
    ("squad2", "Llama-3.1-70B", 0.0, 0.03),
    // Table 2 HellaSwag: Gemma-2-2B computes 0.5595 against the published 0.53.
    ("hellaswag", "Gemma-2-2B", 0.5595, 0.53),
    // Table 2 ARC-Easy: Vicuna-13B has the lowest throughput (4, tied), so PER is 0.
    ("arc_easy", "Vicuna-13B", 0.0, 0.04),
];

#[test]
fn seed001_per_matches_published_column() {
    let mut checked = 0;
    for task in ["gsm8k", "squad2", "hellaswag", "imdb", "arc_easy"] {
        let table = Table::from_path(&data(&format!("seed001_{task}.csv"))).unwrap();
        assert_eq!(table.names.len(), 16, "{task}: 16 models");
        let published = table.column("published_per").unwrap();
        let scored = table.per().unwrap();
        for (row, pubd) in scored.iter().zip(published) {
            let got = row.per.unwrap();
            match PINNED
                .iter()
                .find(|(t, m, _, _)| *t == task && *m == row.name)
            {
                Some((_, _, formula, published_pin)) => {
                    assert_eq!(pubd, *published_pin, "{task} {}: transcription", row.name);
                    assert!(
                        (got - formula).abs() < 1e-3,
                        "{task} {}: PER {got} against pinned {formula}",
                        row.name
                    );
                }
                None => assert!(
                    (got - pubd).abs() <= 0.02,
                    "{task} {}: PER {got:.4} against published {pubd}",
                    row.name
                ),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 80);
}

struct Seed003 {
    variants: Vec<Variant>,
    table3: Vec<csv::StringRecord>,
}

fn num(r: &csv::StringRecord, i: usize) -> f64 {
    r[i].parse().unwrap()
}

/// Table II's FP16 baselines, plus the INT8/INT4 variants Table III's relative changes
/// imply (the paper gives no absolute figures for them).
fn seed003() -> Seed003 {
    let read = |name: &str| -> Vec<csv::StringRecord> {
        csv::ReaderBuilder::new()
            .comment(Some(b'#'))
            .from_path(data(name))
            .unwrap()
            .records()
            .map(|r| r.unwrap())
            .collect()
    };
    let t2 = read("seed003_table2.csv");
    let t3 = read("seed003_table3.csv");
    let tasks = ["mmlu", "gsm8k", "hellaswag"];
    let mut variants = Vec::new();
    for r in &t2 {
        // A published table names its models: the model column is the source.
        variants.push(Variant {
            model: r[0].to_string(),
            source: r[0].to_string(),
            precision: "FP16".into(),
            derived_from: None,
            latency: num(r, 1),
            memory: num(r, 2),
            energy: Some(num(r, 4)),
            accuracy: tasks
                .iter()
                .enumerate()
                .map(|(i, t)| (t.to_string(), num(r, 5 + i)))
                .collect(),
        });
    }
    for r in &t3 {
        let base = t2.iter().find(|b| b[0] == r[0]).unwrap();
        variants.push(Variant {
            model: r[0].to_string(),
            source: r[0].to_string(),
            precision: r[1].to_string(),
            derived_from: None,
            latency: num(base, 1) / num(r, 2),
            memory: num(base, 2) * (1.0 - num(r, 3) / 100.0),
            energy: Some(num(base, 4) * (1.0 - num(r, 4) / 100.0)),
            accuracy: tasks
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    (
                        t.to_string(),
                        num(base, 5 + i) * (1.0 + num(r, 5 + i) / 100.0),
                    )
                })
                .collect(),
        });
    }
    Seed003 {
        variants,
        table3: t3,
    }
}

#[test]
fn seed003_deltas_reproduce_table3() {
    let s = seed003();
    let d = deltas(&s.variants).unwrap();
    // Gemma-3-4B has only FP16: no deltas. 4 models x 2 precisions.
    assert_eq!(d.len(), 8);
    for r in &s.table3 {
        let row = d
            .iter()
            .find(|x| x.model == r[0] && x.precision == r[1])
            .unwrap();
        assert_eq!(row.baseline, "FP16");
        assert!((row.speedup - num(r, 2)).abs() < 1e-9, "{:?}", row);
        assert!((row.memory_change_pct - num(r, 3)).abs() < 1e-9);
        assert!((row.energy_reduction_pct.unwrap() - num(r, 4)).abs() < 1e-9);
        for (i, t) in ["mmlu", "gsm8k", "hellaswag"].iter().enumerate() {
            assert!((row.accuracy_drop_pct[*t] - num(r, 5 + i)).abs() < 1e-9);
        }
    }
}

#[test]
fn seed003_recommendations_against_table4() {
    let s = seed003();
    let cands: Vec<Candidate> = s
        .variants
        .iter()
        .map(|v| Candidate {
            name: format!("{} ({})", v.model, v.precision),
            accuracy: v.accuracy.values().sum::<f64>() / v.accuracy.len() as f64,
            latency: v.latency,
            energy: v.energy,
            item_scores: None,
        })
        .collect();
    let recs = recommend(&cands).unwrap();
    let get = |o: Objective| recs.iter().find(|r| r.objective == o).unwrap();
    // Table IV rows that follow from Tables II and III.
    let acc = get(Objective::AccuracyCritical);
    assert_eq!(acc.choice, "Phi-3-mini (FP16)");
    assert_eq!(acc.significance, "not tested (no shared per-item scores)");
    assert_eq!(
        get(Objective::LatencyCritical).choice,
        "Llama-3.2-3B (INT8)"
    );
    // Table IV's energy-constrained row names Llama-3.2-3B (INT4): 0.0210 kWh x (1 - 49.1%)
    // = 0.01069 kWh, but Phi-3-mini (INT4) uses 0.0214 x (1 - 50.6%) = 0.01057 kWh, less.
    // The formula's answer is pinned; the published choice is the runner-up.
    let energy = get(Objective::EnergyConstrained);
    assert_eq!(energy.choice, "Phi-3-mini (INT4)");
    assert_eq!(energy.runner_up.as_deref(), Some("Llama-3.2-3B (INT4)"));
    assert!((energy.margin.unwrap() - (0.0210 * 0.509 - 0.0214 * 0.494)).abs() < 1e-12);
    // Table IV has no balanced row; the text (IV-C-2) calls Llama-3.2-3B (INT8) "a balanced
    // configuration" without a formula. The geometric mean of normalised accuracy, latency
    // and energy picks Phi-3-mini (INT8); pinned.
    assert_eq!(get(Objective::Balanced).choice, "Phi-3-mini (INT8)");
}

#[test]
fn missing_column_names_it_and_the_file() {
    let err = Table::parse(
        std::path::Path::new("t.csv"),
        "name,accuracy,throughput,latency\na,1,2,3\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("t.csv") && err.contains("`memory`"), "{err}");
}

#[test]
fn bad_number_names_line_and_column() {
    let err = Table::parse(
        std::path::Path::new("t.csv"),
        "name,accuracy,throughput,latency,memory\na,1,2,3,4\nb,1,x,3,4\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("line 3") && err.contains("`throughput`"),
        "{err}"
    );
}

#[test]
fn om_on_a_table_needs_energy_and_a_known_reference() {
    let t = Table::parse(
        std::path::Path::new("t.csv"),
        "name,accuracy,throughput,latency,memory,energy\nref,0.9,10,2,1,10\nb,0.8,20,1,1,5\n",
    )
    .unwrap();
    let w = trilemma_analysis::OmWeights::new(0.5, 0.25, 0.25).unwrap();
    let s = t.om("ref", w).unwrap();
    assert!((s[0].om.unwrap() - 1.0).abs() < 1e-12);
    assert!(s[1].om.unwrap() > 1.0);
    assert!(t.om("nope", w).is_err());
    let no_energy = Table::parse(
        std::path::Path::new("t.csv"),
        "name,accuracy,throughput,latency,memory\nref,0.9,10,2,1\n",
    )
    .unwrap();
    let err = no_energy.om("ref", w).unwrap_err().to_string();
    assert!(err.contains("`energy`"), "{err}");
}
