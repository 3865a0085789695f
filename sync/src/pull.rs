//! `preau sync pull`: bring a box's packs up to date from any source.
//!
//! 1. verify the source's root chain and catalog's signed top (`trust`), alone in the
//!    first round trip: when nothing changed (a 304), the pull ends there. Then the
//!    catalog nodes on the paths of the box's packs that changed (`nodes`: the branch
//!    and, from an online server, beside it the leaf hints of the box's bins, so that
//!    the leaf is in the same round unless its hint is stale or absent) and, from an
//!    online server, beside them, the first parts of the *update
//!    bundles* of the installed packs under a changed branch (`speculate`; a bundle
//!    holds the manifest patch and every object a box one version behind lacks);
//! 2. for each pack whose catalog manifest differs from the installed one, get the new
//!    manifest and plan its objects (`plan`, pure): from its update bundle (the rest of
//!    it in parallel Range parts; from a peer box, the bundle it kept), so that a small
//!    update is complete after one round trip; otherwise as a delta from the installed
//!    manifest when the catalog offers it, or whole. A bundle used is kept in the box's
//!    repository for its own peers;
//! 3. fetch, verify and write the objects, rebuilding changed files from deltas where the
//!    box holds the old file, falling back to chunks when a delta is missing or bad.
//!    Steps 2 and 3 are decided by `machine::Pull` (no I/O); this module is its driver:
//!    every action runs on one pool (`fetch::Pool`), so the manifests of all packs go out
//!    together and each pack's objects are queued as soon as its manifest is in;
//! 4. switch atomically: signed metadata, then `installed.json` (`apply::switch`);
//! 5. collect garbage (and kept bundles of versions no longer kept), only when
//!    everything asked for is installed.
//!
//! Everything fetched is written as verified objects before the switch, so an
//! interrupted pull (cut, kill, power loss) resumes where it stopped: the next plan
//! finds those objects present, and partial objects resume with Range requests.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use preau_pack::installed::{Installed, InstalledPack};
use preau_pack::meta::{ManifestDelta, now_unix};
use preau_pack::repo::{OBJECTS_DIR, update_rel_path};
use preau_pack::{Hash, Manifest, PublicKey, Repo, fsutil};
use serde::Serialize;

use crate::apply;
use crate::error::{Error, Result};
use crate::fetch::{Lane, Pool};
use crate::machine::{self, Action, Event, Outcome, Target};
use crate::nodes;
use crate::plan;
use crate::source::{Source, SourceKind, max_stored_len};
use crate::trust::{self, STATE_DIR, TrustState, Verified};

pub struct PullOptions<'a> {
    /// Root keys a box trusts when it has no root yet (`--trust`).
    pub trusted: Vec<PublicKey>,
    /// Only these packs (`--pack`); all packs of the catalog otherwise, except those a
    /// teacher removed. Naming a removed pack here brings it back.
    pub packs: Option<Vec<String>>,
    /// Also bring back packs a teacher removed (the teacher adding a folder again).
    pub revive_removed: bool,
    /// Parallel fetches (keep-alive connections). Eight new connections carry about
    /// 115 KB in their first round trip (TCP starts with ten segments each): enough to
    /// fill a 2 Mbit/s link with a 400 ms round trip from the start.
    pub workers: usize,
    /// The box's clock (unix seconds); tests set it to simulate expiry.
    pub now: Option<u64>,
    /// Remove objects no kept version needs after a complete pull.
    pub gc: bool,
    /// Called with (bytes received so far, bytes planned) as objects arrive.
    pub progress: Option<&'a (dyn Fn(u64, u64) + Sync)>,
}

