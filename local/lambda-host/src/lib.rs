//! cordon-lambda-host: runs real Lambda function binaries locally through the
//! [Lambda Runtime API](https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html), and
//! offers them to the engine as a [`LambdaInvoker`].
//!
//! Each sandbox (one function process) gets its own Runtime API listener on a loopback port,
//! passed as `AWS_LAMBDA_RUNTIME_API`, exactly like one Lambda execution environment: the
//! process polls `GET /2018-06-01/runtime/invocation/next`, answers with
//! `POST .../invocation/{id}/response` or `.../error`, or reports a failed start with
//! `POST .../runtime/init/error`.
//!
//! Sandboxes stay warm between invocations. When every warm sandbox of a function is busy, the
//! host starts another process (concurrent invocations), up to the function's concurrency
//! limit, beyond which `Invoke` fails with `TooManyRequestsException` as AWS's does.
//!
//! Failures are reported the way the Lambda service reports them, as an `Unhandled` function
//! error whose payload is `{"errorType", "errorMessage"}`:
//! - the function's timeout elapsed: the process is killed, `Sandbox.Timedout`,
//!   `"RequestId: ... Error: Task timed out after 3.00 seconds"`;
//! - the process exited while handling an event (or during init without posting an init
//!   error): `Runtime.ExitError`, `"RequestId: ... Error: Runtime exited with error: exit status 2"`;
//! - the runtime posted `/runtime/init/error`: that error as posted (its `errorType`, else the
//!   `Lambda-Runtime-Function-Error-Type` header, else `Runtime.InitError`).
//!
//! Every line a process writes to stdout or stderr is logged through `tracing` (target
//! `cordon_lambda_host::function`) with the function name and sandbox id.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cordon_engine::{LambdaInvokeError, LambdaInvoker, LambdaResponse};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{mpsc, oneshot};

/// How long a sandbox may take from process start to its first `/next` poll before the
/// invocation waiting for it fails (AWS's init phase limit).
pub const DEFAULT_INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// The most sandboxes a function without a reserved concurrency runs at once.
pub const DEFAULT_MAX_CONCURRENCY: usize = 64;

