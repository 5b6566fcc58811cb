//! A load session, what `trilemma load` runs: for each server (one given by URL, or
//! `trilemma serve` started here once per max batch size), a preflight, then the planned
//! profiles in order, each metered when asked and summarized with its steady-state
//! J/token. The load file is rewritten whole after every profile, so an interrupted
//! session keeps what it measured.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;

use trilemma_telemetry::{Telemetry, TelemetryConfig};

use crate::plan::{ProfilePlan, Role};
use crate::process::{spawn_serve, SpawnedServer};
use crate::{
    steady_energy, summarize, Error, LoadConfig, LoadEntry, LoadFile, Profile, Result, Slo,
};

/// The server a session loads.
#[derive(Debug, Clone, PartialEq)]
pub enum Server {
    /// A server already running: its base URL with the API prefix
    /// (`http://127.0.0.1:8080/v1`) and the model name it serves.
    Given { url: String, model: String },
    /// `trilemma serve` started on 127.0.0.1 once per max batch size, in turn (a
    /// batch-size sweep); each is stopped before the next starts.
    Spawn(SpawnServers),
}

/// The servers of a batch-size sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct SpawnServers {
    /// The model `trilemma serve` loads (a catalog name or a GGUF path).
    pub model: String,
    /// The name it serves the model under.
    pub served: String,
    /// The servers' max batch sizes (vLLM's max_num_seqs), in the order they run.
    pub max_batches: Vec<usize>,
    /// The servers' CPU threads (`None`: every core).
    pub threads: Option<u32>,
    /// The servers' `--prefill-chunk` (`None`: serve's own default).
    pub prefill_chunk: Option<usize>,
}

/// Everything a load session needs.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadPlan {
    pub server: Server,
    pub profiles: ProfilePlan,
    /// Prompts, used in turn.
    pub prompts: Vec<String>,
    /// Send each prompt as the user message of `/chat/completions` instead of a raw
    /// `/completions` prompt.
    pub chat: bool,
    /// Requests per profile.
    pub requests: usize,
    pub max_tokens: u32,
    /// Latency objectives for goodput.
    pub slo: Slo,
    /// Environment variable holding the API key.
    pub api_key_env: Option<String>,
    /// Client runtime threads.
    pub threads: usize,
    /// Limit on one request, stream included.
    pub timeout: Duration,
    /// In-flight count that opens the steady-state window (`None`: the concurrency, or
    /// the spawned server's max batch when that is smaller).
    pub steady_batch: Option<usize>,
    /// Meter the machine during each profile (the server runs on this machine).
    pub energy: bool,
    /// The load file, rewritten (atomically) after every profile.
    pub out: Option<PathBuf>,
}

