//! Reports from run directories: snapshots of the JSON and markdown forms, grouping by
//! task, and the HTML rendered in headless Chromium.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use trilemma_analysis::report::{self, load_runs};

struct Fix<'a> {
    id: &'a str,
    model: &'a str,
    quant: &'a str,
    task: &'a str,
    batch: u32,
    acc: f64,
    lat: f64,
    mem_mb: u64,
    file_mb: u64,
    joules: f64,
    source: &'a str,
}

fn summary(f: &Fix) -> serde_json::Value {
    let dist = |m: f64| {
        json!({"n": 100, "mean": m, "p50": m * 0.95, "p90": m * 1.2, "p95": m * 1.3,
               "p99": m * 1.5, "min": m * 0.5, "max": m * 2.0})
    };
    json!({
        "run_id": f.id,
        "model": {"name": f.model, "architecture": "llama", "parameters": 1_100_000_000u64,
                  "quantization": f.quant, "file_bytes": f.file_mb * 1024 * 1024,
                  "context_length": 2048, "trained_context_length": 2048, "sha256": null,
                  "has_chat_template": true},
        "task": f.task,
        "primary_metric": "acc",
        "level": "sample",
        "engine": "llama.cpp test",
        "threads": 2,
        "batch_size": f.batch,
        "repeats": 1,
        "samples": 100,
        "errors": 0,
        "metrics": {"acc": {"value": f.acc, "stderr": 0.04, "ci_low": f.acc - 0.08,
                            "ci_high": f.acc + 0.08, "n": 100}},
        "latency_s": dist(f.lat),
        "throughput": {"wall_s": f.lat * 100.0 / f.batch as f64,
                       "samples_per_s": f.batch as f64 / f.lat,
                       "tokens_per_s": 60.0 * f.batch as f64 / f.lat,
                       "output_tokens_per_s": 0.0, "input_tokens": 6000, "output_tokens": 0},
        "memory": {"peak_rss_bytes": f.mem_mb * 1024 * 1024, "mean_rss_bytes": f.mem_mb * 1000 * 1000,
                   "method": "/proc/self/status VmRSS every 100 ms"},
        "energy": [{"source": f.source, "domains": ["package-0"], "window_s": 30.0,
                    "raw_j": f.joules * 120.0, "idle_w": 4.0, "idle_window_s": 5.0,
                    "net_j": f.joules * 100.0, "per_sample_j": f.joules,
                    "per_token_j": f.joules / 60.0, "per_1k_tokens_j": f.joules * 1000.0 / 60.0,
                    "kwh": f.joules * 100.0 / 3.6e6, "co2_g": 0.01, "grid_g_per_kwh": 400.0,
                    "cost_usd": 0.0001, "price_usd_per_kwh": 0.15,
                    "attribution": "sample_windows", "method": "test fixture"}],
        "flops_estimate": null,
        "hardware": "Test CPU",
        "started_at": "2026-01-01T00:00:00Z",
        "finished_at": "2026-01-01T00:01:00Z",
        "partial": false
    })
}

/// A run manifest as `trilemma run` writes it (schema version 1).
fn manifest(f: &Fix) -> serde_json::Value {
    json!({
        "schema_version": 1,
        "trilemma_version": "0.1.0",
        "run_id": f.id,
        "created_at": "2026-01-01T00:00:00Z",
        "command": ["trilemma", "run"],
        "model": {
            "name": f.model, "path": format!("/models/{}.gguf", f.model),
            "sha256": format!("{:0>64}", f.file_mb), "origin": "local file", "derived": null,
            "info": {"name": f.model, "architecture": "llama", "parameters": null,
                     "quantization": f.quant, "file_bytes": f.file_mb << 20,
                     "context_length": 4096, "trained_context_length": null,
                     "sha256": null, "has_chat_template": false},
            // The files of one model agree on what their headers say: that, not the
            // shared name, makes them precision variants of one model.
            "gguf": {"name": f.model, "size_label": null, "architecture": "llama",
                     "parameters": f.model.len() as u64 * 100_000_000, "file_type": f.quant}
        },
        "task": {"name": f.task, "output_type": "multiple_choice", "primary_metric": "acc",
                 "level": "sample", "source": "test", "data_set": "test", "num_fewshot": 0},
        "engine": {"kind": "llama.cpp", "version": "test", "threads": 2, "device": "cpu",
                   "max_batch": f.batch},
        "settings": {"limit": null, "batch_size": f.batch, "repeats": 1, "warmup": 0,
                     "cooldown_s": 0.0, "seed": 1234},
        "decoding": "greedy (argmax), temperature 0",
        "hardware": {"cpu_model": "Test CPU", "logical_cpus": 2, "memory_bytes": null,
                     "os": "linux", "gpu": null},
        "meters": {"period_ms": 100, "grid_g_per_kwh": 475.0, "price_usd_per_kwh": 0.15,
                   "idle_baseline": null}
    })
}

