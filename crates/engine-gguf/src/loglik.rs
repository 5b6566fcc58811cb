//! Log-likelihood of continuations, with shared contexts evaluated once.

use std::collections::HashMap;

use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::token::LlamaToken;
use trilemma_core::{now_ns, RequestTiming};
use trilemma_engine::{
    move_trailing_spaces, Error, Loglikelihood, LoglikelihoodRequest, PromptInput, PromptLogprobs,
    Result, RollingLoglikelihood, Truncation,
};

use crate::logits::{argmax, log_sum_exp, top_k};
use crate::{decode_err, keep_newest, GgufEngine};

/// A continuation to score after a context, both as tokens.
struct Pair {
    context: Vec<LlamaToken>,
    continuation: Vec<LlamaToken>,
}

/// Logits to read after a decode: (batch index, pair, continuation position they score).
type LogitRead = (i32, usize, usize);

/// One decode: its batch, the logits to read after it, and the (sequence, first position)
/// of the continuation cells freed once they are read.
type Step<'a> = (LlamaBatch<'a>, Vec<LogitRead>, Vec<(i32, usize)>);

/// What scoring one pair gave.
#[derive(Debug, Clone)]
struct Scored {
    logprob: f64,
    greedy: bool,
    /// Each continuation token's log-probability and whether it was the argmax.
    per_token: Vec<(f64, bool)>,
    /// At each continuation position, the most likely tokens (when asked for).
    tops: Vec<Vec<(u32, f64)>>,
    /// Context tokens this pair paid for (the first pair of a shared context pays for it).
    context_tokens: u32,
    timing: RequestTiming,
}

/// Tokenizes a context/continuation pair the way lm-evaluation-harness does:
/// the continuation's tokens are those of `context + continuation` past the context's.
fn encode_pair(engine: &GgufEngine, req: &LoglikelihoodRequest) -> Result<Pair> {
    let (context, continuation) = move_trailing_spaces(&req.context, &req.continuation);
    let pair = if context.is_empty() {
        Pair {
            context: vec![engine.prefix_token()],
            continuation: engine.tokens(&continuation, false),
        }
    } else {
        let whole = engine.tokens(&format!("{context}{continuation}"), true);
        let context = engine.tokens(&context, true);
        let continuation = whole.get(context.len()..).unwrap_or_default().to_vec();
        Pair {
            context,
            continuation,
        }
    };
    if pair.continuation.is_empty() {
        return Err(Error::Tokenize(format!(
            "continuation {:?} produced no tokens",
            req.continuation
        )));
    }
    Ok(pair)
}

/// Keeps the newest tokens when a pair is longer than one sequence may be, as
/// lm-evaluation-harness truncates `(context + continuation)[-(max_length + 1):]`, and
/// says how many context tokens it dropped. A continuation that cannot fit beside one
/// token of context is refused.
fn fit(mut pair: Pair, n_ctx: usize) -> Result<(Pair, Option<Truncation>)> {
    let total = pair.context.len() + pair.continuation.len();
    if total > n_ctx && pair.continuation.len() >= n_ctx {
        return Err(Error::ContextOverflow {
            needed: pair.continuation.len() + 1,
            limit: n_ctx,
        });
    }
    let cut = keep_newest(
        &mut pair.context,
        n_ctx.saturating_sub(pair.continuation.len()),
    );
    Ok((pair, cut))
}

pub fn loglikelihood(
    engine: &mut GgufEngine,
    requests: &[LoglikelihoodRequest],
) -> Vec<Result<Loglikelihood>> {
    let n_ctx = engine.n_ctx as usize;
    let mut cuts = Vec::with_capacity(requests.len());
    let pairs: Vec<Result<Pair>> = requests
        .iter()
        .map(|r| {
            let fitted = encode_pair(engine, r).and_then(|p| fit(p, n_ctx));
            cuts.push(fitted.as_ref().ok().and_then(|f| f.1));
            fitted.map(|f| f.0)
        })
        .collect();
    score_pairs(engine, pairs, 0)
        .into_iter()
        .zip(cuts)
        .map(|(scored, truncated)| {
            scored.map(|(s, tokens)| Loglikelihood {
                logprob: s.logprob,
                tokens,
                is_greedy: s.greedy,
                context_tokens: s.context_tokens,
                timing: s.timing,
                truncated,
            })
        })
        .collect()
}

