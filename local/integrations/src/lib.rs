//! SDK-backed Step Functions service integrations (SNS, SQS, Step Functions) for the local engine.
//!
//! `arn:aws:states:::sns:publish` and `arn:aws:states:::sqs:sendMessage` (also with
//! `.waitForTaskToken`: the engine has already put the token into the parameters) call the
//! real service API through `aws-sdk-sns` / `aws-sdk-sqs` at whatever endpoint the
//! [`aws_config::SdkConfig`] names (moto_server offline). Parameters are the API's own
//! (`TopicArn`, `Message`, `Subject`, `MessageAttributes`, `QueueUrl`, `MessageBody`, ...);
//! a non-string `Message`/`MessageBody` is sent as its JSON text, as Step Functions does.
//!
//! The result has the shape Step Functions returns for these optimized integrations:
//! the API response fields plus `SdkHttpMetadata` (status and headers) and
//! `SdkResponseMetadata` (`RequestId`). Service errors become [`TaskError`]s named
//! `SNS.<Exception>` / `SQS.<Exception>` (`SNS.NotFoundException`,
//! `SQS.QueueDoesNotExistException`) with a cause in the AWS SDK for Java's format, which is
//! what Step Functions reports.
//!
//! `arn:aws:states:::states:startExecution` goes through `aws-sdk-sfn` to a Step Functions
//! endpoint — the local engine's own API server offline — so one state machine can start
//! another exactly as in AWS (cordon's intake machine relies on it for execution-name
//! deduplication). Its errors are `StepFunctions.<Exception>`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use cordon_engine::{ServiceIntegration, ServiceRequest, TaskError};
use serde_json::{Map, Value, json};

/// An SDK configuration for an AWS-compatible endpoint (moto_server), with static test
/// credentials and no instance-metadata lookups.
pub async fn sdk_config(endpoint: &str, region: &str) -> aws_config::SdkConfig {
    let creds = aws_credential_types::Credentials::from_keys("testing", "testing", None);
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .credentials_provider(creds)
        .endpoint_url(endpoint)
        .load()
        .await
}

/// Every integration this crate offers, keyed by service name as the engine expects.
pub fn services(cfg: &aws_config::SdkConfig) -> HashMap<String, Arc<dyn ServiceIntegration>> {
    let mut m: HashMap<String, Arc<dyn ServiceIntegration>> = HashMap::new();
    m.insert("sns".into(), Arc::new(Sns::new(cfg)));
    m.insert("sqs".into(), Arc::new(Sqs::new(cfg)));
    m
}

/// The HTTP status and headers of the last response, captured for `SdkHttpMetadata`.
#[derive(Debug, Default, Clone)]
struct Captured(Arc<Mutex<Option<StatusAndHeaders>>>);

/// An HTTP status and the response's headers, in order (a name may repeat).
type StatusAndHeaders = (u16, Vec<(String, String)>);

impl Intercept for Captured {
    fn name(&self) -> &'static str {
        "cordon-capture-http-metadata"
    }

    fn read_after_transmit(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let r = context.response();
        let headers = r
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        *self.0.lock().unwrap() = Some((r.status().as_u16(), headers));
        Ok(())
    }
}

impl Captured {
    fn metadata(&self, request_id: Option<&str>) -> (Value, Value) {
        let (status, headers) = self.0.lock().unwrap().clone().unwrap_or((200, Vec::new()));
        let mut all: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in headers {
            all.entry(k).or_default().push(v);
        }
        let single: Map<String, Value> = all
            .iter()
            .map(|(k, v)| (k.clone(), json!(v.join(","))))
            .collect();
        (
            json!({"AllHttpHeaders": all, "HttpHeaders": single, "HttpStatusCode": status}),
            json!({"RequestId": request_id.unwrap_or_default()}),
        )
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn str_param<'a>(p: &'a Value, k: &str) -> Option<&'a str> {
    p.get(k).and_then(Value::as_str)
}

/// `States.Runtime`-style failure for parameters the service would never accept.
fn invalid(service: &str, msg: String) -> TaskError {
    TaskError {
        error: format!("{service}.InvalidParameterException"),
        cause: msg,
    }
}