fn write_run(root: &Path, f: &Fix) -> PathBuf {
    let dir = root.join(f.id);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("summary.json"),
        serde_json::to_string(&summary(f)).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("manifest.json"), manifest(f).to_string()).unwrap();
    // Per-item scores: item i is right when i < acc * 100, so runs share items 0..100.
    let lines: String = (0..100)
        .map(|i| {
            let score = if (i as f64) < f.acc * 100.0 { 1.0 } else { 0.0 };
            format!(
                "{}\n",
                json!({"sample_id": format!("item-{i:03}"), "scores": {"acc": score}})
            )
        })
        .collect();
    std::fs::write(dir.join("samples.jsonl"), lines).unwrap();
    dir
}

/// A sweep: one model at three precisions and two batch sizes, a second model, and one run
/// of another task that must land in its own group.
fn sweep(root: &Path) -> PathBuf {
    let sweep = root.join("sweep");
    let runs = [
        Fix {
            id: "tiny-f16-b1",
            model: "tiny",
            quant: "F16",
            task: "arc_easy",
            batch: 1,
            acc: 0.62,
            lat: 0.40,
            mem_mb: 2300,
            file_mb: 2100,
            joules: 9.0,
            source: "rapl",
        },
        Fix {
            id: "tiny-q8-b1",
            model: "tiny",
            quant: "Q8_0",
            task: "arc_easy",
            batch: 1,
            acc: 0.61,
            lat: 0.25,
            mem_mb: 1300,
            file_mb: 1100,
            joules: 5.5,
            source: "rapl",
        },
        Fix {
            id: "tiny-q4-b1",
            model: "tiny",
            quant: "Q4_K_M",
            task: "arc_easy",
            batch: 1,
            acc: 0.55,
            lat: 0.18,
            mem_mb: 800,
            file_mb: 640,
            joules: 4.0,
            source: "rapl",
        },
        Fix {
            id: "tiny-q4-b4",
            model: "tiny",
            quant: "Q4_K_M",
            task: "arc_easy",
            batch: 4,
            acc: 0.55,
            lat: 0.30,
            mem_mb: 900,
            file_mb: 640,
            joules: 2.5,
            source: "rapl",
        },
        Fix {
            id: "small-q4-b1",
            model: "small",
            quant: "Q4_0",
            task: "arc_easy",
            batch: 1,
            acc: 0.70,
            lat: 0.60,
            mem_mb: 1900,
            file_mb: 1700,
            joules: 12.0,
            source: "rapl",
        },
        Fix {
            id: "tiny-q4-gsm",
            model: "tiny",
            quant: "Q4_K_M",
            task: "gsm8k",
            batch: 1,
            acc: 0.05,
            lat: 2.0,
            mem_mb: 800,
            file_mb: 640,
            joules: 30.0,
            source: "estimate",
        },
    ];
    for f in &runs {
        write_run(&sweep, f);
    }
    sweep
}

/// Fixture times are fixed; only the temporary directory varies between runs.
fn clean(text: &str, root: &Path) -> String {
    text.replace(&root.display().to_string(), "[TMP]")
}

