//! Security Hub events (`aws.securityhub`) → the incident their GuardDuty finding is.
//!
//! Two detail-types carry findings in the AWS Security Finding Format (ASFF):
//! `Security Hub Findings - Imported` (every import and every update, cordon's own
//! `BatchUpdateFindings` included) and `Security Hub Findings - Custom Action` (an analyst sent
//! findings to an action target). A GuardDuty finding gives the same incident as GuardDuty's own
//! event: the same id (the GuardDuty finding id, the last segment of the ASFF `Id`, so both
//! deliveries name the same execution and dedupe), subject, account, region, type and severity.
//!
//! An event may carry several findings; the intake starts one response per finding, each with an
//! event holding just that finding ([`split_findings`]). A finding from another product is an
//! incident cordon ignores with a reason, not an error.

use serde_json::Value;

use super::{
    ATTACK_SEQUENCE, DESCRIPTION_CHARS, NAME_CHARS, Node, ParseError, Principal, SequenceKeys,
    TITLE_CHARS, account_id, attack_sequence, bounded, escape_control, is_placeholder, no_control,
    principal_and_actor, region_name, sequence_subject,
};
use crate::model::{
    Actor, Channel, Delivery, Finding, Incident, IncidentSource, RemoteIp, SecurityHubRef, Subject,
};

pub const IMPORTED_DETAIL_TYPE: &str = "Security Hub Findings - Imported";
pub const CUSTOM_ACTION_DETAIL_TYPE: &str = "Security Hub Findings - Custom Action";
/// GuardDuty's product ARN ends so in every region and partition.
pub const GUARDDUTY_PRODUCT_SUFFIX: &str = "::product/aws/guardduty";

/// One event per finding, each the same envelope with `detail.findings` holding that finding
/// alone (what the intake's Map hands each response). Any other event is returned as is.
pub fn split_findings(event: &Value) -> Vec<Value> {
    let findings = match event.pointer("/detail/findings") {
        Some(Value::Array(f)) if f.len() > 1 && event["source"] == "aws.securityhub" => f,
        _ => return vec![event.clone()],
    };
    findings
        .iter()
        .map(|f| {
            let mut one = event.clone();
            one["detail"]["findings"] = Value::Array(vec![f.clone()]);
            one
        })
        .collect()
}

