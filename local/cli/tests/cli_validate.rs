//! `cordon validate`, `cordon replay --help` and the messages of commands that need a stack
//! when none is running: the parts of the approvers' and auditors' CLI that need no stack.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo")).join("../..")
}

fn cordon(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cordon"))
        .args(args)
        .current_dir(dir)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Copies of the real files in a temp dir, laid out as in the repository.
fn copies() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in [
        "infra/template.yaml",
        "infra/policy.example.json",
        "statemachine/incident-response.asl.json",
    ] {
        let to = dir.path().join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(root().join(f), to).unwrap();
    }
    dir
}

fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let p = dir.join(file);
    let s = std::fs::read_to_string(&p).unwrap();
    assert!(s.contains(from), "{file} does not contain {from:?}");
    std::fs::write(&p, s.replacen(from, to, 1)).unwrap();
}

#[test]
fn the_real_files_pass() {
    let o = cordon(&root(), &["validate"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "stdout:\n{out}\nstderr:\n{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(
        lines[0].starts_with("ok     template infra/template.yaml: "),
        "{out}"
    );
    assert!(
        lines[1].starts_with("ok     state machine statemachine/incident-response.asl.json: "),
        "{out}"
    );
    assert!(
        lines[1].contains("accepted by the engine; 5 substitution(s) all defined"),
        "{out}"
    );
    assert!(
        lines[2].starts_with("ok     policy infra/policy.example.json: valid"),
        "{out}"
    );
    assert!(
        lines[3].starts_with(
            "ok     policy infra/template.yaml Parameters.ResponsePolicy.Default: valid"
        ),
        "{out}"
    );
}

#[test]
fn a_missing_substitution_is_named_with_where_it_is_used() {
    let dir = copies();
    edit(
        dir.path(),
        "infra/template.yaml",
        "        NotifyFunctionArn: !GetAtt NotifyFunction.Arn\n",
        "",
    );
    let o = cordon(dir.path(), &["validate"]);
    let (out, err) = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains("error  state machine statemachine/incident-response.asl.json: `${NotifyFunctionArn}` (at States.Notify.Parameters.FunctionName) has no substitution in infra/template.yaml Resources.IncidentResponseStateMachine.Properties.DefinitionSubstitutions"),
        "{out}"
    );
    assert!(err.contains("problem(s) found"), "{err}");
}

#[test]
fn a_definition_the_engine_refuses_fails_with_the_engine_error() {
    let dir = copies();
    edit(
        dir.path(),
        "statemachine/incident-response.asl.json",
        "\"Next\": \"RecordClassification\"",
        "\"Next\": \"RecordClassificatn\"",
    );
    let o = cordon(dir.path(), &["validate"]);
    let (out, _) = text(&o);
    assert!(!o.status.success(), "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("error  state machine"))
        .unwrap_or_default();
    assert!(
        line.contains("the engine refuses it: InvalidDefinition"),
        "{out}"
    );
    assert!(line.contains("RecordClassificatn"), "{out}");
}

#[test]
fn a_definition_that_is_not_json_names_line_and_column() {
    let dir = copies();
    std::fs::write(
        dir.path().join("statemachine/incident-response.asl.json"),
        "{\n  \"StartAt\": \"A\",\n  oops\n}",
    )
    .unwrap();
    let o = cordon(dir.path(), &["validate"]);
    let (out, _) = text(&o);
    assert!(!o.status.success());
    assert!(out.contains("error  state machine statemachine/incident-response.asl.json: not JSON at line 3, column 3"), "{out}");
}

#[test]
fn a_bad_event_pattern_is_named() {
    let dir = copies();
    let template = std::fs::read_to_string(dir.path().join("infra/template.yaml")).unwrap();
    // Break the first `detail-type` list of a rule pattern into a bare number (EventBridge
    // wants arrays of values).
    let needle = "detail-type:";
    assert!(
        template.contains(needle),
        "the template has no detail-type in a rule pattern"
    );
    let o = {
        let at = template.find(needle).unwrap();
        let end = template[at..].find('\n').unwrap() + at;
        let broken = format!("{}detail-type: 7{}", &template[..at], &template[end..]);
        std::fs::write(dir.path().join("infra/template.yaml"), broken).unwrap();
        cordon(dir.path(), &["validate"])
    };
    let (out, _) = text(&o);
    assert!(!o.status.success(), "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("error  template"))
        .unwrap_or_default();
    assert!(
        line.contains("invalid event pattern at `detail-type`"),
        "{out}"
    );
}

#[test]
fn an_invalid_policy_is_refused_naming_the_field() {
    let dir = copies();
    edit(
        dir.path(),
        "infra/policy.example.json",
        "\"timeoutSeconds\": 3600",
        "\"timeoutSecs\": 3600",
    );
    let o = cordon(dir.path(), &["validate"]);
    let (out, _) = text(&o);
    assert!(!o.status.success(), "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("error  policy infra/policy.example.json"))
        .unwrap_or_default();
    assert!(line.contains("timeoutSecs"), "{out}");
}

#[test]
fn replay_help_explains_the_dry_run() {
    let o = cordon(&root(), &["replay", "--help"]);
    let (out, _) = text(&o);
    assert!(o.status.success());
    for s in [
        "EVENT.json",
        "--dry-run",
        "--policy <FILE>",
        "--json",
        "--aws",
        "--stack-name <NAME>",
    ] {
        assert!(out.contains(s), "{s} missing from:\n{out}");
    }
}

#[test]
fn replay_refuses_without_dry_run() {
    let o = cordon(
        &root(),
        &[
            "replay",
            "tests/events/cloudtrail-create-user-suspicious-name-no-mfa-cli.json",
        ],
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(err.contains("refusing to run without --dry-run"), "{err}");
}

#[test]
fn commands_that_need_a_stack_say_how_to_start_one() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["pending"],
        vec!["incidents"],
        vec!["history", "c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406"],
        vec![
            "approve",
            "c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406",
            "--reason",
            "r",
        ],
        vec![
            "reject",
            "c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406",
            "--reason",
            "r",
        ],
        vec!["release", "service-x7k2qa", "--reason", "r", "--dry-run"],
    ] {
        let o = cordon(dir.path(), &args);
        let (_, err) = text(&o);
        assert!(!o.status.success(), "{args:?}");
        assert!(
            err.contains("no offline stack is running: run `cordon up`"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn approve_and_reject_require_a_reason() {
    let o = cordon(&root(), &["approve", "some-incident"]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(err.contains("--reason <REASON>"), "{err}");
}
