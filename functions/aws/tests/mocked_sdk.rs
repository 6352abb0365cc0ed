//! The adapters against the SDK itself (aws-smithy-mocks): retries, error kinds, idempotency,
//! and the Security Hub and Step Functions calls moto does not implement.

use std::time::Duration;

use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_types::retry::RetryConfig;
use cordon_aws::{AwsCompute, AwsExecutions, AwsIam, AwsSecurityHub};
use cordon_core::ports::{
    Change, Compute, Executions, IamRead, IamWrite, SecurityHub, SecurityHubUpdate,
};
use cordon_core::{KeyStatus, PortErrorKind};
use serde_json::json;

fn iam_error(code: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type>\
         <Code>{code}</Code><Message>{code} happened</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"
    )
}

fn ec2_error(code: &str) -> String {
    format!(
        "<Response><Errors><Error><Code>{code}</Code><Message>{code} happened</Message></Error></Errors>\
         <RequestID>r-1</RequestID></Response>"
    )
}

fn json_error(code: &str) -> String {
    json!({"__type": code, "message": format!("{code} happened")}).to_string()
}

fn retry() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(1))
}

macro_rules! client {
    ($krate:ident, $rules:expr) => {
        mock_client!($krate, RuleMode::MatchAny, $rules, |c| c
            .retry_config(retry()))
    };
}

fn user() -> aws_sdk_iam::types::User {
    aws_sdk_iam::types::User::builder()
        .user_name("mallory")
        .user_id("AIDAEXAMPLE")
        .arn("arn:aws:iam::123456789012:user/mallory")
        .path("/")
        .create_date(aws_smithy_types::DateTime::from_secs(1_700_000_000))
        .build()
        .unwrap()
}

// ------------------------------------------------------------------------------------------
// retries and error kinds
// ------------------------------------------------------------------------------------------

#[tokio::test]
async fn throttled_twice_then_success_is_retried_by_the_sdk() {
    let get_user = mock!(aws_sdk_iam::Client::get_user)
        .sequence()
        .http_status(400, Some(iam_error("Throttling")))
        .times(2)
        .output(|| {
            aws_sdk_iam::operation::get_user::GetUserOutput::builder()
                .user(user())
                .build()
        })
        .build();
    let iam = AwsIam::new(client!(aws_sdk_iam, [&get_user]));
    let facts = iam.user("mallory").await.unwrap().unwrap();
    assert_eq!(get_user.num_calls(), 3);
    assert_eq!(facts.arn, "arn:aws:iam::123456789012:user/mallory");
    assert_eq!(facts.user_id, "AIDAEXAMPLE");
    assert_eq!(facts.created_at.unwrap().timestamp(), 1_700_000_000);
}

#[tokio::test]
async fn http_500_on_every_attempt_is_transient() {
    let get_user = mock!(aws_sdk_iam::Client::get_user)
        .sequence()
        .http_status(500, Some(iam_error("ServiceFailure")))
        .times(3)
        .build();
    let iam = AwsIam::new(client!(aws_sdk_iam, [&get_user]));
    let err = iam.user("mallory").await.unwrap_err();
    assert_eq!(get_user.num_calls(), 3);
    assert_eq!(err.kind, PortErrorKind::Transient);
    assert_eq!(err.operation, "iam:GetUser");
}

#[tokio::test]
async fn throttling_that_outlasts_the_retries_is_transient() {
    let tag = mock!(aws_sdk_iam::Client::list_user_tags)
        .sequence()
        .http_status(400, Some(iam_error("Throttling")))
        .times(3)
        .build();
    let iam = AwsIam::new(client!(aws_sdk_iam, [&tag]));
    let err = iam.user_tags("mallory").await.unwrap_err();
    assert_eq!(tag.num_calls(), 3);
    assert_eq!(err.kind, PortErrorKind::Transient);
    assert!(err.message.starts_with("Throttling"), "{}", err.message);
}

