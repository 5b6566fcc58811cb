//! `trilemma`: correctness, speed and energy of small language models, in one run.

mod cli;
mod cmd_analyze;
mod cmd_assets;
mod cmd_bench;
mod cmd_cascade;
mod cmd_compare;
mod cmd_judge;
mod cmd_load;
mod cmd_redteam;
mod cmd_report;
mod cmd_run;
mod cmd_score;
mod cmd_serve;
mod cmd_study;
mod cmd_sweep;
mod embedded;
mod output;
mod preflight;
mod run_args;
mod security_args;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::parse();
    cli::init_tracing(args.verbose);
    match cli::dispatch(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
