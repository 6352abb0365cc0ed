//! `cordon serve`: the local engine with its durable store and Step Functions API server.
//!
//! ```text
//! cordon serve --port 8083 --store .cordon/engine.redb \
//!     --state-machine incident-response=statemachine/incident-response.asl.json \
//!     --function enrich=target/debug/enrich
//! ```
//!
//! Runs in the foreground until Ctrl-C / SIGTERM; prints `endpoint: http://127.0.0.1:PORT`
//! on stdout once the API answers. With `--store`, everything survives a restart (even a
//! SIGKILL): unfinished executions resume where their history stops.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cordon_engine::{Engine, EngineConfig, LambdaInvoker, MemoryStore, Store};
use cordon_lambda_host::{FunctionSpec, HostConfig, LambdaHost};
use serde_json::json;

#[derive(clap::Args)]
pub struct Args {
    /// Loopback port of the Step Functions API (0 = any free port).
    #[arg(long, default_value_t = 8083)]
    port: u16,
    /// Durable store (a redb file, created if missing). Without it, state lives in memory.
    #[arg(long)]
    store: Option<PathBuf>,
    /// Create (or keep) a state machine: NAME=FILE.asl.json. Repeatable.
    #[arg(long = "state-machine", value_name = "NAME=FILE")]
    state_machines: Vec<String>,
    /// Serve a Lambda function binary through the Runtime API host:
    /// NAME=EXECUTABLE[,timeout=SECONDS][,memory=MB]. Repeatable.
    #[arg(long = "function", value_name = "NAME=EXECUTABLE")]
    functions: Vec<String>,
    /// An environment variable for every function: KEY=VALUE. Repeatable.
    #[arg(long = "function-env", value_name = "KEY=VALUE")]
    function_env: Vec<String>,
    /// IAM role ARN recorded for state machines created from --state-machine.
    #[arg(long, default_value = "arn:aws:iam::123456789012:role/cordon-local")]
    role_arn: String,
    #[arg(long, default_value = "us-east-1")]
    region: String,
    #[arg(long, default_value = "123456789012")]
    account_id: String,
}

fn split_pair<'a>(s: &'a str, what: &str) -> Result<(&'a str, &'a str), String> {
    s.split_once('=')
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        .ok_or_else(|| format!("{what} must look like NAME=VALUE, got {s:?}"))
}

fn function_spec(arg: &str, env: &BTreeMap<String, String>) -> Result<FunctionSpec, String> {
    let (name, rest) = split_pair(arg, "--function")?;
    let mut parts = rest.split(',');
    let exe = parts.next().unwrap_or_default();
    let exe = std::fs::canonicalize(exe)
        .map_err(|e| format!("--function {name}: executable {exe}: {e}"))?;
    let mut spec = FunctionSpec::new(name, exe);
    spec.env = env.clone();
    for opt in parts {
        let (k, v) = split_pair(opt, "a --function option")?;
        match k {
            "timeout" => {
                let secs: f64 = v
                    .parse()
                    .map_err(|_| format!("--function {name}: timeout {v:?} is not a number"))?;
                spec.timeout = Duration::from_secs_f64(secs);
            }
            "memory" => {
                spec.memory_mb = v
                    .parse()
                    .map_err(|_| format!("--function {name}: memory {v:?} is not a number"))?;
            }
            other => {
                return Err(format!(
                    "--function {name}: unknown option {other:?} (timeout, memory)"
                ));
            }
        }
    }
    Ok(spec)
}

pub fn run(args: Args) -> std::process::ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cordon serve: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(serve(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cordon serve: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args) -> Result<(), String> {
    let store: Arc<dyn Store> = match &args.store {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            }
            Arc::new(cordon_store::RedbStore::open(path).map_err(|e| e.to_string())?)
        }
        None => Arc::new(MemoryStore::new()),
    };

    let mut env = BTreeMap::new();
    for kv in &args.function_env {
        let (k, v) = split_pair(kv, "--function-env")?;
        env.insert(k.to_string(), v.to_string());
    }
    let host = LambdaHost::new(HostConfig {
        region: args.region.clone(),
        account_id: args.account_id.clone(),
        ..HostConfig::default()
    });
    for f in &args.functions {
        let spec = function_spec(f, &env)?;
        tracing::info!(function = %spec.name, executable = %spec.command.display(), timeout_s = spec.timeout.as_secs_f64(), "function registered");
        host.register(spec).map_err(|e| e.to_string())?;
    }
    let lambda: Option<Arc<dyn LambdaInvoker>> = if args.functions.is_empty() {
        None
    } else {
        Some(Arc::new(host.clone()))
    };

    let started = std::time::Instant::now();
    let engine = Engine::start(EngineConfig {
        account_id: args.account_id.clone(),
        region: args.region.clone(),
        store,
        lambda,
        ..EngineConfig::default()
    })
    .await
    .map_err(|e| format!("engine did not start: {e}"))?;
    tracing::info!(
        startup_ms = started.elapsed().as_millis() as u64,
        "engine started"
    );

    for sm in &args.state_machines {
        let (name, file) = split_pair(sm, "--state-machine")?;
        let definition = std::fs::read_to_string(file)
            .map_err(|e| format!("--state-machine {name}: cannot read {file}: {e}"))?;
        let req = json!({"name": name, "definition": definition, "roleArn": args.role_arn});
        match engine.call("CreateStateMachine", req).await {
            Ok(out) => tracing::info!(arn = %out["stateMachineArn"], "state machine ready"),
            Err(e) if e.code == "StateMachineAlreadyExists" => {
                // Kept from the store with another definition: say so, do not silently replace.
                tracing::warn!(name, message = %e.message, "state machine exists with a different definition; keeping the stored one");
            }
            Err(e) => return Err(format!("--state-machine {name} ({file}): {e}")),
        }
    }

    let addr = SocketAddr::from(([127, 0, 0, 1], args.port));
    let server = cordon_sfn_server::Server::start(engine.clone(), addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    println!("endpoint: {}", server.endpoint());
    use std::io::Write;
    let _ = std::io::stdout().flush();

    wait_for_signal().await;
    tracing::info!("shutting down");
    drop(server);
    engine.shutdown().await;
    host.shutdown();
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
