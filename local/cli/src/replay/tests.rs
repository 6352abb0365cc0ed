use super::*;
use crate::audit::fixtures;

fn policy() -> Policy {
    Policy::from_json(include_str!("../../../../infra/policy.example.json")).unwrap()
}

fn enrichment() -> Enrichment {
    serde_json::from_value(fixtures::enrichment()).unwrap()
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-14T03:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

const QP: &str = "arn:aws:iam::123456789012:policy/cordon-quarantine";
const QIP: &str = "arn:aws:iam::123456789012:instance-profile/cordon-quarantine-instance";

fn targets() -> PlanTargets<'static> {
    PlanTargets {
        quarantine_policy_arn: QP,
        quarantine_instance_profile_arn: Some(QIP),
        approval: None,
    }
}

#[test]
fn replay_of_an_exfiltration_shows_the_blast_radius_and_the_chosen_path() {
    let event: Value = serde_json::from_str(include_str!(
        "../../../../tests/events/guardduty-instance-credential-exfiltration-outside-aws.json"
    ))
    .unwrap();
    let incident = parse_event(&event).unwrap();
    let instance = "i-0a1b2c3d4e5f60718";
    let profile = "arn:aws:iam::123456789012:instance-profile/web-app";
    let used = (0..3)
        .map(|n| cordon_core::InstanceUse {
            instance_id: if n == 0 {
                instance.into()
            } else {
                format!("i-{n:017}")
            },
            name: Some(format!("web-{n}")),
            ..Default::default()
        })
        .collect();
    let enrichment = Enrichment {
        exists: true,
        role: Some(cordon_core::RoleFacts {
            name: "web-app-role".into(),
            arn: "arn:aws:iam::123456789012:role/web-app-role".into(),
            ..Default::default()
        }),
        instance: Some(cordon_core::InstanceFacts {
            instance_id: instance.into(),
            instance_profile_arn: Some(profile.into()),
            metadata_http_tokens: Some("optional".into()),
            ..Default::default()
        }),
        blast_radius: Some(cordon_core::enrich::blast_radius(
            "web-app-role",
            "us-east-1",
            vec![profile.into()],
            used,
            instance,
        )),
        ..Default::default()
    };
    let r = decide(incident, enrichment, &policy(), &targets(), now());
    let out = render(&r, &Style::PLAIN);
    assert!(
        out.contains("Blast radius web-app-role is used by 3 running instances in us-east-1, 2 besides i-0a1b2c3d4e5f60718"),
        "{out}"
    );
    assert!(
        out.contains("blast-radius") && out.contains("  instance quarantine without role-wide session revocation: web-app-role is used by 3"),
        "{out}"
    );
    assert!(out.contains("the response would ask an approver"), "{out}");
    assert!(
        out.contains(&format!("ec2:ReplaceIamInstanceProfileAssociation instanceId={instance} iamInstanceProfile={QIP} (was {profile})")),
        "{out}"
    );
    assert!(
        out.contains("revoke-sessions web-app-role: web-app-role is used by 3"),
        "{out}"
    );
}

#[test]
fn replay_prints_the_verdict_and_the_exact_calls() {
    let incident = parse_event(&fixtures::event()).unwrap();
    let r = decide(incident, enrichment(), &policy(), &targets(), now());
    let out = render(&r, &Style::PLAIN);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "Incident c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406 (CreateUser) — IAM user service-x7k2qa"
    );
    assert!(lines[1].starts_with("Verdict "), "{out}");
    let calls: Vec<&str> = lines
        .iter()
        .skip_while(|l| !l.starts_with("Containment calls"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .copied()
        .collect();
    assert_eq!(
        calls[0],
        format!("  1. iam:AttachUserPolicy user=service-x7k2qa policyArn={QP}")
    );
    assert!(
        calls[1].starts_with("  2. iam:TagUser user=service-x7k2qa tags="),
        "{out}"
    );
    assert!(calls[1].contains("SecurityStatus=Quarantined"), "{out}");
    assert!(
        calls[1].contains("CordonDeactivatedKeys=AKIAC1D2E3F4A5B6C7D8"),
        "{out}"
    );
    assert_eq!(
        calls[2],
        "  3. iam:UpdateAccessKey user=service-x7k2qa accessKeyId=AKIAC1D2E3F4A5B6C7D8 status=Inactive"
    );
    assert_eq!(calls[3], "  4. iam:DeleteLoginProfile user=service-x7k2qa");
    assert_eq!(
        calls[4],
        "  5. iam:PutUserPolicy user=service-x7k2qa policyName=cordon-revoke-sessions (deny all when aws:TokenIssueTime < 2026-03-14T03:00:00Z)"
    );
    assert_eq!(calls.len(), 5, "{out}");
    assert_eq!(lines.last().copied(), Some("dry run: nothing was changed"));
}

#[test]
fn the_json_case_file_has_the_planned_calls_and_no_outcome() {
    let event = fixtures::event();
    let incident = parse_event(&event).unwrap();
    let r = decide(incident, enrichment(), &policy(), &targets(), now());
    let case = case_file(&event, &r);
    assert_eq!(case["event"], event);
    assert_eq!(
        case["incident"]["id"],
        "c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406"
    );
    assert_eq!(case["enrichment"]["user"]["name"], "service-x7k2qa");
    assert!(case["classification"]["verdict"].is_string());
    assert_eq!(case["containment"]["dryRun"], true);
    assert_eq!(
        case["containment"]["planned"][0]["action"],
        "attach-quarantine-policy"
    );
    assert_eq!(
        case["containment"]["calls"][0],
        format!("iam:AttachUserPolicy user=service-x7k2qa policyArn={QP}")
    );
    assert!(
        case["containment"].get("actions").is_none(),
        "nothing was executed"
    );
}

#[test]
fn a_protected_subject_gets_no_plan() {
    let mut event = fixtures::event();
    event["detail"]["requestParameters"]["userName"] = "break-glass-1".into();
    event["detail"]["responseElements"]["user"]["userName"] = "break-glass-1".into();
    event["detail"]["responseElements"]["user"]["arn"] =
        "arn:aws:iam::123456789012:user/break-glass-1".into();
    let incident = parse_event(&event).unwrap();
    let r = decide(incident, enrichment(), &policy(), &targets(), now());
    let out = render(&r, &Style::PLAIN);
    assert!(
        out.contains("No containment: the subject is protected"),
        "{out}"
    );
    assert!(!out.contains("iam:AttachUserPolicy"), "{out}");
}

#[test]
fn nacl_deny_is_two_calls_ingress_and_egress() {
    let calls = planned_calls(&PlannedAction::NaclDenyIp {
        network_acl_id: "acl-0abc".into(),
        cidr: "198.51.100.7/32".into(),
        rule_number: 91,
    });
    assert_eq!(
        calls,
        vec![
            "ec2:CreateNetworkAclEntry networkAclId=acl-0abc ruleNumber=91 cidrBlock=198.51.100.7/32 ruleAction=deny egress=false",
            "ec2:CreateNetworkAclEntry networkAclId=acl-0abc ruleNumber=91 cidrBlock=198.51.100.7/32 ruleAction=deny egress=true",
        ]
    );
}
