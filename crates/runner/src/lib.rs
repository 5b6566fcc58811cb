//! Runs a task on an engine and records every sample as it is produced.
//!
//! The runner batches items into engine calls, runs warm-up items that are not
//! counted, repeats the run when asked, appends each batch's records to the run
//! store, stops cleanly when asked to (SIGINT), and resumes a directory that holds
//! an interrupted run without recomputing or duplicating a finished sample.

mod draws;
pub mod evaluate;
pub mod inputs;
pub mod observe;
pub mod open;
mod summary;
pub mod sweep;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use trilemma_core::{Constraint, Outcome, RequestTiming, SampleRecord, Sampling, TokenCounts};
use trilemma_engine::{Engine, GenerationRequest, LoglikelihoodRequest};
use trilemma_tasks::{
    apply_filters, norm_lengths, score_generation, score_generation_with,
    score_multiple_choice_with, Item, ItemScore, Task,
};

pub use evaluate::{
    evaluate, run_dir_name, run_models, EvalContext, EvalModel, Evaluated, RunsOutcome,
};
pub use observe::{RunEvent, RunObserver};
pub use open::{Backend, EngineOpts};
use summary::{summarize, SummaryInputs};
pub use trilemma_core::RunSettings;
pub use trilemma_store::run::RunStore;

