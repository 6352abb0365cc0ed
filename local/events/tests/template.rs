//! The template reader on small SAM templates of our own (`tests/fixtures/`).

use std::collections::HashMap;
use std::path::PathBuf;

use cordon_events::{Rule, TemplateError, route, rules_from_template, rules_from_template_with};
use serde_json::{Value, json};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"))
        .join("tests/fixtures")
        .join(name)
}

fn by_name<'a>(rules: &'a [Rule], name: &str) -> &'a Rule {
    rules
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no rule {name}"))
}

fn names(rules: &[&Rule]) -> Vec<String> {
    rules.iter().map(|r| r.name.clone()).collect()
}

fn create_user(identity_type: &str) -> Value {
    json!({
        "source": "aws.iam",
        "detail-type": "AWS API Call via CloudTrail",
        "region": "us-east-1",
        "detail": {"eventName": "CreateUser", "userIdentity": {"type": identity_type}}
    })
}

fn finding(severity: f64, region: &str) -> Value {
    json!({"source": "aws.guardduty", "detail-type": "GuardDuty Finding",
           "detail": {"severity": severity, "region": region}})
}

#[test]
fn reads_every_eventbridge_rule_with_defaults() {
    let rules = rules_from_template(&fixture("sam-basic.yaml")).unwrap();
    let listed: Vec<(&str, &str)> = rules
        .iter()
        .map(|r| (r.name.as_str(), r.state_machine_logical_id.as_str()))
        .collect();
    // Schedule events, Lambda-only rules and the IsProd-only machine are not listed.
    assert_eq!(
        listed,
        [
            ("CreateUser", "Machine"),
            ("Finding", "Machine"),
            ("Paused", "Machine"),
            ("PlainRule", "Machine")
        ]
    );

    let create = by_name(&rules, "CreateUser");
    assert_eq!(create.rule_name.as_deref(), Some("cordon-create-user"));
    assert_eq!(create.input_path.as_deref(), Some("$.detail"));
    assert!(create.enabled);
    assert_eq!(
        create.pattern_json,
        json!({
            "source": ["aws.iam", "aws.sts"],
            "detail-type": ["AWS API Call via CloudTrail"],
            "detail": {"eventName": ["CreateUser"],
                       "userIdentity": {"type": [{"anything-but": "AWSService"}]}}
        })
    );

    let finding_rule = by_name(&rules, "Finding");
    assert_eq!(
        finding_rule.pattern_json["detail"]["severity"],
        json!([{"numeric": [">=", 4]}])
    );
    assert!(!by_name(&rules, "Paused").enabled);

    let plain = by_name(&rules, "PlainRule");
    assert_eq!(plain.rule_name.as_deref(), Some("plain"));
    assert_eq!(
        plain.input_transformer,
        Some(
            json!({"InputPathsMap": {"user": "$.detail.userIdentity.arn"},
                    "InputTemplate": "{\"user\": <user>}"})
        )
    );
}

#[test]
fn routes_events_through_enabled_rules() {
    let rules = rules_from_template(&fixture("sam-basic.yaml")).unwrap();
    assert_eq!(
        names(&route(&rules, &create_user("IAMUser"))),
        ["CreateUser"]
    );
    assert!(route(&rules, &create_user("AWSService")).is_empty());
    assert_eq!(
        names(&route(&rules, &finding(4.0, "us-east-1"))),
        ["Finding"]
    );
    assert!(route(&rules, &finding(3.9, "us-east-1")).is_empty());
    assert!(route(&rules, &finding(8.0, "eu-west-1")).is_empty());
    assert_eq!(
        names(&route(&rules, &json!({"source": "aws.signin"}))),
        ["PlainRule"]
    );
}

