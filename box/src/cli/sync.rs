//! `preau sync pull|peers|wants|export|remove`: bring packs to a box from a repository URL,
//! a peer box, or a folder, and carry them on USB sticks. The logic is in `preau-sync`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use preau_pack::PublicKey;
use preau_sync::mule::{self, Wants};
use preau_sync::pull::{PullOptions, PullSummary, pull};
use preau_sync::source::{self, FolderSource, HttpOptions, HttpSource, Source, SourceKind};

#[derive(Subcommand)]
pub enum SyncCommand {
    /// Bring this box's packs up to date from a repository URL, a peer box's /repo/, or a
    /// folder (USB stick).
    Pull(PullArgs),
    /// List the Préau boxes that answer on the local network (mDNS `_preau._tcp`).
    Peers(PeersArgs),
    /// Write what this box has, for `export --wants` at a connected place.
    Wants(WantsArgs),
    /// Write a repository subset onto a stick: from this box (--data) or a URL (--from).
    Export(ExportArgs),
    /// Remove installed packs and free their disk space. They stay removed until pulled
    /// by name (--pack) or added again from a folder.
    Remove(RemoveArgs),
}

#[derive(Args)]
pub struct RemoveArgs {
    /// The box data folder.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// The packs to remove.
    #[arg(required = true, value_name = "ID")]
    pub packs: Vec<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct PullArgs {
    /// Repository URL (http:// or https://) or folder. Not needed with --auto.
    #[arg(long, value_name = "URL|DIR")]
    pub from: Option<String>,
    /// The box data folder.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Public key file(s) (from `preau keygen`) that a box with no root yet trusts.
    #[arg(long, value_name = "PUBKEY_FILE")]
    pub trust: Vec<PathBuf>,
    /// Only these packs.
    #[arg(long = "pack", value_name = "ID")]
    pub packs: Vec<String>,
    /// Bandwidth limit in bytes per second.
    #[arg(long, value_name = "BYTES_PER_S")]
    pub max_rate: Option<u64>,
    /// Parallel connections.
    #[arg(long, default_value_t = 8)]
    pub connections: usize,
    /// Treat --from as a peer box (an expired catalog is then accepted with a warning).
    #[arg(long)]
    pub peer: bool,
    /// The school's shared `[sync] peer_token`: a peer box of the school gives its quiz
    /// answers sealed under a key derived from it (the token itself is never sent).
    #[arg(long, env = "PREAU_PEER_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub peer_token: Option<String>,
    /// Pick the best source: --from if it is a folder, else a peer box found by mDNS,
    /// else --from / the repository URL.
    #[arg(long)]
    pub auto: bool,
    /// Print a JSON summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct PeersArgs {
    /// Seconds to listen.
    #[arg(long, default_value_t = 3)]
    pub wait: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct WantsArgs {
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Only these packs are wanted.
    #[arg(long = "pack", value_name = "ID")]
    pub packs: Vec<String>,
}

#[derive(Args)]
pub struct ExportArgs {
    /// Export from this box's data folder.
    #[arg(long, value_name = "DIR", conflicts_with = "from")]
    pub data: Option<PathBuf>,
    /// Export from a repository URL or folder.
    #[arg(long, value_name = "URL|DIR")]
    pub from: Option<String>,
    /// The wants file of the box the stick is for (default: everything).
    #[arg(long, value_name = "FILE")]
    pub wants: Option<PathBuf>,
    /// The folder on the stick.
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: SyncCommand) -> Result<()> {
    match cmd {
        SyncCommand::Pull(a) => run_pull(a),
        SyncCommand::Remove(a) => {
            let s = preau_sync::remove_packs(&a.data, &a.packs)?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                for (id, v) in &s.removed {
                    println!("removed {id} (version {v})");
                }
                println!("freed {} bytes in {} objects", s.gc_bytes, s.gc_objects);
            }
            Ok(())
        }
        SyncCommand::Peers(a) => {
            let peers = preau_sync::peers::discover(Duration::from_secs(a.wait), None)?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&peers)?);
            } else if peers.is_empty() {
                println!("no Préau box answered on the local network");
            } else {
                for p in peers {
                    println!("{}\t{}", p.name, p.url);
                }
            }
            Ok(())
        }
        SyncCommand::Wants(a) => {
            let mut w = Wants::of_box(&a.data)?;
            w.only = a.packs;
            w.write(&a.out)?;
            println!("wrote {} ({} installed pack(s))", a.out.display(), w.packs.len());
            Ok(())
        }
        SyncCommand::Export(a) => {
            let src: Box<dyn Source> = match (&a.data, &a.from) {
                (Some(d), None) => Box::new(FolderSource::new(&d.join("repo"))?),
                (None, Some(f)) => source::open(f, HttpOptions::default())?,
                _ => bail!("give either --data DIR (this box) or --from URL|DIR"),
            };
            let wants = match &a.wants {
                Some(p) => Some(Wants::parse(&std::fs::read(p).with_context(|| format!("reading {}", p.display()))?)?),
                None => None,
            };
            let s = mule::export(src.as_ref(), wants.as_ref(), &a.to, 6)?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                println!(
                    "exported {} pack(s) to {}: {} objects, {} bytes ({} deltas)",
                    s.packs.len(),
                    a.to.display(),
                    s.objects,
                    s.bytes_written,
                    s.deltas
                );
            }
            Ok(())
        }
    }
}