#[tokio::test]
async fn no_such_entity_reads_as_absent() {
    let get_user = mock!(aws_sdk_iam::Client::get_user).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(404).unwrap(),
            aws_smithy_types::body::SdkBody::from(iam_error("NoSuchEntity")),
        )
    });
    let profile = mock!(aws_sdk_iam::Client::get_login_profile)
        .sequence()
        .http_status(404, Some(iam_error("NoSuchEntity")))
        .build();
    let keys = mock!(aws_sdk_iam::Client::list_access_keys)
        .sequence()
        .http_status(404, Some(iam_error("NoSuchEntity")))
        .build();
    let iam = AwsIam::new(client!(aws_sdk_iam, [&get_user, &profile, &keys]));
    assert_eq!(iam.user("ghost").await.unwrap(), None);
    assert_eq!(iam.login_profile("ghost").await.unwrap(), None);
    assert_eq!(iam.access_keys("ghost").await.unwrap(), vec![]);
    assert_eq!(
        (get_user.num_calls(), profile.num_calls(), keys.num_calls()),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn access_denied_is_its_own_kind_and_not_retried() {
    let get_user = mock!(aws_sdk_iam::Client::get_user)
        .sequence()
        .http_status(403, Some(iam_error("AccessDenied")))
        .build();
    let iam = AwsIam::new(client!(aws_sdk_iam, [&get_user]));
    let err = iam.user("mallory").await.unwrap_err();
    assert_eq!(err.kind, PortErrorKind::AccessDenied);
    assert_eq!(get_user.num_calls(), 1);
    assert_eq!(
        err.to_string(),
        "iam:GetUser failed (AccessDenied): AccessDenied: AccessDenied happened"
    );
}

#[tokio::test]
async fn an_instance_that_does_not_exist_reads_as_absent() {
    let describe = mock!(aws_sdk_ec2::Client::describe_instances)
        .sequence()
        .http_status(400, Some(ec2_error("InvalidInstanceID.NotFound")))
        .build();
    let ec2 = AwsCompute::new(client!(aws_sdk_ec2, [&describe]));
    assert_eq!(ec2.instance("i-0123456789abcdef0").await.unwrap(), None);
    assert_eq!(describe.num_calls(), 1);
}

#[tokio::test]
async fn ec2_request_limit_exceeded_is_transient() {
    let describe = mock!(aws_sdk_ec2::Client::describe_instances)
        .sequence()
        .http_status(503, Some(ec2_error("RequestLimitExceeded")))
        .times(3)
        .build();
    let ec2 = AwsCompute::new(client!(aws_sdk_ec2, [&describe]));
    let err = ec2.instance("i-0123456789abcdef0").await.unwrap_err();
    assert_eq!(err.kind, PortErrorKind::Transient);
    assert_eq!(describe.num_calls(), 3);
}

// ------------------------------------------------------------------------------------------
// idempotent writes
// ------------------------------------------------------------------------------------------

const QUARANTINE_ARN: &str = "arn:aws:iam::123456789012:policy/cordon-quarantine";

#[tokio::test]
async fn attaching_an_attached_policy_is_already_and_makes_no_write() {
    let list = mock!(aws_sdk_iam::Client::list_attached_user_policies).then_output(|| {
        aws_sdk_iam::operation::list_attached_user_policies::ListAttachedUserPoliciesOutput::builder()
            .attached_policies(
                aws_sdk_iam::types::AttachedPolicy::builder()
                    .policy_name("cordon-quarantine")
                    .policy_arn(QUARANTINE_ARN)
                    .build(),
            )
            .build()
    });
    let attach = mock!(aws_sdk_iam::Client::attach_user_policy).then_output(|| {
        aws_sdk_iam::operation::attach_user_policy::AttachUserPolicyOutput::builder().build()
    });
    let iam = AwsIam::new(client!(aws_sdk_iam, [&list, &attach]));
    assert_eq!(
        iam.attach_user_policy("mallory", QUARANTINE_ARN)
            .await
            .unwrap(),
        Change::Already
    );
    assert_eq!(attach.num_calls(), 0);
}

#[tokio::test]
async fn attaching_a_new_policy_is_done_with_the_exact_arn() {
    let list = mock!(aws_sdk_iam::Client::list_attached_user_policies).then_output(|| {
        aws_sdk_iam::operation::list_attached_user_policies::ListAttachedUserPoliciesOutput::builder().build()
    });
    let attach = mock!(aws_sdk_iam::Client::attach_user_policy)
        .match_requests(|r| {
            r.user_name() == Some("mallory") && r.policy_arn() == Some(QUARANTINE_ARN)
        })
        .then_output(|| {
            aws_sdk_iam::operation::attach_user_policy::AttachUserPolicyOutput::builder().build()
        });
    let iam = AwsIam::new(client!(aws_sdk_iam, [&list, &attach]));
    assert_eq!(
        iam.attach_user_policy("mallory", QUARANTINE_ARN)
            .await
            .unwrap(),
        Change::Done
    );
    assert_eq!(attach.num_calls(), 1);
}

#[tokio::test]
async fn deleting_an_absent_login_profile_is_already() {
    let delete = mock!(aws_sdk_iam::Client::delete_login_profile)
        .sequence()
        .http_status(404, Some(iam_error("NoSuchEntity")))
        .build();
    let iam = AwsIam::new(client!(aws_sdk_iam, [&delete]));
    assert_eq!(
        iam.delete_login_profile("mallory").await.unwrap(),
        Change::Already
    );
    assert_eq!(delete.num_calls(), 1);
}

fn keys_output() -> aws_sdk_iam::operation::list_access_keys::ListAccessKeysOutput {
    let key = |id: &str, status: aws_sdk_iam::types::StatusType| {
        aws_sdk_iam::types::AccessKeyMetadata::builder()
            .user_name("mallory")
            .access_key_id(id)
            .status(status)
            .build()
    };
    aws_sdk_iam::operation::list_access_keys::ListAccessKeysOutput::builder()
        .access_key_metadata(key(
            "AKIAACTIVE0000000001",
            aws_sdk_iam::types::StatusType::Active,
        ))
        .access_key_metadata(key(
            "AKIAINACTIVE00000002",
            aws_sdk_iam::types::StatusType::Inactive,
        ))
        .build()
        .unwrap()
}

#[tokio::test]
async fn deactivating_an_inactive_key_is_already_and_an_active_one_is_done() {
    let list = mock!(aws_sdk_iam::Client::list_access_keys).then_output(keys_output);
    let update = mock!(aws_sdk_iam::Client::update_access_key)
        .match_requests(|r| {
            r.access_key_id() == Some("AKIAACTIVE0000000001")
                && r.status() == Some(&aws_sdk_iam::types::StatusType::Inactive)
        })
        .then_output(|| {
            aws_sdk_iam::operation::update_access_key::UpdateAccessKeyOutput::builder().build()
        });
    let iam = AwsIam::new(client!(aws_sdk_iam, [&list, &update]));
    assert_eq!(
        iam.set_access_key_status("mallory", "AKIAINACTIVE00000002", KeyStatus::Inactive)
            .await
            .unwrap(),
        Change::Already
    );
    assert_eq!(update.num_calls(), 0);
    assert_eq!(
        iam.set_access_key_status("mallory", "AKIAACTIVE0000000001", KeyStatus::Inactive)
            .await
            .unwrap(),
        Change::Done
    );
    assert_eq!(update.num_calls(), 1);
    let missing = iam
        .set_access_key_status("mallory", "AKIANOPE", KeyStatus::Inactive)
        .await
        .unwrap_err();
    assert_eq!(missing.kind, PortErrorKind::NotFound);
}

#[tokio::test]
async fn access_keys_carry_their_last_use_looked_up_per_key() {
    let list = mock!(aws_sdk_iam::Client::list_access_keys).then_output(keys_output);
    let last_used =
        mock!(aws_sdk_iam::Client::get_access_key_last_used).then_compute_output(|req| {
            let used = req.access_key_id() == Some("AKIAACTIVE0000000001");
            let mut last = aws_sdk_iam::types::AccessKeyLastUsed::builder();
            last = if used {
                last.last_used_date(aws_smithy_types::DateTime::from_secs(1_700_000_100))
                    .service_name("s3")
                    .region("eu-west-1")
            } else {
                last.service_name("N/A").region("N/A")
            };
            aws_sdk_iam::operation::get_access_key_last_used::GetAccessKeyLastUsedOutput::builder()
                .user_name("mallory")
                .access_key_last_used(last.build().unwrap())
                .build()
        });
    let iam = AwsIam::new(client!(aws_sdk_iam, [&list, &last_used]));
    let keys = iam.access_keys("mallory").await.unwrap();
    assert_eq!(last_used.num_calls(), 2);
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].id, "AKIAACTIVE0000000001");
    assert_eq!(keys[0].status, KeyStatus::Active);
    assert_eq!(keys[0].last_used_at.unwrap().timestamp(), 1_700_000_100);
    assert_eq!(keys[0].last_used_service.as_deref(), Some("s3"));
    assert_eq!(keys[0].last_used_region.as_deref(), Some("eu-west-1"));
    assert_eq!(keys[1].status, KeyStatus::Inactive);
    assert_eq!(
        (keys[1].last_used_at, keys[1].last_used_service.as_deref()),
        (None, None)
    );
}

