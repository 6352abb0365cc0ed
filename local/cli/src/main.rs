//! `cordon`: the command a security engineer runs. Each subcommand lives in its own module.

use clap::{Parser, Subcommand};

mod conformance;
mod serve;

#[derive(Parser)]
#[command(name = "cordon", version, about = "Automated incident response for identity threats on AWS")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the ASL conformance corpus (behaviour recorded against real AWS Step Functions)
    /// against the local engine and report strict/shape pass counts.
    Conformance(conformance::Args),
    /// Run the local Step Functions engine and its API server in the foreground.
    Serve(serve::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Conformance(args) => conformance::run(args),
        Command::Serve(args) => serve::run(args),
    }
}
