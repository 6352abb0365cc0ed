//! Accounts and organizations, end to end: an incident is about the account its payload names,
//! every lookup and change happens there (through the member account's `cordon-responder`
//! role, deployed from `infra/member.yaml` by moto's CloudFormation), and nothing happens in
//! an account the deployment does not cover. Same-named principals in other accounts are the
//! trap each scenario sets.

use std::collections::BTreeMap;

use cordon_e2e::*;
use cordon_moto::ACCOUNT_ID as SECURITY;
use cordon_moto::organization::{
    PRODUCTION_ACCOUNT as PROD, SANDBOX_ACCOUNT as SANDBOX, SANDBOX_OU,
};
use cordon_stack::{Outcome, StackOptions};
use serde_json::{Value, json};

/// The suspicious-name fixture (`devops-tools` creates `service-x7k2qa` with a long-term key,
/// no MFA, the AWS CLI).
const CREATE_USER: &str = "cloudtrail-create-user-suspicious-name-no-mfa-cli.json";
const NEW_USER: &str = "service-x7k2qa";
const EXFILTRATION: &str = "guardduty-instance-credential-exfiltration-outside-aws.json";
const ROLE: &str = "web-app-role";
const OUTSIDE: &str = "999988887777";
const POLICY_PARAMETER: &str = "/cordon/policy";

/// `fixture` as it is about `account` (every account id in it replaced), delivered with the
/// envelope naming `envelope` (a member's forwarded event keeps its own account; a GuardDuty
/// administrator receives members' findings under its own).
fn about(fixture_name: &str, account: &str, envelope: &str) -> Value {
    let text = fixture(fixture_name).to_string().replace(SECURITY, account);
    let mut event: Value = serde_json::from_str(&text).unwrap();
    event["account"] = json!(envelope);
    event
}

async fn org_stack(policy: Value, skip: &[&str]) -> Scenario {
    Scenario::start_with(StackOptions {
        policy: Some(policy),
        organization: true,
        skip_member_stacks: skip.iter().map(|s| s.to_string()).collect(),
        // An organization's policy outgrows a template parameter: Parameter Store.
        policy_parameter: Some(POLICY_PARAMETER.into()),
        ..StackOptions::default()
    })
    .await
}

fn bus(s: &Scenario) -> String {
    s.stack
        .info()
        .organization
        .as_ref()
        .expect("organization mode")
        .event_bus_name
        .clone()
}

/// `name` in `account`, holding an admin-looking policy and an access key (so the suspicious
/// CreateUser scores a quarantine, not an approval).
async fn admin_user(s: &Scenario, account: &str, name: &str) {
    let iam = s.iam_in(account).await;
    iam.create_user().user_name(name).send().await.unwrap();
    iam.create_access_key()
        .user_name(name)
        .send()
        .await
        .unwrap();
    let policy = iam
        .create_policy()
        .policy_name("AdministratorAccess")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    iam.attach_user_policy()
        .user_name(name)
        .policy_arn(policy.policy().unwrap().arn().unwrap())
        .send()
        .await
        .unwrap();
}

/// The user's attached policies and tags in `account`.
async fn user_in(
    s: &Scenario,
    account: &str,
    name: &str,
) -> (Vec<String>, BTreeMap<String, String>) {
    let iam = s.iam_in(account).await;
    let policies = iam
        .list_attached_user_policies()
        .user_name(name)
        .send()
        .await
        .unwrap()
        .attached_policies()
        .iter()
        .map(|p| p.policy_name().unwrap_or_default().to_string())
        .collect();
    let tags = iam
        .list_user_tags()
        .user_name(name)
        .send()
        .await
        .unwrap()
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    (policies, tags)
}

async fn role_in(s: &Scenario, account: &str, name: &str) {
    s.iam_in(account)
        .await
        .create_role()
        .role_name(name)
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        )
        .send()
        .await
        .unwrap();
}

async fn role_inline_policies_in(s: &Scenario, account: &str, name: &str) -> Vec<String> {
    s.iam_in(account)
        .await
        .list_role_policies()
        .role_name(name)
        .send()
        .await
        .unwrap()
        .policy_names()
        .to_vec()
}