#[tokio::test]
async fn putting_the_same_revocation_policy_again_is_already() {
    let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]});
    let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Deny%22%2C%22Action%22%3A%22%2A%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D";
    let get = mock!(aws_sdk_iam::Client::get_role_policy).then_output(move || {
        aws_sdk_iam::operation::get_role_policy::GetRolePolicyOutput::builder()
            .role_name("app")
            .policy_name("cordon-revoke-sessions")
            .policy_document(encoded)
            .build()
            .unwrap()
    });
    let put = mock!(aws_sdk_iam::Client::put_role_policy).then_output(|| {
        aws_sdk_iam::operation::put_role_policy::PutRolePolicyOutput::builder().build()
    });
    let iam = AwsIam::new(client!(aws_sdk_iam, [&get, &put]));
    assert_eq!(
        iam.put_role_policy("app", "cordon-revoke-sessions", &doc)
            .await
            .unwrap(),
        Change::Already
    );
    assert_eq!(put.num_calls(), 0);
    let other = json!({"Version": "2012-10-17", "Statement": []});
    assert_eq!(
        iam.put_role_policy("app", "cordon-revoke-sessions", &other)
            .await
            .unwrap(),
        Change::Done
    );
    assert_eq!(put.num_calls(), 1);
}

// ------------------------------------------------------------------------------------------
// instance credentials: blast radius, IMDS options, the instance profile swap
// ------------------------------------------------------------------------------------------

const INSTANCE: &str = "i-0123456789abcdef0";
const WEB_PROFILE: &str = "arn:aws:iam::123456789012:instance-profile/web";
const QUARANTINE_PROFILE: &str =
    "arn:aws:iam::123456789012:instance-profile/cordon-quarantine-instance";

fn ec2_instance(
    id: &str,
    profile: Option<&str>,
    tags: &[(&str, &str)],
) -> aws_sdk_ec2::types::Instance {
    use aws_sdk_ec2::types::{
        HttpTokensState, IamInstanceProfile, Instance, InstanceMetadataEndpointState,
        InstanceMetadataOptionsResponse, InstanceState, InstanceStateName, Tag,
    };
    let mut i = Instance::builder()
        .instance_id(id)
        .state(
            InstanceState::builder()
                .name(InstanceStateName::Running)
                .build(),
        )
        .subnet_id("subnet-1")
        .metadata_options(
            InstanceMetadataOptionsResponse::builder()
                .http_tokens(HttpTokensState::Optional)
                .http_put_response_hop_limit(2)
                .http_endpoint(InstanceMetadataEndpointState::Disabled)
                .build(),
        );
    if let Some(arn) = profile {
        i = i.iam_instance_profile(IamInstanceProfile::builder().arn(arn).build());
    }
    for (k, v) in tags {
        i = i.tags(Tag::builder().key(*k).value(*v).build());
    }
    i.build()
}

fn reservation(
    instances: Vec<aws_sdk_ec2::types::Instance>,
) -> aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput {
    aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput::builder()
        .reservations(
            aws_sdk_ec2::types::Reservation::builder()
                .set_instances(Some(instances))
                .build(),
        )
        .build()
}

/// The filter `name`'s values in a DescribeInstances request.
fn filter_values<'a>(
    r: &'a aws_sdk_ec2::operation::describe_instances::DescribeInstancesInput,
    name: &str,
) -> Vec<&'a str> {
    r.filters()
        .iter()
        .filter(|f| f.name() == Some(name))
        .flat_map(|f| f.values())
        .map(String::as_str)
        .collect()
}

