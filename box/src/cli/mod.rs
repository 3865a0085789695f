//! The `preau` command line. Each subcommand group lives in its own module.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod mirror;
pub mod offline;
pub mod pack;
pub mod progress;
#[cfg(feature = "serve")]
pub mod records;
#[cfg(feature = "serve")]
pub mod search;
#[cfg(feature = "serve")]
pub mod serve;
pub mod source;
pub mod sync;
pub mod system;
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
    /// Follow Forge git repositories, Éléa backup folders and ZIM files; rebuild and publish
    /// what changed (one run; exit 0: all fine, 1: some source failed, 2: bad configuration).
    Mirror(mirror::MirrorArgs),
    /// Pull packs from a repository, a peer box or a USB folder; export for USB sticks.
    #[command(subcommand)]
    Sync(sync::SyncCommand),
    /// Bring the search index in step with the installed packs; run a query.
    #[cfg(feature = "serve")]
    Search(search::SearchArgs),
    /// Export or import the learner records (one file, for the same school's box after a reflash).
    #[command(subcommand)]
    #[cfg(feature = "serve")]
    Records(records::RecordsCommand),
    /// Software updates: publish a release, run the box under the update supervisor.
    #[command(subcommand)]
    System(system::SystemCommand),
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
        // Its own exit codes: a run where one source failed is not a bad configuration.
        Command::Mirror(a) => return mirror::run(a),
        Command::Sync(c) => sync::run(c),
        Command::System(c) => system::run(c),
        #[cfg(feature = "serve")]
        Command::Records(c) => records::run(c),
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

/// Logs to stderr (journald on an image), filtered by `PREAU_LOG` (default `info`); no
/// ANSI colour codes unless stderr is a terminal.
pub fn init_logs() {
    #[cfg(feature = "serve")]
    {
        use std::io::IsTerminal;
        let filter = tracing_subscriber::EnvFilter::try_from_env("PREAU_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .try_init();
    }
}
