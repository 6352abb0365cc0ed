// notify: thin main; handler in handler.rs
//! notify: the alert to the SNS alerts topic, and the Security Hub update.

mod handler;

use cordon_aws::{AwsNotifier, AwsSecurityHub, Config};
use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn};
use serde_json::Value;

use handler::{Input, NotifyError, Settings};

impl From<NotifyError> for Diagnostic {
    fn from(e: NotifyError) -> Diagnostic {
        Diagnostic {
            error_type: e.error_type().to_string(),
            error_message: e.to_string(),
        }
    }
}

/// Logged (so it reaches CloudWatch as a structured line) and returned as its message, which
/// names the variable.
fn config_error(e: cordon_aws::ConfigError) -> Error {
    tracing::error!(error = %e, "invalid configuration");
    e.to_string().into()
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // Without the topic nothing can be said to anyone: fail at init, naming the variable.
    let config = Config::from_env();
    let alerts_topic_arn = config.alerts_topic_arn().map_err(config_error)?.to_string();
    let sdk = cordon_aws::sdk_config().await;
    let settings = Settings {
        home_account: config.deployment().ok().map(|d| d.home().to_string()),
        alerts_topic_arn,
        region: sdk
            .region()
            .map(|r| r.to_string())
            .ok_or("AWS_REGION is not set")?,
        console_base: "https://console.aws.amazon.com".into(),
    };
    let notifier = AwsNotifier::from_conf(&sdk);
    let hub = AwsSecurityHub::from_conf(&sdk);
    let (notifier, hub, settings) = (&notifier, &hub, &settings);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let input: Input = serde_json::from_value(event.payload).map_err(NotifyError::from)?;
        handler::handle(notifier, hub, settings, &input)
            .await
            .map_err(Diagnostic::from)
    }))
    .await
}
