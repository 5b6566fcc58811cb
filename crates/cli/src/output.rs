//! Terminal output: tables and progress.

use std::io::IsTerminal;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use trilemma_runner::{Evaluated, RunEvent};

pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().map(|h| h.to_string()));
    t
}

fn bytes_h(b: u64) -> String {
    let mib = b as f64 / (1024.0 * 1024.0);
    if mib >= 1024.0 {
        format!("{:.2} GiB", mib / 1024.0)
    } else {
        format!("{mib:.0} MiB")
    }
}

/// Energy with an SI prefix that keeps 3 significant digits.
pub fn joules_h(j: f64) -> String {
    if j >= 1000.0 {
        format!("{:.2} kJ", j / 1000.0)
    } else if j >= 1.0 {
        format!("{j:.2} J")
    } else {
        format!("{:.1} mJ", j * 1000.0)
    }
}

/// The trilemma table: one row per (model, task), all three axes side by side.
pub fn print_run_table(runs: &[Evaluated]) {
    let mut t = table(&[
        "model",
        "task",
        "score (95% CI)",
        "n",
        "latency/sample ms\nmean · p50 · p95 · p99",
        "tokens/s",
        "samples/s",
        "peak RSS",
        "energy/sample\n(source)",
    ]);
    for s in runs.iter().map(|r| &r.summary) {
        let score = s.metrics.get(&s.primary_metric).map_or("-".into(), |e| {
            format!(
                "{} {:.3}\n[{:.3}, {:.3}]",
                s.primary_metric, e.value, e.ci_low, e.ci_high
            )
        });
        let l = &s.latency_s;
        let mut n = s.samples.to_string();
        if s.errors > 0 {
            n.push_str(&format!("\n({} errors)", s.errors));
        }
        if let Some(d) = &s.draws {
            for (k, m) in &d.metrics {
                let pass: Vec<String> = m
                    .pass_at_k
                    .iter()
                    .map(|(k, e)| {
                        format!(
                            "pass@{k} {:.4} [{:.4}, {:.4}]",
                            e.value, e.ci_low, e.ci_high
                        )
                    })
                    .collect();
                println!(
                    "- {} draws per item [{} · {}] {k}: {}{}; the draws of {} of {} items disagree (mean per-item std {:.4}). pass@k: unbiased estimator (Chen et al. 2021) per item, mean over items, 95% bootstrap CI over items; majority: the score of each item's most frequent answer.",
                    d.draws_per_item,
                    s.model.name,
                    s.task,
                    pass.join(", "),
                    m.majority.as_ref().map_or(String::new(), |e| format!(
                        "{}majority {:.4} [{:.4}, {:.4}]",
                        if pass.is_empty() { "" } else { ", " },
                        e.value,
                        e.ci_low,
                        e.ci_high
                    )),
                    m.items_disagreeing,
                    m.items,
                    m.mean_item_std
                );
            }
        }
        if let Some(t) = &s.truncated {
            n.push_str(&format!("\n({} truncated)", t.samples));
        }
        let energy = s.energy.first().map_or("unavailable".into(), |e| {
            format!("{}\n({})", joules_h(e.per_sample_j), e.source)
        });
        t.add_row(vec![
            s.model.name.clone(),
            format!("{}{}", s.task, if s.partial { " (partial)" } else { "" }),
            score,
            n,
            format!(
                "{:.1} · {:.1} · {:.1} · {:.1}",
                l.mean * 1e3,
                l.p50 * 1e3,
                l.p95 * 1e3,
                l.p99 * 1e3
            ),
            format!("{:.1}", s.throughput.tokens_per_s),
            format!("{:.2}", s.throughput.samples_per_s),
            s.memory
                .as_ref()
                .map_or("-".into(), |m| bytes_h(m.peak_rss_bytes)),
            energy,
        ]);
    }
    println!("{t}");
    print_notes(runs);
}

