//! Every real, public event shape in `tests/events/real/` (provenance in its README) gives a
//! decision — parsed and classified — unless it is genuinely unusable, and then the error says
//! why. The expected decision of each file is stated here, so a parser change that turns a real
//! shape into an error, or a sample into an incident, fails by name.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{ParseError, parse_event, split_findings};
use crate::model::{Subject, Verdict};
use crate::testkit::{enrichment_for, policy};

fn real_events() -> BTreeMap<String, Value> {
    let dir = format!(
        "{}/../../tests/events/real",
        std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo")
    );
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir}: {e}")) {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let text = std::fs::read_to_string(&path).unwrap();
            out.insert(
                name.clone(),
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}")),
            );
        }
    }
    assert!(out.len() >= 30, "the real-shape fixture set is missing");
    out
}

/// The rule that decided (the first reason) and the verdict, for every finding of a file.
fn decisions(event: &Value) -> Result<Vec<(String, Verdict, Subject)>, ParseError> {
    split_findings(event)
        .iter()
        .map(|one| {
            let incident = parse_event(one)?;
            let c = crate::classify::classify(&incident, &enrichment_for(&incident), &policy());
            let rule = c
                .reasons
                .first()
                .map(|r| r.rule.clone())
                .unwrap_or_default();
            Ok((rule, c.verdict, incident.subject))
        })
        .collect()
}

