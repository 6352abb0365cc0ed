//! enrich: EventBridge event → incident + what AWS says about its subject.

mod handler;

use cordon_aws::{AwsCompute, AwsIam};
use cordon_core::CaseFile;
use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn};
use serde_json::Value;

use handler::EnrichError;

impl From<EnrichError> for Diagnostic {
    fn from(e: EnrichError) -> Diagnostic {
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
    let iam = AwsIam::from_conf(&sdk);
    let compute = AwsCompute::from_conf(&sdk);
    let (iam, compute) = (&iam, &compute);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let case: CaseFile = serde_json::from_value(event.payload).map_err(EnrichError::from)?;
        handler::handle(iam, compute, &case)
            .await
            .map_err(Diagnostic::from)
    }))
    .await
}
