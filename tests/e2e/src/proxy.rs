//! A fault-injecting proxy in front of moto, on loopback: it forwards every AWS request
//! unchanged, except that the calls of a given Query API `Action` (IAM, EC2, SNS speak the
//! Query protocol: `Action=AttachUserPolicy&...` in a form body) get a scripted error the
//! first N times, the way IAM answers when it throttles or denies.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An error answered instead of forwarding.
#[derive(Debug, Clone)]
pub struct Fault {
    /// The Query API action it applies to (`AttachUserPolicy`).
    pub action: String,
    /// How many calls of that action get it (then calls are forwarded); `usize::MAX` = always.
    pub times: usize,
    pub status: u16,
    /// The AWS error code (`Throttling`, `AccessDenied`).
    pub code: String,
    pub message: String,
}

impl Fault {
    /// IAM's throttling answer: HTTP 400 `Throttling` "Rate exceeded".
    pub fn throttling(action: &str, times: usize) -> Fault {
        Fault {
            action: action.into(),
            times,
            status: 400,
            code: "Throttling".into(),
            message: "Rate exceeded".into(),
        }
    }

    /// IAM's access denied answer (HTTP 403), every time.
    pub fn access_denied(action: &str) -> Fault {
        Fault {
            action: action.into(),
            times: usize::MAX,
            status: 403,
            code: "AccessDenied".into(),
            message: format!(
                "User: arn:aws:sts::123456789012:assumed-role/cordon-QuarantineFunctionRole/cordon-quarantine is not authorized to perform: iam:{action} because no identity-based policy allows the iam:{action} action"
            ),
        }
    }
}

#[derive(Default)]
struct Counts {
    /// Calls seen, by action.
    seen: BTreeMap<String, usize>,
    /// Calls answered with a fault, by action.
    faulted: BTreeMap<String, usize>,
}

struct Ctx {
    upstream: String,
    client: reqwest::Client,
    faults: Vec<Fault>,
    counts: Mutex<Counts>,
}

/// The proxy, running until dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    ctx: Arc<Ctx>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Forward to `upstream` (moto's endpoint), injecting `faults`.
    pub async fn start(upstream: &str, faults: Vec<Fault>) -> FaultProxy {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("binding the proxy on loopback");
        let addr = listener.local_addr().unwrap();
        let ctx = Arc::new(Ctx {
            upstream: upstream.trim_end_matches('/').to_string(),
            client: reqwest::Client::builder()
                .no_proxy()
                .timeout(std::time::Duration::from_secs(120))
                .build()
                .unwrap(),
            faults,
            counts: Mutex::new(Counts::default()),
        });
        let app = Router::new().fallback(forward).with_state(ctx.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FaultProxy { addr, ctx, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Calls of `action` seen (faulted or forwarded).
    pub fn seen(&self, action: &str) -> usize {
        let c = self.ctx.counts.lock().unwrap();
        c.seen.get(action).copied().unwrap_or(0)
    }

    /// Calls of `action` answered with the fault.
    pub fn faulted(&self, action: &str) -> usize {
        let c = self.ctx.counts.lock().unwrap();
        c.faulted.get(action).copied().unwrap_or(0)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `Action=...` of a form-encoded Query API body.
fn query_action(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .map(str::to_string)
}

async fn forward(State(ctx): State<Arc<Ctx>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body: Bytes = match axum::body::to_bytes(body, 64 * 1024 * 1024).await {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    if let Some(action) = query_action(&body) {
        let fault = {
            let mut c = ctx.counts.lock().unwrap();
            *c.seen.entry(action.clone()).or_default() += 1;
            let done = c.faulted.get(&action).copied().unwrap_or(0);
            let fault = ctx
                .faults
                .iter()
                .find(|f| f.action == action && done < f.times)
                .cloned();
            if fault.is_some() {
                *c.faulted.entry(action.clone()).or_default() += 1;
            }
            fault
        };
        if let Some(f) = fault {
            let xml = format!(
                "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
                f.code,
                f.message,
                uuid::Uuid::new_v4()
            );
            return (
                StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_REQUEST),
                [("content-type", "text/xml")],
                xml,
            )
                .into_response();
        }
    }
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let url = format!("{}{path}", ctx.upstream);
    let mut out = ctx.client.request(parts.method.clone(), url).body(body);
    for (k, v) in parts.headers.iter() {
        if k == "host" || k == "content-length" {
            continue;
        }
        out = out.header(k, v);
    }
    match out.send().await {
        Err(e) => (StatusCode::BAD_GATEWAY, format!("proxy: {e}")).into_response(),
        Ok(r) => {
            let status = r.status();
            let headers = r.headers().clone();
            let bytes = r.bytes().await.unwrap_or_default();
            let mut resp = (status, bytes).into_response();
            for (k, v) in headers.iter() {
                if k == "content-length" || k == "transfer-encoding" || k == "connection" {
                    continue;
                }
                resp.headers_mut().insert(k, v.clone());
            }
            resp
        }
    }
}
