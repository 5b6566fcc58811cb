//! The seed data of a spikee suite (`spikee/data/workspace/datasets/seeds-NAME/` in the
//! pinned wheel, read in place): documents an attack is hidden in, the instructions an
//! attack tries to get followed (each with the canary or regex that shows it was), the
//! jailbreak templates that wrap an instruction (each of a family), and the system
//! message the target is given.

use std::io::Read;
use std::path::Path;

use serde::Deserialize;

use crate::{Error, Result};

/// A document an attack is placed in.
#[derive(Debug, Clone, Deserialize)]
pub struct Document {
    pub id: String,
    pub document: String,
    #[serde(default)]
    pub question: String,
    /// Where the attack goes in the document (else at its end).
    #[serde(default)]
    pub placeholder: Option<String>,
}

/// What an attack tries to make the model do, and how success is seen.
#[derive(Debug, Clone, Deserialize)]
pub struct Instruction {
    pub id: String,
    pub instruction_type: String,
    pub instruction: String,
    /// `canary` (a string the answer contains) or `regex` (a pattern it matches).
    pub judge_name: String,
    pub judge_args: String,
}

/// A jailbreak template: `text` with `<INSTRUCTION>` where the instruction goes.
#[derive(Debug, Clone, Deserialize)]
pub struct Jailbreak {
    pub id: String,
    pub jailbreak_type: String,
    pub text: String,
}

#[derive(Debug, Deserialize)]
struct SystemMessages {
    configurations: Vec<SystemConfig>,
}

#[derive(Debug, Deserialize)]
struct SystemConfig {
    system_message: String,
}

/// One suite's seeds.
#[derive(Debug, Clone)]
pub struct Seeds {
    pub suite: String,
    pub documents: Vec<Document>,
    pub instructions: Vec<Instruction>,
    pub jailbreaks: Vec<Jailbreak>,
    /// The first configuration's system message (no spotlighting markers).
    pub system_message: Option<String>,
}

const ROOT: &str = "spikee/data/workspace/datasets";

fn member(wheel: &Path, zip: &mut zip::ZipArchive<std::fs::File>, name: &str) -> Result<String> {
    let mut f = zip
        .by_name(name)
        .map_err(|e| Error::Seeds(format!("{}: {name}: {e}", wheel.display())))?;
    let mut s = String::new();
    f.read_to_string(&mut s)
        .map_err(|e| Error::Seeds(format!("{}: {name}: {e}", wheel.display())))?;
    Ok(s)
}

fn jsonl<T: serde::de::DeserializeOwned>(text: &str, name: &str) -> Result<Vec<T>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| Error::Seeds(format!("{name}:{}: {e}", i + 1)))
        })
        .collect()
}

impl Seeds {
    /// The seeds of suite `suite` (`cybersec-2026-01` reads `seeds-cybersec-2026-01/`).
    pub fn read(wheel: &Path, suite: &str) -> Result<Self> {
        let file = std::fs::File::open(wheel)
            .map_err(|e| Error::Seeds(format!("{}: {e}", wheel.display())))?;
        let mut zip = zip::ZipArchive::new(file)
            .map_err(|e| Error::Seeds(format!("{}: {e}", wheel.display())))?;
        let dir = format!("{ROOT}/seeds-{suite}");
        if !zip.file_names().any(|n| n.starts_with(&format!("{dir}/"))) {
            let mut suites: Vec<String> = zip
                .file_names()
                .filter_map(|n| n.strip_prefix(&format!("{ROOT}/seeds-")))
                .filter_map(|n| n.split('/').next())
                .map(String::from)
                .collect();
            suites.sort();
            suites.dedup();
            return Err(Error::Seeds(format!(
                "no suite {suite:?} in {}; suites: {}",
                wheel.display(),
                suites.join(", ")
            )));
        }
        let read = |zip: &mut zip::ZipArchive<std::fs::File>, f: &str| {
            member(wheel, zip, &format!("{dir}/{f}"))
        };
        let documents = jsonl(
            &read(&mut zip, "base_user_inputs.jsonl")?,
            "base_user_inputs.jsonl",
        )?;
        let instructions = jsonl(&read(&mut zip, "instructions.jsonl")?, "instructions.jsonl")?;
        let jailbreaks = jsonl(&read(&mut zip, "jailbreaks.jsonl")?, "jailbreaks.jsonl")?;
        let system_message = read(&mut zip, "system_messages.toml")
            .ok()
            .and_then(|t| toml::from_str::<SystemMessages>(&t).ok())
            .and_then(|s| s.configurations.into_iter().next())
            .map(|c| c.system_message.trim().replace("\\n", "\n"));
        Ok(Self {
            suite: suite.to_string(),
            documents,
            instructions,
            jailbreaks,
            system_message,
        })
    }
}