/// Errors of the runner.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing the run directory (the error names the file).
    #[error(transparent)]
    Store(#[from] trilemma_store::Error),
    #[error(transparent)]
    Assets(#[from] trilemma_assets::Error),
    #[error(transparent)]
    Tasks(#[from] trilemma_tasks::Error),
    #[error(transparent)]
    Engine(#[from] trilemma_engine::Error),
    #[error("deriving {target} from {model}: {message}")]
    Derive {
        model: String,
        target: String,
        message: String,
    },
    /// A setting that cannot be honoured, named.
    #[error("{0}")]
    Input(String),
    #[error("no samples to summarize")]
    Empty,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Receives progress as batches complete (the CLI draws a bar from it).
pub trait Progress {
    fn start(&mut self, _total: usize, _already_done: usize) {}
    fn advance(&mut self, _done: usize) {}
    fn finish(&mut self) {}
}

/// A progress sink that shows nothing.
#[derive(Debug, Default)]
pub struct Silent;
impl Progress for Silent {}

/// What a call to [`run_items`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunStats {
    /// Samples evaluated and recorded by this process.
    pub recorded: usize,
    /// Samples found already recorded (a resumed run).
    pub resumed: usize,
    /// True when a stop was requested before every sample was done.
    pub interrupted: bool,
}

/// How a batch's generations choose their tokens.
#[derive(Debug, Clone, Default)]
pub struct Draw {
    pub sampling: Sampling,
    pub constraint: Option<Constraint>,
    /// The run's seed; a sampled item draws with [`item_seed`].
    pub seed: u64,
    pub repeat: u32,
}

/// The seed item `id` of repeat `repeat` draws with: the same run seed, item and repeat
/// always give the same seed (FNV-1a over the three), so a sampled run repeats exactly
/// when run again alone.
pub fn item_seed(seed: u64, id: &str, repeat: u32) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed
        .to_le_bytes()
        .iter()
        .chain(id.as_bytes())
        .chain(&repeat.to_le_bytes())
    {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Evaluates one batch of items greedily; one record per item, in order.
pub fn evaluate_batch(
    engine: &mut dyn Engine,
    task_name: &str,
    items: &[&Item],
) -> Vec<SampleRecord> {
    evaluate_batch_drawn(engine, task_name, items, &Draw::default())
}

/// Evaluates one batch of items, generations drawn as `draw` says; one record per item,
/// in order.
pub fn evaluate_batch_drawn(
    engine: &mut dyn Engine,
    task_name: &str,
    items: &[&Item],
    draw: &Draw,
) -> Vec<SampleRecord> {
    let mut mc: Vec<(usize, &Item)> = Vec::new();
    let mut gen: Vec<(usize, &Item)> = Vec::new();
    let mut rolling: Vec<(usize, &str, &str)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item {
            Item::MultipleChoice { .. } => mc.push((i, item)),
            Item::Generate { .. } => gen.push((i, item)),
            Item::Rolling { id, text } => rolling.push((i, id, text)),
        }
    }
    let mut out: Vec<Option<SampleRecord>> = items.iter().map(|_| None).collect();

    if !rolling.is_empty() {
        let texts: Vec<String> = rolling.iter().map(|(_, _, t)| (*t).to_string()).collect();
        let results = engine.loglikelihood_rolling(&texts);
        for ((i, id, text), r) in rolling.into_iter().zip(results) {
            out[i] = Some(match r {
                Ok(l) => {
                    let tokens = TokenCounts {
                        input: u64::from(l.tokens),
                        output: 0,
                    };
                    let s = trilemma_tasks::score_rolling(text, l.logprob, l.tokens);
                    record(task_name, id, Outcome::Scored, s, tokens, l.timing)
                }
                // No log-likelihood: the sample is an error and counts in no perplexity.
                Err(e) => failed(
                    task_name,
                    id,
                    e.to_string(),
                    &[],
                    None,
                    RequestTiming::default(),
                ),
            });
        }
    }

    if !mc.is_empty() {
        let mut requests = Vec::new();
        for (_, item) in &mc {
            // One request per choice; WinoGrande's partial scoring gives each its own context.
            requests.extend(item.loglikelihood_pairs().into_iter().map(
                |(context, continuation)| LoglikelihoodRequest {
                    context,
                    continuation,
                },
            ));
        }
        let mut results = engine.loglikelihood(&requests).into_iter();
        for (i, item) in mc {
            let Item::MultipleChoice {
                id,
                choices,
                gold,
                choice_contexts,
                ..
            } = item
            else {
                unreachable!()
            };
            let rs: Vec<_> = results.by_ref().take(choices.len()).collect();
            let mut timing = RequestTiming {
                start_ns: u64::MAX,
                ..RequestTiming::default()
            };
            let mut tokens = TokenCounts::default();
            let mut logprobs = Vec::new();
            let mut greedy = Vec::new();
            let mut error = None;
            // The choice whose context lost the most tokens speaks for the item.
            let truncated = rs
                .iter()
                .filter_map(|r| r.as_ref().ok()?.truncated)
                .max_by_key(|t| t.tokens_dropped);
            for r in &rs {
                match r {
                    Ok(l) => {
                        timing.start_ns = timing.start_ns.min(l.timing.start_ns);
                        timing.end_ns = timing.end_ns.max(l.timing.end_ns);
                        tokens.input += u64::from(l.context_tokens + l.tokens);
                        logprobs.push(l.logprob);
                        greedy.push(l.is_greedy);
                    }
                    Err(e) => error = Some(e.to_string()),
                }
            }
            if timing.start_ns == u64::MAX {
                timing.start_ns = 0;
            }
            let record = match error {
                None => {
                    let lengths = if choice_contexts.is_empty() {
                        norm_lengths(choices)
                    } else {
                        choice_contexts.iter().map(|c| c.chars().count()).collect()
                    };
                    let mut s =
                        score_multiple_choice_with(choices, &lengths, *gold, &logprobs, &greedy);
                    if let Some(g) = item.group() {
                        s.detail["group"] = g.into();
                    }
                    if let Some(t) = truncated {
                        t.mark(&mut s.detail);
                    }
                    record(task_name, id, Outcome::Scored, s, tokens, timing)
                }
                Some(message) => {
                    let mut r = failed(
                        task_name,
                        id,
                        message,
                        &["acc", "acc_norm"],
                        choices.get(*gold),
                        timing,
                    );
                    if let Some(g) = item.group() {
                        r.detail = serde_json::json!({ "group": g });
                    }
                    r
                }
            };
            out[i] = Some(record);
        }
    }

    if !gen.is_empty() {
        let requests: Vec<GenerationRequest> = gen
            .iter()
            .map(|(_, item)| match item {
                Item::Generate {
                    id,
                    prompt,
                    stop,
                    max_tokens,
                    ..
                } => GenerationRequest {
                    prompt: prompt.clone(),
                    max_tokens: *max_tokens,
                    stop: stop.clone(),
                    sampling: Sampling {
                        seed: (!draw.sampling.is_greedy())
                            .then(|| item_seed(draw.seed, id, draw.repeat)),
                        ..draw.sampling.clone()
                    },
                    constraint: draw.constraint.clone(),
                    ..Default::default()
                },
                Item::MultipleChoice { .. } | Item::Rolling { .. } => unreachable!(),
            })
            .collect();
        let results = engine.generate(&requests);
        for ((i, item), r) in gen.into_iter().zip(results) {
            let Item::Generate {
                id,
                gold,
                references,
                metrics,
                labels,
                filters,
                ..
            } = item
            else {
                unreachable!()
            };
            let refs: Vec<String> = if references.is_empty() {
                vec![gold.clone()]
            } else {
                references.clone()
            };
            out[i] = Some(match r {
                Ok(g) => {
                    let tokens = TokenCounts {
                        input: u64::from(g.prompt_tokens),
                        output: u64::from(g.output_tokens),
                    };
                    let mut s = if metrics.is_empty() {
                        score_generation(&g.text, gold)
                    } else {
                        let mut s = score_generation_with(
                            &apply_filters(&g.text, filters),
                            &refs,
                            metrics,
                            labels,
                        );
                        s.detail["raw"] = g.text.clone().into();
                        s
                    };
                    s.detail["finish"] = serde_json::to_value(g.finish).unwrap_or_default();
                    let lps: Vec<f64> = g.token_logprobs.iter().map(|&x| f64::from(x)).collect();
                    if let Some(c) = trilemma_core::LogprobStats::of(&lps) {
                        s.detail["confidence"] = serde_json::to_value(c).unwrap_or_default();
                    }
                    if let Some(t) = g.truncated {
                        t.mark(&mut s.detail);
                    }
                    record(task_name, id, Outcome::Scored, s, tokens, g.timing)
                }
                Err(e) => {
                    let names: Vec<&str> = if metrics.is_empty() {
                        vec!["exact_match", "exact_match_strict"]
                    } else {
                        metrics.iter().map(String::as_str).collect()
                    };
                    let mut r = failed(
                        task_name,
                        id,
                        e.to_string(),
                        &names,
                        Some(gold),
                        RequestTiming::default(),
                    );
                    r.detail = serde_json::json!({ "references": refs });
                    r
                }
            });
        }
    }
    out.into_iter()
        .map(|r| r.expect("every item evaluated"))
        .collect()
}

fn record(
    task: &str,
    id: &str,
    outcome: Outcome,
    s: ItemScore,
    tokens: TokenCounts,
    timing: RequestTiming,
) -> SampleRecord {
    SampleRecord {
        sample_id: id.to_string(),
        task: task.to_string(),
        repeat: 0,
        session: 0,
        outcome,
        prediction: s.prediction,
        gold: s.gold,
        scores: s.scores,
        tokens,
        timing,
        detail: s.detail,
    }
}

/// A sample whose engine call failed: recorded as an error, scored 0 (never dropped).
fn failed(
    task: &str,
    id: &str,
    message: String,
    metrics: &[&str],
    gold: Option<&String>,
    timing: RequestTiming,
) -> SampleRecord {
    let score = ItemScore {
        prediction: String::new(),
        gold: gold.cloned().unwrap_or_default(),
        scores: metrics.iter().map(|m| ((*m).to_string(), 0.0)).collect(),
        detail: serde_json::Value::Null,
    };
    record(
        task,
        id,
        Outcome::Error { message },
        score,
        TokenCounts::default(),
        timing,
    )
}

/// Runs every (item, repeat) not yet in the store, batch by batch, appending records.
///
/// `stop` is polled between batches: when it is set the call returns with
/// `interrupted`, every finished batch already on disk.
pub fn run_items(
    engine: &mut dyn Engine,
    task: &Task,
    settings: &RunSettings,
    store: &mut RunStore,
    stop: &AtomicBool,
    progress: &mut dyn Progress,
) -> Result<RunStats> {
    let items: Vec<&Item> = task.limited(settings.limit);
    let done = store.done();
    let total = items.len() * settings.repeats as usize;
    let mut todo: Vec<(u32, &Item)> = Vec::new();
    for repeat in 0..settings.repeats {
        todo.extend(
            items
                .iter()
                .filter(|it| !done.contains(&(it.id().to_string(), repeat)))
                .map(|it| (repeat, *it)),
        );
    }
    let resumed = total - todo.len();
    progress.start(total, resumed);
    if todo.is_empty() {
        progress.finish();
        return Ok(RunStats {
            recorded: 0,
            resumed,
            interrupted: false,
        });
    }

    if settings.warmup > 0 {
        let warm: Vec<&Item> = items.iter().copied().take(settings.warmup).collect();
        for chunk in warm.chunks(settings.batch_size.max(1)) {
            let _ = evaluate_batch(engine, &task.info.name, chunk);
        }
    }

    let mut recorded = 0;
    let mut last_repeat = todo[0].0;
    let batch_size = settings.batch_size.max(1);
    let mut i = 0;
    while i < todo.len() {
        if stop.load(Ordering::SeqCst) {
            progress.finish();
            return Ok(RunStats {
                recorded,
                resumed,
                interrupted: true,
            });
        }
        let repeat = todo[i].0;
        if repeat != last_repeat && settings.cooldown_s > 0.0 {
            std::thread::sleep(Duration::from_secs_f64(settings.cooldown_s));
        }
        last_repeat = repeat;
        // A batch never spans two repeats.
        let end = (i..todo.len().min(i + batch_size))
            .take_while(|&k| todo[k].0 == repeat)
            .last()
            .map_or(i + 1, |k| k + 1);
        let chunk: Vec<&Item> = todo[i..end].iter().map(|(_, it)| *it).collect();
        let draw = Draw {
            sampling: settings.sampling.clone(),
            constraint: settings.constraint.clone(),
            seed: settings.seed,
            repeat,
        };
        let mut records = evaluate_batch_drawn(engine, &task.info.name, &chunk, &draw);
        for r in &mut records {
            r.repeat = repeat;
            r.session = store.session;
        }
        store.append(&records)?;
        recorded += records.len();
        progress.advance(resumed + recorded);
        i = end;
    }
    progress.finish();
    Ok(RunStats {
        recorded,
        resumed,
        interrupted: false,
    })
}
