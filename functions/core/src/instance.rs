//! Leaked instance credentials: how far they reach and the narrowest containment that stops
//! the attacker.
//!
//! Revoking an instance role's sessions (`aws:TokenIssueTime`) denies *every* current session
//! of the role: every instance that runs on it stops until its credentials rotate. Swapping the
//! compromised instance's instance profile stops that one instance (and an SSRF through it)
//! from fetching the role's credentials, and touches no other instance, but it does not revoke
//! the credentials already stolen. So the choice between the two is a blast-radius decision,
//! made here, from the count of other instances and the policy's threshold, and said in words.

use std::net::Ipv4Addr;

use crate::model::{AclEntry, Approval, BlastRadius, Enrichment, Incident, InstanceFacts, Subject};
use crate::policy::{AboveRevocationThreshold, Policy};

/// The IMDS hop limit cordon sets on a quarantined instance: the response cannot leave the
/// instance (containers, proxies).
pub const QUARANTINE_HOP_LIMIT: i32 = 1;

/// Serde default for a planned IMDSv2 action written before the hop limit was part of it.
pub fn quarantine_hop_limit() -> i32 {
    QUARANTINE_HOP_LIMIT
}

/// The compromised instance of an instance-credential incident: from the finding, else from
/// the enrichment. `None` when the incident is not about instance credentials.
pub fn compromised_instance(incident: &Incident, enrichment: &Enrichment) -> Option<String> {
    match &incident.subject {
        Subject::AssumedRole { instance_id, .. } => instance_id
            .clone()
            .or_else(|| enrichment.instance.as_ref().map(|i| i.instance_id.clone())),
        _ => None,
    }
}

/// Whether the role's sessions are revoked, and why, in a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationChoice {
    pub revoke: bool,
    /// The blast radius is above the policy's threshold (or unknown) and nobody chose.
    pub withheld: bool,
    /// Why, for the classification, the plan and the alert.
    pub why: String,
}

/// Decide whether an instance role's sessions are revoked. `None` when the incident is not
/// about instance credentials (a user, a role without an instance: revocation is the policy's
/// `revokeSessions` alone).
pub fn revocation_choice(
    incident: &Incident,
    enrichment: &Enrichment,
    policy: &Policy,
    approval: Option<&Approval>,
) -> Option<RevocationChoice> {
    let Subject::AssumedRole { role_name, .. } = &incident.subject else {
        return None;
    };
    let instance = compromised_instance(incident, enrichment)?;
    let c = &policy.containment;
    let reach = enrichment
        .blast_radius
        .as_ref()
        .map(|b| blast_radius_sentence(b, &instance));
    let reach =
        reach.unwrap_or_else(|| format!("the instances using {role_name} could not be counted"));
    if !c.revoke_sessions {
        return Some(RevocationChoice {
            revoke: false,
            withheld: false,
            why: "disabled by policy (containment.revokeSessions = false)".into(),
        });
    }
    if let Some(chosen) = approval.and_then(|a| a.revoke_role_sessions) {
        let who = approval
            .and_then(|a| a.approver.clone())
            .unwrap_or_else(|| "the approver".into());
        return Some(RevocationChoice {
            revoke: chosen,
            withheld: false,
            why: if chosen {
                format!("{who} chose to revoke {role_name}'s sessions: {reach}")
            } else {
                format!("{who} chose not to revoke {role_name}'s sessions: {reach}")
            },
        });
    }
    let threshold = c.revoke_role_sessions_max_other_instances as usize;
    match enrichment.blast_radius.as_ref().map(|b| b.other_instances) {
        Some(0) => Some(RevocationChoice {
            revoke: true,
            withheld: false,
            why: format!("{reach}, so its sessions are revoked"),
        }),
        Some(others) if others <= threshold => Some(RevocationChoice {
            revoke: true,
            withheld: false,
            why: format!(
                "{reach}; {others} other running instance{} within the policy's limit of {threshold} (containment.revokeRoleSessionsMaxOtherInstances), so its sessions are revoked",
                if others == 1 { " is" } else { "s are" }
            ),
        }),
        Some(others) => Some(RevocationChoice {
            revoke: false,
            withheld: true,
            why: format!(
                "{reach}; {others} other running instances are more than the policy's limit of {threshold} (containment.revokeRoleSessionsMaxOtherInstances), so only instance {instance} is contained; {}",
                match c.above_revocation_threshold {
                    AboveRevocationThreshold::AskApprover =>
                        "an approver decides whether to revoke the role's sessions as well",
                    AboveRevocationThreshold::ContainInstanceOnly =>
                        "the role's sessions are not revoked (containment.aboveRevocationThreshold = contain-instance-only)",
                }
            ),
        }),
        None => Some(RevocationChoice {
            revoke: false,
            withheld: true,
            why: format!(
                "{reach}, so revoking its sessions could interrupt any number of instances: only instance {instance} is contained unless an approver chooses the revocation"
            ),
        }),
    }
}

