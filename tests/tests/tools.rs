//! The field's own validators, run on the files that get deployed: cfn-lint and checkov on the
//! SAM template and the member-account template, asl-validator on the state machines.
//! Installed by `./dev setup`.

use std::process::Command;

use cordon_tests::{MEMBER_TEMPLATE, TEMPLATE, asl_substitutions, read, root, tool};

fn run(cmd: &mut Command) -> (i32, String) {
    let out = cmd
        .current_dir(root())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("tool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// The templates that get deployed, with the fewest checks checkov must have run on each (so a
/// template it failed to read does not pass).
const TEMPLATES: &[(&str, u64)] = &[(TEMPLATE, 50), (MEMBER_TEMPLATE, 15)];

#[test]
fn cfn_lint_reports_no_errors_or_warnings() {
    for (template, _) in TEMPLATES {
        // Informational findings (I*) are opted in too, so the templates stay free of them.
        let (code, out) =
            run(Command::new(tool("cfn-lint")).args(["--include-checks", "I", "--", template]));
        assert!(
            code == 0 && out.trim().is_empty(),
            "cfn-lint {template} (exit {code}):\n{out}"
        );
    }
}

#[test]
fn checkov_finds_no_failed_checks_and_every_skip_is_justified() {
    for (template, min_passed) in TEMPLATES {
        checkov(template, *min_passed);
    }
}

fn checkov(template: &str, min_passed: u64) {
    // --skip-download: offline, no platform look-ups; the built-in checks are the policy.
    let (code, out) = run(Command::new(tool("checkov")).args([
        "--file",
        template,
        "--framework",
        "cloudformation",
        "--skip-download",
        "--output",
        "json",
    ]));
    let report: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| {
        panic!("checkov {template}: output is not JSON ({e}), exit {code}:\n{out}")
    });
    let results = &report["results"];
    let failed = results["failed_checks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let failed: Vec<String> = failed
        .iter()
        .map(|c| format!("{} {} ({})", c["check_id"], c["resource"], c["check_name"]))
        .collect();
    assert!(
        failed.is_empty(),
        "checkov {template} failed checks:\n{}",
        failed.join("\n")
    );
    assert_eq!(code, 0, "checkov {template} exit code:\n{out}");
    let passed = report["summary"]["passed"].as_u64().unwrap_or(0);
    assert!(
        passed > min_passed,
        "checkov ran only {passed} checks on {template}: did it read the template?"
    );
    for skip in results["skipped_checks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let why = skip["check_result"]["suppress_comment"]
            .as_str()
            .unwrap_or_default();
        assert!(
            why.split_whitespace().count() >= 8,
            "checkov skip {} on {} in {template} needs a written justification, got {why:?}",
            skip["check_id"],
            skip["resource"]
        );
    }
}

#[test]
fn asl_validator_accepts_every_state_machine_with_its_substitutions() {
    // SAM replaces ${...} with ARNs: validate what Step Functions will see.
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(root().join("statemachine")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".asl.json") {
            continue;
        }
        let mut text = read(&format!("statemachine/{name}"));
        for sub in asl_substitutions(&text) {
            let arn = if let Some(function) = sub.strip_suffix("FunctionArn") {
                format!(
                    "arn:aws:lambda:us-east-1:123456789012:function:cordon-{}",
                    function.to_lowercase()
                )
            } else if let Some(machine) = sub.strip_suffix("ExecutionArnPrefix") {
                format!(
                    "arn:aws:states:us-east-1:123456789012:execution:cordon-{}",
                    machine.to_lowercase()
                )
            } else if let Some(machine) = sub.strip_suffix("StateMachineArn") {
                format!(
                    "arn:aws:states:us-east-1:123456789012:stateMachine:cordon-{}",
                    machine.to_lowercase()
                )
            } else {
                panic!("{name}: no plausible ARN for ${{{sub}}}")
            };
            text = text.replace(&format!("${{{sub}}}"), &arn);
        }
        assert!(!text.contains("${"), "{name}: unsubstituted ${{...}} left");
        let file = dir.path().join(&name);
        std::fs::write(&file, &text).unwrap();
        let (code, out) = run(Command::new(tool("asl-validator"))
            .arg("--json-path")
            .arg(&file));
        assert_eq!(code, 0, "asl-validator {name}:\n{out}");
        assert!(out.contains("is valid"), "asl-validator {name}:\n{out}");
        checked += 1;
    }
    assert!(checked >= 1, "no state machine definition found");
}

#[test]
fn asl_validator_rejects_a_broken_definition() {
    // The check above is only worth something if the validator says no to a real mistake.
    let mut asl = cordon_tests::asl();
    asl["States"]["Classify"]["Next"] = "NoSuchState".into();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.asl.json");
    std::fs::write(&file, asl.to_string()).unwrap();
    let (code, out) = run(Command::new(tool("asl-validator"))
        .arg("--json-path")
        .arg(&file));
    assert_ne!(
        code, 0,
        "asl-validator accepted a transition to a missing state:\n{out}"
    );
    assert!(out.contains("NoSuchState"), "{out}");
}
