//! The cascade gateway: `trilemma serve --cascade`. It speaks the same OpenAI-compatible API
//! as `trilemma serve` and answers each request from the cheapest tier whose answer the
//! policy accepts, escalating the rest; every answer says which tier produced it and why.
//!
//! Every tier is reached over HTTP: an upstream by its URL, an embedded model through a
//! `trilemma serve` router started in this process on a loopback port ([`start_embedded`]).
//! One path for both keeps the decision the same whoever serves a tier, and lets the
//! gateway's own overhead be measured against a static upstream.

mod answer;
mod app;
mod audit;
mod metrics;
mod trace;
mod upstream;

use std::path::{Path, PathBuf};
use std::time::Duration;

use trilemma_cascade::route::{with_thresholds, Plan, Step};
use trilemma_cascade::{Calibration, CascadeConfig, Judge, Rules};

pub use app::{router, serve};
pub use audit::AuditConfig;

/// Errors of the gateway.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Cascade(#[from] trilemma_cascade::Error),
    #[error("cannot start the gateway: {0}")]
    Start(String),
    /// A setting that cannot be honoured, named.
    #[error("{0}")]
    Input(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One tier as the gateway reaches it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub name: String,
    /// Base URL with the API prefix, e.g. `http://127.0.0.1:8080/v1`.
    pub base_url: String,
    /// The model name sent upstream.
    pub model: String,
    pub api_key: Option<String>,
    pub timeout: Duration,
    pub retries: u32,
    /// Energy attributed per token processed by this tier, J, and where it comes from.
    pub joules_per_token: Option<(f64, String)>,
    /// Reached by its `url` (not embedded in this process): its calls are audited.
    pub upstream: bool,
}

/// What stands between the network and the gateway: keys and limits, and the audit log
/// of requests sent to upstream tiers.
#[derive(Debug, Clone, Default)]
pub struct Security {
    pub guard: trilemma_guard::Guard,
    pub audit: Option<AuditConfig>,
}

/// Everything the gateway needs, checked before it serves.
#[derive(Debug)]
pub struct Gateway {
    pub cascade: CascadeConfig,
    pub plan: Plan,
    /// Where the plan came from (a calibration file, or the file's own thresholds).
    pub plan_from: String,
    pub endpoints: Vec<Endpoint>,
    /// The name served at `/v1/models`.
    pub served_name: String,
    judge: Judge,
    rules: Rules,
    metrics: metrics::Metrics,
    trace: Option<trace::TraceWriter>,
    client: reqwest::Client,
    guard: trilemma_guard::Guard,
    audit: Option<audit::AuditLog>,
}

/// The plan the gateway follows: the calibration's, checked against the cascade file, or
/// else the file's own thresholds (an uncalibrated, fixed-threshold cascade).
pub fn plan_for(cfg: &CascadeConfig, calibration: Option<&Path>) -> Result<(Plan, String)> {
    if let Some(path) = calibration {
        let cal = Calibration::read(path)?;
        cal.verify(cfg, path)?;
        return Ok((cal.plan, format!("calibration {}", path.display())));
    }
    if cfg.policy.thresholds.is_empty() && cfg.tiers.len() > 1 {
        return Err(Error::Input(
            "the cascade file has no policy.thresholds: give --calibration (from `trilemma cascade calibrate`) or set thresholds".into(),
        ));
    }
    Ok((
        with_thresholds(&cfg.policy.thresholds),
        "policy.thresholds of the cascade file (uncalibrated)".into(),
    ))
}

impl Gateway {
    /// `endpoints`: one per tier, in tier order (embedded tiers already started).
    pub fn new(
        cascade: CascadeConfig,
        plan: Plan,
        plan_from: String,
        endpoints: Vec<Endpoint>,
        served_name: String,
    ) -> Result<Self> {
        if endpoints.len() != cascade.tiers.len() || plan.len() != cascade.tiers.len() {
            return Err(Error::Input(format!(
                "{} tiers, {} endpoints, a plan of {} steps",
                cascade.tiers.len(),
                endpoints.len(),
                plan.len()
            )));
        }
        if plan.last() != Some(&Step::Answer) {
            return Err(Error::Input("the last tier of a plan must answer".into()));
        }
        let judge = Judge::new(&cascade.policy)?;
        let rules = Rules::new(&cascade)?;
        let trace = cascade
            .gateway
            .trace
            .as_deref()
            .map(trace::TraceWriter::open)
            .transpose()?;
        let names = endpoints.iter().map(|e| e.name.clone()).collect();
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| Error::Start(format!("HTTP client: {e}")))?;
        Ok(Self {
            cascade,
            plan,
            plan_from,
            endpoints,
            served_name,
            judge,
            rules,
            metrics: metrics::Metrics::new(names),
            trace,
            client,
            guard: trilemma_guard::Guard::open(),
            audit: None,
        })
    }

    /// The gateway behind `security`'s keys and limits, writing its audit log.
    pub fn secure(mut self, security: Security) -> Result<Self> {
        if let (Some(a), Some(t)) = (&security.audit, self.trace_path()) {
            if a.path == *t {
                return Err(Error::Input(format!(
                    "--audit-log {} is the cascade file's gateway.trace too: give each its own file",
                    a.path.display()
                )));
            }
        }
        self.audit = security
            .audit
            .as_ref()
            .map(audit::AuditLog::open)
            .transpose()?;
        self.guard = security.guard;
        Ok(self)
    }

    /// The trace file, when one is written.
    pub fn trace_path(&self) -> Option<&PathBuf> {
        self.cascade.gateway.trace.as_ref()
    }
}

