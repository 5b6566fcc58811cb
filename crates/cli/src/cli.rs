//! Command-line definition and dispatch.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::cmd_study;
use crate::cmd_sweep;
use crate::{
    cmd_analyze, cmd_assets, cmd_bench, cmd_compare, cmd_judge, cmd_load, cmd_report, cmd_run,
    cmd_score, cmd_serve,
};

/// Measure small language models on correctness, speed and energy together.
#[derive(Debug, Parser)]
#[command(name = "trilemma", version, long_about = None)]
pub struct Cli {
    /// More log output (-v: info, -vv: debug, including llama.cpp's own log).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate models on tasks: accuracy, latency, throughput, memory and energy in one run.
    Run(crate::run_args::RunArgs),
    /// Sweep models x quantizations x tasks x batch sizes x threads into named, resumable runs.
    Sweep(cmd_sweep::SweepArgs),
    /// Fetch, verify and list pinned models and data sets.
    #[command(subcommand)]
    Assets(cmd_assets::AssetsCommand),
    /// Score predictions against references with a metric (parity with its reference package).
    Score(cmd_score::ScoreArgs),
    /// PER, OM and Pareto membership of a table of configurations (CSV).
    #[command(subcommand)]
    Analyze(cmd_analyze::AnalyzeCommand),
    /// A report (HTML, JSON, CSV or Markdown) over run directories or sweeps.
    Report(cmd_report::ReportArgs),
    /// Serve a model over an OpenAI-compatible HTTP API (continuous batching).
    Serve(cmd_serve::ServeArgs),
    /// Load-test an OpenAI-compatible endpoint (closed loop, constant or Poisson rates).
    Load(cmd_load::LoadArgs),
    /// Compare two runs item by item (paired bootstrap), or a run against lm-eval's samples.
    Compare(cmd_compare::CompareArgs),
    /// Rerun a seed's study (slm-bench, per, slim-eval) with its tables: list, show NAME, or NAME.
    Study(cmd_study::StudyArgs),
    /// Score a run's responses with a judge model on a rubric (LLM as a judge).
    Judge(cmd_judge::JudgeArgs),
    /// Benchmarks of Trilemma itself against peers.
    #[command(subcommand)]
    Bench(cmd_bench::BenchCommand),
    /// SLM-first cascades: calibrate thresholds from recorded runs, compare calibrations.
    #[command(subcommand)]
    Cascade(crate::cmd_cascade::CascadeCommand),
    /// Prompt-injection attacks against a server, a cascade or a model: success rate per family.
    Redteam(crate::cmd_redteam::RedteamArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    Completions(CompletionsArgs),
}

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `trilemma --help` lists the commands under what a user wants to do, in this order.
pub const GROUPS: &[(&str, &[&str])] = &[
    ("Measure", &["run", "sweep", "study", "judge"]),
    ("Compare", &["compare"]),
    ("Analyse", &["report", "analyze", "score"]),
    ("Serve", &["serve", "cascade", "redteam"]),
    ("Load-test", &["load"]),
    ("Set up and more", &["assets", "completions", "bench"]),
];

/// The command line, with the top-level help's commands grouped by [`GROUPS`] (clap lists
/// subcommands in one block; the grouped list is built from each command's own about
/// text, so the two cannot drift apart).
pub fn command() -> clap::Command {
    let cmd = Cli::command();
    let width = GROUPS
        .iter()
        .flat_map(|(_, names)| names.iter().map(|n| n.len()))
        .max()
        .unwrap_or(0);
    let mut listing = String::new();
    for (group, names) in GROUPS {
        listing.push_str(&format!("{group}:\n"));
        for name in *names {
            let about = cmd
                .find_subcommand(name)
                .and_then(|c| c.get_about())
                .map(|a| a.to_string())
                .unwrap_or_default();
            listing.push_str(&format!("  {name:width$}  {about}\n"));
        }
        listing.push('\n');
    }
    cmd.help_template(format!(
        "{{about-with-newline}}\n{{usage-heading}} {{usage}}\n\n{listing}Options:\n{{options}}{{after-help}}"
    ))
    .after_help("`trilemma COMMAND --help` says more about each command.")
}

/// Parses the process's arguments (exits with clap's message on a bad command line).
pub fn parse() -> Cli {
    let matches = command().get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

pub fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn,llama_cpp_2=off",
        1 => "info,llama_cpp_2=warn",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => cmd_run::run(&args),
        Command::Sweep(args) => cmd_sweep::run(&args),
        Command::Study(args) => cmd_study::run(&args),
        Command::Assets(cmd) => cmd_assets::run(&cmd).map(|()| ExitCode::SUCCESS),
        Command::Bench(cmd) => cmd_bench::run(&cmd).map(|()| ExitCode::SUCCESS),
        Command::Serve(args) => cmd_serve::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Load(args) => cmd_load::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Score(args) => cmd_score::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Analyze(cmd) => cmd_analyze::run(&cmd).map(|()| ExitCode::SUCCESS),
        Command::Compare(args) => cmd_compare::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Cascade(cmd) => crate::cmd_cascade::run(&cmd).map(|()| ExitCode::SUCCESS),
        Command::Judge(args) => cmd_judge::run(&args, |s| {
            Ok(trilemma_runner::open::open_spec(
                s,
                &trilemma_runner::EngineOpts::default(),
            )?)
        })
        .map(|()| ExitCode::SUCCESS),
        Command::Report(args) => cmd_report::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Redteam(args) => crate::cmd_redteam::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Completions(args) => {
            clap_complete::generate(
                args.shell,
                &mut command(),
                "trilemma",
                &mut std::io::stdout().lock(),
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_is_in_exactly_one_help_group() {
        let cmd = Cli::command();
        let visible: Vec<&str> = cmd
            .get_subcommands()
            .filter(|c| !c.is_hide_set())
            .map(|c| c.get_name())
            .collect();
        let grouped: Vec<&str> = GROUPS.iter().flat_map(|(_, n)| n.iter().copied()).collect();
        for name in &visible {
            let n = grouped.iter().filter(|g| *g == name).count();
            assert_eq!(n, 1, "`{name}` is in {n} help groups");
        }
        for name in &grouped {
            assert!(
                visible.contains(name),
                "help group names `{name}`, no such command"
            );
        }
        let help = command().render_help().to_string();
        for (group, names) in GROUPS {
            assert!(help.contains(&format!("{group}:\n")), "{help}");
            for name in *names {
                assert!(help.contains(&format!("  {name} ")), "{help}");
            }
        }
    }

    /// The `trilemma ...` command lines a document shows: inline code spans, and the
    /// commands of its fenced shell blocks.
    fn documented_commands(doc: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut fenced = false;
        for line in doc.lines() {
            if line.starts_with("```") {
                fenced = !fenced;
                continue;
            }
            if fenced {
                for part in line.split("&&") {
                    let part = part.trim();
                    if part.starts_with("trilemma ") {
                        out.push(part.split('>').next().unwrap_or(part).trim().to_string());
                    }
                }
                continue;
            }
            for (i, span) in line.split('`').enumerate() {
                if i % 2 == 1 && span.starts_with("trilemma ") {
                    out.push(span.to_string());
                }
            }
        }
        out
    }

    /// Every command line the README and the serve docs show parses with the flags as
    /// built (placeholders such as `[NAME...]` or `a\|b` aside).
    #[test]
    fn the_documented_command_lines_parse() {
        let docs = [
            ("README.md", include_str!("../../../README.md")),
            ("docs/serve.md", include_str!("../../../docs/serve.md")),
        ];
        let mut checked = 0;
        for (file, text) in docs {
            for line in documented_commands(text) {
                if line.contains("\\|") || line.contains('[') || line.contains("...") {
                    continue;
                }
                // A shell's trailing `&` (run in the background) is not an argument.
                let line = line.trim_end().trim_end_matches('&').trim_end();
                let args: Vec<&str> = line.split_whitespace().collect();
                if args.len() == 2 && !args[1].starts_with('-') {
                    assert!(
                        Cli::command().find_subcommand(args[1]).is_some(),
                        "{file}: `{line}`: no such command"
                    );
                    continue;
                }
                match command().try_get_matches_from(&args) {
                    Ok(_) => {}
                    Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {}
                    Err(e) => panic!("{file}: `{line}` does not parse: {e}"),
                }
                checked += 1;
            }
        }
        assert!(checked >= 15, "only {checked} command lines found");
    }

    #[test]
    fn the_command_line_is_consistent() {
        command().debug_assert();
    }
}
