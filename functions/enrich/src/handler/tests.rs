use super::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cordon_aws::{AwsCompute, AwsIam};
use cordon_core::enrich::token_issue_time;
use cordon_core::ports::PortResult;
use cordon_core::{AccessKey, KeyStatus, LoginProfile, PolicyRef, PortErrorKind, Tags};
use cordon_core::{InstanceFacts, LookupError, REVOCATION_POLICY_NAME, RoleFacts, UserFacts};
use serde_json::Value;
use serde_json::json;

const USER: &str = "service-x7k2qa";

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../../tests/events/{name}",
        std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn case(event: Value) -> CaseFile {
    CaseFile {
        event,
        ..CaseFile::default()
    }
}

#[tokio::test]
async fn a_user_with_keys_profile_policies_and_groups_is_described_exactly_then_absent_once_deleted()
 {
    let moto = cordon_moto::Moto::start().unwrap();
    let sdk = moto.sdk_config().await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    iam.create_user()
        .user_name(USER)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("team")
                .value("payments")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let policy = iam
        .create_policy()
        .policy_name("readonly-thing")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:Get*","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    let policy_arn = policy.policy().unwrap().arn().unwrap().to_string();
    iam.attach_user_policy()
        .user_name(USER)
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    iam.put_user_policy()
        .user_name(USER)
        .policy_name("inline-1")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:*","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    iam.create_group().group_name("devs").send().await.unwrap();
    iam.add_user_to_group()
        .group_name("devs")
        .user_name(USER)
        .send()
        .await
        .unwrap();
    let k1 = iam
        .create_access_key()
        .user_name(USER)
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap()
        .access_key_id;
    let k2 = iam
        .create_access_key()
        .user_name(USER)
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap()
        .access_key_id;
    iam.update_access_key()
        .user_name(USER)
        .access_key_id(&k2)
        .status(aws_sdk_iam::types::StatusType::Inactive)
        .send()
        .await
        .unwrap();
    iam.create_login_profile()
        .user_name(USER)
        .password("Sup3r-secret!pass")
        .send()
        .await
        .unwrap();

    let (iam_port, compute) = (AwsIam::from_conf(&sdk), AwsCompute::from_conf(&sdk));
    let out = handle(
        &iam_port,
        &compute,
        &case(fixture(
            "cloudtrail-create-user-suspicious-name-no-mfa-cli.json",
        )),
    )
    .await
    .unwrap();
    assert_eq!(out.incident.id, "c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406");
    let e = &out.enrichment;
    assert!(e.exists);
    assert_eq!(e.lookup_errors, vec![]);
    assert_eq!(e.quarantine, None);
    let u = e.user.as_ref().unwrap();
    assert_eq!(u.name, USER);
    assert_eq!(u.arn, format!("arn:aws:iam::123456789012:user/{USER}"));
    assert_eq!(u.path, "/");
    assert!(u.created_at.is_some());
    assert_eq!(
        u.tags,
        Tags::from([("team".to_string(), "payments".to_string())])
    );
    assert_eq!(
        u.attached_policies,
        vec![PolicyRef {
            name: "readonly-thing".into(),
            arn: policy_arn.clone()
        }]
    );
    assert_eq!(u.inline_policies, vec!["inline-1".to_string()]);
    assert_eq!(u.groups, vec!["devs".to_string()]);
    let mut statuses: Vec<(String, KeyStatus)> = u
        .access_keys
        .iter()
        .map(|k| (k.id.clone(), k.status))
        .collect();
    statuses.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected = vec![
        (k1.clone(), KeyStatus::Active),
        (k2.clone(), KeyStatus::Inactive),
    ];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(statuses, expected);
    assert!(u.login_profile.is_some());
    assert_eq!(u.mfa_devices, Vec::<String>::new());

    // Gone: a fact, not an error.
    iam.detach_user_policy()
        .user_name(USER)
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    iam.delete_user_policy()
        .user_name(USER)
        .policy_name("inline-1")
        .send()
        .await
        .unwrap();
    iam.remove_user_from_group()
        .group_name("devs")
        .user_name(USER)
        .send()
        .await
        .unwrap();
    for k in [&k1, &k2] {
        iam.delete_access_key()
            .user_name(USER)
            .access_key_id(k)
            .send()
            .await
            .unwrap();
    }
    iam.delete_login_profile()
        .user_name(USER)
        .send()
        .await
        .unwrap();
    iam.delete_user().user_name(USER).send().await.unwrap();
    let out = handle(
        &iam_port,
        &compute,
        &case(fixture(
            "cloudtrail-create-user-suspicious-name-no-mfa-cli.json",
        )),
    )
    .await
    .unwrap();
    assert!(!out.enrichment.exists);
    assert_eq!(out.enrichment.user, None);
    assert_eq!(out.enrichment.lookup_errors, vec![]);
}

