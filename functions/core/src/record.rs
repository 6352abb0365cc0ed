//! The quarantine record as tags on the principal.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::model::{PrincipalRef, QuarantineRecord, Tags};

pub const TAG_SECURITY_STATUS: &str = "SecurityStatus";
pub const SECURITY_STATUS_QUARANTINED: &str = "Quarantined";
pub const TAG_REASON: &str = "QuarantineReason";
pub const TAG_TIME: &str = "QuarantineTime";
pub const TAG_INCIDENT: &str = "QuarantineIncident";
pub const TAG_ATTACHED_POLICY: &str = "CordonAttachedPolicy";
pub const TAG_DEACTIVATED_KEYS: &str = "CordonDeactivatedKeys";
pub const TAG_LOGIN_PROFILE_DELETED: &str = "CordonLoginProfileDeleted";
pub const TAG_REVOCATION_POLICY: &str = "CordonRevocationPolicy";
pub const TAG_IMDSV2_ENFORCED_ON: &str = "CordonImdsV2EnforcedOn";
pub const TAG_NACL_ENTRY: &str = "CordonNaclEntry";
pub const TAG_IMDS_BEFORE: &str = "CordonImdsBefore";
pub const TAG_PROFILE_SWAP: &str = "CordonProfileSwap";
pub const TAG_INSTANCE_REGION: &str = "CordonInstanceRegion";

/// Every tag key cordon may write (what release removes).
pub const ALL_TAG_KEYS: [&str; 13] = [
    TAG_SECURITY_STATUS,
    TAG_REASON,
    TAG_TIME,
    TAG_INCIDENT,
    TAG_ATTACHED_POLICY,
    TAG_DEACTIVATED_KEYS,
    TAG_LOGIN_PROFILE_DELETED,
    TAG_REVOCATION_POLICY,
    TAG_IMDSV2_ENFORCED_ON,
    TAG_NACL_ENTRY,
    TAG_IMDS_BEFORE,
    TAG_PROFILE_SWAP,
    TAG_INSTANCE_REGION,
];

/// IAM's maximum tag value length.
pub const MAX_TAG_VALUE_CHARS: usize = 256;

/// Make `value` a valid IAM tag value: characters outside IAM's tag charset
/// (`\p{L}\p{Z}\p{N}_.:/=+-@`) become `_`, and the result is cut to 256 characters.
pub fn tag_value(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(MAX_TAG_VALUE_CHARS)
        .collect()
}

impl QuarantineRecord {
    /// The record as IAM tags (values within IAM's charset and length). Absent facts are not
    /// written; `from_tags` reads them back as absent.
    pub fn to_tags(&self) -> Tags {
        let mut tags = Tags::new();
        tags.insert(
            TAG_SECURITY_STATUS.into(),
            SECURITY_STATUS_QUARANTINED.into(),
        );
        tags.insert(TAG_REASON.into(), tag_value(&self.reason));
        tags.insert(
            TAG_TIME.into(),
            self.quarantined_at
                .to_rfc3339_opts(SecondsFormat::Secs, true),
        );
        tags.insert(TAG_INCIDENT.into(), tag_value(&self.incident_id));
        if let Some(arn) = &self.attached_policy_arn {
            tags.insert(TAG_ATTACHED_POLICY.into(), tag_value(arn));
        }
        if !self.deactivated_keys.is_empty() {
            // IAM tag values allow no comma: keys are space separated (20 chars each, and a
            // user has at most two).
            tags.insert(
                TAG_DEACTIVATED_KEYS.into(),
                tag_value(&self.deactivated_keys.join(" ")),
            );
        }
        if self.login_profile_deleted {
            tags.insert(TAG_LOGIN_PROFILE_DELETED.into(), "true".into());
        }
        if let Some(name) = &self.revocation_policy {
            tags.insert(TAG_REVOCATION_POLICY.into(), tag_value(name));
        }
        if let Some(instance) = &self.imdsv2_enforced_on {
            tags.insert(TAG_IMDSV2_ENFORCED_ON.into(), tag_value(instance));
        }
        if let Some(entry) = &self.nacl_entry {
            tags.insert(TAG_NACL_ENTRY.into(), tag_value(entry));
        }
        if let Some(before) = &self.imds_before {
            tags.insert(TAG_IMDS_BEFORE.into(), tag_value(before));
        }
        if let Some(swap) = &self.profile_swap {
            tags.insert(TAG_PROFILE_SWAP.into(), tag_value(swap));
        }
        if let Some(region) = &self.instance_region {
            tags.insert(TAG_INSTANCE_REGION.into(), tag_value(region));
        }
        tags
    }

