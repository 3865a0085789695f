//! The background sync loop of `preau serve`.
//!
//! It notices when a source becomes reachable with a cheap probe (`GET root.json`, a
//! few hundred bytes) and backs off exponentially while nothing answers (1 minute up to
//! 1 hour, no busy loop). Within the configured hours it pulls, with the configured rate
//! limit, through exactly the same code as `preau sync pull`. Sources are tried in the
//! order of preference: a peer box on the LAN (found by mDNS), then the national server.
//! The box shows [`AutoStatus`] on the teacher's admin page. Every round is logged
//! (tracing, which `preau serve` writes to its output, so journald): the sources found
//! and probed, which answered, what was pulled, and why a source was skipped.
//!
//! The decision of what to do next is pure ([`decide`]); the thread around it is thin.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use preau_pack::PublicKey;
use preau_pack::meta::now_unix;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::pull::{PullOptions, PullSummary, pull};
use crate::source::{HttpOptions, HttpSource, Source, SourceKind};

/// Daily window in which automatic pulls may run, in minutes after midnight (box local
/// time, from `utc_offset_minutes`): preau.toml's `[sync] hours`, parsed by the one
/// `HH:MM` parser of `preau-config`. `start > end` wraps past midnight (22:00-06:00).
pub use preau_config::clock::DailyWindow as Hours;

#[derive(Debug, Clone)]
pub struct AutoConfig {
    pub data_dir: PathBuf,
    /// The national repository URL, if configured.
    pub repository: Option<String>,
    pub trusted_keys: Vec<PublicKey>,
    pub hours: Option<Hours>,
    pub utc_offset_minutes: i32,
    pub max_rate: Option<u64>,
    /// Look for peer boxes with mDNS before the national server.
    pub peers: bool,
    /// This box's id (so that it never lists or pulls from itself).
    pub own_id: Option<String>,
    /// Time between pulls once up to date.
    pub interval: Duration,
    /// The first wait after a failed round (doubling up to [`MAX_BACKOFF_SECS`]).
    pub min_backoff: Duration,
    /// The school's shared token that peer boxes ask for their private objects.
    pub peer_token: Option<String>,
}

/// What the loop is doing, for the admin page.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AutoStatus {
    /// `starting`, `waiting-hours`, `probing`, `unreachable`, `pulling`, `idle`, `stopped`.
    pub state: String,
    pub source: Option<String>,
    pub last_attempt: Option<u64>,
    pub last_success: Option<u64>,
    /// The last error, in words.
    pub last_error: Option<String>,
    pub last_summary: Option<PullSummary>,
    /// Seconds until the next probe.
    pub next_check_secs: u64,
    pub consecutive_failures: u32,
    /// Bytes received so far by the pull in progress.
    pub bytes_in_progress: u64,
    /// Packs the last pull could not bring up to date (their installed version is stale).
    pub stale: Vec<String>,
}

/// What to do next, and how long to wait before the next decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Outside the hours: sleep until they open.
    WaitHours(u64),
    /// Probe the sources, then pull from the first that answers.
    Try,
}

pub const MIN_BACKOFF_SECS: u64 = 60;
pub const MAX_BACKOFF_SECS: u64 = 3600;

/// Backoff after `failures` consecutive failed probes or pulls.
pub fn backoff_secs(failures: u32) -> u64 {
    backoff_from(MIN_BACKOFF_SECS, failures)
}

/// Backoff after `failures` failures, starting at `min` seconds.
pub fn backoff_from(min: u64, failures: u32) -> u64 {
    (min.max(1) << failures.saturating_sub(1).min(6)).min(MAX_BACKOFF_SECS)
}

/// Pure: whether to try now, given the time and the window.
pub fn decide(now_unix: u64, utc_offset_minutes: i32, hours: Option<Hours>) -> Action {
    let Some(h) = hours else { return Action::Try };
    let local = (now_unix as i64 / 60 + i64::from(utc_offset_minutes)).rem_euclid(1440) as u32;
    match h.wait_secs(local) {
        0 => Action::Try,
        w => Action::WaitHours(w),
    }
}

