//! `AwsAccounts` and `AwsOrganization` against moto (with cordon's extension): changes land in
//! the incident's account only, a missing responder role is `MemberRoleUnavailable`, a
//! single-account deployment refuses other accounts, and OU ancestry is read up to the root.

use cordon_aws::{AwsAccounts, AwsOrganization};
use cordon_core::ports::{AccountError, Accounts, IamRead, IamWrite, Organization};
use cordon_core::{Deployment, PortErrorKind};
use cordon_moto::organization::{self as org, PRODUCTION_ACCOUNT, SANDBOX_ACCOUNT};
use cordon_moto::{ACCOUNT_ID, Moto, REGION};

const DENY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#;

async fn user_policies(iam: &aws_sdk_iam::Client, user: &str) -> Vec<String> {
    iam.list_attached_user_policies()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_string))
        .collect()
}

async fn setup_user(iam: &aws_sdk_iam::Client, account: &str) -> String {
    iam.create_user().user_name("alice").send().await.unwrap();
    iam.create_policy()
        .policy_name("cordon-quarantine-deny-all")
        .policy_document(DENY)
        .send()
        .await
        .unwrap();
    format!("arn:aws:iam::{account}:policy/cordon-quarantine-deny-all")
}

#[tokio::test]
async fn member_clients_act_in_the_member_account_only_and_a_missing_role_is_named() {
    let moto = Moto::start().unwrap();
    let home = moto.sdk_config().await;
    let o = org::create(&home).await.unwrap();
    assert_eq!(o.members[0].id, PRODUCTION_ACCOUNT);

    // The same user name in the security (home) account and in the member.
    let home_iam = aws_sdk_iam::Client::new(&home);
    setup_user(&home_iam, ACCOUNT_ID).await;
    let admin = org::config_in_account(&home, PRODUCTION_ACCOUNT, org::ACCESS_ROLE)
        .await
        .unwrap();
    let member_iam = aws_sdk_iam::Client::new(&admin);
    let member_policy = setup_user(&member_iam, PRODUCTION_ACCOUNT).await;

    let accounts = AwsAccounts::new(
        Deployment::Organization {
            home: ACCOUNT_ID.into(),
            member_role: "cordon-responder".into(),
        },
        &home,
    );
    // No responder role yet: a named failure, never the home account's clients.
    let err = accounts
        .open(PRODUCTION_ACCOUNT, REGION, "incident-1")
        .await
        .err()
        .expect("no role, no clients");
    match &err {
        AccountError::MemberRoleUnavailable {
            account, role_arn, ..
        } => {
            assert_eq!(account, PRODUCTION_ACCOUNT);
            assert_eq!(
                role_arn,
                &format!("arn:aws:iam::{PRODUCTION_ACCOUNT}:role/cordon-responder")
            );
        }
        other => panic!("expected MemberRoleUnavailable, got {other:?}"),
    }
    assert!(err.to_string().contains("infra/member.yaml"), "{err}");

    member_iam
        .create_role()
        .role_name("cordon-responder")
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#,
        )
        .send()
        .await
        .unwrap();
    let clients = accounts
        .open(PRODUCTION_ACCOUNT, REGION, "incident-1")
        .await
        .unwrap();
    assert_eq!(clients.account, PRODUCTION_ACCOUNT);
    let facts = clients.iam.user("alice").await.unwrap().unwrap();
    assert_eq!(
        facts.arn,
        format!("arn:aws:iam::{PRODUCTION_ACCOUNT}:user/alice")
    );
    clients
        .iam
        .attach_user_policy("alice", &member_policy)
        .await
        .unwrap();
    assert_eq!(
        user_policies(&member_iam, "alice").await,
        vec![member_policy]
    );
    assert!(
        user_policies(&home_iam, "alice").await.is_empty(),
        "the security account's alice must be untouched"
    );

    // The home account through the functions' own credentials.
    let own = accounts
        .open(ACCOUNT_ID, REGION, "incident-2")
        .await
        .unwrap();
    assert_eq!(
        own.iam.user("alice").await.unwrap().unwrap().arn,
        format!("arn:aws:iam::{ACCOUNT_ID}:user/alice")
    );

    // A single-account deployment never makes clients for another account.
    let single = AwsAccounts::new(
        Deployment::SingleAccount {
            home: ACCOUNT_ID.into(),
        },
        &home,
    );
    assert!(matches!(
        single.open(PRODUCTION_ACCOUNT, REGION, "incident-1").await,
        Err(AccountError::OutOfScope { .. })
    ));
}

#[tokio::test]
async fn ancestry_is_read_up_to_the_root_and_unreadable_without_delegation() {
    let moto = Moto::start().unwrap();
    let home = moto.sdk_config().await;
    let o = org::create(&home).await.unwrap();
    let organization = AwsOrganization::from_conf(&home);
    assert_eq!(
        organization.ancestry(PRODUCTION_ACCOUNT).await.unwrap(),
        Some(vec![
            org::PRODUCTION_OU.to_string(),
            org::WORKLOADS_OU.to_string(),
            o.root_id.clone()
        ])
    );
    assert_eq!(
        organization.ancestry(SANDBOX_ACCOUNT).await.unwrap(),
        Some(vec![org::SANDBOX_OU.to_string(), o.root_id.clone()])
    );
    assert_eq!(organization.ancestry("555555555555").await.unwrap(), None);

    org::revoke_delegation(&home).await.unwrap();
    // A warm function remembers what it read (for ANCESTRY_TTL)...
    assert!(
        organization
            .ancestry(PRODUCTION_ACCOUNT)
            .await
            .unwrap()
            .is_some()
    );
    // ...a fresh one finds Organizations unreadable.
    let err = AwsOrganization::from_conf(&home)
        .ancestry(PRODUCTION_ACCOUNT)
        .await
        .expect_err("no longer a delegated administrator");
    assert_eq!(err.kind, PortErrorKind::AccessDenied, "{err}");
}