/// Every token's log-probability given the tokens before it, in one pass (OpenAI's
/// `echo` with `logprobs`), with the `top` most likely tokens at each position. A text
/// prompt is seen exactly as the model sees it elsewhere (its BOS when the model adds
/// one); token ids are read as given, as OpenAI-compatible servers read them. The first
/// token is reported as `None`, as those servers do.
pub fn prompt_logprobs(
    engine: &mut GgufEngine,
    prompt: &PromptInput,
    top: usize,
) -> Result<PromptLogprobs> {
    let (plain, seen) = match prompt {
        PromptInput::Text(text) => (engine.tokens(text, false), engine.tokens(text, true)),
        PromptInput::Tokens(ids) => {
            let plain = engine.checked_ids(ids)?;
            (plain.clone(), plain)
        }
    };
    let ids: Vec<u32> = plain.iter().map(|t| t.0 as u32).collect();
    // With a BOS every plain token is predicted; without one the first is only context.
    let (context, continuation, skip) = if seen.len() > plain.len() && !plain.is_empty() {
        (seen[..1].to_vec(), seen[1..].to_vec(), 1)
    } else if plain.len() > 1 {
        (plain[..1].to_vec(), plain[1..].to_vec(), 0)
    } else {
        return Ok(PromptLogprobs {
            logprobs: vec![None; ids.len()],
            greedy: vec![false; ids.len()],
            top: vec![Vec::new(); ids.len()],
            tokens: ids,
        });
    };
    let (pair, _) = fit(
        Pair {
            context,
            continuation,
        },
        engine.n_ctx as usize,
    )?;
    let (scored, _) = score_pairs(engine, vec![Ok(pair)], top)
        .pop()
        .unwrap_or_else(|| Err(Error::Inference("the prompt was not scored".into())))?;
    let mut logprobs = vec![None];
    let mut greedy = vec![false];
    let mut tops = vec![Vec::new()];
    for (&(lp, g), t) in scored.per_token.iter().zip(&scored.tops).skip(skip) {
        logprobs.push(Some(lp));
        greedy.push(g);
        tops.push(engine.top_tokens(t));
    }
    Ok(PromptLogprobs {
        tokens: ids,
        logprobs,
        greedy,
        top: tops,
    })
}

/// Splits a token list into lm-evaluation-harness's rolling windows (context length 1):
/// each window predicts up to `max_len` tokens, conditioned on what precedes them.
fn rolling_windows(tokens: &[LlamaToken], prefix: LlamaToken, max_len: usize) -> Vec<Pair> {
    let mut out = Vec::new();
    if tokens.is_empty() {
        return out;
    }
    let first = tokens.len().min(max_len);
    out.push(Pair {
        context: vec![prefix],
        continuation: tokens[..first].to_vec(),
    });
    let mut predicted = first;
    while predicted < tokens.len() {
        let pred_len = (tokens.len() - predicted).min(max_len);
        let end = predicted + pred_len;
        // The window's input is the max_len tokens before `end`; the part before the
        // predicted span is its context.
        let input_start = end.saturating_sub(max_len + 1);
        out.push(Pair {
            context: tokens[input_start..end - pred_len].to_vec(),
            continuation: tokens[end - pred_len..end].to_vec(),
        });
        predicted = end;
    }
    out
}

pub fn rolling(engine: &mut GgufEngine, texts: &[String]) -> Vec<Result<RollingLoglikelihood>> {
    let max_len = engine.n_ctx as usize - 1;
    let prefix = engine.prefix_token();
    let mut owners = Vec::new();
    let mut pairs = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        for w in rolling_windows(&engine.tokens(text, false), prefix, max_len) {
            owners.push(i);
            pairs.push(Ok(w));
        }
    }
    let mut out: Vec<Result<RollingLoglikelihood>> = texts
        .iter()
        .map(|_| {
            Ok(RollingLoglikelihood {
                logprob: 0.0,
                tokens: 0,
                timing: RequestTiming::default(),
            })
        })
        .collect();
    for (owner, scored) in owners.into_iter().zip(score_pairs(engine, pairs, 0)) {
        let slot = &mut out[owner];
        match (slot.as_mut(), scored) {
            (Ok(acc), Ok((s, n))) => {
                acc.logprob += s.logprob;
                acc.tokens += n;
                if acc.timing.start_ns == 0 {
                    acc.timing.start_ns = s.timing.start_ns;
                }
                acc.timing.end_ns = s.timing.end_ns;
            }
            (Ok(_), Err(e)) => *slot = Err(e),
            (Err(_), _) => {}
        }
    }
    out
}

