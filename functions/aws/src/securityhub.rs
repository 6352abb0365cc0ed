//! [`SecurityHub`] with `aws-sdk-securityhub`: annotate the GuardDuty finding
//! (`BatchUpdateFindings`) or import a cordon finding (`BatchImportFindings`, ASFF).

use async_trait::async_trait;
use aws_sdk_securityhub::types as sh;
use cordon_core::ports::{PortResult, SecurityHub, SecurityHubUpdate};
use cordon_core::{PortError, PortErrorKind};
use serde_json::Value;

use crate::error::{one_line, port_error};

#[derive(Debug, Clone)]
pub struct AwsSecurityHub {
    securityhub: aws_sdk_securityhub::Client,
}

impl AwsSecurityHub {
    pub fn new(securityhub: aws_sdk_securityhub::Client) -> Self {
        Self { securityhub }
    }

    pub fn from_conf(config: &aws_config::SdkConfig) -> Self {
        Self::new(aws_sdk_securityhub::Client::new(config))
    }

    /// The client for the region an ARN (`arn:aws:guardduty:REGION:…`, a finding's; or
    /// `arn:aws:securityhub:REGION:…`, a product's) names, when it differs from the
    /// function's own.
    fn in_region_of(&self, finding_arn: &str) -> aws_sdk_securityhub::Client {
        let region = finding_arn
            .split(':')
            .nth(3)
            .filter(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        match region {
            Some(r) if self.securityhub.config().region().map(|c| c.as_ref()) != Some(r) => {
                let conf = self
                    .securityhub
                    .config()
                    .to_builder()
                    .region(aws_sdk_securityhub::config::Region::new(r.to_string()))
                    .build();
                aws_sdk_securityhub::Client::from_conf(conf)
            }
            _ => self.securityhub.clone(),
        }
    }
}

const IMPORT: &str = "securityhub:BatchImportFindings";
const UPDATE: &str = "securityhub:BatchUpdateFindings";

fn invalid(operation: &str, message: impl Into<String>) -> PortError {
    PortError::new(PortErrorKind::Invalid, operation, message)
}

fn string_map(v: Option<&Value>) -> Option<std::collections::HashMap<String, String>> {
    let obj = v?.as_object()?;
    Some(
        obj.iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string()),
                )
            })
            .collect(),
    )
}

/// An ASFF finding (JSON, as Security Hub documents it) as the SDK's typed finding. Required
/// fields are checked here so a malformed finding is refused with the field named.
pub fn asff_from_json(f: &Value) -> Result<sh::AwsSecurityFinding, PortError> {
    let s = |k: &str| f.get(k).and_then(Value::as_str).map(str::to_string);
    let required = [
        "SchemaVersion",
        "Id",
        "ProductArn",
        "GeneratorId",
        "AwsAccountId",
        "CreatedAt",
        "UpdatedAt",
        "Title",
        "Description",
    ];
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|k| s(k).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(invalid(
            IMPORT,
            format!("ASFF finding lacks {}", missing.join(", ")),
        ));
    }
    let severity = f
        .get("Severity")
        .ok_or_else(|| invalid(IMPORT, "ASFF finding lacks Severity"))?;
    let resources = f
        .get("Resources")
        .and_then(Value::as_array)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| invalid(IMPORT, "ASFF finding lacks Resources"))?;

    let mut b = sh::AwsSecurityFinding::builder()
        .set_schema_version(s("SchemaVersion"))
        .set_id(s("Id"))
        .set_product_arn(s("ProductArn"))
        .set_generator_id(s("GeneratorId"))
        .set_aws_account_id(s("AwsAccountId"))
        .set_created_at(s("CreatedAt"))
        .set_updated_at(s("UpdatedAt"))
        .set_first_observed_at(s("FirstObservedAt"))
        .set_last_observed_at(s("LastObservedAt"))
        .set_title(s("Title"))
        .set_description(s("Description"))
        .set_source_url(s("SourceUrl"))
        .set_region(s("Region"))
        .set_company_name(s("CompanyName"))
        .set_product_name(s("ProductName"))
        .set_product_fields(string_map(f.get("ProductFields")))
        .set_user_defined_fields(string_map(f.get("UserDefinedFields")))
        .severity(
            sh::Severity::builder()
                .set_label(
                    severity
                        .get("Label")
                        .and_then(Value::as_str)
                        .map(sh::SeverityLabel::from),
                )
                .set_original(
                    severity
                        .get("Original")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                )
                .set_normalized(
                    severity
                        .get("Normalized")
                        .and_then(Value::as_i64)
                        .map(|n| n as i32),
                )
                .set_product(severity.get("Product").and_then(Value::as_f64))
                .build(),
        );
    for t in f
        .get("Types")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(t) = t.as_str() {
            b = b.types(t);
        }
    }
    for r in resources {
        let rs = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_string);
        if rs("Type").is_none() || rs("Id").is_none() {
            return Err(invalid(IMPORT, "ASFF resource lacks Type or Id"));
        }
        b = b.resources(
            sh::Resource::builder()
                .set_type(rs("Type"))
                .set_id(rs("Id"))
                .set_partition(rs("Partition").map(|p| sh::Partition::from(p.as_str())))
                .set_region(rs("Region"))
                .set_tags(string_map(r.get("Tags")))
                .build(),
        );
    }
    if let Some(status) = f.pointer("/Workflow/Status").and_then(Value::as_str) {
        b = b.workflow(
            sh::Workflow::builder()
                .status(sh::WorkflowStatus::from(status))
                .build(),
        );
    }
    if let Some(state) = f.get("RecordState").and_then(Value::as_str) {
        b = b.record_state(sh::RecordState::from(state));
    }
    if let Some(rec) = f.pointer("/Remediation/Recommendation") {
        let rs = |k: &str| rec.get(k).and_then(Value::as_str).map(str::to_string);
        b = b.remediation(
            sh::Remediation::builder()
                .recommendation(
                    sh::Recommendation::builder()
                        .set_text(rs("Text"))
                        .set_url(rs("Url"))
                        .build(),
                )
                .build(),
        );
    }
    Ok(b.build())
}

