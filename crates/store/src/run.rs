//! The run directory: what one (model, task, settings) evaluation leaves behind.
//!
//! - `manifest.json` ([`RunManifest`]): written once, atomically; a resumed run must
//!   match it on [`RunManifest::IDENTITY`];
//! - `samples.jsonl` (one [`SampleRecord`] per line): appended and flushed per batch,
//!   so a killed process loses at most the batch in flight;
//! - `summary.json` ([`RunSummary`]): derived from the samples, written atomically at
//!   the end (and on a clean interrupt);
//! - `run.lock`: held while a process writes into the directory.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use trilemma_core::{
    EnergySource, EngineInfo, HostInfo, ModelInfo, RunSettings, RunSummary, SampleRecord, TaskInfo,
};

use crate::{read_json, read_jsonl, write_json_atomic, JsonlStore, Layout, Result};

pub const MANIFEST: &str = "manifest.json";
pub const SAMPLES: &str = "samples.jsonl";
pub const SUMMARY: &str = "summary.json";
pub const LOCK: &str = "run.lock";

/// The manifest's schema version this build writes. Files without one are version 0
/// (written before the field existed) and read the same way.
pub const RUN_SCHEMA_VERSION: u32 = 1;

/// `manifest.json`: everything a run was set up with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunManifest {
    #[serde(default)]
    pub schema_version: u32,
    pub trilemma_version: String,
    pub run_id: String,
    pub created_at: String,
    /// The command line that started the run.
    #[serde(default)]
    pub command: Vec<String>,
    pub model: ModelRecord,
    pub task: TaskInfo,
    pub engine: EngineInfo,
    pub settings: RunSettings,
    /// How generation chose tokens.
    pub decoding: String,
    pub hardware: HostInfo,
    pub meters: MeterSettings,
}

impl RunManifest {
    /// The fields a resumed run must share with the one on disk.
    pub const IDENTITY: &'static [&'static str] = &[
        "model.sha256",
        "task.name",
        "task.source",
        "task.num_fewshot",
        "engine.kind",
        "engine.threads",
        "settings.batch_size",
        "settings.seed",
    ];
}

/// The model a run evaluated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRecord {
    /// Display name: the catalog name, else what the file's GGUF header calls it
    /// (`general.name` and size label), else the file stem; over HTTP, the served name.
    /// A name, not an identity: two files may share it (the `sha256` tells them apart).
    pub name: String,
    /// The file (or, over HTTP, the server's URL).
    pub path: PathBuf,
    /// SHA-256 of the file (over HTTP: a sentence naming the server, no hash).
    pub sha256: String,
    /// Where it came from (catalog package, local file, server).
    pub origin: String,
    /// For a quantization variant a sweep derived: what it was derived from.
    #[serde(default)]
    pub derived: Option<Derivation>,
    /// What the engine read from the model.
    pub info: ModelInfo,
    /// What the file's GGUF header says it is (absent over HTTP, and in runs written
    /// before it was recorded).
    #[serde(default)]
    pub gguf: Option<GgufMetadata>,
}

/// The GGUF header fields that say what a model is, read without loading it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GgufMetadata {
    /// `general.name` (`Qwen2.5 Coder 1.5B Instruct`).
    pub name: Option<String>,
    /// `general.size_label` (`1.5B`, `135M`).
    pub size_label: Option<String>,
    /// `general.architecture` (`llama`, `gemma3`, `qwen2`).
    pub architecture: Option<String>,
    /// Weights: the element count of every tensor the header lists, summed.
    pub parameters: Option<u64>,
    /// `general.file_type` as llama.cpp names it (`Q4_K_M`, `F16`).
    pub file_type: Option<String>,
}

/// A quantization variant's record of its source: the sidecar JSON written next to a
/// derived GGUF (`<file>.json`), and the manifest's `model.derived`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Derivation {
    pub source_path: String,
    pub source_sha256: String,
    /// The source's file type as its GGUF header names it (`Q4_1`, `F16`, ...).
    pub source_precision: String,
    /// True when the source was itself quantized (not F32/F16/BF16): the variant cannot be
    /// more precise than that.
    pub source_is_quantized: bool,
    /// Target type label (`Q4_0`).
    pub target: String,
    pub target_ftype: u32,
    /// The quantizer: llama.cpp's `llama_model_quantize` in these bindings.
    pub quantizer: String,
    pub sha256: String,
    pub bytes: u64,
    /// Seconds since the Unix epoch when it was derived.
    pub created_unix_s: u64,
}

