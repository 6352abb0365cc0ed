//! EventBridge event → [`Incident`]. Validates shape and size, and names what was wrong.
//!
//! Three kinds of events are understood, exactly as EventBridge delivers them:
//! - `source: aws.iam`, `detail-type: AWS API Call via CloudTrail`, `detail.eventName: CreateUser`;
//! - `source: aws.guardduty`, `detail-type: GuardDuty Finding`;
//! - `source: aws.securityhub`, `Security Hub Findings - Imported` / `- Custom Action`, whose
//!   GuardDuty findings become the same incident as GuardDuty's own event ([`securityhub`]).
//!
//! Fields that drive a decision (event kind, ids, subject name and type, account, region,
//! severity, failure code) are required and checked, with the path named in the error. Fields
//! that only inform (ASN, organisation, geolocation, titles, timestamps other than the decisive
//! one) accept every shape AWS is known to send (a number where a string is documented, null,
//! CloudTrail's `Feb 12, 2025 6:08:11 PM`) and a bad one is left unknown, never a failure. A
//! principal type cordon cannot contain (`AWSService`, `Federated`, one it does not know) is an
//! incident ([`Subject::Principal`]), never an error. Free text is escaped and bounded where it
//! is kept. Names of principals must not contain
//! control characters (they end up in alert text and logs), and the name of a user that
//! `CreateUser` actually created must be a valid IAM name. Attacker-controlled free text that
//! AWS does not constrain (the user agent) is escaped instead of refused, so that an attacker
//! cannot make cordon fail to parse, and so fail to respond, by choosing a strange user agent.

use chrono::{DateTime, Utc};
use serde_json::Value;

#[cfg(test)]
mod real_shapes;
pub mod securityhub;
pub use securityhub::split_findings;

use crate::model::{
    Actor, AttackSequence, FailedCall, Finding, Incident, IncidentSource, RemoteIp, SecurityHubRef,
    Subject,
};

/// EventBridge's own limit on an event: anything larger was not delivered by EventBridge.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// The CloudTrail envelope's `detail-type`.
pub const CLOUDTRAIL_DETAIL_TYPE: &str = "AWS API Call via CloudTrail";
/// GuardDuty's `detail-type`.
pub const GUARDDUTY_DETAIL_TYPE: &str = "GuardDuty Finding";

/// Why an event could not be parsed. Each message names the JSON path and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("event is not a JSON object (found {found})")]
    NotAnObject { found: String },
    #[error("missing field `{path}`")]
    Missing { path: String },
    #[error("field `{path}` has the wrong type: expected {expected}, found {found}")]
    WrongType {
        path: String,
        expected: String,
        found: String,
    },
    #[error("field `{path}` has an invalid value: {problem}")]
    Invalid { path: String, problem: String },
    #[error(
        "unknown event: source `{event_source}` with detail-type `{detail_type}` (cordon handles `aws.iam`/`AWS API Call via CloudTrail`, `aws.guardduty`/`GuardDuty Finding` and `aws.securityhub`/`Security Hub Findings - Imported` or `- Custom Action`)"
    )]
    UnknownEvent {
        event_source: String,
        detail_type: String,
    },
    #[error("unsupported CloudTrail eventName `{name}` (cordon handles `CreateUser`)")]
    UnsupportedEventName { name: String },
    #[error("event is {size} bytes serialized, over EventBridge's {limit}-byte limit")]
    Oversized { size: usize, limit: usize },
    #[error("field `{path}` contains a control character: {escaped}")]
    ControlCharacter { path: String, escaped: String },
    #[error("field `{path}` is not a valid IAM name: {escaped} ({problem})")]
    InvalidName {
        path: String,
        escaped: String,
        problem: String,
    },
}

impl ParseError {
    /// The JSON path the error is about, when there is one.
    pub fn path(&self) -> Option<&str> {
        match self {
            ParseError::Missing { path }
            | ParseError::WrongType { path, .. }
            | ParseError::Invalid { path, .. }
            | ParseError::ControlCharacter { path, .. }
            | ParseError::InvalidName { path, .. } => Some(path),
            _ => None,
        }
    }
}

/// Events up to this size are kept whole in the case file. Larger ones (EventBridge delivers up
/// to 256 KB, the whole of Step Functions' state quota) keep their shape with long strings and
/// arrays cut, so the case file, which grows with every step, stays far below the quota.
pub const KEEP_EVENT_BYTES: usize = 32 * 1024;
/// The key [`bounded_event`] adds to an event it cut, saying what it did.
pub const BOUNDED_NOTE_KEY: &str = "cordon:bounded";

/// What the case file keeps of the delivered event: the event itself up to
/// [`KEEP_EVENT_BYTES`]; else the same structure with strings over 1,024 characters cut (to
/// `…(N bytes)`) and arrays over 25 items shortened, harder if that is not enough, and in the
/// end the envelope alone. The event exactly as delivered is the execution's input.
pub fn bounded_event(event: &Value) -> Value {
    let size = json_size(event);
    if size <= KEEP_EVENT_BYTES {
        return event.clone();
    }
    let note = |how: &str| {
        Value::String(format!(
            "the delivered event was {size} bytes; here {how}. The event as delivered is this execution's input (ExecutionStarted in its history)"
        ))
    };
    for (chars, items) in [(1024, 25), (256, 10), (64, 3)] {
        let mut out = cut(event, chars, items);
        if json_size(&out) <= KEEP_EVENT_BYTES {
            if let Value::Object(map) = &mut out {
                map.insert(
                    BOUNDED_NOTE_KEY.into(),
                    note(&format!(
                        "strings over {chars} characters and arrays over {items} items are cut"
                    )),
                );
            }
            return out;
        }
    }
    let mut envelope = serde_json::Map::new();
    if let Value::Object(map) = event {
        for key in [
            "version",
            "id",
            "detail-type",
            "source",
            "account",
            "time",
            "region",
        ] {
            if let Some(v) = map.get(key) {
                envelope.insert(key.into(), cut(v, 64, 0));
            }
        }
    }
    envelope.insert(BOUNDED_NOTE_KEY.into(), note("only its envelope is kept"));
    Value::Object(envelope)
}

fn json_size(v: &Value) -> usize {
    serde_json::to_vec(v).map(|v| v.len()).unwrap_or(usize::MAX)
}

