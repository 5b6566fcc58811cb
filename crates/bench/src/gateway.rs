//! `trilemma bench gateway`: what the cascade gateway adds to a request. The same
//! closed-loop load (non-streamed completions) goes straight to the static target, through
//! `trilemma serve --cascade` (one upstream tier: the target), and through LiteLLM's proxy
//! in front of the same target when one is given; the added latency and the throughput
//! lost are each proxy's figures minus the direct ones, in the same run.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use trilemma_core::stats::percentile;

use crate::{Error, Result};

/// The key LiteLLM's proxy requires (it refuses to start without one); every arm sends
/// it, so that each request carries the same header.
const BENCH_KEY: &str = "sk-trilemma-bench-gateway";

/// Settings of the benchmark.
#[derive(Debug, Clone)]
pub struct GatewayBenchConfig {
    /// The `trilemma` binary (the gateway runs as its own process, as LiteLLM does).
    pub trilemma: PathBuf,
    /// LiteLLM's `litellm` executable (PyPI `litellm[proxy]`), the peer; `None`: no peer.
    pub litellm: Option<PathBuf>,
    /// Requests in flight at once (closed loop).
    pub concurrency: usize,
    /// Measured requests per arm (after `warmup`).
    pub requests: usize,
    pub warmup: usize,
    /// Text pieces in each static answer.
    pub pieces: usize,
    pub work_dir: PathBuf,
}

/// One arm: the same load against one endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct Arm {
    pub name: String,
    pub url: String,
    pub requests: usize,
    pub errors: usize,
    pub seconds: f64,
    pub requests_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// What a proxy adds over the direct arm.
#[derive(Debug, Clone, Serialize)]
pub struct Added {
    pub proxy: String,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// 1 - proxy requests/s / direct requests/s.
    pub throughput_loss: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct GatewayBenchReport {
    pub concurrency: usize,
    pub arms: Vec<Arm>,
    pub added: Vec<Added>,
    /// LiteLLM's added p99 over ours (how many times more it adds), when both ran.
    pub litellm_over_ours_p99: Option<f64>,
    pub litellm_version: Option<String>,
    pub how: String,
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::Target(format!("no free port: {e}")))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::Target(e.to_string()))
}

fn io(path: &std::path::Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Starts `trilemma serve --cascade` with one upstream tier, the target.
fn start_gateway(cfg: &GatewayBenchConfig, target: &str) -> Result<(Proc, String)> {
    let file = cfg.work_dir.join("bench-cascade.toml");
    std::fs::write(
        &file,
        format!(
            "[[tier]]\nname = \"static\"\nurl = \"{target}\"\nserved_model = \"static\"\nretries = 0\n"
        ),
    )
    .map_err(io(&file))?;
    let mut child = Command::new(&cfg.trilemma)
        .args(["serve", "--cascade"])
        .arg(&file)
        .args(["--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| Error::Run {
            what: format!("trilemma ({})", cfg.trilemma.display()),
            message: e.to_string(),
        })?;
    let stderr = child.stderr.take().expect("piped");
    let mut lines = BufReader::new(stderr).lines();
    let proc = Proc(child);
    let url = loop {
        let Some(Ok(line)) = lines.next() else {
            return Err(Error::Run {
                what: "trilemma serve --cascade".into(),
                message: "exited before listening".into(),
            });
        };
        if let Some(at) = line.find("http://") {
            break line[at..]
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
        }
    };
    std::thread::spawn(move || for _ in lines.by_ref() {});
    Ok((proc, url))
}

/// Starts LiteLLM's proxy in front of the target and waits until it answers.
fn start_litellm(
    cfg: &GatewayBenchConfig,
    exe: &PathBuf,
    target: &str,
) -> Result<(Proc, String, String)> {
    let file = cfg.work_dir.join("litellm-config.yaml");
    std::fs::write(
        &file,
        format!(
            "model_list:\n  - model_name: static\n    litellm_params:\n      model: openai/static\n      api_base: {target}\n      api_key: none\n"
        ),
    )
    .map_err(io(&file))?;
    let port = free_port()?;
    let version = Command::new(exe.with_file_name("python"))
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('litellm'))",
        ])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let child = Command::new(exe)
        .arg("--config")
        .arg(&file)
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--num_workers",
            "1",
        ])
        .env("LITELLM_LOG", "ERROR")
        .env("LITELLM_MASTER_KEY", BENCH_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::Run {
            what: format!("litellm ({})", exe.display()),
            message: e.to_string(),
        })?;
    let proc = Proc(child);
    let url = format!("http://127.0.0.1:{port}/v1");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ = write!(
                s,
                "GET /health/liveliness HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            );
            let mut r = String::new();
            let _ = s.read_to_string(&mut r);
            if r.starts_with("HTTP/1.1 200") {
                break;
            }
        }
        if Instant::now() > deadline {
            return Err(Error::Run {
                what: "litellm".into(),
                message: "did not answer /health/liveliness within 120 s".into(),
            });
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok((proc, url, version))
}