/// How the meters were set up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeterSettings {
    pub period_ms: u64,
    pub grid_g_per_kwh: f64,
    pub price_usd_per_kwh: f64,
    /// Idle power measured before the run and subtracted from its energy.
    #[serde(default)]
    pub idle_baseline: Option<IdleRecord>,
}

/// Idle power per source over a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdleRecord {
    pub window_s: f64,
    pub watts: Vec<SourceWatts>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceWatts {
    pub source: EnergySource,
    pub watts: f64,
}

/// The store layout of a run directory.
pub fn layout(dir: &Path) -> Layout {
    Layout {
        records: dir.join(SAMPLES),
        manifest: dir.join(MANIFEST),
        lock: dir.join(LOCK),
        what: "run",
    }
}

/// A run directory open for writing, locked for this process.
#[derive(Debug)]
pub struct RunStore {
    dir: PathBuf,
    store: JsonlStore<SampleRecord>,
    /// The session number this process writes under (one more than any on disk).
    pub session: u32,
}

impl RunStore {
    /// Opens (or creates) a run directory for `manifest`. A directory holding another
    /// run's manifest is refused, naming the field that differs.
    pub fn open(dir: &Path, manifest: &RunManifest) -> Result<Self> {
        Self::open_with(dir, manifest, RunManifest::IDENTITY)
    }

    /// As [`RunStore::open`], with any manifest type and identity fields (benchmarks
    /// write scratch runs with a manifest of their own).
    pub fn open_with(dir: &Path, manifest: &impl Serialize, identity: &[&str]) -> Result<Self> {
        let store: JsonlStore<SampleRecord> = JsonlStore::open(layout(dir), manifest, identity)?;
        let session = store
            .existing
            .iter()
            .map(|r| r.session + 1)
            .max()
            .unwrap_or(0);
        Ok(Self {
            dir: dir.to_path_buf(),
            store,
            session,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Records already in the directory when it was opened.
    pub fn existing(&self) -> &[SampleRecord] {
        &self.store.existing
    }

    /// (sample id, repeat) pairs already recorded.
    pub fn done(&self) -> HashSet<(String, u32)> {
        self.store
            .existing
            .iter()
            .map(|r| (r.sample_id.clone(), r.repeat))
            .collect()
    }

    /// Appends records and hands them to the OS before returning.
    pub fn append(&mut self, records: &[SampleRecord]) -> Result<()> {
        self.store.append(records)
    }

    /// Every record of the run: those found on opening and those appended since.
    pub fn records(&self) -> impl Iterator<Item = &SampleRecord> {
        self.store.records()
    }

    /// Syncs the samples, then writes the summary atomically.
    pub fn write_summary(&self, summary: &RunSummary) -> Result<()> {
        self.store.sync()?;
        write_json_atomic(&self.dir.join(SUMMARY), summary)
    }
}

/// A finished (or interrupted) run directory, read back.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub dir: PathBuf,
    pub manifest: RunManifest,
    pub summary: RunSummary,
}

/// Whether `dir` looks like a run directory (it has a summary).
pub fn is_run_dir(dir: &Path) -> bool {
    dir.join(SUMMARY).is_file()
}

impl RunDir {
    /// Reads the manifest and summary of a run directory.
    pub fn read(dir: &Path) -> Result<Self> {
        let manifest = read_manifest(dir)?;
        let summary = read_summary(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
            summary,
        })
    }

    /// The run's sample records (a torn last line from a killed writer is left out).
    pub fn samples(&self) -> Result<Vec<SampleRecord>> {
        read_samples(&self.dir)
    }
}

/// Reads `manifest.json` of a run directory (any schema version up to this build's).
pub fn read_manifest(dir: &Path) -> Result<RunManifest> {
    let path = dir.join(MANIFEST);
    let m: RunManifest = read_json(&path)?;
    crate::check_schema(&path, m.schema_version, RUN_SCHEMA_VERSION)?;
    Ok(m)
}

/// Reads `summary.json` of a run directory.
pub fn read_summary(dir: &Path) -> Result<RunSummary> {
    read_json(&dir.join(SUMMARY))
}

/// Whether the run in `dir` finished every sample (its summary exists and is not partial).
pub fn is_finished(dir: &Path) -> bool {
    read_summary(dir).is_ok_and(|s| !s.partial)
}

/// Reads `samples.jsonl` of a run directory.
pub fn read_samples(dir: &Path) -> Result<Vec<SampleRecord>> {
    read_jsonl(&dir.join(SAMPLES))
}
