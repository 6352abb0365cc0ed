//! Signed HTTP for the auditors' and approvers' commands.
//!
//! Step Functions is called through its JSON protocol directly (not the SDK's typed
//! operations) because what an auditor reads is the history exactly as the API records it:
//! `cordon history --format json` and the renderers work on that JSON, and the tests on
//! recorded-shaped JSON. Requests are signed with SigV4 using the SDK configuration's
//! credentials, so the same code talks to the local engine and to AWS. The approve function
//! URL is called the same way (service `lambda`).

use std::time::SystemTime;

use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_smithy_runtime_api::client::identity::Identity;
use serde_json::Value;

/// A POST signed for `service` (`states`, `lambda`) with the configuration's credentials.
/// Returns the HTTP status and the body text.
pub async fn signed_post(
    config: &SdkConfig,
    service: &str,
    url: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Result<(u16, String), String> {
    let region = config
        .region()
        .map(|r| r.to_string())
        .ok_or("no AWS region configured (set AWS_REGION or a profile region)")?;
    let mut builder = http::Request::builder().method("POST").uri(url);
    for (k, v) in headers {
        builder = builder.header(*k, v.as_str());
    }
    let mut request = builder
        .body(body)
        .map_err(|e| format!("bad request for {url}: {e}"))?;

    if let Some(provider) = config.credentials_provider() {
        let creds = provider
            .provide_credentials()
            .await
            .map_err(|e| format!("no AWS credentials to sign the request: {e}"))?;
        let identity: Identity = creds.into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&region)
            .name(service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("cannot sign the request: {e}"))?
            .into();
        let header_pairs: Vec<(String, String)> = request
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    v.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let signable = SignableRequest::new(
            "POST",
            url,
            header_pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(request.body()),
        )
        .map_err(|e| format!("cannot sign the request: {e}"))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| format!("cannot sign the request: {e}"))?
            .into_parts();
        instructions.apply_to_request_http1x(&mut request);
    }

    let request = reqwest::Request::try_from(request.map(reqwest::Body::from))
        .map_err(|e| format!("bad request for {url}: {e}"))?;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let response = client.execute(request).await.map_err(|e| {
        let mut msg = format!("cannot reach {url}: {e}");
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg += &format!(": {s}");
            src = s.source();
        }
        msg
    })?;
    let status = response.status().as_u16();
    let text = response
        .text()
        .await
        .map_err(|e| format!("cannot read the answer of {url}: {e}"))?;
    Ok((status, text))
}

/// A Step Functions API error (`__type` without its namespace, and the message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// Step Functions over its JSON protocol.
pub struct Sfn {
    config: SdkConfig,
    endpoint: String,
}

impl Sfn {
    pub fn new(config: &SdkConfig) -> Sfn {
        let endpoint = match config.endpoint_url() {
            Some(u) => u.to_string(),
            None => format!(
                "https://states.{}.amazonaws.com/",
                config.region().map(|r| r.to_string()).unwrap_or_default()
            ),
        };
        Sfn {
            config: config.clone(),
            endpoint,
        }
    }

    /// Call `operation` (`GetExecutionHistory`, ...) with its JSON request.
    pub async fn call(&self, operation: &str, request: Value) -> Result<Value, ApiError> {
        let headers = [
            ("content-type", "application/x-amz-json-1.0".to_string()),
            ("x-amz-target", format!("AWSStepFunctions.{operation}")),
        ];
        let (status, body) = signed_post(
            &self.config,
            "states",
            &self.endpoint,
            &headers,
            request.to_string().into_bytes(),
        )
        .await
        .map_err(|message| ApiError {
            code: "Unreachable".into(),
            message,
        })?;
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok(v);
        }
        let code = v
            .get("__type")
            .and_then(Value::as_str)
            .map(|t| t.rsplit('#').next().unwrap_or(t).to_string())
            .unwrap_or_else(|| format!("HTTP {status}"));
        let message = v
            .get("message")
            .or_else(|| v.get("Message"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or(body);
        Err(ApiError { code, message })
    }

    /// Every event of an execution's history, oldest first, with its data.
    pub async fn history(&self, execution_arn: &str) -> Result<Vec<Value>, ApiError> {
        let mut events = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = serde_json::json!({
                "executionArn": execution_arn,
                "includeExecutionData": true,
                "maxResults": 1000,
            });
            if let Some(t) = &token {
                req["nextToken"] = Value::String(t.clone());
            }
            let page = self.call("GetExecutionHistory", req).await?;
            if let Some(Value::Array(es)) = page.get("events") {
                events.extend(es.iter().cloned());
            }
            match page.get("nextToken").and_then(Value::as_str) {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(events)
    }

    /// Executions of a state machine, newest first, up to `limit` (all pages as needed).
    pub async fn executions(
        &self,
        state_machine_arn: &str,
        status: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Value>, ApiError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        while out.len() < limit {
            let mut req = serde_json::json!({
                "stateMachineArn": state_machine_arn,
                "maxResults": (limit - out.len()).min(1000),
            });
            if let Some(s) = status {
                req["statusFilter"] = Value::String(s.into());
            }
            if let Some(t) = &token {
                req["nextToken"] = Value::String(t.clone());
            }
            let page = self.call("ListExecutions", req).await?;
            if let Some(Value::Array(es)) = page.get("executions") {
                out.extend(es.iter().cloned());
            }
            match page.get("nextToken").and_then(Value::as_str) {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        out.truncate(limit);
        Ok(out)
    }
}
