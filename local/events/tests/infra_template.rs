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

#[test]
fn infra_template_organization_mode_adds_the_same_rules_on_the_organization_bus() {
    // Single-account (the default): the organization bus's rules are not deployed.
    let single = rules_from_template(&repo().join("infra/template.yaml")).unwrap();
    assert!(
        single.iter().all(|r| r.event_bus_name.is_none()),
        "{single:?}"
    );

    let overrides = [
        (
            "DeploymentMode".to_string(),
            serde_json::json!("organization"),
        ),
        (
            "OrganizationId".to_string(),
            serde_json::json!("o-a1b2c3d4e5"),
        ),
        ("AWS::StackName".to_string(), serde_json::json!("sec")),
    ]
    .into_iter()
    .collect();
    let rules =
        cordon_events::rules_from_template_with(&repo().join("infra/template.yaml"), &overrides)
            .unwrap();
    let on = |bus: Option<&str>| -> Vec<(String, Option<String>, Value)> {
        let mut v: Vec<_> = rules
            .iter()
            .filter(|r| r.event_bus_name.as_deref() == bus)
            .map(|r| {
                (
                    r.state_machine_logical_id.clone(),
                    r.rule_name.clone(),
                    r.pattern_json.clone(),
                )
            })
            .collect();
        v.sort_by(|a, b| a.1.cmp(&b.1));
        v
    };
    let default_bus = on(None);
    // `EventBusName: !Ref OrgEventBus` is the bus's name.
    let org_bus = on(Some("sec-org"));
    // CreateUser, GuardDuty, Security Hub imports, the Security Hub custom action.
    assert_eq!(default_bus.len(), 4, "{rules:?}");
    assert_eq!(org_bus.len(), 4, "{rules:?}");
    for ((sm, name, pattern), (org_sm, org_name, org_pattern)) in default_bus.iter().zip(&org_bus) {
        assert_eq!(sm, org_sm);
        assert_eq!(
            org_name.as_deref(),
            name.as_deref()
                .map(|n| n.replacen("sec-", "sec-org-", 1))
                .as_deref()
        );
        assert_eq!(pattern, org_pattern, "{name:?} vs {org_name:?}");
    }
    // `route` does not know buses: an event matches the rule of each bus. (In AWS an event
    // arrives on one bus; a router must pick the rules of that bus, `Rule::event_bus_name`.)
    assert_eq!(
        routed(&rules, "cloudtrail-create-user-by-iam-user.json"),
        ["CreateUser", "OrgCreateUserRule"]
    );
}
