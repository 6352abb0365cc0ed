//! The IAM actions each function calls, each with the resource it is granted on and the
//! condition it is granted under — declared once, here. The SAM template's roles (actions,
//! resources, conditions, and the deployments they exist in) and the infra test (which scans
//! the adapters for `self.<client>.<operation>()`) are checked against this list, so a function
//! never runs with more (or fewer) rights than its code uses, nor on wider resources.

/// The six Lambda functions (their cargo packages, `Binary` names and `functions/` crates).
pub const FUNCTIONS: &[&str] = &[
    "enrich",
    "classify",
    "request-approval",
    "approve",
    "quarantine",
    "notify",
];

/// What an action is granted on: the kind of resource the role's statement names (the
/// template spells each kind as one ARN pattern; the member account's responder role names
/// EC2 resources of any region).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    /// `*`: the action has no resource-level permissions (EC2 `Describe*`, task tokens).
    Any,
    /// Any IAM user of the account.
    User,
    /// Any IAM role of the account.
    Role,
    /// The one role the quarantine instance profile carries (named by the
    /// `QuarantineInstanceProfileName` parameter), of the account.
    QuarantineInstanceRole,
    /// The responder role (`MemberRoleName`) of any account: the condition keeps it to the
    /// organization's.
    MemberResponderRole,
    /// The accounts and OUs of the organization (`OrganizationId`).
    OrganizationAccountsAndOus,
    /// Any EC2 instance of the account.
    Instance,
    /// Any network ACL of the account.
    NetworkAcl,
    /// The stack's approvals topic.
    ApprovalsTopic,
    /// The stack's alerts topic.
    AlertsTopic,
    /// The account's Security Hub hub, in any region.
    Hub,
    /// The account's default Security Hub product, in any region.
    DefaultProduct,
    /// The executions of the stack's incident-response state machine.
    StateMachineExecution,
    /// The response policy's parameter (`ResponsePolicyParameterName`).
    PolicyParameter,
}

/// The IAM condition a grant carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Condition {
    None,
    /// `iam:PolicyARN` is the stack's quarantine policy: attach (or detach) that policy only.
    QuarantinePolicyArn,
    /// `iam:PassedToService` is `ec2.amazonaws.com`: a role passed to EC2 only.
    PassedToEc2,
    /// `aws:ResourceOrgID` is the organization's: a role of the organization's accounts only.
    ResourceInOrganization,
}

/// In which deployments the grant exists (the template's conditions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum When {
    Always,
    /// Organization mode (`IsOrganization`).
    Organization,
    /// The response policy is kept in Parameter Store (`HasPolicyParameter`).
    PolicyParameter,
    /// There is a quarantine instance profile to swap in (`HasQuarantineInstanceProfile`).
    QuarantineInstanceProfile,
}

/// One action a function calls, on what, under which condition, in which deployments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Grant {
    pub action: &'static str,
    pub resource: Resource,
    pub condition: Condition,
    pub when: When,
}

/// `action` on `resource`, unconditionally, in every deployment.
const fn on(action: &'static str, resource: Resource) -> Grant {
    Grant {
        action,
        resource,
        condition: Condition::None,
        when: When::Always,
    }
}

impl Grant {
    const fn under(self, condition: Condition) -> Grant {
        Grant { condition, ..self }
    }

    const fn only(self, when: When) -> Grant {
        Grant { when, ..self }
    }
}

use Resource::*;

/// Reading the response policy, when it is kept in Parameter Store.
const READ_POLICY_PARAMETER: Grant =
    on("ssm:GetParameter", PolicyParameter).only(When::PolicyParameter);

/// Organization mode: the member account's `cordon-responder` role.
const ASSUME_MEMBER_ROLE: Grant = on("sts:AssumeRole", MemberResponderRole)
    .under(Condition::ResourceInOrganization)
    .only(When::Organization);

const ENRICH: &[Grant] = &[
    on("iam:GetUser", User),
    on("iam:ListUserTags", User),
    on("iam:ListAttachedUserPolicies", User),
    on("iam:ListUserPolicies", User),
    on("iam:ListGroupsForUser", User),
    on("iam:ListAccessKeys", User),
    on("iam:GetAccessKeyLastUsed", User),
    on("iam:GetLoginProfile", User),
    on("iam:ListMFADevices", User),
    on("iam:GetRole", Role),
    on("iam:ListRoleTags", Role),
    on("iam:ListAttachedRolePolicies", Role),
    on("iam:ListRolePolicies", Role),
    on("iam:GetRolePolicy", Role),
    // instance credentials: the profiles carrying the role, and the instances using them (what
    // revoking the role's sessions would interrupt)
    on("iam:ListInstanceProfilesForRole", Role),
    on("ec2:DescribeInstances", Any),
    on("ec2:DescribeNetworkAcls", Any),
    // organization mode: which OUs hold the incident's account (coverage), then the member
    // account's `cordon-responder` role for the lookups above
    on("organizations:ListParents", OrganizationAccountsAndOus).only(When::Organization),
    ASSUME_MEMBER_ROLE,
    READ_POLICY_PARAMETER,
];