/// Map an SDK error to Step Functions' `<SERVICE>.<Exception>` naming.
fn sdk_error<E, R>(
    service: &str,
    java_service: &str,
    e: aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> TaskError
where
    E: aws_sdk_sns::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + HttpStatus,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    match &e {
        SdkError::ServiceError(se) => {
            let meta = se.err();
            let raw_code = meta.code().unwrap_or("Unknown");
            let code = raw_code
                .strip_prefix("AWS.SimpleQueueService.")
                .unwrap_or(raw_code);
            let code = match code {
                "NonExistentQueue" => "QueueDoesNotExist",
                c => c,
            };
            let exception = if code.ends_with("Exception") {
                code.to_string()
            } else {
                format!("{code}Exception")
            };
            let status = se.raw().status_code();
            let rid = se.raw().request_id().unwrap_or_default();
            TaskError {
                error: format!("{service}.{exception}"),
                cause: format!(
                    "{} (Service: {java_service}; Status Code: {status}; Error Code: {raw_code}; Request ID: {rid}; Proxy: null)",
                    meta.message().unwrap_or_default()
                ),
            }
        }
        other => TaskError {
            error: format!("{service}.SdkClientException"),
            cause: format!(
                "Unable to execute HTTP request: {}",
                aws_smithy_types::error::display::DisplayErrorContext(other)
            ),
        },
    }
}

/// Status and request id of a raw response, whichever SDK produced it.
trait HttpStatus {
    fn status_code(&self) -> u16;
    fn request_id(&self) -> Option<String>;
}

impl HttpStatus for aws_smithy_runtime_api::http::Response {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
    fn request_id(&self) -> Option<String> {
        ["x-amzn-requestid", "x-amz-request-id"]
            .iter()
            .find_map(|h| self.headers().get(*h).map(str::to_string))
    }
}

/// `arn:aws:states:::sns:publish`.
#[derive(Clone, Debug)]
pub struct Sns {
    client: aws_sdk_sns::Client,
}

impl Sns {
    /// A client for the endpoint in `cfg`.
    pub fn new(cfg: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_sns::Client::new(cfg),
        }
    }

    async fn publish(&self, p: &Value) -> Result<Value, TaskError> {
        use aws_sdk_sns::types::MessageAttributeValue;
        let message = p
            .get("Message")
            .ok_or_else(|| invalid("SNS", "Invalid parameter: Empty message".into()))?;
        let mut req = self.client.publish().message(text(message));
        if let Some(v) = str_param(p, "TopicArn") {
            req = req.topic_arn(v);
        }
        if let Some(v) = str_param(p, "TargetArn") {
            req = req.target_arn(v);
        }
        if let Some(v) = str_param(p, "PhoneNumber") {
            req = req.phone_number(v);
        }
        if let Some(v) = str_param(p, "Subject") {
            req = req.subject(v);
        }
        if let Some(v) = str_param(p, "MessageStructure") {
            req = req.message_structure(v);
        }
        if let Some(v) = str_param(p, "MessageDeduplicationId") {
            req = req.message_deduplication_id(v);
        }
        if let Some(v) = str_param(p, "MessageGroupId") {
            req = req.message_group_id(v);
        }
        for a in message_attributes(p, "SNS")? {
            let v = MessageAttributeValue::builder()
                .data_type(a.data_type)
                .set_string_value(a.string)
                .set_binary_value(a.binary)
                .build()
                .map_err(|e| invalid("SNS", format!("message attribute '{}': {e}", a.name)))?;
            req = req.message_attributes(a.name, v);
        }
        let captured = Captured::default();
        let out = req
            .customize()
            .interceptor(captured.clone())
            .send()
            .await
            .map_err(|e| sdk_error("SNS", "AmazonSNS", e))?;
        use aws_sdk_sns::operation::RequestId;
        let (http, resp) = captured.metadata(out.request_id());
        let mut r = Map::new();
        r.insert("MessageId".into(), json!(out.message_id()));
        if let Some(s) = out.sequence_number() {
            r.insert("SequenceNumber".into(), json!(s));
        }
        r.insert("SdkHttpMetadata".into(), http);
        r.insert("SdkResponseMetadata".into(), resp);
        tracing::info!(
            topic = str_param(p, "TopicArn").unwrap_or_default(),
            message_id = out.message_id().unwrap_or_default(),
            "sns:publish"
        );
        Ok(Value::Object(r))
    }
}

