//! `trilemma study list | show NAME | NAME [--models M,..] [--tasks T,..] [--budget B]
//! [--out DIR] [--json]`: a seed's protocol as one resumable command (the logic is in
//! `trilemma-study`; this file parses flags and prints).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use trilemma_assets::Cache;
use trilemma_study::plan::human;
use trilemma_study::{
    find, plan, run_study, BudgetName, StudyEvent, StudyObserver, StudyRequest, StudySettings,
};

use crate::output;

#[derive(Debug, Clone, Args)]
pub struct StudyArgs {
    /// `list`, `show NAME`, or the study to run: a shipped preset's name (slm-bench, per,
    /// slim-eval) or a preset file (a copy of one of studies/*.toml).
    #[arg(value_name = "list|show|NAME")]
    pub what: String,
    /// With `show`: the study to describe.
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    /// Models instead of the budget's: catalog names or GGUF files, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    /// Tasks instead of the budget's (each one the study's seed has a table for).
    #[arg(long, value_delimiter = ',')]
    pub tasks: Vec<String>,
    /// smoke (a few items, the two small models), standard (a few hundred items, every
    /// model) or full (every item).
    #[arg(long, default_value = "standard")]
    pub budget: String,
    /// Directory for the runs and the report (default: runs/study-NAME-BUDGET). Rerunning
    /// with the same directory resumes the study.
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Print the report (or the list, or the plan) as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// CPU threads for inference (default: all cores).
    #[arg(long)]
    pub threads: Option<u32>,
    /// Do not fetch missing catalog assets.
    #[arg(long)]
    pub offline: bool,
    /// Grid carbon intensity: a region (world, us, eu, fr, de, uk, in, cn) or g CO2/kWh.
    #[arg(long, default_value = "world")]
    pub grid: String,
    /// Electricity price, USD per kWh.
    #[arg(long, default_value_t = trilemma_telemetry::DEFAULT_PRICE_USD_PER_KWH)]
    pub price: f64,
}

/// Prints run events through the run observer, and the study's progress with its ETA at
/// the start of each run (the bars show progress within a run).
struct Printer {
    runs: output::Observer,
    run_started: bool,
}

impl StudyObserver for Printer {
    fn event(&mut self, event: StudyEvent) {
        use trilemma_runner::RunObserver;
        match event {
            StudyEvent::MeasuringIdle(d) => {
                eprintln!("measuring idle power for {:.0} s", d.as_secs_f64())
            }
            StudyEvent::Run(e) => {
                self.run_started = matches!(e, trilemma_runner::RunEvent::Starting { .. });
                self.runs.event(e);
            }
            StudyEvent::Progress(eta) if self.run_started => {
                self.run_started = false;
                eprintln!(
                    "study: {}/{} runs, {}/{} items, {} elapsed, {}",
                    eta.runs_done,
                    eta.runs_total,
                    eta.items_done,
                    eta.items_total,
                    human(eta.elapsed.as_secs_f64()),
                    eta.remaining
                        .map_or("ETA after the first items".to_string(), |r| {
                            format!("ETA {}", human(r.as_secs_f64()))
                        })
                );
            }
            StudyEvent::Progress(_) => {}
            StudyEvent::Wrote(p) => eprintln!("wrote {}", p.display()),
        }
    }

    fn run_progress(&mut self, label: &str) -> Box<dyn trilemma_runner::Progress> {
        use trilemma_runner::RunObserver;
        self.runs.run_progress(label)
    }
}

fn settings(args: &StudyArgs) -> anyhow::Result<StudySettings> {
    let grid_g_per_kwh = match trilemma_telemetry::grid_intensity(&args.grid) {
        Some(g) => g,
        None => args.grid.parse::<f64>().map_err(|_| {
            anyhow::anyhow!(
                "--grid {:?} is neither a known region nor a number of g CO2/kWh",
                args.grid
            )
        })?,
    };
    Ok(StudySettings {
        meters: trilemma_telemetry::TelemetryConfig {
            period: std::time::Duration::from_millis(100),
            powercap_root: PathBuf::from("/sys/class/powercap"),
            grid_g_per_kwh,
            price_usd_per_kwh: args.price,
            estimate_machine_wide: false,
        },
        threads: args.threads,
        offline: args.offline,
        seed: trilemma_core::DEFAULT_SEED,
        command: std::env::args().collect(),
    })
}

pub fn run(args: &StudyArgs) -> anyhow::Result<ExitCode> {
    let budget = BudgetName::parse(&args.budget)?;
    let request = StudyRequest {
        models: args.models.clone(),
        tasks: args.tasks.clone(),
        budget,
        out: args.out.clone(),
    };
    match (args.what.as_str(), &args.name) {
        ("list", None) => {
            let all = trilemma_study::builtin()?;
            if args.json {
                let list: Vec<_> = all
                    .iter()
                    .map(|p| serde_json::json!({"name": p.name, "seed": p.seed, "title": p.title, "file": p.file}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for p in &all {
                    println!("{:10} seed {}  {}  ({})", p.name, p.seed, p.title, p.file);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ("show", Some(name)) => {
            let preset = find(name)?;
            let p = plan(&preset, &request, &Cache::from_env())?;
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "study": p.preset.name, "budget": budget.name(), "models": p.models,
                        "tasks": p.tasks, "quant": p.quant.iter().map(|q| q.name).collect::<Vec<_>>(),
                        "limit": p.limit, "runs": p.runs, "items": p.items,
                        "estimate_s": p.estimate_s, "disk_needed_bytes": p.disk_needed,
                        "out": p.out,
                    }))?
                );
            } else {
                print!("{}", p.describe());
            }
            Ok(ExitCode::SUCCESS)
        }
        ("show", None) => anyhow::bail!("study show: name the study (trilemma study list)"),
        ("list", Some(n)) => anyhow::bail!("study list takes no name (got {n:?})"),
        (name, None) => {
            let preset = find(name)?;
            let p = plan(&preset, &request, &Cache::from_env())?;
            crate::preflight::out_dir(&p.out, "--out")?;
            eprintln!(
                "study {} ({} budget): {} runs, {} items, about {} on this machine; results in {}",
                p.preset.name,
                budget.name(),
                p.runs,
                p.items,
                human(p.estimate_s),
                p.out.display()
            );
            let stop = crate::run_args::stop_on_ctrl_c()?;
            let done = run_study(
                &p,
                &settings(args)?,
                &stop,
                &mut Printer {
                    runs: output::Observer,
                    run_started: false,
                },
            )?;
            if done.interrupted {
                eprintln!("study stopped; rerun the same command to resume");
                return Ok(ExitCode::from(130));
            }
            if let Some(r) = &done.report {
                if args.json {
                    println!("{}", serde_json::to_string_pretty(r)?);
                } else {
                    print!("{}", trilemma_analysis::study::to_markdown(r));
                }
            }
            eprintln!(
                "study {}: {} run(s) evaluated now, {} wall",
                p.preset.name,
                done.evaluated,
                human(done.wall.as_secs_f64())
            );
            Ok(ExitCode::SUCCESS)
        }
        (name, Some(extra)) => {
            anyhow::bail!(
                "study {name}: unexpected {extra:?} (did you mean `trilemma study show {extra}`?)"
            )
        }
    }
}