/// No AWS call but reading the response policy, when it is kept in Parameter Store.
const CLASSIFY: &[Grant] = &[READ_POLICY_PARAMETER];

const REQUEST_APPROVAL: &[Grant] = &[
    on("sns:Publish", ApprovalsTopic),
    // a Security Hub finding the incident came from is marked NOTIFIED (Workflow.Status)
    // when a human is asked
    on("securityhub:BatchUpdateFindings", Hub),
];

const APPROVE: &[Grant] = &[
    on("states:GetExecutionHistory", StateMachineExecution),
    // task tokens have no resource-level permissions
    on("states:SendTaskSuccess", Any),
    READ_POLICY_PARAMETER,
];

const QUARANTINE: &[Grant] = &[
    // re-reading the subject right before acting (an approval may have waited an hour)
    on("iam:GetUser", User),
    on("iam:GetRole", Role),
    on("iam:ListAccessKeys", User),
    on("iam:GetAccessKeyLastUsed", User),
    on("iam:GetLoginProfile", User),
    // idempotency checks before each write
    on("iam:ListAttachedUserPolicies", User),
    on("iam:ListUserTags", User),
    on("iam:ListRoleTags", Role),
    on("iam:GetUserPolicy", User),
    on("iam:GetRolePolicy", Role),
    // the containment itself
    on("iam:AttachUserPolicy", User).under(Condition::QuarantinePolicyArn),
    on("iam:TagUser", User),
    on("iam:TagRole", Role),
    on("iam:UpdateAccessKey", User),
    on("iam:DeleteLoginProfile", User),
    on("iam:PutUserPolicy", User),
    on("iam:PutRolePolicy", Role),
    on("ec2:DescribeInstances", Any),
    on("ec2:ModifyInstanceMetadataOptions", Instance),
    on("ec2:DescribeNetworkAcls", Any),
    on("ec2:CreateNetworkAclEntry", NetworkAcl),
    // the instance profile swap: the quarantine profile in place of the compromised role's
    // (passing the quarantine profile's role, to EC2 only)
    on("ec2:DescribeIamInstanceProfileAssociations", Any),
    on("ec2:ReplaceIamInstanceProfileAssociation", Instance).only(When::QuarantineInstanceProfile),
    on("iam:PassRole", QuarantineInstanceRole)
        .under(Condition::PassedToEc2)
        .only(When::QuarantineInstanceProfile),
    // organization mode: the member account's `cordon-responder` role
    ASSUME_MEMBER_ROLE,
    READ_POLICY_PARAMETER,
];

const NOTIFY: &[Grant] = &[
    on("sns:Publish", AlertsTopic),
    on("securityhub:BatchUpdateFindings", Hub),
    on("securityhub:BatchImportFindings", DefaultProduct),
];

/// Not a Lambda function: what `cordon release` (run by a human with their own credentials)
/// calls through the same adapters to undo a quarantine. Declared so that every SDK call in
/// the adapters is accounted for, and for the member account's responder role, which releases
/// a member account's quarantine. The resources are what the operator's credentials need; no
/// role of the templates is checked against them (the member account's responder role is
/// checked to scope each action as the central roles do).
pub const RELEASE: &str = "release";

const RELEASE_GRANTS: &[Grant] = &[
    on("iam:ListAttachedUserPolicies", User),
    on("iam:DetachUserPolicy", User).under(Condition::QuarantinePolicyArn),
    on("iam:ListUserTags", User),
    on("iam:UntagUser", User),
    on("iam:ListRoleTags", Role),
    on("iam:UntagRole", Role),
    on("iam:ListAccessKeys", User),
    on("iam:UpdateAccessKey", User),
    on("iam:DeleteUserPolicy", User),
    on("iam:DeleteRolePolicy", Role),
    on("ec2:DescribeNetworkAcls", Any),
    on("ec2:DeleteNetworkAclEntry", NetworkAcl),
    // the instance's IMDS options as they were, and its own instance profile back in place of
    // the quarantine profile
    on("ec2:DescribeInstances", Any),
    on("ec2:ModifyInstanceMetadataOptions", Instance),
    on("ec2:DescribeIamInstanceProfileAssociations", Any),
    on("ec2:ReplaceIamInstanceProfileAssociation", Instance),
    // the instance's own role, passed back to EC2
    on("iam:PassRole", Role).under(Condition::PassedToEc2),
    // a member account's quarantine is released through its `cordon-responder` role
    ASSUME_MEMBER_ROLE,
];

/// What `function` (one of [`FUNCTIONS`], or [`RELEASE`]) is granted; empty for an unknown
/// name.
pub fn grants_for(function: &str) -> &'static [Grant] {
    match function {
        "enrich" => ENRICH,
        "classify" => CLASSIFY,
        "request-approval" => REQUEST_APPROVAL,
        "approve" => APPROVE,
        "quarantine" => QUARANTINE,
        "notify" => NOTIFY,
        RELEASE => RELEASE_GRANTS,
        _ => &[],
    }
}