#[test]
fn groups_by_task_and_never_mixes_them() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = load_runs(&[sweep(tmp.path())]).unwrap();
    assert_eq!(runs.len(), 6);
    let r = report::build(&runs).unwrap();
    assert_eq!(r.groups.len(), 2);
    let arc = &r.groups[0];
    assert_eq!(arc.task, "arc_easy");
    assert_eq!(arc.rows.len(), 5);
    assert!(arc.batch_sizes_differ);
    // The gsm8k run is alone in its group: min-max over one run gives PER 1.
    assert_eq!(r.groups[1].rows[0].per, Some(1.0));
    // tiny F16 is dominated on latency/accuracy by nothing (highest tiny accuracy) but
    // small Q4_0 is the most accurate: it must be on the latency-accuracy frontier.
    let small = arc.rows.iter().find(|x| x.model == "small").unwrap();
    assert!(small.frontiers.latency_accuracy);
    // Quantization deltas for tiny at batch 1 against F16: Q8_0 and Q4_K_M.
    let d: Vec<_> = arc
        .quant_deltas
        .iter()
        .filter(|d| d.model == "tiny b1")
        .collect();
    assert_eq!(d.len(), 2);
    assert!(d.iter().all(|d| d.baseline == "F16"));
    let q8 = d.iter().find(|d| d.precision == "Q8_0").unwrap();
    assert!((q8.speedup - 0.40 / 0.25).abs() < 1e-9);
    assert!((q8.energy_reduction_pct.unwrap() - (9.0 - 5.5) / 9.0 * 100.0).abs() < 1e-9);
    assert_eq!(arc.rankings.len(), 8);
    // small (70/100 right) against tiny F16 (62/100), items nested: 8 discordant pairs, all
    // one way; the paired bootstrap calls that significant.
    let acc_rec = &arc.recommendations[0];
    assert_eq!(acc_rec.choice, "small Q4_0 b1");
    assert!(
        acc_rec
            .significance
            .starts_with("significant (paired bootstrap"),
        "{}",
        acc_rec.significance
    );
    assert!(r.groups[1].rows[0].energy_is_estimate);
}

#[test]
fn not_a_run_directory_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let err = load_runs(&[tmp.path().to_path_buf()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("summary.json"), "{err}");
    let bad = tmp.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("summary.json"), "{\"run_id\": 3}").unwrap();
    let err = load_runs(std::slice::from_ref(&bad))
        .unwrap_err()
        .to_string();
    assert!(err.contains("summary.json"), "{err}");
    let good = write_run(
        tmp.path(),
        &Fix {
            id: "g",
            model: "m",
            quant: "F16",
            task: "t",
            batch: 1,
            acc: 0.5,
            lat: 1.0,
            mem_mb: 1,
            file_mb: 1,
            joules: 1.0,
            source: "rapl",
        },
    );
    std::fs::write(
        good.join("samples.jsonl"),
        "{\"sample_id\": \"a\"}\nnot json\n",
    )
    .unwrap();
    let err = load_runs(&[good]).unwrap_err().to_string();
    assert!(
        err.contains("samples.jsonl") && err.contains("line 2"),
        "{err}"
    );
}

#[test]
fn json_and_markdown_snapshots() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = load_runs(&[sweep(tmp.path())]).unwrap();
    let r = report::build(&runs).unwrap();
    let root = tmp.path();
    insta::assert_snapshot!("report_json", clean(&report::to_json(&r).unwrap(), root));
    insta::assert_snapshot!("report_md", clean(&report::to_markdown(&r), root));
    insta::assert_snapshot!("report_csv", clean(&report::to_csv(&r).unwrap(), root));
}

fn chromium() -> PathBuf {
    for c in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(out) = Command::new("which").arg(c).output() {
            if out.status.success() {
                return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            }
        }
    }
    panic!(
        "this test renders the HTML report in headless Chromium; install Debian's `chromium` \
         package (apt-get install -y chromium)"
    );
}

/// Headless Chromium on the page at `page` with `args`, in a profile of its own.
fn headless(page: &Path, args: &[String]) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap()
}