/// "web-app-role is used by 12 running instances in us-east-1 (…); revoking its sessions
/// interrupts all of them until their credentials rotate (up to ~1 h)".
pub fn blast_radius_sentence(b: &BlastRadius, compromised: &str) -> String {
    let role = &b.role;
    if b.instance_profiles.is_empty() {
        return format!(
            "{role} is in no instance profile: no running instance uses it, revoking its sessions interrupts only other sessions of the role"
        );
    }
    let n = b.running_instances;
    let listed: Vec<String> = b
        .instances
        .iter()
        .filter(|i| i.instance_id != compromised)
        .take(5)
        .map(|i| {
            let mut s = i.instance_id.clone();
            if let Some(name) = &i.name {
                s.push_str(&format!(" \"{}\"", crate::parse::bounded(name, 40)));
            }
            if let Some(asg) = &i.auto_scaling_group {
                s.push_str(&format!(
                    " in Auto Scaling group {}",
                    crate::parse::bounded(asg, 60)
                ));
            }
            s
        })
        .collect();
    let more = b.other_instances.saturating_sub(listed.len());
    let others = if listed.is_empty() {
        String::new()
    } else if more > 0 {
        format!(" ({} and {more} more)", listed.join(", "))
    } else {
        format!(" ({})", listed.join(", "))
    };
    match (n, b.other_instances) {
        (0, _) => format!(
            "{role} is used by no running instance in {}: revoking its sessions interrupts no instance",
            b.region
        ),
        (_, 0) => format!(
            "{role} is used by {compromised} alone in {}: revoking its sessions interrupts no other instance",
            b.region
        ),
        _ => format!(
            "{role} is used by {n} running instance{} in {}, {} besides {compromised}{others}; revoking its sessions interrupts all of them until their credentials rotate (up to ~1 h)",
            if n == 1 { "" } else { "s" },
            b.region,
            b.other_instances,
        ),
    }
}

/// What stays open after the containment, in sentences a responder acts on: IMDSv1 left
/// enabled, the profile not swapped, the stolen credentials not revoked.
pub fn still_open(
    role: &str,
    instance: &str,
    facts: Option<&InstanceFacts>,
    imds_enforced: bool,
    swapped: bool,
    revoked: bool,
) -> Vec<String> {
    let mut open = Vec::new();
    let imdsv1 = facts.is_some_and(|f| {
        f.metadata_http_tokens.as_deref() != Some("required")
            && f.metadata_http_endpoint.as_deref() != Some("disabled")
    });
    if imdsv1 && !imds_enforced {
        open.push(format!(
            "IMDSv1 stays enabled on {instance}: whatever made it leak credentials (an SSRF, a proxy) can still fetch fresh credentials of the instance profile it has now. Require IMDSv2: aws ec2 modify-instance-metadata-options --instance-id {instance} --http-tokens required --http-put-response-hop-limit 1 (or set containment.enforceImdsV2 in the response policy)."
        ));
    }
    if !swapped {
        open.push(format!(
            "{instance} still runs with {role}'s instance profile: it can fetch fresh credentials of {role}. Replace its profile (containment.swapInstanceProfile and the QuarantineInstanceProfileName parameter) or stop the instance."
        ));
    }
    if !revoked {
        open.push(format!(
            "The credentials already taken from {instance} stay valid until they expire (hours): {role}'s sessions were not revoked. A profile swap does not revoke credentials already issued. To revoke them, accepting the interruption of the role's other instances: IAM console, Roles, {role}, Revoke active sessions."
        ));
    }
    open
}

/// Where the NACL deny of an address goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NaclRule {
    /// Add the deny (inbound and outbound) at this number: free in both directions and
    /// evaluated before every allow rule that matches the address.
    Free(i32),
    /// Deny rules already cover the address in both directions before any allow: nothing to
    /// add (and nothing of cordon's to remove on release).
    AlreadyDenied(i32),
    /// No number is free below the first allow that matches the address.
    NoFreeNumber(String),
}

/// The highest rule number a custom entry may have (32767 is the default `*` deny).
pub const MAX_NACL_RULE: i32 = 32766;