/// Closed-loop load: `concurrency` workers send non-streamed completions until `total`
/// are done; latencies of those after the first `warmup`.
fn drive(name: &str, url: &str, cfg: &GatewayBenchConfig) -> Result<Arm> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| Error::Target(e.to_string()))?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(cfg.concurrency)
        .tcp_nodelay(true)
        .build()
        .map_err(|e| Error::Target(e.to_string()))?;
    let body = serde_json::to_vec(&serde_json::json!({
        "model": "static", "prompt": "Say something", "max_tokens": cfg.pieces
    }))
    .unwrap_or_default();
    let endpoint = format!("{}/completions", url.trim_end_matches('/'));
    let total = cfg.warmup + cfg.requests;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (lat, errors, seconds) = rt.block_on(async {
        let started = Instant::now();
        let mut measured_from = None;
        let mut tasks = Vec::new();
        for _ in 0..cfg.concurrency {
            let (client, endpoint, body, next) =
                (client.clone(), endpoint.clone(), body.clone(), next.clone());
            let warmup = cfg.warmup;
            tasks.push(tokio::spawn(async move {
                let mut out = Vec::new();
                let mut errors = 0;
                loop {
                    let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if k >= total {
                        break;
                    }
                    let t0 = Instant::now();
                    let ok = match client
                        .post(&endpoint)
                        .header("content-type", "application/json")
                        .bearer_auth(BENCH_KEY)
                        .body(body.clone())
                        .send()
                        .await
                    {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    if k >= warmup {
                        if ok {
                            out.push((t0, t0.elapsed().as_secs_f64() * 1e3));
                        } else {
                            errors += 1;
                        }
                    }
                }
                (out, errors)
            }));
        }
        let mut lat = Vec::new();
        let mut errors = 0;
        for t in tasks {
            if let Ok((l, e)) = t.await {
                lat.extend(l);
                errors += e;
            }
        }
        // Throughput over the measured requests: from the first measured start to now.
        lat.sort_by_key(|a| a.0);
        if let Some((t, _)) = lat.first() {
            measured_from = Some(*t);
        }
        let seconds = measured_from
            .map_or(started.elapsed(), |t| t.elapsed())
            .as_secs_f64();
        (
            lat.into_iter().map(|(_, l)| l).collect::<Vec<f64>>(),
            errors,
            seconds,
        )
    });
    if lat.is_empty() {
        return Err(Error::Target(format!(
            "{name}: no request succeeded at {url}"
        )));
    }
    Ok(Arm {
        name: name.to_string(),
        url: url.to_string(),
        requests: lat.len(),
        errors,
        seconds,
        requests_per_s: lat.len() as f64 / seconds.max(1e-9),
        p50_ms: percentile(&lat, 50.0).unwrap_or(0.0),
        p99_ms: percentile(&lat, 99.0).unwrap_or(0.0),
    })
}

fn added(proxy: &Arm, direct: &Arm) -> Added {
    Added {
        proxy: proxy.name.clone(),
        p50_ms: proxy.p50_ms - direct.p50_ms,
        p99_ms: proxy.p99_ms - direct.p99_ms,
        throughput_loss: 1.0 - proxy.requests_per_s / direct.requests_per_s.max(1e-9),
    }
}

/// Runs the arms in turn against one static target.
pub fn gateway_bench(
    cfg: &GatewayBenchConfig,
    mut on_arm: impl FnMut(&Arm),
) -> Result<GatewayBenchReport> {
    if cfg.concurrency == 0 || cfg.requests == 0 {
        return Err(Error::Target(
            "concurrency and requests must be positive".into(),
        ));
    }
    std::fs::create_dir_all(&cfg.work_dir).map_err(io(&cfg.work_dir))?;
    let target = trilemma_load::target::spawn_static(cfg.pieces)
        .map_err(|e| Error::Target(format!("cannot start the static target: {e}")))?;
    let mut arms = Vec::new();
    let direct = drive("direct", &target, cfg)?;
    on_arm(&direct);
    let (gw_proc, gw_url) = start_gateway(cfg, &target)?;
    let gw = drive("trilemma serve --cascade", &gw_url, cfg)?;
    on_arm(&gw);
    drop(gw_proc);
    let mut litellm_version = None;
    let lite = match &cfg.litellm {
        None => None,
        Some(exe) => {
            let (p, url, version) = start_litellm(cfg, exe, &target)?;
            let a = drive("litellm proxy", &url, cfg)?;
            on_arm(&a);
            drop(p);
            litellm_version = Some(version);
            Some(a)
        }
    };
    let mut add = vec![added(&gw, &direct)];
    if let Some(l) = &lite {
        add.push(added(l, &direct));
    }
    let ratio = lite
        .as_ref()
        .map(|l| (l.p99_ms - direct.p99_ms) / (gw.p99_ms - direct.p99_ms));
    arms.push(direct);
    arms.push(gw);
    arms.extend(lite);
    Ok(GatewayBenchReport {
        concurrency: cfg.concurrency,
        arms,
        added: add,
        litellm_over_ours_p99: ratio,
        litellm_version,
        how: format!(
            "closed loop, {} in flight, {} measured requests per arm after {} warm-up, non-streamed completions of {} pieces from a static target on this machine; each proxy is its own process with one upstream (the target); latency is the client's, added = proxy minus direct",
            cfg.concurrency, cfg.requests, cfg.warmup, cfg.pieces
        ),
    })
}
