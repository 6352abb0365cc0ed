//! `cordon conformance`: runs the ASL conformance corpus (behaviour recorded against real AWS
//! Step Functions) against the local engine; see cordon-conformance.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cordon_conformance::{Case, RunOptions, compare, report};

#[derive(clap::Args)]
pub struct Args {
    /// Corpus directory (default: shared/asl-conformance beside the repository).
    pub dir: Option<PathBuf>,
    /// Only run cases whose id contains this text.
    #[arg(long)]
    pub filter: Option<String>,
    /// Show an event-by-event diff for each failing case.
    #[arg(long)]
    pub verbose: bool,
    /// Exit non-zero when a conformance target is missed, naming each.
    #[arg(long)]
    pub check_targets: bool,
    /// Print the report as JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Worker threads (default: the number of cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Wall-clock limit per case, seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
}

pub fn run(args: Args) -> ExitCode {
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(cordon_conformance::default_corpus_dir);
    let files = match cordon_conformance::load_dir(&dir) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("cordon conformance: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cases: Vec<Case> = files
        .into_iter()
        .flat_map(|f| f.cases)
        .filter(|c| args.filter.as_deref().is_none_or(|f| c.id.contains(f)))
        .collect();
    let mut opts = RunOptions {
        wall_timeout: Duration::from_secs(args.timeout.max(1)),
        ..RunOptions::default()
    };
    if let Some(t) = args.threads {
        opts.threads = t.max(1);
    }
    let total = cases.len();
    let done = AtomicUsize::new(0);
    let quiet = args.json;
    let progress = |_r: &cordon_conformance::CaseResult| {
        let n = done.fetch_add(1, Ordering::SeqCst) + 1;
        if !quiet && (n.is_multiple_of(50) || n == total) {
            eprint!("\r{n}/{total} cases run");
            let _ = std::io::stderr().flush();
            if n == total {
                eprintln!();
            }
        }
    };
    let results = cordon_conformance::run_cases(&cases, &opts, &progress);

    let misses: Vec<String> = report::check_targets(&results)
        .into_iter()
        .flat_map(|(_, _, m)| m)
        .collect();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report::to_json(&results)).unwrap_or_default()
        );
        eprintln!("{}", report::final_line(&results));
    } else {
        print!("{}", report::table(&results));
        println!();
        print!("{}", report::targets_table(&results));
        let failing: Vec<_> = results.iter().filter(|r| !r.strict_passed()).collect();
        if !failing.is_empty() {
            println!();
            println!("failing cases (strict):");
            for r in &failing {
                let shape = if r.shape_passed() { " [shape ok]" } else { "" };
                println!("  {}{}: {}", r.id, shape, one_line(&r.reason()));
                if args.verbose
                    && let (Some(obs), Some(case)) =
                        (&r.observed, cases.iter().find(|c| c.id == r.id))
                {
                    print!("{}", compare::verbose_diff(case, obs));
                }
            }
            println!();
            println!("top failure reasons:");
            for (n, reason, example) in report::top_reasons(&results, 25) {
                println!("  {n:>4}  {reason}   (e.g. {example})");
            }
        }
        println!();
        println!("{}", report::final_line(&results));
    }
    if args.check_targets && !misses.is_empty() {
        for m in &misses {
            eprintln!("target missed: {m}");
        }
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn one_line(s: &str) -> String {
    let s = s.replace('\n', "\\n");
    if s.chars().count() > 300 {
        format!("{}…", s.chars().take(300).collect::<String>())
    } else {
        s
    }
}
