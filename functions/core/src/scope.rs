//! Which account an incident is about, and whether this deployment may act there.
//!
//! The account comes from the payload ([`crate::parse`]), never from the EventBridge envelope.
//! A single-account deployment covers only its own account: an incident about any other
//! account is out of scope (notify, nothing looked up or changed anywhere). An organization
//! deployment covers the accounts the policy's `organization` section includes, with their
//! OU ancestry read from AWS Organizations; if Organizations cannot be read, nothing is
//! covered (fail closed).

use serde::{Deserialize, Serialize};

use crate::policy::Policy;
use crate::ports::{Organization, PortError};

/// How cordon is deployed, read once at init (`CORDON_DEPLOYMENT`, `CORDON_HOME_ACCOUNT`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deployment {
    /// Covers only `home`, the account the stack runs in.
    SingleAccount { home: String },
    /// The central stack in `home` (the security account) covers the organization's accounts
    /// the policy includes, acting in each through its `member_role`.
    Organization { home: String, member_role: String },
}

impl Deployment {
    /// The account the stack runs in.
    pub fn home(&self) -> &str {
        match self {
            Deployment::SingleAccount { home } | Deployment::Organization { home, .. } => home,
        }
    }

    /// `single-account` or `organization`, as `CORDON_DEPLOYMENT` spells it.
    pub fn mode(&self) -> &'static str {
        match self {
            Deployment::SingleAccount { .. } => "single-account",
            Deployment::Organization { .. } => "organization",
        }
    }
}

/// How cordon reaches a covered account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// The functions' own credentials: the account the stack runs in.
    Home,
    /// The account's `cordon-responder` role, assumed for the incident.
    MemberRole,
}

/// Why an account is out of scope (the classification reason's rule).
pub const OTHER_ACCOUNT: &str = "other-account";
pub const ACCOUNT_NOT_COVERED: &str = "account-not-covered";
pub const NOT_IN_ORGANIZATION: &str = "not-in-organization";
pub const ORGANIZATIONS_UNREADABLE: &str = "organizations-unreadable";
pub const POLICY_UNAVAILABLE: &str = "policy-unavailable";

/// Whether cordon may look up and change anything for an incident, recorded in the case
/// file (`enrichment.scope`) so the auditor sees why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scope {
    /// The account the incident is about (from the payload).
    pub account: String,
    /// The account cordon runs in.
    pub home_account: String,
    /// `single-account` or `organization`.
    pub deployment: String,
    pub covered: bool,
    /// How cordon reaches the account, when covered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<Access>,
    /// When not covered: [`OTHER_ACCOUNT`], [`ACCOUNT_NOT_COVERED`], [`NOT_IN_ORGANIZATION`],
    /// [`ORGANIZATIONS_UNREADABLE`] or [`POLICY_UNAVAILABLE`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Why, in a sentence a responder reads.
    pub detail: String,
    /// The account's parents up to the organization root (organization mode).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ancestry: Vec<String>,
}

impl Scope {
    fn covered(d: &Deployment, account: &str, detail: String, ancestry: Vec<String>) -> Scope {
        Scope {
            account: account.to_string(),
            home_account: d.home().to_string(),
            deployment: d.mode().to_string(),
            covered: true,
            access: Some(if account == d.home() {
                Access::Home
            } else {
                Access::MemberRole
            }),
            rule: None,
            detail,
            ancestry,
        }
    }

    fn out(
        d: &Deployment,
        account: &str,
        rule: &str,
        detail: String,
        ancestry: Vec<String>,
    ) -> Scope {
        Scope {
            account: account.to_string(),
            home_account: d.home().to_string(),
            deployment: d.mode().to_string(),
            covered: false,
            access: None,
            rule: Some(rule.to_string()),
            detail,
            ancestry,
        }
    }
}

