//! Running a planned study: one resumable sweep under `OUT/runs`, progress with an ETA,
//! then the seed's tables into `OUT/study.{json,md,html}` and the standard report.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use trilemma_analysis::report::{self, load_runs};
use trilemma_analysis::study::{self, StudyReport};
use trilemma_assets::{Cache, Catalog};
use trilemma_core::RunSettings;
use trilemma_runner::inputs::{load_tasks, TaskSpec};
use trilemma_runner::sweep::{run_sweep, SweepPlan};
use trilemma_runner::{EvalContext, Progress, RunEvent, RunObserver};
use trilemma_store::atomic::{write_atomic, write_json_atomic};
use trilemma_telemetry::TelemetryConfig;

use crate::plan::StudyPlan;
use crate::preset::Kind;
use crate::{Error, Result};

/// What running a study shares with its runs: meters, threads, fetching.
#[derive(Debug, Clone)]
pub struct StudySettings {
    pub meters: TelemetryConfig,
    /// CPU threads (`None`: all cores).
    pub threads: Option<u32>,
    /// Do not fetch missing catalog assets.
    pub offline: bool,
    pub seed: u64,
    /// The command line, recorded in each run's manifest.
    pub command: Vec<String>,
}

/// Where a study stands: items done of all, and the time left at the rate measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Eta {
    pub runs_done: usize,
    pub runs_total: usize,
    pub items_done: usize,
    pub items_total: usize,
    pub elapsed: Duration,
    /// `None` until an item has been measured in this process.
    pub remaining: Option<Duration>,
}

/// Something a study did that its caller may show.
#[derive(Debug, Clone, PartialEq)]
pub enum StudyEvent {
    /// The idle baseline is being measured for this long.
    MeasuringIdle(Duration),
    /// A run event of the sweep (deriving, starting, skipping, resuming...).
    Run(RunEvent),
    /// Progress over the whole study, at each run's start and every item.
    Progress(Eta),
    /// A report file was written.
    Wrote(PathBuf),
}

/// Receives a study's events, and draws each run's progress.
pub trait StudyObserver {
    fn event(&mut self, _event: StudyEvent) {}
    /// The progress sink of one run, labelled `model · task`.
    fn run_progress(&mut self, _label: &str) -> Box<dyn Progress> {
        Box::new(trilemma_runner::Silent)
    }
}

/// Counts items across runs for the ETA.
#[derive(Debug)]
struct Clock {
    start: Instant,
    runs_done: usize,
    runs_total: usize,
    /// Items of finished runs (and the finished part of the current one).
    items_done: usize,
    items_total: usize,
    /// Items measured by this process, and when the first of them started.
    measured: usize,
    measuring_since: Option<Instant>,
    /// The current run: items already done at its start (resumed) and its size.
    run_base: usize,
    run_size: usize,
}

impl Clock {
    fn eta(&self) -> Eta {
        let remaining = self.measuring_since.and_then(|t0| {
            (self.measured > 0).then(|| {
                let per = t0.elapsed().as_secs_f64() / self.measured as f64;
                Duration::from_secs_f64(per * (self.items_total - self.items_done) as f64)
            })
        });
        Eta {
            runs_done: self.runs_done,
            runs_total: self.runs_total,
            items_done: self.items_done,
            items_total: self.items_total,
            elapsed: self.start.elapsed(),
            remaining,
        }
    }
}

type Shared = Rc<RefCell<Clock>>;
type Events = Rc<RefCell<Vec<Eta>>>;

/// A run's progress: forwards to the caller's sink and moves the study's clock.
struct Counted {
    inner: Box<dyn Progress>,
    clock: Shared,
    events: Events,
    last_done: usize,
}

impl Progress for Counted {
    fn start(&mut self, total: usize, already_done: usize) {
        self.inner.start(total, already_done);
        let mut c = self.clock.borrow_mut();
        c.items_done = c.run_base + already_done.min(c.run_size);
        self.last_done = already_done;
        if c.measuring_since.is_none() {
            c.measuring_since = Some(Instant::now());
        }
    }

    fn advance(&mut self, done: usize) {
        self.inner.advance(done);
        let mut c = self.clock.borrow_mut();
        let step = done.saturating_sub(self.last_done);
        self.last_done = done;
        c.measured += step;
        c.items_done = (c.run_base + done.min(c.run_size)).min(c.items_total);
        self.events.borrow_mut().push(c.eta());
    }

    fn finish(&mut self) {
        self.inner.finish();
    }
}

