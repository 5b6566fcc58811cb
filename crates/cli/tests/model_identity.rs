//! A model is what its file says it is, not what the file is called. Two different real
//! models saved under one file name (the catalog's SmolLM2-135M and Gemma 3 270M, each
//! copied to `<dir>/model.gguf`) are run, with a real quantization pair (a Q8_0 variant
//! llama.cpp's quantizer derives from the SmolLM2 copy); the report then names each
//! model from its GGUF header, compares the SmolLM2 pair and never the two models.

mod common;
use common::{run_ok, trilemma};

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Where the asset cache keeps a catalog model, fetching it if needed.
fn catalog_file(name: &str) -> PathBuf {
    run_ok(trilemma().args(["assets", "fetch", name]));
    let out = run_ok(trilemma().args(["assets", "list", "--json"]));
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let entry = list
        .iter()
        .find(|a| a["kind"] == "model" && a["name"] == name)
        .unwrap_or_else(|| panic!("{name} is in the catalog"));
    assert_eq!(entry["cached"], true, "{entry}");
    PathBuf::from(entry["path"].as_str().unwrap())
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The run directories under `dir`, by name.
fn run_dirs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("summary.json").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn two_models_under_one_file_name_keep_their_own_names_and_are_never_compared() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for (dir, name) in [(&a, "smollm2-135m"), (&b, "gemma3-270m")] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::copy(catalog_file(name), dir.join("model.gguf")).unwrap();
    }
    let (a_file, b_file) = (a.join("model.gguf"), b.join("model.gguf"));
    let common = [
        "-t",
        "arc-easy",
        "--limit",
        "3",
        "--batch-size",
        "1",
        "--threads",
        "2",
        "--idle-baseline",
        "0",
    ];
    let runs = tmp.path().join("runs");
    run_ok(
        trilemma()
            .args(["run", "-m"])
            .arg(&a_file)
            .arg("-m")
            .arg(&b_file)
            .args(common)
            .arg("--out")
            .arg(&runs),
    );
    // A real quantization pair: Q8_0 derived from the SmolLM2 copy (Q4_1).
    let sweep = tmp.path().join("sweep");
    run_ok(
        trilemma()
            .args(["sweep", "--name", "q8", "--quant", "q8_0", "-m"])
            .arg(&a_file)
            .args(common)
            .arg("--out")
            .arg(&sweep),
    );

    // Named from their headers: one directory each, no `model__arc-easy` for both.
    let smol = "Smollm2 135M 8k Lc100K Mix1 Ep2";
    let gemma = "Gemma 3 270m";
    assert_eq!(
        run_dirs(&runs),
        [
            "Gemma_3_270m__arc-easy",
            "Smollm2_135M_8k_Lc100K_Mix1_Ep2__arc-easy"
        ]
    );
    let m = read_json(&runs.join("Gemma_3_270m__arc-easy/manifest.json"));
    assert_eq!(m["model"]["name"], gemma);
    assert_eq!(m["model"]["path"], b_file.to_str().unwrap());
    let g = &m["model"]["gguf"];
    assert_eq!(
        (
            &g["name"],
            &g["size_label"],
            &g["architecture"],
            &g["file_type"]
        ),
        (
            &Value::from(gemma),
            &Value::from("270M"),
            &Value::from("gemma3"),
            &Value::from("Q4_K_M")
        )
    );
    assert_eq!(g["parameters"], m["model"]["info"]["parameters"]);
    let m = read_json(&runs.join("Smollm2_135M_8k_Lc100K_Mix1_Ep2__arc-easy/manifest.json"));
    assert_eq!(m["model"]["gguf"]["architecture"], "llama");
    assert_eq!(m["model"]["gguf"]["file_type"], "Q4_1");
    let [variant] = &run_dirs(&sweep)[..] else {
        panic!("one sweep run: {:?}", run_dirs(&sweep))
    };
    let v = read_json(&sweep.join(variant).join("manifest.json"));
    assert_eq!(
        v["model"]["name"], smol,
        "a variant keeps its source's name"
    );
    assert_eq!(v["model"]["derived"]["source_sha256"], m["model"]["sha256"]);
    assert_eq!(v["model"]["gguf"]["file_type"], "Q8_0");

    let out = run_ok(
        trilemma()
            .args(["report", "--format", "json"])
            .arg(&runs)
            .arg(&sweep),
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let groups = report["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "one task, one machine, one setting");
    let mut labels: Vec<&str> = groups[0]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["label"].as_str().unwrap())
        .collect();
    labels.sort();
    assert_eq!(
        labels,
        [
            format!("{gemma} Q4_K_M"),
            format!("{smol} Q4_1"),
            format!("{smol} Q8_0"),
        ]
    );
    // One delta: the SmolLM2 copy against the Q8_0 derived from it. Gemma has one
    // variant, so no row; and no row ever puts Gemma beside SmolLM2.
    let deltas = groups[0]["quant_deltas"].as_array().unwrap();
    assert_eq!(deltas.len(), 1, "{deltas:#?}");
    let d = &deltas[0];
    assert_eq!(d["model"], format!("{smol} b1"));
    assert_eq!(d["precision"], "Q4_1");
    assert_eq!(d["baseline"], "Q8_0 (derived from Q4_1)");
    let rows = groups[0]["rows"].as_array().unwrap();
    let latency = |label: String| {
        rows.iter().find(|r| r["label"] == label.as_str()).unwrap()["latency_s"]
            .as_f64()
            .unwrap()
    };
    let speedup = latency(format!("{smol} Q8_0")) / latency(format!("{smol} Q4_1"));
    assert!(
        (d["speedup"].as_f64().unwrap() - speedup).abs() < 1e-9,
        "{d}"
    );
}
