//! `cordon pending` / `approve` / `reject`: human decisions on pending incidents.
#[derive(clap::Args)]
pub struct PendingArgs {}

#[derive(clap::Args)]
pub struct DecideArgs {}

pub enum Verdict {
    Approve,
    Reject,
}

pub fn pending(_args: PendingArgs) -> std::process::ExitCode {
    not_yet("pending")
}

pub fn decide(_args: DecideArgs, _verdict: Verdict) -> std::process::ExitCode {
    not_yet("approve/reject")
}

fn not_yet(what: &str) -> std::process::ExitCode {
    eprintln!("cordon {what}: not implemented yet");
    std::process::ExitCode::FAILURE
}