/// A running loop: read its status, stop it.
pub struct AutoHandle {
    pub status: Arc<Mutex<AutoStatus>>,
    stop: Arc<Signal>,
    running: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AutoHandle {
    pub fn status(&self) -> AutoStatus {
        self.status.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Asks the loop to stop and waits for it (a pull in progress finishes its object).
    pub fn stop(mut self) {
        self.signal_stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    fn signal_stop(&self) {
        *self.stop.stop.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.stop.wake.notify_all();
    }

    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }
}

impl Drop for AutoHandle {
    fn drop(&mut self) {
        self.signal_stop();
    }
}

/// Starts the loop on its own thread (it blocks on network I/O, never on the server's
/// async runtime).
pub fn spawn(cfg: AutoConfig) -> AutoHandle {
    spawn_with_upstream(cfg, None)
}

/// Like [`spawn`], and after each round of pulls (inside the hours, whatever the pull
/// gave) pushes the outbox upstream ([`crate::upstream`]).
pub fn spawn_with_upstream(cfg: AutoConfig, upstream: Option<crate::upstream::UpstreamJob>) -> AutoHandle {
    let status = Arc::new(Mutex::new(AutoStatus { state: "starting".into(), ..Default::default() }));
    let stop = Arc::new(Signal { stop: Mutex::new(false), wake: Condvar::new(), new_peer: AtomicBool::new(false) });
    let running = Arc::new(AtomicBool::new(true));
    if cfg.peers {
        watch_peers(cfg.own_id.clone(), stop.clone());
    }
    let (st, sp, rn) = (status.clone(), stop.clone(), running.clone());
    let thread = std::thread::Builder::new()
        .name("preau-auto-sync".into())
        .spawn(move || {
            run(&cfg, upstream.as_ref(), &st, &sp);
            st.lock().unwrap_or_else(|e| e.into_inner()).state = "stopped".into();
            rn.store(false, Ordering::Relaxed);
        })
        .expect("spawning the sync thread");
    AutoHandle { status, stop, running, thread: Some(thread) }
}

fn set(status: &Mutex<AutoStatus>, f: impl FnOnce(&mut AutoStatus)) {
    f(&mut status.lock().unwrap_or_else(|e| e.into_inner()));
}

/// What wakes the loop: a stop, or a box appearing on the LAN.
struct Signal {
    stop: Mutex<bool>,
    wake: Condvar,
    new_peer: AtomicBool,
}

/// Sleeps `secs`, or less if asked to stop or if a new peer box appeared (then the
/// next round starts at once, whatever the backoff). Returns true when stopping.
fn sleep(signal: &Signal, secs: u64) -> bool {
    let guard = signal.stop.lock().unwrap_or_else(|e| e.into_inner());
    let (guard, _) = signal
        .wake
        .wait_timeout_while(guard, Duration::from_secs(secs), |s| !*s && !signal.new_peer.load(Ordering::Relaxed))
        .unwrap_or_else(|e| e.into_inner());
    signal.new_peer.store(false, Ordering::Relaxed);
    *guard
}

/// Watches `_preau._tcp` for as long as the loop runs and wakes it when a box it has
/// not seen (or whose catalog version changed) appears: a box that has backed off for
/// an hour while alone still picks up a peer within seconds.
fn watch_peers(own_id: Option<String>, signal: Arc<Signal>) {
    let spawned = std::thread::Builder::new().name("preau-peer-watch".into()).spawn(move || {
        let daemon = match mdns_sd::ServiceDaemon::new() {
            Ok(d) => d,
            Err(e) => return tracing::warn!("sync: cannot watch for peer boxes: {e}"),
        };
        let Ok(rx) = daemon.browse(crate::peers::SERVICE_TYPE) else { return };
        let mut seen: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
        while !*signal.stop.lock().unwrap_or_else(|e| e.into_inner()) {
            let Ok(ev) = rx.recv_timeout(Duration::from_secs(1)) else { continue };
            let mdns_sd::ServiceEvent::ServiceResolved(info) = ev else { continue };
            let Ok(advert) = crate::peers::Advert::from_txt(|k| info.get_property_val_str(k)) else { continue };
            if own_id.as_deref() == Some(advert.box_id.as_str())
                || seen.get(&advert.box_id) == Some(&advert.catalog_version)
                || seen.len() >= 1000
            {
                continue;
            }
            tracing::info!(
                "sync: peer box {} appeared (catalog v{}); syncing now",
                advert.box_id,
                advert.catalog_version
            );
            seen.insert(advert.box_id, advert.catalog_version);
            let _guard = signal.stop.lock().unwrap_or_else(|e| e.into_inner());
            signal.new_peer.store(true, Ordering::Relaxed);
            signal.wake.notify_all();
        }
        let _ = daemon.shutdown();
    });
    if let Err(e) = spawned {
        tracing::warn!("sync: cannot watch for peer boxes: {e}");
    }
}

/// The sources to try, best first: peers on the LAN, then the national server.
fn candidates(cfg: &AutoConfig) -> Vec<(String, SourceKind)> {
    let mut out = Vec::new();
    if cfg.peers {
        match crate::peers::discover(Duration::from_secs(3), cfg.own_id.as_deref()) {
            Ok(peers) => {
                let names: Vec<String> = peers.iter().map(|p| format!("{} {}", p.name, p.url)).collect();
                tracing::info!("sync: {} peer box(es) on the LAN: {names:?}", peers.len());
                out.extend(peers.into_iter().map(|p| (p.url, SourceKind::Peer)));
            }
            Err(e) => tracing::warn!("sync: no peer discovery: {e}"),
        }
    }
    if let Some(r) = &cfg.repository {
        out.push((r.clone(), SourceKind::Online));
    }
    out
}

/// One round: probe each candidate and pull from the first that answers. When that
/// source leaves packs incomplete (a peer one version behind, or one that keeps its quiz
/// answers), the next source is tried too: what the first brought is kept, so the
/// second only fetches the rest.
pub fn run_once(cfg: &AutoConfig, status: &Mutex<AutoStatus>) -> Result<PullSummary> {
    let mut last_err =
        Error::Other("no source configured (set [sync] repository, or put a peer box on the network)".into());
    let mut partial: Option<PullSummary> = None;
    for (url, kind) in candidates(cfg) {
        set(status, |s| {
            s.state = "probing".into();
            s.source = Some(url.clone());
        });
        let src = HttpSource::new(
            &url,
            HttpOptions {
                max_rate: cfg.max_rate,
                kind,
                max_retries: 2,
                peer_token: cfg.peer_token.clone(),
                ..Default::default()
            },
        )?;
        match src.get(preau_pack::repo::ROOT_FILE, preau_pack::limits::MAX_ROOT_BYTES) {
            Ok(Some(_)) => tracing::info!("sync: {url} answered the probe"),
            Ok(None) => {
                tracing::info!("sync: skipped {url}: no root.json there, not a Préau repository");
                last_err = Error::Other(format!("{url} is not a Préau repository"));
                continue;
            }
            Err(e) => {
                tracing::info!("sync: skipped {url}: {e}");
                last_err = e;
                continue;
            }
        }
        set(status, |s| {
            s.state = "pulling".into();
            s.bytes_in_progress = 0;
        });
        let progress = |done: u64, _: u64| set(status, |s| s.bytes_in_progress = done);
        let opts = PullOptions { trusted: cfg.trusted_keys.clone(), progress: Some(&progress), ..Default::default() };
        match pull(&src as &dyn Source, &cfg.data_dir, &opts) {
            Ok(s) => {
                log_pull(&url, &s);
                let s = merge(partial.take(), s);
                if s.incomplete.is_empty() {
                    return Ok(s);
                }
                partial = Some(s);
            }
            Err(e) => {
                tracing::warn!("sync: pull from {url} failed: {e}");
                last_err = e;
            }
        }
    }
    partial.ok_or(last_err)
}

fn log_pull(url: &str, s: &PullSummary) {
    let updated: Vec<String> = s.updated.iter().map(|u| format!("{} v{}", u.id, u.version)).collect();
    tracing::info!(
        "sync: pulled from {url}: catalog v{}, updated {updated:?}, {} up to date, {} bytes in {} requests",
        s.catalog_version,
        s.up_to_date.len(),
        s.bytes_downloaded,
        s.requests
    );
    for (id, why) in &s.incomplete {
        tracing::info!("sync: {id} is still incomplete after {url}: {why}");
    }
    for w in &s.warnings {
        tracing::info!("sync: {url}: {w}");
    }
}

/// The summary of two pulls in a row: the updates of both, the later one's view of
/// what is still incomplete, the traffic of both.
fn merge(earlier: Option<PullSummary>, mut later: PullSummary) -> PullSummary {
    let Some(e) = earlier else { return later };
    let mut updated = e.updated;
    updated.extend(later.updated);
    later.updated = updated;
    later.up_to_date.retain(|id| !later.updated.iter().any(|u| &u.id == id));
    later.bytes_downloaded += e.bytes_downloaded;
    later.requests += e.requests;
    later.objects += e.objects;
    later.retries += e.retries;
    later.deltas_used += e.deltas_used;
    later.deltas_failed += e.deltas_failed;
    later.leaf_hints_used += e.leaf_hints_used;
    later.leaf_hints_refused += e.leaf_hints_refused;
    later.gc_objects += e.gc_objects;
    later.gc_bytes += e.gc_bytes;
    later.seconds += e.seconds;
    let mut warnings = e.warnings;
    warnings.extend(later.warnings);
    later.warnings = warnings;
    later
}

/// Pushes the outbox after a round of pulls; its outcome is kept in the learner
/// database (the admin page reads it there), so the pull status is left as it is.
fn push_upstream(job: &crate::upstream::UpstreamJob, last_sync: String, status: &Mutex<AutoStatus>, stop: &Signal) {
    set(status, |s| s.state = "pushing".into());
    let wait = |d: Duration| sleep(stop, d.as_secs().max(1));
    if let Err(e) = crate::upstream::run_job(job, Some(last_sync), &|_, _| {}, &wait) {
        set(status, |s| s.last_error = Some(format!("upstream push: {e}")));
    }
}

fn run(cfg: &AutoConfig, upstream: Option<&crate::upstream::UpstreamJob>, status: &Mutex<AutoStatus>, stop: &Signal) {
    let mut failures = 0u32;
    loop {
        let wait = match decide(now_unix(), cfg.utc_offset_minutes, cfg.hours) {
            Action::WaitHours(w) => {
                set(status, |s| {
                    s.state = "waiting-hours".into();
                    s.next_check_secs = w;
                });
                w.min(MAX_BACKOFF_SECS)
            }
            Action::Try => {
                set(status, |s| s.last_attempt = Some(now_unix()));
                let round = run_once(cfg, status);
                if let Some(job) = upstream {
                    let outcome = round.as_ref().map_or_else(|e| e.to_string(), |_| "ok".to_string());
                    push_upstream(job, outcome, status, stop);
                }
                match round {
                    Ok(summary) => {
                        failures = 0;
                        let w = cfg.interval.as_secs().max(cfg.min_backoff.as_secs()).max(1);
                        tracing::info!("sync: round done; next in {w} s");
                        set(status, |s| {
                            s.state = if summary.incomplete.is_empty() { "idle".into() } else { "incomplete".into() };
                            s.last_success = Some(now_unix());
                            s.last_error = summary.incomplete.first().map(|(id, why)| format!("{id}: {why}"));
                            s.stale = summary.incomplete.iter().map(|(id, _)| id.clone()).collect();
                            s.last_summary = Some(summary);
                            s.consecutive_failures = 0;
                            s.next_check_secs = w;
                        });
                        w
                    }
                    // A box without a national repository has nothing to pull until a
                    // peer appears (the peer watcher wakes the loop then): that is not a
                    // failure to back off from, or its pupils' statements (when it pushes
                    // to an LRS) would wait up to an hour between pushes.
                    Err(e) if cfg.repository.is_none() => {
                        failures = 0;
                        let w = cfg.min_backoff.as_secs().max(1);
                        tracing::info!("sync: nothing pulled ({e}); next round in {w} s");
                        set(status, |s| {
                            s.state = "idle".into();
                            s.last_error = Some(e.to_string());
                            s.consecutive_failures = 0;
                            s.next_check_secs = w;
                        });
                        w
                    }
                    Err(e) => {
                        failures += 1;
                        let w = backoff_from(cfg.min_backoff.as_secs(), failures);
                        tracing::info!("sync: round failed ({e}); next try in {w} s");
                        set(status, |s| {
                            s.state = "unreachable".into();
                            s.last_error = Some(e.to_string());
                            s.consecutive_failures = failures;
                            s.next_check_secs = w;
                        });
                        w
                    }
                }
            }
        };
        if sleep(stop, wait) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_wrap_past_midnight() {
        let h = Hours::parse("22:00-06:00").unwrap();
        assert!(h.contains(23 * 60) && h.contains(0) && h.contains(5 * 60 + 59));
        assert!(!h.contains(6 * 60) && !h.contains(12 * 60));
        assert_eq!(h.wait_secs(21 * 60), 3600);
        assert!(Hours::parse("25:00-06:00").is_err() && Hours::parse("nonsense").is_err());
        assert!(Hours::parse("22:00-24:00").unwrap().contains(23 * 60 + 59));
        let day = Hours::parse("08:30-16:00").unwrap();
        assert!(day.contains(8 * 60 + 30) && !day.contains(16 * 60));
    }

    #[test]
    fn decide_respects_hours_and_offset() {
        let h = Some(Hours::parse("22:00-06:00").unwrap());
        // 21:30 UTC is 22:30 at UTC+1: inside.
        let t = 21 * 3600 + 30 * 60;
        assert_eq!(decide(t, 60, h), Action::Try);
        assert_eq!(decide(t, 0, h), Action::WaitHours(30 * 60));
        assert_eq!(decide(t, 0, None), Action::Try);
    }

    fn summary(updated: &[&str], incomplete: &[&str], bytes: u64) -> PullSummary {
        PullSummary {
            source: "s".into(),
            source_kind: SourceKind::Peer,
            catalog_version: 1,
            updated: updated
                .iter()
                .map(|id| crate::pull::PackUpdate { id: id.to_string(), from_version: None, version: 2 })
                .collect(),
            up_to_date: vec!["done".into(), "b".into()],
            incomplete: incomplete.iter().map(|id| (id.to_string(), "missing".into())).collect(),
            bytes_downloaded: bytes,
            requests: 1,
            retries: 0,
            objects: 1,
            deltas_used: 0,
            deltas_failed: 0,
            leaf_hints_used: 0,
            leaf_hints_refused: 0,
            gc_objects: 0,
            gc_bytes: 0,
            seconds: 1.0,
            warnings: vec![],
            timings: Default::default(),
        }
    }

    #[test]
    fn a_second_source_completes_what_the_first_left() {
        // The peer brought `a` but not `b`; the national server then brought `b`.
        let m = merge(Some(summary(&["a"], &["b"], 100)), summary(&["b"], &[], 50));
        let ids: Vec<&str> = m.updated.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert!(m.incomplete.is_empty());
        assert_eq!(m.up_to_date, ["done"], "a pack updated in this round is not also 'up to date'");
        assert_eq!((m.bytes_downloaded, m.requests), (150, 2));
        let (mut e, mut l) = (summary(&[], &[], 0), summary(&[], &[], 0));
        (e.leaf_hints_used, e.leaf_hints_refused, e.retries, e.deltas_failed, e.gc_bytes) = (1, 2, 3, 4, 5);
        (l.leaf_hints_used, l.leaf_hints_refused, l.retries, l.deltas_failed, l.gc_bytes) = (10, 20, 30, 40, 50);
        let m = merge(Some(e), l);
        assert_eq!(
            (m.leaf_hints_used, m.leaf_hints_refused, m.retries, m.deltas_failed, m.gc_bytes),
            (11, 22, 33, 44, 55),
            "every counter of the round adds up"
        );
        assert_eq!(merge(None, summary(&["a"], &[], 1)).updated.len(), 1);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff_secs(1), 60);
        assert_eq!(backoff_secs(2), 120);
        assert_eq!(backoff_secs(30), MAX_BACKOFF_SECS);
        assert_eq!((backoff_from(2, 1), backoff_from(2, 3), backoff_from(0, 1)), (2, 8, 1));
    }
}