fn rule_names(out: &Value) -> Vec<String> {
    out["classification"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule"].as_str().unwrap().to_string())
        .collect()
}

fn one_alert(msgs: &[SnsMessage]) -> &SnsMessage {
    assert_eq!(
        msgs.len(),
        1,
        "one alert expected: {:?}",
        msgs.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    &msgs[0]
}

/// The reproduction from the issue: a member's finding reached a single-account stack where a
/// role of the same name exists. It used to revoke *this* account's role's sessions.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_accounts_finding_in_a_single_account_deployment_changes_nothing_anywhere() {
    let s = Scenario::start().await;
    let instance = s.create_instance_with_role(ROLE, "web-app-profile").await;
    let mut event = about(EXFILTRATION, OUTSIDE, SECURITY);
    event["detail"]["resource"]["instanceDetails"]["instanceId"] = json!(instance);
    let arn = s.send_new(&event).await;
    let out = s.wait_succeeded(&arn).await;

    assert_eq!(out["incident"]["account"], OUTSIDE);
    assert!(
        out["classification"]["policyVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("inline:sha256:")),
        "{}",
        out["classification"]
    );
    assert_eq!(out["classification"]["verdict"], "notify");
    assert_eq!(rule_names(&out), vec!["other-account"]);
    assert_eq!(out["enrichment"]["scope"]["covered"], false);
    assert_eq!(out["enrichment"]["exists"], false, "nothing was looked up");
    assert!(out["enrichment"].get("role").is_none());
    assert!(out.get("containment").is_none());
    assert_eq!(s.stack.lambda_host().invocations("cordon-quarantine"), 0);
    assert!(
        s.role_inline_policies(ROLE).await.is_empty(),
        "this account's same-named role must be untouched"
    );
    assert!(s.role_tags(ROLE).await.is_empty());
    assert_eq!(s.http_tokens(&instance).await, "optional");

    let alerts = s.drain(s.alerts_queue()).await;
    let alert = one_alert(&alerts);
    assert!(alert.message.contains(OUTSIDE), "{}", alert.message);
    assert!(
        alert.message.contains(&format!("covers only {SECURITY}")),
        "{}",
        alert.message
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_accounts_create_user_is_contained_there_and_the_same_name_here_is_untouched() {
    let s = org_stack(example_policy(), &[]).await;
    admin_user(&s, PROD, NEW_USER).await;
    admin_user(&s, SECURITY, NEW_USER).await;
    let before_here = user_in(&s, SECURITY, NEW_USER).await;

    // Forwarded by the member's us-east-1 rule: the envelope keeps the member's account.
    let event = about(CREATE_USER, PROD, PROD);
    let routed = s.stack.send_on(&bus(&s), &event).await.unwrap();
    assert_eq!(routed.matches.len(), 1, "{routed:?}");
    let out = s.wait_succeeded(&routed.matches[0].execution_arn).await;

    assert_eq!(out["incident"]["account"], PROD);
    assert_eq!(out["enrichment"]["scope"]["access"], "member-role");
    assert_eq!(
        out["classification"]["policyVersion"],
        format!("ssm:{POLICY_PARAMETER}:1"),
        "the decision names the policy version that made it"
    );
    assert_eq!(
        out["enrichment"]["user"]["arn"],
        format!("arn:aws:iam::{PROD}:user/{NEW_USER}")
    );
    assert_eq!(out["classification"]["verdict"], "quarantine");
    let (policies, tags) = user_in(&s, PROD, NEW_USER).await;
    assert!(
        policies.contains(&"cordon-quarantine-deny-all".to_string()),
        "{policies:?}"
    );
    assert_eq!(
        tags.get("SecurityStatus").map(String::as_str),
        Some("Quarantined")
    );
    assert_eq!(
        out["containment"]["record"]["attachedPolicyArn"],
        format!("arn:aws:iam::{PROD}:policy/cordon-quarantine-deny-all")
    );
    assert_eq!(
        user_in(&s, SECURITY, NEW_USER).await,
        before_here,
        "the security account's same-named user must be untouched"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_finding_on_an_assumed_role_revokes_sessions_in_the_member_only_and_arrives_once()
{
    let s = org_stack(example_policy(), &[]).await;
    role_in(&s, PROD, ROLE).await;
    role_in(&s, SECURITY, ROLE).await;

    // GuardDuty's administrator receives the member's finding on its default bus, under its
    // own account; the member forwards the same finding to the organization bus.
    let direct = about(EXFILTRATION, PROD, SECURITY);
    let forwarded = about(EXFILTRATION, PROD, PROD);
    let first = s.send_new(&direct).await;
    let second = s.stack.send_on(&bus(&s), &forwarded).await.unwrap();
    assert_eq!(second.matches.len(), 1, "{second:?}");
    assert_eq!(second.matches[0].outcome, Outcome::Duplicate, "{second:?}");
    assert_eq!(second.matches[0].execution_arn, first);
    let out = s.wait_succeeded(&first).await;

    assert_eq!(out["classification"]["verdict"], "quarantine");
    assert_eq!(
        role_inline_policies_in(&s, PROD, ROLE).await,
        vec!["cordon-revoke-sessions".to_string()]
    );
    assert!(
        role_inline_policies_in(&s, SECURITY, ROLE).await.is_empty(),
        "the security account's same-named role must be untouched"
    );
    assert_eq!(s.stack.lambda_host().invocations("cordon-quarantine"), 1);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_without_the_responder_role_fails_named_and_alerts_with_what_to_deploy() {
    let s = org_stack(example_policy(), &[SANDBOX]).await;
    admin_user(&s, SANDBOX, NEW_USER).await;
    admin_user(&s, SECURITY, NEW_USER).await;
    let event = about(CREATE_USER, SANDBOX, SANDBOX);
    let routed = s.stack.send_on(&bus(&s), &event).await.unwrap();
    let d = s.wait_terminal(&routed.matches[0].execution_arn).await;
    assert_eq!(d["status"], "FAILED", "{d}");
    assert_eq!(d["error"], "MemberRoleUnavailable", "{d}");

    let alerts = s.drain(s.alerts_queue()).await;
    let alert = one_alert(&alerts);
    assert!(alert.message.contains(SANDBOX), "{}", alert.message);
    assert!(
        alert.message.contains("infra/member.yaml"),
        "{}",
        alert.message
    );
    // never a fall-back to the central account
    let (policies, tags) = user_in(&s, SECURITY, NEW_USER).await;
    assert_eq!(policies, vec!["AdministratorAccess".to_string()]);
    assert!(tags.is_empty());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_excluded_ou_and_an_unreadable_organization_are_notify_only() {
    let mut policy = example_policy();
    policy["organization"] = json!({"excludeOrganizationalUnits": [SANDBOX_OU]});
    let s = org_stack(policy, &[]).await;
    admin_user(&s, SANDBOX, NEW_USER).await;
    admin_user(&s, PROD, NEW_USER).await;

    let sandbox = about(CREATE_USER, SANDBOX, SANDBOX);
    let routed = s.stack.send_on(&bus(&s), &sandbox).await.unwrap();
    let out = s.wait_succeeded(&routed.matches[0].execution_arn).await;
    assert_eq!(out["classification"]["verdict"], "notify");
    assert_eq!(rule_names(&out), vec!["account-not-covered"]);
    assert!(
        out["classification"]["reasons"][0]["detail"]
            .as_str()
            .unwrap()
            .contains(SANDBOX_OU)
    );
    assert!(user_in(&s, SANDBOX, NEW_USER).await.1.is_empty());

    // The security account loses its delegated administration: coverage is unknown.
    cordon_moto::organization::revoke_delegation(s.stack.aws_config())
        .await
        .unwrap();
    let mut prod = about(CREATE_USER, PROD, PROD);
    prod["detail"]["eventID"] = json!("b7c8d9e0-0000-4000-8000-00000000c0de");
    let routed = s.stack.send_on(&bus(&s), &prod).await.unwrap();
    let out = s.wait_succeeded(&routed.matches[0].execution_arn).await;
    assert_eq!(out["classification"]["verdict"], "notify");
    assert_eq!(rule_names(&out), vec!["organizations-unreadable"]);
    assert!(
        user_in(&s, PROD, NEW_USER).await.1.is_empty(),
        "nothing contained"
    );
    s.stop().await;
}

/// Policies, tags and key statuses of `name` in `account`: what a release must restore.
async fn state_in(
    s: &Scenario,
    account: &str,
    name: &str,
) -> (Vec<String>, BTreeMap<String, String>, Vec<String>) {
    let (policies, tags) = user_in(s, account, name).await;
    let keys = s
        .iam_in(account)
        .await
        .list_access_keys()
        .user_name(name)
        .send()
        .await
        .unwrap()
        .access_key_metadata()
        .iter()
        .map(|k| {
            format!(
                "{}={}",
                k.access_key_id().unwrap_or_default(),
                k.status().unwrap().as_str()
            )
        })
        .collect();
    (policies, tags, keys)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn releasing_a_member_accounts_quarantine_restores_it_exactly_and_only_there() {
    let s = org_stack(example_policy(), &[]).await;
    admin_user(&s, PROD, NEW_USER).await;
    admin_user(&s, SECURITY, NEW_USER).await;
    let before = state_in(&s, PROD, NEW_USER).await;
    let here = state_in(&s, SECURITY, NEW_USER).await;

    let routed = s
        .stack
        .send_on(&bus(&s), &about(CREATE_USER, PROD, PROD))
        .await
        .unwrap();
    let out = s.wait_succeeded(&routed.matches[0].execution_arn).await;
    assert_eq!(out["classification"]["verdict"], "quarantine");
    assert_ne!(state_in(&s, PROD, NEW_USER).await, before);

    // Without --account, the name means the security account's user, which has no record.
    let wrong = s
        .cordon(&["release", NEW_USER, "--reason", "false positive"])
        .await;
    assert!(!wrong.status.success());
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(stderr.contains("no cordon quarantine record"), "{stderr}");
    assert_eq!(state_in(&s, SECURITY, NEW_USER).await, here);

    let run = s
        .cordon(&[
            "release",
            NEW_USER,
            "--account",
            PROD,
            "--reason",
            "confirmed with the payments team",
        ])
        .await;
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "cordon release failed: {stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        stdout.contains(&format!("released in account {PROD}")),
        "{stdout}"
    );
    assert_eq!(
        state_in(&s, PROD, NEW_USER).await,
        before,
        "release must restore exactly what the quarantine changed, in the member account"
    );
    assert_eq!(state_in(&s, SECURITY, NEW_USER).await, here);
    s.stop().await;
}