pub(super) fn parse(detail: &Node<'_>, detail_type: &str) -> Result<Incident, ParseError> {
    let channel = if detail_type == CUSTOM_ACTION_DETAIL_TYPE {
        Channel::SecurityHubCustomAction
    } else {
        Channel::SecurityHubImport
    };
    let action_name = match channel {
        Channel::SecurityHubCustomAction => detail.text("actionName", NAME_CHARS),
        Channel::SecurityHubImport => None,
    };
    let findings = detail.children("findings");
    let f = match findings.as_slice() {
        [one] => one,
        [] => {
            return Err(ParseError::Missing {
                path: detail.child_path("findings[0]"),
            });
        }
        many => {
            return Err(ParseError::Invalid {
                path: detail.child_path("findings"),
                problem: format!(
                    "carries {} findings; the intake starts one response per finding (`cordon replay` splits them too)",
                    many.len()
                ),
            });
        }
    };
    let via = Some(Delivery {
        channel,
        action_name,
    });

    let finding_id = f.req_str("Id")?;
    no_control(&f.child_path("Id"), finding_id)?;
    let product_arn = f.req_str("ProductArn")?;
    no_control(&f.child_path("ProductArn"), product_arn)?;
    let account = account_id(&f.child_path("AwsAccountId"), f.req_str("AwsAccountId")?)?;
    // `Region` is recent ASFF; the product ARN always names it.
    let region = match f.opt_str("Region")? {
        Some(r) => region_name(&f.child_path("Region"), r)?,
        None => region_name(
            &f.child_path("ProductArn"),
            product_arn.split(':').nth(3).unwrap_or_default(),
        )?,
    };
    let observed_at = match f.lenient_time("UpdatedAt") {
        Some(t) => t,
        None => f.req_time("UpdatedAt")?,
    };
    let title = f.text("Title", TITLE_CHARS);

    if !product_arn.ends_with(GUARDDUTY_PRODUCT_SUFFIX) {
        let product = f
            .text("ProductName", NAME_CHARS)
            .unwrap_or_else(|| bounded(&escape_control(product_arn), NAME_CHARS));
        return Ok(Incident {
            id: bounded(finding_id, 200),
            source: IncidentSource::SecurityHub,
            kind: title.unwrap_or_else(|| "Security Hub finding".into()),
            account: account.to_string(),
            region: region.to_string(),
            observed_at,
            subject: Subject::Resource {
                resource_type: format!("{product} finding"),
                id: bounded(finding_id, 200),
            },
            actor: None,
            finding: None,
            failed_call: None,
            via,
        });
    }

    // arn:aws:guardduty:REGION:ACCOUNT:detector/DETECTOR/finding/FINDING
    let id = finding_id
        .split_once("/finding/")
        .map(|(_, id)| id)
        .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()))
        .ok_or_else(|| ParseError::Invalid {
            path: f.child_path("Id"),
            problem: format!(
                "`{}` is not a GuardDuty finding ARN (…:detector/D/finding/F)",
                escape_control(&bounded(finding_id, 120))
            ),
        })?;
    let fields = ProductFields(f.child("ProductFields"));
    let finding_type = guardduty_type(f, &fields)?;
    let severity = severity(f)?;

    let mut finding = Finding {
        id: id.to_string(),
        finding_type: finding_type.clone(),
        severity,
        title: title.unwrap_or_else(|| finding_type.clone()),
        description: f.text("Description", DESCRIPTION_CHARS).unwrap_or_default(),
        count: fields
            .text("count")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1),
        first_seen: f.lenient_time("FirstObservedAt"),
        last_seen: f.lenient_time("LastObservedAt"),
        resource_type: String::new(),
        remote_ip: fields
            .text("action/awsApiCallAction/remoteIpDetails/ipAddressV4")
            .map(|ip| RemoteIp {
                ip,
                org: fields.text("action/awsApiCallAction/remoteIpDetails/organization/org"),
                asn: fields.text("action/awsApiCallAction/remoteIpDetails/organization/asn"),
                asn_org: fields.text("action/awsApiCallAction/remoteIpDetails/organization/asnOrg"),
                isp: fields.text("action/awsApiCallAction/remoteIpDetails/organization/isp"),
                country: fields.text("action/awsApiCallAction/remoteIpDetails/country/countryName"),
                city: fields.text("action/awsApiCallAction/remoteIpDetails/city/cityName"),
            }),
        api_called: fields.text("action/awsApiCallAction/api"),
        service_name: fields.text("action/awsApiCallAction/serviceName"),
        // Archived in GuardDuty, archived in Security Hub, or suppressed by an analyst.
        archived: fields.text("archived").as_deref() == Some("true")
            || f.text("RecordState", NAME_CHARS).as_deref() == Some("ARCHIVED")
            || f.child("Workflow")
                .and_then(|w| w.text("Status", NAME_CHARS))
                .as_deref()
                == Some("SUPPRESSED"),
        // Security Hub's own `Sample` flag, GuardDuty's flattened `additionalInfo/sample`, or
        // older imports' `additionalInfo/value` (the object as JSON text).
        sample: f.lenient_bool("Sample") == Some(true)
            || fields.text("additionalInfo/sample").as_deref() == Some("true")
            || fields
                .raw("additionalInfo/value")
                .is_some_and(|v| v.replace(' ', "").contains("\"sample\":true")),
        security_hub: Some(SecurityHubRef {
            id: finding_id.to_string(),
            product_arn: product_arn.to_string(),
        }),
        sequence: None,
    };

    let resources = f.children("Resources");
    let (subject, actor, resource_type) = if finding_type.starts_with("AttackSequence:") {
        let sequence = f
            .child("Detection")
            .and_then(|d| d.child("Sequence"))
            .map(|s| attack_sequence(&s, SequenceKeys::ASFF))
            .unwrap_or_default();
        let subject = sequence_subject(&sequence, account);
        finding.sequence = Some(sequence);
        (subject, None, ATTACK_SEQUENCE.to_string())
    } else {
        identity(&resources, account, &mut finding)?
    };
    finding.resource_type = resource_type;

    Ok(Incident {
        id: id.to_string(),
        source: IncidentSource::Guardduty,
        kind: finding_type,
        account: account.to_string(),
        region: region.to_string(),
        observed_at,
        subject,
        actor,
        finding: Some(finding),
        failed_call: None,
        via,
    })
}

