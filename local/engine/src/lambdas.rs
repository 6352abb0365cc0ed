//! In-process Lambda functions built from async closures, for tests and benchmarks.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use crate::dispatch::{LambdaInvokeError, LambdaInvoker, LambdaResponse, LambdaValueResponse};

type Handler = Arc<
    dyn Fn(Value) -> Pin<Box<dyn Future<Output = Result<Value, (String, String)>> + Send>>
        + Send
        + Sync,
>;

/// A `LambdaInvoker` whose functions are Rust closures. A handler returning
/// `Err((errorType, errorMessage))` is reported as an unhandled function error, with the
/// payload shape of the Lambda runtimes.
#[derive(Default, Clone)]
pub struct InProcessLambdas {
    functions: HashMap<String, Handler>,
}

impl InProcessLambdas {
    pub fn new() -> Self {
        Self::default()
    }

    /// Register `name` (invocable by name, by `name:$LATEST` or by full ARN).
    pub fn with<F, Fut>(mut self, name: &str, f: F) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, (String, String)>> + Send + 'static,
    {
        self.functions
            .insert(name.to_string(), Arc::new(move |v| Box::pin(f(v))));
        self
    }
}

/// The function name in a name, `name:qualifier` or ARN.
pub fn function_name(f: &str) -> &str {
    if let Some(rest) = f.strip_prefix("arn:") {
        // partition:lambda:region:account:function:name[:qualifier]
        return rest.split(':').nth(5).unwrap_or(f);
    }
    f.split(':').next().unwrap_or(f)
}

#[async_trait]
impl LambdaInvoker for InProcessLambdas {
    async fn invoke(
        &self,
        function: &str,
        payload: Vec<u8>,
    ) -> Result<LambdaResponse, LambdaInvokeError> {
        let name = function_name(function);
        let Some(h) = self.functions.get(name) else {
            return Err(LambdaInvokeError::ResourceNotFound {
                message: format!("Function not found: {function}"),
            });
        };
        let event: Value = serde_json::from_slice(&payload).unwrap_or(Value::Null);
        match h(event).await {
            Ok(v) => Ok(LambdaResponse {
                payload: serde_json::to_vec(&v).unwrap_or_default(),
                function_error: None,
                executed_version: "$LATEST".into(),
            }),
            Err((t, m)) => Ok(unhandled(t, m)),
        }
    }

    fn invoke_value<'a>(
        &'a self,
        function: &'a str,
        payload: &'a Value,
    ) -> Option<futures::future::BoxFuture<'a, Result<LambdaValueResponse, LambdaInvokeError>>>
    {
        Some(Box::pin(async move {
            let Some(h) = self.functions.get(function_name(function)) else {
                return Err(LambdaInvokeError::ResourceNotFound {
                    message: format!("Function not found: {function}"),
                });
            };
            match h(payload.clone()).await {
                Ok(v) => Ok(LambdaValueResponse::Value(v)),
                Err((t, m)) => Ok(LambdaValueResponse::Response(unhandled(t, m))),
            }
        }))
    }
}

/// A handler's error as the Lambda runtimes report it.
fn unhandled(t: String, m: String) -> LambdaResponse {
    let body = serde_json::json!({"errorMessage": m, "errorType": t, "stackTrace": []});
    LambdaResponse {
        payload: body.to_string().into_bytes(),
        function_error: Some("Unhandled".into()),
        executed_version: "$LATEST".into(),
    }
}