#[async_trait]
impl SecurityHub for AwsSecurityHub {
    async fn submit(&self, update: &SecurityHubUpdate) -> PortResult<()> {
        match update {
            SecurityHubUpdate::AnnotateFinding {
                finding_id,
                product_arn,
                note,
                workflow_status,
                user_defined_fields,
            } => {
                let id = sh::AwsSecurityFindingIdentifier::builder()
                    .id(finding_id)
                    .product_arn(product_arn)
                    .build();
                let note = sh::NoteUpdate::builder()
                    .text(note)
                    .updated_by("cordon")
                    .build();
                let workflow = sh::WorkflowUpdate::builder()
                    .status(sh::WorkflowStatus::from(workflow_status.as_str()))
                    .build();
                // A finding lives in its region's Security Hub (the GuardDuty ARN names it);
                // the account is the one cordon runs in, which may update it as the finding's
                // own account or as the Security Hub administrator.
                let client = self.in_region_of(finding_id);
                let op = client.batch_update_findings();
                let mut req = op.finding_identifiers(id).note(note).workflow(workflow);
                for (k, v) in user_defined_fields {
                    req = req.user_defined_fields(k, v);
                }
                let out = req.send().await.map_err(|e| port_error(UPDATE, e))?;
                if let Some(u) = out.unprocessed_findings().first() {
                    return Err(invalid(
                        UPDATE,
                        one_line(&format!(
                            "finding {finding_id} not updated: {}: {}",
                            u.error_code().unwrap_or("unknown"),
                            u.error_message().unwrap_or_default()
                        )),
                    ));
                }
                tracing::info!(
                    finding_id,
                    workflow_status,
                    "annotated Security Hub finding"
                );
                Ok(())
            }
            SecurityHubUpdate::ImportFinding { finding } => {
                let typed = asff_from_json(finding)?;
                let id = typed.id().map(str::to_string).unwrap_or_default();
                // Imported where its product ARN says (the incident's region), not wherever
                // the function runs: Security Hub refuses a ProductArn of another region.
                let client = self.in_region_of(typed.product_arn().unwrap_or_default());
                let op = client.batch_import_findings();
                let out = op
                    .findings(typed)
                    .send()
                    .await
                    .map_err(|e| port_error(IMPORT, e))?;
                if out.failed_count().unwrap_or(0) > 0 || !out.failed_findings().is_empty() {
                    let f = out.failed_findings().first();
                    return Err(invalid(
                        IMPORT,
                        one_line(&format!(
                            "finding {id} not imported: {}: {}",
                            f.and_then(|f| f.error_code()).unwrap_or("unknown"),
                            f.and_then(|f| f.error_message()).unwrap_or_default()
                        )),
                    ));
                }
                tracing::info!(finding_id = %id, "imported Security Hub finding");
                Ok(())
            }
        }
    }
}