#[tokio::test]
async fn the_instance_carries_its_hop_limit_and_its_subnets_acl_entries() {
    use aws_sdk_ec2::types::{NetworkAcl, NetworkAclEntry, RuleAction};
    let describe = mock!(aws_sdk_ec2::Client::describe_instances)
        .then_output(|| reservation(vec![ec2_instance(INSTANCE, Some(WEB_PROFILE), &[])]));
    let acls = mock!(aws_sdk_ec2::Client::describe_network_acls)
        .match_requests(|r| {
            r.filters()
                .iter()
                .any(|f| f.name() == Some("association.subnet-id") && f.values() == ["subnet-1"])
        })
        .then_output(|| {
            let entry = |n: i32, egress: bool, action: RuleAction, cidr: Option<&str>| {
                NetworkAclEntry::builder()
                    .rule_number(n)
                    .egress(egress)
                    .rule_action(action)
                    .set_cidr_block(cidr.map(str::to_string))
                    .set_ipv6_cidr_block(cidr.is_none().then(|| "::/0".to_string()))
                    .build()
            };
            aws_sdk_ec2::operation::describe_network_acls::DescribeNetworkAclsOutput::builder()
                .network_acls(
                    NetworkAcl::builder()
                        .network_acl_id("acl-1")
                        .entries(entry(100, false, RuleAction::Allow, Some("0.0.0.0/0")))
                        .entries(entry(101, false, RuleAction::Allow, None))
                        .entries(entry(32767, true, RuleAction::Deny, Some("0.0.0.0/0")))
                        .build(),
                )
                .build()
        });
    let ec2 = AwsCompute::new(client!(aws_sdk_ec2, [&describe, &acls]));
    let facts = ec2.instance(INSTANCE).await.unwrap().unwrap();
    assert_eq!(facts.metadata_hop_limit, Some(2));
    assert_eq!(facts.metadata_http_tokens.as_deref(), Some("optional"));
    assert_eq!(facts.metadata_http_endpoint.as_deref(), Some("disabled"));
    assert_eq!(facts.network_acl_id.as_deref(), Some("acl-1"));
    let entries: Vec<(i32, bool, &str, Option<&str>)> = facts
        .network_acl_entries
        .iter()
        .map(|e| {
            (
                e.rule_number,
                e.egress,
                e.action.as_str(),
                e.cidr.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            (100, false, "allow", Some("0.0.0.0/0")),
            (101, false, "allow", None),
            (32767, true, "deny", Some("0.0.0.0/0")),
        ]
    );
}

#[tokio::test]
async fn instances_using_profiles_filters_running_ones_and_reads_every_page() {
    let first = mock!(aws_sdk_ec2::Client::describe_instances)
        .match_requests(|r| {
            r.next_token().is_none()
                && filter_values(r, "iam-instance-profile.arn") == [WEB_PROFILE]
                && filter_values(r, "instance-state-name") == ["pending", "running"]
        })
        .then_output(|| {
            let mut out = reservation(vec![
                ec2_instance(
                    "i-1",
                    Some(WEB_PROFILE),
                    &[("Name", "web-1"), ("aws:autoscaling:groupName", "web-asg")],
                ),
                ec2_instance("i-2", Some(WEB_PROFILE), &[]),
            ]);
            out.next_token = Some("page-2".into());
            out
        });
    let second = mock!(aws_sdk_ec2::Client::describe_instances)
        .match_requests(|r| {
            r.next_token() == Some("page-2")
                && filter_values(r, "iam-instance-profile.arn") == [WEB_PROFILE]
        })
        .then_output(|| reservation(vec![ec2_instance("i-3", Some(WEB_PROFILE), &[])]));
    let ec2 = AwsCompute::new(client!(aws_sdk_ec2, [&first, &second]));
    let used = ec2
        .instances_using_profiles(&[WEB_PROFILE.to_string()])
        .await
        .unwrap();
    let ids: Vec<&str> = used.iter().map(|u| u.instance_id.as_str()).collect();
    assert_eq!(ids, ["i-1", "i-2", "i-3"]);
    assert_eq!(used[0].name.as_deref(), Some("web-1"));
    assert_eq!(used[0].auto_scaling_group.as_deref(), Some("web-asg"));
    assert_eq!(used[0].state.as_deref(), Some("running"));
    assert_eq!(used[0].instance_profile_arn.as_deref(), Some(WEB_PROFILE));
    assert_eq!(used[1].name, None);
    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));

    // No profile, no call.
    assert!(ec2.instances_using_profiles(&[]).await.unwrap().is_empty());
    assert_eq!(first.num_calls(), 1);
}

#[tokio::test]
async fn more_profiles_than_a_filter_holds_are_asked_in_chunks_of_200() {
    let arns: Vec<String> = (0..250)
        .map(|n| format!("arn:aws:iam::123456789012:instance-profile/p{n}"))
        .collect();
    let big = mock!(aws_sdk_ec2::Client::describe_instances)
        .match_requests(|r| filter_values(r, "iam-instance-profile.arn").len() == 200)
        .then_output(|| reservation(vec![ec2_instance("i-1", None, &[])]));
    let rest = mock!(aws_sdk_ec2::Client::describe_instances)
        .match_requests(|r| {
            filter_values(r, "iam-instance-profile.arn")
                .first()
                .copied()
                == Some("arn:aws:iam::123456789012:instance-profile/p200")
                && filter_values(r, "iam-instance-profile.arn").len() == 50
        })
        .then_output(|| reservation(vec![ec2_instance("i-2", None, &[])]));
    let ec2 = AwsCompute::new(client!(aws_sdk_ec2, [&big, &rest]));
    let used = ec2.instances_using_profiles(&arns).await.unwrap();
    assert_eq!(used.len(), 2);
    assert_eq!((big.num_calls(), rest.num_calls()), (1, 1));
}

