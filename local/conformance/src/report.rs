//! Tables, failure lists, targets and the JSON report.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::runner::CaseResult;

/// Which cases a target applies to.
#[derive(Debug, Clone, Copy)]
pub enum Select {
    /// Every case of these files.
    Files(&'static [&'static str]),
    /// The JSONPath cases of these files (no `QueryLanguage: JSONata` anywhere).
    JsonPathOf(&'static [&'static str]),
    /// The JSONata cases of these files.
    JsonataOf(&'static [&'static str]),
}

/// A conformance target (`--check-targets`).
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub name: &'static str,
    pub select: Select,
    /// Minimum strict pass rate, percent.
    pub min_strict: Option<f64>,
    /// Minimum shape pass rate, percent.
    pub min_shape: Option<f64>,
}

const PURE: &[&str] = &[
    "base",
    "scenarios",
    "context_object",
    "comments",
    "error_handling",
    "sfn_api",
    "logs",
    "intrinsic_functions",
];
const JSONATA_FILES: &[&str] = &[
    "evaluate_jsonata",
    "outputdecl",
    "query_language",
    "intrinsic_functions",
];

/// The targets, in one table.
pub const TARGETS: &[Target] = &[
    Target {
        name: "choice tables",
        select: Select::Files(&["choice_operators"]),
        min_strict: Some(100.0),
        min_shape: None,
    },
    Target {
        name: "pure ASL (JSONPath)",
        select: Select::JsonPathOf(PURE),
        min_strict: Some(90.0),
        min_shape: Some(97.0),
    },
    Target {
        name: "assign",
        select: Select::Files(&["assign"]),
        min_strict: Some(90.0),
        min_shape: None,
    },
    Target {
        name: "lambda",
        select: Select::Files(&["lambda"]),
        min_strict: Some(85.0),
        min_shape: None,
    },
    Target {
        name: "callbacks",
        select: Select::Files(&["callbacks"]),
        min_strict: Some(85.0),
        min_shape: None,
    },
    Target {
        name: "JSONata",
        select: Select::JsonataOf(JSONATA_FILES),
        min_strict: None,
        min_shape: Some(70.0),
    },
];

impl Select {
    pub fn matches(&self, r: &CaseResult) -> bool {
        match self {
            Select::Files(f) => f.contains(&r.file.as_str()),
            Select::JsonPathOf(f) => f.contains(&r.file.as_str()) && !r.jsonata,
            Select::JsonataOf(f) => {
                f.contains(&r.file.as_str()) && (r.jsonata || r.file != "intrinsic_functions")
            }
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub cases: usize,
    pub strict: usize,
    pub shape: usize,
}

impl Tally {
    fn add(&mut self, r: &CaseResult) {
        self.cases += 1;
        self.strict += r.strict_passed() as usize;
        self.shape += r.shape_passed() as usize;
    }
    pub fn strict_pct(&self) -> f64 {
        pct(self.strict, self.cases)
    }
    pub fn shape_pct(&self) -> f64 {
        pct(self.shape, self.cases)
    }
}

fn pct(n: usize, d: usize) -> f64 {
    if d == 0 {
        100.0
    } else {
        100.0 * n as f64 / d as f64
    }
}

pub fn per_file(results: &[CaseResult]) -> BTreeMap<String, Tally> {
    let mut m: BTreeMap<String, Tally> = BTreeMap::new();
    for r in results {
        m.entry(r.file.clone()).or_default().add(r);
    }
    m
}

pub fn table(results: &[CaseResult]) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "{:<22} {:>6} {:>14} {:>14}\n",
        "file", "cases", "strict", "shape"
    ));
    let mut total = Tally::default();
    for (file, t) in per_file(results) {
        out.push_str(&format!(
            "{:<22} {:>6} {:>6} {:>6.1}% {:>6} {:>6.1}%\n",
            file,
            t.cases,
            t.strict,
            t.strict_pct(),
            t.shape,
            t.shape_pct()
        ));
        total.cases += t.cases;
        total.strict += t.strict;
        total.shape += t.shape;
    }
    out.push_str(&format!(
        "{:<22} {:>6} {:>6} {:>6.1}% {:>6} {:>6.1}%\n",
        "total",
        total.cases,
        total.strict,
        total.strict_pct(),
        total.shape,
        total.shape_pct()
    ));
    out
}