impl Default for PullOptions<'_> {
    fn default() -> Self {
        PullOptions {
            trusted: Vec::new(),
            packs: None,
            revive_removed: false,
            workers: 8,
            now: None,
            gc: true,
            progress: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PackUpdate {
    pub id: String,
    pub from_version: Option<u64>,
    pub version: u64,
}

/// What a pull did (`--json` prints it).
#[derive(Debug, Clone, Serialize)]
pub struct PullSummary {
    pub source: String,
    pub source_kind: SourceKind,
    pub catalog_version: u64,
    pub updated: Vec<PackUpdate>,
    pub up_to_date: Vec<String>,
    /// Packs that could not be completed from this source, with the reason. Their
    /// installed versions are unchanged.
    pub incomplete: Vec<(String, String)>,
    pub bytes_downloaded: u64,
    pub requests: u64,
    pub retries: u64,
    /// Objects fetched and verified (chunks, manifests, deltas).
    pub objects: u64,
    pub deltas_used: u64,
    pub deltas_failed: u64,
    /// Catalog leaves taken from their hint (no round of their own), and hints that did
    /// not match the leaf their branch names (ignored, the leaf was fetched by hash).
    pub leaf_hints_used: u64,
    pub leaf_hints_refused: u64,
    pub gc_objects: u64,
    pub gc_bytes: u64,
    pub seconds: f64,
    /// When each phase ended, in seconds since the pull started.
    pub timings: Timings,
    pub warnings: Vec<String>,
}

/// When each phase of a pull ended, in seconds since it started. Phases overlap (a
/// pack's objects are fetched while another pack's manifest is in flight), so these are
/// the ends of the last of each kind.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Timings {
    /// The signed catalog was fetched and verified (the first round trip).
    pub catalog: f64,
    /// The last manifest needed was in and planned.
    pub manifests: f64,
    /// Every object was in, verified and written.
    pub objects: f64,
    /// The switch: metadata and `installed.json` written.
    pub switch: f64,
    /// Garbage collected: the end of the pull.
    pub done: f64,
}

/// Pulls from `source` into the box data folder `data_dir` (its `repo/`).
pub fn pull(source: &dyn Source, data_dir: &Path, opts: &PullOptions) -> Result<PullSummary> {
    // The parts of update bundles asked for with the catalog arrive beside the pull.
    std::thread::scope(|scope| pull_in(scope, source, data_dir, opts)).map_err(Error::typed)
}

fn pull_in<'s, 'e>(
    scope: &'s std::thread::Scope<'s, 'e>,
    source: &'e dyn Source,
    data_dir: &Path,
    opts: &PullOptions,
) -> Result<PullSummary> {
    let started = Instant::now();
    let repo_dir = data_dir.join("repo");
    fsutil::create_dir_all_durable(&repo_dir.join(OBJECTS_DIR))?;
    let state_dir = data_dir.join(STATE_DIR);
    fsutil::create_dir_all_durable(&state_dir)?;
    let _lock = lock(&state_dir.join("pull.lock"))?;
    let partial_dir = state_dir.join("partial");
    fsutil::create_dir_all_durable(&partial_dir)?;
    source.keep_validators(&state_dir.join("http"));

    // 1. Trust: the catalog's top alone (and, on a new box, HEAD requests that open the
    // other connections). The first parts of the update bundles of installed packs are
    // ready to go out as soon as the top is known to have changed (see `speculate`).
    let spec = speculate(scope, source, &repo_dir, &partial_dir, opts);
    // On any early return, the waiting parts give up.
    let _release = Release(spec.go.clone());
    let mut state = TrustState::load(data_dir)?;
    let now = opts.now.unwrap_or_else(now_unix);
    // Connections opened ahead (HEAD requests, ~250 bytes each) only for a box that
    // speculates nothing (a new box: many objects follow). An updating box continues its
    // bundles on the connections of the first round (`bundle_lanes`).
    let spare = if spec.slots > 0 { 0 } else { opts.workers.saturating_sub(1) };
    let mut trusted = opts.trusted.clone();
    trusted.extend(state.publisher_keys());
    let mut verified = trust::verify_source(source, &repo_dir, &trusted, &state, now, spare)?;
    // The bundle parts go out now, beside the first node fetch, and only for packs under
    // a branch that changed: "nothing changed" stays one request.
    spec.go.set(changed_branches(&repo_dir, &verified));
    // Nodes are small: twice the connections (a box that holds none and follows every
    // pack fetches all of them, about one request per 10 packs).
    // Beside each changed branch, the leaf hints of the bins of the packs the box
    // follows (or holds), so that their leaves come in the same round.
    let hinted: Vec<String> = match &opts.packs {
        Some(p) => p.clone(),
        None => Installed::load(&repo_dir).map(|i| i.packs.into_keys().collect()).unwrap_or_default(),
    };
    let used = nodes::resolve_hinted(
        source,
        Some(&repo_dir),
        &mut verified.catalog,
        opts.packs.as_deref(),
        &hinted,
        opts.workers * 2,
    )?;
    verified.warnings.extend(used.warnings);
    if verified.catalog.issued > state.time_floor || verified.repository.is_some() {
        state.time_floor = state.time_floor.max(verified.catalog.issued);
        state.note_catalog(&verified, &repo_dir);
        state.save(data_dir)?;
    }
    let catalog = &verified.catalog;
    if let Some(ids) = &opts.packs {
        for id in ids {
            if !catalog.packs.contains_key(id) {
                return Err(Error::NoSuchPack(id.clone()));
            }
        }
    }
    let wanted: Option<BTreeSet<&str>> = opts.packs.as_ref().map(|v| v.iter().map(String::as_str).collect());

    // The metadata has to be in place for `Repo::open` on a new box.
    if !repo_dir.join(preau_pack::repo::ROOT_FILE).is_file() {
        apply::install_root(&repo_dir, &verified)?;
    }
    let repo = Repo::open(&repo_dir)?;
    let mut installed = Installed::load(&repo_dir)?;
    let installed_manifests: Vec<Manifest> =
        installed.packs.values().filter_map(|p| repo.read_manifest(&p.manifest, p.manifest_size).ok()).collect();

    let mut s = PullSummary {
        source: source.describe(),
        source_kind: source.kind(),
        catalog_version: catalog.version,
        updated: vec![],
        up_to_date: vec![],
        incomplete: vec![],
        bytes_downloaded: 0,
        requests: 0,
        retries: 0,
        objects: 0,
        deltas_used: 0,
        deltas_failed: 0,
        leaf_hints_used: used.hints_used as u64,
        leaf_hints_refused: used.hints_refused as u64,
        gc_objects: 0,
        gc_bytes: 0,
        seconds: 0.0,
        timings: Timings { catalog: started.elapsed().as_secs_f64(), ..Default::default() },
        warnings: verified.warnings.clone(),
    };

    // 2-3. Bring every wanted pack's objects in: one machine and one pool of jobs for all
    // packs, so that the manifests come in one round and each pack's objects are asked
    // for as soon as its manifest arrives.
    let mut todo: Vec<Target> = Vec::new();
    for (id, entry) in &catalog.packs {
        match &wanted {
            Some(w) if !w.contains(id.as_str()) => continue,
            None if installed.removed.contains(id) && !opts.revive_removed => continue,
            _ => {}
        }
        let current = installed.packs.get(id);
        if current.is_some_and(|p| p.manifest == entry.manifest) {
            s.up_to_date.push(id.clone());
            continue;
        }
        if current.is_some_and(|p| p.version > entry.version) {
            s.incomplete.push((
                id.clone(),
                format!(
                    "the catalog offers version {} but version {} is installed",
                    entry.version,
                    current.map_or(0, |p| p.version)
                ),
            ));
            continue;
        }
        todo.push(Target {
            id: id.clone(),
            entry: entry.clone(),
            current: current.map(|p| (p.manifest, p.manifest_size)),
        });
    }
    // A box several versions behind finds its delta in the bundle that came with the
    // catalog's nodes, or else in the pack's window object.
    if cfg_bundles(source) {
        let parts = (bundle_lanes(opts, &spec), &spec);
        let found = window_deltas(source, &repo, &partial_dir, &todo, parts, &mut s.warnings);
        for (t, d) in todo.iter_mut().zip(found) {
            t.entry.manifest_deltas.extend(d);
        }
    }
    let cfg = machine::Config {
        source: source.describe(),
        // Bundles from servers: the national one, and a peer box, which keeps the bundle
        // it used. A USB stick serves objects one by one, at no round-trip cost.
        bundles: cfg_bundles(source),
        peer: source.kind() == SourceKind::Peer,
        workers: bundle_lanes(opts, &spec),
        prefix: spec.prefix.clone(),
        installed: installed_manifests,
    };
    let driver = Driver {
        source,
        repo: &repo,
        partial_dir: &partial_dir,
        machine: Mutex::new(machine::Pull::new(todo.clone(), cfg)?),
        opts,
        warnings: Mutex::new(vec![]),
        switch: Mutex::new(None),
        spec: &spec,
        started,
        manifests_done: Mutex::new(0.0),
    };
    let pool: Pool<Action> = Pool::new(opts.workers);
    driver.start(&pool)?;
    pool.run(&|action, pool| driver.run(action, pool))?;
    let machine = driver.machine.into_inner().unwrap_or_else(|e| e.into_inner());
    let Some(to_switch) = driver.switch.into_inner().unwrap_or_else(|e| e.into_inner()) else {
        return Err(Error::Other("the pull ended before every object was in (an internal error)".into()));
    };
    for (t, outcome) in todo.iter().zip(machine.outcomes()) {
        match outcome {
            Outcome::Complete { deltas_used, deltas_failed } => {
                s.deltas_used += deltas_used;
                s.deltas_failed += deltas_failed;
                s.updated.push(PackUpdate {
                    id: t.id.clone(),
                    from_version: installed.packs.get(&t.id).map(|p| p.version),
                    version: t.entry.version,
                });
            }
            Outcome::Unavailable(why) => s.incomplete.push((t.id.clone(), why)),
        }
    }
    s.timings.objects = started.elapsed().as_secs_f64();
    s.timings.manifests = *driver.manifests_done.lock().unwrap_or_else(|e| e.into_inner());
    s.timings.manifests = s.timings.manifests.max(s.timings.catalog);

    // 4. The switch: metadata, then installed.json in one atomic rename.
    let switch: Vec<(String, InstalledPack)> = to_switch
        .into_iter()
        .map(|i| {
            let e = &todo[i].entry;
            let p = InstalledPack {
                version: e.version,
                manifest: e.manifest,
                manifest_size: e.manifest_size,
                installed_at: now_unix(),
            };
            (todo[i].id.clone(), p)
        })
        .collect();
    apply::switch(&repo_dir, &verified, &mut installed, switch)?;
    s.timings.switch = started.elapsed().as_secs_f64();

    // 5. Garbage, only after a complete pull.
    if opts.gc && s.incomplete.is_empty() {
        let keep = apply::live_objects(&repo, &installed)?;
        let (n, b) = apply::collect_garbage(&repo, &keep)?;
        apply::prune_updates(&repo, &keep);
        if verified.catalog.index.is_some() {
            nodes::prune(&repo_dir, &used.nodes);
        }
        s.gc_objects = n;
        s.gc_bytes = b;
        apply::clear_partials(&partial_dir);
    }

    let st = source.stats();
    s.bytes_downloaded = st.bytes_downloaded;
    s.requests = st.requests;
    s.retries = st.retries;
    s.objects = machine.objects();
    s.warnings.extend(driver.warnings.into_inner().unwrap_or_default());
    s.warnings.extend(source.take_warnings());
    s.seconds = started.elapsed().as_secs_f64();
    s.timings.done = s.seconds;
    Ok(s)
}

/// Whether update bundles are tried from `source`: servers (the national one, and a peer
/// box, which keeps the bundle it used). A USB stick serves objects one by one, at no
/// round-trip cost.
fn cfg_bundles(source: &dyn Source) -> bool {
    source.kind() != SourceKind::Folder
}

/// Connections a bundle's parts are split for: an updating box continues on the
/// connections of the first round (see `speculate`).
fn bundle_lanes(opts: &PullOptions, spec: &Speculation) -> usize {
    if spec.slots > 0 { (1 + spec.slots).min(opts.workers) } else { opts.workers }
}

/// For each target whose installed version has no delta in the catalog entry (a box two
/// or more versions behind): the delta (with its bundle), in the round of the catalog's
/// nodes when it can be. The bundle at `updates/…/<installed>` asked for beside them
/// (`speculate`) usually came whole: it then describes itself (`bundle::decode_unsigned`;
/// everything taken from it is still checked against the signed manifest). Otherwise the
/// entry's window object (signed) names it, one round later. Fetched in parallel; a
/// window that cannot be had is a warning (the pack updates without bundle).
/// Beside each window, the rest of a bundle larger than the parts asked for, as the
/// machine will split it (`parts`: lanes and the speculation), so that it is on disk when
/// the machine asks; the machine still checks the whole bundle.
fn window_deltas(
    source: &dyn Source,
    repo: &Repo,
    partial_dir: &Path,
    todo: &[Target],
    parts: (usize, &Speculation),
    warnings: &mut Vec<String>,
) -> Vec<Option<ManifestDelta>> {
    let spec = parts.1;
    let needs = |t: &Target| -> Option<(Hash, u64, u64, Option<preau_pack::meta::WindowRef>)> {
        let (have, have_size) = t.current?;
        if t.entry.manifest_deltas.iter().any(|d| d.from == have) {
            return None;
        }
        let asked = spec.prefix.get(&have).copied().unwrap_or(0);
        (asked > 0 || t.entry.window.is_some()).then_some((have, have_size, asked, t.entry.window))
    };
    // One bundle decoded here at a time (up to 16 MiB, and 48 MiB of base files): a Pi
    // several versions behind on many packs must not hold them all at once.
    let decoding = Mutex::new(());
    let decoding = &decoding;
    let got: Vec<Option<Result<Option<ManifestDelta>>>> = std::thread::scope(|scope| {
        let jobs: Vec<_> = todo
            .iter()
            .map(|t| {
                needs(t).map(|(have, have_size, asked, window)| {
                    let first = spec.gates.get(&part_path(partial_dir, &have, 0)).cloned();
                    if let Some(first) = first.filter(|_| asked > 0) {
                        scope.spawn(move || {
                            // The first part's answer gives the bundle's length.
                            first.wait();
                            let rel = update_rel_path(&have);
                            let Some(len) =
                                source.known_length(&rel).filter(|l| *l <= preau_pack::bundle::MAX_BUNDLE_BYTES)
                            else {
                                return;
                            };
                            let rest = plan::bundle_parts(len, parts.0, asked).into_iter().skip(asked as usize);
                            std::thread::scope(|inner| {
                                for (start, end) in rest {
                                    let (path, rel) = (part_path(partial_dir, &have, start), rel.clone());
                                    inner.spawn(move || {
                                        let _ = source.get_range(&rel, start, end, end - start, &path, false);
                                    });
                                }
                            });
                        });
                    }
                    scope.spawn(move || -> Result<Option<ManifestDelta>> {
                        if let Some(stored) = whole_bundle(source, partial_dir, spec, &have, asked) {
                            // Decoded only to learn its hashes; the machine decodes it
                            // again against them rather than every pack's bytes being held
                            // here until it does.
                            let _one = decoding.lock().unwrap_or_else(|e| e.into_inner());
                            let described = repo
                                .decode_update_unsigned(&stored, || repo.read_manifest(&have, have_size))
                                .and_then(|(bytes, b)| preau_pack::bundle::delta_of(have, &bytes, b));
                            if let Ok(d) = described {
                                return Ok(Some(d));
                            }
                        }
                        let Some(w) = window else { return Ok(None) };
                        if w.size > preau_pack::meta::MAX_WINDOW_BYTES {
                            return Err(Error::Other(format!(
                                "its window object is larger than {} bytes",
                                preau_pack::meta::MAX_WINDOW_BYTES
                            )));
                        }
                        let partial = part_path(partial_dir, &w.object, 0);
                        // A peer box may not have it (it never stores it): no bundle then.
                        let Some(stored) = source.get_object(&w.object, max_stored_len(w.size), &partial)? else {
                            return Ok(None);
                        };
                        let _ = std::fs::remove_file(&partial);
                        let bytes = preau_pack::object::decode_verified(&stored, &w.object, w.size)?;
                        let list: preau_pack::meta::DeltaWindow = serde_json::from_slice(&bytes).map_err(|e| {
                            Error::Malformed { what: format!("window object {}", w.object), detail: e.to_string() }
                        })?;
                        Ok(list.into_iter().find(|d| d.from == have))
                    })
                })
            })
            .collect();
        jobs.into_iter()
            .map(|j| j.map(|h| h.join().unwrap_or_else(|_| Err(Error::Other("a thread panicked".into())))))
            .collect()
    });
    todo.iter()
        .zip(got)
        .map(|(t, r)| match r {
            None | Some(Ok(None)) => None,
            Some(Ok(Some(d))) => Some(d),
            Some(Err(e)) => {
                warnings.push(format!("pack {}: versions window: {e}", t.id));
                None
            }
        })
        .collect()
}

/// The stored bytes of the bundle from `have`, when the `asked` parts requested with the
/// catalog's nodes hold all of it (after waiting for them); `None` otherwise.
fn whole_bundle(
    source: &dyn Source,
    partial_dir: &Path,
    spec: &Speculation,
    have: &Hash,
    asked: u64,
) -> Option<Vec<u8>> {
    if asked == 0 {
        return None;
    }
    for i in 0..asked {
        let path = part_path(partial_dir, have, plan::speculative_part(i, asked).0);
        spec.gates.get(&path)?.wait();
    }
    let len = source.known_length(&update_rel_path(have))?;
    if len > preau_pack::bundle::MAX_BUNDLE_BYTES {
        return None;
    }
    let parts = plan::bundle_parts(len, 1, asked);
    if parts.len() as u64 > asked {
        return None;
    }
    let mut stored = Vec::with_capacity(len as usize);
    for (start, end) in parts {
        let bytes = std::fs::read(part_path(partial_dir, have, start)).ok()?;
        if bytes.len() as u64 != end - start {
            return None;
        }
        stored.extend_from_slice(&bytes);
    }
    Some(stored)
}

/// Takes the data folder's writer lock: one pull, removal or install at a time.
pub(crate) fn lock(path: &Path) -> Result<File> {
    let f = File::create(path).map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(_) => Err(Error::Busy { lock: path.to_path_buf() }),
    }
}

