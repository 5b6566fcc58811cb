//! Greedy generation over many sequences at once, admitting waiting requests as
//! soon as a sequence finishes (continuous batching): within one call of
//! `Engine::generate`, and across requests arriving while `trilemma serve` runs.

use std::collections::VecDeque;

use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use trilemma_core::{now_ns, RequestTiming};
use trilemma_engine::{
    cut_at_stop, Admit, Error, FinishReason, Generation, GenerationRequest, GenerationSource,
    Incoming, PromptFit, Result, TopToken, Truncation,
};

use crate::logits::{argmax, log_sum_exp, logprob_of, top_k};
use crate::{decode_err, keep_newest, top_tokens, GgufEngine};

/// One sequence being generated.
struct Active {
    id: u64,
    seq: i32,
    max_tokens: usize,
    stop: Vec<String>,
    /// Prompt tokens not yet decoded (emptied after the first step).
    pending_prompt: Vec<LlamaToken>,
    prompt_len: usize,
    /// Position of the next token to decode.
    pos: usize,
    last: Option<LlamaToken>,
    output: Vec<LlamaToken>,
    /// Log-probability of each token in `output`.
    logprobs: Vec<f32>,
    /// How many most likely tokens to keep at each position, and those kept.
    top: usize,
    tops: Vec<Vec<TopToken>>,
    /// Chooses each token when the request samples or follows a grammar (else the argmax).
    sampler: Option<crate::sampler::Chooser>,
    /// Where each token's piece ends in `bytes`.
    piece_ends: Vec<usize>,
    bytes: Vec<u8>,
    /// Bytes of the text already handed to the streaming callback.
    emitted: usize,
    timing: RequestTiming,
    /// KV cells reserved for this sequence (prompt + max new tokens).
    reserved: usize,
    /// Prompt tokens dropped so that the prompt and `max_tokens` fit.
    truncated: Option<Truncation>,
    /// Batch index of the logits this sequence reads after the current decode.
    logits_at: i32,
}

/// Each generated token's text: its bytes between the previous token's end and its own
/// (a character split across tokens shows as U+FFFD in each, as llama.cpp's own server
/// shows it).
fn pieces(bytes: &[u8], ends: &[usize]) -> Vec<String> {
    let mut start = 0;
    ends.iter()
        .map(|&end| {
            let p = String::from_utf8_lossy(&bytes[start..end]).into_owned();
            start = end;
            p
        })
        .collect()
}

/// The part of a growing generation that can be streamed: whole UTF-8 characters,
/// before any stop sequence, holding back a tail that could still begin one.
fn streamable<'a>(bytes: &'a [u8], stop: &[String]) -> &'a str {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        // A character cut by a token boundary waits for the rest of its bytes.
        Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default(),
    };
    let (cut, found) = cut_at_stop(text, stop);
    if found {
        return cut;
    }
    let hold = stop
        .iter()
        .map(|s| s.len())
        .max()
        .unwrap_or(1)
        .saturating_sub(1);
    let mut end = cut.len().saturating_sub(hold);
    while !cut.is_char_boundary(end) {
        end -= 1;
    }
    &cut[..end]
}

/// Greedy generation of a fixed set of requests (one call of [`Engine::generate`]).
///
/// [`Engine::generate`]: trilemma_engine::Engine::generate
pub fn generate(
    engine: &mut GgufEngine,
    requests: &[GenerationRequest],
    on_text: &mut dyn FnMut(usize, &str),
) -> Vec<Result<Generation>> {
    /// Hands every request over at once, then closes.
    struct Fixed<'a> {
        pending: Vec<Incoming>,
        results: Vec<Option<Result<Generation>>>,
        on_text: &'a mut dyn FnMut(usize, &str),
    }
    impl GenerationSource for Fixed<'_> {
        fn admit(&mut self, _free: usize, _idle: bool) -> Admit {
            if self.pending.is_empty() {
                Admit::Close
            } else {
                Admit::Requests(std::mem::take(&mut self.pending))
            }
        }
        fn on_text(&mut self, id: u64, piece: &str) {
            (self.on_text)(id as usize, piece);
        }
        fn on_done(&mut self, id: u64, result: Result<Generation>) {
            self.results[id as usize] = Some(result);
        }
    }
    let mut fixed = Fixed {
        pending: requests
            .iter()
            .enumerate()
            .map(|(i, r)| Incoming {
                id: i as u64,
                request: r.clone(),
                chat: None,
                fit: PromptFit::KeepNewest,
            })
            .collect(),
        results: requests.iter().map(|_| None).collect(),
        on_text,
    };
    run(engine, &mut fixed, usize::MAX, None);
    fixed
        .results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(Error::Inference("request was not run".into()))))
        .collect()
}

