//! The `preau` command line. Each subcommand group lives in its own module.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "preau", version, about = "Préau: the offline classroom box and its content packs")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the classroom server.
    Serve,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve => {
            eprintln!("preau serve: the classroom server is not built yet");
            ExitCode::from(2)
        }
    }
}