#[tokio::test]
async fn metadata_options_already_set_are_already_else_all_three_are_sent() {
    use aws_sdk_ec2::types::{HttpTokensState, InstanceMetadataEndpointState};
    let describe = mock!(aws_sdk_ec2::Client::describe_instances)
        .then_output(|| reservation(vec![ec2_instance(INSTANCE, None, &[])]));
    let modify = mock!(aws_sdk_ec2::Client::modify_instance_metadata_options)
        .match_requests(|r| {
            r.instance_id() == Some(INSTANCE)
                && r.http_tokens() == Some(&HttpTokensState::Required)
                && r.http_put_response_hop_limit() == Some(1)
                // the instance's own endpoint setting, not a default
                && r.http_endpoint() == Some(&InstanceMetadataEndpointState::Disabled)
        })
        .then_output(|| {
            aws_sdk_ec2::operation::modify_instance_metadata_options::ModifyInstanceMetadataOptionsOutput::builder().build()
        });
    let ec2 = AwsCompute::new(client!(aws_sdk_ec2, [&describe, &modify]));
    // The instance has optional / 2.
    assert_eq!(
        ec2.set_metadata_options(INSTANCE, "optional", 2)
            .await
            .unwrap(),
        Change::Already
    );
    assert_eq!(modify.num_calls(), 0);
    assert_eq!(
        ec2.set_metadata_options(INSTANCE, "required", 1)
            .await
            .unwrap(),
        Change::Done
    );
    assert_eq!(modify.num_calls(), 1);
}

#[tokio::test]
async fn metadata_options_of_a_missing_instance_are_not_found() {
    let describe = mock!(aws_sdk_ec2::Client::describe_instances)
        .sequence()
        .http_status(400, Some(ec2_error("InvalidInstanceID.NotFound")))
        .build();
    let ec2 = AwsCompute::new(client!(aws_sdk_ec2, [&describe]));
    let err = ec2
        .set_metadata_options(INSTANCE, "required", 1)
        .await
        .unwrap_err();
    assert_eq!(err.kind, PortErrorKind::NotFound);
    assert_eq!(err.operation, "ec2:ModifyInstanceMetadataOptions");
    assert!(err.message.contains(INSTANCE), "{}", err.message);
}

fn associations(
    profile: Option<&str>,
) -> aws_sdk_ec2::operation::describe_iam_instance_profile_associations::DescribeIamInstanceProfileAssociationsOutput{
    use aws_sdk_ec2::types::{
        IamInstanceProfile, IamInstanceProfileAssociation, IamInstanceProfileAssociationState,
    };
    let out = aws_sdk_ec2::operation::describe_iam_instance_profile_associations::DescribeIamInstanceProfileAssociationsOutput::builder();
    match profile {
        None => out.build(),
        Some(arn) => out
            .iam_instance_profile_associations(
                IamInstanceProfileAssociation::builder()
                    .association_id("iip-assoc-1")
                    .instance_id(INSTANCE)
                    .state(IamInstanceProfileAssociationState::Associated)
                    .iam_instance_profile(IamInstanceProfile::builder().arn(arn).build())
                    .build(),
            )
            .build(),
    }
}

macro_rules! describe_associations {
    ($profile:expr) => {
        mock!(aws_sdk_ec2::Client::describe_iam_instance_profile_associations)
            .match_requests(|r| {
                let values = |name: &str| -> Vec<&str> {
                    r.filters()
                        .iter()
                        .filter(|f| f.name() == Some(name))
                        .flat_map(|f| f.values())
                        .map(String::as_str)
                        .collect()
                };
                values("instance-id") == [INSTANCE] && values("state").contains(&"associated")
            })
            .then_output(move || associations($profile))
    };
}

fn replace_rule() -> aws_smithy_mocks::Rule {
    mock!(aws_sdk_ec2::Client::replace_iam_instance_profile_association)
        .match_requests(|r| {
            r.association_id() == Some("iip-assoc-1")
                && r.iam_instance_profile().and_then(|p| p.arn()) == Some(QUARANTINE_PROFILE)
        })
        .then_output(|| {
            aws_sdk_ec2::operation::replace_iam_instance_profile_association::ReplaceIamInstanceProfileAssociationOutput::builder().build()
        })
}

#[tokio::test]
async fn the_profile_swap_replaces_only_the_expected_profile() {
    // The instance has the role's profile: replaced.
    let describe = describe_associations!(Some(WEB_PROFILE));
    let replace = replace_rule();
    let ec2 = AwsCompute::new(client!(aws_sdk_ec2, [&describe, &replace]));
    assert_eq!(
        ec2.replace_instance_profile(INSTANCE, WEB_PROFILE, QUARANTINE_PROFILE)
            .await
            .unwrap(),
        Change::Done
    );
    assert_eq!(replace.num_calls(), 1);

    // It has the quarantine profile already: nothing to do.
    let describe = describe_associations!(Some(QUARANTINE_PROFILE));
    let replace = replace_rule();
    let ec2 = AwsCompute::new(client!(aws_sdk_ec2, [&describe, &replace]));
    assert_eq!(
        ec2.replace_instance_profile(INSTANCE, WEB_PROFILE, QUARANTINE_PROFILE)
            .await
            .unwrap(),
        Change::Already
    );
    assert_eq!(replace.num_calls(), 0);

    // Someone else's profile, or none: refused, nothing replaced.
    for (now, said) in [
        (
            Some("arn:aws:iam::123456789012:instance-profile/batch"),
            "has instance profile arn:aws:iam::123456789012:instance-profile/batch, not",
        ),
        (None, "has no instance profile, not"),
    ] {
        let describe = describe_associations!(now);
        let replace = replace_rule();
        let ec2 = AwsCompute::new(client!(aws_sdk_ec2, [&describe, &replace]));
        let err = ec2
            .replace_instance_profile(INSTANCE, WEB_PROFILE, QUARANTINE_PROFILE)
            .await
            .unwrap_err();
        assert_eq!(err.kind, PortErrorKind::Invalid);
        assert_eq!(err.operation, "ec2:ReplaceIamInstanceProfileAssociation");
        assert!(err.message.contains(said), "{}", err.message);
        assert!(
            err.message
                .ends_with("not replaced (changed since cordon looked)"),
            "{}",
            err.message
        );
        assert!(!err.message.contains('\n'));
        assert_eq!(replace.num_calls(), 0);
    }
}

