//! End-to-end: leaked instance credentials, with the blast radius in view. Each scenario
//! starts the whole offline stack, runs instances in moto that share an instance role, delivers
//! GuardDuty's `InstanceCredentialExfiltration` finding for one of them and checks what a
//! responder checks: which instance lost its profile, IMDS on each instance, the role's inline
//! policies, the subnet's network ACL, the alert, and that `cordon release` puts back exactly
//! what was there.
//!
//! Needs the function binaries and the CLI built (`cargo build --workspace --bins`).

use cordon_e2e::*;
use cordon_stack::LOCAL_APPROVER_ARN;
use serde_json::{Value, json};

const ROLE: &str = "web-app-role";
const PROFILE: &str = "web-app-profile";
const FINDING_ID: &str = "a4c5d6e7f8091a2b3c4d5e6f708192a3";
const ATTACKER_IP: &str = "198.51.100.77";

fn profile_arn(name: &str) -> String {
    format!("arn:aws:iam::123456789012:instance-profile/{name}")
}

const QUARANTINE_PROFILE: &str = "cordon-quarantine-instance";

/// The exfiltration finding, about `instance`.
fn exfiltration_from(instance: &str) -> Value {
    let mut event = fixture("guardduty-instance-credential-exfiltration-outside-aws.json");
    event["detail"]["resource"]["instanceDetails"]["instanceId"] = json!(instance);
    event["detail"]["resource"]["accessKeyDetails"]["principalId"] =
        json!(format!("AROAWEBAPPROLEEXMPL1:{instance}"));
    event
}

/// Three instances on `web-app-role` (two in an Auto Scaling group), hop limit 2; their ids.
async fn three_web_servers(s: &Scenario) -> [String; 3] {
    s.create_role_with_profile(ROLE, PROFILE).await;
    [
        s.run_instance(PROFILE, "web-1", Some("web-asg"), 2).await,
        s.run_instance(PROFILE, "web-2", Some("web-asg"), 2).await,
        s.run_instance(PROFILE, "web-3", None, 2).await,
    ]
}

fn action<'a>(out: &'a Value, name: &str) -> &'a Value {
    out["containment"]["actions"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["action"] == name))
        .unwrap_or_else(|| panic!("no {name} action in {}", out["containment"]))
}