#[test]
fn html_renders_in_headless_chromium() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = load_runs(&[sweep(tmp.path())]).unwrap();
    let r = report::build(&runs).unwrap();
    let html = report::to_html(&r);
    for external in ["src=", "href=", "url(", "@import"] {
        assert!(
            !html.contains(external),
            "no external resources: found {external}"
        );
    }
    assert!(!html.contains("<script"), "self-contained and script-free");
    let art = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/report-artefacts");
    std::fs::create_dir_all(&art).unwrap();
    let art = art.canonicalize().unwrap();
    let page = art.join("report.html");
    std::fs::write(&page, &html).unwrap();
    let shot = art.join("report.png");
    let _ = std::fs::remove_file(&shot);
    let dom = headless(&page, &["--dump-dom".to_string()]);
    assert!(dom.status.success(), "chromium --dump-dom failed");
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    let stderr = String::from_utf8_lossy(&dom.stderr);
    // Latency, energy and size charts for both groups, the batch curve and ranking for
    // arc_easy (gsm8k has one run: no ranking).
    let svgs = dom_text.matches("<svg").count();
    assert_eq!(svgs, 3 + 2 + 3, "svg charts in the rendered DOM");
    assert!(dom_text.contains("Energy vs accuracy (energy is an ESTIMATE)"));
    assert!(
        !stderr.contains("CONSOLE"),
        "console messages while rendering: {stderr}"
    );
    let out = headless(
        &page,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1400,3000".to_string(),
        ],
    );
    assert!(out.status.success(), "chromium --screenshot failed");
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.len() > 10_000 && png.starts_with(b"\x89PNG"),
        "a real screenshot"
    );
}

/// A load file (`trilemma load --out`) of three server batch sizes at `path`: b1 and b4
/// on the energy-latency front, b8 dominated.
fn write_load_file(path: &Path) {
    use trilemma_core::stats::Distribution;
    use trilemma_store::load::{
        LoadEntry, LoadFile, LoadRun, LoadSummary, Profile, SourceEnergy, SteadyEnergy,
    };
    let dist = |p50: f64, p90: f64| Distribution {
        n: 8,
        mean: p50,
        p50,
        p90,
        p95: p90,
        p99: p90,
        p999: None,
        min: p50,
        max: p90,
    };
    let entry = |b: usize, e2e: f64, j: f64| {
        let profile = Profile::Concurrency { n: b };
        LoadEntry {
            max_batch: Some(b),
            steady_batch: Some(b),
            summary: Some(LoadSummary {
                profile,
                completed: 8,
                failed: 0,
                duration_s: 8.0 / b as f64,
                requests_per_s: b as f64,
                output_tokens_per_s: 30.0 * b as f64,
                ttft_s: Some(dist(0.05, 0.05)),
                itl_s: None,
                tpot_s: Some(dist(0.02, 0.02)),
                e2e_s: Some(dist(e2e, e2e * 1.2)),
                output_tokens: None,
                goodput_per_s: b as f64,
                steady_window_ns: Some((0, 3_000_000_000)),
                ttft_gap_s: None,
            }),
            energy: Some(SteadyEnergy {
                text: String::new(),
                window_ns: Some((0, 3_000_000_000)),
                tokens_in_window: Some(100.0),
                sources: vec![SourceEnergy {
                    source: trilemma_core::EnergySource::Estimate,
                    joules: j * 100.0,
                    j_per_token: j,
                    j_per_request: j * 30.0,
                }],
            }),
            error: None,
            run: LoadRun {
                profile,
                started_ns: 0,
                ended_ns: 3_000_000_000,
                requests: Vec::new(),
                warm_connections: b,
            },
        }
    };
    let mut file = LoadFile::new();
    file.profiles = vec![entry(1, 0.4, 2.0), entry(4, 0.5, 0.9), entry(8, 0.9, 1.1)];
    trilemma_store::load::write_load(path, &file).unwrap();
}

