//! `trilemma run`: evaluate models on tasks, measuring all three axes in one run.

use std::path::PathBuf;
use std::process::ExitCode;

use trilemma_runner::{open, Backend, EngineOpts, EvalModel};

use crate::output;
use crate::run_args::{eval_context, preflight, stop_on_ctrl_c, tasks, telemetry_config, RunArgs};

pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let meters = telemetry_config(args)?;
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("runs").join(chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string())
    });
    preflight(args, &out)?;
    let tasks = tasks(args)?;
    let (models, backend): (Vec<EvalModel>, Backend) = match &args.engine {
        // Over HTTP the server holds the model: it is named, not resolved or hashed.
        Some(url) => {
            let served = args
                .served_model
                .clone()
                .or_else(|| args.models.first().cloned())
                .unwrap_or_default();
            let backend = Backend::Http {
                url: url.clone(),
                api_key_env: args.api_key_env.clone(),
                max_concurrency: args.batch_size.max(1),
                context_length: args.n_ctx,
            };
            (vec![open::served(&served, url).into()], backend)
        }
        None => {
            let models = args
                .models
                .iter()
                .map(|m| open::resolve(m, args.offline).map(EvalModel::from))
                .collect::<Result<_, _>>()?;
            let mut opts = EngineOpts::for_batch(args.threads, args.n_ctx, args.batch_size);
            opts.gpu_layers = args.gpu_layers;
            (models, Backend::Embedded(opts))
        }
    };
    let stop = stop_on_ctrl_c()?;
    let ctx = eval_context(args, args.batch_size, meters, args.engine.is_some());
    let done = trilemma_runner::run_models(
        &models,
        &tasks,
        &backend,
        &out,
        &ctx,
        &stop,
        &mut output::Observer,
    )?;

    if args.json {
        let list: Vec<_> = done.runs.iter().map(|r| &r.summary).collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        output::print_run_table(&done.runs);
        eprintln!("results: {}", out.display());
        eprintln!(
            "compare and chart them: trilemma report {} -o {}",
            out.display(),
            out.join("report.html").display()
        );
    }
    Ok(if done.interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}