#[tokio::test]
async fn a_refused_profile_swap_keeps_the_error_kind() {
    let describe = describe_associations!(Some(WEB_PROFILE));
    let replace = mock!(aws_sdk_ec2::Client::replace_iam_instance_profile_association)
        .sequence()
        .http_status(403, Some(ec2_error("UnauthorizedOperation")))
        .build();
    let ec2 = AwsCompute::new(client!(aws_sdk_ec2, [&describe, &replace]));
    let err = ec2
        .replace_instance_profile(INSTANCE, WEB_PROFILE, QUARANTINE_PROFILE)
        .await
        .unwrap_err();
    assert_eq!(err.kind, PortErrorKind::AccessDenied);
    assert_eq!(err.operation, "ec2:ReplaceIamInstanceProfileAssociation");
    assert_eq!(replace.num_calls(), 1);
}

#[tokio::test]
async fn the_roles_instance_profiles_are_read_across_pages_and_a_missing_role_has_none() {
    use aws_sdk_iam::operation::list_instance_profiles_for_role::ListInstanceProfilesForRoleOutput;
    use aws_sdk_iam::types::InstanceProfile;
    let profile = |name: &str| {
        InstanceProfile::builder()
            .instance_profile_name(name)
            .instance_profile_id(format!("AIPA{name}"))
            .arn(format!("arn:aws:iam::123456789012:instance-profile/{name}"))
            .path("/")
            .create_date(aws_smithy_types::DateTime::from_secs(1_700_000_000))
            .set_roles(Some(vec![]))
            .build()
            .unwrap()
    };
    let first = mock!(aws_sdk_iam::Client::list_instance_profiles_for_role)
        .match_requests(|r| r.role_name() == Some("web") && r.marker().is_none())
        .then_output(move || {
            ListInstanceProfilesForRoleOutput::builder()
                .instance_profiles(profile("web"))
                .is_truncated(true)
                .marker("m-2")
                .build()
                .unwrap()
        });
    let second = mock!(aws_sdk_iam::Client::list_instance_profiles_for_role)
        .match_requests(|r| r.role_name() == Some("web") && r.marker() == Some("m-2"))
        .then_output(move || {
            ListInstanceProfilesForRoleOutput::builder()
                .instance_profiles(profile("web-spot"))
                .is_truncated(false)
                .build()
                .unwrap()
        });
    let gone = mock!(aws_sdk_iam::Client::list_instance_profiles_for_role)
        .match_requests(|r| r.role_name() == Some("gone"))
        .sequence()
        .http_status(404, Some(iam_error("NoSuchEntity")))
        .build();
    let iam = AwsIam::new(client!(aws_sdk_iam, [&first, &second, &gone]));
    assert_eq!(
        iam.instance_profiles_for_role("web").await.unwrap(),
        [
            "arn:aws:iam::123456789012:instance-profile/web",
            "arn:aws:iam::123456789012:instance-profile/web-spot"
        ]
    );
    assert!(
        iam.instance_profiles_for_role("gone")
            .await
            .unwrap()
            .is_empty()
    );
}

// ------------------------------------------------------------------------------------------
// Security Hub (not in moto)
// ------------------------------------------------------------------------------------------

const GD_PRODUCT: &str = "arn:aws:securityhub:us-east-1::product/aws/guardduty";

fn annotate() -> SecurityHubUpdate {
    SecurityHubUpdate::AnnotateFinding {
        finding_id: "arn:aws:guardduty:us-east-1:123456789012:detector/d1/finding/f1".into(),
        product_arn: GD_PRODUCT.into(),
        note: "cordon quarantined mallory".into(),
        workflow_status: "NOTIFIED".into(),
        user_defined_fields: [("cordonIncident".to_string(), "f1".to_string())].into(),
    }
}

#[tokio::test]
async fn batch_update_findings_sends_the_note_workflow_and_fields() {
    let update = mock!(aws_sdk_securityhub::Client::batch_update_findings)
        .match_requests(|r| {
            let id = &r.finding_identifiers()[0];
            id.id() == Some("arn:aws:guardduty:us-east-1:123456789012:detector/d1/finding/f1")
                && id.product_arn() == Some(GD_PRODUCT)
                && r.note().and_then(|n| n.text()) == Some("cordon quarantined mallory")
                && r.note().and_then(|n| n.updated_by()) == Some("cordon")
                && r.workflow().and_then(|w| w.status()) == Some(&aws_sdk_securityhub::types::WorkflowStatus::Notified)
                && r.user_defined_fields().and_then(|f| f.get("cordonIncident")).map(String::as_str) == Some("f1")
        })
        .then_output(|| aws_sdk_securityhub::operation::batch_update_findings::BatchUpdateFindingsOutput::builder().build());
    let hub = AwsSecurityHub::new(client!(aws_sdk_securityhub, [&update]));
    hub.submit(&annotate()).await.unwrap();
    assert_eq!(update.num_calls(), 1);
}