#[test]
fn caller_overrides_parameters_and_pseudo_parameters() {
    let overrides: HashMap<String, Value> = [
        ("SeverityThreshold".to_string(), json!(7)),
        ("Stage".to_string(), json!("prod")),
        ("AWS::StackName".to_string(), json!("ir")),
        ("AWS::Region".to_string(), json!("eu-west-1")),
    ]
    .into_iter()
    .collect();
    let rules = rules_from_template_with(&fixture("sam-basic.yaml"), &overrides).unwrap();
    assert_eq!(
        by_name(&rules, "CreateUser").rule_name.as_deref(),
        Some("ir-create-user")
    );
    // Stage=prod: the IsProd branch of !If, and the prod-only machine's rule appears.
    assert_eq!(
        by_name(&rules, "CreateUser").pattern_json["detail"]["userIdentity"]["type"],
        json!(["IAMUser", "Root"])
    );
    assert_eq!(
        by_name(&rules, "Everything").state_machine_logical_id,
        "ProdOnlyMachine"
    );
    assert!(
        route(&rules, &finding(6.9, "eu-west-1"))
            .iter()
            .all(|r| r.name != "Finding")
    );
    assert!(
        route(&rules, &finding(7.0, "eu-west-1"))
            .iter()
            .any(|r| r.name == "Finding")
    );
}

#[test]
fn overrides_are_checked_against_the_parameter_declaration() {
    let bad = |k: &str, v: Value| {
        let o: HashMap<String, Value> = [(k.to_string(), v)].into_iter().collect();
        rules_from_template_with(&fixture("sam-basic.yaml"), &o)
            .unwrap_err()
            .to_string()
    };
    assert!(bad("SeverityThreshold", json!(11)).contains("MaxValue"));
    assert!(bad("SeverityThreshold", json!("high")).contains("not a number"));
    assert!(bad("Stage", json!("qa")).contains("AllowedValues"));
    assert!(bad("Unknown", json!("x")).contains("does not declare"));
}

#[test]
fn ref_to_a_number_parameter_is_a_string_as_in_cloudformation() {
    let err = rules_from_template(&fixture("ref-number-in-pattern.yaml")).unwrap_err();
    match &err {
        TemplateError::Pattern { rule, error, hint } => {
            assert_eq!(rule, "Finding");
            assert_eq!(error.path, "detail.severity");
            assert!(
                error.message.contains("Value of >= must be numeric"),
                "{error}"
            );
            assert!(
                hint.as_deref().unwrap().contains("SeverityThreshold"),
                "{err}"
            );
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn unresolvable_intrinsic_is_named() {
    let err = rules_from_template(&fixture("getatt-in-pattern.yaml")).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(&err, TemplateError::Unresolvable { intrinsic, .. } if intrinsic == "!GetAtt Queue.Arn"),
        "{text}"
    );
    assert!(
        text.contains(
            "Resources.Machine.Properties.Events.FromQueue.Properties.Pattern.resources.0"
        ),
        "{text}"
    );
}

#[test]
fn missing_file_is_an_io_error() {
    let err = rules_from_template(&fixture("does-not-exist.yaml")).unwrap_err();
    assert!(matches!(err, TemplateError::Io { .. }), "{err}");
}

#[test]
fn a_rule_on_a_custom_bus_of_the_template_names_the_bus() {
    // A bus with a Name: `!Ref Bus` and `!GetAtt Bus.Name` are that name. A bus without one
    // gets a generated name at deployment, which cannot be known here.
    let err = rules_from_template(&fixture("custom-bus.yaml")).unwrap_err();
    assert!(
        matches!(&err, TemplateError::Unresolvable { intrinsic, .. } if intrinsic == "!Ref UnnamedBus"),
        "{err}"
    );
    let text = std::fs::read_to_string(fixture("custom-bus.yaml"))
        .unwrap()
        .replace("EventBusName: !Ref UnnamedBus", "EventBusName: default");
    let overrides = HashMap::from([("AWS::StackName".to_string(), json!("sec"))]);
    let rules = cordon_events::rules_from_yaml(&text, &overrides).unwrap();
    let buses: Vec<(&str, Option<&str>)> = rules
        .iter()
        .map(|r| (r.name.as_str(), r.event_bus_name.as_deref()))
        .collect();
    assert_eq!(
        buses,
        [
            ("ByRef", Some("sec-org")),
            ("ByGetAtt", Some("sec-org")),
            ("OnUnnamedBus", Some("default"))
        ]
    );
    // Under a false condition the bus and its rules are not deployed, and nothing is resolved.
    let overrides = HashMap::from([("Mode".to_string(), json!("single"))]);
    assert!(
        rules_from_template_with(&fixture("custom-bus.yaml"), &overrides)
            .unwrap()
            .is_empty()
    );
}
