//! A local Lambda function URL: an HTTP server on loopback that turns each request into the
//! function URL event (`LambdaFunctionUrlRequest`, payload format 2.0), invokes the function
//! through the Lambda host, and answers with the function's HTTP response.
//!
//! In AWS the URL uses `AWS_IAM` auth, so `requestContext.authorizer.iam.userArn` is the
//! caller as AWS verified it. Offline nobody verifies anything: the client asserts its
//! identity in the [`ASSERTED_CALLER_HEADER`] header, and a request without it is refused
//! with 403 as an unsigned request would be.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use cordon_engine::LambdaInvoker;
use serde_json::{Map, Value, json};

/// The header carrying the caller identity (an IAM or STS ARN) the client asserts offline.
pub const ASSERTED_CALLER_HEADER: &str = "x-cordon-asserted-caller";

struct Ctx {
    lambda: Arc<dyn LambdaInvoker>,
    function: String,
    url_id: String,
    region: String,
}

/// A function URL server running in the background (stops when dropped).
pub struct FunctionUrl {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl FunctionUrl {
    /// Serve `function` (invoked through `lambda`) on a free loopback port.
    pub async fn start(
        lambda: Arc<dyn LambdaInvoker>,
        function: &str,
        region: &str,
    ) -> std::io::Result<FunctionUrl> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let url_id: String = uuid::Uuid::new_v4().simple().to_string();
        let ctx = Arc::new(Ctx {
            lambda,
            function: function.to_string(),
            url_id,
            region: region.to_string(),
        });
        let app = Router::new().fallback(handle).with_state(ctx);
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "function URL server stopped");
            }
        });
        Ok(FunctionUrl { addr, task })
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for FunctionUrl {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn handle(State(ctx): State<Arc<Ctx>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body: Bytes = match axum::body::to_bytes(body, 6 * 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => {
            return json_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"Message": "Request must be smaller than 6291456 bytes for the InvokeFunction operation"}),
            );
        }
    };
    let Some(caller) = parts
        .headers
        .get(ASSERTED_CALLER_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
    else {
        return json_response(
            StatusCode::FORBIDDEN,
            json!({"Message": format!("Forbidden: offline, the caller must assert its identity in the {ASSERTED_CALLER_HEADER} header (AWS_IAM auth)")}),
        );
    };
    let event = url_event(&ctx, &parts, &body, &caller);
    let payload = serde_json::to_vec(&event).unwrap_or_default();
    match ctx.lambda.invoke(&ctx.function, payload).await {
        Err(e) => json_response(
            StatusCode::BAD_GATEWAY,
            json!({"Message": format!("Internal Server Error: {e}")}),
        ),
        Ok(r) if r.function_error.is_some() => {
            tracing::warn!(function = %ctx.function, payload = %String::from_utf8_lossy(&r.payload), "function URL invocation failed");
            let detail: Value = serde_json::from_slice(&r.payload).unwrap_or(Value::Null);
            json_response(
                StatusCode::BAD_GATEWAY,
                json!({"Message": "Internal Server Error", "functionError": detail}),
            )
        }
        Ok(r) => function_response(&r.payload),
    }
}

fn url_event(ctx: &Ctx, parts: &axum::http::request::Parts, body: &[u8], caller: &str) -> Value {
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for (k, v) in parts.headers.iter() {
        if k.as_str() == ASSERTED_CALLER_HEADER {
            continue;
        }
        let v = String::from_utf8_lossy(v.as_bytes()).to_string();
        if k.as_str() == "cookie" {
            cookies.extend(v.split(';').map(|c| c.trim().to_string()));
            continue;
        }
        match headers.get_mut(k.as_str()) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                headers.insert(k.as_str().to_string(), Value::String(v));
            }
        }
    }
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let mut query = Map::new();
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (
            cordon_core::text::percent_decode(k),
            cordon_core::text::percent_decode(v),
        );
        match query.get_mut(&k) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                query.insert(k, Value::String(v));
            }
        }
    }
    let (body, is_base64) = match std::str::from_utf8(body) {
        _ if body.is_empty() => (Value::Null, false),
        Ok(text) => (Value::String(text.to_string()), false),
        Err(_) => (
            Value::String(base64::engine::general_purpose::STANDARD.encode(body)),
            true,
        ),
    };
    let now = chrono::Utc::now();
    let account = arn_account(caller)
        .unwrap_or(cordon_moto::ACCOUNT_ID)
        .to_string();
    let user_agent = parts
        .headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let domain = format!("{}.lambda-url.{}.on.aws", ctx.url_id, ctx.region);
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.uri.path(),
        "rawQueryString": raw_query,
        "cookies": if cookies.is_empty() { Value::Null } else { json!(cookies) },
        "headers": headers,
        "queryStringParameters": if query.is_empty() { Value::Null } else { Value::Object(query) },
        "requestContext": {
            "accountId": account,
            "apiId": ctx.url_id,
            "authorizer": {
                "iam": {
                    "accessKey": "ASIAOFFLINECALLER000",
                    "accountId": account,
                    "callerId": caller_id(caller),
                    "cognitoIdentity": null,
                    "principalOrgId": null,
                    "userArn": caller,
                    "userId": caller_id(caller),
                }
            },
            "domainName": domain,
            "domainPrefix": ctx.url_id,
            "http": {
                "method": parts.method.as_str(),
                "path": parts.uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": user_agent,
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "body": body,
        "pathParameters": null,
        "isBase64Encoded": is_base64,
        "stageVariables": null,
    })
}

