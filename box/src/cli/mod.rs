//! The `preau` command line. Each subcommand group lives in its own module.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod serve;

#[derive(Parser)]
#[command(name = "preau", version, about = "Préau: the offline classroom box and its content packs")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the classroom server.
    Serve(serve::ServeArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => match serve::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("preau serve: {e:#}");
                ExitCode::from(1)
            }
        },
    }
}
