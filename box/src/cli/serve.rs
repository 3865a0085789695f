//! `preau serve`: starts the classroom server.
//!
//! With no arguments it runs on an embedded default: data in `./preau-data`, listening
//! on 0.0.0.0:8080, the demo pack installed on first start.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::config::Config;
use crate::metrics::Metrics;
use crate::packs::Library;
use crate::packs::cache::Cache;
use crate::packs::serve::Serving;
use crate::{demo, identity, mdns, server, settings, wiring};

pub const DEFAULT_DATA: &str = settings::DEFAULT_DATA;
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8080);
/// Threads for blocking work (disk reads, decompression, gzip): bounds memory on a Pi.
const MAX_BLOCKING_THREADS: usize = 16;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The box's data folder (installed packs, identity, learner records).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Address and port to listen on, for example 0.0.0.0:80 (port 0 picks a free one).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// The `preau.toml` config file.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

pub fn run(args: ServeArgs) -> Result<()> {
    super::init_logs();
    // A refused preau.toml never stops the box: last good settings or the defaults.
    let loaded = settings::load(args.config.as_deref(), args.data.as_deref())?;
    let (config, data_dir) = (loaded.config, loaded.data_dir);
    let listen = args.listen.or(config.box_.listen).unwrap_or(DEFAULT_LISTEN);
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create the data folder {}", data_dir.display()))?;
    let box_id = identity::load_or_create(&data_dir)?;
    identity::publisher_key(&data_dir)?;
    // A box that cannot install its demo pack still serves the packs it has.
    match demo::install_on_first_start(&data_dir) {
        Ok(true) => tracing::info!("first start: demo pack installed"),
        Ok(false) => {}
        Err(e) => tracing::warn!("the demo pack was not installed: {e:#}"),
    }
    let trusted = trusted_keys(&config)?;
    install_preloaded(&config, &data_dir, &trusted);
    let packs = Arc::new(Library::open(&data_dir.join("repo"))?);
    watch_installed(packs.clone());
    let auto_sync = start_auto_sync(&config, &data_dir, &trusted, &box_id)?;
    let limits = config.limits();
    let metrics = Arc::new(Metrics::default());
    let mut env =
        wiring::classroom_env(&data_dir, &config, &box_id, packs.clone(), auto_sync.as_ref().map(|h| h.status.clone()));
    env.upstream = super::upstream::upstream_info(&config, &data_dir, &box_id);
    env.search = crate::search::start(&data_dir, packs.clone());
    env.config_problem = loaded.problem.as_ref().map(|p| {
        let (fr, en) = p.notice();
        preau_classroom::ConfigNotice { fr, en }
    });
    let mut serving = Serving::new(packs.clone(), Cache::new(limits.cache_bytes), metrics.clone());
    serving.school_key = config.sync.peer_token.as_deref().map(preau_sync::private::SchoolKey::derive);
    let env_search = env.search.clone();
    let (router, serving) = wiring::router(env.clone(), serving);

    let runtime = runtime(std::env::var("PREAU_WORKERS").ok().and_then(|v| v.parse().ok()))?;
    runtime.block_on(async move {
        let listener =
            tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
        let local = listener.local_addr()?;
        let banner = preau_classroom::startup_lines(&env)?;
        print_urls(local, &config, &box_id, &packs, &data_dir, &banner);
        let advertiser = start_mdns(&config, &box_id, &packs, local);
        server::serve(listener, router, Some(serving), limits, metrics, server::shutdown_signal()).await?;
        if let Some(a) = advertiser {
            a.stop();
        }
        if let Some(h) = auto_sync {
            h.stop();
        }
        if let Some(s) = &env_search {
            s.stop();
        }
        tracing::info!("stopped");
        Ok(())
    })
}

/// The async runtime: one worker thread per core the process may run on (its CPU
/// affinity, so `taskset -c 0` means one). With one core, the single-threaded scheduler:
/// no work-stealing queues, no cross-thread wake-ups, no second thread to switch to.
/// Blocking work (disk reads, zstd, gzip, SQLite) goes to the blocking pool either way.
fn runtime(workers: Option<usize>) -> Result<tokio::runtime::Runtime> {
    let workers = workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let mut builder = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers);
        b
    };
    builder
        .enable_all()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .thread_name("preau")
        .build()
        .context("cannot start the async runtime")
}

/// The root keys named in `[sync] trusted_keys` (already checked by the config parser).
fn trusted_keys(config: &Config) -> Result<Vec<preau_pack::PublicKey>> {
    config.sync.trusted_keys.iter().map(|k| Ok(preau_pack::PublicKey::from_hex(k)?)).collect()
}

/// Installs the packs of `[sync] preload` (a repository folder an SD image carries) when
/// they are newer than what the box holds, through the one apply step of `preau-sync`.
/// A bad preload folder is logged, never fatal: the box still serves what it has.
fn install_preloaded(config: &Config, data_dir: &Path, trusted: &[preau_pack::PublicKey]) {
    let Some(dir) = &config.sync.preload else { return };
    if !dir.join(preau_pack::repo::ROOT_FILE).is_file() {
        return;
    }
    match preau_sync::install_from_folder(dir, data_dir, trusted, None) {
        Ok(s) if s.installed.is_empty() => tracing::info!("preloaded packs in {} are already installed", dir.display()),
        Ok(s) => tracing::info!("installed preloaded packs from {}: {:?}", dir.display(), s.installed),
        Err(e) => tracing::warn!("the preloaded packs in {} were not installed: {e}", dir.display()),
    }
}

