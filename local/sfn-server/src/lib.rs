//! cordon-sfn-server: the local engine behind the Step Functions JSON protocol
//! (awsJson1.0), so `aws-sdk-sfn`, the AWS CLI and the `cordon` CLI talk to it exactly as to
//! AWS, changing only the endpoint.
//!
//! `POST /` with `X-Amz-Target: AWSStepFunctions.<Operation>` and
//! `Content-Type: application/x-amz-json-1.0`; the body goes to [`Engine::call`] unchanged.
//! Errors are HTTP 400 with `{"__type": "<code>", "message": "..."}` (500 for
//! `InternalServerError`), and the `x-amzn-RequestId` header is on every response.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use cordon_engine::{ApiError, Engine};
use serde_json::{Value, json};

/// The Step Functions API router for `engine`.
pub fn router(engine: Engine) -> Router {
    Router::new().route("/", post(handle)).with_state(engine)
}

/// A server running in the background.
pub struct Server {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Bind `addr` (use port 0 for any free port) and serve `engine` until dropped.
    pub async fn start(engine: Engine, addr: SocketAddr) -> std::io::Result<Server> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router(engine)).await {
                tracing::error!(error = %e, "Step Functions API server stopped");
            }
        });
        tracing::info!(endpoint = %format!("http://{addr}"), "Step Functions API listening");
        Ok(Server { addr, task })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, what `--endpoint-url` takes.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{:08x}-{:04x}-4000-8000-{:012x}",
        t.as_secs() as u32,
        (t.subsec_millis() & 0xffff),
        n
    )
}

fn reply(status: StatusCode, body: Value, rid: &str) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    if let Ok(v) = HeaderValue::from_str(rid) {
        headers.insert("x-amzn-requestid", v);
    }
    (status, headers, body.to_string()).into_response()
}

fn error(e: &ApiError, rid: &str) -> Response {
    let status = match e.code.as_str() {
        "InternalServerError" | "ServiceUnavailable" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    reply(status, json!({"__type": e.code, "message": e.message}), rid)
}

async fn handle(State(engine): State<Engine>, headers: HeaderMap, body: Bytes) -> Response {
    let rid = request_id();
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(operation) = target.strip_prefix("AWSStepFunctions.") else {
        let e = ApiError::new(
            "UnknownOperationException",
            if target.is_empty() {
                "Missing X-Amz-Target header (expected AWSStepFunctions.<Operation>)".to_string()
            } else {
                format!("Unknown target {target} (expected AWSStepFunctions.<Operation>)")
            },
        );
        return error(&e, &rid);
    };
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.starts_with("application/x-amz-json-1.0")
        && !content_type.starts_with("application/json")
    {
        let e = ApiError::new(
            "UnknownOperationException",
            format!("unsupported Content-Type {content_type:?}: use application/x-amz-json-1.0"),
        );
        return error(&e, &rid);
    }
    let request: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                let e = ApiError::new(
                    "SerializationException",
                    format!("request body is not JSON: {e}"),
                );
                return error(&e, &rid);
            }
        }
    };
    let started = std::time::Instant::now();
    let result = engine.call(operation, request).await;
    let elapsed_us = started.elapsed().as_micros() as u64;
    match result {
        Ok(v) => {
            tracing::debug!(operation, request_id = %rid, elapsed_us, "ok");
            reply(StatusCode::OK, v, &rid)
        }
        Err(e) => {
            tracing::info!(operation, request_id = %rid, code = %e.code, message = %e.message, elapsed_us, "error");
            error(&e, &rid)
        }
    }
}