/// A request tokenized and waiting for a sequence.
struct Waiting {
    id: u64,
    prompt: Vec<LlamaToken>,
    max_tokens: usize,
    top: usize,
    sampler: Option<crate::sampler::Chooser>,
    stop: Vec<String>,
    truncated: Option<Truncation>,
}

/// Tokenizes an incoming request (rendering its chat messages first), or answers it at
/// once when there is nothing to generate or it cannot fit.
// `Err` is the request's answer, handed back once per request and never propagated.
#[allow(clippy::result_large_err)]
fn prepare(
    model: &LlamaModel,
    add_bos: bool,
    prefix: LlamaToken,
    n_ctx: usize,
    n_vocab: usize,
    incoming: Incoming,
) -> std::result::Result<Waiting, (u64, Result<Generation>)> {
    let Incoming {
        id,
        request,
        chat,
        fit,
    } = incoming;
    let prompt_text = match chat {
        Some(messages) => crate::render_chat(model, &messages).map_err(|e| (id, Err(e)))?,
        None => request.prompt,
    };
    let mut prompt = match &request.prompt_ids {
        Some(ids) => crate::checked_ids(ids, n_vocab).map_err(|e| (id, Err(e)))?,
        None => crate::tokenize_with(model, &prompt_text, add_bos),
    };
    let max_new = request.max_tokens as usize;
    if max_new == 0 {
        let now = now_ns();
        return Err((
            id,
            Ok(Generation {
                text: String::new(),
                prompt_tokens: prompt.len() as u32,
                output_tokens: 0,
                finish: FinishReason::Length,
                timing: RequestTiming {
                    start_ns: now,
                    end_ns: now,
                    ..RequestTiming::default()
                },
                token_logprobs: Vec::new(),
                token_texts: Vec::new(),
                top_logprobs: Vec::new(),
                truncated: None,
            }),
        ));
    }
    if prompt.is_empty() {
        prompt.push(prefix);
    }
    let sampler = crate::sampler::build(
        model,
        &request.sampling,
        request.constraint.as_ref(),
        max_new,
    )
    .map_err(|e| (id, Err(e)))?;
    let mut truncated = match fit {
        PromptFit::KeepLast(n) => keep_newest(&mut prompt, n.max(1)),
        PromptFit::KeepNewest | PromptFit::Refuse => None,
    };
    let overflow = Error::ContextOverflow {
        needed: prompt.len() + max_new,
        limit: n_ctx,
    };
    if max_new >= n_ctx {
        return Err((id, Err(overflow)));
    }
    if prompt.len() + max_new > n_ctx {
        if fit != PromptFit::KeepNewest {
            return Err((id, Err(overflow)));
        }
        // Keep the newest prompt tokens so that the generation fits (as lm-eval does).
        truncated = keep_newest(&mut prompt, n_ctx - max_new);
    }
    Ok(Waiting {
        id,
        prompt,
        max_tokens: max_new,
        top: usize::from(request.top_logprobs),
        sampler,
        stop: request.stop,
        truncated,
    })
}