fn cut(v: &Value, chars: usize, items: usize) -> Value {
    match v {
        Value::String(s) if s.chars().count() > chars => Value::String(bounded(s, chars)),
        Value::Array(a) => {
            let mut out: Vec<Value> = a.iter().take(items).map(|v| cut(v, chars, items)).collect();
            if a.len() > items {
                out.push(Value::String(format!("…({} more items)", a.len() - items)));
            }
            Value::Array(out)
        }
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (bounded(k, chars), cut(v, chars, items)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Parse an EventBridge event (CloudTrail `CreateUser` or a GuardDuty finding).
pub fn parse_event(event: &Value) -> Result<Incident, ParseError> {
    let size = serde_json::to_vec(event)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_EVENT_BYTES {
        return Err(ParseError::Oversized {
            size,
            limit: MAX_EVENT_BYTES,
        });
    }
    let root = Node::root(event);
    if !event.is_object() {
        return Err(ParseError::NotAnObject {
            found: type_name(event).into(),
        });
    }
    let source = root.req_str("source")?;
    let detail_type = root.req_str("detail-type")?;
    let detail = root.req_object("detail")?;
    // The account and region the incident is about come from the payload, never from the
    // envelope: a GuardDuty administrator (or a central bus fed by member accounts) receives
    // a member's events with the envelope's `account` naming itself.
    match (source, detail_type) {
        ("aws.iam", CLOUDTRAIL_DETAIL_TYPE) => {
            let account = match detail.opt_str("recipientAccountId")? {
                Some(a) => account_id(&detail.child_path("recipientAccountId"), a)?,
                None => {
                    let identity = detail.req_object("userIdentity")?;
                    let a = identity.req_str("accountId")?;
                    account_id(&identity.child_path("accountId"), a)?
                }
            };
            let region = region_name(
                &detail.child_path("awsRegion"),
                detail.req_str("awsRegion")?,
            )?;
            parse_cloudtrail(&root, &detail, account, region)
        }
        ("aws.guardduty", GUARDDUTY_DETAIL_TYPE) => {
            let account = account_id(
                &detail.child_path("accountId"),
                detail.req_str("accountId")?,
            )?;
            let region = region_name(&detail.child_path("region"), detail.req_str("region")?)?;
            parse_guardduty(&detail, account, region)
        }
        (
            "aws.securityhub",
            securityhub::IMPORTED_DETAIL_TYPE | securityhub::CUSTOM_ACTION_DETAIL_TYPE,
        ) => securityhub::parse(&detail, detail_type),
        _ => Err(ParseError::UnknownEvent {
            event_source: escape_control(source),
            detail_type: escape_control(detail_type),
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// CloudTrail
// ---------------------------------------------------------------------------------------------

fn parse_cloudtrail(
    _root: &Node<'_>,
    detail: &Node<'_>,
    account: &str,
    region: &str,
) -> Result<Incident, ParseError> {
    let event_name = detail.req_str("eventName")?;
    if event_name != "CreateUser" {
        return Err(ParseError::UnsupportedEventName {
            name: escape_control(event_name),
        });
    }
    let id = detail.req_str("eventID")?;
    no_control(&detail.child_path("eventID"), id)?;
    let observed_at = detail.req_time("eventTime")?;

    let failed_call = detail.opt_str("errorCode")?.map(|code| FailedCall {
        error_code: bounded(&escape_control(code), NAME_CHARS),
        error_message: detail
            .text("errorMessage", DESCRIPTION_CHARS)
            .unwrap_or_default(),
    });

    // The new user: what AWS says it created, else what was asked for.
    let response_user = match detail.opt_object("responseElements")? {
        Some(resp) => resp.opt_object("user")?,
        None => None,
    };
    let request = detail.opt_object("requestParameters")?;
    let subject = match &response_user {
        Some(user) => {
            let name = user.req_str("userName")?;
            check_name(&user.child_path("userName"), name, failed_call.is_none())?;
            let arn = user.opt_str("arn")?;
            if let Some(arn) = arn {
                no_control(&user.child_path("arn"), arn)?;
            }
            let user_id = user.opt_str("userId")?;
            if let Some(uid) = user_id {
                no_control(&user.child_path("userId"), uid)?;
            }
            Subject::IamUser {
                name: name.to_string(),
                arn: arn.map(str::to_string),
                user_id: user_id.map(str::to_string),
                access_key_id: None,
            }
        }
        None => {
            let Some(request) = &request else {
                return Err(ParseError::Missing {
                    path: detail.child_path("requestParameters.userName"),
                });
            };
            let name = request.req_str("userName")?;
            check_name(&request.child_path("userName"), name, failed_call.is_none())?;
            Subject::IamUser {
                name: name.to_string(),
                arn: None,
                user_id: None,
                access_key_id: None,
            }
        }
    };

    let identity = detail.req_object("userIdentity")?;
    let mut actor = parse_user_identity(&identity)?;
    actor.source_ip = detail.text("sourceIPAddress", NAME_CHARS);
    // Chosen by the caller, so by an attacker: kept bounded (its length is itself a signal).
    actor.user_agent = detail.text("userAgent", USER_AGENT_CHARS);

    Ok(Incident {
        id: id.to_string(),
        source: IncidentSource::Cloudtrail,
        kind: "CreateUser".into(),
        account: account.to_string(),
        region: region.to_string(),
        observed_at,
        subject,
        actor: Some(actor),
        finding: None,
        failed_call,
        via: None,
    })
}

fn parse_user_identity(id: &Node<'_>) -> Result<Actor, ParseError> {
    let identity_type = id.req_str("type")?;
    no_control(&id.child_path("type"), identity_type)?;
    let mut actor = Actor {
        identity_type: identity_type.to_string(),
        arn: id.opt_name("arn")?,
        principal_id: id.opt_name("principalId")?,
        account_id: id.opt_name("accountId")?,
        name: None,
        session_issuer_arn: None,
        access_key_id: id.opt_name("accessKeyId")?,
        source_ip: None,
        user_agent: None,
        mfa_authenticated: None,
        invoked_by: id.opt_name("invokedBy")?,
    };
    let session = id.opt_object("sessionContext")?;
    let issuer = match &session {
        Some(s) => s.opt_object("sessionIssuer")?,
        None => None,
    };
    if let Some(s) = &session
        && let Some(attrs) = s.opt_object("attributes")?
    {
        actor.mfa_authenticated = attrs.opt_bool_text("mfaAuthenticated")?;
    }
    match identity_type {
        "IAMUser" => {
            actor.name = id.opt_name("userName")?;
            // Long-term access keys (AKIA...) carry no MFA context at all: no MFA was used.
            if actor.mfa_authenticated.is_none()
                && actor
                    .access_key_id
                    .as_deref()
                    .is_some_and(|k| k.starts_with("AKIA"))
            {
                actor.mfa_authenticated = Some(false);
            }
        }
        "AssumedRole" => {
            if let Some(issuer) = &issuer {
                actor.session_issuer_arn = issuer.opt_name("arn")?;
                actor.name = issuer.opt_name("userName")?;
            }
            if actor.name.is_none() {
                // arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION
                actor.name = actor
                    .arn
                    .as_deref()
                    .and_then(|a| a.split_once(":assumed-role/"))
                    .and_then(|(_, rest)| rest.split('/').next())
                    .map(str::to_string);
            }
        }
        "Root" => actor.name = Some("root".into()),
        "FederatedUser" => {
            if let Some(issuer) = &issuer {
                actor.session_issuer_arn = issuer.opt_name("arn")?;
            }
            actor.name = actor
                .arn
                .as_deref()
                .and_then(|a| a.split_once(":federated-user/"))
                .map(|(_, n)| n.to_string());
        }
        "AWSService" => actor.name = actor.invoked_by.clone(),
        "IdentityCenterUser" => {
            if let Some(on_behalf) = id.opt_object("onBehalfOf")? {
                actor.name = on_behalf.opt_name("userId")?;
            }
        }
        "AWSAccount" => actor.name = actor.account_id.clone(),
        _ => actor.name = id.opt_name("userName")?,
    }
    Ok(actor)
}

// ---------------------------------------------------------------------------------------------
// GuardDuty
// ---------------------------------------------------------------------------------------------

fn parse_guardduty(detail: &Node<'_>, account: &str, region: &str) -> Result<Incident, ParseError> {
    let id = detail.req_str("id")?;
    no_control(&detail.child_path("id"), id)?;
    let finding_type = detail.req_str("type")?;
    no_control(&detail.child_path("type"), finding_type)?;
    let severity = detail.req_number("severity")?;
    if !(0.0..=10.0).contains(&severity) {
        return Err(ParseError::Invalid {
            path: detail.child_path("severity"),
            problem: format!("{severity} is outside GuardDuty's 0.0..=10.0"),
        });
    }
    let observed_at = detail.req_time("updatedAt")?;
    let resource = detail.req_object("resource")?;
    let resource_type = resource.req_str("resourceType")?;
    no_control(&resource.child_path("resourceType"), resource_type)?;
    let service = detail.opt_object("service")?;

    let mut finding = Finding {
        id: id.to_string(),
        finding_type: finding_type.to_string(),
        severity,
        title: detail
            .text("title", TITLE_CHARS)
            .unwrap_or_else(|| finding_type.to_string()),
        description: detail
            .text("description", DESCRIPTION_CHARS)
            .unwrap_or_default(),
        count: 1,
        first_seen: None,
        last_seen: None,
        resource_type: resource_type.to_string(),
        remote_ip: None,
        api_called: None,
        service_name: None,
        archived: false,
        sample: false,
        security_hub: guardduty_security_hub_ref(detail, account, region, id),
        sequence: None,
    };
    if let Some(service) = &service {
        if let Some(count) = service.opt_u64("count")? {
            finding.count = count;
        }
        finding.first_seen = service.lenient_time("eventFirstSeen");
        finding.last_seen = service.lenient_time("eventLastSeen");
        finding.archived = service.lenient_bool("archived").unwrap_or(false);
        finding.sample = service
            .child("additionalInfo")
            .is_some_and(|info| info.lenient_bool("sample") == Some(true));
        if let Some(call) = service
            .child("action")
            .and_then(|a| a.child("awsApiCallAction"))
        {
            finding.api_called = call.text("api", NAME_CHARS);
            finding.service_name = call.text("serviceName", NAME_CHARS);
            if let Some(remote) = call.child("remoteIpDetails") {
                finding.remote_ip = parse_remote_ip(&remote);
            }
        }
        if let Some(sequence) = service.child("detection").and_then(|d| d.child("sequence")) {
            finding.sequence = Some(attack_sequence(&sequence, SequenceKeys::GUARDDUTY));
        }
    }

    let instance_id = match resource.opt_object("instanceDetails")? {
        Some(inst) => inst.opt_name("instanceId")?,
        None => None,
    };

    let (subject, actor) = if resource_type == "AccessKey" {
        let keys = resource.req_object("accessKeyDetails")?;
        let user_type = keys.req_str("userType")?;
        no_control(&keys.child_path("userType"), user_type)?;
        let access_key_id = keys.opt_name("accessKeyId")?;
        let principal_id = keys.opt_name("principalId")?;
        let user_name = keys.opt_str("userName")?;
        let (subject, actor) = principal_and_actor(
            &Principal {
                principal_type: user_type,
                name: user_name,
                name_path: keys.child_path("userName"),
                principal_id: principal_id.as_deref(),
                access_key_id: access_key_id.as_deref(),
                instance_id: instance_id.as_deref(),
            },
            account,
            &mut finding,
        )?;
        (subject, Some(actor))
    } else if resource_type == ATTACK_SEQUENCE {
        let sequence = finding.sequence.clone().unwrap_or_default();
        (sequence_subject(&sequence, account), None)
    } else {
        let id = match resource_type {
            "Instance" => instance_id.clone(),
            _ => None,
        }
        .unwrap_or_else(|| "unknown".to_string());
        (
            Subject::Resource {
                resource_type: resource_type.to_string(),
                id,
            },
            None,
        )
    };

    Ok(Incident {
        id: id.to_string(),
        source: IncidentSource::Guardduty,
        kind: finding_type.to_string(),
        account: account.to_string(),
        region: region.to_string(),
        observed_at,
        subject,
        actor,
        finding: Some(finding),
        failed_call: None,
        via: None,
    })
}

/// GuardDuty's resource type for Extended Threat Detection findings.
pub const ATTACK_SEQUENCE: &str = "AttackSequence";

/// How long free text from a finding or event may be where cordon keeps or echoes it.
pub const TITLE_CHARS: usize = 200;
pub const DESCRIPTION_CHARS: usize = 600;
pub const NAME_CHARS: usize = 128;
/// User agents are chosen by whoever calls AWS: an attacker decides their length.
pub const USER_AGENT_CHARS: usize = 300;
/// At most this many principals and signals of an attack sequence are kept.
pub const SEQUENCE_ITEMS: usize = 10;

/// The Security Hub identifiers of a GuardDuty finding: its ARN (`detail.arn`, else built from
/// the detector id) and GuardDuty's product ARN in the finding's region.
fn guardduty_security_hub_ref(
    detail: &Node<'_>,
    account: &str,
    region: &str,
    id: &str,
) -> Option<SecurityHubRef> {
    let arn = detail
        .get("arn")
        .and_then(Value::as_str)
        .filter(|a| a.starts_with("arn:") && !a.chars().any(char::is_control))
        .map(str::to_string)
        .or_else(|| {
            let detector = detail
                .child("service")?
                .get("detectorId")?
                .as_str()
                .filter(|d| d.chars().all(|c| c.is_ascii_alphanumeric()))?;
            Some(format!(
                "arn:aws:guardduty:{region}:{account}:detector/{detector}/finding/{id}"
            ))
        })?;
    let partition = arn.split(':').nth(1).unwrap_or("aws");
    Some(SecurityHubRef {
        product_arn: format!("arn:{partition}:securityhub:{region}::product/aws/guardduty"),
        id: arn,
    })
}

/// `GeneratedFindingUserName`, `GeneratedFindingAccessKeyId`, ...: the placeholders of
/// `aws guardduty create-sample-findings`.
pub(crate) fn is_placeholder(value: &str) -> bool {
    value.starts_with("GeneratedFinding")
}

/// A principal as a finding names it (GuardDuty's `accessKeyDetails`, or Security Hub's
/// `AwsIamAccessKey` details).
pub(crate) struct Principal<'a> {
    pub principal_type: &'a str,
    pub name: Option<&'a str>,
    /// Where the name was read (for errors).
    pub name_path: String,
    pub principal_id: Option<&'a str>,
    pub access_key_id: Option<&'a str>,
    pub instance_id: Option<&'a str>,
}

/// The subject for a principal type: a user or a role cordon can contain (the name is then
/// required and must be an IAM name), the root user, or — for `AWSService`, `Federated`, a
/// placeholder or a type cordon does not know — a principal it cannot contain, which is an
/// incident for a human, never a parse error.
pub(crate) fn principal_subject(p: &Principal<'_>, account: &str) -> Result<Subject, ParseError> {
    let owned = |v: Option<&str>| v.map(str::to_string);
    let name = || -> Result<String, ParseError> {
        let name = p.name.ok_or_else(|| ParseError::Missing {
            path: p.name_path.clone(),
        })?;
        check_name(&p.name_path, name, true)?;
        Ok(name.to_string())
    };
    Ok(match p.principal_type {
        "IAMUser" => Subject::IamUser {
            name: name()?,
            arn: None,
            user_id: owned(p.principal_id),
            access_key_id: owned(p.access_key_id),
        },
        // `Role`: the role itself is named (no session); instance credentials use the instance
        // id as the session name in `principalId` (ROLEID:SESSIONNAME).
        "AssumedRole" | "Role" => {
            let session_name = p
                .principal_id
                .and_then(|p| p.split_once(':'))
                .map(|(_, s)| s.to_string());
            let instance_id = owned(p.instance_id)
                .or_else(|| session_name.clone().filter(|s| looks_like_instance_id(s)));
            Subject::AssumedRole {
                role_name: name()?,
                role_arn: None,
                session_name,
                instance_id,
                access_key_id: owned(p.access_key_id),
            }
        }
        "Root" => Subject::Root {
            account: account.to_string(),
        },
        other => Subject::Principal {
            principal_type: bounded(&escape_control(other), NAME_CHARS),
            name: p.name.map(|n| bounded(&escape_control(n), NAME_CHARS)),
            principal_id: p
                .principal_id
                .map(|n| bounded(&escape_control(n), NAME_CHARS)),
            access_key_id: owned(p.access_key_id),
        },
    })
}

/// The subject a finding's principal is ([`principal_subject`]) and the actor it records; marks
/// the finding a sample when the principal is a placeholder.
pub(crate) fn principal_and_actor(
    p: &Principal<'_>,
    account: &str,
    finding: &mut Finding,
) -> Result<(Subject, Actor), ParseError> {
    finding.sample |= [p.principal_type, p.name.unwrap_or_default()]
        .into_iter()
        .chain(p.principal_id)
        .chain(p.access_key_id)
        .any(is_placeholder);
    let subject = principal_subject(p, account)?;
    let actor = Actor {
        identity_type: p.principal_type.to_string(),
        arn: None,
        principal_id: p.principal_id.map(str::to_string),
        account_id: Some(account.to_string()),
        name: p.name.map(escape_control),
        session_issuer_arn: None,
        access_key_id: p.access_key_id.map(str::to_string),
        source_ip: finding.remote_ip.as_ref().map(|r| r.ip.clone()),
        user_agent: None,
        mfa_authenticated: None,
        invoked_by: None,
    };
    Ok((subject, actor))
}

/// The keys of an attack sequence: GuardDuty's own JSON is camelCase, Security Hub's ASFF
/// PascalCase.
pub(crate) struct SequenceKeys {
    actors: &'static str,
    user: &'static str,
    name: &'static str,
    uid: &'static str,
    kind: &'static str,
    account: &'static str,
    signals: &'static str,
    title: [&'static str; 2],
    description: &'static str,
}

impl SequenceKeys {
    pub(crate) const GUARDDUTY: SequenceKeys = SequenceKeys {
        actors: "actors",
        user: "user",
        name: "name",
        uid: "uid",
        kind: "type",
        account: "account",
        signals: "signals",
        title: ["name", "type"],
        description: "description",
    };
    pub(crate) const ASFF: SequenceKeys = SequenceKeys {
        actors: "Actors",
        user: "User",
        name: "Name",
        uid: "Uid",
        kind: "Type",
        account: "Account",
        signals: "Signals",
        title: ["Title", "Type"],
        description: "Description",
    };
}

/// What an attack sequence names, read leniently: it informs a human; only an unambiguous
/// principal ([`sequence_subject`]) decides anything. Principals are `TYPE NAME@ACCOUNT`.
pub(crate) fn attack_sequence(seq: &Node<'_>, k: SequenceKeys) -> AttackSequence {
    let mut out = AttackSequence {
        description: seq
            .text(k.description, DESCRIPTION_CHARS)
            .unwrap_or_default(),
        ..AttackSequence::default()
    };
    for actor in seq.children(k.actors) {
        let Some(user) = actor.child(k.user) else {
            continue;
        };
        let name = user
            .text(k.name, NAME_CHARS)
            .or_else(|| user.text(k.uid, NAME_CHARS));
        let Some(name) = name else { continue };
        let kind = user
            .text(k.kind, NAME_CHARS)
            .unwrap_or_else(|| "unknown".into());
        let account = user
            .child(k.account)
            .and_then(|a| a.text(k.uid, NAME_CHARS))
            .unwrap_or_default();
        let entry = format!("{kind} {name}@{account}");
        if !out.principals.contains(&entry) && out.principals.len() < SEQUENCE_ITEMS {
            out.principals.push(entry);
        }
    }
    for signal in seq.children(k.signals) {
        let title = k.title.iter().find_map(|key| signal.text(key, TITLE_CHARS));
        if let Some(title) = title
            && !out.signals.contains(&title)
            && out.signals.len() < SEQUENCE_ITEMS
        {
            out.signals.push(title);
        }
    }
    out
}

/// The subject of an attack sequence: the one IAM user or role it names in the incident's
/// account, when there is exactly one (and its name is an IAM name); otherwise a principal
/// cordon cannot contain on its own (a human reads the sequence).
pub(crate) fn sequence_subject(seq: &AttackSequence, account: &str) -> Subject {
    let candidates: Vec<(&str, &str)> = seq
        .principals
        .iter()
        .filter_map(|p| {
            let (kind, rest) = p.split_once(' ')?;
            let (name, acct) = rest.rsplit_once('@')?;
            (acct.is_empty() || acct == account).then_some((kind, name))
        })
        .filter(|(kind, _)| matches!(*kind, "IAMUser" | "AssumedRole" | "Role"))
        .collect();
    if let [(kind, name)] = candidates.as_slice()
        && check_name("sequence", name, true).is_ok()
    {
        return match *kind {
            "IAMUser" => Subject::IamUser {
                name: name.to_string(),
                arn: None,
                user_id: None,
                access_key_id: None,
            },
            _ => Subject::AssumedRole {
                role_name: name.to_string(),
                role_arn: None,
                session_name: None,
                instance_id: None,
                access_key_id: None,
            },
        };
    }
    Subject::Principal {
        principal_type: ATTACK_SEQUENCE.into(),
        name: None,
        principal_id: None,
        access_key_id: None,
    }
}

/// Remote IP details only inform: any shape AWS sends is accepted, a bad field is left out.
fn parse_remote_ip(remote: &Node<'_>) -> Option<RemoteIp> {
    let ip = remote
        .text("ipAddressV4", NAME_CHARS)
        .or_else(|| remote.text("ipAddressV6", NAME_CHARS))?;
    let org = remote.child("organization");
    let org_text = |key: &str| org.as_ref().and_then(|o| o.text(key, NAME_CHARS));
    Some(RemoteIp {
        ip,
        org: org_text("org"),
        asn: org_text("asn"),
        asn_org: org_text("asnOrg"),
        isp: org_text("isp"),
        country: remote
            .child("country")
            .and_then(|c| c.text("countryName", NAME_CHARS)),
        city: remote
            .child("city")
            .and_then(|c| c.text("cityName", NAME_CHARS)),
    })
}

pub(crate) fn looks_like_instance_id(s: &str) -> bool {
    s.strip_prefix("i-")
        .is_some_and(|h| (8..=17).contains(&h.len()) && h.chars().all(|c| c.is_ascii_hexdigit()))
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

/// Escape control characters (`\n` → `\u{a}`) so a value is safe in one line of text.
pub fn escape_control(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// A 12-digit AWS account id.
pub(crate) fn account_id<'a>(path: &str, value: &'a str) -> Result<&'a str, ParseError> {
    if value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(value)
    } else {
        Err(ParseError::Invalid {
            path: path.to_string(),
            problem: format!(
                "`{}` is not a 12-digit AWS account id",
                escape_control(&bounded(value, 40))
            ),
        })
    }
}

/// An AWS region name (`us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`).
pub(crate) fn region_name<'a>(path: &str, value: &'a str) -> Result<&'a str, ParseError> {
    let ok = !value.is_empty()
        && value.len() <= 32
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && value.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && value.bytes().last().is_some_and(|b| b.is_ascii_digit());
    if ok {
        Ok(value)
    } else {
        Err(ParseError::Invalid {
            path: path.to_string(),
            problem: format!(
                "`{}` is not an AWS region name",
                escape_control(&bounded(value, 40))
            ),
        })
    }
}

/// `value` cut to `max_chars` characters, with `…(N bytes)` saying how long it was.
pub fn bounded(value: &str, max_chars: usize) -> String {
    if value.chars().count() <= max_chars {
        value.to_string()
    } else {
        let head: String = value.chars().take(max_chars).collect();
        format!("{head}…({} bytes)", value.len())
    }
}

pub(crate) fn no_control(path: &str, value: &str) -> Result<(), ParseError> {
    if value.chars().any(char::is_control) {
        return Err(ParseError::ControlCharacter {
            path: path.to_string(),
            escaped: escape_control(value),
        });
    }
    Ok(())
}

/// A principal name: never control characters; when AWS accepted it (`strict`), IAM's charset.
pub(crate) fn check_name(path: &str, value: &str, strict: bool) -> Result<(), ParseError> {
    no_control(path, value)?;
    if !strict {
        return Ok(());
    }
    let problem = if value.is_empty() {
        Some("empty".to_string())
    } else if value.chars().count() > 64 {
        Some(format!(
            "{} characters, IAM allows at most 64",
            value.chars().count()
        ))
    } else {
        value
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c)))
            .map(|c| {
                format!(
                    "character `{}` (U+{:04X}) is outside IAM's [A-Za-z0-9+=,.@_-]",
                    c, c as u32
                )
            })
    };
    match problem {
        Some(problem) => Err(ParseError::InvalidName {
            path: path.to_string(),
            escaped: escape_control(value),
            problem,
        }),
        None => Ok(()),
    }
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Every timestamp form AWS is known to write: RFC 3339, and CloudTrail's
/// `Feb 12, 2025 6:08:11 PM` (IAM's `createDate` in some response elements; UTC).
pub fn parse_any_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for format in [
        "%b %d, %Y %I:%M:%S %p",
        "%b %e, %Y %l:%M:%S %p",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, format) {
            return Some(t.and_utc());
        }
    }
    None
}

