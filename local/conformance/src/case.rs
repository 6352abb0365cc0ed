//! The corpus case format (see the corpus README).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Deserialize)]
pub struct Case {
    pub id: String,
    #[serde(default)]
    pub source: String,
    pub definition: Value,
    pub input_text: String,
    #[serde(default)]
    pub context: Map<String, Value>,
    #[serde(default)]
    pub lambdas: Option<Map<String, Value>>,
    #[serde(default)]
    pub callbacks: Option<Value>,
    #[serde(default)]
    pub service_stubs: Option<Vec<Value>>,
    #[serde(default)]
    pub history_request: Option<Map<String, Value>>,
    pub expected: Expected,
    #[serde(default)]
    pub normalization_steps: Vec<Value>,
    #[serde(default)]
    pub localstack_info: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Expected {
    pub status: String,
    #[serde(default)]
    pub output: Value,
    #[serde(default)]
    pub error: Value,
    #[serde(default)]
    pub cause: Value,
    #[serde(default)]
    pub history: Option<Vec<Value>>,
    #[serde(default)]
    pub unverified_paths: Vec<String>,
    #[serde(default)]
    pub branch: Option<String>,
}

impl Case {
    pub fn ctx(&self, key: &str) -> Option<&str> {
        self.context.get(key).and_then(Value::as_str)
    }
    /// The file stem the case comes from (`scenarios`, `lambda`, ...).
    pub fn file(&self) -> &str {
        self.id.split('/').next().unwrap_or("")
    }
    /// Whether the state machine uses JSONata anywhere.
    pub fn uses_jsonata(&self) -> bool {
        fn walk(v: &Value) -> bool {
            match v {
                Value::Object(m) => m.iter().any(|(k, v)| {
                    (k == "QueryLanguage" && v.as_str() == Some("JSONata")) || walk(v)
                }),
                Value::Array(a) => a.iter().any(walk),
                _ => false,
            }
        }
        walk(&self.definition)
    }
}

#[derive(Debug, Clone)]
pub struct CaseFile {
    /// File stem, e.g. `scenarios`.
    pub name: String,
    pub cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct FileDoc {
    cases: Vec<Case>,
}

/// The corpus directory shipped beside the repository, resolved from this crate's manifest.
pub fn default_corpus_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/asl-conformance"
    ))
}

/// Loads every `*.json` case file of `dir` except `manifest.json`, sorted by name.
pub fn load_dir(dir: &Path) -> Result<Vec<CaseFile>, String> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().and_then(|e| e.to_str()) == Some("json")
                && p.file_name().and_then(|n| n.to_str()) != Some("manifest.json")
        })
        .collect();
    paths.sort();
    let mut files = Vec::new();
    for p in paths {
        let text =
            std::fs::read_to_string(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
        let doc: FileDoc =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?;
        let name = p
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        files.push(CaseFile {
            name,
            cases: doc.cases,
        });
    }
    Ok(files)
}