#[async_trait]
impl ServiceIntegration for Sns {
    async fn call(&self, request: ServiceRequest) -> Result<Value, TaskError> {
        match request.action.as_str() {
            "publish" => self.publish(&request.parameters).await,
            other => Err(TaskError {
                error: "States.Runtime".into(),
                cause: format!(
                    "the local engine does not support sns:{other} ({})",
                    request.resource
                ),
            }),
        }
    }
}

/// One `MessageAttributes` entry, as SNS and SQS both take it.
struct MessageAttribute {
    name: String,
    data_type: String,
    string: Option<String>,
    binary: Option<aws_smithy_types::Blob>,
}

/// The task's `MessageAttributes`, checked (`service` names the service in errors).
fn message_attributes(p: &Value, service: &str) -> Result<Vec<MessageAttribute>, TaskError> {
    let Some(Value::Object(attrs)) = p.get("MessageAttributes") else {
        return Ok(Vec::new());
    };
    attrs
        .iter()
        .map(|(name, a)| {
            let data_type = str_param(a, "DataType").ok_or_else(|| {
                invalid(
                    service,
                    format!(
                        "The message attribute '{name}' must contain a non-empty attribute type."
                    ),
                )
            })?;
            let binary = match str_param(a, "BinaryValue") {
                Some(s) => Some(aws_smithy_types::Blob::new(decode_base64(s).map_err(
                    |m| invalid(service, format!("message attribute '{name}': {m}")),
                )?)),
                None => None,
            };
            Ok(MessageAttribute {
                name: name.clone(),
                data_type: data_type.to_string(),
                string: a.get("StringValue").map(text),
                binary,
            })
        })
        .collect()
}

/// `arn:aws:states:::sqs:sendMessage`.
#[derive(Clone, Debug)]
pub struct Sqs {
    client: aws_sdk_sqs::Client,
}

impl Sqs {
    /// A client for the endpoint in `cfg`.
    pub fn new(cfg: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_sqs::Client::new(cfg),
        }
    }

    async fn send_message(&self, p: &Value) -> Result<Value, TaskError> {
        use aws_sdk_sqs::types::MessageAttributeValue;
        let queue = str_param(p, "QueueUrl").ok_or_else(|| {
            invalid(
                "SQS",
                "The request must contain the parameter QueueUrl.".into(),
            )
        })?;
        let body = p.get("MessageBody").ok_or_else(|| {
            invalid(
                "SQS",
                "The request must contain the parameter MessageBody.".into(),
            )
        })?;
        let mut req = self
            .client
            .send_message()
            .queue_url(queue)
            .message_body(text(body));
        if let Some(v) = p.get("DelaySeconds").and_then(Value::as_i64) {
            req = req.delay_seconds(v as i32);
        }
        if let Some(v) = str_param(p, "MessageDeduplicationId") {
            req = req.message_deduplication_id(v);
        }
        if let Some(v) = str_param(p, "MessageGroupId") {
            req = req.message_group_id(v);
        }
        for a in message_attributes(p, "SQS")? {
            let v = MessageAttributeValue::builder()
                .data_type(a.data_type)
                .set_string_value(a.string)
                .set_binary_value(a.binary)
                .build()
                .map_err(|e| invalid("SQS", format!("message attribute '{}': {e}", a.name)))?;
            req = req.message_attributes(a.name, v);
        }
        let captured = Captured::default();
        let out = req
            .customize()
            .interceptor(captured.clone())
            .send()
            .await
            .map_err(|e| sdk_error("SQS", "AmazonSQS", e))?;
        use aws_sdk_sqs::operation::RequestId;
        let (http, resp) = captured.metadata(out.request_id());
        let mut r = Map::new();
        r.insert("MD5OfMessageBody".into(), json!(out.md5_of_message_body()));
        if let Some(s) = out.md5_of_message_attributes() {
            r.insert("MD5OfMessageAttributes".into(), json!(s));
        }
        r.insert("MessageId".into(), json!(out.message_id()));
        if let Some(s) = out.sequence_number() {
            r.insert("SequenceNumber".into(), json!(s));
        }
        r.insert("SdkHttpMetadata".into(), http);
        r.insert("SdkResponseMetadata".into(), resp);
        tracing::info!(
            queue,
            message_id = out.message_id().unwrap_or_default(),
            "sqs:sendMessage"
        );
        Ok(Value::Object(r))
    }
}