/// The IAM actions `function` (one of [`FUNCTIONS`], or [`RELEASE`]) calls, in declaration
/// order; empty for an unknown name.
pub fn actions_for(function: &str) -> Vec<&'static str> {
    grants_for(function).iter().map(|g| g.action).collect()
}

/// The services whose actions a member account's `cordon-responder` role grants: the lookups
/// and changes made *in* the incident's account. Everything else (STS, Organizations, SNS,
/// Security Hub, Step Functions) is called from the central account.
pub const MEMBER_SERVICES: &[&str] = &["iam", "ec2"];

/// Exactly what the member account's `cordon-responder` role must grant: the IAM and EC2
/// actions of enrich, quarantine and release (the union, sorted).
pub fn member_role_actions() -> std::collections::BTreeSet<&'static str> {
    ["enrich", "quarantine", RELEASE]
        .iter()
        .flat_map(|f| grants_for(f).iter().map(|g| g.action))
        .filter(|a| {
            a.split_once(':')
                .is_some_and(|(service, _)| MEMBER_SERVICES.contains(&service))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_is_declared_and_actions_are_service_prefixed_and_unique() {
        assert_eq!(FUNCTIONS.len(), 6);
        for f in FUNCTIONS {
            let actions = actions_for(f);
            let mut seen = std::collections::BTreeSet::new();
            for a in actions {
                let (service, op) = a.split_once(':').expect("service:Action");
                assert!(
                    [
                        "iam",
                        "ec2",
                        "sns",
                        "securityhub",
                        "states",
                        "sts",
                        "organizations",
                        "ssm"
                    ]
                    .contains(&service),
                    "{a}"
                );
                assert!(op.chars().next().unwrap().is_ascii_uppercase(), "{a}");
                assert!(seen.insert(a), "{f}: {a} twice");
            }
        }
        assert_eq!(actions_for("classify"), &["ssm:GetParameter"]);
        assert_eq!(
            actions_for("approve"),
            &[
                "states:GetExecutionHistory",
                "states:SendTaskSuccess",
                "ssm:GetParameter"
            ]
        );
        assert!(actions_for("quarantine").contains(&"iam:AttachUserPolicy"));
        for a in [
            "ec2:DescribeIamInstanceProfileAssociations",
            "ec2:ReplaceIamInstanceProfileAssociation",
            "iam:PassRole",
            "ec2:ModifyInstanceMetadataOptions",
        ] {
            assert!(actions_for("quarantine").contains(&a), "{a}");
            assert!(actions_for(RELEASE).contains(&a), "{a}");
        }
        assert!(actions_for("enrich").contains(&"iam:ListInstanceProfilesForRole"));
        // enrich only reads (assuming the member role is how it reads there)
        for a in actions_for("enrich")
            .iter()
            .filter(|a| !["sts:AssumeRole", "ssm:GetParameter"].contains(a))
        {
            let op = a.split_once(':').unwrap().1;
            assert!(
                ["Get", "List", "Describe"]
                    .iter()
                    .any(|p| op.starts_with(p)),
                "{a}"
            );
        }
        assert!(actions_for("nope").is_empty());
    }

    #[test]
    fn writes_are_scoped_and_only_calls_without_resource_level_permissions_are_on_any() {
        for f in FUNCTIONS.iter().chain(&[RELEASE]) {
            let mut seen = std::collections::BTreeSet::new();
            for g in grants_for(f) {
                assert!(seen.insert(g.action), "{f}: {} declared twice", g.action);
                let op = g.action.split_once(':').unwrap().1;
                if g.resource == Resource::Any {
                    assert!(
                        op.starts_with("Describe") || g.action == "states:SendTaskSuccess",
                        "{f}: {} on any resource",
                        g.action
                    );
                }
                assert_eq!(
                    g.action == "iam:PassRole",
                    g.condition == Condition::PassedToEc2,
                    "{f}: {}",
                    g.action
                );
                assert_eq!(
                    matches!(g.action, "iam:AttachUserPolicy" | "iam:DetachUserPolicy"),
                    g.condition == Condition::QuarantinePolicyArn,
                    "{f}: {}",
                    g.action
                );
            }
        }
        let pass = grants_for("quarantine")
            .iter()
            .find(|g| g.action == "iam:PassRole")
            .unwrap();
        assert_eq!(pass.resource, Resource::QuarantineInstanceRole);
        assert_eq!(pass.when, When::QuarantineInstanceProfile);
        assert!(grants_for("nope").is_empty());
    }

    #[test]
    fn the_member_role_grants_iam_and_ec2_of_enrich_quarantine_and_release_only() {
        let member = member_role_actions();
        assert!(member.contains("iam:AttachUserPolicy"));
        assert!(member.contains("iam:GetUser"));
        assert!(member.contains("ec2:DeleteNetworkAclEntry"));
        assert!(member.contains("iam:ListInstanceProfilesForRole"));
        assert!(member.contains("ec2:ReplaceIamInstanceProfileAssociation"));
        assert!(member.contains("iam:PassRole"));
        assert!(!member.contains("sts:AssumeRole"));
        assert!(!member.contains("organizations:ListParents"));
        assert!(!member.iter().any(|a| a.starts_with("sns:")));
    }
}
