//! The IAM actions each function calls — declared once, here. The SAM template's policies and
//! the infra test (which scans the adapters for `self.<client>.<operation>()`) are checked
//! against this list, so a function never runs with more (or fewer) rights than its code uses.

/// The six Lambda functions.
pub const FUNCTIONS: &[&str] = &[
    "enrich",
    "classify",
    "request-approval",
    "approve",
    "quarantine",
    "notify",
];

const ENRICH: &[&str] = &[
    "iam:GetUser",
    "iam:ListUserTags",
    "iam:ListAttachedUserPolicies",
    "iam:ListUserPolicies",
    "iam:ListGroupsForUser",
    "iam:ListAccessKeys",
    "iam:GetAccessKeyLastUsed",
    "iam:GetLoginProfile",
    "iam:ListMFADevices",
    "iam:GetRole",
    "iam:ListRoleTags",
    "iam:ListAttachedRolePolicies",
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    // instance credentials: the profiles carrying the role, and the instances using them (what
    // revoking the role's sessions would interrupt)
    "iam:ListInstanceProfilesForRole",
    "ec2:DescribeInstances",
    "ec2:DescribeNetworkAcls",
    // organization mode: which OUs hold the incident's account (coverage), then the member
    // account's `cordon-responder` role for the lookups above
    "organizations:ListParents",
    "sts:AssumeRole",
    // the response policy, when it is kept in Parameter Store
    "ssm:GetParameter",
];

/// No AWS call but reading the response policy, when it is kept in Parameter Store.
const CLASSIFY: &[&str] = &["ssm:GetParameter"];

const REQUEST_APPROVAL: &[&str] = &[
    "sns:Publish",
    // a Security Hub finding the incident came from is marked NOTIFIED (Workflow.Status)
    // when a human is asked
    "securityhub:BatchUpdateFindings",
];

const APPROVE: &[&str] = &[
    "states:GetExecutionHistory",
    "states:SendTaskSuccess",
    "ssm:GetParameter",
];

const QUARANTINE: &[&str] = &[
    // re-reading the subject right before acting (an approval may have waited an hour)
    "iam:GetUser",
    "iam:GetRole",
    "iam:ListAccessKeys",
    "iam:GetAccessKeyLastUsed",
    "iam:GetLoginProfile",
    // idempotency checks before each write
    "iam:ListAttachedUserPolicies",
    "iam:ListUserTags",
    "iam:ListRoleTags",
    "iam:GetUserPolicy",
    "iam:GetRolePolicy",
    // the containment itself
    "iam:AttachUserPolicy",
    "iam:TagUser",
    "iam:TagRole",
    "iam:UpdateAccessKey",
    "iam:DeleteLoginProfile",
    "iam:PutUserPolicy",
    "iam:PutRolePolicy",
    "ec2:DescribeInstances",
    "ec2:ModifyInstanceMetadataOptions",
    "ec2:DescribeNetworkAcls",
    "ec2:CreateNetworkAclEntry",
    // the instance profile swap: the quarantine profile in place of the compromised role's
    // (passing the quarantine profile's role, to EC2 only)
    "ec2:DescribeIamInstanceProfileAssociations",
    "ec2:ReplaceIamInstanceProfileAssociation",
    "iam:PassRole",
    // organization mode: the member account's `cordon-responder` role
    "sts:AssumeRole",
    // the response policy, when it is kept in Parameter Store
    "ssm:GetParameter",
];

const NOTIFY: &[&str] = &[
    "sns:Publish",
    "securityhub:BatchUpdateFindings",
    "securityhub:BatchImportFindings",
];

/// Not a Lambda function: what `cordon release` (run by a human with their own credentials)
/// calls through the same adapters to undo a quarantine. Declared so that every SDK call in
/// the adapters is accounted for.
pub const RELEASE: &str = "release";

const RELEASE_ACTIONS: &[&str] = &[
    "iam:ListAttachedUserPolicies",
    "iam:DetachUserPolicy",
    "iam:ListUserTags",
    "iam:UntagUser",
    "iam:ListRoleTags",
    "iam:UntagRole",
    "iam:ListAccessKeys",
    "iam:UpdateAccessKey",
    "iam:DeleteUserPolicy",
    "iam:DeleteRolePolicy",
    "ec2:DescribeNetworkAcls",
    "ec2:DeleteNetworkAclEntry",
    // the instance's IMDS options as they were, and its own instance profile back in place of
    // the quarantine profile
    "ec2:DescribeInstances",
    "ec2:ModifyInstanceMetadataOptions",
    "ec2:DescribeIamInstanceProfileAssociations",
    "ec2:ReplaceIamInstanceProfileAssociation",
    "iam:PassRole",
    // a member account's quarantine is released through its `cordon-responder` role
    "sts:AssumeRole",
];

/// The services whose actions a member account's `cordon-responder` role grants: the lookups
/// and changes made *in* the incident's account. Everything else (STS, Organizations, SNS,
/// Security Hub, Step Functions) is called from the central account.
pub const MEMBER_SERVICES: &[&str] = &["iam", "ec2"];

/// Exactly what the member account's `cordon-responder` role must grant: the IAM and EC2
/// actions of enrich, quarantine and release (the union, sorted).
pub fn member_role_actions() -> std::collections::BTreeSet<&'static str> {
    ["enrich", "quarantine", RELEASE]
        .iter()
        .flat_map(|f| actions_for(f).iter().copied())
        .filter(|a| {
            a.split_once(':')
                .is_some_and(|(service, _)| MEMBER_SERVICES.contains(&service))
        })
        .collect()
}

/// The IAM actions `function` (one of [`FUNCTIONS`], or [`RELEASE`]) calls; empty for an
/// unknown name.
pub fn actions_for(function: &str) -> &'static [&'static str] {
    match function {
        "enrich" => ENRICH,
        "classify" => CLASSIFY,
        "request-approval" => REQUEST_APPROVAL,
        "approve" => APPROVE,
        "quarantine" => QUARANTINE,
        "notify" => NOTIFY,
        RELEASE => RELEASE_ACTIONS,
        _ => &[],
    }
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