#[async_trait]
impl ServiceIntegration for Sqs {
    async fn call(&self, request: ServiceRequest) -> Result<Value, TaskError> {
        match request.action.as_str() {
            "sendMessage" => self.send_message(&request.parameters).await,
            other => Err(TaskError {
                error: "States.Runtime".into(),
                cause: format!(
                    "the local engine does not support sqs:{other} ({})",
                    request.resource
                ),
            }),
        }
    }
}

/// `arn:aws:states:::states:startExecution` (request-response; `.sync` is not supported).
///
/// The client is connected after construction ([`StepFunctions::connect`]) because offline the
/// Step Functions endpoint is the engine's own API server, which starts after the engine that
/// needs this integration.
#[derive(Clone, Debug, Default)]
pub struct StepFunctions {
    client: Arc<OnceLock<aws_sdk_sfn::Client>>,
}

impl StepFunctions {
    /// An integration with no endpoint yet: calls fail with `StepFunctions.SdkClientException`
    /// until [`StepFunctions::connect`].
    pub fn unconnected() -> Self {
        Self::default()
    }

    /// Point the integration at a Step Functions endpoint. Later calls are ignored: the first
    /// endpoint wins, so executions never switch servers midway.
    pub fn connect(&self, cfg: &aws_config::SdkConfig) {
        let _ = self.client.set(aws_sdk_sfn::Client::new(cfg));
    }

    async fn start_execution(&self, p: &Value) -> Result<Value, TaskError> {
        let client = self.client.get().ok_or_else(|| TaskError {
            error: "StepFunctions.SdkClientException".into(),
            cause:
                "Unable to execute HTTP request: the Step Functions endpoint is not connected yet"
                    .into(),
        })?;
        let arn = str_param(p, "StateMachineArn").ok_or_else(|| {
            invalid(
                "StepFunctions",
                "The request must contain the parameter StateMachineArn.".into(),
            )
        })?;
        let mut req = client.start_execution().state_machine_arn(arn);
        if let Some(name) = p.get("Name") {
            // A non-string name reaches the service as its text and is refused there, as in AWS.
            req = req.name(text(name));
        }
        if let Some(input) = p.get("Input") {
            req = req.input(text(input));
        }
        if let Some(v) = str_param(p, "TraceHeader") {
            req = req.trace_header(v);
        }
        let captured = Captured::default();
        let out = req
            .customize()
            .interceptor(captured.clone())
            .send()
            .await
            .map_err(|e| sdk_error("StepFunctions", "AWSStepFunctions", e))?;
        use aws_sdk_sfn::operation::RequestId;
        let (http, resp) = captured.metadata(out.request_id());
        let start_ms = out.start_date().to_millis().unwrap_or_default();
        tracing::info!(
            state_machine = arn,
            execution = out.execution_arn(),
            "states:startExecution"
        );
        Ok(json!({
            "ExecutionArn": out.execution_arn(),
            "StartDate": start_ms,
            "SdkHttpMetadata": http,
            "SdkResponseMetadata": resp,
        }))
    }
}

#[async_trait]
impl ServiceIntegration for StepFunctions {
    async fn call(&self, request: ServiceRequest) -> Result<Value, TaskError> {
        match (request.action.as_str(), request.pattern) {
            ("startExecution", cordon_engine::IntegrationPattern::RequestResponse) => {
                self.start_execution(&request.parameters).await
            }
            (action, _) => Err(TaskError {
                error: "States.Runtime".into(),
                cause: format!(
                    "the local engine supports only states:startExecution (request-response), not {action} ({})",
                    request.resource
                ),
            }),
        }
    }
}

fn decode_base64(s: &str) -> Result<Vec<u8>, String> {
    aws_smithy_types::base64::decode(s).map_err(|e| format!("BinaryValue is not base64: {e}"))
}