/// Scores pairs; pairs with identical context tokens share one evaluation of the context.
/// Returns, per pair, the score and the number of continuation tokens; `top` > 0 also
/// keeps the `top` most likely tokens at each continuation position.
fn score_pairs(
    engine: &mut GgufEngine,
    pairs: Vec<Result<Pair>>,
    top: usize,
) -> Vec<Result<(Scored, u32)>> {
    let mut results: Vec<Option<Result<(Scored, u32)>>> = Vec::with_capacity(pairs.len());
    let mut ok: Vec<(usize, Pair)> = Vec::new();
    for (i, p) in pairs.into_iter().enumerate() {
        match p {
            Ok(p) => {
                results.push(None);
                ok.push((i, p));
            }
            Err(e) => results.push(Some(Err(e))),
        }
    }

    // Group by context, in order of first appearance.
    let max_seq = engine.max_sequences as usize;
    let n_ctx = engine.n_ctx as usize;
    let mut index: HashMap<&[LlamaToken], usize> = HashMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (k, (_, p)) in ok.iter().enumerate() {
        let g = *index.entry(p.context.as_slice()).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(k);
    }
    // KV cells (and batch tokens) a group takes: the shared context once, then each
    // continuation but its last token.
    let cells = |g: &[usize]| {
        ok[g[0]].1.context.len()
            + g.iter()
                .map(|&k| ok[k].1.continuation.len() - 1)
                .sum::<usize>()
    };
    // Split groups larger than the sequences or the cells one batch holds (every pair
    // fits alone: `fit` made it so).
    let groups: Vec<Vec<usize>> = groups
        .into_iter()
        .flat_map(|g| {
            let mut parts: Vec<Vec<usize>> = Vec::new();
            for k in g {
                let more = ok[k].1.continuation.len() - 1;
                match parts.last_mut() {
                    Some(part) if part.len() < max_seq && cells(part) + more <= n_ctx => {
                        part.push(k);
                    }
                    _ => parts.push(vec![k]),
                }
            }
            parts
        })
        .collect();

    // Pack groups into waves that fit the sequences and KV cells of one batch.
    let mut wave: Vec<&[usize]> = Vec::new();
    let (mut wave_seqs, mut wave_cells) = (0, 0);
    let mut waves: Vec<Vec<&[usize]>> = Vec::new();
    for g in &groups {
        let (s, c) = (g.len(), cells(g));
        if !wave.is_empty() && (wave_seqs + s > max_seq || wave_cells + c > n_ctx) {
            waves.push(std::mem::take(&mut wave));
            wave_seqs = 0;
            wave_cells = 0;
        }
        wave.push(g);
        wave_seqs += s;
        wave_cells += c;
    }
    if !wave.is_empty() {
        waves.push(wave);
    }

    let n_vocab = engine.n_vocab;
    let isolate = engine.isolate_sequences;
    for wave in waves {
        let scored =
            engine
                .inner
                .with_dependent_mut(|_, ctx| -> Result<Vec<(usize, Scored, u32)>> {
                    let start_ns = now_ns();
                    // Each decode step is a batch, the logits to read after it (batch
                    // index, pair, continuation position scored from those logits), and
                    // the sequences whose continuation cells are freed once read.
                    let mut steps: Vec<Step<'_>> = Vec::new();
                    let mut free_after = Vec::new();
                    let n_tokens: usize = wave.iter().map(|g| cells(g)).sum();
                    let mut batch = LlamaBatch::new(n_tokens.max(1), max_seq as i32);
                    let mut reads = Vec::new();
                    let mut seq = 0i32;
                    for g in &wave {
                        let seqs: Vec<i32> = (seq..seq + g.len() as i32).collect();
                        seq += g.len() as i32;
                        let context = &ok[g[0]].1.context;
                        for (pos, &t) in context.iter().enumerate() {
                            let last = pos + 1 == context.len();
                            batch.add(t, pos as i32, &seqs, last).map_err(decode_err)?;
                        }
                        let ctx_idx = batch.n_tokens() - 1;
                        for &k in g.iter() {
                            reads.push((ctx_idx, k, 0));
                        }
                        for (j, &k) in g.iter().enumerate() {
                            let cont = &ok[k].1.continuation;
                            // A continuation after another one of the same context is
                            // decoded in a step of its own, once the one before has been
                            // read and its cells freed: its cells then follow the context
                            // directly, as when the pair is scored alone. (With another
                            // choice's cells between the context and its own, llama.cpp's
                            // attention gives logits up to ~0.4 nats apart on
                            // smollm2-135m.) Sliding-window models also decode the first
                            // continuation apart from the context (llama.cpp's iSWA cache
                            // gives slightly different logits when several sequences'
                            // tokens share a batch).
                            if cont.len() > 1 && (isolate || j > 0) {
                                steps.push((
                                    std::mem::replace(
                                        &mut batch,
                                        LlamaBatch::new(n_tokens.max(1), max_seq as i32),
                                    ),
                                    std::mem::take(&mut reads),
                                    std::mem::take(&mut free_after),
                                ));
                            }
                            if cont.len() > 1 && j + 1 < g.len() {
                                free_after.push((seqs[j], context.len()));
                            }
                            for (r, &t) in cont[..cont.len() - 1].iter().enumerate() {
                                batch
                                    .add(t, (context.len() + r) as i32, &[seqs[j]], true)
                                    .map_err(decode_err)?;
                                reads.push((batch.n_tokens() - 1, k, r + 1));
                            }
                        }
                    }
                    steps.push((batch, reads, free_after));
                    let mut acc: HashMap<usize, Vec<(f64, bool)>> = HashMap::new();
                    let mut tops: HashMap<usize, Vec<Vec<(u32, f64)>>> = HashMap::new();
                    for (mut batch, reads, free) in steps {
                        if batch.n_tokens() == 0 {
                            continue;
                        }
                        ctx.decode(&mut batch).map_err(decode_err)?;
                        for (idx, k, r) in reads {
                            let logits = ctx.get_logits_ith(idx);
                            let logits = &logits[..n_vocab.min(logits.len())];
                            let tok = ok[k].1.continuation[r].0 as usize;
                            let lse = log_sum_exp(logits);
                            let lp = f64::from(logits[tok]) - lse;
                            acc.entry(k).or_default().push((lp, argmax(logits) == tok));
                            if top > 0 {
                                tops.entry(k).or_default().push(top_k(logits, top, lse));
                            }
                        }
                        for (seq, from) in free {
                            ctx.clear_kv_cache_seq(Some(seq as u32), Some(from as u32), None)
                                .map_err(|e| Error::Inference(format!("freeing KV cells: {e}")))?;
                        }
                    }
                    let end_ns = now_ns();
                    ctx.clear_kv_cache();
                    let mut out = Vec::new();
                    for g in &wave {
                        for (j, &k) in g.iter().enumerate() {
                            let per_token = acc.remove(&k).unwrap_or_default();
                            let tops = tops
                                .remove(&k)
                                .unwrap_or_else(|| vec![Vec::new(); per_token.len()]);
                            let (logprob, greedy) = if per_token.is_empty() {
                                (f64::NAN, false)
                            } else {
                                (
                                    per_token.iter().map(|t| t.0).sum(),
                                    per_token.iter().all(|t| t.1),
                                )
                            };
                            let context_tokens = if j == 0 {
                                ok[k].1.context.len() as u32
                            } else {
                                0
                            };
                            out.push((
                                k,
                                Scored {
                                    logprob,
                                    greedy,
                                    per_token,
                                    tops,
                                    context_tokens,
                                    timing: RequestTiming {
                                        start_ns,
                                        first_token_ns: None,
                                        token_ns: Vec::new(),
                                        end_ns,
                                    },
                                },
                                ok[k].1.continuation.len() as u32,
                            ));
                        }
                    }
                    Ok(out)
                });
        match scored {
            Ok(list) => {
                for (k, s, n) in list {
                    results[ok[k].0] = Some(Ok((s, n)));
                }
            }
            Err(e) => {
                engine
                    .inner
                    .with_dependent_mut(|_, ctx| ctx.clear_kv_cache());
                let msg = e.to_string();
                for g in &wave {
                    for &k in g.iter() {
                        results[ok[k].0] = Some(Err(Error::Inference(msg.clone())));
                    }
                }
            }
        }
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(Error::Inference("request was not scored".into()))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(r: std::ops::Range<i32>) -> Vec<LlamaToken> {
        r.map(LlamaToken).collect()
    }

    #[test]
    fn rolling_windows_cover_every_token_once() {
        let tokens = toks(0..10);
        let w = rolling_windows(&tokens, LlamaToken(-7), 4);
        let covered: Vec<i32> = w
            .iter()
            .flat_map(|p| p.continuation.iter().map(|t| t.0))
            .collect();
        assert_eq!(covered, (0..10).collect::<Vec<_>>());
        assert_eq!(w[0].context, vec![LlamaToken(-7)]);
        // Later full windows are conditioned on the single preceding token.
        assert_eq!(w[1].context, vec![LlamaToken(3)]);
        assert_eq!(w[1].continuation, toks(4..8));
        // The last, partial window keeps as much context as fits in max_len inputs.
        assert_eq!(w[2].context, toks(5..8));
        assert_eq!(w[2].continuation, toks(8..10));
        for p in &w {
            assert!(p.context.len() + p.continuation.len() - 1 <= 4);
        }
    }

    #[test]
    fn fit_keeps_the_newest_context() {
        let p = Pair {
            context: toks(0..10),
            continuation: toks(10..13),
        };
        let (f, cut) = fit(p, 8).unwrap();
        assert_eq!(f.context, toks(5..10));
        assert_eq!(
            cut,
            Some(Truncation {
                prompt_tokens: 10,
                tokens_dropped: 5
            })
        );
        let p = Pair {
            context: toks(0..5),
            continuation: toks(5..8),
        };
        let (f, cut) = fit(p, 8).unwrap();
        assert_eq!((f.context, cut), (toks(0..5), None));
        let p = Pair {
            context: toks(0..2),
            continuation: toks(0..9),
        };
        assert!(matches!(fit(p, 8), Err(Error::ContextOverflow { .. })));
    }
}