#[test]
fn load_files_make_a_serving_section_with_the_energy_latency_front() {
    let tmp = tempfile::tempdir().unwrap();
    let load = tmp.path().join("load.json");
    write_load_file(&load);
    let points = trilemma_analysis::serving::load_serving(&load).unwrap();
    // Load files alone make a report.
    let r = report::build_with_serving(&[], points.clone()).unwrap();
    let front: Vec<bool> = r.serving.iter().map(|p| p.frontier).collect();
    assert_eq!(front, vec![true, true, false]);
    let md = report::to_markdown(&r);
    assert!(md.contains("## Serving under load"), "{md}");
    assert!(md.contains("| 4 | concurrency 4 | 4.00 | 120.0 | 50.0 | 20.0 | 500.0 | 600.0 | 0.900 (ESTIMATE from CPU use, not a measurement, window 3.0 s) | yes |"), "{md}");
    let html = report::to_html(&r);
    assert!(html.contains("Energy vs latency under load (seed 004)"));
    assert!(html.contains("b4 ★") && !html.contains("b8 ★"));
    // Beside evaluation runs, the serving section comes after the groups.
    let runs = load_runs(&[sweep(tmp.path())]).unwrap();
    let r = report::build_with_serving(&runs, points).unwrap();
    let md = report::to_markdown(&r);
    assert!(md.find("## Serving under load").unwrap() > md.find("## arc_easy").unwrap_or(0));
}

/// Edits the manifest a fixture run was written with.
fn edit_manifest(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut m);
    std::fs::write(&path, m.to_string()).unwrap();
}

fn sha(c: char) -> String {
    std::iter::repeat_n(c, 64).collect()
}

fn derivation(source: &str, source_precision: &str, target: &str, file: &str) -> serde_json::Value {
    json!({"source_path": "/m/model.gguf", "source_sha256": source,
           "source_precision": source_precision, "source_is_quantized": true,
           "target": target, "target_ftype": 7, "quantizer": "llama.cpp test",
           "sha256": file, "bytes": 1, "created_unix_s": 0})
}

fn qwen(size: &str, params: u64, file_type: &str) -> serde_json::Value {
    json!({"name": format!("Qwen2.5 Coder {size} Instruct"), "size_label": size,
           "architecture": "qwen2", "parameters": params, "file_type": file_type})
}

/// The issue's situation: two different models both saved as `model.gguf` (so both
/// named `model`, both Q4_K_M), a variant a sweep derived from one of them and a variant
/// derived from that one, and an F16 file of the other model that the user brought under
/// another name. Names never group runs; content and lineage do.
#[test]
fn models_are_told_apart_by_content_and_compared_within_their_lineage() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("runs");
    let fix = |id: &'static str, model: &'static str, quant: &'static str, lat: f64| Fix {
        id,
        model,
        quant,
        task: "arc_easy",
        batch: 1,
        acc: 0.5,
        lat,
        mem_mb: 1000,
        file_mb: 900,
        joules: 3.0,
        source: "rapl",
    };
    let small = write_run(&root, &fix("small", "model", "Q4_K_M", 0.2));
    let large = write_run(&root, &fix("large", "model", "Q4_K_M", 0.5));
    let q8 = write_run(&root, &fix("small-q8", "model", "Q8_0", 0.3));
    let q4 = write_run(&root, &fix("small-q8-q4", "model", "Q4_0", 0.25));
    let f16 = write_run(&root, &fix("large-f16", "qwen-1.5b-f16", "F16", 0.9));
    let (a, b, c, d, e) = (sha('a'), sha('b'), sha('c'), sha('d'), sha('e'));
    edit_manifest(&small, |m| {
        m["model"]["sha256"] = json!(a);
        m["model"]["gguf"] = qwen("0.5B", 494_032_768, "Q4_K_M");
    });
    edit_manifest(&large, |m| {
        m["model"]["sha256"] = json!(b);
        m["model"]["gguf"] = qwen("1.5B", 1_543_714_304, "Q4_K_M");
    });
    edit_manifest(&q8, |m| {
        m["model"]["sha256"] = json!(c);
        m["model"]["gguf"] = json!(null);
        m["model"]["derived"] = derivation(&a, "Q4_K_M", "Q8_0", &c);
    });
    edit_manifest(&q4, |m| {
        m["model"]["sha256"] = json!(d);
        m["model"]["gguf"] = json!(null);
        m["model"]["derived"] = derivation(&c, "Q8_0", "Q4_0", &d);
    });
    edit_manifest(&f16, |m| {
        m["model"]["sha256"] = json!(e);
        m["model"]["gguf"] = qwen("1.5B", 1_543_714_304, "F16");
    });
    let r = report::build(&load_runs(&[root]).unwrap()).unwrap();
    let g = &r.groups[0];
    let label = |id: &str| {
        g.rows
            .iter()
            .find(|x| x.run_id == id)
            .unwrap()
            .label
            .clone()
    };
    // Every file named `model` is another model or another file of its type than some
    // other `model`: each shows the start of its hash. The F16 file's name is its own.
    assert_eq!(label("small"), "model #aaaaaaaa Q4_K_M");
    assert_eq!(label("large"), "model #bbbbbbbb Q4_K_M");
    assert_eq!(label("small-q8"), "model #cccccccc Q8_0");
    assert_eq!(label("large-f16"), "qwen-1.5b-f16 F16");
    // Deltas: within the chain a -> c -> d against its Q8_0, and the two files whose
    // headers agree against the F16. Never the two Q4_K_M models against each other.
    let deltas: Vec<(&str, &str, &str)> = g
        .quant_deltas
        .iter()
        .map(|d| (d.model.as_str(), d.precision.as_str(), d.baseline.as_str()))
        .collect();
    // Run directories are read in name order: `large` comes first.
    assert_eq!(
        deltas,
        [
            ("qwen-1.5b-f16 b1", "Q4_K_M", "F16"),
            ("model #cccccccc b1", "Q4_K_M", "Q8_0 (derived from Q4_K_M)"),
            (
                "model #cccccccc b1",
                "Q4_0 (derived from Q8_0)",
                "Q8_0 (derived from Q4_K_M)"
            ),
        ]
    );
    let large_delta = &g.quant_deltas[0];
    assert!((large_delta.speedup - 0.9 / 0.5).abs() < 1e-9);
    // Every table and chart tells them apart.
    let md = report::to_markdown(&r);
    let html = report::to_html(&r);
    for l in ["model #aaaaaaaa Q4_K_M", "model #bbbbbbbb Q4_K_M"] {
        assert!(md.contains(&format!("| {l} |")), "{md}");
        assert!(html.contains(&format!("<td>{l}</td>")), "{l}");
        assert!(html.contains(&format!(">{l}<")), "{l} in a chart");
    }
    let csv = report::to_csv(&r).unwrap();
    assert!(csv.contains("model #aaaaaaaa Q4_K_M") && csv.contains("model #bbbbbbbb Q4_K_M"));
}