/// A JSON value with the path that leads to it, for error messages.
pub(crate) struct Node<'a> {
    value: &'a Value,
    path: String,
}

impl<'a> Node<'a> {
    pub(crate) fn root(value: &'a Value) -> Self {
        Node {
            value,
            path: String::new(),
        }
    }

    pub(crate) fn child_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{}", self.path, key)
        }
    }

    /// `Ok(None)` when absent or null.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.value.get(key).filter(|v| !v.is_null())
    }

    pub(crate) fn wrong(&self, key: &str, expected: &str, found: &Value) -> ParseError {
        ParseError::WrongType {
            path: self.child_path(key),
            expected: expected.to_string(),
            found: type_name(found).to_string(),
        }
    }

    pub(crate) fn missing(&self, key: &str) -> ParseError {
        ParseError::Missing {
            path: self.child_path(key),
        }
    }

    pub(crate) fn opt_str(&self, key: &str) -> Result<Option<&'a str>, ParseError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(self.wrong(key, "a string", other)),
        }
    }

    pub(crate) fn req_str(&self, key: &str) -> Result<&'a str, ParseError> {
        self.opt_str(key)?.ok_or_else(|| self.missing(key))
    }

    /// An optional string that must not contain control characters.
    pub(crate) fn opt_name(&self, key: &str) -> Result<Option<String>, ParseError> {
        match self.opt_str(key)? {
            Some(s) => {
                no_control(&self.child_path(key), s)?;
                Ok(Some(s.to_string()))
            }
            None => Ok(None),
        }
    }

    pub(crate) fn opt_object(&self, key: &str) -> Result<Option<Node<'a>>, ParseError> {
        match self.get(key) {
            None => Ok(None),
            Some(v @ Value::Object(_)) => Ok(Some(Node {
                value: v,
                path: self.child_path(key),
            })),
            Some(other) => Err(self.wrong(key, "an object", other)),
        }
    }

    pub(crate) fn req_object(&self, key: &str) -> Result<Node<'a>, ParseError> {
        self.opt_object(key)?.ok_or_else(|| self.missing(key))
    }

    pub(crate) fn req_f64(&self, key: &str) -> Result<f64, ParseError> {
        match self.get(key) {
            None => Err(self.missing(key)),
            Some(Value::Number(n)) => n
                .as_f64()
                .ok_or_else(|| self.wrong(key, "a number", &Value::Null)),
            Some(other) => Err(self.wrong(key, "a number", other)),
        }
    }

    pub(crate) fn opt_u64(&self, key: &str) -> Result<Option<u64>, ParseError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| ParseError::Invalid {
                path: self.child_path(key),
                problem: format!("{n} is not a non-negative integer"),
            }),
            Some(other) => Err(self.wrong(key, "a non-negative integer", other)),
        }
    }

    /// CloudTrail writes booleans as `"true"`/`"false"` strings; accept real booleans too.
    pub(crate) fn opt_bool_text(&self, key: &str) -> Result<Option<bool>, ParseError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(Value::String(s)) => Err(ParseError::Invalid {
                path: self.child_path(key),
                problem: format!("`{}` is neither \"true\" nor \"false\"", escape_control(s)),
            }),
            Some(other) => Err(self.wrong(key, "\"true\" or \"false\"", other)),
        }
    }

    /// The decisive timestamp: RFC 3339, or another form AWS (or a forwarder) is known to
    /// write ([`parse_any_time`]), read as UTC.
    pub(crate) fn opt_time(&self, key: &str) -> Result<Option<DateTime<Utc>>, ParseError> {
        match self.opt_str(key)? {
            None => Ok(None),
            Some(s) => parse_any_time(s)
                .map(Some)
                .ok_or_else(|| ParseError::Invalid {
                    path: self.child_path(key),
                    problem: format!(
                        "`{}` is not an RFC 3339 timestamp",
                        escape_control(&bounded(s, 60))
                    ),
                }),
        }
    }

    pub(crate) fn req_time(&self, key: &str) -> Result<DateTime<Utc>, ParseError> {
        self.opt_time(key)?.ok_or_else(|| self.missing(key))
    }

    /// A number that decides something: a JSON number, or a numeric string (some producers
    /// quote numbers).
    pub(crate) fn req_number(&self, key: &str) -> Result<f64, ParseError> {
        match self.get(key) {
            Some(Value::String(s)) => s.trim().parse::<f64>().map_err(|_| ParseError::Invalid {
                path: self.child_path(key),
                problem: format!("`{}` is not a number", escape_control(&bounded(s, 40))),
            }),
            _ => self.req_f64(key),
        }
    }

    /// A child object, leniently: `None` when absent or not an object (for fields that only
    /// inform).
    pub(crate) fn child(&self, key: &str) -> Option<Node<'a>> {
        self.opt_object(key).ok().flatten()
    }

    /// The objects of an array, leniently (other elements and other shapes are skipped).
    pub(crate) fn children(&self, key: &str) -> Vec<Node<'a>> {
        let path = self.child_path(key);
        match self.get(key) {
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_object())
                .map(|(i, v)| Node {
                    value: v,
                    path: format!("{path}[{i}]"),
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Text that only informs, in every shape AWS is known to send it: a string (control
    /// characters escaped, bounded to `max_chars`), or a number or boolean written out (an
    /// ASN arrives as `16509` as well as `"16509"`). Anything else (or empty) is `None`:
    /// unknown in the case file, never a failure.
    pub(crate) fn text(&self, key: &str, max_chars: usize) -> Option<String> {
        let text = match self.get(key)? {
            Value::String(s) => s.trim().to_string(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return None,
        };
        (!text.is_empty()).then(|| bounded(&escape_control(&text), max_chars))
    }

    /// A boolean that only informs: `true`/`false`, or their text.
    pub(crate) fn lenient_bool(&self, key: &str) -> Option<bool> {
        self.opt_bool_text(key).ok().flatten()
    }

    /// A timestamp that only informs: RFC 3339, CloudTrail's `Feb 12, 2025 6:08:11 PM` (UTC),
    /// or epoch seconds or milliseconds. Anything else is `None`.
    pub(crate) fn lenient_time(&self, key: &str) -> Option<DateTime<Utc>> {
        match self.get(key)? {
            Value::String(s) => parse_any_time(s),
            Value::Number(n) => {
                let n = n.as_i64()?;
                if n > 100_000_000_000 {
                    DateTime::from_timestamp_millis(n)
                } else {
                    DateTime::from_timestamp(n, 0)
                }
            }
            _ => None,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::Subject;

    /// A fixture from `tests/events/`, parsed as JSON.
    pub(crate) fn fixture(name: &str) -> Value {
        let path = format!(
            "{}/../../tests/events/{name}",
            std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    pub(crate) fn incident(name: &str) -> Incident {
        parse_event(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_account_and_region_come_from_the_payload_never_the_envelope() {
        // A GuardDuty administrator receives its member's finding with the envelope naming
        // the administrator.
        let mut gd = fixture("guardduty-instance-credential-exfiltration-outside-aws.json");
        gd["account"] = "123456789012".into();
        gd["detail"]["accountId"] = "999988887777".into();
        gd["detail"]["region"] = "eu-west-1".into();
        let i = parse_event(&gd).unwrap();
        assert_eq!(
            (i.account.as_str(), i.region.as_str()),
            ("999988887777", "eu-west-1")
        );

        // A member's CreateUser forwarded to the central bus.
        let mut ct = fixture("cloudtrail-create-user-by-iam-user.json");
        ct["account"] = "123456789012".into();
        ct["detail"]["recipientAccountId"] = "999988887777".into();
        assert_eq!(parse_event(&ct).unwrap().account, "999988887777");
        // Without recipientAccountId, the caller's account.
        ct["detail"]
            .as_object_mut()
            .unwrap()
            .remove("recipientAccountId");
        ct["detail"]["userIdentity"]["accountId"] = "444455556666".into();
        assert_eq!(parse_event(&ct).unwrap().account, "444455556666");

        // A missing or malformed account is named, not guessed from the envelope.
        gd["detail"].as_object_mut().unwrap().remove("accountId");
        assert_eq!(
            parse_event(&gd).unwrap_err().path(),
            Some("detail.accountId")
        );
        gd["detail"]["accountId"] = "9999-8888-7777".into();
        let err = parse_event(&gd).unwrap_err();
        assert_eq!(err.path(), Some("detail.accountId"));
        assert!(err.to_string().contains("12-digit"), "{err}");
        gd["detail"]["accountId"] = "999988887777".into();
        gd["detail"]["region"] = "../../etc".into();
        assert_eq!(parse_event(&gd).unwrap_err().path(), Some("detail.region"));
    }

    fn user(name: &str, arn: Option<&str>, user_id: Option<&str>, key: Option<&str>) -> Subject {
        Subject::IamUser {
            name: name.into(),
            arn: arn.map(Into::into),
            user_id: user_id.map(Into::into),
            access_key_id: key.map(Into::into),
        }
    }

    #[test]
    fn create_user_by_iam_user() {
        let i = incident("cloudtrail-create-user-by-iam-user.json");
        assert_eq!(i.id, "3b7a1f0e-2c4d-4e5f-9a8b-1c2d3e4f5a01");
        assert_eq!(i.source, IncidentSource::Cloudtrail);
        assert_eq!(i.kind, "CreateUser");
        assert_eq!(i.account, "123456789012");
        assert_eq!(i.region, "us-east-1");
        assert_eq!(i.observed_at, t("2026-03-14T02:13:07Z"));
        assert_eq!(
            i.subject,
            user(
                "bob.smith",
                Some("arn:aws:iam::123456789012:user/bob.smith"),
                Some("AIDA3B7A1F0E2C4D4E5F9"),
                None
            )
        );
        assert_eq!(
            i.actor,
            Some(Actor {
                identity_type: "IAMUser".into(),
                arn: Some("arn:aws:iam::123456789012:user/alice".into()),
                principal_id: Some("AIDAALICEEXAMPLE0001".into()),
                account_id: Some("123456789012".into()),
                name: Some("alice".into()),
                session_issuer_arn: None,
                access_key_id: Some("ASIAALICECONSOLE0001".into()),
                source_ip: Some("203.0.113.10".into()),
                user_agent: Some("AWS Internal".into()),
                mfa_authenticated: Some(true),
                invoked_by: None,
            })
        );
        assert_eq!(i.finding, None);
        assert_eq!(i.failed_call, None);
    }

    #[test]
    fn create_user_by_sso_admin() {
        let i = incident("cloudtrail-create-user-by-sso-admin.json");
        assert_eq!(i.id, "5d2e8c41-7a3b-4c6d-8e9f-0a1b2c3d4e02");
        let Subject::IamUser { name, .. } = &i.subject else {
            panic!("{:?}", i.subject)
        };
        assert_eq!(name, "data-analyst-7");
        let a = i.actor.unwrap();
        assert_eq!(a.identity_type, "AssumedRole");
        assert_eq!(
            a.arn.as_deref(),
            Some(
                "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/jane@example.com"
            )
        );
        assert_eq!(
            a.session_issuer_arn.as_deref(),
            Some(
                "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_AdministratorAccess_0123456789abcdef"
            )
        );
        assert_eq!(
            a.name.as_deref(),
            Some("AWSReservedSSO_AdministratorAccess_0123456789abcdef")
        );
        assert_eq!(a.mfa_authenticated, Some(false));
        assert_eq!(a.source_ip.as_deref(), Some("192.0.2.44"));
    }

    #[test]
    fn create_user_by_ci_pipeline() {
        let i = incident("cloudtrail-create-user-by-ci-pipeline.json");
        let a = i.actor.unwrap();
        assert_eq!(a.identity_type, "AssumedRole");
        assert_eq!(a.name.as_deref(), Some("terraform-deployer"));
        assert_eq!(
            a.session_issuer_arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/terraform-deployer")
        );
        assert!(
            a.user_agent
                .unwrap()
                .starts_with("APN/1.0 HashiCorp/1.0 Terraform/1.7.5")
        );
        assert_eq!(
            i.subject,
            user(
                "app-reporting-svc",
                Some("arn:aws:iam::123456789012:user/app-reporting-svc"),
                Some("AIDA7F4A9B621E2D4F3CA"),
                None
            )
        );
    }

    #[test]
    fn create_user_by_root() {
        let a = incident("cloudtrail-create-user-by-root.json")
            .actor
            .unwrap();
        assert_eq!(a.identity_type, "Root");
        assert_eq!(a.arn.as_deref(), Some("arn:aws:iam::123456789012:root"));
        assert_eq!(a.name.as_deref(), Some("root"));
        assert_eq!(a.mfa_authenticated, Some(true));
    }

    #[test]
    fn create_user_access_denied_is_a_failed_call() {
        let i = incident("cloudtrail-create-user-access-denied.json");
        assert_eq!(i.subject, user("backdoor", None, None, None));
        let f = i.failed_call.unwrap();
        assert_eq!(f.error_code, "AccessDenied");
        assert!(
            f.error_message
                .starts_with("User: arn:aws:iam::123456789012:user/intern is not authorized")
        );
    }

    #[test]
    fn create_user_suspicious_long_term_key_has_no_mfa() {
        let i = incident("cloudtrail-create-user-suspicious-name-no-mfa-cli.json");
        let Subject::IamUser { name, .. } = &i.subject else {
            panic!()
        };
        assert_eq!(name, "service-x7k2qa");
        let a = i.actor.unwrap();
        assert_eq!(a.name.as_deref(), Some("devops-tools"));
        assert_eq!(a.access_key_id.as_deref(), Some("AKIADEVOPSEXAMPLE001"));
        assert_eq!(a.mfa_authenticated, Some(false));
        assert_eq!(a.source_ip.as_deref(), Some("185.220.101.34"));
        assert!(a.user_agent.unwrap().starts_with("aws-cli/2.15.30"));
    }

    #[test]
    fn create_user_by_other_identity_types() {
        let a = incident("cloudtrail-create-user-by-federated-user.json")
            .actor
            .unwrap();
        assert_eq!(a.identity_type, "FederatedUser");
        assert_eq!(a.name.as_deref(), Some("contractor-dave"));
        assert_eq!(
            a.session_issuer_arn.as_deref(),
            Some("arn:aws:iam::123456789012:user/identity-broker")
        );

        let a = incident("cloudtrail-create-user-by-identity-center-user.json")
            .actor
            .unwrap();
        assert_eq!(a.identity_type, "IdentityCenterUser");
        assert_eq!(
            a.name.as_deref(),
            Some("94482488-3041-7026-18f3-be45837cd0e4")
        );
        assert_eq!(a.arn, None);

        let a = incident("cloudtrail-create-user-by-aws-service.json")
            .actor
            .unwrap();
        assert_eq!(a.identity_type, "AWSService");
        assert_eq!(a.name.as_deref(), Some("cloudformation.amazonaws.com"));
        assert_eq!(
            a.invoked_by.as_deref(),
            Some("cloudformation.amazonaws.com")
        );
    }

    #[test]
    fn control_characters_in_user_agent_are_escaped_not_fatal() {
        let a = incident("cloudtrail-create-user-control-chars-in-user-agent.json")
            .actor
            .unwrap();
        assert_eq!(
            a.user_agent.as_deref(),
            Some("curl/8.5.0\\u{d}\\u{a}X-Injected: yes")
        );
    }

    #[test]
    fn guardduty_exfiltration_outside_aws() {
        let i = incident("guardduty-instance-credential-exfiltration-outside-aws.json");
        assert_eq!(i.id, "a4c5d6e7f8091a2b3c4d5e6f708192a3");
        assert_eq!(i.source, IncidentSource::Guardduty);
        assert_eq!(
            i.kind,
            "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"
        );
        assert_eq!(i.observed_at, t("2026-03-14T01:45:12.345Z"));
        assert_eq!(
            i.subject,
            Subject::AssumedRole {
                role_name: "web-app-role".into(),
                role_arn: None,
                session_name: Some("i-0a1b2c3d4e5f60718".into()),
                instance_id: Some("i-0a1b2c3d4e5f60718".into()),
                access_key_id: Some("ASIAWEBAPPSTOLEN0001".into()),
            }
        );
        let f = i.finding.unwrap();
        assert_eq!(f.severity, 8.0);
        assert_eq!(f.count, 1);
        assert_eq!(f.resource_type, "AccessKey");
        assert_eq!(f.api_called.as_deref(), Some("ListBuckets"));
        assert_eq!(f.service_name.as_deref(), Some("s3.amazonaws.com"));
        assert_eq!(f.first_seen, Some(t("2026-03-14T01:10:00Z")));
        assert_eq!(f.last_seen, Some(t("2026-03-14T01:40:00Z")));
        assert!(!f.archived);
        assert_eq!(
            f.title,
            "Credentials for instance role web-app-role used from external IP address."
        );
        assert_eq!(
            f.remote_ip,
            Some(RemoteIp {
                ip: "198.51.100.77".into(),
                org: Some("Example Hosting Ltd".into()),
                asn: Some("64500".into()),
                asn_org: Some("EXAMPLE-HOSTING-AS".into()),
                isp: Some("Example Hosting Ltd".into()),
                country: Some("Netherlands".into()),
                city: Some("Amsterdam".into()),
            })
        );
        let a = i.actor.unwrap();
        assert_eq!(a.identity_type, "AssumedRole");
        assert_eq!(a.source_ip.as_deref(), Some("198.51.100.77"));
    }

    #[test]
    fn guardduty_update_keeps_the_id_and_raises_the_count() {
        let first = incident("guardduty-instance-credential-exfiltration-outside-aws.json");
        let update =
            incident("guardduty-instance-credential-exfiltration-outside-aws-updated.json");
        assert_eq!(update.id, first.id);
        assert_eq!(update.finding.as_ref().unwrap().count, 14);
        assert_eq!(update.observed_at, t("2026-03-14T03:15:00Z"));
        assert_eq!(update.subject, first.subject);
    }

    #[test]
    fn guardduty_exfiltration_inside_aws_takes_instance_from_session_name() {
        let i = incident("guardduty-instance-credential-exfiltration-inside-aws.json");
        assert_eq!(
            i.subject,
            Subject::AssumedRole {
                role_name: "batch-worker-role".into(),
                role_arn: None,
                session_name: Some("i-0fedcba9876543210".into()),
                instance_id: Some("i-0fedcba9876543210".into()),
                access_key_id: Some("ASIABATCHROLESTOLEN1".into()),
            }
        );
    }

    #[test]
    fn guardduty_iam_user_findings() {
        for (file, kind, name, key, severity) in [
            (
                "guardduty-tor-ip-caller.json",
                "Recon:IAMUser/TorIPCaller",
                "dev-bob",
                "AKIADEVBOBEXAMPLE001",
                5.0,
            ),
            (
                "guardduty-console-login-success-b.json",
                "UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B",
                "carol",
                "ASIACAROLCONSOLE0001",
                5.0,
            ),
            (
                "guardduty-anomalous-behavior.json",
                "CredentialAccess:IAMUser/AnomalousBehavior",
                "analytics-etl",
                "AKIAETLEXAMPLE000001",
                5.0,
            ),
            (
                "guardduty-low-severity.json",
                "Discovery:IAMUser/AnomalousBehavior",
                "reporting-bot",
                "AKIAREPORTBOTEXMPL01",
                2.0,
            ),
        ] {
            let i = incident(file);
            assert_eq!(i.kind, kind, "{file}");
            let Subject::IamUser {
                name: n,
                access_key_id,
                ..
            } = &i.subject
            else {
                panic!("{file}")
            };
            assert_eq!(n, name, "{file}");
            assert_eq!(access_key_id.as_deref(), Some(key), "{file}");
            assert_eq!(i.finding.unwrap().severity, severity, "{file}");
        }
    }

    #[test]
    fn guardduty_root_and_archived_and_port_probe() {
        let i = incident("guardduty-root-credential-usage.json");
        assert_eq!(
            i.subject,
            Subject::Root {
                account: "123456789012".into()
            }
        );
        assert_eq!(i.kind, "Policy:IAMUser/RootCredentialUsage");

        let i = incident("guardduty-archived.json");
        assert!(i.finding.unwrap().archived);

        let i = incident("guardduty-ec2-port-probe.json");
        assert_eq!(
            i.subject,
            Subject::Resource {
                resource_type: "Instance".into(),
                id: "i-0123456789abcdef0".into()
            }
        );
        assert_eq!(i.actor, None);
        let f = i.finding.unwrap();
        assert_eq!(f.resource_type, "Instance");
        assert_eq!(f.remote_ip, None);
    }

    fn err(name: &str) -> ParseError {
        match parse_event(&fixture(name)) {
            Ok(i) => panic!("{name} parsed: {i:?}"),
            Err(e) => e,
        }
    }

    fn missing(path: &str) -> ParseError {
        ParseError::Missing { path: path.into() }
    }

    fn wrong(path: &str, expected: &str, found: &str) -> ParseError {
        ParseError::WrongType {
            path: path.into(),
            expected: expected.into(),
            found: found.into(),
        }
    }

    #[test]
    fn malformed_fixtures_give_the_named_error() {
        assert_eq!(
            err("malformed-not-an-object.json"),
            ParseError::NotAnObject {
                found: "an array".into()
            }
        );
        assert_eq!(
            err("malformed-missing-detail-type.json"),
            missing("detail-type")
        );
        assert_eq!(
            err("malformed-unknown-detail-type.json"),
            ParseError::UnknownEvent {
                event_source: "aws.ec2".into(),
                detail_type: "EC2 Instance State-change Notification".into()
            }
        );
        assert_eq!(
            err("malformed-detail-not-an-object.json"),
            wrong("detail", "an object", "a string")
        );
        assert_eq!(
            err("malformed-unsupported-event-name.json"),
            ParseError::UnsupportedEventName {
                name: "DeleteUser".into()
            }
        );
        assert_eq!(
            err("malformed-create-user-without-user-name.json"),
            missing("detail.requestParameters.userName")
        );
        assert_eq!(
            err("malformed-create-user-missing-event-id.json"),
            missing("detail.eventID")
        );
        let e = err("malformed-create-user-bad-event-time.json");
        assert_eq!(e.path(), Some("detail.eventTime"));
        assert!(matches!(e, ParseError::Invalid { .. }), "{e:?}");
        assert!(
            e.to_string()
                .contains("`yesterday at 2` is not an RFC 3339 timestamp"),
            "{e}"
        );
        assert_eq!(
            err("malformed-user-identity-not-an-object.json"),
            wrong("detail.userIdentity", "an object", "a string")
        );
        assert_eq!(
            err("malformed-control-character-in-user-name.json"),
            ParseError::ControlCharacter {
                path: "detail.responseElements.user.userName".into(),
                escaped: "bob\\u{a}SecurityStatus=ok".into()
            }
        );
        assert_eq!(
            err("malformed-unicode-user-name.json"),
            ParseError::InvalidName {
                path: "detail.responseElements.user.userName".into(),
                escaped: "\u{430}dministrator".into(),
                problem: "character `\u{430}` (U+0430) is outside IAM's [A-Za-z0-9+=,.@_-]".into()
            }
        );
        assert_eq!(
            err("malformed-guardduty-without-id.json"),
            missing("detail.id")
        );
        assert_eq!(
            err("malformed-guardduty-severity-not-a-number.json"),
            ParseError::Invalid {
                path: "detail.severity".into(),
                problem: "`HIGH` is not a number".into()
            }
        );
        assert_eq!(
            err("malformed-guardduty-severity-out-of-range.json"),
            ParseError::Invalid {
                path: "detail.severity".into(),
                problem: "42 is outside GuardDuty's 0.0..=10.0".into()
            }
        );
        assert_eq!(
            err("malformed-guardduty-missing-user-type.json"),
            missing("detail.resource.accessKeyDetails.userType")
        );
        assert_eq!(
            err("malformed-guardduty-count-negative.json"),
            ParseError::Invalid {
                path: "detail.service.count".into(),
                problem: "-3 is not a non-negative integer".into()
            }
        );
        let event = fixture("malformed-oversized.json");
        let size = serde_json::to_vec(&event).unwrap().len();
        assert!(size > 300_000, "{size}");
        assert_eq!(
            parse_event(&event),
            Err(ParseError::Oversized {
                size,
                limit: 262_144
            })
        );
    }

    #[test]
    fn every_fixture_is_covered_and_malformed_ones_fail() {
        let dir = format!(
            "{}/../../tests/events",
            std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo")
        );
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if !name.ends_with(".json") {
                continue;
            }
            n += 1;
            let result = parse_event(&fixture(&name));
            assert_eq!(
                result.is_err(),
                name.starts_with("malformed-"),
                "{name}: {result:?}"
            );
        }
        assert_eq!(n, 39, "a new fixture needs its own test above");
    }

    #[test]
    fn error_messages_name_the_problem() {
        assert_eq!(
            missing("detail.id").to_string(),
            "missing field `detail.id`"
        );
        assert_eq!(
            wrong("detail.severity", "a number", "a string").to_string(),
            "field `detail.severity` has the wrong type: expected a number, found a string"
        );
        let mut e = fixture("cloudtrail-create-user-by-iam-user.json");
        e["detail"]["userIdentity"]["userName"] = Value::String("al\u{7}ice".into());
        assert_eq!(
            parse_event(&e).unwrap_err().to_string(),
            "field `detail.userIdentity.userName` contains a control character: al\\u{7}ice"
        );
    }

    #[test]
    fn failed_call_with_unicode_name_still_parses() {
        // A refused CreateUser with a name IAM would reject is still worth recording (ignored).
        let mut e = fixture("cloudtrail-create-user-access-denied.json");
        e["detail"]["requestParameters"]["userName"] = Value::String("\u{430}dmin".into());
        let i = parse_event(&e).unwrap();
        assert!(i.failed_call.is_some());
    }
}