/// Reloads the installed packs when `installed.json` changes (a `preau sync pull` run
/// beside the server, or the auto-sync loop). A cheap stat every few seconds.
fn watch_installed(packs: Arc<Library>) {
    let file = packs.repo_dir().join(preau_pack::installed::INSTALLED_FILE);
    let modified = move || std::fs::metadata(&file).and_then(|m| m.modified()).ok();
    let mut seen = modified();
    let spawned = std::thread::Builder::new().name("preau-reload".into()).spawn(move || {
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3));
            let now = modified();
            if now != seen {
                seen = now;
                match packs.reload() {
                    Ok(()) => tracing::info!("installed packs changed: reloaded"),
                    Err(e) => tracing::warn!("installed packs changed but could not be read: {e:#}"),
                }
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!("cannot watch the installed packs: {e}");
    }
}

/// Starts the background sync loop when there is somewhere to pull from.
fn start_auto_sync(
    config: &Config,
    data_dir: &Path,
    trusted: &[preau_pack::PublicKey],
    box_id: &str,
) -> Result<Option<preau_sync::auto::AutoHandle>> {
    let s = &config.sync;
    let upstream = super::upstream::job(config, data_dir, box_id);
    // The loop runs whenever it has something to do: pull from the national repository,
    // from the school's other boxes (mDNS on: the watcher wakes it when one appears), or
    // push to an LRS. Only a box with none of the three has no loop.
    let peers = config.server.mdns != Some(false);
    if s.repository.is_none() && upstream.is_none() && !peers {
        return Ok(None);
    }
    let interval = sync_interval_override()?;
    let hours = match &s.hours {
        Some(h) => Some(preau_sync::auto::Hours::parse(h).map_err(|e| anyhow::anyhow!("sync.hours: {h:?}: {e}"))?),
        None => None,
    };
    let cfg = preau_sync::auto::AutoConfig {
        data_dir: data_dir.to_path_buf(),
        repository: s.repository.clone(),
        trusted_keys: trusted.to_vec(),
        hours,
        // `[sync] hours` are the school's local hours.
        utc_offset_minutes: preau_classroom::saved_tz_minutes(data_dir),
        max_rate: s.max_rate,
        peers,
        own_id: Some(box_id.to_string()),
        interval: std::time::Duration::from_secs(interval.unwrap_or(6 * 3600)),
        min_backoff: std::time::Duration::from_secs(interval.unwrap_or(preau_sync::auto::MIN_BACKOFF_SECS)),
        peer_token: s.peer_token.clone(),
    };
    Ok(Some(preau_sync::auto::spawn_with_upstream(cfg, upstream)))
}

/// `PREAU_SYNC_INTERVAL_SECS`: seconds between background sync rounds, and the first
/// wait after a failed one (default: 6 hours and 1 minute). For tests and for a
/// technician watching a box join the school mesh; 1 to 86400.
pub const SYNC_INTERVAL_ENV: &str = "PREAU_SYNC_INTERVAL_SECS";

fn sync_interval_override() -> Result<Option<u64>> {
    let Ok(v) = std::env::var(SYNC_INTERVAL_ENV) else { return Ok(None) };
    match v.trim().parse::<u64>() {
        Ok(n) if (1..=86400).contains(&n) => Ok(Some(n)),
        _ => anyhow::bail!("{SYNC_INTERVAL_ENV}={v:?}: expected a number of seconds from 1 to 86400"),
    }
}

/// Prints where the box can be reached. Tests read the first line to find the port.
fn print_urls(local: SocketAddr, config: &Config, box_id: &str, packs: &Library, data_dir: &Path, banner: &[String]) {
    println!("listening on http://{local}/");
    let port = local.port();
    if local.ip().is_unspecified() {
        for iface in if_addrs::get_if_addrs().unwrap_or_default() {
            if !iface.is_loopback() && iface.ip().is_ipv4() {
                println!("  ouvrir / open: http://{}:{port}/   ({})", iface.ip(), iface.name);
            }
        }
        println!("  ouvrir / open: http://{}.local:{port}/ (mDNS)", config.hostname());
    }
    println!("data folder: {}   box id: {}   packs: {}", data_dir.display(), box_id, packs.len());
    for line in banner {
        println!("{line}");
    }
}

fn start_mdns(config: &Config, box_id: &str, packs: &Arc<Library>, local: SocketAddr) -> Option<mdns::Advertiser> {
    if config.server.mdns == Some(false) || local.ip().is_loopback() {
        return None;
    }
    let advert = preau_sync::peers::Advert::new(box_id, packs.catalog_version());
    let packs = packs.clone();
    match mdns::Advertiser::start(&advert, config.hostname(), local.port(), move || packs.catalog_version()) {
        Ok(a) => Some(a),
        Err(e) => {
            // No multicast (a container, a locked-down network): the box still serves.
            tracing::warn!(error = %format!("{e:#}"), "mDNS not available");
            None
        }
    }
}