/// Measures, in the browser, every text of every chart against its chart's box; the
/// report has no scripts, so the check is added to a copy of the page.
/// Opens `page` (which holds [`MEASURE`]) in headless Chromium: the DOM, how many chart
/// texts were measured, and those that fall outside their chart.
fn measure(page: &Path) -> (String, usize, Vec<String>) {
    let dom = headless(page, &["--dump-dom".to_string()]);
    assert!(dom.status.success(), "chromium --dump-dom failed");
    let dom = String::from_utf8_lossy(&dom.stdout).into_owned();
    let found = dom
        .split("<pre id=\"overflow\">")
        .nth(1)
        .and_then(|s| s.split("</pre>").next())
        .expect("the measuring script ran")
        .to_string();
    let mut lines = found.lines();
    let checked: usize = lines
        .next()
        .and_then(|l| l.strip_prefix("checked "))
        .and_then(|n| n.parse().ok())
        .unwrap();
    let outside = lines
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect();
    (dom, checked, outside)
}

const MEASURE: &str = r#"<script>
(function () {
  var out = [], n = 0;
  document.querySelectorAll('svg.chart').forEach(function (svg) {
    var b = svg.getBoundingClientRect();
    svg.querySelectorAll('text').forEach(function (t) {
      var r = t.getBoundingClientRect();
      n++;
      if (r.left < b.left - 0.5 || r.right > b.right + 0.5 || r.top < b.top - 0.5 || r.bottom > b.bottom + 0.5) {
        out.push(t.textContent + ' [' + [r.left - b.left, r.right - b.left, b.width].map(Math.round).join(', ') + ']');
      }
    });
  });
  var pre = document.createElement('pre');
  pre.id = 'overflow';
  pre.textContent = 'checked ' + n + '\n' + out.join('\n');
  document.body.appendChild(pre);
})();
</script>"#;