/// Performs the machine's actions (`machine::Pull`) on the source and the disk, with
/// `workers` threads (`fetch::Pool`), and feeds the results back to it.
struct Driver<'a> {
    source: &'a dyn Source,
    repo: &'a Repo,
    partial_dir: &'a Path,
    machine: Mutex<machine::Pull>,
    opts: &'a PullOptions<'a>,
    warnings: Mutex<Vec<String>>,
    /// The packs to switch, once the machine says so.
    switch: Mutex<Option<Vec<usize>>>,
    /// Bundle parts asked for with the catalog.
    spec: &'a Speculation,
    started: Instant,
    /// When the last manifest was planned (seconds since the start).
    manifests_done: Mutex<f64>,
}

impl Driver<'_> {
    fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn progress(&self) {
        if let Some(p) = self.opts.progress {
            p(self.source.stats().bytes_downloaded, 0);
        }
    }

    fn start(&self, pool: &Pool<Action>) -> Result<()> {
        let actions = self.machine.lock().unwrap_or_else(|e| e.into_inner()).start(&|h| self.repo.has_object(h))?;
        self.queue(actions, pool);
        Ok(())
    }

    /// Hands an event to the machine and queues what it asks for next. The write of the
    /// object `inline` (the one this worker just fetched) is done at once by this worker,
    /// as a fetch and its write always were: an object received is on disk before the
    /// worker takes another job, so a pull killed then loses as little as possible.
    fn feed(&self, ev: Event, pool: &Pool<Action>, inline: Option<Hash>) -> Result<()> {
        let actions = {
            let mut m = self.machine.lock().unwrap_or_else(|e| e.into_inner());
            let planned = m.planned();
            let actions = m.handle(ev, &|h| self.repo.has_object(h))?;
            if m.planned() > planned {
                let mut t = self.manifests_done.lock().unwrap_or_else(|e| e.into_inner());
                *t = t.max(self.elapsed());
            }
            actions
        };
        let (now, later): (Vec<Action>, Vec<Action>) =
            actions.into_iter().partition(|a| matches!(a, Action::Write { hash, .. } if Some(*hash) == inline));
        self.queue(later, pool);
        for a in now {
            self.run(a, pool)?;
        }
        Ok(())
    }

    fn queue(&self, actions: Vec<Action>, pool: &Pool<Action>) {
        for a in actions {
            let lane = match &a {
                Action::FetchObject { lane, .. } => *lane,
                _ => Lane::First,
            };
            pool.push(lane, a);
        }
    }

    /// One action: network and disk I/O only, every decision is the machine's.
    fn run(&self, action: Action, pool: &Pool<Action>) -> Result<()> {
        let mut inline = None;
        let ev = match action {
            Action::FetchPart { pack, from, part, start, end } => {
                let partial = part_path(self.partial_dir, &from, start);
                if let Some(gate) = self.spec.gates.get(&partial) {
                    // Asked for with the catalog: use what arrived, then ask for the rest.
                    gate.wait();
                }
                let got = self.source.get_range(&update_rel_path(&from), start, end, end - start, &partial, true);
                self.progress();
                Event::Part { pack, part, got: got.map_err(|e| e.to_string()) }
            }
            Action::FetchObject { hash, len, attempt, .. } => {
                let partial = self.partial_dir.join(hash.to_hex());
                let stored = self.source.get_object(&hash, max_stored_len(len), &partial)?;
                if stored.is_some() {
                    // In memory now: a bad copy is fetched again from byte 0.
                    let _ = std::fs::remove_file(&partial);
                }
                self.progress();
                inline = Some(hash);
                Event::Object { hash, attempt, stored }
            }
            Action::Read { hash, len, to } => Event::Read { hash, to, bytes: self.repo.read_object(&hash, len)? },
            Action::ReadFile { pack, step, file } => Event::FileRead { pack, step, bytes: self.repo.read_file(&file)? },
            Action::Decode { pack, from, from_size, bundle, stored } => {
                // A referenced bundle is decoded against files of the version the box holds.
                let got = self.repo.decode_update(&stored, &bundle, || self.repo.read_manifest(&from, from_size));
                Event::Decoded { pack, got: got.map_err(|e| e.to_string()) }
            }
            Action::Write { hash, stored } => {
                apply::write_object(self.repo, &hash, &stored)?;
                Event::Written { hash }
            }
            Action::KeepBundle { from, stored } => {
                if let Err(e) = apply::keep_bundle(self.repo, &from, &stored) {
                    self.warn(format!("the update bundle could not be kept for other boxes: {e}"));
                }
                return Ok(());
            }
            Action::ClearParts { from, starts } => {
                for start in starts {
                    let _ = std::fs::remove_file(part_path(self.partial_dir, &from, start));
                }
                return Ok(());
            }
            Action::Warn(w) => {
                self.warn(w);
                return Ok(());
            }
            Action::Switch(packs) => {
                *self.switch.lock().unwrap_or_else(|e| e.into_inner()) = Some(packs);
                return Ok(());
            }
        };
        self.feed(ev, pool, inline)
    }

    fn warn(&self, w: String) {
        self.warnings.lock().unwrap_or_else(|e| e.into_inner()).push(w);
    }
}

