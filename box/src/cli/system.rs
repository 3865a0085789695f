//! `preau system …`: software updates (`crate::system`): publish a release as a system
//! pack, run the box under the update supervisor, show what a box runs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Subcommand;
use preau_pack::sign::SecretKey;

use crate::system::{publish, slots::Slots, supervise};

#[derive(Subcommand)]
pub enum SystemCommand {
    /// Publish box binaries as the system pack of a repository, signed with its key.
    Publish(PublishArgs),
    /// Run `preau serve` under the update supervisor (what systemd runs on an image).
    Supervise(SuperviseArgs),
    /// Show which release a box runs, the update in trial and the refused ones.
    Status {
        #[arg(long)]
        data: PathBuf,
    },
}

#[derive(clap::Args)]
pub struct PublishArgs {
    /// The static repository (created if needed).
    #[arg(long, value_name = "DIR")]
    repo: PathBuf,
    /// The national signing key (`preau keygen`): it signs the catalog and release.json.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Release serial: a box installs a serial above the one it runs.
    #[arg(long)]
    serial: u64,
    /// Version label for people.
    #[arg(long)]
    version: String,
    /// A `preau` binary: ARCH=FILE (x86_64, aarch64), once per architecture.
    #[arg(long = "bin", value_name = "ARCH=FILE", required = true)]
    bins: Vec<String>,
    /// A `preau-image` binary: ARCH=FILE.
    #[arg(long = "image-tool", value_name = "ARCH=FILE")]
    image_tools: Vec<String>,
    /// zstd level of new objects.
    #[arg(long, default_value_t = 19, value_parser = clap::value_parser!(i32).range(1..=22))]
    level: i32,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct SuperviseArgs {
    /// The box's data folder (as for `preau serve`).
    #[arg(long)]
    data: Option<PathBuf>,
    /// The `preau.toml` config file (as for `preau serve`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address and port (as for `preau serve`).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Seconds a new binary has to answer /healthz after it starts, else the box goes back.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
    health_timeout: u64,
}

pub fn run(c: SystemCommand) -> Result<()> {
    match c {
        SystemCommand::Publish(a) => {
            let key = SecretKey::read_file(&a.key).with_context(|| format!("reading key {}", a.key.display()))?;
            let mut programs = Vec::new();
            for b in &a.bins {
                programs.push(publish::parse_program("preau", b)?);
            }
            for b in &a.image_tools {
                programs.push(publish::parse_program("preau-image", b)?);
            }
            let s = publish::publish(&a.repo, &key, a.serial, &a.version, &programs, a.level)?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                println!(
                    "{} v{}: release {} (serial {}), catalog version {}",
                    s.id, s.version, a.version, a.serial, s.catalog_version
                );
            }
            Ok(())
        }
        SystemCommand::Supervise(a) => {
            super::init_logs();
            let loaded = crate::settings::load(a.config.as_deref(), a.data.as_deref())?;
            let keys = loaded
                .config
                .sync
                .trusted_keys
                .iter()
                .map(|k| Ok(preau_pack::PublicKey::from_hex(k)?))
                .collect::<Result<Vec<_>>>()?;
            std::fs::create_dir_all(&loaded.data_dir)
                .with_context(|| format!("cannot create the data folder {}", loaded.data_dir.display()))?;
            supervise::run(supervise::Options {
                data_dir: loaded.data_dir,
                config: a.config,
                listen: a.listen,
                health_timeout: Duration::from_secs(a.health_timeout),
                keys,
            })
        }
        SystemCommand::Status { data } => {
            let slots = Slots::new(&data);
            let state = slots.load()?;
            let out = serde_json::json!({
                "current": slots.current(),
                "serial": slots.current_serial(&state),
                "state": state,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(())
        }
    }
}
