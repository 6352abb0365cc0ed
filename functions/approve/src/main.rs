//! approve: the function URL (AWS_IAM auth) approvers call to decide.

mod handler;

use cordon_aws::AwsExecutions;
use lambda_http::{Body, Error, Request, RequestExt, Response, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let sdk = cordon_aws::sdk_config().await;
    let config = cordon_aws::Config::load(&sdk).await;
    let state_machine_arn = config.state_machine_arn()?.to_string();
    // Fail closed: without a readable policy every decision is refused (500 PolicyInvalid).
    let policy = config.policy().map_err(|e| e.to_string());
    if let Err(e) = &policy {
        tracing::error!(error = %e, "response policy unusable; every decision will be refused");
    }
    let executions = AwsExecutions::from_conf(&sdk);
    let identity = handler::IdentitySource::from_env();
    if identity == handler::IdentitySource::Asserted {
        tracing::warn!(
            "caller identities are asserted, not verified (offline stack): decisions are recorded with verified=false"
        );
    }
    let (executions, policy, sm) = (&executions, &policy, state_machine_arn.as_str());
    lambda_http::run(service_fn(move |req: Request| async move {
        let caller = handler::caller_arn(req.request_context_ref());
        let policy = policy.as_ref().copied().map_err(String::as_str);
        let reply = handler::decide_as(
            executions,
            policy,
            Some(sm),
            caller.as_deref(),
            identity,
            req.body().as_ref(),
            chrono::Utc::now(),
        )
        .await;
        Response::builder()
            .status(reply.status)
            .header("content-type", "application/json")
            .body(Body::from(reply.body.to_string()))
            .map_err(Error::from)
    }))
    .await
}
