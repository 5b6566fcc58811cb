//! Who each run's model is. A model is its content, not its name: the SHA-256 of its
//! file tells two files apart, and a lineage ties the precision variants of one model
//! together. A report names each run by its display name, adding the start of its file
//! hash where another model (or another file of the same type) goes by the same name.
//!
//! Two runs are of one lineage when their files are the same, when one file was derived
//! from the other (the manifest's `model.derived`, followed along the chain), or when
//! their GGUF headers agree on architecture, parameter count and `general.name`. Nothing
//! else ties runs together: a file name or display name never does.

use std::collections::{BTreeMap, HashMap};

use super::RunEntry;

/// One run's model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Identity {
    /// SHA-256 of the weights file, when the run recorded one.
    pub file: Option<String>,
    /// Runs with the same lineage are precision variants of one model.
    pub lineage: String,
    /// The name tables and charts show: the display name, with a short file hash when
    /// the display name alone would not tell this model apart.
    pub name: String,
}

/// Shortest hash prefix shown.
const SHORT: usize = 8;

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn file_of(run: &RunEntry) -> Option<String> {
    let from_manifest = run.manifest.as_ref().map(|m| m.model.sha256.as_str());
    from_manifest
        .or(run.summary.model.sha256.as_deref())
        .filter(|s| is_sha256(s))
        .map(|s| s.to_ascii_lowercase())
}

/// Union-find over string keys.
#[derive(Default)]
struct Links {
    index: HashMap<String, usize>,
    keys: Vec<String>,
    parent: Vec<usize>,
}

impl Links {
    fn node(&mut self, key: String) -> usize {
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        let i = self.parent.len();
        self.index.insert(key.clone(), i);
        self.keys.push(key);
        self.parent.push(i);
        i
    }

    fn root(&mut self, mut i: usize) -> usize {
        while self.parent[i] != i {
            self.parent[i] = self.parent[self.parent[i]];
            i = self.parent[i];
        }
        i
    }

    fn join(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.root(a), self.root(b));
        // The smaller key stands for the set, so a lineage's name does not depend on
        // the order runs were given in.
        let (keep, other) = if self.keys[ra] <= self.keys[rb] {
            (ra, rb)
        } else {
            (rb, ra)
        };
        self.parent[other] = keep;
    }
}

/// The identity of each run, in order.
pub(super) fn identify(runs: &[RunEntry]) -> Vec<Identity> {
    let files: Vec<Option<String>> = runs.iter().map(file_of).collect();
    let mut links = Links::default();
    let nodes: Vec<usize> = runs
        .iter()
        .zip(&files)
        .enumerate()
        .map(|(i, (run, file))| {
            let me = links.node(match file {
                Some(f) => format!("file:{f}"),
                None => format!("run:{i}"),
            });
            let model = run.manifest.as_ref().map(|m| &m.model);
            if let Some(d) = model.and_then(|m| m.derived.as_ref()) {
                if is_sha256(&d.source_sha256) {
                    let src = links.node(format!("file:{}", d.source_sha256.to_ascii_lowercase()));
                    links.join(me, src);
                }
            }
            if let Some(g) = model.and_then(|m| m.gguf.as_ref()) {
                if let (Some(arch), Some(params), Some(name)) =
                    (&g.architecture, g.parameters, &g.name)
                {
                    let same = links.node(format!("gguf:{arch}|{params}|{name}"));
                    links.join(me, same);
                }
            }
            me
        })
        .collect();
    let lineages: Vec<String> = nodes
        .iter()
        .map(|&n| {
            let r = links.root(n);
            links.keys[r].clone()
        })
        .collect();

    // Display names shared by more than one lineage, or by more than one file of one
    // type: those runs get a short hash, long enough to tell their files apart.
    let display = |i: usize| runs[i].summary.model.name.as_str();
    let quant = |i: usize| runs[i].summary.model.quantization.as_deref();
    let mut by_name: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for i in 0..runs.len() {
        by_name.entry(display(i)).or_default().push(i);
    }
    let mut names: Vec<String> = (0..runs.len()).map(|i| display(i).to_string()).collect();
    for members in by_name.values() {
        let ambiguous = |i: usize| {
            members.iter().any(|&j| {
                files[j] != files[i] && (lineages[j] != lineages[i] || quant(j) == quant(i))
            })
        };
        let marked: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&i| files[i].is_some() && ambiguous(i))
            .collect();
        let hashes: Vec<&str> = marked.iter().filter_map(|&i| files[i].as_deref()).collect();
        let len = prefix_len(&hashes);
        for &i in &marked {
            if let Some(f) = &files[i] {
                names[i] = format!("{} #{}", display(i), &f[..len]);
            }
        }
    }
    files
        .into_iter()
        .zip(lineages)
        .zip(names)
        .map(|((file, lineage), name)| Identity {
            file,
            lineage,
            name,
        })
        .collect()
}

/// The shortest prefix length (at least [`SHORT`]) at which distinct hashes differ.
fn prefix_len(hashes: &[&str]) -> usize {
    let mut len = SHORT;
    while len < 64 {
        let clash = hashes
            .iter()
            .enumerate()
            .any(|(i, a)| hashes[..i].iter().any(|b| a != b && a[..len] == b[..len]));
        if !clash {
            break;
        }
        len += 1;
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_grows_until_the_files_differ() {
        let a = format!("{}1", "0".repeat(63));
        let b = format!("{}2", "0".repeat(63));
        let c = format!("abcdef12{}", "0".repeat(56));
        assert_eq!(prefix_len(&[&c]), 8);
        assert_eq!(prefix_len(&[&c, &c]), 8);
        assert_eq!(prefix_len(&[&a, &b]), 64);
        assert_eq!(prefix_len(&[&a, &c]), 8);
    }
}