/// Where a part of the update bundle from the manifest `from` is kept while it arrives.
/// Named by its start, so that parts never mix whatever the number of connections.
fn part_path(partial_dir: &Path, from: &Hash, start: u64) -> PathBuf {
    partial_dir.join(format!("update-{}.from{start}", from.to_hex()))
}

/// Opens once a download has ended (also if its thread panicked).
#[derive(Default)]
struct Gate {
    done: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    fn wait(&self) {
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        while !*done {
            done = self.cv.wait(done).unwrap_or_else(|e| e.into_inner());
        }
    }
}

struct OpenOnDrop(Arc<Gate>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        *self.0.done.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.0.cv.notify_all();
    }
}

/// Update bundle parts asked for in the round after the catalog's top.
#[derive(Default)]
struct Speculation {
    /// Parts asked for (from byte 0), by the manifest the bundle updates.
    prefix: HashMap<Hash, u64>,
    /// Each part's download, by its file: a job waits for it before using the file.
    gates: HashMap<PathBuf, Arc<Gate>>,
    /// Connections they use.
    slots: usize,
    /// The branches of the catalog that changed: parts of packs under the others do
    /// not go out (their entries did not change).
    go: Arc<Signal>,
}

/// The branches of the new catalog's top whose hash differs from the installed one's
/// (all of them when either is not split or there is none; none when the top is the
/// same bytes, as after a 304).
fn changed_branches(repo_dir: &Path, v: &Verified) -> BTreeSet<usize> {
    use preau_pack::catalog_tree::TOP_FANOUT;
    let Ok((_, bytes)) = trust::installed_catalog(repo_dir) else { return (0..TOP_FANOUT).collect() };
    if bytes == v.catalog_bytes {
        return BTreeSet::new();
    }
    let old: Option<preau_pack::meta::Catalog> = preau_pack::sign::Envelope::parse(&bytes, "installed catalog")
        .and_then(|e| e.payload("installed catalog"))
        .ok();
    match (old.and_then(|c| c.index), &v.catalog.index) {
        (Some(a), Some(b)) if a.len() == TOP_FANOUT && b.len() == TOP_FANOUT => {
            (0..TOP_FANOUT).filter(|&t| a[t] != b[t]).collect()
        }
        _ => (0..TOP_FANOUT).collect(),
    }
}