/// The sweep's observer: run events and progress go to the study's observer with ETAs.
struct Adapter<'a> {
    observer: &'a mut dyn StudyObserver,
    clock: Shared,
    events: Events,
    /// Items per task (limit applied), by task name.
    sizes: Vec<(String, usize)>,
}

impl Adapter<'_> {
    fn flush(&mut self) {
        let pending: Vec<Eta> = self.events.borrow_mut().drain(..).collect();
        if let Some(last) = pending.last() {
            self.observer.event(StudyEvent::Progress(*last));
        }
    }

    fn size_of_dir(&self, dir: &Path) -> usize {
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
        self.sizes
            .iter()
            .find(|(t, _)| {
                name.contains(&format!("__{}__", trilemma_runner::evaluate::clean_name(t)))
            })
            .map_or(0, |(_, n)| *n)
    }
}

impl RunObserver for Adapter<'_> {
    fn event(&mut self, event: RunEvent) {
        self.flush();
        match &event {
            RunEvent::Starting { done, dir, .. } => {
                let size = self.size_of_dir(dir);
                let mut c = self.clock.borrow_mut();
                // `done` counts this run: the ones before it are finished.
                c.runs_done = done.saturating_sub(1);
                c.run_base = c.items_done;
                c.run_size = size;
            }
            RunEvent::Skipped { done, .. } => {
                let mut c = self.clock.borrow_mut();
                let skipped = done.saturating_sub(c.runs_done);
                c.runs_done = *done;
                // A skipped engine group: its runs are finished, count their items.
                let per_run = c.items_total / c.runs_total.max(1);
                c.items_done = (c.items_done + skipped * per_run).min(c.items_total);
                c.run_base = c.items_done;
            }
            _ => {}
        }
        let eta = self.clock.borrow().eta();
        self.observer.event(StudyEvent::Run(event));
        self.observer.event(StudyEvent::Progress(eta));
    }

    fn run_progress(&mut self, label: &str) -> Box<dyn Progress> {
        self.flush();
        Box::new(Counted {
            inner: self.observer.run_progress(label),
            clock: self.clock.clone(),
            events: self.events.clone(),
            last_done: 0,
        })
    }
}

/// What a study did.
#[derive(Debug, Clone)]
pub struct StudyOutcome {
    /// Runs evaluated by this invocation (finished ones are not repeated).
    pub evaluated: usize,
    pub interrupted: bool,
    /// The report (none when interrupted).
    pub report: Option<StudyReport>,
    pub wall: Duration,
}

/// Runs every run of `plan` not finished yet under `plan.out/runs`, then writes the report.
pub fn run_study(
    plan: &StudyPlan,
    settings: &StudySettings,
    stop: &AtomicBool,
    observer: &mut dyn StudyObserver,
) -> Result<StudyOutcome> {
    let t0 = Instant::now();
    let cache = Cache::from_env();
    let catalog = Catalog::builtin();
    let loaded = load_tasks(
        &TaskSpec {
            names: plan.tasks.clone(),
            files: Vec::new(),
            num_fewshot: None,
            seed: settings.seed,
            offline: settings.offline,
        },
        &cache,
        &catalog,
    )?;
    let models = plan
        .models
        .iter()
        .map(|m| trilemma_runner::open::resolve(m, settings.offline))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let sizes: Vec<(String, usize)> = loaded
        .tasks
        .iter()
        .map(|t| {
            let n = t.items.len();
            (t.info.name.clone(), plan.limit.map_or(n, |l| l.min(n)))
        })
        .collect();
    let files = models.len() * plan.quant.len().max(1);
    let idle = (plan.idle_baseline_s > 0.0).then(|| {
        let d = Duration::from_secs_f64(plan.idle_baseline_s);
        observer.event(StudyEvent::MeasuringIdle(d));
        trilemma_telemetry::measure_idle(&settings.meters, d)
    });
    let ctx = EvalContext {
        settings: RunSettings {
            limit: plan.limit,
            batch_size: plan.preset.batch_size,
            repeats: 1,
            warmup: 0,
            cooldown_s: 0.0,
            seed: settings.seed,
            ..RunSettings::default()
        },
        meters: settings.meters.clone(),
        idle,
        host: trilemma_telemetry::detect_host(),
        remote: false,
        command: settings.command.clone(),
    };
    let sweep = SweepPlan {
        name: format!("study-{}-{}", plan.preset.name, plan.budget.name()),
        models,
        quant: plan.quant.clone(),
        tasks: loaded.tasks,
        batch_sizes: vec![plan.preset.batch_size],
        threads: vec![settings.threads],
        n_ctx: plan.preset.n_ctx,
        gpu_layers: Default::default(),
        num_fewshot: None,
        derived_dir: cache.root().join("models").join("derived"),
    };
    let clock = Rc::new(RefCell::new(Clock {
        start: t0,
        runs_done: 0,
        runs_total: files * sizes.len(),
        items_done: 0,
        items_total: files * sizes.iter().map(|(_, n)| n).sum::<usize>(),
        measured: 0,
        measuring_since: None,
        run_base: 0,
        run_size: 0,
    }));
    let runs_dir = plan.out.join("runs");
    let mut adapter = Adapter {
        observer,
        clock: clock.clone(),
        events: Rc::new(RefCell::new(Vec::new())),
        sizes,
    };
    let done = run_sweep(&sweep, &runs_dir, &ctx, None, stop, &mut adapter)?;
    adapter.flush();
    let observer = adapter.observer;
    if done.interrupted {
        return Ok(StudyOutcome {
            evaluated: done.runs.len(),
            interrupted: true,
            report: None,
            wall: t0.elapsed(),
        });
    }
    let report = write_report(plan, &runs_dir, observer)?;
    Ok(StudyOutcome {
        evaluated: done.runs.len(),
        interrupted: false,
        report: Some(report),
        wall: t0.elapsed(),
    })
}

