//! An AWS organization inside moto, shaped like the ones cordon covers: a management account,
//! the security account (the one the offline stack runs in, [`crate::ACCOUNT_ID`], registered
//! as delegated administrator) and two member accounts in an OU tree:
//!
//! ```text
//! Root
//! ├── Security        123456789012  security (cordon's central stack)
//! ├── Workloads
//! │   └── Production  210987654321  payments-prod
//! └── Sandbox         345678901234  sandbox-dev
//! management account  111111111111 (at the root)
//! ```
//!
//! Ids are fixed (cordon's moto extension honours `cordon:offline-*-id` tags) so that a
//! policy can name accounts and OUs before the organization exists.

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;

use crate::ACCOUNT_ID;

pub const MANAGEMENT_ACCOUNT: &str = "111111111111";
pub const SECURITY_ACCOUNT: &str = ACCOUNT_ID;
pub const PRODUCTION_ACCOUNT: &str = "210987654321";
pub const SANDBOX_ACCOUNT: &str = "345678901234";
pub const SECURITY_OU: &str = "ou-c0rd-security";
pub const WORKLOADS_OU: &str = "ou-c0rd-workload";
pub const PRODUCTION_OU: &str = "ou-c0rd-prodwork";
pub const SANDBOX_OU: &str = "ou-c0rd-sandbox1";

/// The role AWS creates in every account made through Organizations; how the management
/// account (and the offline stack's setup) reaches each account.
pub const ACCESS_ROLE: &str = "OrganizationAccountAccessRole";

/// One account of the offline organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub name: String,
    /// Its parents up to the root, nearest first.
    pub ancestry: Vec<String>,
}

/// What [`create`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: String,
    pub root_id: String,
    pub management: String,
    pub security: String,
    /// The two member accounts (production, then sandbox).
    pub members: Vec<Account>,
}

#[derive(Debug, thiserror::Error)]
#[error("creating the offline organization ({step}): {message}")]
pub struct OrganizationError {
    pub step: String,
    pub message: String,
}

fn err<E: std::error::Error>(step: &'static str) -> impl FnOnce(E) -> OrganizationError {
    move |e| OrganizationError {
        step: step.to_string(),
        message: aws_smithy_types::error::display::DisplayErrorContext(e).to_string(),
    }
}

/// SDK configuration acting in `account` through `role` (assumed with `base`'s credentials).
pub async fn config_in_account(
    base: &SdkConfig,
    account: &str,
    role: &str,
) -> Result<SdkConfig, OrganizationError> {
    let sts = aws_sdk_sts::Client::new(base);
    let out = sts
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/{role}"))
        .role_session_name("cordon-offline-setup")
        .send()
        .await
        .map_err(err("sts:AssumeRole"))?;
    let c = out.credentials().ok_or_else(|| OrganizationError {
        step: "sts:AssumeRole".into(),
        message: "no credentials".into(),
    })?;
    let creds = Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        "cordon-offline-setup",
    );
    Ok(base
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(creds))
        .build())
}

/// Create the organization described in this module's documentation in the moto that `base`
/// reaches.
pub async fn create(base: &SdkConfig) -> Result<Organization, OrganizationError> {
    use aws_sdk_organizations::types::{OrganizationFeatureSet, Tag};
    let management = config_in_account(base, MANAGEMENT_ACCOUNT, ACCESS_ROLE).await?;
    let orgs = aws_sdk_organizations::Client::new(&management);
    let org = orgs
        .create_organization()
        .feature_set(OrganizationFeatureSet::All)
        .send()
        .await
        .map_err(err("organizations:CreateOrganization"))?;
    let org_id = org
        .organization()
        .and_then(|o| o.id())
        .unwrap_or_default()
        .to_string();
    let roots = orgs
        .list_roots()
        .send()
        .await
        .map_err(err("organizations:ListRoots"))?;
    let root_id = roots
        .roots()
        .first()
        .and_then(|r| r.id())
        .unwrap_or_default()
        .to_string();
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().unwrap();
    for (parent, id, name) in [
        (root_id.as_str(), SECURITY_OU, "Security"),
        (root_id.as_str(), WORKLOADS_OU, "Workloads"),
        (WORKLOADS_OU, PRODUCTION_OU, "Production"),
        (root_id.as_str(), SANDBOX_OU, "Sandbox"),
    ] {
        orgs.create_organizational_unit()
            .parent_id(parent)
            .name(name)
            .tags(tag("cordon:offline-ou-id", id))
            .send()
            .await
            .map_err(err("organizations:CreateOrganizationalUnit"))?;
    }
    let mut members = Vec::new();
    for (id, name, ou) in [
        (SECURITY_ACCOUNT, "security", SECURITY_OU),
        (PRODUCTION_ACCOUNT, "payments-prod", PRODUCTION_OU),
        (SANDBOX_ACCOUNT, "sandbox-dev", SANDBOX_OU),
    ] {
        orgs.create_account()
            .account_name(name)
            .email(format!("{name}@example.com"))
            .tags(tag("cordon:offline-account-id", id))
            .send()
            .await
            .map_err(err("organizations:CreateAccount"))?;
        orgs.move_account()
            .account_id(id)
            .source_parent_id(&root_id)
            .destination_parent_id(ou)
            .send()
            .await
            .map_err(err("organizations:MoveAccount"))?;
        let mut ancestry = vec![ou.to_string()];
        if ou == PRODUCTION_OU {
            ancestry.push(WORKLOADS_OU.to_string());
        }
        ancestry.push(root_id.clone());
        if id != SECURITY_ACCOUNT {
            members.push(Account {
                id: id.to_string(),
                name: name.to_string(),
                ancestry,
            });
        }
    }
    // GuardDuty's delegated administrator, as AWS recommends; Organizations lets it read
    // the OU tree (cordon's coverage).
    orgs.register_delegated_administrator()
        .account_id(SECURITY_ACCOUNT)
        .service_principal("guardduty.amazonaws.com")
        .send()
        .await
        .map_err(err("organizations:RegisterDelegatedAdministrator"))?;
    Ok(Organization {
        id: org_id,
        root_id,
        management: MANAGEMENT_ACCOUNT.to_string(),
        security: SECURITY_ACCOUNT.to_string(),
        members,
    })
}

/// Withdraw the security account's delegated administration: Organizations is then
/// unreadable from it (as in an organization that never delegated it).
pub async fn revoke_delegation(base: &SdkConfig) -> Result<(), OrganizationError> {
    let management = config_in_account(base, MANAGEMENT_ACCOUNT, ACCESS_ROLE).await?;
    aws_sdk_organizations::Client::new(&management)
        .deregister_delegated_administrator()
        .account_id(SECURITY_ACCOUNT)
        .service_principal("guardduty.amazonaws.com")
        .send()
        .await
        .map_err(err("organizations:DeregisterDelegatedAdministrator"))?;
    Ok(())
}
