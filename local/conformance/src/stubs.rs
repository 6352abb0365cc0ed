//! Stand-ins for the outside world of a case: the test-created Lambda functions (`lambdas`),
//! the SQS/SNS services (`service_stubs`) and the callback consumers (`callbacks`).

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use cordon_engine::{
    LambdaInvokeError, LambdaInvoker, LambdaResponse, ServiceIntegration, ServiceRequest, TaskError,
};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use crate::pyjson;

/// The functions a case's test created, answering as the Python runtime would.
pub struct StandInLambdas {
    functions: Map<String, Value>,
    region: String,
    account: String,
}

impl StandInLambdas {
    pub fn new(functions: Map<String, Value>, region: &str, account: &str) -> Self {
        Self {
            functions,
            region: region.into(),
            account: account.into(),
        }
    }

    /// `name`, `name:qualifier`, `arn:...:function:name[:qualifier]` → (name, qualifier).
    fn split(function: &str) -> (String, Option<String>) {
        if let Some(rest) = function
            .split(":function:")
            .nth(1)
            .filter(|_| function.starts_with("arn:"))
        {
            let mut it = rest.splitn(2, ':');
            let name = it.next().unwrap_or_default().to_string();
            return (name, it.next().map(str::to_string));
        }
        let mut it = function.splitn(2, ':');
        let name = it.next().unwrap_or_default().to_string();
        (name, it.next().map(str::to_string))
    }
}

/// The Python 3.12+ runtime serialises results with `ensure_ascii=False`, older ones escape.
fn runtime_ensure_ascii(f: &Value) -> bool {
    let rt = f
        .get("runtime")
        .and_then(Value::as_str)
        .unwrap_or("python3_12");
    !(rt.contains("3_12") || rt.contains("3_13") || rt.contains("3.12") || rt.contains("3.13"))
}

#[async_trait]
impl LambdaInvoker for StandInLambdas {
    async fn invoke(
        &self,
        function: &str,
        payload: Vec<u8>,
    ) -> Result<LambdaResponse, LambdaInvokeError> {
        let (name, qualifier) = Self::split(function);
        let Some(f) = self.functions.get(&name) else {
            let q = qualifier.unwrap_or_else(|| "$LATEST".into());
            return Err(LambdaInvokeError::ResourceNotFound {
                message: format!(
                    "Function not found: arn:aws:lambda:{}:{}:function:{}:{}",
                    self.region, self.account, name, q
                ),
            });
        };
        let behaviour = f.get("behaviour").cloned().unwrap_or(Value::Null);
        let kind = behaviour
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("echo");
        let ascii = runtime_ensure_ascii(f);
        // an Invoke without payload reaches the function as `{}`
        let event: Value = if payload.iter().all(u8::is_ascii_whitespace) {
            Value::Object(Map::new())
        } else {
            serde_json::from_slice(&payload).unwrap_or(Value::Null)
        };
        let ok = |bytes: Vec<u8>| {
            Ok(LambdaResponse {
                payload: bytes,
                function_error: None,
                executed_version: "$LATEST".into(),
            })
        };
        match kind {
            "echo" => ok(pyjson::dumps(&event, ascii).into_bytes()),
            "return" => ok(
                pyjson::dumps(behaviour.get("value").unwrap_or(&Value::Null), ascii).into_bytes(),
            ),
            "format" => {
                let template = behaviour
                    .get("template")
                    .and_then(Value::as_str)
                    .unwrap_or("input-event-{event}");
                let text = template.replace("{event}", &pyjson::py_str(&event));
                ok(pyjson::dumps(&Value::String(text), ascii).into_bytes())
            }
            "return_raw" => {
                if let Some(t) = behaviour.get("payload_text").and_then(Value::as_str) {
                    ok(t.as_bytes().to_vec())
                } else {
                    let n = behaviour
                        .get("payload_size_bytes")
                        .and_then(Value::as_u64)
                        .unwrap_or(0) as usize;
                    ok(vec![b'a'; n])
                }
            }
            "sleep_then_echo" => {
                let secs = behaviour
                    .get("seconds")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0);
                tokio::time::sleep(Duration::from_secs_f64(secs)).await;
                ok(pyjson::dumps(&event, ascii).into_bytes())
            }
            "raise" => {
                let mut cause = behaviour.get("cause_json").cloned().unwrap_or_else(|| {
                    serde_json::json!({
                        "errorMessage": behaviour.get("errorMessage").cloned().unwrap_or(Value::Null),
                        "errorType": behaviour.get("errorType").cloned().unwrap_or(Value::Null),
                    })
                });
                if let Some(m) = cause.as_object_mut()
                    && m.contains_key("requestId")
                {
                    m.insert(
                        "requestId".into(),
                        Value::String(uuid::Uuid::new_v4().to_string()),
                    );
                }
                Ok(LambdaResponse {
                    payload: serde_json::to_vec(&cause).unwrap_or_default(),
                    function_error: Some("Unhandled".into()),
                    executed_version: "$LATEST".into(),
                })
            }
            other => Err(LambdaInvokeError::Service {
                error: "ServiceException".into(),
                message: format!("conformance stand-in: unknown behaviour {other}"),
            }),
        }
    }
}

