//! `cordon send` / `cordon simulate`: inject events.
#[derive(clap::Args)]
pub struct SendArgs {}

#[derive(clap::Args)]
pub struct SimulateArgs {}

pub fn send(_args: SendArgs) -> std::process::ExitCode {
    not_yet("send")
}

pub fn simulate(_args: SimulateArgs) -> std::process::ExitCode {
    not_yet("simulate")
}

fn not_yet(what: &str) -> std::process::ExitCode {
    eprintln!("cordon {what}: not implemented yet");
    std::process::ExitCode::FAILURE
}