/// Choose the rule number for denying `ip`, from the ACL's own entries. Never a number in use
/// (in either direction), always below the first allow rule that matches the address (an allow
/// before it would shadow the deny), the lowest such number.
pub fn nacl_rule(entries: &[AclEntry], ip: Ipv4Addr) -> NaclRule {
    let matches = |e: &AclEntry| e.cidr.as_deref().is_some_and(|c| cidr_contains(c, ip));
    let first_allow = |egress: bool| {
        entries
            .iter()
            .filter(|e| e.egress == egress && e.action == "allow" && matches(e))
            .map(|e| e.rule_number)
            .min()
            .unwrap_or(MAX_NACL_RULE + 1)
    };
    let (in_allow, out_allow) = (first_allow(false), first_allow(true));
    let denied_before = |egress: bool, allow: i32| {
        entries
            .iter()
            .filter(|e| {
                e.egress == egress && e.action == "deny" && e.rule_number < allow && matches(e)
            })
            .map(|e| e.rule_number)
            .min()
    };
    if let (Some(n), Some(_)) = (
        denied_before(false, in_allow),
        denied_before(true, out_allow),
    ) {
        return NaclRule::AlreadyDenied(n);
    }
    let limit = in_allow.min(out_allow);
    let used: std::collections::BTreeSet<i32> = entries.iter().map(|e| e.rule_number).collect();
    match (1..limit).find(|n| !used.contains(n)) {
        Some(n) => NaclRule::Free(n),
        None => NaclRule::NoFreeNumber(format!(
            "every rule number below {limit} (the first allow rule that matches {ip}) is taken; a deny after it would never be evaluated"
        )),
    }
}

/// Whether IPv4 `cidr` (`a.b.c.d/n`) contains `ip`. A malformed CIDR contains nothing.
pub fn cidr_contains(cidr: &str, ip: Ipv4Addr) -> bool {
    let Some((net, len)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(len)) = (net.parse::<Ipv4Addr>(), len.parse::<u32>()) else {
        return false;
    };
    if len > 32 {
        return false;
    }
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    (u32::from(net) & mask) == (u32::from(ip) & mask)
}

/// IMDS options as the record keeps them: `httpTokens=optional hopLimit=2`.
pub fn imds_options_tag(http_tokens: &str, hop_limit: i32) -> String {
    format!("httpTokens={http_tokens} hopLimit={hop_limit}")
}

/// Read [`imds_options_tag`] back: `(http tokens, hop limit)`.
pub fn parse_imds_options(tag: &str) -> Option<(String, i32)> {
    let mut tokens = None;
    let mut hops = None;
    for part in tag.split_whitespace() {
        match part.split_once('=')? {
            ("httpTokens", v) if v == "optional" || v == "required" => tokens = Some(v.to_string()),
            ("hopLimit", v) => hops = v.parse().ok().filter(|h| (1..=64).contains(h)),
            _ => return None,
        }
    }
    Some((tokens?, hops?))
}

/// The profile swap as the record keeps it: `INSTANCE ORIGINAL_ARN QUARANTINE_ARN`.
pub fn profile_swap_tag(instance_id: &str, original: &str, quarantine: &str) -> String {
    format!("{instance_id} {original} {quarantine}")
}

