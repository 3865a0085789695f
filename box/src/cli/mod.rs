//! The `preau` command line. Each subcommand group lives in its own module.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod offline;
pub mod pack;
pub mod progress;
#[cfg(feature = "serve")]
pub mod search;
#[cfg(feature = "serve")]
pub mod serve;
pub mod source;
pub mod sync;
#[cfg(feature = "serve")]
pub mod upstream;

#[derive(Parser)]
#[command(name = "preau", version, about = "Préau: the offline classroom box and its content packs")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the classroom server.
    #[cfg(feature = "serve")]
    Serve(serve::ServeArgs),
    /// Make an ed25519 signing key (the public key goes to FILE.pub).
    Keygen(pack::KeygenArgs),
    /// Build, list, verify and extract content packs in a static repository.
    #[command(subcommand)]
    Pack(pack::PackCommand),
    /// Pull packs from a repository, a peer box or a USB folder; export for USB sticks.
    #[command(subcommand)]
    Sync(sync::SyncCommand),
    /// Bring the search index in step with the installed packs; run a query.
    #[cfg(feature = "serve")]
    Search(search::SearchArgs),
    /// Send pupils' activity (the xAPI outbox) to the learning record store.
    #[command(subcommand)]
    #[cfg(feature = "serve")]
    Upstream(upstream::UpstreamCommand),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        #[cfg(feature = "serve")]
        Command::Serve(a) => serve::run(a),
        Command::Keygen(a) => pack::keygen(a),
        Command::Pack(c) => pack::run(c),
        Command::Sync(c) => sync::run(c),
        #[cfg(feature = "serve")]
        Command::Search(a) => search::run(a),
        #[cfg(feature = "serve")]
        Command::Upstream(c) => upstream::run(c),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