#[test]
fn charts_keep_long_names_inside_their_boxes() {
    // A name as long as GGUF headers give (community fine-tunes), at two batch sizes so
    // the batch curve names it too, another long one, a short one, and a load file at a
    // long path (the serving curve names load files by path).
    let long = "Qwen2.5 Coder 1.5B Instruct abliterated, merged with DeepSeek R1 Distill (GGUF imatrix, WWMM edition)";
    let other =
        "Mistral Small 3.1 24B Instruct 2503 Q4_K_M community quantization with a long name";
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("runs");
    let fix = |id: &'static str, model: &'static str, batch: u32, acc: f64, lat: f64| Fix {
        id,
        model,
        quant: "Q4_K_M",
        task: "arc_easy",
        batch,
        acc,
        lat,
        mem_mb: 1000,
        file_mb: 900 + model.len() as u64,
        joules: lat * 10.0,
        source: "rapl",
    };
    // The most accurate run is the long-named one: the ranking chart's title names it.
    write_run(&root, &fix("long-b1", long, 1, 0.8, 0.9));
    write_run(&root, &fix("long-b4", long, 4, 0.79, 0.5));
    write_run(&root, &fix("other-b1", other, 1, 0.6, 0.2));
    write_run(&root, &fix("tiny-b1", "tiny", 1, 0.4, 0.05));
    let load_dir = tmp
        .path()
        .join("a-long-directory-of-load-measurements")
        .join("server-sweep-of-a-model-with-a-long-name");
    std::fs::create_dir_all(&load_dir).unwrap();
    let load = load_dir.join("load-energy-latency.json");
    write_load_file(&load);
    let runs = load_runs(&[root]).unwrap();
    let points = trilemma_analysis::serving::load_serving(&load).unwrap();
    let r = report::build_with_serving(&runs, points).unwrap();
    assert_eq!(
        r.groups[0].om_reference.as_deref(),
        Some(&*format!("{long} Q4_K_M b1"))
    );
    let html = report::to_html(&r);
    assert!(
        html.contains("…<title>"),
        "the longest labels are cut, named whole in a tooltip"
    );
    let page = tmp.path().join("measured.html");
    std::fs::write(&page, html.replace("</body>", &format!("{MEASURE}</body>"))).unwrap();
    let (dom, checked, outside) = measure(&page);
    // Five charts (latency, energy, size, batch curve, ranking) and the serving curve.
    assert_eq!(dom.matches("<svg").count(), 6);
    assert!(checked > 60, "{checked} texts measured");
    assert!(
        outside.is_empty(),
        "texts outside their chart: {outside:#?}"
    );
}

#[test]
fn a_standalone_line_chart_keeps_long_names_inside_its_box() {
    // The cascade frontier's chart: long tier names in the title and the legend.
    let long =
        "Qwen2.5 Coder 1.5B Instruct abliterated, merged with DeepSeek R1 Distill (GGUF imatrix)";
    let pts = |ys: &[f64]| -> Vec<(String, f64, f64)> {
        ys.iter()
            .enumerate()
            .map(|(i, y)| (String::new(), i as f64 / (ys.len() - 1) as f64, *y))
            .collect()
    };
    let svg = report::line_chart_svg(
        &format!("Cascade frontier: {long} -> {long} (200 items)"),
        "share of requests escalated past tier 0",
        "acc (↑ better)",
        &[
            (format!("{long} (margin)"), pts(&[0.5, 0.6, 0.62, 0.7])),
            ("oracle".into(), pts(&[0.5, 0.8, 0.8, 0.7])),
            (
                "calibrated plan".into(),
                vec![("calibrated".into(), 0.3, 0.61)],
            ),
        ],
    );
    assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    let tmp = tempfile::tempdir().unwrap();
    let page = tmp.path().join("chart.html");
    std::fs::write(
        &page,
        format!("<!doctype html><html><body>{svg}{MEASURE}</body></html>"),
    )
    .unwrap();
    let (_, checked, outside) = measure(&page);
    assert!(checked >= 8, "{checked} texts measured");
    assert!(outside.is_empty(), "texts outside the chart: {outside:#?}");
}
