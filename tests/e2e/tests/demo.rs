//! The README's first command, under test: `cordon demo` (what `./dev demo` runs) tells the
//! whole flow offline and verifies in moto what it claims. This runs the built CLI as an engineer
//! would and checks its exit code and the lines a reader relies on.
//!
//! Needs the function binaries and the CLI built (`cargo build --workspace --bins`).

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_passes_and_says_what_it_verified() {
    let cli = cordon_stack::default_bin_dir().join("cordon");
    assert!(
        cli.is_file(),
        "the cordon CLI is not built: cargo build --workspace --bins"
    );
    let dir = tempfile::tempdir().unwrap();
    let run = tokio::process::Command::new(&cli)
        .arg("demo")
        .current_dir(dir.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1")
        .kill_on_drop(true)
        .output();
    let run = tokio::time::timeout(Duration::from_secs(600), run)
        .await
        .expect("cordon demo did not finish in 10 minutes")
        .unwrap();
    let out = String::from_utf8_lossy(&run.stdout);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "cordon demo failed:\n{out}\n{err}");
    for line in [
        "verified in IAM: ",
        "verified in IAM and EC2: web-app-role's sessions issued before the approval are denied (the approver chose it)",
        "the two other servers are untouched",
        "blast radius: web-app-role is used by 3 running instances",
        "support2 in 123456789012 is untouched",
        "every step happened in the simulated account: demo passed",
    ] {
        assert!(
            out.contains(line),
            "the demo no longer says {line:?}:\n{out}"
        );
    }
    assert!(
        !out.contains("FAILED") && !err.contains("panicked"),
        "{out}\n{err}"
    );
}