fn run_pull(a: PullArgs) -> Result<()> {
    let trusted = a
        .trust
        .iter()
        .map(|p| PublicKey::read_file(p).with_context(|| format!("reading the trusted key {}", p.display())))
        .collect::<Result<Vec<_>>>()?;
    let http =
        |kind| HttpOptions { max_rate: a.max_rate, kind, peer_token: a.peer_token.clone(), ..Default::default() };
    let src: Box<dyn Source> = match (&a.from, a.auto) {
        (Some(f), false) if f.starts_with("http://") || f.starts_with("https://") => {
            Box::new(HttpSource::new(f, http(if a.peer { SourceKind::Peer } else { SourceKind::Online }))?)
        }
        (Some(f), _) if !(f.starts_with("http://") || f.starts_with("https://")) => {
            Box::new(FolderSource::new(f.as_ref())?)
        }
        (from, true) => {
            // Preference: a folder (above), then a peer on the LAN, then the server.
            // Never this box itself (run beside its `preau serve`): known by its box id.
            let own =
                std::fs::read_to_string(crate::identity::identity_dir(&a.data).join(crate::identity::ID_FILE)).ok();
            let own = own.as_deref().map(str::trim);
            let peers = preau_sync::peers::discover(Duration::from_secs(3), own).unwrap_or_default();
            match (peers.first(), from) {
                (Some(p), _) => {
                    eprintln!("pulling from peer box {} ({})", p.name, p.url);
                    Box::new(HttpSource::new(&p.url, http(SourceKind::Peer))?)
                }
                (None, Some(f)) => Box::new(HttpSource::new(f, http(SourceKind::Online))?),
                (None, None) => bail!("--auto found no peer box and no --from URL was given"),
            }
        }
        (None, false) => bail!("give --from URL|DIR, or --auto"),
        _ => unreachable!("all cases covered"),
    };
    let bar = super::progress::bytes_bar(!a.json, "pulling");
    let progress = |done: u64, _total: u64| bar.set_position(done);
    let opts = PullOptions {
        trusted,
        packs: (!a.packs.is_empty()).then_some(a.packs.clone()),
        workers: a.connections.clamp(1, 32),
        progress: Some(&progress),
        ..Default::default()
    };
    let s = pull(src.as_ref(), &a.data, &opts);
    bar.finish_and_clear();
    let s = s?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        print_summary(&s);
    }
    if !s.incomplete.is_empty() {
        bail!("{} pack(s) could not be completed from {}", s.incomplete.len(), s.source);
    }
    Ok(())
}

fn print_summary(s: &PullSummary) {
    for w in &s.warnings {
        eprintln!("warning: {w}");
    }
    for u in &s.updated {
        match u.from_version {
            Some(f) => println!("updated {} from version {f} to {}", u.id, u.version),
            None => println!("installed {} version {}", u.id, u.version),
        }
    }
    for id in &s.up_to_date {
        println!("{id} is up to date");
    }
    for (id, why) in &s.incomplete {
        println!("{id}: not updated: {why}");
    }
    println!(
        "{} bytes in {} requests, {} objects, {} deltas, {:.1} s from {}",
        s.bytes_downloaded, s.requests, s.objects, s.deltas_used, s.seconds, s.source
    );
}