/// Serves `engine` with `trilemma serve`'s router on a loopback port of the current
/// runtime; returns the base URL (`http://127.0.0.1:PORT/v1`).
pub async fn start_embedded(
    engine: Box<dyn trilemma_engine::Engine>,
    cfg: trilemma_serve::ServeConfig,
) -> Result<String> {
    let router = trilemma_serve::router(engine, cfg).map_err(|e| Error::Start(e.to_string()))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| Error::Start(format!("cannot bind a loopback port: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Start(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).tcp_nodelay(true).await {
            tracing::error!("embedded tier on {addr} stopped: {e}");
        }
    });
    Ok(format!("http://{addr}/v1"))
}

/// The energy per token a tier's calls are attributed: its run summary's measured J/token
/// (a measured source before the estimate), else the cascade file's figure.
fn tier_energy(t: &trilemma_cascade::Tier) -> Result<Option<(f64, String)>> {
    if let Some(path) = &t.cost.summary {
        let s: trilemma_core::RunSummary = trilemma_store::read_json(path)
            .map_err(|e| Error::Input(format!("tier {}: cost.summary: {e}", t.name)))?;
        if let Some(e) = s.per_token_energy() {
            return Ok(Some((
                e.per_token_j,
                format!("{} J/token of {}", e.source.label(), path.display()),
            )));
        }
    }
    Ok(t.cost
        .joules_per_token
        .map(|j| (j, "joules_per_token of the cascade file".to_string())))
}

/// One endpoint per tier: upstreams as configured, embedded tiers opened by `open` and
/// served on loopback ports of the current runtime.
pub async fn endpoints(
    cfg: &CascadeConfig,
    mut open: impl FnMut(
        &trilemma_cascade::Tier,
    ) -> std::result::Result<
        (
            Box<dyn trilemma_engine::Engine>,
            trilemma_serve::ServeConfig,
        ),
        String,
    >,
) -> Result<Vec<Endpoint>> {
    let mut out = Vec::new();
    for t in &cfg.tiers {
        let joules_per_token = tier_energy(t)?;
        let timeout = Duration::from_secs_f64(t.timeout_s);
        let ep = match (&t.url, &t.model) {
            (Some(url), _) => Endpoint {
                name: t.name.clone(),
                base_url: url.clone(),
                model: t.served_model.clone().unwrap_or_else(|| t.name.clone()),
                api_key: match &t.api_key_env {
                    None => None,
                    Some(var) => Some(std::env::var(var).map_err(|_| {
                        Error::Input(format!(
                            "tier {}: api_key_env names {var}, which is not set",
                            t.name
                        ))
                    })?),
                },
                timeout,
                retries: t.retries,
                joules_per_token,
                upstream: true,
            },
            (None, _) => {
                let (engine, serve_cfg) =
                    open(t).map_err(|e| Error::Input(format!("tier {}: {e}", t.name)))?;
                let model = serve_cfg.model_name.clone();
                Endpoint {
                    name: t.name.clone(),
                    base_url: start_embedded(engine, serve_cfg).await?,
                    model,
                    api_key: None,
                    timeout,
                    retries: t.retries,
                    joules_per_token,
                    upstream: false,
                }
            }
        };
        out.push(ep);
    }
    Ok(out)
}

impl Gateway {
    /// Asks every tier for its models (`GET /models`) before serving: a tier that does
    /// not answer is an error naming it.
    pub async fn preflight(&self) -> Result<()> {
        for ep in &self.endpoints {
            let url = format!("{}/models", ep.base_url.trim_end_matches('/'));
            let mut req = self
                .client
                .get(&url)
                .timeout(ep.timeout.min(Duration::from_secs(10)));
            if let Some(k) = &ep.api_key {
                req = req.bearer_auth(k);
            }
            match req.send().await {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => {
                    return Err(Error::Input(format!(
                        "tier {}: {url} answered HTTP {}",
                        ep.name,
                        r.status().as_u16()
                    )))
                }
                Err(e) => return Err(Error::Input(format!("tier {}: {url}: {e}", ep.name))),
            }
        }
        Ok(())
    }
}

/// How to open an embedded tier: its engine and the settings of the loopback server.
pub type OpenTier<'a> = dyn FnMut(
        &trilemma_cascade::Tier,
    ) -> std::result::Result<
        (
            Box<dyn trilemma_engine::Engine>,
            trilemma_serve::ServeConfig,
        ),
        String,
    > + 'a;

/// `trilemma serve --cascade`: opens the tiers, checks that each answers, binds `listen`
/// and serves until `shutdown` resolves. `started` gets the address and the gateway.
// The one entry point of the command, called once from the CLI: each argument is a
// separate input of the command line.
#[allow(clippy::too_many_arguments)]
pub fn serve_blocking(
    cascade: CascadeConfig,
    calibration: Option<&Path>,
    served_name: String,
    listen: std::net::SocketAddr,
    open: &mut OpenTier<'_>,
    security: Security,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    started: impl FnOnce(std::net::SocketAddr, &Gateway),
) -> Result<()> {
    let (plan, plan_from) = plan_for(&cascade, calibration)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Start(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(async move {
        let eps = endpoints(&cascade, open).await?;
        let gw = Gateway::new(cascade, plan, plan_from, eps, served_name)?.secure(security)?;
        gw.preflight().await?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| Error::Start(format!("cannot listen on {listen}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Start(e.to_string()))?;
        started(addr, &gw);
        serve(listener, std::sync::Arc::new(gw), shutdown).await
    })
}
