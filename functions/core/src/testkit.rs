//! Shared test fixtures: a policy, enrichments, cases.

use chrono::{DateTime, Utc};

use crate::model::*;
use crate::policy::Policy;

pub(crate) const ACCOUNT: &str = "123456789012";

pub(crate) fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The example policy's shape, plus a pattern for random-suffix service names.
pub(crate) const POLICY_JSON: &str = r#"{
  "protected": {
    "users": ["break-glass-*", "emergency-admin"],
    "roles": ["OrganizationAccountAccessRole", "legacy-role-?"],
    "arns": ["arn:aws:iam::*:user/protected/*"]
  },
  "trustedCreators": [
    "arn:aws:sts::*:assumed-role/terraform-deployer/*",
    "arn:aws:iam::*:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_IdentityAdmin_*"
  ],
  "suspiciousUserNamePatterns": [
    "^(admin|administrator|root|support|backup)[0-9]*$",
    "^(svc|service)-[a-z0-9]{6}$"
  ],
  "guardDuty": { "approvalThreshold": 4.0, "quarantineThreshold": 8.0 },
  "approval": {
    "timeoutSeconds": 3600,
    "default": "quarantine",
    "approvers": [
      "arn:aws:sts::*:assumed-role/AWSReservedSSO_SecurityResponder_*/*",
      "arn:aws:iam::123456789012:user/alice",
      "arn:aws:iam::123456789012:user/dev-bob",
      "arn:aws:iam::123456789012:user/identity-broker",
      "arn:aws:sts::123456789012:assumed-role/responder/*"
    ],
    "twoPersonRule": true
  },
  "containment": { "enforceImdsV2": false, "naclDenyRemoteIp": false },
  "dryRun": false
}"#;

pub(crate) fn policy() -> Policy {
    Policy::from_json(POLICY_JSON).unwrap()
}

pub(crate) fn user_facts(name: &str) -> UserFacts {
    UserFacts {
        name: name.into(),
        arn: format!("arn:aws:iam::{ACCOUNT}:user/{name}"),
        user_id: "AIDAEXAMPLE".into(),
        path: "/".into(),
        ..Default::default()
    }
}

pub(crate) fn user_enrichment(name: &str) -> Enrichment {
    Enrichment {
        exists: true,
        user: Some(user_facts(name)),
        ..Default::default()
    }
}

pub(crate) fn role_enrichment(name: &str) -> Enrichment {
    Enrichment {
        exists: true,
        role: Some(RoleFacts {
            name: name.into(),
            arn: format!("arn:aws:iam::{ACCOUNT}:role/{name}"),
            role_id: "AROAEXAMPLE".into(),
            path: "/".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Enrichment that fits the incident's subject.
pub(crate) fn enrichment_for(incident: &Incident) -> Enrichment {
    match &incident.subject {
        Subject::IamUser { name, .. } => user_enrichment(name),
        Subject::AssumedRole {
            role_name,
            instance_id: Some(instance),
            ..
        } => Enrichment {
            // An instance role used by the compromised instance alone.
            blast_radius: Some(blast_radius(role_name, instance, 0)),
            ..role_enrichment(role_name)
        },
        Subject::AssumedRole { role_name, .. } => role_enrichment(role_name),
        _ => Enrichment {
            exists: true,
            ..Default::default()
        },
    }
}

pub(crate) fn admin_policy() -> PolicyRef {
    PolicyRef {
        name: "AdministratorAccess".into(),
        arn: "arn:aws:iam::aws:policy/AdministratorAccess".into(),
    }
}

pub(crate) const WEB_PROFILE: &str = "arn:aws:iam::123456789012:instance-profile/web-app";

/// `role` on `instance` and `others` more running instances (in an Auto Scaling group).
pub(crate) fn blast_radius(role: &str, instance: &str, others: usize) -> BlastRadius {
    let used = std::iter::once(InstanceUse {
        instance_id: instance.into(),
        state: Some("running".into()),
        instance_profile_arn: Some(WEB_PROFILE.into()),
        ..Default::default()
    })
    .chain((1..=others).map(|n| InstanceUse {
        instance_id: format!("i-{n:017x}"),
        state: Some("running".into()),
        name: Some(format!("web-{n}")),
        auto_scaling_group: Some("web-asg".into()),
        instance_profile_arn: Some(WEB_PROFILE.into()),
    }))
    .collect();
    crate::enrich::blast_radius(role, "us-east-1", vec![WEB_PROFILE.into()], used, instance)
}