#[tokio::test]
async fn a_role_with_cordons_revocation_policy_and_a_missing_instance() {
    let moto = cordon_moto::Moto::start().unwrap();
    let sdk = moto.sdk_config().await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    iam.create_role()
        .role_name("web-app-role")
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#)
        .send()
        .await
        .unwrap();
    let before = DateTime::parse_from_rfc3339("2026-03-14T02:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    iam.put_role_policy()
        .role_name("web-app-role")
        .policy_name(REVOCATION_POLICY_NAME)
        .policy_document(cordon_core::revocation_policy_document(before).to_string())
        .send()
        .await
        .unwrap();
    let out = handle(
        &AwsIam::from_conf(&sdk),
        &AwsCompute::from_conf(&sdk),
        &case(fixture(
            "guardduty-instance-credential-exfiltration-outside-aws.json",
        )),
    )
    .await
    .unwrap();
    let e = out.enrichment;
    assert!(e.exists);
    let role = e.role.unwrap();
    assert_eq!(role.arn, "arn:aws:iam::123456789012:role/web-app-role");
    assert_eq!(
        role.inline_policies,
        vec![REVOCATION_POLICY_NAME.to_string()]
    );
    assert_eq!(role.sessions_revoked_before, Some(before));
    // The instance is not in this (emulated) account: absent, not an error.
    assert_eq!(e.instance, None);
    assert_eq!(e.lookup_errors, vec![]);
    // The role is in no instance profile: no running instance would be interrupted.
    let reach = e.blast_radius.unwrap();
    assert_eq!(
        (
            reach.instance_profiles.len(),
            reach.running_instances,
            reach.other_instances
        ),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn a_malformed_event_is_invalid_event_naming_the_problem() {
    let err = handle(
        &Fake::ok(),
        &Fake::ok(),
        &case(fixture("malformed-create-user-without-user-name.json")),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "InvalidEvent");
    assert!(err.to_string().starts_with("invalid event: "), "{err}");
}

#[tokio::test]
async fn access_denied_lookups_are_recorded_and_transient_ones_fail_the_step() {
    let event = fixture("cloudtrail-create-user-suspicious-name-no-mfa-cli.json");
    let denied = Fake {
        tags: Some(PortErrorKind::AccessDenied),
    };
    let out = handle(&denied, &denied, &case(event.clone()))
        .await
        .unwrap();
    assert!(out.enrichment.exists);
    assert_eq!(
        out.enrichment.lookup_errors,
        vec![LookupError {
            lookup: "userTags".into(),
            error: "iam:ListUserTags failed (AccessDenied): denied".into()
        }]
    );
    assert_eq!(out.enrichment.user.unwrap().access_keys.len(), 1);

    let throttled = Fake {
        tags: Some(PortErrorKind::Transient),
    };
    let err = handle(&throttled, &throttled, &case(event))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Transient");
}

/// Ports in memory: one user with one active key, and a chosen failure for the tags lookup.
struct Fake {
    tags: Option<PortErrorKind>,
}

impl Fake {
    fn ok() -> Self {
        Fake { tags: None }
    }
}

#[async_trait]
impl IamRead for Fake {
    async fn user(&self, name: &str) -> PortResult<Option<UserFacts>> {
        Ok(Some(UserFacts {
            name: name.into(),
            arn: format!("arn:aws:iam::123456789012:user/{name}"),
            ..UserFacts::default()
        }))
    }
    async fn user_tags(&self, _: &str) -> PortResult<Tags> {
        match self.tags {
            Some(kind) => Err(PortError::new(kind, "iam:ListUserTags", "denied")),
            None => Ok(Tags::new()),
        }
    }
    async fn user_attached_policies(&self, _: &str) -> PortResult<Vec<PolicyRef>> {
        Ok(vec![])
    }
    async fn user_inline_policies(&self, _: &str) -> PortResult<Vec<String>> {
        Ok(vec![])
    }
    async fn user_groups(&self, _: &str) -> PortResult<Vec<String>> {
        Ok(vec![])
    }
    async fn access_keys(&self, _: &str) -> PortResult<Vec<AccessKey>> {
        Ok(vec![AccessKey {
            id: "AKIAFAKE".into(),
            status: KeyStatus::Active,
            created_at: None,
            last_used_at: None,
            last_used_service: None,
            last_used_region: None,
        }])
    }
    async fn login_profile(&self, _: &str) -> PortResult<Option<LoginProfile>> {
        Ok(None)
    }
    async fn mfa_devices(&self, _: &str) -> PortResult<Vec<String>> {
        Ok(vec![])
    }
    async fn role(&self, _: &str) -> PortResult<Option<RoleFacts>> {
        Ok(None)
    }
    async fn role_tags(&self, _: &str) -> PortResult<Tags> {
        Ok(Tags::new())
    }
    async fn role_attached_policies(&self, _: &str) -> PortResult<Vec<PolicyRef>> {
        Ok(vec![])
    }
    async fn role_inline_policies(&self, _: &str) -> PortResult<Vec<String>> {
        Ok(vec![])
    }
    async fn role_inline_policy(&self, _: &str, _: &str) -> PortResult<Option<Value>> {
        Ok(None)
    }
    async fn instance_profiles_for_role(&self, _: &str) -> PortResult<Vec<String>> {
        Ok(vec![])
    }
}

#[async_trait]
impl Compute for Fake {
    async fn instance(&self, _: &str) -> PortResult<Option<InstanceFacts>> {
        Ok(None)
    }
    async fn instances_using_profiles(
        &self,
        _: &[String],
    ) -> PortResult<Vec<cordon_core::InstanceUse>> {
        Ok(vec![])
    }
    async fn set_metadata_options(
        &self,
        _: &str,
        _: &str,
        _: i32,
    ) -> PortResult<cordon_core::ports::Change> {
        unreachable!("enrich never writes")
    }
    async fn replace_instance_profile(
        &self,
        _: &str,
        _: &str,
        _: &str,
    ) -> PortResult<cordon_core::ports::Change> {
        unreachable!("enrich never writes")
    }
    async fn nacl_deny(&self, _: &str, _: &str, _: i32) -> PortResult<cordon_core::ports::Change> {
        unreachable!("enrich never writes")
    }
    async fn nacl_remove(&self, _: &str, _: i32) -> PortResult<cordon_core::ports::Change> {
        unreachable!("enrich never writes")
    }
}

#[test]
fn token_issue_time_reads_cordons_policy() {
    let t = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
        .unwrap()
        .with_timezone(&Utc);
    assert_eq!(
        token_issue_time(&cordon_core::revocation_policy_document(t)),
        Some(t)
    );
    assert_eq!(token_issue_time(&json!({"Statement": []})), None);
}
