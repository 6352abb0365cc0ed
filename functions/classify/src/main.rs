//! classify: incident + enrichment + policy → verdict. No AWS call but reading the policy
//! from Parameter Store at init, when it is kept there.

mod handler;

use cordon_core::CaseFile;
use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn};
use serde_json::Value;

use handler::ClassifyError;

impl From<ClassifyError> for Diagnostic {
    fn from(e: ClassifyError) -> Diagnostic {
        Diagnostic {
            error_type: e.error_type().to_string(),
            error_message: e.to_string(),
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let sdk = cordon_aws::sdk_config().await;
    let config = cordon_aws::Config::load(&sdk).await;
    // Fail closed, loudly: the function stays up and refuses every invocation with
    // `PolicyInvalid`, which the state machine routes to a human.
    let policy = config.policy().map_err(|e| e.to_string());
    if let Err(e) = &policy {
        tracing::error!(error = %e, "response policy unusable; every invocation will fail with PolicyInvalid");
    }
    // Recorded with every decision, so an auditor knows which policy decided.
    let version = config.policy_version().map(str::to_string);
    let (policy, version) = (&policy, &version);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let case: CaseFile = serde_json::from_value(event.payload)
            .map_err(|e| ClassifyError::InvalidEvent(e.to_string()))?;
        handler::handle(policy.as_ref().copied().map_err(String::as_str), &case)
            .map(|mut c| {
                c.policy_version = version.clone();
                c
            })
            .map_err(Diagnostic::from)
    }))
    .await
}
