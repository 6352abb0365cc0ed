//! `AwsSecurityHub` with the real SDK against moto (with cordon's extension): the GuardDuty
//! finding is annotated by `BatchUpdateFindings` and read back with `GetFindings`, an unknown
//! finding and an invalid note are one-line errors, and custom action targets are created
//! once, listed, and kept per account.

use aws_sdk_securityhub::Client;
use aws_sdk_securityhub::error::ProvideErrorMetadata;
use aws_sdk_securityhub::types::{
    AwsSecurityFinding, AwsSecurityFindingFilters, StringFilter, StringFilterComparison,
    WorkflowStatus,
};
use cordon_aws::AwsSecurityHub;
use cordon_aws::error::port_error;
use cordon_aws::securityhub::asff_from_json;
use cordon_core::PortErrorKind;
use cordon_core::ports::{SecurityHub, SecurityHubUpdate};
use cordon_moto::organization::{self as org, PRODUCTION_ACCOUNT};
use cordon_moto::{ACCOUNT_ID, Moto, REGION};
use serde_json::json;

const GD_PRODUCT: &str = "arn:aws:securityhub:us-east-1::product/aws/guardduty";
const DETECTOR: &str = "12abc34d567e8fa901bc2d34e56789f0";
const FINDING: &str = "60baffd3f9042e38640f2300d5c5a631";

fn finding_id() -> String {
    format!("arn:aws:guardduty:{REGION}:{ACCOUNT_ID}:detector/{DETECTOR}/finding/{FINDING}")
}

/// A GuardDuty finding as Security Hub holds it (ASFF), with one field a person added.
fn guardduty_finding() -> AwsSecurityFinding {
    asff_from_json(&json!({
        "SchemaVersion": "2018-10-08",
        "Id": finding_id(),
        "ProductArn": GD_PRODUCT,
        "GeneratorId": format!("arn:aws:guardduty:{REGION}:{ACCOUNT_ID}:detector/{DETECTOR}"),
        "AwsAccountId": ACCOUNT_ID,
        "Types": ["TTPs/Initial Access/UnauthorizedAccess:IAMUser-ConsoleLoginSuccess.B"],
        "CreatedAt": "2024-05-01T10:00:00.000Z",
        "UpdatedAt": "2024-05-01T10:00:00.000Z",
        "FirstObservedAt": "2024-05-01T09:58:00.000Z",
        "LastObservedAt": "2024-05-01T09:59:00.000Z",
        "Severity": {"Label": "HIGH", "Normalized": 70, "Product": 8.0},
        "Title": "Unusual console login by IAM user mallory",
        "Description": "APIs commonly used in Initial Access tactics were invoked by user mallory.",
        "ProductName": "GuardDuty",
        "CompanyName": "Amazon",
        "Region": REGION,
        "ProductFields": {"aws/guardduty/service/action/actionType": "AWS_API_CALL"},
        "UserDefinedFields": {"triagedBy": "soc"},
        "Resources": [{
            "Type": "AwsIamAccessKey",
            "Id": "AWS::IAM::AccessKey:AKIAIOSFODNN7EXAMPLE",
            "Partition": "aws",
            "Region": REGION
        }],
        "Workflow": {"Status": "NEW"},
        "RecordState": "ACTIVE"
    }))
    .unwrap()
}

/// cordon's own finding, beside the GuardDuty one, so that reading one back must filter.
fn cordon_finding() -> AwsSecurityFinding {
    asff_from_json(&json!({
        "SchemaVersion": "2018-10-08",
        "Id": "cordon/123456789012/us-east-1/ev-1",
        "ProductArn": format!("arn:aws:securityhub:{REGION}:{ACCOUNT_ID}:product/{ACCOUNT_ID}/default"),
        "GeneratorId": "cordon-create-user",
        "AwsAccountId": ACCOUNT_ID,
        "CreatedAt": "2024-05-01T10:00:00Z",
        "UpdatedAt": "2024-05-01T10:00:00Z",
        "Severity": {"Label": "MEDIUM"},
        "Title": "IAM user created",
        "Description": "CreateUser by mallory",
        "Resources": [{"Type": "AwsIamUser", "Id": "arn:aws:iam::123456789012:user/eve"}]
    }))
    .unwrap()
}

async fn hub(moto: &Moto) -> Client {
    let client = Client::new(&moto.sdk_config().await);
    client.enable_security_hub().send().await.unwrap();
    client
}

fn equals(value: &str) -> StringFilter {
    StringFilter::builder()
        .value(value)
        .comparison(StringFilterComparison::Equals)
        .build()
}

/// What the tests read of a finding (the SDK's finding type is large: kept out of the test
/// futures, which live on the test thread's stack).
#[derive(Debug)]
struct Seen {
    note_text: Option<String>,
    note_by: Option<String>,
    note_at: Option<String>,
    workflow: Option<WorkflowStatus>,
    fields: std::collections::HashMap<String, String>,
    updated_at: Option<String>,
    title: Option<String>,
}