/// Replaces each `<name:N>` placeholder of a recorded response with a fresh value (the same
/// placeholder twice in one response gets the same value).
pub fn fill_placeholders(v: &Value, seen: &mut Map<String, Value>) -> Value {
    match v {
        Value::String(s) if s.starts_with('<') && s.ends_with('>') && s.contains(':') => {
            if let Some(existing) = seen.get(s) {
                return existing.clone();
            }
            let name = s[1..s.len() - 1]
                .split(':')
                .next()
                .unwrap_or_default()
                .to_lowercase();
            let fresh = uuid::Uuid::new_v4();
            let value = if name.contains("uuid")
                || name.contains("id") && !name.contains("md5") && !name.contains("m-d5")
            {
                fresh.to_string()
            } else if name.contains("d5") || name.contains("md5") {
                fresh.simple().to_string()
            } else {
                format!("{}-{}", name, fresh.simple())
            };
            seen.insert(s.clone(), Value::String(value.clone()));
            Value::String(value)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| fill_placeholders(x, seen)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), fill_placeholders(x, seen)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// What a callback consumer receives for a submitted task.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// The message text as the queue/topic delivers it.
    pub message_text: String,
    pub execution_arn: String,
}

/// SQS/SNS stand-in: answers with the recorded responses in order and hands the message to the
/// callback consumer.
pub struct StandInService {
    stubs: Mutex<Vec<Value>>,
    next: Mutex<usize>,
    consumer: Option<mpsc::UnboundedSender<Submitted>>,
}

impl StandInService {
    pub fn new(stubs: Vec<Value>, consumer: Option<mpsc::UnboundedSender<Submitted>>) -> Self {
        Self {
            stubs: Mutex::new(stubs),
            next: Mutex::new(0),
            consumer,
        }
    }
}

#[async_trait]
impl ServiceIntegration for StandInService {
    async fn call(&self, request: ServiceRequest) -> Result<Value, TaskError> {
        let response = {
            let stubs = self.stubs.lock().unwrap();
            let mut next = self.next.lock().unwrap();
            let matching: Vec<&Value> = stubs
                .iter()
                .filter(|s| {
                    s.get("resourceType").and_then(Value::as_str) == Some(request.service.as_str())
                })
                .collect();
            let pick = matching.get(*next).or(matching.last()).copied().cloned();
            *next += 1;
            pick.and_then(|s| s.get("response_normalised").cloned())
                .unwrap_or_else(|| serde_json::json!({}))
        };
        let response = fill_placeholders(&response, &mut Map::new());
        if let Some(tx) = &self.consumer {
            let field = if request.service == "sns" {
                "Message"
            } else {
                "MessageBody"
            };
            let message_text = match request.parameters.get(field) {
                Some(Value::String(s)) => s.clone(),
                Some(other) => serde_json::to_string(other).unwrap_or_default(),
                None => String::new(),
            };
            let _ = tx.send(Submitted {
                message_text,
                execution_arn: request.execution_arn.clone(),
            });
        }
        Ok(response)
    }
}
