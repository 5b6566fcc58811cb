//! An embedded model served by `trilemma serve`'s router on a loopback port for the
//! length of one command (for commands that speak HTTP to their target).

use trilemma_serve::{serve_blocking, ServeConfig};

/// A loopback server; stopped (its requests finished) when dropped.
pub struct Embedded {
    /// Base URL with the API prefix.
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Embedded {
    /// Opens `model` and serves it on 127.0.0.1 with batches of `max_batch`.
    pub fn start(model: &str, threads: Option<u32>, max_batch: usize) -> anyhow::Result<Self> {
        let engine = trilemma_runner::open::open_spec(
            model,
            &trilemma_runner::EngineOpts {
                threads,
                n_ctx: 4096,
                max_sequences: max_batch.max(1) as u32,
                gpu_layers: Default::default(),
            },
        )?;
        let cfg = ServeConfig::new(model, max_batch.max(1));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let r = serve_blocking(
                ([127, 0, 0, 1], 0).into(),
                engine,
                cfg,
                async move {
                    let _ = stopped.await;
                },
                |addr| {
                    let _ = addr_tx.send(Ok(addr));
                },
            );
            if let Err(e) = r {
                let _ = addr_tx.send(Err(e.to_string()));
            }
        });
        let addr = addr_rx
            .recv()
            .map_err(|_| anyhow::anyhow!("the embedded server stopped before listening"))?
            .map_err(|e| anyhow::anyhow!(e))?;
        Ok(Self {
            url: format!("http://{addr}/v1"),
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