/// What a session reports as it goes.
#[derive(Debug, Clone, Copy)]
pub enum LoadEvent<'a> {
    /// `trilemma serve` is being started for one max batch size.
    Starting { model: &'a str, max_batch: usize },
    /// A profile ended: measured (`summary` set) or not (`error` set).
    Profile(&'a LoadEntry),
    /// The sweep's throughput run was not faster than its synchronous run: there are no
    /// rates between them to run.
    NoSweepRates,
}

/// A server under load: given by URL, or started here for one max batch size.
struct Target {
    url: String,
    model: String,
    max_batch: Option<usize>,
    /// Held so that the server stops when the target is dropped.
    _server: Option<SpawnedServer>,
}

/// Runs a load session and returns its load file (also written to `plan.out`, when
/// given, after every profile). `on_event` hears of each server started and each
/// profile ended. A profile in which no request succeeded is an entry with its error,
/// not a failure of the session; a server that does not start or answer, or a load
/// file that cannot be written, is.
pub fn run_plan(plan: &LoadPlan, mut on_event: impl FnMut(LoadEvent<'_>)) -> Result<LoadFile> {
    check(plan)?;
    let mut file = LoadFile::new();
    match &plan.server {
        Server::Given { url, model } => {
            let target = Target {
                url: url.clone(),
                model: model.clone(),
                max_batch: None,
                _server: None,
            };
            load_target(plan, &target, &mut file, &mut on_event)?;
        }
        Server::Spawn(s) => {
            let logs = tempfile::tempdir().map_err(|e| {
                Error::Start(format!(
                    "cannot make a directory for the servers' logs: {e}"
                ))
            })?;
            for &b in &s.max_batches {
                on_event(LoadEvent::Starting {
                    model: &s.model,
                    max_batch: b,
                });
                let log = logs.path().join(format!("serve-{b}.log"));
                let (server, url) =
                    spawn_serve(&s.model, &s.served, b, s.threads, s.prefill_chunk, &log)?;
                let target = Target {
                    url,
                    model: s.served.clone(),
                    max_batch: Some(b),
                    _server: Some(server),
                };
                load_target(plan, &target, &mut file, &mut on_event)?;
                // The server stops here, before the next one starts.
            }
        }
    }
    Ok(file)
}

/// Settings that cannot make a session.
fn check(plan: &LoadPlan) -> Result<()> {
    if plan.prompts.is_empty() {
        return Err(Error::Config("no prompts".into()));
    }
    match &plan.server {
        Server::Given { .. } if plan.profiles.is_empty() => Err(Error::Config(
            "no load profile: give concurrencies, rates or a sweep".into(),
        )),
        Server::Spawn(s) if s.max_batches.is_empty() => {
            Err(Error::Config("no max batch size to serve with".into()))
        }
        Server::Spawn(s) if s.max_batches.contains(&0) => {
            Err(Error::Config("max batch sizes must be at least 1".into()))
        }
        _ => Ok(()),
    }
}

/// An unreachable server, a wrong model name or a server that is not OpenAI-compatible
/// is a clear error before any load is sent.
fn preflight(plan: &LoadPlan, target: &Target) -> Result<()> {
    let mut cfg = trilemma_engine::http::OpenAiConfig::new(&target.url, &target.model);
    cfg.api_key_env = plan.api_key_env.clone();
    trilemma_engine::http::OpenAiEngine::connect(cfg).map_err(|e| Error::Preflight {
        url: target.url.clone(),
        message: e.to_string(),
    })?;
    Ok(())
}

/// Runs the planned profiles against one server, then the sweep's rates once its
/// synchronous and throughput runs are measured.
fn load_target(
    plan: &LoadPlan,
    target: &Target,
    file: &mut LoadFile,
    on_event: &mut impl FnMut(LoadEvent<'_>),
) -> Result<()> {
    preflight(plan, target)?;
    let cfg = LoadConfig {
        base_url: target.url.clone(),
        model: target.model.clone(),
        prompts: plan.prompts.clone(),
        max_tokens: plan.max_tokens,
        requests: plan.requests,
        profile: Profile::Concurrency { n: 1 },
        api_key_env: plan.api_key_env.clone(),
        timeout: plan.timeout,
        threads: plan.threads,
        chat: plan.chat,
    };
    let mut queue: VecDeque<(Profile, Role)> = plan.profiles.planned(target.max_batch).into();
    let mut sync_rps = f64::NAN;
    while let Some((p, role)) = queue.pop_front() {
        let entry = run_profile(plan, &cfg, p, target.max_batch)?;
        on_event(LoadEvent::Profile(&entry));
        let rps = entry
            .summary
            .as_ref()
            .map_or(f64::NAN, |s| s.requests_per_s);
        match role {
            Role::Given => {}
            Role::SweepSynchronous => sync_rps = rps,
            Role::SweepThroughput => {
                let rates = plan.profiles.sweep_profiles(sync_rps, rps);
                if rates.is_empty() {
                    on_event(LoadEvent::NoSweepRates);
                }
                queue.extend(rates.into_iter().map(|p| (p, Role::Given)));
            }
        }
        file.profiles.push(entry);
        if let Some(out) = &plan.out {
            trilemma_store::load::write_load(out, file).map_err(|e| Error::Write {
                path: out.clone(),
                message: e.to_string(),
            })?;
        }
    }
    Ok(())
}

/// Runs one profile (metered when the plan says so) and makes its entry.
fn run_profile(
    plan: &LoadPlan,
    cfg: &LoadConfig,
    p: Profile,
    max_batch: Option<usize>,
) -> Result<LoadEntry> {
    let mut c = cfg.clone();
    c.profile = p;
    let meters = plan.energy.then(|| {
        Telemetry::start(&TelemetryConfig {
            estimate_machine_wide: true,
            ..Default::default()
        })
    });
    let run = crate::run(&c)?;
    let readings = meters.map(Telemetry::finish);
    let concurrency = match p {
        Profile::Concurrency { n } => n,
        _ => 1,
    };
    let batch = plan.steady_batch.unwrap_or(match max_batch {
        Some(b) => concurrency.min(b),
        None => concurrency,
    });
    Ok(match summarize(&run, &plan.slo, batch) {
        Ok(s) => LoadEntry {
            max_batch,
            steady_batch: Some(batch),
            energy: readings
                .as_ref()
                .map(|r| steady_energy(r, &run, s.steady_window_ns)),
            summary: Some(s),
            error: None,
            run,
        },
        Err(e) => LoadEntry {
            max_batch,
            steady_batch: None,
            summary: None,
            energy: None,
            error: Some(e.to_string()),
            run,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(url: String, profiles: ProfilePlan, out: Option<PathBuf>) -> LoadPlan {
        LoadPlan {
            server: Server::Given {
                url,
                model: "static".into(),
            },
            profiles,
            prompts: vec!["hello".into()],
            chat: false,
            requests: 20,
            max_tokens: 8,
            slo: Slo::default(),
            api_key_env: None,
            threads: 1,
            timeout: Duration::from_secs(30),
            steady_batch: None,
            energy: false,
            out,
        }
    }

    #[test]
    fn a_sweep_against_a_real_server_writes_every_profile_in_order() {
        let url = crate::target::spawn_static(3).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("load.json");
        let profiles = ProfilePlan {
            concurrency: vec![2],
            sweep: Some(1),
            max_concurrency: 4,
            ..Default::default()
        };
        let mut seen = Vec::new();
        let file = run_plan(&plan(url, profiles, Some(out.clone())), |e| match e {
            LoadEvent::Profile(entry) => seen.push(entry.run.profile),
            LoadEvent::Starting { .. } => panic!("nothing is spawned for a given server"),
            LoadEvent::NoSweepRates => seen.push(Profile::Constant { rate: f64::NAN }),
        })
        .unwrap();
        // Given, synchronous, throughput, then one rate (or the note that there is none).
        assert_eq!(seen.len(), 4, "{seen:?}");
        assert_eq!(seen[0], Profile::Concurrency { n: 2 });
        assert_eq!(seen[1], Profile::Concurrency { n: 1 });
        assert_eq!(seen[2], Profile::Concurrency { n: 4 });
        let on_disk = trilemma_store::load::read_load(&out).unwrap();
        assert_eq!(on_disk, file);
        assert_eq!(
            on_disk.schema_version,
            trilemma_store::load::LOAD_SCHEMA_VERSION
        );
        let first = &file.profiles[0];
        let s = first.summary.as_ref().unwrap();
        assert_eq!((s.completed, s.failed), (20, 0));
        assert_eq!(first.steady_batch, Some(2));
        assert!(first.max_batch.is_none() && first.error.is_none() && first.energy.is_none());
        assert_eq!(first.run.requests.len(), 20);
    }

    #[test]
    fn an_unreachable_server_fails_the_preflight_and_an_empty_plan_is_refused() {
        let addr = crate::process::free_local_addr().unwrap();
        let profiles = ProfilePlan {
            concurrency: vec![1],
            ..Default::default()
        };
        let e = run_plan(&plan(format!("http://{addr}/v1"), profiles, None), |_| {})
            .unwrap_err()
            .to_string();
        assert!(e.contains("preflight") && e.contains(&addr), "{e}");
        let e = run_plan(
            &plan("http://x/v1".into(), ProfilePlan::default(), None),
            |_| {},
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("no load profile"), "{e}");
    }
}
