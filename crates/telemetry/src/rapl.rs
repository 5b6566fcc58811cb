//! Linux powercap RAPL counters (`/sys/class/powercap/intel-rapl:*`, also used by
//! AMD's driver): package and DRAM domains, `energy_uj` with wrap-around at
//! `max_energy_range_uj`.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// One RAPL domain (a package or its DRAM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    /// `package-0`, `dram`, ...
    pub name: String,
    pub energy_path: PathBuf,
    /// The counter wraps to 0 after this many microjoules.
    pub max_uj: u64,
}

/// Finds the package and DRAM domains under a powercap root. Sub-domains of a
/// package other than DRAM (core, uncore) are part of the package and are skipped,
/// so that nothing is counted twice.
pub fn discover(root: &Path) -> Result<Vec<Domain>> {
    let entries = std::fs::read_dir(root).map_err(|source| Error::Read {
        path: root.to_path_buf(),
        source,
    })?;
    let mut zones: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("intel-rapl:"))
        })
        .collect();
    zones.sort();
    let mut domains = Vec::new();
    for zone in zones {
        let read = |f: &str| std::fs::read_to_string(zone.join(f)).map(|s| s.trim().to_string());
        let Ok(name) = read("name") else { continue };
        let depth = zone
            .file_name()
            .and_then(|n| n.to_str())
            .map_or(0, |n| n.matches(':').count());
        // intel-rapl:0 is a package; intel-rapl:0:1 a sub-domain (keep only DRAM).
        if depth > 1 && name != "dram" {
            continue;
        }
        let max_uj = read("max_energy_range_uj")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(u64::MAX);
        let energy_path = zone.join("energy_uj");
        match std::fs::read_to_string(&energy_path) {
            Ok(_) => domains.push(Domain {
                name,
                energy_path,
                max_uj,
            }),
            Err(source) => {
                return Err(Error::Read {
                    path: energy_path,
                    source,
                })
            }
        }
    }
    if domains.is_empty() {
        return Err(Error::NoRapl(root.to_path_buf()));
    }
    Ok(domains)
}

/// Reads a domain's counter in microjoules.
pub fn read_uj(domain: &Domain) -> Result<u64> {
    let path = &domain.energy_path;
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.clone(),
        source,
    })?;
    text.trim().parse().map_err(|source| Error::Parse {
        path: path.clone(),
        value: text.trim().to_string(),
        source,
    })
}

/// Energy between two readings of a counter that wraps at `max_uj`.
pub fn delta_uj(before: u64, after: u64, max_uj: u64) -> u64 {
    if after >= before {
        after - before
    } else {
        // One wrap between samples (sampling every 100 ms, a wrap takes minutes).
        max_uj.saturating_sub(before) + after
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use std::path::Path;

    /// A fake powercap tree (this VM has no RAPL): a package with core and DRAM
    /// sub-domains, and a second package.
    pub(crate) fn fake_tree(root: &Path) {
        let zone = |rel: &str, name: &str, uj: u64| {
            let d = root.join(rel);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("name"), format!("{name}\n")).unwrap();
            std::fs::write(d.join("energy_uj"), format!("{uj}\n")).unwrap();
            std::fs::write(d.join("max_energy_range_uj"), "1000000\n").unwrap();
        };
        zone("intel-rapl:0", "package-0", 10);
        zone("intel-rapl:0:0", "core", 5);
        zone("intel-rapl:0:1", "dram", 20);
        zone("intel-rapl:1", "package-1", 30);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_around_is_handled() {
        assert_eq!(delta_uj(100, 350, 1000), 250);
        assert_eq!(delta_uj(900, 50, 1000), 150);
    }

    use super::tests_support::fake_tree;

    #[test]
    fn discovers_packages_and_dram_not_cores() {
        let dir = tempfile::tempdir().unwrap();
        fake_tree(dir.path());
        let d = discover(dir.path()).unwrap();
        let names: Vec<_> = d.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["package-0", "dram", "package-1"]);
        assert_eq!(d[0].max_uj, 1_000_000);
        assert_eq!(read_uj(&d[1]).unwrap(), 20);
    }

    #[test]
    fn unreadable_or_missing_trees_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        assert!(discover(&dir.path().join("nope")).is_err());
        assert!(discover(dir.path())
            .unwrap_err()
            .to_string()
            .contains("no RAPL domains"));
        fake_tree(dir.path());
        std::fs::remove_file(dir.path().join("intel-rapl:1/energy_uj")).unwrap();
        assert!(discover(dir.path())
            .unwrap_err()
            .to_string()
            .contains("intel-rapl:1"));
        // A counter that holds no number is an error naming the file and the text.
        std::fs::write(dir.path().join("intel-rapl:1/energy_uj"), "n/a\n").unwrap();
        let d = discover(dir.path()).unwrap();
        let e = read_uj(&d[2]).unwrap_err().to_string();
        assert!(
            e.contains("intel-rapl:1/energy_uj: not a counter value (\"n/a\")"),
            "{e}"
        );
    }
}
