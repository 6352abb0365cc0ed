//! `cordon up` / `cordon down`: the offline stack in the background.
#[derive(clap::Args)]
pub struct UpArgs {}

#[derive(clap::Args)]
pub struct DownArgs {}

pub fn up(_args: UpArgs) -> std::process::ExitCode {
    not_yet("up")
}

pub fn down(_args: DownArgs) -> std::process::ExitCode {
    not_yet("down")
}

fn not_yet(what: &str) -> std::process::ExitCode {
    eprintln!("cordon {what}: not implemented yet");
    std::process::ExitCode::FAILURE
}
