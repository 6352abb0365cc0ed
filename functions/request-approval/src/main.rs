//! request-approval: publish the approval request; the task token stays with Step Functions.

mod handler;

use cordon_aws::{AwsNotifier, AwsSecurityHub};
use cordon_core::RenderContext;
use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn};
use serde_json::Value;

use handler::{Input, RequestError};

impl From<RequestError> for Diagnostic {
    fn from(e: RequestError) -> Diagnostic {
        Diagnostic {
            error_type: e.error_type().to_string(),
            error_message: e.to_string(),
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = cordon_aws::Config::from_env();
    let topic_arn = config.approvals_topic_arn()?.to_string();
    let sdk = cordon_aws::sdk_config().await;
    let ctx = RenderContext {
        home_account: None,
        execution_arn: None,
        region: sdk.region().map(|r| r.to_string()).unwrap_or_default(),
        console_base: "https://console.aws.amazon.com".into(),
    };
    let notifier = AwsNotifier::from_conf(&sdk);
    let hub = AwsSecurityHub::from_conf(&sdk);
    let (notifier, hub, topic_arn, ctx) = (&notifier, &hub, topic_arn.as_str(), &ctx);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let input: Input = serde_json::from_value(event.payload)
            .map_err(|e| RequestError::InvalidEvent(e.to_string()))?;
        handler::handle(notifier, hub, topic_arn, ctx, &input, chrono::Utc::now())
            .await
            .map_err(Diagnostic::from)
    }))
    .await
}