/// The seed's tables over the runs in `runs_dir`.
pub fn build_report(plan: &StudyPlan, runs_dir: &Path) -> Result<StudyReport> {
    let runs = load_runs(&[runs_dir.to_path_buf()])?;
    let base = report::build(&runs)?;
    let p = &plan.preset;
    let mut tables = match p.kind {
        Kind::SlmBench => study::slm_bench_tables(&base)?,
        Kind::Per => {
            let mut t = study::per_tables(&base)?;
            t.push(study::published_per()?);
            t
        }
        Kind::SlimEval => study::slim_eval_tables(&base, &runs)?,
    };
    tables.retain(|t| !t.columns.is_empty());
    let mut hardware: Vec<String> = Vec::new();
    for g in &base.groups {
        if !hardware.contains(&g.hardware) {
            hardware.push(g.hardware.clone());
        }
    }
    let mut notes = vec![format!(
        "{} model file(s) x {} task(s), {}; batch size {}.",
        plan.models.len() * plan.quant.len().max(1),
        plan.tasks.len(),
        plan.limit.map_or("every item".to_string(), |l| format!(
            "at most {l} items per task"
        )),
        p.batch_size
    )];
    if plan.idle_baseline_s == 0.0 {
        notes.push(
            "No idle baseline was measured at this budget: energy is not idle-subtracted.".into(),
        );
    }
    if plan.limit.is_some_and(|l| l < 50) {
        notes.push(
            "A smoke budget: a few items per task, enough to check the pipeline and the tables' shape; the figures are not evidence."
                .into(),
        );
    }
    let mut r = StudyReport {
        study: p.name.clone(),
        seed: p.seed.clone(),
        title: p.title.clone(),
        protocol: p.protocol.clone(),
        budget: plan.budget.name().to_string(),
        hardware,
        tables,
        uncovered: p
            .uncovered
            .iter()
            .map(|u| study::Uncovered {
                paper: u.paper.clone(),
                why: u.why.clone(),
            })
            .collect(),
        notes,
    };
    let missing = r.attach_notes(&p.notes);
    if !missing.is_empty() {
        return Err(Error::Preset {
            file: p.file.clone(),
            message: format!(
                "`notes` has no entry for column(s) {}: every column says how it differs from the paper",
                missing.join(", ")
            ),
        });
    }
    Ok(r)
}

fn write_report(
    plan: &StudyPlan,
    runs_dir: &Path,
    observer: &mut dyn StudyObserver,
) -> Result<StudyReport> {
    let r = build_report(plan, runs_dir)?;
    let out = &plan.out;
    let json = out.join("study.json");
    write_json_atomic(&json, &r)?;
    let md = out.join("study.md");
    write_atomic(&md, study::to_markdown(&r).as_bytes())?;
    let html = out.join("study.html");
    write_atomic(&html, study::to_html(&r).as_bytes())?;
    let runs = load_runs(&[runs_dir.to_path_buf()])?;
    let base = report::build(&runs)?;
    let full = out.join("report.html");
    write_atomic(&full, report::to_html(&base).as_bytes())?;
    for p in [json, md, html, full] {
        observer.event(StudyEvent::Wrote(p));
    }
    Ok(r)
}
