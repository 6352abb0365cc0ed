//! cordon-conformance: judges the local Step Functions engine against behaviour recorded from
//! real AWS Step Functions (the corpus in `shared/asl-conformance`, see its README).
//!
//! A case is run on a fresh engine (memory store, virtual clock) with stand-ins for the Lambda
//! functions and SQS/SNS services it calls, its history is normalised exactly as the corpus
//! prescribes ([`normalise`]) and compared twice: *strict* (the normalised history, status,
//! output, error and cause) and *shape* (status, output, error, cause and the sequence of event
//! types and state names).

pub mod case;
pub mod compare;
pub mod jsonpath;
pub mod normalise;
pub mod pyjson;
pub mod report;
pub mod runner;
pub mod stubs;

pub use case::{Case, CaseFile, default_corpus_dir, load_dir};
pub use runner::{CaseResult, RunOptions, run_cases};

/// Loads `dir`, keeps the cases whose id contains `filter` and runs them.
pub fn run_dir(
    dir: &std::path::Path,
    filter: Option<&str>,
    opts: &RunOptions,
    progress: &(dyn Fn(&CaseResult) + Sync),
) -> Result<Vec<CaseResult>, String> {
    let files = load_dir(dir)?;
    let cases: Vec<Case> = files
        .into_iter()
        .flat_map(|f| f.cases)
        .filter(|c| filter.is_none_or(|f| c.id.contains(f)))
        .collect();
    Ok(run_cases(&cases, opts, progress))
}
