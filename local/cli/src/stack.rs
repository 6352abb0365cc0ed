//! `cordon up` / `cordon down`: the offline stack in the background.
//!
//! `cordon up` starts a detached `cordon up --foreground` (its own process group, output to
//! `.cordon/stack.log`), which runs the stack, writes `.cordon/stack.json` once everything
//! answers, and stops everything on SIGTERM/SIGINT (`cordon down`), removing the file.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use cordon_stack::{STACK_DIR, STACK_FILE, Stack, StackFile, StackOptions};

use crate::audit::style::Style;
use crate::target::process_alive;

#[derive(clap::Args)]
pub struct UpArgs {
    /// Print the endpoints as JSON.
    #[arg(long)]
    pub json: bool,
    /// The response policy file (default: infra/policy.example.json).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Where the function binaries are (default: beside this executable).
    #[arg(long, value_name = "DIR")]
    pub bin_dir: Option<PathBuf>,
    /// Run the stack in this process (what `cordon up` starts in the background).
    #[arg(long, hide = true)]
    pub foreground: bool,
}

#[derive(clap::Args)]
pub struct DownArgs {}

/// `.cordon` in the current directory (where `up` puts it).
fn stack_dir() -> PathBuf {
    std::env::current_dir().unwrap_or_default().join(STACK_DIR)
}

fn existing() -> Option<(PathBuf, StackFile)> {
    let cwd = std::env::current_dir().ok()?;
    let path = StackFile::locate(&cwd)?;
    let file = StackFile::read(&path).ok()?;
    Some((path, file))
}

pub fn up(args: UpArgs) -> ExitCode {
    if args.foreground {
        return foreground(args);
    }
    if let Some((path, file)) = existing() {
        if process_alive(file.pid) {
            eprintln!(
                "the offline stack is already up (process {}, {})",
                file.pid,
                path.display()
            );
            print_endpoints(&file, args.json);
            return ExitCode::SUCCESS;
        }
        let _ = std::fs::remove_file(&path);
    }
    let dir = stack_dir();
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    let log_path = dir.join("stack.log");
    let log = match std::fs::File::create(&log_path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("cannot create {}: {e}", log_path.display());
            return ExitCode::FAILURE;
        }
    };
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("cordon"));
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("up").arg("--foreground");
    if let Some(p) = &args.policy {
        cmd.arg("--policy").arg(absolute(p));
    }
    if let Some(d) = &args.bin_dir {
        cmd.arg("--bin-dir").arg(absolute(d));
    }
    cmd.env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .stdout(log.try_clone().map(Stdio::from).unwrap_or(Stdio::null()))
        .stderr(Stdio::from(log))
        // Its own process group: Ctrl-C in this terminal does not stop the stack.
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot start the stack process: {e}");
            return ExitCode::FAILURE;
        }
    };
    let st = Style::for_stderr();
    eprintln!(
        "{}",
        st.dim("starting the offline stack (moto, engine, functions)...")
    );
    let file_path = dir.join(STACK_FILE);
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            eprintln!("the stack process exited ({status}) before it was ready:");
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            for line in log
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
            {
                eprintln!("  {line}");
            }
            return ExitCode::FAILURE;
        }
        if let Ok(file) = StackFile::read(&file_path)
            && file.pid == child.id()
        {
            print_endpoints(&file, args.json);
            return ExitCode::SUCCESS;
        }
        if start.elapsed() > Duration::from_secs(120) {
            eprintln!(
                "the stack did not come up within 120 s; see {}",
                log_path.display()
            );
            let _ = std::process::Command::new("kill")
                .arg(child.id().to_string())
                .status();
            return ExitCode::FAILURE;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    }
}

