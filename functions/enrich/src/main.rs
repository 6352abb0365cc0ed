//! enrich: EventBridge event → incident + what AWS says about its subject.

mod handler;

use cordon_aws::{AwsAccounts, AwsOrganization, Config};
use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn};
use serde_json::Value;

use handler::{EnrichError, Settings};

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
    let config = Config::load(&sdk).await;
    // Without knowing its own account, no incident's account can be told apart: fail at init.
    let deployment = config.deployment().map_err(|e| {
        tracing::error!(error = %e, "invalid configuration");
        Error::from(e.to_string())
    })?;
    let policy = match config.policy() {
        Ok(p) => Some(p.clone()),
        Err(e) => {
            tracing::error!(error = %e, "response policy unavailable: no member account is covered");
            None
        }
    };
    let settings = Settings { deployment, policy };
    // IAM and EC2 clients exist only for an account: `accounts.open(account, ...)`.
    let accounts = AwsAccounts::new(settings.deployment.clone(), &sdk);
    let organization = AwsOrganization::from_conf(&sdk);
    let (accounts, organization, settings) = (&accounts, &organization, &settings);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let case = handler::case_from_input(event.payload)?;
        handler::respond(accounts, organization, settings, &case)
            .await
            .map_err(Diagnostic::from)
    }))
    .await
}