/// One function: what to run and how.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// Function name (`enrich`); also accepted as `name:qualifier` or a full ARN when invoked.
    pub name: String,
    /// The executable (a `bootstrap`-style binary speaking the Runtime API).
    pub command: PathBuf,
    /// Arguments to the executable.
    pub args: Vec<String>,
    /// The function's own environment variables (they override the standard ones).
    pub env: BTreeMap<String, String>,
    /// The function's timeout (AWS default: 3 s).
    pub timeout: Duration,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` (MB). Not enforced.
    pub memory_mb: u32,
    /// `_HANDLER`.
    pub handler: String,
    /// `LAMBDA_TASK_ROOT` and the process's working directory; defaults to the executable's
    /// directory.
    pub task_root: Option<PathBuf>,
    /// Maximum concurrent invocations (the function's reserved concurrency): beyond it,
    /// `Invoke` fails with `TooManyRequestsException`; `None` = [`DEFAULT_MAX_CONCURRENCY`].
    pub max_concurrency: Option<usize>,
}

impl FunctionSpec {
    /// A function with AWS's defaults: 3 s timeout, 128 MB, handler `bootstrap`.
    pub fn new(name: impl Into<String>, command: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            command: command.into(),
            args: Vec::new(),
            env: BTreeMap::new(),
            timeout: Duration::from_secs(3),
            memory_mb: 128,
            handler: "bootstrap".into(),
            task_root: None,
            max_concurrency: None,
        }
    }

    /// Set the timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Set the reserved concurrency (see [`FunctionSpec::max_concurrency`]).
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = Some(n);
        self
    }

    /// Add an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }
}

/// Where the host pretends to run.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// `AWS_REGION` of every function.
    pub region: String,
    /// Used in function ARNs.
    pub account_id: String,
    /// `aws`.
    pub partition: String,
    /// See [`DEFAULT_INIT_TIMEOUT`].
    pub init_timeout: Duration,
    /// Variables passed through from the host's environment when set (besides `PATH`).
    pub inherit_env: Vec<String>,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            partition: "aws".into(),
            init_timeout: DEFAULT_INIT_TIMEOUT,
            inherit_env: vec!["RUST_LOG".into(), "RUST_BACKTRACE".into()],
        }
    }
}

/// One cold start: from spawning the process to its first `/next` poll.
#[derive(Debug, Clone)]
pub struct ColdStart {
    pub function: String,
    pub sandbox: u64,
    pub duration: Duration,
}

/// The Lambda service, locally. Cheap to clone.
#[derive(Clone)]
pub struct LambdaHost {
    inner: Arc<Inner>,
}

struct Inner {
    config: HostConfig,
    functions: Mutex<HashMap<String, Arc<Function>>>,
    cold_starts: Mutex<Vec<ColdStart>>,
    next_sandbox: AtomicU64,
}

struct Function {
    spec: FunctionSpec,
    arn: String,
    idle: Mutex<Vec<Arc<Sandbox>>>,
    live: AtomicUsize,
    invocations: AtomicU64,
}

/// A running function process and its Runtime API endpoint.
struct Sandbox {
    id: u64,
    function: String,
    handoff: mpsc::Sender<Invocation>,
    next_rx: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    inflight: Mutex<Option<InFlight>>,
    initialized: AtomicBool,
    dead: AtomicBool,
    spawned_at: Instant,
    kill: Mutex<Option<oneshot::Sender<()>>>,
    host: std::sync::Weak<Inner>,
}

struct Invocation {
    request_id: String,
    payload: Vec<u8>,
    deadline_ms: u64,
    function_arn: String,
    trace_id: String,
}

struct InFlight {
    request_id: String,
    picked: Option<oneshot::Sender<()>>,
    outcome: Option<oneshot::Sender<Outcome>>,
}

#[derive(Debug)]
enum Outcome {
    Response(Vec<u8>),
    FunctionError(Vec<u8>),
}

/// Registering a function failed.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("function {name}: executable {path} does not exist")]
    MissingExecutable { name: String, path: PathBuf },
}

impl LambdaHost {
    /// A host with no functions.
    pub fn new(config: HostConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                functions: Mutex::new(HashMap::new()),
                cold_starts: Mutex::new(Vec::new()),
                next_sandbox: AtomicU64::new(1),
            }),
        }
    }

    /// Register (or replace) a function. Its sandboxes start on first invocation.
    pub fn register(&self, spec: FunctionSpec) -> Result<(), HostError> {
        if !spec.command.exists() {
            return Err(HostError::MissingExecutable {
                name: spec.name,
                path: spec.command,
            });
        }
        let c = &self.inner.config;
        let arn = format!(
            "arn:{}:lambda:{}:{}:function:{}",
            c.partition, c.region, c.account_id, spec.name
        );
        let f = Arc::new(Function {
            arn,
            spec,
            idle: Mutex::new(Vec::new()),
            live: AtomicUsize::new(0),
            invocations: AtomicU64::new(0),
        });
        let old = self
            .inner
            .functions
            .lock()
            .unwrap()
            .insert(f.spec.name.clone(), f);
        if let Some(old) = old {
            for sb in old.idle.lock().unwrap().drain(..) {
                sb.kill();
            }
        }
        Ok(())
    }

    /// Every cold start so far (process start → first `/next` poll), for benchmarks.
    pub fn cold_starts(&self) -> Vec<ColdStart> {
        self.inner.cold_starts.lock().unwrap().clone()
    }

    /// How many processes of `function` are running now.
    pub fn live_sandboxes(&self, function: &str) -> usize {
        self.function(function)
            .map(|f| f.live.load(Ordering::SeqCst))
            .unwrap_or(0)
    }

    /// How many invocations `function` has received.
    pub fn invocations(&self, function: &str) -> u64 {
        self.function(function)
            .map(|f| f.invocations.load(Ordering::SeqCst))
            .unwrap_or(0)
    }

    /// Stop every warm sandbox (busy ones finish or time out, then stop with the host).
    pub fn shutdown(&self) {
        let fns: Vec<_> = self
            .inner
            .functions
            .lock()
            .unwrap()
            .values()
            .cloned()
            .collect();
        for f in fns {
            for sb in f.idle.lock().unwrap().drain(..) {
                sb.kill();
            }
        }
    }

    fn function(&self, name: &str) -> Option<Arc<Function>> {
        self.inner.functions.lock().unwrap().get(name).cloned()
    }

    async fn spawn_sandbox(&self, f: &Arc<Function>) -> std::io::Result<Arc<Sandbox>> {
        let id = self.inner.next_sandbox.fetch_add(1, Ordering::SeqCst);
        let (handoff, next_rx) = mpsc::channel(1);
        let (kill_tx, kill_rx) = oneshot::channel();
        let sandbox = Arc::new(Sandbox {
            id,
            function: f.spec.name.clone(),
            handoff,
            next_rx: tokio::sync::Mutex::new(next_rx),
            inflight: Mutex::new(None),
            initialized: AtomicBool::new(false),
            dead: AtomicBool::new(false),
            spawned_at: Instant::now(),
            kill: Mutex::new(Some(kill_tx)),
            host: Arc::downgrade(&self.inner),
        });

        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let server =
            tokio::spawn(axum::serve(listener, runtime_api(sandbox.clone())).into_future());

        let spec = &f.spec;
        let c = &self.inner.config;
        let task_root = spec
            .task_root
            .clone()
            .or_else(|| spec.command.parent().map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("."));
        let mut cmd = tokio::process::Command::new(&spec.command);
        cmd.args(&spec.args).env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
        for k in &c.inherit_env {
            if let Some(v) = std::env::var_os(k) {
                cmd.env(k, v);
            }
        }
        let log_stream = format!(
            "{}/[$LATEST]{:032x}",
            today(),
            uuid::Uuid::new_v4().as_u128()
        );
        cmd.env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &spec.name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                spec.memory_mb.to_string(),
            )
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", spec.name),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", log_stream)
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023")
            .env("AWS_REGION", &c.region)
            .env("AWS_DEFAULT_REGION", &c.region)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("_HANDLER", &spec.handler)
            .env("LAMBDA_TASK_ROOT", &task_root)
            .env("LAMBDA_RUNTIME_DIR", &task_root)
            .env("LANG", "en_US.UTF-8")
            .env("TZ", ":UTC")
            .envs(&spec.env)
            .current_dir(&task_root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                server.abort();
                return Err(e);
            }
        };
        tracing::info!(function = %spec.name, sandbox = id, pid = child.id(), runtime_api = %addr, "sandbox started");

        for (stream, reader) in [
            (
                "stdout",
                child
                    .stdout
                    .take()
                    .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            ),
            (
                "stderr",
                child
                    .stderr
                    .take()
                    .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            ),
        ] {
            let Some(reader) = reader else { continue };
            let function = spec.name.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(reader).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    tracing::info!(target: "cordon_lambda_host::function", function = %function, sandbox = id, stream, "{line}");
                }
            });
        }

        let watched = sandbox.clone();
        let func = f.clone();
        tokio::spawn(async move {
            let status = tokio::select! {
                s = child.wait() => s,
                _ = kill_rx => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            server.abort();
            watched.dead.store(true, Ordering::SeqCst);
            func.live.fetch_sub(1, Ordering::SeqCst);
            func.idle.lock().unwrap().retain(|s| s.id != watched.id);
            let status = match status {
                Ok(s) => exit_description(s),
                Err(e) => format!("wait failed: {e}"),
            };
            tracing::info!(function = %watched.function, sandbox = watched.id, %status, "sandbox exited");
            if let Some(mut inflight) = watched.inflight.lock().unwrap().take()
                && let Some(tx) = inflight.outcome.take()
            {
                let _ = tx.send(Outcome::FunctionError(error_payload(
                    "Runtime.ExitError",
                    &format!(
                        "RequestId: {} Error: Runtime exited with error: {status}",
                        inflight.request_id
                    ),
                )));
            }
        });
        Ok(sandbox)
    }

    /// Take a warm sandbox or start one.
    async fn acquire(&self, f: &Arc<Function>) -> Result<Arc<Sandbox>, LambdaInvokeError> {
        loop {
            let popped = f.idle.lock().unwrap().pop();
            match popped {
                Some(sb) if sb.dead.load(Ordering::SeqCst) => continue,
                Some(sb) => return Ok(sb),
                None => break,
            }
        }
        // Every warm sandbox is busy: take a slot for a new one, atomically, so concurrent
        // invocations never start more sandboxes than the limit between them.
        let limit = f.spec.max_concurrency.unwrap_or(DEFAULT_MAX_CONCURRENCY);
        if f.live
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < limit).then_some(n + 1)
            })
            .is_err()
        {
            return Err(LambdaInvokeError::Service {
                error: "TooManyRequestsException".into(),
                message: format!(
                    "Rate Exceeded. (function {} already runs {limit} concurrent invocations)",
                    f.spec.name
                ),
            });
        }
        self.spawn_sandbox(f).await.map_err(|e| {
            // The slot taken above: no process holds it.
            f.live.fetch_sub(1, Ordering::SeqCst);
            LambdaInvokeError::Service {
                error: "ServiceException".into(),
                message: format!(
                    "could not start function {} ({}): {e}",
                    f.spec.name,
                    f.spec.command.display()
                ),
            }
        })
    }
}

impl Sandbox {
    fn kill(&self) {
        if let Some(tx) = self.kill.lock().unwrap().take() {
            let _ = tx.send(());
        }
    }
}

fn exit_description(s: std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = s.signal() {
            let name = match sig {
                9 => "killed",
                6 => "aborted",
                11 => "segmentation fault",
                15 => "terminated",
                _ => "",
            };
            return if name.is_empty() {
                format!("signal: {sig}")
            } else {
                format!("signal: {name}")
            };
        }
    }
    match s.code() {
        Some(c) => format!("exit status {c}"),
        None => "unknown exit".into(),
    }
}

fn error_payload(error_type: &str, message: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"errorType": error_type, "errorMessage": message})).unwrap()
}

fn today() -> String {
    let days = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        / 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}/{m:02}/{d:02}")
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

/// `name`, `name:qualifier`, `arn:aws:lambda:region:account:function:name[:qualifier]`.
pub fn function_name(reference: &str) -> &str {
    if let Some(rest) = reference.strip_prefix("arn:") {
        // arn:partition:lambda:region:account:function:name[:qualifier]
        let parts: Vec<&str> = rest.splitn(7, ':').collect();
        if parts.len() >= 6 && parts[1] == "lambda" && parts[4] == "function" {
            let name_q = parts[5];
            return name_q.split(':').next().unwrap_or(name_q);
        }
        return reference;
    }
    // account:function:name (partial ARN) or name:qualifier
    let parts: Vec<&str> = reference.split(':').collect();
    match parts.as_slice() {
        [_, "function", name, ..] => name,
        [name, ..] => name,
        [] => reference,
    }
}

#[async_trait]
impl LambdaInvoker for LambdaHost {
    async fn invoke(
        &self,
        function: &str,
        payload: Vec<u8>,
    ) -> Result<LambdaResponse, LambdaInvokeError> {
        let name = function_name(function);
        let f = self
            .function(name)
            .ok_or_else(|| LambdaInvokeError::ResourceNotFound {
                message: format!(
                    "Function not found: arn:{}:lambda:{}:{}:function:{name}",
                    self.inner.config.partition,
                    self.inner.config.region,
                    self.inner.config.account_id
                ),
            })?;
        f.invocations.fetch_add(1, Ordering::SeqCst);
        let sandbox = self.acquire(&f).await?;
        let request_id = uuid::Uuid::new_v4().to_string();
        let started = Instant::now();
        let (picked_tx, mut picked_rx) = oneshot::channel();
        let (outcome_tx, mut outcome_rx) = oneshot::channel();
        *sandbox.inflight.lock().unwrap() = Some(InFlight {
            request_id: request_id.clone(),
            picked: Some(picked_tx),
            outcome: Some(outcome_tx),
        });
        let invocation = Invocation {
            request_id: request_id.clone(),
            payload,
            deadline_ms: 0,
            function_arn: f.arn.clone(),
            trace_id: trace_id(),
        };
        if sandbox.handoff.send(invocation).await.is_err() || sandbox.dead.load(Ordering::SeqCst) {
            // The process died between acquire and hand-off; its watcher may already have
            // answered the in-flight slot.
            if let Ok(o) = outcome_rx.try_recv() {
                return Ok(response(o));
            }
            return Err(LambdaInvokeError::Service {
                error: "ServiceException".into(),
                message: format!("sandbox of {name} stopped before the invocation started"),
            });
        }
        let timeout = f.spec.timeout;
        let timed_out = |sandbox: &Arc<Sandbox>| {
            sandbox.inflight.lock().unwrap().take();
            sandbox.kill();
            tracing::warn!(function = %name, sandbox = sandbox.id, request_id = %request_id, timeout_ms = timeout.as_millis() as u64, "invocation timed out; sandbox killed");
            LambdaResponse {
                payload: error_payload(
                    "Sandbox.Timedout",
                    &format!(
                        "RequestId: {request_id} Error: Task timed out after {:.2} seconds",
                        timeout.as_secs_f64()
                    ),
                ),
                function_error: Some("Unhandled".into()),
                executed_version: "$LATEST".into(),
            }
        };
        // Wait for the runtime to pick the event up (bounded by the init limit on cold starts),
        // then for its answer within the function timeout.
        tokio::select! {
            o = &mut outcome_rx => {
                return match o {
                    Ok(o) => { self.release(&f, sandbox); Ok(response(o)) }
                    Err(_) => Err(lost(name)),
                };
            }
            _ = &mut picked_rx => {}
            _ = tokio::time::sleep(self.inner.config.init_timeout + timeout) => {
                return Ok(timed_out(&sandbox));
            }
        }
        let result = match tokio::time::timeout(timeout, &mut outcome_rx).await {
            Ok(Ok(o)) => Ok(response(o)),
            Ok(Err(_)) => Err(lost(name)),
            Err(_) => return Ok(timed_out(&sandbox)),
        };
        tracing::debug!(function = %name, sandbox = sandbox.id, request_id = %request_id, duration_ms = started.elapsed().as_millis() as u64, "invocation finished");
        self.release(&f, sandbox);
        result
    }
}

impl LambdaHost {
    fn release(&self, f: &Arc<Function>, sandbox: Arc<Sandbox>) {
        if !sandbox.dead.load(Ordering::SeqCst) {
            f.idle.lock().unwrap().push(sandbox);
        }
    }
}

fn lost(name: &str) -> LambdaInvokeError {
    LambdaInvokeError::Service {
        error: "ServiceException".into(),
        message: format!("the sandbox of {name} dropped the invocation"),
    }
}

fn response(o: Outcome) -> LambdaResponse {
    let (payload, function_error) = match o {
        Outcome::Response(p) => (p, None),
        Outcome::FunctionError(p) => (p, Some("Unhandled".to_string())),
    };
    LambdaResponse {
        payload,
        function_error,
        executed_version: "$LATEST".into(),
    }
}

fn trace_id() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let r = uuid::Uuid::new_v4().as_u128();
    format!(
        "Root=1-{secs:08x}-{:024x};Parent={:016x};Sampled=0",
        r >> 32,
        (r as u64)
    )
}

// ---------------------------------------------------------------------------------------------
// The Runtime API, one router per sandbox.

fn runtime_api(sandbox: Arc<Sandbox>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(respond),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/error",
            post(invocation_error),
        )
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(sandbox)
}

async fn next(State(sb): State<Arc<Sandbox>>) -> Response {
    if !sb.initialized.swap(true, Ordering::SeqCst) {
        let duration = sb.spawned_at.elapsed();
        tracing::info!(function = %sb.function, sandbox = sb.id, init_ms = duration.as_secs_f64() * 1000.0, "sandbox initialized (cold start)");
        if let Some(host) = sb.host.upgrade() {
            host.cold_starts.lock().unwrap().push(ColdStart {
                function: sb.function.clone(),
                sandbox: sb.id,
                duration,
            });
        }
    }
    let mut rx = sb.next_rx.lock().await;
    let Some(mut inv) = rx.recv().await else {
        return (StatusCode::GONE, "sandbox shutting down").into_response();
    };
    drop(rx);
    let timeout = {
        let mut slot = sb.inflight.lock().unwrap();
        match slot.as_mut() {
            Some(f) if f.request_id == inv.request_id => {
                if let Some(p) = f.picked.take() {
                    let _ = p.send(());
                }
            }
            _ => {}
        }
        sb.host
            .upgrade()
            .and_then(|h| {
                h.functions
                    .lock()
                    .unwrap()
                    .get(&sb.function)
                    .map(|f| f.spec.timeout)
            })
            .unwrap_or(Duration::from_secs(3))
    };
    inv.deadline_ms = epoch_ms() + timeout.as_millis() as u64;
    let mut headers = HeaderMap::new();
    let mut put = |k: &'static str, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            headers.insert(k, v);
        }
    };
    put("lambda-runtime-aws-request-id", &inv.request_id);
    put("lambda-runtime-deadline-ms", &inv.deadline_ms.to_string());
    put("lambda-runtime-invoked-function-arn", &inv.function_arn);
    put("lambda-runtime-trace-id", &inv.trace_id);
    put("content-type", "application/json");
    (StatusCode::OK, headers, inv.payload).into_response()
}

fn complete(sb: &Sandbox, id: &str, outcome: Outcome) -> Response {
    let mut slot = sb.inflight.lock().unwrap();
    match slot.as_ref() {
        Some(f) if f.request_id == id => {
            let mut f = slot.take().unwrap();
            if let Some(tx) = f.outcome.take() {
                let _ = tx.send(outcome);
            }
            (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
        }
        _ => {
            tracing::warn!(function = %sb.function, sandbox = sb.id, request_id = %id, "runtime answered an unknown or expired request id");
            (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"errorType": "InvalidRequestID", "errorMessage": format!("unknown or expired request id {id}")})),
            )
                .into_response()
        }
    }
}

async fn respond(
    State(sb): State<Arc<Sandbox>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> Response {
    complete(&sb, &id, Outcome::Response(body.to_vec()))
}

/// The error body the runtime posted, normalised to `{"errorType", "errorMessage", ...}`.
fn posted_error(headers: &HeaderMap, body: &[u8], default_type: &str) -> Vec<u8> {
    let header_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty());
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(mut m)) => {
            if !m.get("errorType").is_some_and(Value::is_string) {
                m.insert(
                    "errorType".into(),
                    json!(header_type.unwrap_or(default_type)),
                );
            }
            serde_json::to_vec(&Value::Object(m)).unwrap()
        }
        _ => error_payload(
            header_type.unwrap_or(default_type),
            &String::from_utf8_lossy(body),
        ),
    }
}

async fn invocation_error(
    State(sb): State<Arc<Sandbox>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let payload = posted_error(&headers, &body, "Runtime.Unknown");
    complete(&sb, &id, Outcome::FunctionError(payload))
}

async fn init_error(State(sb): State<Arc<Sandbox>>, headers: HeaderMap, body: Bytes) -> Response {
    let payload = posted_error(&headers, &body, "Runtime.InitError");
    tracing::warn!(function = %sb.function, sandbox = sb.id, error = %String::from_utf8_lossy(&payload), "function init failed");
    sb.initialized.store(true, Ordering::SeqCst);
    if let Some(mut f) = sb.inflight.lock().unwrap().take()
        && let Some(tx) = f.outcome.take()
    {
        let _ = tx.send(Outcome::FunctionError(payload));
    }
    // AWS discards an environment whose init failed.
    sb.kill();
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names() {
        assert_eq!(function_name("enrich"), "enrich");
        assert_eq!(function_name("enrich:$LATEST"), "enrich");
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:123456789012:function:enrich"),
            "enrich"
        );
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:123456789012:function:enrich:live"),
            "enrich"
        );
        assert_eq!(function_name("123456789012:function:enrich"), "enrich");
    }

    #[test]
    fn posted_errors_keep_their_type() {
        let h = HeaderMap::new();
        let p: Value = serde_json::from_slice(&posted_error(
            &h,
            br#"{"errorType":"X","errorMessage":"m"}"#,
            "D",
        ))
        .unwrap();
        assert_eq!(p, json!({"errorType":"X","errorMessage":"m"}));
        let p: Value = serde_json::from_slice(&posted_error(&h, b"oops", "D")).unwrap();
        assert_eq!(p, json!({"errorType":"D","errorMessage":"oops"}));
    }
}
