//! The quarantine record as tags on the principal.

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

/// Every tag key cordon may write (what release removes).
pub const ALL_TAG_KEYS: [&str; 10] = [
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
];

/// IAM's maximum tag value length.
pub const MAX_TAG_VALUE_CHARS: usize = 256;

impl QuarantineRecord {
    /// The record as IAM tags (values within IAM's charset and length).
    pub fn to_tags(&self) -> Tags {
        Tags::new()
    }

    /// Read a record back from a principal's tags; `None` unless `SecurityStatus=Quarantined`
    /// and the required tags are present and valid.
    pub fn from_tags(principal: PrincipalRef, tags: &Tags) -> Option<QuarantineRecord> {
        let _ = (principal, tags);
        None
    }
}
