//! `cordon replay`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> std::process::ExitCode {
    not_yet("replay")
}

fn not_yet(what: &str) -> std::process::ExitCode {
    eprintln!("cordon {what}: not implemented yet");
    std::process::ExitCode::FAILURE
}