/// The identity a GuardDuty finding's `Resources[]` name, in GuardDuty's own terms
/// (`resourceType` `AccessKey` or `Instance`).
fn identity(
    resources: &[Node<'_>],
    account: &str,
    finding: &mut Finding,
) -> Result<(Subject, Option<Actor>, String), ParseError> {
    let of_type = |t: &str| {
        resources
            .iter()
            .find(|r| r.get("Type").and_then(Value::as_str) == Some(t))
    };
    // arn:aws:ec2:REGION:ACCOUNT:instance/i-..., or the bare id.
    let instance_id = of_type("AwsEc2Instance")
        .and_then(|r| r.text("Id", NAME_CHARS))
        .map(|id| id.rsplit('/').next().unwrap_or_default().to_string())
        .filter(|id| super::looks_like_instance_id(id));

    if let Some(key) = of_type("AwsIamAccessKey") {
        let details = key
            .child("Details")
            .and_then(|d| d.child("AwsIamAccessKey"))
            .ok_or_else(|| ParseError::Missing {
                path: key.child_path("Details.AwsIamAccessKey"),
            })?;
        // Newer findings say PrincipalType/PrincipalName; older ones only UserName (an IAM
        // user's name, or a placeholder in sample findings).
        let (principal_type, name, name_key) = match details.opt_str("PrincipalType")? {
            Some(t) => (t, details.opt_str("PrincipalName")?, "PrincipalName"),
            None => match details.opt_str("UserName")? {
                Some(n) => ("IAMUser", Some(n), "UserName"),
                None => {
                    return Err(ParseError::Missing {
                        path: details.child_path("PrincipalType"),
                    });
                }
            },
        };
        no_control(&details.child_path("PrincipalType"), principal_type)?;
        let name = name.or(details.opt_str("UserName")?);
        let principal_id = details.opt_name("PrincipalId")?;
        // AWS::IAM::AccessKey:ASIA... (some producers: the key id itself).
        let access_key_id = details.opt_name("AccessKeyId")?.or_else(|| {
            key.text("Id", NAME_CHARS)
                .map(|id| id.rsplit(':').next().unwrap_or_default().to_string())
                .filter(|k| k.len() >= 16 && k.chars().all(|c| c.is_ascii_alphanumeric()))
        });
        let (subject, actor) = principal_and_actor(
            &Principal {
                principal_type,
                name,
                name_path: details.child_path(name_key),
                principal_id: principal_id.as_deref(),
                access_key_id: access_key_id.as_deref(),
                instance_id: instance_id.as_deref(),
            },
            account,
            finding,
        )?;
        return Ok((subject, Some(actor), "AccessKey".into()));
    }
    if let Some(user) = of_type("AwsIamUser") {
        let name = user
            .child("Details")
            .and_then(|d| d.child("AwsIamUser"))
            .and_then(|u| {
                u.get("UserName")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .or_else(|| arn_name(user, ":user/"));
        let path = user.child_path("Details.AwsIamUser.UserName");
        let name = name.ok_or(ParseError::Missing { path: path.clone() })?;
        super::check_name(&path, &name, true)?;
        finding.sample |= is_placeholder(&name);
        let subject = Subject::IamUser {
            arn: user.text("Id", 400).filter(|id| id.starts_with("arn:")),
            name,
            user_id: None,
            access_key_id: None,
        };
        return Ok((subject, None, "AccessKey".into()));
    }
    if let Some(role) = of_type("AwsIamRole") {
        let name = role
            .child("Details")
            .and_then(|d| d.child("AwsIamRole"))
            .and_then(|r| {
                r.get("RoleName")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .or_else(|| arn_name(role, ":role/"));
        let path = role.child_path("Details.AwsIamRole.RoleName");
        let name = name.ok_or(ParseError::Missing { path: path.clone() })?;
        super::check_name(&path, &name, true)?;
        finding.sample |= is_placeholder(&name);
        let subject = Subject::AssumedRole {
            role_arn: role.text("Id", 400).filter(|id| id.starts_with("arn:")),
            role_name: name,
            session_name: None,
            instance_id,
            access_key_id: None,
        };
        return Ok((subject, None, "AccessKey".into()));
    }
    let (resource_type, id) = match (&instance_id, resources.first()) {
        (Some(id), _) => ("Instance".to_string(), id.clone()),
        (None, Some(r)) => (
            r.text("Type", NAME_CHARS)
                .unwrap_or_else(|| "unknown".into()),
            r.text("Id", 200).unwrap_or_else(|| "unknown".into()),
        ),
        (None, None) => ("unknown".to_string(), "unknown".to_string()),
    };
    Ok((
        Subject::Resource {
            resource_type: resource_type.clone(),
            id,
        },
        None,
        resource_type,
    ))
}

/// The last path segment of an IAM ARN in a resource's `Id` after `marker` (`:user/`).
fn arn_name(resource: &Node<'_>, marker: &str) -> Option<String> {
    let id = resource.get("Id")?.as_str()?;
    let (_, path) = id.split_once(marker)?;
    path.rsplit('/').next().map(str::to_string)
}

/// GuardDuty's finding type. ASFF `Types` write it with `-` for its `/` (which separates the
/// ASFF namespace), e.g. `TTPs/Initial Access/UnauthorizedAccess:IAMUser-TorIPCaller`;
/// `ProductFields` may carry it as written by GuardDuty.
fn guardduty_type(f: &Node<'_>, fields: &ProductFields<'_>) -> Result<String, ParseError> {
    if let Some(t) = fields.text("type").filter(|t| t.contains(':')) {
        return Ok(t);
    }
    let types: Vec<String> = f
        .get("Types")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .chain(
            f.child("FindingProviderFields")
                .and_then(|p| p.get("Types"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        )
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    types
        .iter()
        .filter_map(|t| {
            // From the namespace segment that holds the `:` on: `Family:Resource-Threat`, or
            // (in AWS's own mapping table for some types) `Family:Resource/Threat`.
            let segments: Vec<&str> = t.split('/').collect();
            let at = segments.iter().position(|s| s.contains(':'))?;
            let (family, first) = segments[at].split_once(':')?;
            let out = match segments.get(at + 1) {
                Some(threat) => format!("{family}:{first}/{threat}"),
                None => {
                    let (resource, threat) = first.split_once('-')?;
                    format!("{family}:{resource}/{threat}")
                }
            };
            (!out.chars().any(char::is_control) && out.len() <= 200).then_some(out)
        })
        .next()
        .ok_or_else(|| ParseError::Invalid {
            path: f.child_path("Types"),
            problem: format!(
                "no GuardDuty finding type (`…/Family:Resource-Threat`) among {}",
                escape_control(&bounded(&types.join(", "), 200))
            ),
        })
}

/// GuardDuty's 0–10 severity: `Severity.Product` (deprecated but still sent), `Original` (the
/// product's own value, as text), else `Normalized` / 10, else the label.
fn severity(f: &Node<'_>) -> Result<f64, ParseError> {
    let s = f.req_object("Severity")?;
    let number = |key: &str| -> Option<f64> {
        match s.get(key)? {
            Value::Number(n) => n.as_f64(),
            Value::String(t) => t.trim().parse().ok(),
            _ => None,
        }
    };
    let value = number("Product")
        .or_else(|| number("Original"))
        .or_else(|| number("Normalized").map(|n| n / 10.0))
        .or_else(|| {
            Some(match s.get("Label")?.as_str()? {
                "CRITICAL" => 9.0,
                "HIGH" => 7.0,
                "MEDIUM" => 4.0,
                "LOW" => 1.0,
                "INFORMATIONAL" => 0.0,
                _ => return None,
            })
        })
        .ok_or_else(|| ParseError::Missing {
            path: s.child_path("Product"),
        })?;
    if !(0.0..=10.0).contains(&value) {
        return Err(ParseError::Invalid {
            path: s.path.clone(),
            problem: format!("{value} is outside GuardDuty's 0.0..=10.0"),
        });
    }
    Ok(value)
}

/// `ProductFields`: a flat string map. GuardDuty's keys are `aws/guardduty/service/<path>` in
/// current findings; older imports and some forwarders drop the prefix.
struct ProductFields<'a>(Option<Node<'a>>);

impl<'a> ProductFields<'a> {
    fn keys(path: &str) -> [String; 4] {
        [
            format!("aws/guardduty/service/{path}"),
            format!("aws/guardduty/{path}"),
            format!("service/{path}"),
            path.to_string(),
        ]
    }

    /// The value, bounded and escaped.
    fn text(&self, path: &str) -> Option<String> {
        let node = self.0.as_ref()?;
        Self::keys(path)
            .iter()
            .find_map(|k| node.text(k, NAME_CHARS))
    }

    /// The value as sent (for a check, never kept).
    fn raw(&self, path: &str) -> Option<&'a str> {
        let node = self.0.as_ref()?;
        Self::keys(path)
            .iter()
            .find_map(|k| node.get(k).and_then(Value::as_str))
    }
}
