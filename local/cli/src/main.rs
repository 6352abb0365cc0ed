//! `cordon`: the command a security engineer runs. Each subcommand lives in its own module;
//! `target` says how to reach the stack (the offline one started by `cordon up`, or a deployed
//! one with `--aws`).

use clap::{Parser, Subcommand};

/// The engine (`cordon serve`, `up`, `demo`) allocates many small, short-lived objects across
/// threads; mimalloc does that markedly faster than the system allocator (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod approvals;
mod audit;
mod conformance;
mod demo;
mod inject;
mod release;
mod replay;
mod serve;
mod stack;
mod target;
mod validate;

#[derive(Parser)]
#[command(
    name = "cordon",
    version,
    about = "Automated incident response for identity threats on AWS"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole flow offline: an attack simulation, detection, approval and containment.
    Demo(demo::Args),
    /// Start the offline stack in the background and print its endpoints.
    Up(stack::UpArgs),
    /// Stop the offline stack started by `cordon up`.
    Down(stack::DownArgs),
    /// Inject an EventBridge event (a JSON file) as if AWS had delivered it.
    Send(inject::SendArgs),
    /// Make something suspicious happen in the (simulated) account and let cordon respond.
    Simulate(inject::SimulateArgs),
    /// List incidents waiting for a human decision.
    Pending(approvals::PendingArgs),
    /// Approve the quarantine of a pending incident.
    Approve(approvals::DecideArgs),
    /// Reject the quarantine of a pending incident.
    Reject(approvals::DecideArgs),
    /// Recent incidents with verdict, subject, status and approver.
    Incidents(audit::IncidentsArgs),
    /// What happened during one incident and why: for auditors.
    History(audit::HistoryArgs),
    /// Undo exactly what a quarantine did to a user, as its record says.
    Release(release::Args),
    /// Classify an event and list the exact API calls the response would make, changing nothing.
    Replay(replay::Args),
    /// Check the template, the state machine definition and a policy file.
    Validate(validate::Args),
    /// Run the ASL conformance corpus (behaviour recorded against real AWS Step Functions)
    /// against the local engine and report strict/shape pass counts.
    Conformance(conformance::Args),
    /// Run the local Step Functions engine and its API server in the foreground.
    Serve(serve::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Up(args) => stack::up(args),
        Command::Down(args) => stack::down(args),
        Command::Send(args) => inject::send(args),
        Command::Simulate(args) => inject::simulate(args),
        Command::Pending(args) => approvals::pending(args),
        Command::Approve(args) => approvals::decide(args, approvals::Verdict::Approve),
        Command::Reject(args) => approvals::decide(args, approvals::Verdict::Reject),
        Command::Incidents(args) => audit::incidents(args),
        Command::History(args) => audit::history(args),
        Command::Release(args) => release::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Conformance(args) => conformance::run(args),
        Command::Serve(args) => serve::run(args),
    }
}
