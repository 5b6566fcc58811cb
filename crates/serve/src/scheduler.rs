//! The scheduler thread: owns the engine, feeds queued generations into its continuous
//! batching, and runs echoes alone between batches.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::mpsc;

use tokio::sync::mpsc as mpsc_async;
use tokio::sync::oneshot;
use trilemma_engine::{
    Admit, ChatMessage, Engine, Generation, GenerationRequest, GenerationSource, Incoming,
    PromptFit, PromptInput,
};

use crate::echo::{echo, Echo};
use crate::metrics::Metrics;

/// One request for the engine, sent from a handler to the scheduler.
pub(crate) enum Job {
    Generate {
        req: GenerationRequest,
        chat: Option<Vec<ChatMessage>>,
        /// What the engine does with a prompt that does not fit beside `max_tokens`.
        fit: PromptFit,
        /// Where text pieces go as they are generated (streamed requests).
        stream: Option<mpsc_async::UnboundedSender<String>>,
        reply: oneshot::Sender<trilemma_engine::Result<Generation>>,
    },
    Echo {
        prompt: PromptInput,
        /// How many most likely tokens to give at each position.
        top: usize,
        reply: oneshot::Sender<trilemma_engine::Result<Echo>>,
    },
}

/// Jobs waiting in the channel, handed to the engine's continuous batching.
struct Feed<'a> {
    rx: &'a mpsc::Receiver<Job>,
    /// Received but not yet admitted, in arrival order.
    backlog: VecDeque<Job>,
    /// Admitted generations: where their pieces and their answer go.
    inflight: HashMap<u64, Reply>,
    next_id: u64,
    disconnected: bool,
    metrics: &'a Metrics,
}

struct Reply {
    stream: Option<mpsc_async::UnboundedSender<String>>,
    reply: oneshot::Sender<trilemma_engine::Result<Generation>>,
}

impl GenerationSource for Feed<'_> {
    fn admit(&mut self, free: usize, idle: bool) -> Admit {
        if idle && self.backlog.is_empty() && !self.disconnected {
            match self.rx.recv() {
                Ok(j) => self.backlog.push_back(j),
                Err(_) => self.disconnected = true,
            }
        }
        while let Ok(j) = self.rx.try_recv() {
            self.backlog.push_back(j);
        }
        let mut admitted = Vec::new();
        while admitted.len() < free {
            match self.backlog.pop_front() {
                Some(Job::Generate {
                    req,
                    chat,
                    fit,
                    stream,
                    reply,
                }) => {
                    let id = self.next_id;
                    self.next_id += 1;
                    self.inflight.insert(id, Reply { stream, reply });
                    admitted.push(Incoming {
                        id,
                        request: req,
                        chat,
                        fit,
                    });
                }
                // An echo needs the engine to itself: let the sequences in flight end.
                Some(echo) => {
                    self.backlog.push_front(echo);
                    break;
                }
                None => break,
            }
        }
        self.metrics
            .queue_depth
            .fetch_sub(admitted.len() as u64, Ordering::Relaxed);
        self.metrics
            .running
            .store(self.inflight.len() as u64, Ordering::Relaxed);
        let echo_waits = matches!(self.backlog.front(), Some(Job::Echo { .. }));
        if admitted.is_empty() && (echo_waits || (self.disconnected && self.backlog.is_empty())) {
            Admit::Close
        } else {
            Admit::Requests(admitted)
        }
    }

    fn on_text(&mut self, id: u64, piece: &str) {
        if let Some(Reply {
            stream: Some(tx), ..
        }) = self.inflight.get(&id)
        {
            // A client that went away is not an error of the others.
            let _ = tx.send(piece.to_string());
        }
    }

    fn on_done(&mut self, id: u64, result: trilemma_engine::Result<Generation>) {
        if let Some(r) = self.inflight.remove(&id) {
            // Dropping the stream first tells a streamed response its text is complete.
            drop(r.stream);
            let _ = r.reply.send(result);
        }
        self.metrics
            .running
            .store(self.inflight.len() as u64, Ordering::Relaxed);
    }
}

/// Marks the engine stopped when the scheduler ends.
struct StoppedOnDrop<'a>(&'a Metrics);

impl Drop for StoppedOnDrop<'_> {
    fn drop(&mut self) {
        self.0.engine_stopped.store(true, Ordering::SeqCst);
    }
}

/// Owns the engine: generations run continuously batched (a request joins at the next
/// decode step once a sequence is free); an echo waits for the sequences in flight to
/// end, then runs alone.
pub(crate) fn schedule(
    mut engine: Box<dyn Engine>,
    rx: mpsc::Receiver<Job>,
    max_batch: usize,
    prefill_chunk: Option<usize>,
    m: &Metrics,
) {
    let mut feed = Feed {
        rx: &rx,
        backlog: VecDeque::new(),
        inflight: HashMap::new(),
        next_id: 0,
        disconnected: false,
        metrics: m,
    };
    // Declared after `feed`, so dropped before it: however the thread ends (a panic
    // in the engine included), the server knows the engine stopped before the requests
    // in flight lose their answers.
    let _stopped = StoppedOnDrop(m);
    loop {
        engine.generate_continuous(&mut feed, max_batch, prefill_chunk);
        // The echoes at the front of the backlog run now, alone.
        while let Some(job) = feed.backlog.pop_front() {
            let Job::Echo { prompt, top, reply } = job else {
                feed.backlog.push_front(job);
                break;
            };
            m.queue_depth.fetch_sub(1, Ordering::Relaxed);
            let _ = reply.send(echo(engine.as_mut(), &prompt, top));
        }
        if feed.disconnected && feed.backlog.is_empty() {
            break;
        }
    }
}
