//! The real SAM template (`infra/template.yaml`) routes the shared event fixtures
//! (`tests/events/`) as EventBridge would.

use std::path::PathBuf;

use cordon_events::{Rule, route, rules_from_template};
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo")).join("../..")
}

fn event(name: &str) -> Value {
    let path = repo().join("tests/events").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn routed(rules: &[Rule], name: &str) -> Vec<String> {
    route(rules, &event(name))
        .iter()
        .map(|r| r.name.clone())
        .collect()
}

#[test]
fn infra_template_routes_the_fixtures() {
    let rules = rules_from_template(&repo().join("infra/template.yaml")).unwrap();
    assert!(rules.len() >= 2, "{rules:?}");
    assert!(rules.iter().all(|r| r.enabled));

    assert_eq!(
        routed(&rules, "cloudtrail-create-user-by-iam-user.json"),
        ["CreateUser"]
    );
    for name in [
        "cloudtrail-create-user-by-root.json",
        "cloudtrail-create-user-by-sso-admin.json",
        "cloudtrail-create-user-by-ci-pipeline.json",
    ] {
        assert_eq!(routed(&rules, name), ["CreateUser"], "{name}");
    }

    // An EC2 finding (resource type Instance, severity 2) starts nothing.
    assert!(routed(&rules, "guardduty-ec2-port-probe.json").is_empty());
    // An IAM finding below the GuardDutyMinimumSeverity default (4) starts nothing.
    assert!(routed(&rules, "guardduty-low-severity.json").is_empty());
    // IAM findings at or above it do.
    for name in [
        "guardduty-anomalous-behavior.json",
        "guardduty-tor-ip-caller.json",
        "guardduty-instance-credential-exfiltration-outside-aws.json",
    ] {
        assert_eq!(routed(&rules, name), ["GuardDutyFinding"], "{name}");
    }
}

#[test]
fn infra_template_threshold_follows_the_parameter() {
    let overrides = [("GuardDutyMinimumSeverity".to_string(), serde_json::json!(2))]
        .into_iter()
        .collect();
    let rules =
        cordon_events::rules_from_template_with(&repo().join("infra/template.yaml"), &overrides)
            .unwrap();
    assert_eq!(
        routed(&rules, "guardduty-low-severity.json"),
        ["GuardDutyFinding"]
    );
    assert!(routed(&rules, "guardduty-ec2-port-probe.json").is_empty());
}