fn the_alert(msgs: &[SnsMessage]) -> &SnsMessage {
    assert_eq!(
        msgs.len(),
        1,
        "exactly one alert expected: {:?}",
        msgs.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    &msgs[0]
}

/// What an alert (as JSON subscribers get it) says of the blast radius and what stays open.
fn said(m: &SnsMessage) -> String {
    let json = m
        .json
        .as_ref()
        .expect("the alert is JSON for SQS subscribers");
    let open: Vec<&str> = json["stillOpen"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    format!(
        "{}\n{}",
        json["blastRadius"].as_str().unwrap_or("(no blast radius)"),
        open.join("\n")
    )
}

fn policy(edit: impl FnOnce(&mut Value)) -> Value {
    let mut p = example_policy();
    edit(&mut p);
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_of_three_instances_sharing_a_role_is_contained_alone_and_release_restores_it_exactly()
{
    let s = Scenario::start_with_policy(policy(|p| {
        p["containment"]["enforceImdsV2"] = json!(true);
        p["containment"]["naclDenyRemoteIp"] = json!(true);
        p["containment"]["revokeRoleSessionsMaxOtherInstances"] = json!(1);
        p["containment"]["aboveRevocationThreshold"] = json!("contain-instance-only");
    }))
    .await;
    let [web1, web2, web3] = three_web_servers(&s).await;
    // Someone's deny rules at the lowest numbers of the subnet's ACL.
    let acl = s.instance_acl(&web1).await.id;
    for (n, egress) in [(1, false), (2, true), (3, false)] {
        s.ec2
            .create_network_acl_entry()
            .network_acl_id(&acl)
            .rule_number(n)
            .egress(egress)
            .protocol("-1")
            .rule_action(aws_sdk_ec2::types::RuleAction::Deny)
            .cidr_block("203.0.113.0/24")
            .send()
            .await
            .expect("CreateNetworkAclEntry");
    }
    let acl_before = s.instance_acl(&web1).await.entries;
    let before = [
        s.instance_state(&web1).await,
        s.instance_state(&web2).await,
        s.instance_state(&web3).await,
    ];
    assert_eq!(
        before[0].profile.as_deref(),
        Some(profile_arn(PROFILE).as_str())
    );
    assert_eq!(
        (before[0].http_tokens.as_str(), before[0].hop_limit),
        ("optional", 2)
    );

    let arn = s.send_new(&exfiltration_from(&web1)).await;
    let out = s.wait_succeeded(&arn).await;

    // The blast radius, counted and said.
    let reach = &out["enrichment"]["blastRadius"];
    assert_eq!(reach["runningInstances"], 3, "{reach}");
    assert_eq!(reach["otherInstances"], 2, "{reach}");
    assert_eq!(reach["instanceProfiles"], json!([profile_arn(PROFILE)]));
    assert_eq!(out["classification"]["verdict"], "quarantine");
    let why = out["classification"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "blast-radius")
        .expect("a blast-radius reason");
    assert!(
        why["detail"]
            .as_str()
            .unwrap()
            .starts_with("instance quarantine without role-wide session revocation: web-app-role is used by 3 running instances"),
        "{why}"
    );

    // That instance alone: quarantine profile, IMDSv2 with hop 1; the others untouched.
    let after = s.instance_state(&web1).await;
    assert_eq!(
        after.profile,
        Some(profile_arn(QUARANTINE_PROFILE)),
        "{}",
        action(&out, "swap-instance-profile")
    );
    assert_eq!(
        (after.http_tokens.as_str(), after.hop_limit),
        ("required", 1)
    );
    assert_eq!(s.instance_state(&web2).await, before[1]);
    assert_eq!(s.instance_state(&web3).await, before[2]);
    // No role-wide revocation: the other two keep working.
    assert_eq!(s.role_inline_policies(ROLE).await, Vec::<String>::new());
    assert_eq!(action(&out, "revoke-sessions")["status"], "skipped");

    // The attacker's address is denied at the first free number, before every allow.
    let acl_after = s.instance_acl(&web1).await.entries;
    let added: Vec<_> = acl_after
        .iter()
        .filter(|e| !acl_before.contains(e))
        .cloned()
        .collect();
    let cidr = format!("{ATTACKER_IP}/32");
    assert_eq!(
        added,
        vec![
            AclEntry {
                rule_number: 4,
                egress: false,
                action: "deny".to_string(),
                cidr: cidr.clone()
            },
            AclEntry {
                rule_number: 4,
                egress: true,
                action: "deny".to_string(),
                cidr: cidr.clone()
            }
        ]
    );
    let tags = s.role_tags(ROLE).await;
    assert_eq!(
        tags.get("CordonProfileSwap"),
        Some(&format!(
            "{web1} {} {}",
            profile_arn(PROFILE),
            profile_arn(QUARANTINE_PROFILE)
        ))
    );
    assert_eq!(
        tags.get("CordonImdsBefore").map(String::as_str),
        Some("httpTokens=optional hopLimit=2")
    );
    assert_eq!(
        tags.get("CordonNaclEntry"),
        Some(&format!("{acl}:4:{cidr}"))
    );

    // The alert says the blast radius and what stays open.
    let alerts = s.drain(s.alerts_queue()).await;
    let alert = said(the_alert(&alerts));
    assert!(
        alert.starts_with("web-app-role is used by 3 running instances in us-east-1, 2 besides"),
        "{alert}"
    );
    assert!(
        alert.contains("\"web-2\" in Auto Scaling group web-asg"),
        "{alert}"
    );
    assert!(
        alert.contains(&format!(
            "\nThe credentials already taken from {web1} stay valid until they expire"
        )),
        "{alert}"
    );
    assert!(!alert.contains("IMDSv1 stays enabled"), "{alert}");

    // Release: the original profile, IMDS as it was, the ACL as it was, no record.
    let run = s
        .cordon(&["release", ROLE, "--role", "--reason", "instance rebuilt"])
        .await;
    assert!(
        run.status.success(),
        "cordon release failed: {}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(s.instance_state(&web1).await, before[0]);
    assert_eq!(s.instance_state(&web2).await, before[1]);
    assert_eq!(s.instance_acl(&web1).await.entries, acl_before);
    assert!(!s.role_tags(ROLE).await.contains_key("SecurityStatus"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_role_on_one_instance_has_its_sessions_revoked_and_imdsv1_left_on_is_said() {
    // The example policy: threshold 0, IMDSv2 enforcement off.
    let s = Scenario::start().await;
    s.create_role_with_profile(ROLE, PROFILE).await;
    let web1 = s.run_instance(PROFILE, "web-1", None, 2).await;

    let arn = s.send_new(&exfiltration_from(&web1)).await;
    let out = s.wait_succeeded(&arn).await;
    assert_eq!(out["enrichment"]["blastRadius"]["otherInstances"], 0);
    assert_eq!(out["classification"]["verdict"], "quarantine");
    assert_eq!(action(&out, "revoke-sessions")["status"], "done");
    assert_eq!(
        s.role_inline_policies(ROLE).await,
        vec!["cordon-revoke-sessions".to_string()]
    );
    let state = s.instance_state(&web1).await;
    assert_eq!(state.profile, Some(profile_arn(QUARANTINE_PROFILE)));
    assert_eq!(state.http_tokens, "optional", "IMDSv2 is off by policy");

    let alerts = s.drain(s.alerts_queue()).await;
    let alert = said(the_alert(&alerts));
    assert!(
        alert.starts_with(&format!(
            "web-app-role is used by {web1} alone in us-east-1"
        )),
        "{alert}"
    );
    assert!(
        alert.contains(&format!("\nIMDSv1 stays enabled on {web1}: whatever made it leak credentials (an SSRF, a proxy) can still fetch fresh credentials")),
        "{alert}"
    );
    assert!(!alert.contains("stay valid until they expire"), "{alert}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn above_the_threshold_an_approver_sees_the_blast_radius_and_chooses_the_revocation() {
    // The example policy: threshold 0, ask an approver above it.
    let s = Scenario::start().await;
    let [web1, web2, _] = three_web_servers(&s).await;
    // `cordon replay` first: the blast radius and the chosen path, nothing changed.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), exfiltration_from(&web1).to_string()).unwrap();
    let policy = format!(
        "{}/../../infra/policy.example.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let run = s
        .cordon(&[
            "replay",
            file.path().to_str().unwrap(),
            "--dry-run",
            "--policy",
            &policy,
        ])
        .await;
    let printed = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{printed}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        printed.contains(&format!("Blast radius web-app-role is used by 3 running instances in us-east-1, 2 besides {web1}")),
        "{printed}"
    );
    assert!(
        printed.contains("instance quarantine without role-wide session revocation"),
        "{printed}"
    );
    assert!(
        printed.contains(&format!(
            "ec2:ReplaceIamInstanceProfileAssociation instanceId={web1} iamInstanceProfile={}",
            profile_arn(QUARANTINE_PROFILE)
        )),
        "{printed}"
    );
    assert_eq!(
        s.instance_state(&web1).await.profile,
        Some(profile_arn(PROFILE))
    );

    let arn = s.send_new(&exfiltration_from(&web1)).await;
    s.wait_entered(&arn, "RequestApproval").await;
    let requests = s.receive(s.approvals_queue(), 1).await;
    let request = requests[0].json.as_ref().expect("JSON for SQS subscribers");
    assert!(
        request["blastRadius"]
            .as_str()
            .is_some_and(|b| b.starts_with("web-app-role is used by 3 running instances")),
        "{request}"
    );
    assert_eq!(
        request["commands"]["approveAndRevokeRoleSessions"],
        format!("cordon approve {FINDING_ID} --revoke-role-sessions --reason \"...\"")
    );

    let run = s
        .cordon(&[
            "approve",
            FINDING_ID,
            "--revoke-role-sessions",
            "--reason",
            "keys used from a VPS: stop them now",
            "--as",
            LOCAL_APPROVER_ARN,
        ])
        .await;
    assert!(
        run.status.success(),
        "cordon approve failed: {}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let out = s.wait_succeeded(&arn).await;
    assert_eq!(out["approval"]["revokeRoleSessions"], true);
    assert_eq!(action(&out, "revoke-sessions")["status"], "done");
    assert_eq!(
        s.role_inline_policies(ROLE).await,
        vec!["cordon-revoke-sessions".to_string()]
    );
    assert_eq!(
        s.instance_state(&web1).await.profile,
        Some(profile_arn(QUARANTINE_PROFILE))
    );
    assert_eq!(
        s.instance_state(&web2).await.profile,
        Some(profile_arn(PROFILE)),
        "only the compromised instance loses its profile"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_accounts_instance_is_contained_there_and_the_same_names_here_are_untouched() {
    use cordon_moto::ACCOUNT_ID as SECURITY;
    use cordon_moto::organization::PRODUCTION_ACCOUNT as PROD;
    let s = Scenario::start_with(cordon_stack::StackOptions {
        policy: Some(example_policy()),
        organization: true,
        policy_parameter: Some("/cordon/policy".into()),
        ..cordon_stack::StackOptions::default()
    })
    .await;
    // The same role, profile and instance names in the member and in the security account.
    let prod = s.account(PROD).await;
    prod.create_role_with_profile(ROLE, PROFILE).await.unwrap();
    let web1 = prod.run_instance(PROFILE, "web-1", None, 2).await.unwrap();
    let home = s.home();
    home.create_role_with_profile(ROLE, PROFILE).await.unwrap();
    let here = home.run_instance(PROFILE, "web-1", None, 2).await.unwrap();
    let here_before = home.instance_state(&here).await.unwrap();

    let event: Value =
        serde_json::from_str(&exfiltration_from(&web1).to_string().replace(SECURITY, PROD))
            .unwrap();
    let arn = s.send_new(&event).await;
    let out = s.wait_succeeded(&arn).await;
    assert_eq!(
        out["enrichment"]["blastRadius"]["runningInstances"], 1,
        "counted in the member only"
    );
    assert_eq!(action(&out, "swap-instance-profile")["status"], "done");
    assert_eq!(
        prod.instance_state(&web1).await.unwrap().profile,
        Some(format!(
            "arn:aws:iam::{PROD}:instance-profile/{QUARANTINE_PROFILE}"
        ))
    );
    assert_eq!(home.instance_state(&here).await.unwrap(), here_before);
    s.stop().await;
}