#[tokio::test]
async fn an_unprocessed_finding_is_an_error() {
    let update = mock!(aws_sdk_securityhub::Client::batch_update_findings).then_output(|| {
        aws_sdk_securityhub::operation::batch_update_findings::BatchUpdateFindingsOutput::builder()
            .unprocessed_findings(
                aws_sdk_securityhub::types::BatchUpdateFindingsUnprocessedFinding::builder()
                    .error_code("FindingNotFound")
                    .error_message("no such finding")
                    .build(),
            )
            .build()
    });
    let hub = AwsSecurityHub::new(client!(aws_sdk_securityhub, [&update]));
    let err = hub.submit(&annotate()).await.unwrap_err();
    assert_eq!(err.kind, PortErrorKind::Invalid);
    assert!(
        err.message.contains("FindingNotFound: no such finding"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn security_hub_not_enabled_is_access_denied_kind_not_transient() {
    let update = mock!(aws_sdk_securityhub::Client::batch_update_findings)
        .sequence()
        .http_status(401, Some(json_error("InvalidAccessException")))
        .build();
    let hub = AwsSecurityHub::new(client!(aws_sdk_securityhub, [&update]));
    let err = hub.submit(&annotate()).await.unwrap_err();
    assert_ne!(err.kind, PortErrorKind::Transient);
    assert_eq!(update.num_calls(), 1);
}

fn asff() -> serde_json::Value {
    json!({
        "SchemaVersion": "2018-10-08",
        "Id": "cordon/ev-1",
        "ProductArn": "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default",
        "GeneratorId": "cordon-create-user",
        "AwsAccountId": "123456789012",
        "Types": ["TTPs/Persistence/CreateUser"],
        "CreatedAt": "2024-05-01T10:00:00Z",
        "UpdatedAt": "2024-05-01T10:00:05Z",
        "Severity": {"Label": "HIGH"},
        "Title": "Suspicious IAM user created: backdoor",
        "Description": "created by arn:aws:iam::123456789012:user/alice",
        "Resources": [{"Type": "AwsIamUser", "Id": "arn:aws:iam::123456789012:user/backdoor", "Partition": "aws", "Region": "us-east-1"}],
        "ProductFields": {"cordon/verdict": "quarantine"},
        "Workflow": {"Status": "NEW"},
        "RecordState": "ACTIVE"
    })
}

#[tokio::test]
async fn batch_import_findings_sends_the_typed_finding() {
    let import = mock!(aws_sdk_securityhub::Client::batch_import_findings)
        .match_requests(|r| {
            let f = &r.findings()[0];
            f.id() == Some("cordon/ev-1")
                && f.generator_id() == Some("cordon-create-user")
                && f.severity().and_then(|s| s.label()) == Some(&aws_sdk_securityhub::types::SeverityLabel::High)
                && f.resources()[0].r#type() == Some("AwsIamUser")
                && f.resources()[0].id() == Some("arn:aws:iam::123456789012:user/backdoor")
                && f.types() == ["TTPs/Persistence/CreateUser"]
                && f.product_fields().and_then(|p| p.get("cordon/verdict")).map(String::as_str) == Some("quarantine")
                && f.workflow().and_then(|w| w.status()) == Some(&aws_sdk_securityhub::types::WorkflowStatus::New)
        })
        .then_output(|| {
            aws_sdk_securityhub::operation::batch_import_findings::BatchImportFindingsOutput::builder()
                .failed_count(0)
                .success_count(1)
                .build()
        });
    let hub = AwsSecurityHub::new(client!(aws_sdk_securityhub, [&import]));
    hub.submit(&SecurityHubUpdate::ImportFinding { finding: asff() })
        .await
        .unwrap();
    assert_eq!(import.num_calls(), 1);
}

#[tokio::test]
async fn a_failed_import_and_a_malformed_finding_are_errors() {
    let import = mock!(aws_sdk_securityhub::Client::batch_import_findings).then_output(|| {
        aws_sdk_securityhub::operation::batch_import_findings::BatchImportFindingsOutput::builder()
            .failed_count(1)
            .success_count(0)
            .failed_findings(
                aws_sdk_securityhub::types::ImportFindingsError::builder()
                    .id("cordon/ev-1")
                    .error_code("InvalidInput")
                    .error_message("bad severity")
                    .build(),
            )
            .build()
    });
    let hub = AwsSecurityHub::new(client!(aws_sdk_securityhub, [&import]));
    let err = hub
        .submit(&SecurityHubUpdate::ImportFinding { finding: asff() })
        .await
        .unwrap_err();
    assert!(
        err.message.contains("InvalidInput: bad severity"),
        "{}",
        err.message
    );
    let mut bad = asff();
    bad.as_object_mut().unwrap().remove("Title");
    let err = hub
        .submit(&SecurityHubUpdate::ImportFinding { finding: bad })
        .await
        .unwrap_err();
    assert_eq!(err.kind, PortErrorKind::Invalid);
    assert_eq!(err.message, "ASFF finding lacks Title");
    assert_eq!(import.num_calls(), 1);
}

// ------------------------------------------------------------------------------------------
// Step Functions
// ------------------------------------------------------------------------------------------

const EXEC: &str = "arn:aws:states:us-east-1:123456789012:execution:cordon-incident-response:ev-1";

fn event(
    id: i64,
    ty: aws_sdk_sfn::types::HistoryEventType,
) -> aws_sdk_sfn::types::builders::HistoryEventBuilder {
    aws_sdk_sfn::types::HistoryEvent::builder()
        .id(id)
        .r#type(ty)
        .timestamp(aws_smithy_types::DateTime::from_secs(1_700_000_000 + id))
}

fn scheduled(id: i64, resource: &str, token: &str) -> aws_sdk_sfn::types::HistoryEvent {
    let params = json!({
        "FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:cordon-request-approval",
        "Payload": {"taskToken": token, "executionArn": EXEC, "state": {"incident": {"id": "ev-1"}}}
    });
    event(id, aws_sdk_sfn::types::HistoryEventType::TaskScheduled)
        .task_scheduled_event_details(
            aws_sdk_sfn::types::TaskScheduledEventDetails::builder()
                .resource_type("lambda")
                .resource(resource)
                .region("us-east-1")
                .parameters(params.to_string())
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

fn simple(id: i64, ty: aws_sdk_sfn::types::HistoryEventType) -> aws_sdk_sfn::types::HistoryEvent {
    event(id, ty).build().unwrap()
}

fn history(
    events: Vec<aws_sdk_sfn::types::HistoryEvent>,
    next: Option<&str>,
) -> aws_sdk_sfn::operation::get_execution_history::GetExecutionHistoryOutput {
    aws_sdk_sfn::operation::get_execution_history::GetExecutionHistoryOutput::builder()
        .set_events(Some(events))
        .set_next_token(next.map(str::to_string))
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_waiting_approval_task_is_found_across_pages_newest_first() {
    use aws_sdk_sfn::types::HistoryEventType as T;
    // Page 1 (newest first) ends before the approval task; page 2 has it, then an older,
    // already-completed enrich invoke that must not matter.
    let page1 = history(
        vec![simple(9, T::TaskSubmitted), simple(8, T::TaskStarted)],
        Some("page-2"),
    );
    let page2 = history(
        vec![
            scheduled(7, "invoke.waitForTaskToken", "TOKEN-7"),
            simple(6, T::TaskStateEntered),
            scheduled(3, "invoke", "x"),
        ],
        None,
    );
    let get = mock!(aws_sdk_sfn::Client::get_execution_history)
        .match_requests(|r| r.execution_arn() == Some(EXEC) && r.reverse_order() == Some(true))
        .sequence()
        .output(move || page1.clone())
        .output(move || page2.clone())
        .build();
    let sfn = AwsExecutions::new(client!(aws_sdk_sfn, [&get]));
    let pending = sfn.pending_approval(EXEC).await.unwrap().unwrap();
    assert_eq!(get.num_calls(), 2);
    assert_eq!(pending.task_token, "TOKEN-7");
    assert_eq!(pending.execution_arn, EXEC);
    assert_eq!(pending.input, json!({"incident": {"id": "ev-1"}}));
    assert_eq!(pending.requested_at.timestamp(), 1_700_000_007);
}

#[tokio::test]
async fn a_completed_approval_or_a_finished_execution_is_not_pending() {
    use aws_sdk_sfn::types::HistoryEventType as T;
    let succeeded = event(10, T::TaskSucceeded)
        .task_succeeded_event_details(
            aws_sdk_sfn::types::TaskSucceededEventDetails::builder()
                .resource_type("lambda")
                .resource("invoke.waitForTaskToken")
                .output("{}")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let completed = history(
        vec![
            simple(11, T::TaskStateExited),
            succeeded,
            scheduled(7, "invoke.waitForTaskToken", "T"),
        ],
        None,
    );
    let finished = history(
        vec![
            simple(20, T::ExecutionSucceeded),
            scheduled(7, "invoke.waitForTaskToken", "T"),
        ],
        None,
    );
    let never = history(
        vec![scheduled(3, "invoke", "x"), simple(1, T::ExecutionStarted)],
        None,
    );
    let get = mock!(aws_sdk_sfn::Client::get_execution_history)
        .sequence()
        .output(move || completed.clone())
        .output(move || finished.clone())
        .output(move || never.clone())
        .build();
    let sfn = AwsExecutions::new(client!(aws_sdk_sfn, [&get]));
    assert_eq!(sfn.pending_approval(EXEC).await.unwrap(), None);
    assert_eq!(sfn.pending_approval(EXEC).await.unwrap(), None);
    assert_eq!(sfn.pending_approval(EXEC).await.unwrap(), None);
}

#[tokio::test]
async fn an_unknown_execution_is_not_found_and_success_sends_the_output() {
    let get = mock!(aws_sdk_sfn::Client::get_execution_history)
        .sequence()
        .http_status(400, Some(json_error("ExecutionDoesNotExist")))
        .build();
    let send = mock!(aws_sdk_sfn::Client::send_task_success)
        .match_requests(|r| {
            r.task_token() == Some("TOKEN-7") && r.output() == Some("{\"decision\":\"approved\"}")
        })
        .then_output(|| {
            aws_sdk_sfn::operation::send_task_success::SendTaskSuccessOutput::builder().build()
        });
    let sfn = AwsExecutions::new(client!(aws_sdk_sfn, [&get, &send]));
    let err = sfn.pending_approval(EXEC).await.unwrap_err();
    assert_eq!(err.kind, PortErrorKind::NotFound);
    sfn.send_task_success("TOKEN-7", &json!({"decision": "approved"}))
        .await
        .unwrap();
    assert_eq!(send.num_calls(), 1);
}