    /// Tags that replace a record already on the principal: [`Self::to_tags`], plus every
    /// fact tag the record does not hold, written empty ([`Self::from_tags`] reads an empty
    /// value as absent). A correction then needs only the tagging permission the quarantine
    /// already has, not the untagging one.
    pub fn correction_tags(&self) -> Tags {
        let mut tags = self.to_tags();
        // The first four keys say what, why, when and which incident; the rest are facts.
        for key in &ALL_TAG_KEYS[4..] {
            tags.entry((*key).into()).or_default();
        }
        tags
    }

    /// Read a record back from a principal's tags; `None` unless `SecurityStatus=Quarantined`
    /// with a parseable `QuarantineTime` and a `QuarantineIncident`.
    pub fn from_tags(principal: PrincipalRef, tags: &Tags) -> Option<QuarantineRecord> {
        if tags.get(TAG_SECURITY_STATUS).map(String::as_str) != Some(SECURITY_STATUS_QUARANTINED) {
            return None;
        }
        let incident_id = tags.get(TAG_INCIDENT).filter(|s| !s.is_empty())?.clone();
        let quarantined_at = DateTime::parse_from_rfc3339(tags.get(TAG_TIME)?)
            .ok()?
            .with_timezone(&Utc);
        let opt = |key: &str| tags.get(key).filter(|s| !s.is_empty()).cloned();
        Some(QuarantineRecord {
            incident_id,
            principal,
            reason: tags.get(TAG_REASON).cloned().unwrap_or_default(),
            quarantined_at,
            attached_policy_arn: opt(TAG_ATTACHED_POLICY),
            deactivated_keys: tags
                .get(TAG_DEACTIVATED_KEYS)
                .map(|v| v.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default(),
            login_profile_deleted: tags.get(TAG_LOGIN_PROFILE_DELETED).map(String::as_str)
                == Some("true"),
            revocation_policy: opt(TAG_REVOCATION_POLICY),
            imdsv2_enforced_on: opt(TAG_IMDSV2_ENFORCED_ON),
            imds_before: opt(TAG_IMDS_BEFORE),
            profile_swap: opt(TAG_PROFILE_SWAP),
            instance_region: opt(TAG_INSTANCE_REGION),
            nacl_entry: opt(TAG_NACL_ENTRY),
        })
    }
}

/// The NACL entry as the record stores it: `ACL_ID:RULE_NUMBER:CIDR` (IAM tag charset).
pub fn nacl_entry_tag(network_acl_id: &str, rule_number: i32, cidr: &str) -> String {
    format!("{network_acl_id}:{rule_number}:{cidr}")
}

/// Parse [`nacl_entry_tag`]'s format back: `(acl id, rule number, cidr)`.
pub fn parse_nacl_entry(entry: &str) -> Option<(String, i32, String)> {
    let mut parts = entry.splitn(3, ':');
    let acl = parts.next()?.to_string();
    let rule = parts.next()?.parse().ok()?;
    let cidr = parts.next()?.to_string();
    Some((acl, rule, cidr))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> QuarantineRecord {
        QuarantineRecord {
            incident_id: "c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406".into(),
            principal: PrincipalRef::User("service-x7k2qa".into()),
            reason: "suspicious-user-name: matches ^service-[a-z0-9]{6}$".into(),
            quarantined_at: DateTime::parse_from_rfc3339("2026-03-14T02:50:00Z")
                .unwrap()
                .with_timezone(&Utc),
            attached_policy_arn: Some("arn:aws:iam::123456789012:policy/cordon-quarantine".into()),
            deactivated_keys: vec!["AKIAEXAMPLEKEY000001".into(), "AKIAEXAMPLEKEY000002".into()],
            login_profile_deleted: true,
            revocation_policy: Some("cordon-revoke-sessions".into()),
            imdsv2_enforced_on: Some("i-0a1b2c3d4e5f60718".into()),
            imds_before: None,
            profile_swap: None,
            instance_region: None,
            nacl_entry: Some(nacl_entry_tag(
                "acl-0123456789abcdef0",
                42,
                "198.51.100.77/32",
            )),
        }
    }

    #[test]
    fn to_tags_writes_exact_values() {
        let tags = record().to_tags();
        let expected: Tags = [
            ("SecurityStatus", "Quarantined"),
            (
                "QuarantineReason",
                "suspicious-user-name: matches _service-_a-z0-9__6__",
            ),
            ("QuarantineTime", "2026-03-14T02:50:00Z"),
            ("QuarantineIncident", "c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406"),
            (
                "CordonAttachedPolicy",
                "arn:aws:iam::123456789012:policy/cordon-quarantine",
            ),
            (
                "CordonDeactivatedKeys",
                "AKIAEXAMPLEKEY000001 AKIAEXAMPLEKEY000002",
            ),
            ("CordonLoginProfileDeleted", "true"),
            ("CordonRevocationPolicy", "cordon-revoke-sessions"),
            ("CordonImdsV2EnforcedOn", "i-0a1b2c3d4e5f60718"),
            (
                "CordonNaclEntry",
                "acl-0123456789abcdef0:42:198.51.100.77/32",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(tags, expected);
    }

    #[test]
    fn round_trip() {
        let mut r = record();
        r.reason = "GuardDuty UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS severity 8".into();
        assert_eq!(
            QuarantineRecord::from_tags(r.principal.clone(), &r.to_tags()),
            Some(r.clone())
        );
        let minimal = QuarantineRecord {
            attached_policy_arn: None,
            deactivated_keys: vec![],
            login_profile_deleted: false,
            revocation_policy: None,
            imdsv2_enforced_on: None,
            imds_before: None,
            profile_swap: None,
            instance_region: None,
            nacl_entry: None,
            principal: PrincipalRef::Role("web-app-role".into()),
            ..r
        };
        assert_eq!(minimal.to_tags().len(), 4);
        assert_eq!(
            QuarantineRecord::from_tags(minimal.principal.clone(), &minimal.to_tags()),
            Some(minimal)
        );
    }

    #[test]
    fn values_stay_within_iam_limits() {
        let mut r = record();
        r.reason = "x\n,;".repeat(200);
        let tags = r.to_tags();
        let reason = &tags["QuarantineReason"];
        assert_eq!(reason.chars().count(), 256);
        assert!(reason.starts_with("x___x___"));
        for v in tags.values() {
            assert!(
                v.chars()
                    .all(|c| c.is_alphanumeric() || " _.:/=+-@".contains(c)),
                "{v}"
            );
        }
    }

    #[test]
    fn from_tags_needs_the_status_incident_and_time() {
        let tags = record().to_tags();
        let p = PrincipalRef::User("u".into());
        let without = |key: &str| {
            let mut t = tags.clone();
            t.remove(key);
            t
        };
        assert_eq!(
            QuarantineRecord::from_tags(p.clone(), &without(TAG_SECURITY_STATUS)),
            None
        );
        assert_eq!(
            QuarantineRecord::from_tags(p.clone(), &without(TAG_INCIDENT)),
            None
        );
        assert_eq!(
            QuarantineRecord::from_tags(p.clone(), &without(TAG_TIME)),
            None
        );
        let mut released = tags.clone();
        released.insert(TAG_SECURITY_STATUS.into(), "Released".into());
        assert_eq!(QuarantineRecord::from_tags(p, &released), None);
    }

    #[test]
    fn nacl_entry_parses_back() {
        assert_eq!(
            parse_nacl_entry("acl-0123:42:198.51.100.77/32"),
            Some(("acl-0123".into(), 42, "198.51.100.77/32".into()))
        );
        assert_eq!(parse_nacl_entry("acl-0123"), None);
    }
}
