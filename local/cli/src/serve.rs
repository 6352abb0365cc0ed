//! `cordon serve`: the local engine with its durable store and Step Functions API server.

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> std::process::ExitCode {
    eprintln!("cordon serve: not implemented yet");
    std::process::ExitCode::FAILURE
}