/// Read [`profile_swap_tag`] back: `(instance, original profile ARN, quarantine profile ARN)`.
pub fn parse_profile_swap(tag: &str) -> Option<(String, String, String)> {
    let mut parts = tag.split_whitespace();
    let swap = (
        parts.next()?.to_string(),
        parts.next()?.to_string(),
        parts.next()?.to_string(),
    );
    parts.next().is_none().then_some(swap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::InstanceUse;

    fn entry(rule_number: i32, egress: bool, action: &str, cidr: &str) -> AclEntry {
        AclEntry {
            rule_number,
            egress,
            action: action.into(),
            cidr: Some(cidr.into()),
        }
    }

    fn default_acl() -> Vec<AclEntry> {
        vec![
            entry(100, false, "allow", "0.0.0.0/0"),
            entry(100, true, "allow", "0.0.0.0/0"),
            entry(32767, false, "deny", "0.0.0.0/0"),
            entry(32767, true, "deny", "0.0.0.0/0"),
        ]
    }

    const IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 77);

    #[test]
    fn the_lowest_free_number_before_every_allow() {
        assert_eq!(nacl_rule(&default_acl(), IP), NaclRule::Free(1));
        let mut acl = default_acl();
        acl.extend([
            entry(1, false, "deny", "203.0.113.0/24"),
            entry(2, true, "deny", "203.0.113.0/24"),
            entry(3, false, "deny", "192.0.2.9/32"),
        ]);
        // Taken in either direction means taken.
        assert_eq!(nacl_rule(&acl, IP), NaclRule::Free(4));
    }

    #[test]
    fn an_allow_that_matches_sets_the_limit_and_one_that_does_not_is_ignored() {
        let mut acl = default_acl();
        acl.push(entry(5, false, "allow", "198.51.100.0/24"));
        acl.push(entry(2, true, "allow", "10.0.0.0/8"));
        acl.extend((1..5).map(|n| entry(n, false, "deny", "203.0.113.1/32")));
        match nacl_rule(&acl, IP) {
            NaclRule::NoFreeNumber(why) => assert!(why.contains("below 5"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_existing_deny_in_both_directions_before_the_allows_is_enough() {
        let mut acl = default_acl();
        acl.push(entry(7, false, "deny", "198.51.0.0/16"));
        assert_eq!(nacl_rule(&acl, IP), NaclRule::Free(1));
        acl.push(entry(9, true, "deny", "198.51.100.77/32"));
        assert_eq!(nacl_rule(&acl, IP), NaclRule::AlreadyDenied(7));
        // A deny after the allow does not count: the allow shadows it.
        let mut late = default_acl();
        late.push(entry(200, false, "deny", "198.51.100.77/32"));
        late.push(entry(201, true, "deny", "198.51.100.77/32"));
        assert_eq!(nacl_rule(&late, IP), NaclRule::Free(1));
    }

    #[test]
    fn cidrs_and_record_formats_round_trip() {
        assert!(cidr_contains("0.0.0.0/0", IP));
        assert!(cidr_contains("198.51.100.77/32", IP));
        assert!(!cidr_contains("198.51.100.78/32", IP));
        assert!(!cidr_contains("::/0", IP));
        assert!(!cidr_contains("198.51.100.0/33", IP));
        let t = imds_options_tag("optional", 2);
        assert_eq!(t, "httpTokens=optional hopLimit=2");
        assert_eq!(parse_imds_options(&t), Some(("optional".into(), 2)));
        assert_eq!(parse_imds_options("httpTokens=maybe hopLimit=2"), None);
        assert_eq!(parse_imds_options("hopLimit=2"), None);
        let s = profile_swap_tag(
            "i-1",
            "arn:aws:iam::1:instance-profile/web",
            "arn:aws:iam::1:instance-profile/q",
        );
        assert_eq!(
            parse_profile_swap(&s),
            Some((
                "i-1".into(),
                "arn:aws:iam::1:instance-profile/web".into(),
                "arn:aws:iam::1:instance-profile/q".into()
            ))
        );
        assert_eq!(parse_profile_swap("i-1 a"), None);
    }

    fn radius(others: usize) -> BlastRadius {
        let mut instances = vec![InstanceUse {
            instance_id: "i-0a1b2c3d4e5f60718".into(),
            ..Default::default()
        }];
        instances.extend((0..others).map(|n| InstanceUse {
            instance_id: format!("i-{n:017}"),
            name: Some(format!("web-{n}")),
            auto_scaling_group: Some("web-asg".into()),
            ..Default::default()
        }));
        instances.truncate(BlastRadius::LISTED);
        BlastRadius {
            role: "web-app-role".into(),
            region: "us-east-1".into(),
            instance_profiles: vec!["arn:aws:iam::123456789012:instance-profile/web-app".into()],
            running_instances: others + 1,
            other_instances: others,
            instances,
        }
    }

    #[test]
    fn the_blast_radius_reads_as_a_sentence() {
        let s = blast_radius_sentence(&radius(11), "i-0a1b2c3d4e5f60718");
        assert!(
            s.starts_with("web-app-role is used by 12 running instances in us-east-1, 11 besides i-0a1b2c3d4e5f60718 (i-00000000000000000 \"web-0\" in Auto Scaling group web-asg,"),
            "{s}"
        );
        assert!(s.contains(" and 6 more); revoking its sessions interrupts all of them until their credentials rotate (up to ~1 h)"), "{s}");
        let alone = blast_radius_sentence(&radius(0), "i-0a1b2c3d4e5f60718");
        assert_eq!(
            alone,
            "web-app-role is used by i-0a1b2c3d4e5f60718 alone in us-east-1: revoking its sessions interrupts no other instance"
        );
    }

    #[test]
    fn what_stays_open_is_said() {
        let facts = InstanceFacts {
            instance_id: "i-1".into(),
            metadata_http_tokens: Some("optional".into()),
            ..Default::default()
        };
        let open = still_open("web-app-role", "i-1", Some(&facts), false, true, true);
        assert_eq!(open.len(), 1);
        assert!(
            open[0].starts_with("IMDSv1 stays enabled on i-1"),
            "{open:?}"
        );
        assert!(still_open("r", "i-1", Some(&facts), true, true, true).is_empty());
        let all = still_open("r", "i-1", Some(&facts), false, false, false);
        assert_eq!(all.len(), 3);
        assert!(all[2].contains("A profile swap does not revoke credentials already issued"));
    }
}