/// Continuous batching: asks `source` for requests before every decode step, keeps up
/// to `max_batch` sequences (and the context's sequence slots) busy, and answers each
/// request as soon as it ends. With `prefill_chunk`, at most that many prompt tokens are
/// evaluated per step, so a newcomer's prompt delays the running sequences' next token
/// by a chunk, not by the whole prompt.
pub fn run(
    engine: &mut GgufEngine,
    source: &mut dyn GenerationSource,
    max_batch: usize,
    prefill_chunk: Option<usize>,
) {
    let n_ctx = engine.n_ctx as usize;
    let max_seq = engine.max_sequences as usize;
    let max_batch = max_batch.clamp(1, max_seq);
    let (add_bos, prefix, n_vocab) = (engine.add_bos, engine.prefix_token(), engine.n_vocab);
    let mut queue: VecDeque<Waiting> = VecDeque::new();
    let mut free_seqs: Vec<i32> = (0..max_seq as i32).rev().collect();
    let mut active: Vec<Active> = Vec::new();
    let mut reserved = 0usize;
    let mut closed = false;
    engine.inner.with_dependent_mut(|model, ctx| {
        let vocab = model.vocab();
        loop {
            if !closed {
                let idle = active.is_empty() && queue.is_empty();
                let room = max_batch.saturating_sub(active.len() + queue.len());
                if room > 0 || idle {
                    match source.admit(room, idle) {
                        Admit::Close => closed = true,
                        Admit::Requests(incoming) => {
                            for inc in incoming {
                                match prepare(model, add_bos, prefix, n_ctx, n_vocab, inc) {
                                    Ok(w) => queue.push_back(w),
                                    Err((id, r)) => source.on_done(id, r),
                                }
                            }
                        }
                    }
                }
            }
            if active.is_empty() && queue.is_empty() {
                if closed {
                    break;
                }
                continue;
            }
            // Start waiting requests while a sequence and enough KV cells are free.
            while let Some(w) = queue.front() {
                let need = w.prompt.len() + w.max_tokens;
                if active.len() >= max_batch
                    || free_seqs.is_empty()
                    || (reserved + need > n_ctx && !active.is_empty())
                {
                    break;
                }
                let w = queue.pop_front().expect("front exists");
                let seq = free_seqs.pop().expect("a free sequence");
                reserved += need;
                active.push(Active {
                    id: w.id,
                    seq,
                    prompt_len: w.prompt.len(),
                    pending_prompt: w.prompt,
                    max_tokens: w.max_tokens,
                    stop: w.stop,
                    pos: 0,
                    last: None,
                    output: Vec::new(),
                    logprobs: Vec::new(),
                    top: w.top,
                    tops: Vec::new(),
                    sampler: w.sampler,
                    piece_ends: Vec::new(),
                    bytes: Vec::new(),
                    emitted: 0,
                    timing: RequestTiming {
                        start_ns: now_ns(),
                        ..RequestTiming::default()
                    },
                    reserved: need,
                    logits_at: -1,
                    truncated: w.truncated,
                });
            }

            let n_tokens: usize = active.iter().map(|a| a.pending_prompt.len().max(1)).sum();
            let mut batch = LlamaBatch::new(n_tokens.max(1), 1);
            let mut add_err = None;
            // Sequences past their prompt decode one token each; prompts share the
            // step's prefill budget and are cut into chunks (chunked prefill).
            let mut budget = prefill_chunk.unwrap_or(usize::MAX).max(1);
            for a in active.iter_mut() {
                let toks: Vec<LlamaToken> = if a.pending_prompt.is_empty() {
                    a.last.into_iter().collect()
                } else {
                    let take = a.pending_prompt.len().min(budget);
                    budget -= take;
                    a.pending_prompt.drain(..take).collect()
                };
                a.logits_at = -1;
                for (k, &t) in toks.iter().enumerate() {
                    // Logits only where the next token is chosen: the prompt's last.
                    let last = k + 1 == toks.len() && a.pending_prompt.is_empty();
                    if let Err(e) = batch.add(t, a.pos as i32, &[a.seq], last) {
                        add_err = Some(decode_err(e));
                    }
                    a.pos += 1;
                    if last {
                        a.logits_at = batch.n_tokens() - 1;
                    }
                }
            }
            let decoded = match add_err {
                Some(e) => Err(e),
                None => ctx.decode(&mut batch).map_err(decode_err),
            };
            if let Err(e) = decoded {
                // The whole step failed: every sequence in it fails, the cache is reset.
                ctx.clear_kv_cache();
                for a in active.drain(..) {
                    source.on_done(a.id, Err(Error::Inference(e.to_string())));
                    free_seqs.push(a.seq);
                }
                reserved = 0;
                continue;
            }
            let now = now_ns();

            let mut finished = Vec::new();
            for (slot, a) in active.iter_mut().enumerate() {
                if a.logits_at < 0 {
                    // Still reading its prompt.
                    continue;
                }
                // The sampler (when there is one) draws and remembers the token; its
                // log-probability is the model's own, before any reshaping (as vLLM's).
                let logits = ctx.get_logits_ith(a.logits_at);
                let logits = &logits[..n_vocab.min(logits.len())];
                let drawn = a.sampler.as_mut().map(|s| s.choose(logits));
                let best = drawn.map_or_else(|| argmax(logits), |t| t.0 as usize);
                a.logprobs.push(logprob_of(logits, best));
                if a.top > 0 {
                    let top = top_k(logits, a.top, log_sum_exp(logits));
                    a.tops.push(top_tokens(&vocab, &top));
                }
                let tok = LlamaToken(best as i32);
                a.timing.first_token_ns.get_or_insert(now);
                a.timing.token_ns.push(now);
                a.output.push(tok);
                let finish = if vocab.is_eog(tok) {
                    a.piece_ends.push(a.bytes.len());
                    Some(FinishReason::EndOfSequence)
                } else {
                    vocab.token_to_piece_into(tok, &mut a.bytes, false, None);
                    a.piece_ends.push(a.bytes.len());
                    let text = String::from_utf8_lossy(&a.bytes);
                    if cut_at_stop(&text, &a.stop).1 {
                        Some(FinishReason::Stop)
                    } else if a.output.len() >= a.max_tokens || a.pos + 1 >= n_ctx {
                        Some(FinishReason::Length)
                    } else {
                        None
                    }
                };
                a.last = Some(tok);
                if let Some(f) = finish {
                    finished.push((slot, f));
                } else {
                    let ready = streamable(&a.bytes, &a.stop);
                    if ready.len() > a.emitted {
                        source.on_text(a.id, &ready[a.emitted..]);
                        a.emitted = ready.len();
                    }
                }
            }
            for (slot, finish) in finished.into_iter().rev() {
                let mut a = active.swap_remove(slot);
                a.timing.end_ns = now;
                let text = String::from_utf8_lossy(&a.bytes).into_owned();
                let text = cut_at_stop(&text, &a.stop).0.to_string();
                if text.len() > a.emitted {
                    source.on_text(a.id, text.get(a.emitted..).unwrap_or_default());
                }
                // Freeing a whole sequence cannot fail for a transformer cache.
                let _ = ctx.clear_kv_cache_seq(Some(a.seq as u32), None, None);
                free_seqs.push(a.seq);
                reserved -= a.reserved;
                source.on_done(
                    a.id,
                    Ok(Generation {
                        text,
                        prompt_tokens: a.prompt_len as u32,
                        output_tokens: a.output.len() as u32,
                        finish,
                        timing: a.timing,
                        token_logprobs: a.logprobs,
                        token_texts: pieces(&a.bytes, &a.piece_ends),
                        top_logprobs: a.tops,
                        truncated: a.truncated,
                    }),
                );
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::streamable;

    #[test]
    fn streaming_holds_back_what_may_start_a_stop_sequence() {
        let stop = vec!["\n\n".to_string(), "Question:".to_string()];
        // "Questi" could begin "Question:": held back (8 bytes: the longest stop - 1).
        assert_eq!(
            streamable(b"The answer is 4. Questi", &stop),
            "The answer is 4"
        );
        assert_eq!(streamable(b"42\n\nQuestion", &stop), "42");
        assert_eq!(streamable(b"abc", &[]), "abc");
        // A cut UTF-8 character waits for its last byte.
        assert_eq!(streamable("caf\u{e9}".as_bytes(), &[]), "caf\u{e9}");
        assert_eq!(streamable(&"caf\u{e9}".as_bytes()[..4], &[]), "caf");
    }
}