/// The function's answer as an HTTP response: a `{statusCode, headers, body,
/// isBase64Encoded, cookies}` object is taken apart; anything else is a 200 JSON body, as
/// function URLs do.
fn function_response(payload: &[u8]) -> Response {
    let value: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
    let Some(obj) = value.as_object().filter(|o| o.contains_key("statusCode")) else {
        return (
            StatusCode::OK,
            [("content-type", "application/json")],
            payload.to_vec(),
        )
            .into_response();
    };
    let status = obj
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|s| StatusCode::from_u16(s as u16).ok())
        .unwrap_or(StatusCode::OK);
    let mut headers = HeaderMap::new();
    if let Some(h) = obj.get("headers").and_then(Value::as_object) {
        for (k, v) in h {
            if let (Ok(name), Some(Ok(value))) = (
                HeaderName::from_bytes(k.as_bytes()),
                v.as_str().map(HeaderValue::from_str),
            ) {
                headers.insert(name, value);
            }
        }
    }
    if let Some(c) = obj.get("cookies").and_then(Value::as_array) {
        for cookie in c.iter().filter_map(Value::as_str) {
            if let Ok(v) = HeaderValue::from_str(cookie) {
                headers.append("set-cookie", v);
            }
        }
    }
    let body = match obj.get("body") {
        Some(Value::String(s)) if obj.get("isBase64Encoded") == Some(&Value::Bool(true)) => {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .unwrap_or_default()
        }
        Some(Value::String(s)) => s.clone().into_bytes(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => other.to_string().into_bytes(),
    };
    if !headers.contains_key("content-type") {
        headers.insert("content-type", HeaderValue::from_static("application/json"));
    }
    (status, headers, body).into_response()
}

fn arn_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

fn caller_id(arn: &str) -> String {
    // AWS gives the principal id (AROA...:session / AIDA...); offline, a stable stand-in.
    let session = arn.rsplit('/').next().unwrap_or(arn);
    if arn.contains(":assumed-role/") {
        format!("AROAOFFLINEAPPROVER0:{session}")
    } else {
        "AIDAOFFLINEAPPROVER0".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
    use cordon_engine::{LambdaInvokeError, LambdaResponse};

    struct Nobody;

    #[async_trait::async_trait]
    impl LambdaInvoker for Nobody {
        async fn invoke(&self, _: &str, _: Vec<u8>) -> Result<LambdaResponse, LambdaInvokeError> {
            unreachable!()
        }
    }

    #[test]
    fn the_event_is_a_function_url_request_with_the_asserted_caller() {
        let ctx = Ctx {
            lambda: Arc::new(Nobody),
            function: "cordon-approve".into(),
            url_id: "abc".into(),
            region: "us-east-1".into(),
        };
        let req = axum::http::Request::post("/decide?x=1&y=a%20b")
            .header("content-type", "application/json")
            .header(
                ASSERTED_CALLER_HEADER,
                "arn:aws:sts::123456789012:assumed-role/R/s",
            )
            .body(())
            .unwrap();
        let (parts, _) = req.into_parts();
        let event = url_event(
            &ctx,
            &parts,
            br#"{"decision":"approved"}"#,
            "arn:aws:sts::123456789012:assumed-role/R/s",
        );
        assert!(event["headers"].get(ASSERTED_CALLER_HEADER).is_none());
        let parsed: LambdaFunctionUrlRequest = serde_json::from_value(event).unwrap();
        let iam = parsed.request_context.authorizer.unwrap().iam.unwrap();
        assert_eq!(
            iam.user_arn.as_deref(),
            Some("arn:aws:sts::123456789012:assumed-role/R/s")
        );
        assert_eq!(parsed.body.as_deref(), Some(r#"{"decision":"approved"}"#));
        assert_eq!(parsed.raw_path.as_deref(), Some("/decide"));
        assert_eq!(parsed.request_context.http.method.as_deref(), Some("POST"));
        assert_eq!(
            parsed.query_string_parameters.get("y").map(String::as_str),
            Some("a b")
        );
    }

    #[test]
    fn a_function_url_response_is_taken_apart() {
        let r = function_response(
            br#"{"statusCode":409,"headers":{"x-a":"1"},"body":"{\"message\":\"no\"}"}"#,
        );
        assert_eq!(r.status(), StatusCode::CONFLICT);
        assert_eq!(r.headers()["x-a"], "1");
        let r = function_response(br#"{"ok":true}"#);
        assert_eq!(r.status(), StatusCode::OK);
    }
}