/// Each target's tally and the misses (empty = met).
pub fn check_targets(results: &[CaseResult]) -> Vec<(Target, Tally, Vec<String>)> {
    TARGETS
        .iter()
        .map(|t| {
            let mut tally = Tally::default();
            results
                .iter()
                .filter(|r| t.select.matches(r))
                .for_each(|r| tally.add(r));
            let mut misses = Vec::new();
            if let Some(min) = t.min_strict
                && tally.strict_pct() + 1e-9 < min
            {
                misses.push(format!(
                    "{}: strict {:.1}% < {min}% ({}/{})",
                    t.name,
                    tally.strict_pct(),
                    tally.strict,
                    tally.cases
                ));
            }
            if let Some(min) = t.min_shape
                && tally.shape_pct() + 1e-9 < min
            {
                misses.push(format!(
                    "{}: shape {:.1}% < {min}% ({}/{})",
                    t.name,
                    tally.shape_pct(),
                    tally.shape,
                    tally.cases
                ));
            }
            (*t, tally, misses)
        })
        .collect()
}

pub fn targets_table(results: &[CaseResult]) -> String {
    let mut out = String::from("targets:\n");
    for (t, tally, misses) in check_targets(results) {
        let want = [
            t.min_strict.map(|m| format!("strict>={m}%")),
            t.min_shape.map(|m| format!("shape>={m}%")),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        out.push_str(&format!(
            "  {:<20} {:>4} cases  strict {:>5.1}%  shape {:>5.1}%  want {:<24} {}\n",
            t.name,
            tally.cases,
            tally.strict_pct(),
            tally.shape_pct(),
            want,
            if misses.is_empty() { "ok" } else { "MISSED" }
        ));
    }
    out
}

/// Failure reasons grouped by a coarse key (the reason with values stripped), most frequent first.
pub fn top_reasons(results: &[CaseResult], n: usize) -> Vec<(usize, String, String)> {
    let mut groups: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for r in results.iter().filter(|r| !r.strict_passed()) {
        let reason = r.reason();
        let key = coarse(&reason);
        let e = groups.entry(key).or_insert((0, r.id.clone()));
        e.0 += 1;
    }
    let mut v: Vec<(usize, String, String)> =
        groups.into_iter().map(|(k, (c, ex))| (c, k, ex)).collect();
    v.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    v.truncate(n);
    v
}

fn coarse(reason: &str) -> String {
    // drop event numbers and values: "event 5 TaskFailed: taskFailedEventDetails.cause: expected …"
    // keep the location and the start of the expected value, drop what the engine produced
    let r = reason.split(", got ").next().unwrap_or(reason);
    let r = r.split(" [").next().unwrap_or(r);
    let r = match r.split_once(": expected ") {
        Some((loc, exp)) => format!(
            "{loc}: expected {}",
            exp.chars().take(48).collect::<String>()
        ),
        None => r.to_string(),
    };
    let r = match r.split_once(": texts differ at char ") {
        Some((loc, rest)) => format!(
            "{loc}: expected {}",
            rest.split_once("expected ")
                .map(|x| x.1)
                .unwrap_or("")
                .chars()
                .take(60)
                .collect::<String>()
        ),
        None => r,
    };
    let r = match r.split_once(" near ") {
        Some((a, _)) => a.to_string(),
        None => r,
    };
    let mut out = String::new();
    let mut prev_digit = false;
    for c in r.chars() {
        if c.is_ascii_digit() {
            if !prev_digit {
                out.push('N');
            }
            prev_digit = true;
        } else {
            prev_digit = false;
            out.push(c);
        }
    }
    out.chars().take(160).collect()
}

pub fn final_line(results: &[CaseResult]) -> String {
    let passed = results.iter().filter(|r| r.strict_passed()).count();
    format!(
        "conformance: {} passed, {} failed",
        passed,
        results.len() - passed
    )
}

pub fn to_json(results: &[CaseResult]) -> Value {
    let files: serde_json::Map<String, Value> = per_file(results)
        .into_iter()
        .map(|(f, t)| {
            (
                f,
                json!({"cases": t.cases, "strict": t.strict, "shape": t.shape}),
            )
        })
        .collect();
    let targets: Vec<Value> = check_targets(results)
        .into_iter()
        .map(|(t, tally, misses)| {
            json!({"name": t.name, "cases": tally.cases, "strict": tally.strict, "shape": tally.shape,
                   "min_strict": t.min_strict, "min_shape": t.min_shape, "met": misses.is_empty(), "misses": misses})
        })
        .collect();
    let cases: Vec<Value> = results
        .iter()
        .map(|r| {
            json!({"id": r.id, "file": r.file, "strict": r.strict_passed(), "shape": r.shape_passed(),
                   "error": r.error, "strict_reason": r.strict, "shape_reason": r.shape,
                   "elapsed_ms": r.elapsed.as_millis() as u64})
        })
        .collect();
    let passed = results.iter().filter(|r| r.strict_passed()).count();
    json!({"passed": passed, "failed": results.len() - passed, "files": files, "targets": targets, "cases": cases})
}