/// Tells the speculative parts, once the catalog's top is verified, which branches
/// changed.
#[derive(Default)]
struct Signal {
    changed: Mutex<Option<BTreeSet<usize>>>,
    cv: Condvar,
}

impl Signal {
    fn set(&self, changed: BTreeSet<usize>) {
        self.changed.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(changed);
        self.cv.notify_all();
    }

    /// Whether the branch `t` changed (waits for the answer).
    fn changed(&self, t: usize) -> bool {
        let mut c = self.changed.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(set) = &*c {
                return set.contains(&t);
            }
            c = self.cv.wait(c).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Answers "nothing changed" to parts still waiting when the pull returns early.
struct Release(Arc<Signal>);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.set(BTreeSet::new());
    }
}

/// Asks an online server, once the catalog's top is verified and differs from the
/// installed one under the pack's branch, beside the first catalog node fetch, for the
/// first parts of the update bundle of each installed pack (most recently installed
/// first; `workers - 1` parts in all, see `plan::speculation`). Whether there is an
/// update is known only from the leaf (in the same round when its leaf hint matches, a
/// round later otherwise): when there is none, each costs a 404; when there is one, its
/// bundle (up to `plan::SPECULATIVE_END`) has arrived whole with the branch node, and a
/// larger one continues in the next round without a pause. Nothing
/// goes out when the top did not change: "nothing changed" is one request.
fn speculate<'s, 'e>(
    scope: &'s std::thread::Scope<'s, 'e>,
    source: &'e dyn Source,
    repo_dir: &Path,
    partial_dir: &Path,
    opts: &PullOptions,
) -> Speculation {
    let mut spec = Speculation::default();
    if source.kind() != SourceKind::Online {
        return spec;
    }
    let Ok(installed) = Installed::load(repo_dir) else {
        return spec;
    };
    let mut packs: Vec<(&String, &InstalledPack)> =
        installed.packs.iter().filter(|(id, _)| opts.packs.as_ref().is_none_or(|w| w.contains(id))).collect();
    packs.sort_by_key(|(_, p)| std::cmp::Reverse(p.installed_at));
    for ((id, p), k) in packs.iter().zip(plan::speculation(packs.len(), opts.workers.saturating_sub(1))) {
        let branch = preau_pack::catalog_tree::bins(id).0;
        if k == 0 {
            continue;
        }
        for i in 0..k {
            let (start, end) = plan::speculative_part(i, k);
            let path = part_path(partial_dir, &p.manifest, start);
            let gate = Arc::new(Gate::default());
            spec.gates.insert(path.clone(), gate.clone());
            let rel = update_rel_path(&p.manifest);
            let go = spec.go.clone();
            scope.spawn(move || {
                let _open = OpenOnDrop(gate);
                // Once the catalog's top is known to have changed under this pack.
                if !go.changed(branch) {
                    return;
                }
                let _ = source.get_range(&rel, start, end, end - start, &path, false);
            });
        }
        spec.prefix.insert(p.manifest, k);
        spec.slots += k as usize;
    }
    spec
}