/// How each figure was obtained, under the table.
fn print_notes(runs: &[Evaluated]) {
    let Some(first) = runs.first().map(|r| &r.summary) else {
        return;
    };
    println!("How these figures were obtained:");
    println!(
        "- score: mean of per-sample scores; 95% CI from a percentile bootstrap (1,000 resamples, seed 1234); errors score 0."
    );
    println!(
        "- latency: end-to-end per sample on the monotonic clock; {} items share one engine call (batch size {}), so a sample's latency is its batch's.",
        first.batch_size, first.batch_size
    );
    if first.batch_size > 1 && first.engine.contains("llama.cpp") {
        println!(
            "- scores with {} items per call: llama.cpp's CPU kernels give logits that depend slightly on the batch's composition, so a log-likelihood can differ from one-at-a-time scoring (up to ~1 nat) and a near-tie pick can flip (measured: 6 of 500 ARC-Easy picks, AVX2 CPU); --batch-size 1 scores as one-at-a-time servers do.",
            first.batch_size
        );
    }
    println!(
        "- tokens/s, samples/s: over the time the engine was busy with measured samples (warm-up excluded); tokens = input + generated; {} thread(s), {}.",
        first.threads.map_or("?".into(), |t| t.to_string()),
        first.engine
    );
    for (s, dir) in runs.iter().map(|r| (&r.summary, &r.dir)) {
        for e in &s.energy {
            println!(
                "- energy [{} · {}]: {} over {:.1} s ({}), idle baseline {}; net {} = {:.3e} kWh, {:.3} g CO2 at {} g/kWh, ${:.6} at ${}/kWh.{}",
                s.model.name,
                s.task,
                e.source,
                e.window_s,
                e.method,
                e.idle_w.map_or("not measured".into(), |w| format!("{w:.1} W over {:.0} s", e.idle_window_s.unwrap_or(0.0))),
                joules_h(e.net_j),
                e.kwh,
                e.co2_g,
                e.grid_g_per_kwh,
                e.cost_usd,
                e.price_usd_per_kwh,
                if e.source.is_measurement() { "" } else { " ESTIMATE, not a measurement." }
            );
        }
        for (k, r) in &s.across_repeats {
            println!(
                "- across {} repeats [{} · {}] {k}: mean {:.4}, std {:.4} (values {:.4?})",
                r.values.len(),
                s.model.name,
                s.task,
                r.mean,
                r.std,
                r.values
            );
        }
        if let Some(t) = &s.truncated {
            println!(
                "- truncated [{} · {}]: {t} (as lm-evaluation-harness truncates); the context holds {} tokens (--n-ctx); each such sample is marked `detail.truncated` in samples.jsonl.",
                s.model.name, s.task, s.model.context_length
            );
        }
        if let Some(m) = &s.memory {
            println!("- memory [{} · {}]: {}", s.model.name, s.task, m.method);
        }
        if let Some(ttft) = &s.ttft_s {
            let ms = |d: &trilemma_core::stats::Distribution| {
                format!(
                    "mean {:.1} · p50 {:.1} · p95 {:.1} · p99 {:.1} ms",
                    1e3 * d.mean,
                    1e3 * d.p50,
                    1e3 * d.p95,
                    1e3 * d.p99
                )
            };
            let opt = |d: &Option<trilemma_core::stats::Distribution>| {
                d.as_ref().map_or("n/a (one token per sample)".into(), ms)
            };
            println!(
                "- generation [{} · {}]: TTFT {}; TPOT {}; ITL {}; decode {} (token times stamped when the engine returns each decode step; samples of one batch are decoded together)",
                s.model.name,
                s.task,
                ms(ttft),
                opt(&s.tpot_s),
                opt(&s.itl_s),
                opt(&s.decode_s)
            );
        }
        if let Some(c) = &s.cpu {
            let opt = |x: Option<f64>, f: &dyn Fn(f64) -> String| x.map_or("unavailable".into(), f);
            println!(
                "- cpu [{} · {}]: process {} busy cores, machine {} busy, host memory peak {} ({})",
                s.model.name,
                s.task,
                opt(c.process_busy_cores, &|x| format!("{x:.2}")),
                opt(c.machine_utilisation, &|x| format!("{:.0}%", 100.0 * x)),
                c.peak_host_memory_used_bytes
                    .map_or("unavailable".into(), |b| format!("{} MiB", b >> 20)),
                c.method
            );
        }
        println!("- run directory: {}", dir.display());
    }
}

/// A progress bar on a terminal; plain lines otherwise.
pub struct ProgressBar {
    label: String,
    bar: Option<indicatif::ProgressBar>,
    total: usize,
    last_pct: usize,
}

impl ProgressBar {
    pub fn new(label: &str) -> Self {
        Self {
            label: label.to_string(),
            bar: None,
            total: 0,
            last_pct: 0,
        }
    }
}

impl trilemma_runner::Progress for ProgressBar {
    fn start(&mut self, total: usize, already_done: usize) {
        self.total = total;
        if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(total as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:30}] {pos}/{len} samples · {per_sec} · ETA {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_message(self.label.clone());
            bar.set_position(already_done as u64);
            self.bar = Some(bar);
        } else {
            eprintln!(
                "{}: {already_done}/{total} samples already done",
                self.label
            );
        }
    }

    fn advance(&mut self, done: usize) {
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
        } else if let Some(pct) = (done * 100).checked_div(self.total) {
            if pct / 10 > self.last_pct / 10 {
                eprintln!("{}: {done}/{} samples ({pct}%)", self.label, self.total);
                self.last_pct = pct;
            }
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// Draws a progress bar per run and prints what the pipeline reports.
pub struct Observer;

impl trilemma_runner::RunObserver for Observer {
    fn event(&mut self, event: RunEvent) {
        match event {
            RunEvent::Deriving { model, target } => {
                eprintln!("{model}: deriving {target} (cached after the first time)")
            }
            RunEvent::FromQuantized {
                model,
                target,
                source_precision,
            } => eprintln!(
                "note: {model} {target} is derived from a {source_precision} file: it cannot be more precise than {source_precision}"
            ),
            RunEvent::Skipped {
                done,
                total,
                model,
                tag,
                batch_size,
            } => eprintln!("[{done}/{total}] {model} {tag} b{batch_size}: finished earlier, skipped"),
            RunEvent::Starting { done, total, dir } => {
                eprintln!("[{done}/{total}] {}", dir.display())
            }
            RunEvent::Resumed {
                run_id,
                samples,
                dir,
            } => eprintln!(
                "{run_id}: resumed {samples} finished samples from {}",
                dir.display()
            ),
            RunEvent::MeterUnavailable { what } => tracing::info!("meter unavailable: {what}"),
        }
    }

    fn run_progress(&mut self, label: &str) -> Box<dyn trilemma_runner::Progress> {
        Box::new(ProgressBar::new(label))
    }
}
