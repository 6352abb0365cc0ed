//! `cordon demo`: the whole flow offline, shown as it happens, and checked in the simulated
//! account afterwards. Exit 0 only if every step really happened in moto.
//!
//! (a) an IAM user creates a suspicious user through the IAM API; the CloudTrail event built
//!     from that call is routed; the execution is followed state by state; the verdict, the
//!     containment actions and the alert (read back from the alerts queue) are shown;
//! (b) a GuardDuty credential-exfiltration finding asks for approval; the approval request is
//!     read from the approvals queue; a listed approver approves through the local function
//!     URL; the execution completes;
//! (c) organization mode: the same attack in a member account is forwarded to the central
//!     bus and contained in that account through its `cordon-responder` role, while a user of
//!     the same name in the security account stays untouched.
//!
//! `scenes`: the three scenes, what each does and says; `story`: how one execution is told
//! (the event delivered, its states as they happen, the approval, the verdict, the containment,
//! the alert); `checks`: what each scene verifies in moto afterwards, through
//! [`cordon_stack::account`] (the same reads and checks the end-to-end tests use), said as
//! the lines of "missing"; `plumbing`: the runtime, the stack, queues and HTTP, text.

mod checks;
mod plumbing;
mod scenes;
mod story;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use cordon_stack::{Stack, StackFile, StackOptions};

use crate::audit::style::Style;

#[derive(clap::Args)]
pub struct Args {
    /// The response policy file (default: infra/policy.example.json).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Where the function binaries are (default: beside this executable).
    #[arg(long, value_name = "DIR")]
    pub bin_dir: Option<PathBuf>,
    /// The suspicious user the attacker creates.
    #[arg(long, default_value = "service-x7k2qa")]
    pub user: String,
}

/// What a scene found missing: one line each, said at the end.
type Missing = Vec<String>;

pub fn run(args: Args) -> ExitCode {
    plumbing::quiet_logs();
    let rt = match crate::inject::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cordon demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let st = Style::for_stdout();
        let t = Instant::now();
        println!("{}", st.bold("cordon demo: automated incident response for identity threats, offline"));
        println!("{}", st.dim("starting moto_server (with an offline organization), the local Step Functions engine and the six function binaries..."));
        let options = StackOptions {
            policy_file: args.policy.clone(),
            bin_dir: args.bin_dir.clone(),
            // Scene (c) needs the offline organization; (a) and (b) happen in the security
            // account, where the stack runs.
            organization: true,
            ..StackOptions::default()
        };
        let stack = match Stack::start(options).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("cordon demo: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!(
            "stack ready in {:.1} s  (Step Functions {}, AWS {}, approve URL {})",
            t.elapsed().as_secs_f64(),
            stack.endpoints().stepfunctions,
            stack.endpoints().aws,
            stack.endpoints().approve
        );
        println!(
            "policy: {}",
            args.policy.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "infra/policy.example.json".into())
        );
        let demo = Demo { stack: &stack, st };
        let outcome = tokio::select! {
            r = demo.run(&args) => r,
            _ = crate::stack::wait_for_stop_signal() => Err(vec!["interrupted".to_string()]),
        };
        stack.stop().await;
        match outcome {
            Ok(()) => {
                println!("\n{}", st.green(&st.bold("every step happened in the simulated account: demo passed")));
                ExitCode::SUCCESS
            }
            Err(missing) => {
                println!("\n{}", st.red(&st.bold("demo failed; missing:")));
                for m in missing {
                    println!("  - {m}");
                }
                ExitCode::FAILURE
            }
        }
    })
}

/// The running stack and how to print.
struct Demo<'a> {
    stack: &'a Stack,
    st: Style,
}

impl Demo<'_> {
    fn file(&self) -> &StackFile {
        self.stack.info()
    }

    /// Every scene, even after one failed; everything missing from any of them.
    async fn run(&self, args: &Args) -> Result<(), Missing> {
        let mut missing = Vec::new();
        if let Err(m) = self.scene_a(&args.user).await {
            missing.extend(m);
        }
        if let Err(m) = self.scene_b().await {
            missing.extend(m);
        }
        if let Err(m) = self.scene_c().await {
            missing.extend(m);
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(missing)
        }
    }
}
