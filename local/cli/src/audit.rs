//! `cordon incidents` / `cordon history`: for auditors.
#[derive(clap::Args)]
pub struct IncidentsArgs {}

#[derive(clap::Args)]
pub struct HistoryArgs {}

pub fn incidents(_args: IncidentsArgs) -> std::process::ExitCode {
    not_yet("incidents")
}

pub fn history(_args: HistoryArgs) -> std::process::ExitCode {
    not_yet("history")
}

fn not_yet(what: &str) -> std::process::ExitCode {
    eprintln!("cordon {what}: not implemented yet");
    std::process::ExitCode::FAILURE
}
