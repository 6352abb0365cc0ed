// quarantine: thin main; handler in handler.rs
//! quarantine: contain the incident's subject (IAM user or role), idempotently.

mod handler;

use cordon_aws::{AwsAccounts, Config};
use cordon_core::CaseFile;
use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn};
use serde_json::Value;

use handler::{Deployed, QuarantineError, Settings};

impl From<QuarantineError> for Diagnostic {
    fn from(e: QuarantineError) -> Diagnostic {
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
    let sdk = cordon_aws::sdk_config().await;
    let config = Config::load(&sdk).await;
    let settings = Settings {
        // Without the deny policy's ARN there is no quarantine to apply: fail at init.
        quarantine_policy_arn: config
            .quarantine_policy_arn()
            .map_err(config_error)?
            .to_string(),
        // Filled per account by `Deployed::settings_for` from the profile's name.
        quarantine_instance_profile_arn: None,
        // An unreadable policy fails every invocation (fail closed), naming the variable.
        policy: config.policy().cloned().map_err(|e| e.to_string()),
    };
    if let Err(e) = &settings.policy {
        tracing::error!(error = %e, "response policy unavailable: every quarantine will be refused");
    }
    let deployed = Deployed {
        deployment: config.deployment().map_err(config_error)?,
        member_quarantine_policy_name: config.member_quarantine_policy_name().to_string(),
        quarantine_instance_profile_name: config
            .quarantine_instance_profile_name()
            .map(str::to_string),
        home: settings,
    };
    // IAM and EC2 clients exist only for an account: `accounts.open(account, ...)`.
    let accounts = AwsAccounts::new(deployed.deployment.clone(), &sdk);
    let (accounts, deployed) = (&accounts, &deployed);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let case: CaseFile = serde_json::from_value(event.payload)
            .map_err(|e| QuarantineError::InvalidInput(e.to_string()))?;
        handler::respond(accounts, deployed, &case, chrono::Utc::now())
            .await
            .map_err(Diagnostic::from)
    }))
    .await
}