#[test]
fn every_real_shape_gives_a_decision_unless_genuinely_unusable() {
    // Genuinely unusable, and why.
    let unusable: BTreeMap<&str, ParseError> = [
        (
            // CloudTrail's 2014 record format (eventVersion 1.0) had no eventID: no incident id
            // to deduplicate on. EventBridge never delivered this format.
            "cloudtrail-create-user-aws-docs-2014.json",
            ParseError::Missing {
                path: "detail.eventID".into(),
            },
        ),
        (
            // Security Hub's pre-release event format (2018), never sent since.
            "securityhub-legacy-finding-notification-2018-three-findings.json",
            ParseError::UnknownEvent {
                event_source: "aws.securityhub".into(),
                detail_type: "Security Hub Finding Notification".into(),
            },
        ),
    ]
    .into_iter()
    .collect();
    let mut failures = Vec::new();
    for (name, event) in real_events() {
        match (decisions(&event), unusable.get(name.as_str())) {
            (Ok(d), None) => assert!(!d.is_empty(), "{name}"),
            (Err(e), Some(expected)) => assert_eq!(&e, expected, "{name}"),
            (Ok(d), Some(_)) => failures.push(format!("{name}: expected an error, got {d:?}")),
            (Err(e), None) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn real_shapes_give_the_decisions_a_responder_expects() {
    let events = real_events();
    let decided = |name: &str| decisions(&events[name]).unwrap_or_else(|e| panic!("{name}: {e}"));
    // Every GuardDuty sample (create-sample-findings) is recognised: notify, nothing contained.
    for name in events.keys().filter(|n| n.starts_with("guardduty-sample-")) {
        for (rule, verdict, _) in decided(name) {
            assert_eq!(
                (rule.as_str(), verdict),
                ("sample-finding", Verdict::Notify),
                "{name}"
            );
        }
    }
    // A real root-credential finding: the root user, a human acts (never contained).
    let [(_, v, Subject::Root { .. })] =
        decided("guardduty-real-policy-iamuser-rootcredentialusage-elastic.json")[..]
    else {
        panic!()
    };
    assert_eq!(v, Verdict::Notify);
    let [(_, v, Subject::Root { .. })] =
        decided("securityhub-imported-guardduty-root-credential-usage-principal-style.json")[..]
    else {
        panic!()
    };
    assert_eq!(v, Verdict::Notify);
    // An attack sequence that names no principal in a field: a critical notify.
    let [(rule, v, _)] =
        &decided("guardduty-attacksequence-iam-compromisedcredentials-panther.json")[..]
    else {
        panic!()
    };
    assert_eq!((rule.as_str(), *v), ("attack-sequence", Verdict::Notify));
    // Security Hub: a control finding is ignored with a reason; two findings are two incidents.
    let [(rule, v, _)] = &decided("securityhub-imported-securityhub-control-iam8-ignored.json")[..]
    else {
        panic!()
    };
    assert_eq!(
        (rule.as_str(), *v),
        ("not-a-guardduty-finding", Verdict::Ignore)
    );
    assert_eq!(
        decided("securityhub-imported-guardduty-two-findings-username-style-2018.json").len(),
        2
    );
    // CloudTrail: a successful CreateUser with `responseElements: null` still names the user.
    let [(_, _, Subject::IamUser { name, .. })] =
        &decided("cloudtrail-create-user-assumed-role-null-response-panther.json")[..]
    else {
        panic!()
    };
    assert!(!name.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Shapes cordon's own fixtures vary on purpose
// ---------------------------------------------------------------------------------------------

use crate::model::{Channel, IncidentSource};
use crate::parse::tests::{fixture, incident};
use serde_json::json;

#[test]
fn a_security_hub_copy_of_a_guardduty_finding_is_the_same_incident() {
    let gd = incident("guardduty-tor-ip-caller.json");
    let sh = incident("securityhub-imported-guardduty-tor-ip-caller.json");
    // Same id (so the same execution name: one response), subject, account, region, kind.
    assert_eq!(sh.id, gd.id);
    assert_eq!(sh.subject, gd.subject);
    assert_eq!(
        (&sh.account, &sh.region, &sh.kind, sh.source),
        (&gd.account, &gd.region, &gd.kind, IncidentSource::Guardduty)
    );
    let (f, g) = (sh.finding.as_ref().unwrap(), gd.finding.as_ref().unwrap());
    assert_eq!(
        (f.severity, f.count, f.archived),
        (g.severity, g.count, g.archived)
    );
    assert_eq!(
        f.security_hub, g.security_hub,
        "the write-back names one finding"
    );
    assert_eq!(
        f.remote_ip.as_ref().map(|r| &r.ip),
        g.remote_ip.as_ref().map(|r| &r.ip)
    );
    assert_eq!(sh.via.as_ref().unwrap().channel, Channel::SecurityHubImport);
    let policy = policy();
    let verdict = |i: &crate::model::Incident| {
        crate::classify::classify(i, &enrichment_for(i), &policy).verdict
    };
    assert_eq!(verdict(&sh), verdict(&gd));
}

#[test]
fn a_security_hub_copy_of_a_sample_finding_is_a_sample() {
    for mark in [
        json!({"Sample": true}),
        json!({"ProductFields": {"aws/guardduty/service/additionalInfo/sample": "true"}}),
        json!({"ProductFields": {"aws/guardduty/service/additionalInfo/value": "{\"type\":\"default\", \"sample\": true}"}}),
    ] {
        let mut e = fixture("securityhub-imported-guardduty-tor-ip-caller.json");
        let f = &mut e["detail"]["findings"][0];
        for (k, v) in mark.as_object().unwrap() {
            match v {
                Value::Object(fields) => {
                    for (fk, fv) in fields {
                        f[k][fk] = fv.clone();
                    }
                }
                other => f[k] = other.clone(),
            }
        }
        assert!(parse_event(&e).unwrap().is_sample(), "{mark}");
    }
    assert!(!incident("securityhub-imported-guardduty-tor-ip-caller.json").is_sample());
}

#[test]
fn an_analysts_custom_action_asks_for_approval_and_is_never_one() {
    let request = incident("securityhub-custom-action-guardduty-tor-ip-caller.json");
    assert!(request.is_containment_request());
    assert_eq!(
        request.via.as_ref().unwrap().action_name.as_deref(),
        Some("Contain with cordon")
    );
    let c = crate::classify::classify(&request, &enrichment_for(&request), &policy());
    assert_eq!(c.verdict, Verdict::Approve);
    assert!(c.reasons.iter().any(|r| r.rule == "containment-requested"));
    // Even a finding below every threshold: the analyst's request is a reason to ask.
    let mut low = fixture("securityhub-custom-action-guardduty-tor-ip-caller.json");
    low["detail"]["findings"][0]["Severity"] = json!({"Product": 1, "Label": "LOW"});
    let low = parse_event(&low).unwrap();
    let c = crate::classify::classify(&low, &enrichment_for(&low), &policy());
    assert_eq!(c.verdict, Verdict::Approve);
    // A protected subject stays protected whoever asks.
    let mut protected = policy();
    protected.protected.users.push("dev-bob".into());
    let c = crate::classify::classify(&request, &enrichment_for(&request), &protected);
    assert_eq!(c.verdict, Verdict::Notify);
}

#[test]
fn uncontainable_principal_types_are_incidents_that_say_why() {
    for (user_type, says) in [
        ("AWSService", "AWS service"),
        ("Federated", "federated user session"),
        ("SomethingNew", "does not know how to contain"),
    ] {
        let mut e = fixture("guardduty-tor-ip-caller.json");
        e["detail"]["resource"]["accessKeyDetails"]["userType"] = json!(user_type);
        let i = parse_event(&e).unwrap_or_else(|err| panic!("{user_type}: {err}"));
        let Subject::Principal { principal_type, .. } = &i.subject else {
            panic!("{user_type}: {:?}", i.subject)
        };
        assert_eq!(principal_type, user_type);
        let c = crate::classify::classify(&i, &enrichment_for(&i), &policy());
        assert_eq!(c.verdict, Verdict::Notify, "{user_type}");
        assert_eq!(c.reasons[0].rule, "principal-not-containable");
        assert!(
            c.reasons[0].detail.contains(says),
            "{}",
            c.reasons[0].detail
        );
        assert!(
            crate::plan::plan_quarantine(
                &i,
                &enrichment_for(&i),
                &policy(),
                "arn:aws:iam::aws:policy/AWSDenyAll",
                crate::testkit::t("2026-03-14T00:00:00Z")
            )
            .is_err()
        );
    }
    // `Role`: the role itself, containable.
    let mut e = fixture("guardduty-tor-ip-caller.json");
    e["detail"]["resource"]["accessKeyDetails"]["userType"] = json!("Role");
    assert!(matches!(
        parse_event(&e).unwrap().subject,
        Subject::AssumedRole { .. }
    ));
}

#[test]
fn informative_fields_in_any_shape_never_fail_the_parse() {
    let mut e = fixture("guardduty-tor-ip-caller.json");
    let remote = &mut e["detail"]["service"]["action"]["awsApiCallAction"]["remoteIpDetails"];
    remote["organization"]["asn"] = json!(64500);
    remote["organization"]["isp"] = json!(null);
    remote["country"] = json!("not an object");
    remote["city"]["cityName"] = json!({"unexpected": true});
    e["detail"]["service"]["eventFirstSeen"] = json!("yesterday");
    e["detail"]["service"]["eventLastSeen"] = json!(1_773_450_000_000_i64);
    e["detail"]["title"] = json!(42);
    let i = parse_event(&e).unwrap();
    let f = i.finding.unwrap();
    let r = f.remote_ip.unwrap();
    assert_eq!(r.asn.as_deref(), Some("64500"));
    assert_eq!((r.isp, r.country, r.city), (None, None, None));
    assert_eq!(f.first_seen, None);
    assert!(f.last_seen.is_some());
    assert_eq!(f.title, "42");
    // CloudTrail's `createDate` form.
    assert_eq!(
        super::parse_any_time("Feb 12, 2025 6:08:11 PM").map(|t| t.to_rfc3339()),
        Some("2025-02-12T18:08:11+00:00".into())
    );
}

#[test]
fn a_200_kb_user_agent_is_bounded_and_the_case_file_keeps_a_bounded_event() {
    let mut e = fixture("cloudtrail-create-user-suspicious-name-no-mfa-cli.json");
    let agent = format!("aws-cli/2.15.30 {}", "A".repeat(200 * 1024));
    e["detail"]["userAgent"] = json!(agent);
    let i = parse_event(&e).unwrap();
    let ua = i.actor.as_ref().unwrap().user_agent.clone().unwrap();
    assert!(ua.chars().count() < 400, "{}", ua.len());
    assert!(ua.ends_with(&format!("…({} bytes)", agent.len())), "{ua}");
    let c = crate::classify::classify(&i, &enrichment_for(&i), &policy());
    for r in &c.reasons {
        assert!(
            r.detail.len() < 1000,
            "{}: {} bytes",
            r.rule,
            r.detail.len()
        );
    }
    assert!(c.reasons.iter().any(|r| r.rule == "unusual-user-agent"));
    // The case file keeps the event's shape, not its 200 KB.
    let kept = super::bounded_event(&e);
    let size = serde_json::to_vec(&kept).unwrap().len();
    assert!(size <= super::KEEP_EVENT_BYTES, "{size}");
    assert_eq!(kept["detail"]["eventID"], e["detail"]["eventID"]);
    assert!(
        kept[super::BOUNDED_NOTE_KEY]
            .as_str()
            .unwrap()
            .contains("bytes")
    );
    // What it keeps still parses to the same incident.
    assert_eq!(parse_event(&kept).unwrap().id, i.id);
    // A small event is kept whole.
    let small = fixture("guardduty-tor-ip-caller.json");
    assert_eq!(super::bounded_event(&small), small);
    // Whatever the shape (thousands of keys), the kept event is bounded.
    let mut wide = fixture("guardduty-tor-ip-caller.json");
    for n in 0..20_000 {
        wide["detail"]["service"]["additionalInfo"][format!("k{n}")] = json!(n);
    }
    let kept = super::bounded_event(&wide);
    assert!(serde_json::to_vec(&kept).unwrap().len() <= super::KEEP_EVENT_BYTES);
}