fn print_endpoints(file: &StackFile, json: bool) {
    if json {
        let v = serde_json::json!({
            "stepfunctions": file.endpoints.stepfunctions,
            "aws": file.endpoints.aws,
            "approve": file.endpoints.approve,
            "region": file.region,
            "stateMachineArn": file.state_machine_arn,
            "alertsQueueUrl": file.alerts_queue_url,
            "approvalsQueueUrl": file.approvals_queue_url,
            "alertsTopicArn": file.alerts_topic_arn,
            "approvalsTopicArn": file.approvals_topic_arn,
            "quarantinePolicyArn": file.quarantine_policy_arn,
            "localApproverArn": file.local_approver_arn,
            "pid": file.pid,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return;
    }
    let st = Style::for_stdout();
    println!("{}", st.bold("cordon offline stack is up"));
    println!("  Step Functions  {}", file.endpoints.stepfunctions);
    println!("  AWS (moto)      {}", file.endpoints.aws);
    println!("  approve URL     {}", file.endpoints.approve);
    println!("  state machine   {}", file.state_machine_arn);
    println!("  alerts queue    {}", file.alerts_queue_url);
    println!("  approvals queue {}", file.approvals_queue_url);
    println!();
    println!("{}", st.dim("# for the AWS CLI and SDKs:"));
    for (k, v) in env_exports(file) {
        println!("export {k}={v}");
    }
    println!();
    println!(
        "{}",
        st.dim("then: cordon simulate create-user   |   cordon pending   |   cordon down")
    );
}

/// The environment that points the AWS CLI and SDKs at the offline stack.
pub fn env_exports(file: &StackFile) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", file.endpoints.aws.clone()),
        ("AWS_ENDPOINT_URL_SFN", file.endpoints.stepfunctions.clone()),
        ("AWS_REGION", file.region.clone()),
        ("AWS_ACCESS_KEY_ID", file.access_key_id.clone()),
        ("AWS_SECRET_ACCESS_KEY", file.secret_access_key.clone()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
}

/// The stack in this process until SIGTERM or SIGINT.
fn foreground(args: UpArgs) -> ExitCode {
    crate::inject::init_logs();
    let dir = stack_dir();
    let state = dir.join("state");
    // moto is in memory: the engine's state starts fresh with it, so no execution refers to
    // users of a previous account.
    let _ = std::fs::remove_dir_all(&state);
    let options = StackOptions {
        state_dir: Some(state),
        policy_file: args.policy,
        bin_dir: args.bin_dir,
        ..StackOptions::default()
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let stack = match Stack::start(options).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("cordon up: {e}");
                return ExitCode::FAILURE;
            }
        };
        let path = dir.join(STACK_FILE);
        if let Err(e) = stack.info().write(&path) {
            eprintln!("cannot write {}: {e}", path.display());
            stack.stop().await;
            return ExitCode::FAILURE;
        }
        eprintln!("stack ready: {}", path.display());
        let _ = std::io::stderr().flush();
        wait_for_stop_signal().await;
        eprintln!("stopping the offline stack");
        // Only remove the file if it is still ours.
        if StackFile::read(&path)
            .map(|f| f.pid == std::process::id())
            .unwrap_or(false)
        {
            let _ = std::fs::remove_file(&path);
        }
        stack.stop().await;
        ExitCode::SUCCESS
    })
}

/// SIGINT (Ctrl-C) or SIGTERM.
pub async fn wait_for_stop_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

pub fn down(_args: DownArgs) -> ExitCode {
    let Some((path, file)) = existing() else {
        println!("the offline stack is already down");
        return ExitCode::SUCCESS;
    };
    if !process_alive(file.pid) {
        let _ = std::fs::remove_file(&path);
        println!(
            "the offline stack was not running (process {} is gone); removed {}",
            file.pid,
            path.display()
        );
        return ExitCode::SUCCESS;
    }
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &file.pid.to_string()])
        .status();
    let start = Instant::now();
    while process_alive(file.pid) && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
    }
    if process_alive(file.pid) {
        eprintln!("the stack process {} did not stop within 20 s", file.pid);
        return ExitCode::FAILURE;
    }
    let _ = std::fs::remove_file(&path);
    println!("the offline stack is down");
    ExitCode::SUCCESS
}