/// Decide whether `account` is in scope. Reads Organizations (through the port) only in
/// organization mode. `Err` only for a transient failure (the caller retries); any other
/// failure to read Organizations is an out-of-scope answer ([`ORGANIZATIONS_UNREADABLE`]).
pub async fn assess<O: Organization>(
    deployment: &Deployment,
    policy: Option<&Policy>,
    account: &str,
    organization: &O,
) -> Result<Scope, PortError> {
    let d = deployment;
    match d {
        Deployment::SingleAccount { home } => Ok(if account == home {
            Scope::covered(
                d,
                account,
                format!("account {account} is the account cordon runs in"),
                Vec::new(),
            )
        } else {
            Scope::out(
                d,
                account,
                OTHER_ACCOUNT,
                format!(
                    "the incident is about account {account}, but this single-account deployment covers only {home}: \
                     nothing was looked up or changed in any account. To respond in {account}, deploy cordon in \
                     organization mode (DeploymentMode=organization, and infra/member.yaml in {account}) or a cordon stack in {account}"
                ),
                Vec::new(),
            )
        }),
        Deployment::Organization { .. } => {
            let Some(policy) = policy else {
                return Ok(Scope::out(
                    d,
                    account,
                    POLICY_UNAVAILABLE,
                    "the response policy cannot be read, so which accounts are covered is unknown: nothing was looked up or changed".into(),
                    Vec::new(),
                ));
            };
            let ancestry = match organization.ancestry(account).await {
                Ok(Some(a)) => a,
                Ok(None) => {
                    return Ok(Scope::out(
                        d,
                        account,
                        NOT_IN_ORGANIZATION,
                        format!(
                            "account {account} is not a member of the organization: nothing was looked up or changed"
                        ),
                        Vec::new(),
                    ));
                }
                Err(e) if e.is_transient() => return Err(e),
                Err(e) => {
                    return Ok(Scope::out(
                        d,
                        account,
                        ORGANIZATIONS_UNREADABLE,
                        format!(
                            "AWS Organizations could not be read ({e}), so whether account {account} is covered is unknown: \
                             nothing was looked up or changed (fail closed). Give the central stack read access to Organizations \
                             (see infra/README.md, Organization deployment)"
                        ),
                        Vec::new(),
                    ));
                }
            };
            Ok(match policy.organization.coverage(account, &ancestry) {
                Ok(why) => Scope::covered(d, account, why, ancestry),
                Err(why) => Scope::out(
                    d,
                    account,
                    ACCOUNT_NOT_COVERED,
                    format!("{why}: nothing was looked up or changed"),
                    ancestry,
                ),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{PortErrorKind, PortResult};
    use crate::testkit::policy;
    use async_trait::async_trait;
    use futures::executor::block_on;
    use std::collections::HashMap;

    const HOME: &str = "123456789012";
    const MEMBER: &str = "999988887777";

    struct Org(Result<HashMap<String, Vec<String>>, PortError>);

    #[async_trait]
    impl Organization for Org {
        async fn ancestry(&self, account: &str) -> PortResult<Option<Vec<String>>> {
            match &self.0 {
                Ok(m) => Ok(m.get(account).cloned()),
                Err(e) => Err(e.clone()),
            }
        }
    }

    fn org_of(pairs: &[(&str, &[&str])]) -> Org {
        Org(Ok(pairs
            .iter()
            .map(|(a, p)| (a.to_string(), p.iter().map(|s| s.to_string()).collect()))
            .collect()))
    }

    fn organization() -> Deployment {
        Deployment::Organization {
            home: HOME.into(),
            member_role: "cordon-responder".into(),
        }
    }

    #[test]
    fn a_single_account_deployment_covers_its_own_account_only_and_never_reads_organizations() {
        let single = Deployment::SingleAccount { home: HOME.into() };
        // Organizations would fail: a single-account deployment must not ask.
        let org = Org(Err(PortError::new(
            PortErrorKind::AccessDenied,
            "organizations:ListParents",
            "no",
        )));
        let own = block_on(assess(&single, None, HOME, &org)).unwrap();
        assert!(own.covered);
        assert_eq!(own.access, Some(Access::Home));
        let other = block_on(assess(&single, None, MEMBER, &org)).unwrap();
        assert!(!other.covered);
        assert_eq!(other.rule.as_deref(), Some(OTHER_ACCOUNT));
        assert!(other.detail.contains(MEMBER) && other.detail.contains(HOME));
        assert!(other.detail.contains("infra/member.yaml"));
    }

    #[test]
    fn organization_coverage_follows_the_policy_with_ou_ancestry_and_exclusion_wins() {
        let mut p = policy();
        p.organization.include_accounts = vec![];
        p.organization.include_organizational_units = vec!["ou-root-workloads".into()];
        p.organization.exclude_organizational_units = vec!["ou-root-sandbox".into()];
        let org = org_of(&[
            (MEMBER, &["ou-root-prod", "ou-root-workloads", "r-root"]),
            (
                "111122223333",
                &["ou-root-sandbox", "ou-root-workloads", "r-root"],
            ),
            ("444455556666", &["r-root"]),
        ]);
        let d = organization();
        let member = block_on(assess(&d, Some(&p), MEMBER, &org)).unwrap();
        assert!(member.covered, "{member:?}");
        assert_eq!(member.access, Some(Access::MemberRole));
        assert!(
            member.detail.contains("ou-root-workloads"),
            "{}",
            member.detail
        );
        assert_eq!(member.ancestry.len(), 3);

        let sandbox = block_on(assess(&d, Some(&p), "111122223333", &org)).unwrap();
        assert!(!sandbox.covered);
        assert_eq!(sandbox.rule.as_deref(), Some(ACCOUNT_NOT_COVERED));
        assert!(sandbox.detail.contains("excludeOrganizationalUnits"));

        let outside_ou = block_on(assess(&d, Some(&p), "444455556666", &org)).unwrap();
        assert_eq!(outside_ou.rule.as_deref(), Some(ACCOUNT_NOT_COVERED));

        let stranger = block_on(assess(&d, Some(&p), "555555555555", &org)).unwrap();
        assert_eq!(stranger.rule.as_deref(), Some(NOT_IN_ORGANIZATION));

        p.organization.exclude_accounts = vec![MEMBER.into()];
        let excluded = block_on(assess(&d, Some(&p), MEMBER, &org)).unwrap();
        assert!(!excluded.covered);
        assert!(excluded.detail.contains("excludeAccounts"));
    }

    #[test]
    fn organizations_unreadable_fails_closed_and_throttling_is_retried() {
        let d = organization();
        let p = policy();
        let denied = Org(Err(PortError::new(
            PortErrorKind::AccessDenied,
            "organizations:ListParents",
            "AccessDeniedException: not the management account",
        )));
        let s = block_on(assess(&d, Some(&p), MEMBER, &denied)).unwrap();
        assert!(!s.covered);
        assert_eq!(s.rule.as_deref(), Some(ORGANIZATIONS_UNREADABLE));
        // the home account too: coverage is unknown for every account
        let home = block_on(assess(&d, Some(&p), HOME, &denied)).unwrap();
        assert!(!home.covered);

        let throttled = Org(Err(PortError::new(
            PortErrorKind::Transient,
            "organizations:ListParents",
            "TooManyRequestsException",
        )));
        assert!(block_on(assess(&d, Some(&p), MEMBER, &throttled)).is_err());

        let no_policy =
            block_on(assess(&d, None, MEMBER, &org_of(&[(MEMBER, &["r-root"])]))).unwrap();
        assert_eq!(no_policy.rule.as_deref(), Some(POLICY_UNAVAILABLE));
    }
}