/// The finding `id` of `product`, read back through GetFindings' Id and ProductArn filters.
async fn read_back(client: &Client, id: &str, product: &str) -> Seen {
    let out = Box::pin(
        client
            .get_findings()
            .filters(
                AwsSecurityFindingFilters::builder()
                    .id(equals(id))
                    .product_arn(equals(product))
                    .build(),
            )
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(out.findings().len(), 1, "{:?}", out.findings());
    let f = &out.findings()[0];
    let note = f.note();
    let own = |s: Option<&str>| s.map(str::to_string);
    Seen {
        note_text: own(note.and_then(|n| n.text())),
        note_by: own(note.and_then(|n| n.updated_by())),
        note_at: own(note.and_then(|n| n.updated_at())),
        workflow: f.workflow().and_then(|w| w.status()).cloned(),
        fields: f.user_defined_fields().cloned().unwrap_or_default(),
        updated_at: own(f.updated_at()),
        title: own(f.title()),
    }
}

fn annotate(
    finding_id: &str,
    note: &str,
    status: &str,
    fields: &[(&str, &str)],
) -> SecurityHubUpdate {
    SecurityHubUpdate::AnnotateFinding {
        finding_id: finding_id.to_string(),
        product_arn: GD_PRODUCT.to_string(),
        note: note.to_string(),
        workflow_status: status.to_string(),
        user_defined_fields: fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn assert_one_line(text: &str) {
    assert!(!text.chars().any(char::is_control), "{text:?}");
    assert!(text.len() < 500, "{} bytes: {text}", text.len());
}

#[tokio::test]
async fn the_guardduty_finding_is_annotated_and_reads_back() {
    let moto = Moto::start().unwrap();
    let client = hub(&moto).await;
    let imported = Box::pin(
        client
            .batch_import_findings()
            .findings(guardduty_finding())
            .findings(cordon_finding())
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(imported.failed_count(), Some(0), "{imported:?}");
    let port = AwsSecurityHub::new(client.clone());
    let id = finding_id();

    // Asked a human: NOTIFIED, with the note and cordon's fields.
    port.submit(&annotate(
        &id,
        "cordon: quarantine of IAM user mallory awaits approval",
        "NOTIFIED",
        &[("cordonIncident", "ev-1"), ("cordonVerdict", "approve")],
    ))
    .await
    .unwrap();
    let f = read_back(&client, &id, GD_PRODUCT).await;
    assert_eq!(
        f.note_text.as_deref(),
        Some("cordon: quarantine of IAM user mallory awaits approval")
    );
    assert_eq!(f.note_by.as_deref(), Some("cordon"));
    assert!(f.note_at.is_some_and(|t| !t.is_empty()));
    assert_eq!(f.workflow, Some(WorkflowStatus::Notified));
    let field = |k: &str| f.fields.get(k).map(String::as_str);
    assert_eq!(field("cordonIncident"), Some("ev-1"));
    assert_eq!(field("cordonVerdict"), Some("approve"));
    assert_eq!(
        field("triagedBy"),
        Some("soc"),
        "fields are merged into the finding's, not replacing them"
    );
    // BatchUpdateFindings is the customer's update, not the provider's.
    assert_eq!(f.updated_at.as_deref(), Some("2024-05-01T10:00:00.000Z"));
    assert_eq!(
        f.title.as_deref(),
        Some("Unusual console login by IAM user mallory")
    );

    // Contained: RESOLVED, the note replaced, the fields merged again.
    port.submit(&annotate(
        &id,
        "cordon quarantined IAM user mallory",
        "RESOLVED",
        &[("cordonVerdict", "quarantined")],
    ))
    .await
    .unwrap();
    let f = read_back(&client, &id, GD_PRODUCT).await;
    assert_eq!(
        f.note_text.as_deref(),
        Some("cordon quarantined IAM user mallory")
    );
    assert_eq!(f.note_by.as_deref(), Some("cordon"));
    assert_eq!(f.workflow, Some(WorkflowStatus::Resolved));
    let field = |k: &str| f.fields.get(k).map(String::as_str);
    assert_eq!(field("cordonVerdict"), Some("quarantined"));
    assert_eq!(field("cordonIncident"), Some("ev-1"));
    assert_eq!(f.fields.len(), 3, "{:?}", f.fields);

    // The other finding is untouched.
    let other = read_back(
        &client,
        "cordon/123456789012/us-east-1/ev-1",
        &format!("arn:aws:securityhub:{REGION}:{ACCOUNT_ID}:product/{ACCOUNT_ID}/default"),
    )
    .await;
    assert_eq!(other.note_text, None);
    assert_eq!(other.workflow, None);

    // A finding Security Hub does not hold: one line naming FindingNotFound.
    let unknown = format!(
        "arn:aws:guardduty:{REGION}:{ACCOUNT_ID}:detector/{DETECTOR}/finding/{}",
        "0".repeat(32)
    );
    let err = port
        .submit(&annotate(&unknown, "cordon", "NOTIFIED", &[]))
        .await
        .unwrap_err();
    assert_eq!(err.kind, PortErrorKind::Invalid);
    let shown = err.to_string();
    assert_one_line(&shown);
    assert!(
        shown.starts_with("securityhub:BatchUpdateFindings failed (Invalid): finding ")
            && shown.contains("FindingNotFound"),
        "{shown}"
    );

    // A note AWS refuses (over 512 characters): the field named, on one line.
    let err = port
        .submit(&annotate(&id, &"n".repeat(513), "NOTIFIED", &[]))
        .await
        .unwrap_err();
    assert_eq!(err.kind, PortErrorKind::Invalid);
    assert_one_line(&err.to_string());
    assert!(
        err.message.starts_with("InvalidInputException: ") && err.message.contains("Note.Text"),
        "{}",
        err.message
    );
    let f = read_back(&client, &id, GD_PRODUCT).await;
    assert_eq!(
        f.workflow,
        Some(WorkflowStatus::Resolved),
        "a refused update changes nothing"
    );
}

#[tokio::test]
async fn an_operation_moto_lacks_is_a_one_line_http_404() {
    // moto_server answers a route it does not have with Flask's HTML 404 page; what people
    // read is the status and the page's title, not the SDK's dump of the response.
    let moto = Moto::start().unwrap();
    let client = hub(&moto).await;
    let sdk_err = client.get_insights().send().await.unwrap_err();
    assert_eq!(sdk_err.code(), None, "{sdk_err:?}");
    let err = port_error("securityhub:GetInsights", sdk_err);
    assert_eq!(err.message, "HTTP 404: 404 Not Found");
    assert_eq!(err.kind, PortErrorKind::NotFound);
}

#[tokio::test]
async fn action_targets_are_created_once_listed_and_kept_per_account() {
    let moto = Moto::start().unwrap();
    let home = moto.sdk_config().await;
    let client = Client::new(&home);

    // Security Hub not enabled: AWS refuses.
    let refused = client
        .create_action_target()
        .id("cordonRespond")
        .name("Cordon respond")
        .description("Send the finding to cordon")
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("InvalidAccessException"));
    client.enable_security_hub().send().await.unwrap();

    let created = client
        .create_action_target()
        .id("cordonRespond")
        .name("Cordon respond")
        .description("Send the finding to cordon")
        .send()
        .await
        .unwrap();
    let arn = format!("arn:aws:securityhub:{REGION}:{ACCOUNT_ID}:action/custom/cordonRespond");
    assert_eq!(created.action_target_arn(), Some(arn.as_str()));

    let listed = client.describe_action_targets().send().await.unwrap();
    let targets: Vec<(Option<&str>, Option<&str>, Option<&str>)> = listed
        .action_targets()
        .iter()
        .map(|t| (t.action_target_arn(), t.name(), t.description()))
        .collect();
    assert_eq!(
        targets,
        vec![(
            Some(arn.as_str()),
            Some("Cordon respond"),
            Some("Send the finding to cordon")
        )]
    );
    let by_arn = client
        .describe_action_targets()
        .action_target_arns(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(by_arn.action_targets().len(), 1);

    // Creating it again is a conflict, and says so on one line.
    let again = client
        .create_action_target()
        .id("cordonRespond")
        .name("Cordon respond")
        .description("Send the finding to cordon")
        .send()
        .await
        .unwrap_err();
    assert_eq!(again.code(), Some("ResourceConflictException"));
    let shown = port_error("securityhub:CreateActionTarget", again).to_string();
    assert_one_line(&shown);
    assert!(shown.contains("ResourceConflictException: "), "{shown}");

    // An Id AWS refuses (not 1-20 alphanumerics).
    let bad = client
        .create_action_target()
        .id("cordon-respond")
        .name("Cordon respond")
        .description("Send the finding to cordon")
        .send()
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Some("InvalidInputException"));

    // A member account (assumed-role credentials) has its own hub and its own targets.
    let member = Client::new(
        &org::config_in_account(&home, PRODUCTION_ACCOUNT, org::ACCESS_ROLE)
            .await
            .unwrap(),
    );
    member.enable_security_hub().send().await.unwrap();
    let listed = member.describe_action_targets().send().await.unwrap();
    assert!(listed.action_targets().is_empty(), "{listed:?}");
    let created = member
        .create_action_target()
        .id("cordonRespond")
        .name("Cordon respond")
        .description("Send the finding to cordon")
        .send()
        .await
        .unwrap();
    assert_eq!(
        created.action_target_arn(),
        Some(
            format!(
                "arn:aws:securityhub:{REGION}:{PRODUCTION_ACCOUNT}:action/custom/cordonRespond"
            )
            .as_str()
        )
    );

    // Deleted once; then it is not found.
    let deleted = client
        .delete_action_target()
        .action_target_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.action_target_arn(), Some(arn.as_str()));
    let listed = client.describe_action_targets().send().await.unwrap();
    assert!(listed.action_targets().is_empty(), "{listed:?}");
    let gone = client
        .delete_action_target()
        .action_target_arn(&arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Some("ResourceNotFoundException"));
    assert_eq!(
        port_error("securityhub:DeleteActionTarget", gone).kind,
        PortErrorKind::NotFound
    );
    // The member's target is its own.
    assert_eq!(
        member
            .describe_action_targets()
            .send()
            .await
            .unwrap()
            .action_targets()
            .len(),
        1
    );
}
