//! Checks of a command's inputs that take milliseconds, run before anything slow (fetching,
//! hashing, idle metering, loading a model), so that a typo fails at once and says where.

use std::path::Path;

use anyhow::{bail, Context};

/// Model specs: each a catalog name or a readable GGUF file whose header holds together.
pub fn models<S: AsRef<str>>(specs: &[S]) -> anyhow::Result<()> {
    for s in specs {
        trilemma_runner::open::check_spec(s.as_ref())?;
    }
    Ok(())
}

/// Built-in task names and task files.
pub fn tasks(names: &[String], files: &[std::path::PathBuf]) -> anyhow::Result<()> {
    for t in names {
        trilemma_tasks::data_set_for(t).with_context(|| format!("--task {t}"))?;
    }
    for f in files {
        input_file(f, "--task-file")?;
    }
    Ok(())
}

/// A file the command reads.
pub fn input_file(path: &Path, flag: &str) -> anyhow::Result<()> {
    if !path.is_file() {
        bail!("{flag} {}: no such file", path.display());
    }
    std::fs::File::open(path)
        .with_context(|| format!("{flag} {}: cannot read it", path.display()))?;
    Ok(())
}

/// An OpenAI-compatible server's base URL: `http(s)://host[:port][/prefix]`.
pub fn engine_url(u: &str, flag: &str) -> anyhow::Result<()> {
    let parsed = url::Url::parse(u).map_err(|e| {
        anyhow::anyhow!("{flag} {u:?} is not a URL ({e}); e.g. http://127.0.0.1:8080/v1")
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        bail!(
            "{flag} {u:?}: the scheme must be http or https, not {:?}; e.g. http://127.0.0.1:8080/v1",
            parsed.scheme()
        );
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        bail!("{flag} {u:?} names no host; e.g. http://127.0.0.1:8080/v1");
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        bail!("{flag} {u:?}: give the base URL with its API prefix only (no ?query or #fragment)");
    }
    Ok(())
}

/// A directory the command writes into: it is created if missing, and a file can be
/// made in it (the probe is removed).
pub fn out_dir(dir: &Path, flag: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{flag} {}: cannot create the directory", dir.display()))?;
    tempfile::Builder::new()
        .prefix(".trilemma-write-check")
        .tempfile_in(dir)
        .with_context(|| format!("{flag} {}: cannot write in the directory", dir.display()))?;
    Ok(())
}

/// A file the command writes: its directory must be writable, and it must not be a
/// directory itself.
pub fn out_file(file: &Path, flag: &str) -> anyhow::Result<()> {
    if file.is_dir() {
        bail!(
            "{flag} {}: is a directory; give a file name",
            file.display()
        );
    }
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    out_dir(dir, flag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_for_shape_only() {
        for ok in [
            "http://127.0.0.1:8080/v1",
            "https://example.invalid/v1",
            "http://localhost:1",
        ] {
            assert!(engine_url(ok, "--engine").is_ok(), "{ok}");
        }
        for bad in [
            "127.0.0.1:8080/v1",
            "ftp://host/v1",
            "http://",
            "http://:8080/v1",
            "not a url",
            "http://h:99999/v1",
            "http://h/v1?x=1",
        ] {
            let e = engine_url(bad, "--engine").unwrap_err().to_string();
            assert!(e.contains("--engine") && e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn an_output_path_under_a_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let e = out_dir(&file.join("runs"), "--out").unwrap_err();
        assert!(format!("{e:#}").contains("cannot create"), "{e:#}");
        assert!(out_file(dir.path(), "--out").is_err());
        assert!(out_dir(&dir.path().join("new/deeper"), "--out").is_ok());
        assert!(out_file(&dir.path().join("load.json"), "--out").is_ok());
    }
}
