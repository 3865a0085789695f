//! `preau sync pull`: bring a box's packs up to date from any source.
//!
//! 1. verify the source's root chain and catalog (`trust`). In the same round trip, from
//!    an online server, ask for the first parts of the *update bundles* of the installed
//!    packs (`speculate`; a bundle holds the manifest patch and every object a box one
//!    version behind lacks), and open the other keep-alive connections (`Source::warm`);
//! 2. for each pack whose catalog manifest differs from the installed one, get the new
//!    manifest and plan its objects (`plan`, pure): from its update bundle (the rest of
//!    it in parallel Range parts; from a peer box, the bundle it kept), so that a small
//!    update is complete after one round trip; otherwise as a delta from the installed
//!    manifest when the catalog offers it, or whole. A bundle used is kept in the box's
//!    repository for its own peers;
//! 3. fetch, verify and write the objects (`fetch`), rebuilding changed files from deltas
//!    where the box holds the old file, falling back to chunks when a delta is missing or
//!    bad. Every pack's jobs run on one pool (`fetch::Pool`): the manifests of all packs
//!    go out together, and each pack's objects are queued as soon as its manifest is in;
//! 4. switch atomically: signed metadata, then `installed.json` (`apply`);
//! 5. collect garbage (and kept bundles of versions no longer kept), only when
//!    everything asked for is installed.
//!
//! Everything fetched is written as verified objects before the switch, so an
//! interrupted pull (cut, kill, power loss) resumes where it stopped: the next plan
//! finds those objects present, and partial objects resume with Range requests.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use preau_pack::installed::{Installed, InstalledPack};
use preau_pack::meta::{BundleRef, CatalogEntry, now_unix};
use preau_pack::object::{self, Encoding};
use preau_pack::repo::{OBJECTS_DIR, update_rel_path};
use preau_pack::{Error, Hash, Manifest, PublicKey, Repo, Result, bundle, delta, fsutil, limits};
use serde::Serialize;

use crate::apply;
use crate::fetch::{Lane, Pool, fetch_object};
use crate::plan::{self, DeltaStep, ManifestFetch};
use crate::source::{Source, SourceKind};
use crate::trust::{self, STATE_DIR, TrustState};

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
    std::thread::scope(|scope| pull_in(scope, source, data_dir, opts))
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

    // 1. Trust. With the catalog go the first parts of the update bundles of installed
    // packs (see `speculate`) and HEAD requests that open the other connections.
    let spec = speculate(scope, source, &repo_dir, &partial_dir, opts);
    let mut state = TrustState::load(data_dir)?;
    let now = opts.now.unwrap_or_else(now_unix);
    let spare = opts.workers.saturating_sub(1).saturating_sub(spec.slots);
    let mut trusted = opts.trusted.clone();
    trusted.extend(state.publisher_keys());
    let verified = trust::verify_source(source, &repo_dir, &trusted, &state, now, spare)?;
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
        fsutil::create_dir_all_durable(&repo_dir.join(preau_pack::repo::ROOTS_DIR))?;
        for (v, bytes) in &verified.new_roots {
            fsutil::atomic_write(&repo_dir.join(preau_pack::repo::ROOTS_DIR).join(format!("{v}.json")), bytes)?;
        }
        fsutil::atomic_write(&repo_dir.join(preau_pack::repo::ROOT_FILE), &verified.root_bytes)?;
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
        gc_objects: 0,
        gc_bytes: 0,
        seconds: 0.0,
        timings: Timings { catalog: started.elapsed().as_secs_f64(), ..Default::default() },
        warnings: verified.warnings.clone(),
    };
    let ctx = Ctx {
        source,
        repo: &repo,
        partial_dir: &partial_dir,
        installed: &installed_manifests,
        fetched: AtomicU64::new(0),
        opts,
        warnings: Mutex::new(vec![]),
        inflight: Mutex::new(HashMap::new()),
        spec: &spec,
        started,
        manifests_done: Mutex::new(0.0),
    };

    // 2-3. Bring every wanted pack's objects in: one pool of jobs for all packs, so that
    // the manifests come in one round and each pack's objects are queued as soon as its
    // manifest arrives.
    let mut todo: Vec<(&String, &CatalogEntry)> = Vec::new();
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
        todo.push((id, entry));
    }
    let mut switch: Vec<(String, InstalledPack)> = Vec::new();
    for ((id, entry), outcome) in todo.iter().zip(ctx.bring(&todo, &installed)?) {
        let current = installed.packs.get(*id);
        match outcome {
            Ok(used) => {
                s.deltas_used += used.0;
                s.deltas_failed += used.1;
                switch.push((
                    id.to_string(),
                    InstalledPack {
                        version: entry.version,
                        manifest: entry.manifest,
                        manifest_size: entry.manifest_size,
                        installed_at: now_unix(),
                    },
                ));
                s.updated.push(PackUpdate {
                    id: id.to_string(),
                    from_version: current.map(|p| p.version),
                    version: entry.version,
                });
            }
            Err(PackError::Unavailable(why)) => s.incomplete.push((id.to_string(), why)),
            Err(PackError::Fatal(e)) => return Err(e),
        }
    }
    s.timings.objects = ctx.elapsed();
    s.timings.manifests = ctx.manifests_done.lock().map(|t| *t).unwrap_or(0.0).max(s.timings.catalog);

    // 4. The switch: metadata, then installed.json in one atomic rename.
    trust::install_metadata(&repo_dir, &verified)?;
    if !switch.is_empty() {
        for (id, p) in switch {
            installed.removed.remove(&id);
            installed.packs.insert(id, p);
        }
        installed.save(&repo_dir)?;
    }

    s.timings.switch = ctx.elapsed();

    // 5. Garbage, only after a complete pull.
    if opts.gc && s.incomplete.is_empty() {
        let keep = apply::live_objects(&repo, &installed)?;
        let (n, b) = apply::collect_garbage(&repo, &keep)?;
        apply::prune_updates(&repo, &keep);
        s.gc_objects = n;
        s.gc_bytes = b;
        apply::clear_partials(&partial_dir);
    }

    let st = source.stats();
    s.bytes_downloaded = st.bytes_downloaded;
    s.requests = st.requests;
    s.retries = st.retries;
    s.objects = ctx.fetched.load(Ordering::Relaxed);
    s.warnings.extend(ctx.warnings.into_inner().unwrap_or_default());
    s.warnings.extend(source.take_warnings());
    s.seconds = started.elapsed().as_secs_f64();
    s.timings.done = s.seconds;
    Ok(s)
}

/// Takes the data folder's writer lock: one pull, removal or install at a time.
pub(crate) fn lock(path: &Path) -> Result<File> {
    let f = File::create(path).map_err(|e| Error::Io { context: format!("creating {}", path.display()), source: e })?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(_) => Err(Error::Other(format!(
            "another pull or removal is already running on this data folder ({} is locked); try again when it ends",
            path.display()
        ))),
    }
}

/// One step of a pull, run by the pool (`fetch::Pool`).
enum Job {
    /// Get pack `pack`'s manifest (from disk, its update bundle, a delta or whole), plan
    /// the pack and queue its objects. `bundle`: whether the update bundle may be tried.
    Manifest { pack: usize, bundle: bool },
    /// One Range part of the update bundle from the manifest `from`.
    BundlePart { pack: usize, from: Hash, bundle: BundleRef, part: usize, start: u64, end: u64 },
    /// Every part of the bundle is in: verify it, rebuild the manifest, plan.
    BundleOpen { pack: usize, from: Hash, bundle: BundleRef },
    /// Rebuild a file from a delta; `patch` when the bundle brought it.
    Delta { pack: usize, step: Box<DeltaStep>, patch: Option<Stored> },
    /// One object; `stored` when the bundle brought it.
    Chunk { pack: usize, hash: Hash, len: u64, stored: Option<Stored> },
}

/// Why a bundle was not used when the source has none.
const NO_BUNDLE: &str = "the source does not have it";

/// An object's stored bytes inside a verified bundle.
#[derive(Clone)]
struct Stored {
    bundle: Arc<Vec<u8>>,
    start: usize,
    end: usize,
}

impl Stored {
    fn bytes(&self) -> &[u8] {
        &self.bundle[self.start..self.end]
    }
}

enum PackError {
    /// This source cannot complete this pack (it lacks an object): other packs go on.
    Unavailable(String),
    /// Bad data, bad signatures, a full disk: the pull stops, nothing is switched.
    Fatal(Error),
}

impl From<Error> for PackError {
    fn from(e: Error) -> Self {
        PackError::Fatal(e)
    }
}

/// One pack being brought in.
struct PackRun<'a> {
    id: &'a str,
    entry: &'a CatalogEntry,
    current: Option<(Hash, u64)>,
    st: Mutex<PackState>,
}

#[derive(Default)]
struct PackState {
    manifest: Option<Manifest>,
    /// Why this source cannot bring the pack (no manifest).
    unavailable: Option<String>,
    /// Objects the source does not have.
    missing: Vec<Hash>,
    deltas_used: u64,
    deltas_failed: u64,
    /// Bundle parts received (by index) and still expected, and why the bundle failed.
    parts: Vec<Option<Vec<u8>>>,
    parts_left: usize,
    bundle_failed: Option<String>,
}

impl PackRun<'_> {
    fn st(&self) -> std::sync::MutexGuard<'_, PackState> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Ctx<'a> {
    source: &'a dyn Source,
    repo: &'a Repo,
    partial_dir: &'a PathBuf,
    /// The manifests of the installed versions (delta bases).
    installed: &'a [Manifest],
    fetched: AtomicU64,
    opts: &'a PullOptions<'a>,
    warnings: Mutex<Vec<String>>,
    /// One lock per object being fetched: two packs (or a delta's fallback) that need the
    /// same object never write the same partial file at once.
    inflight: Mutex<HashMap<Hash, Arc<Mutex<()>>>>,
    /// Bundle parts asked for with the catalog.
    spec: &'a Speculation,
    started: Instant,
    /// When the last manifest was planned (seconds since the start).
    manifests_done: Mutex<f64>,
}

impl Ctx<'_> {
    fn warn(&self, w: String) {
        self.warnings.lock().unwrap_or_else(|e| e.into_inner()).push(w);
    }

    /// The Range parts of the bundle from `from`: those asked for with the catalog first.
    fn bundle_parts(&self, from: &Hash, bundle: &BundleRef) -> Vec<(u64, u64)> {
        let prefix = self.spec.prefix.get(from).copied().unwrap_or(0);
        plan::bundle_parts(bundle.stored_len(), self.opts.workers, prefix)
    }

    fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn progress(&self) {
        if let Some(p) = self.opts.progress {
            p(self.source.stats().bytes_downloaded, 0);
        }
    }

    fn object(&self, hash: &Hash, len: u64) -> Result<Option<Vec<u8>>> {
        let lock = self.inflight.lock().unwrap_or_else(|e| e.into_inner()).entry(*hash).or_default().clone();
        let _one_at_a_time = lock.lock().unwrap_or_else(|e| e.into_inner());
        let r = fetch_object(self.source, self.repo, self.partial_dir, hash, len, &self.fetched);
        self.progress();
        r
    }

    /// Verifies and writes an object that came in a bundle. `Ok(false)`: the copy is bad
    /// (the caller fetches the object by itself).
    fn store(&self, hash: &Hash, len: u64, stored: &Stored) -> Result<bool> {
        if self.repo.has_object(hash) {
            return Ok(true);
        }
        match apply::store_verified_compact(self.repo, hash, len, stored.bytes()) {
            Ok(_) => {
                self.fetched.fetch_add(1, Ordering::Relaxed);
                Ok(true)
            }
            Err(e @ Error::CorruptObject { .. }) => {
                self.warn(format!("the update bundle's copy of object {hash} is bad ({e}); fetching it alone"));
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Brings every pack of `todo` in, all on one pool. Returns each pack's outcome, in
    /// order: (deltas used, deltas failed), or why it could not be completed. A fatal
    /// error (bad data, full disk) stops everything.
    fn bring(
        &self,
        todo: &[(&String, &CatalogEntry)],
        installed: &Installed,
    ) -> Result<Vec<Result<(u64, u64), PackError>>> {
        let mut runs = Vec::with_capacity(todo.len());
        for (id, entry) in todo {
            if entry.manifest_size > limits::MAX_MANIFEST_BYTES {
                return Err(Error::TooLarge {
                    what: format!("manifest of pack {id}"),
                    limit: limits::MAX_MANIFEST_BYTES,
                });
            }
            let current = installed.packs.get(*id).map(|p| (p.manifest, p.manifest_size));
            runs.push(PackRun { id, entry, current, st: Mutex::new(PackState::default()) });
        }
        if !runs.is_empty() {
            let pool: Pool<Job> = Pool::new(self.opts.workers);
            for pack in 0..runs.len() {
                pool.push(Lane::First, Job::Manifest { pack, bundle: true });
            }
            pool.run(&|job, pool| self.run(job, pool, &runs))?;
        }
        Ok(runs.into_iter().map(|r| self.outcome(r)).collect())
    }

    fn outcome(&self, run: PackRun) -> Result<(u64, u64), PackError> {
        let st = run.st.into_inner().unwrap_or_else(|e| e.into_inner());
        if let Some(why) = st.unavailable {
            return Err(PackError::Unavailable(why));
        }
        let Some(m) = st.manifest else {
            return Err(PackError::Unavailable(format!("no manifest for version {}", run.entry.version)));
        };
        if let Some(h) = st.missing.first() {
            return Err(PackError::Unavailable(format!(
                "{} lacks {} object(s) of version {}, for example {h}",
                self.source.describe(),
                st.missing.len(),
                m.version
            )));
        }
        if let Some(h) = apply::complete(self.repo, &m) {
            return Err(PackError::Fatal(Error::Other(format!(
                "pack {}: object {h} is still missing after the pull",
                run.id
            ))));
        }
        Ok((st.deltas_used, st.deltas_failed))
    }

    fn run(&self, job: Job, pool: &Pool<Job>, runs: &[PackRun]) -> Result<()> {
        match job {
            Job::Manifest { pack, bundle } => self.manifest_job(pack, bundle, pool, runs),
            Job::BundlePart { pack, from, bundle, part, start, end } => {
                let partial = part_path(self.partial_dir, &from, start);
                if let Some(gate) = self.spec.gates.get(&partial) {
                    // Asked for with the catalog: use what arrived, then ask for the rest.
                    gate.wait();
                }
                let got = self.source.get_range(&update_rel_path(&from), start, end, end - start, &partial, true);
                self.progress();
                let run = &runs[pack];
                let mut st = run.st();
                match got {
                    Ok(Some(bytes)) => st.parts[part] = Some(bytes),
                    Ok(None) => {
                        st.bundle_failed.get_or_insert_with(|| NO_BUNDLE.into());
                    }
                    Err(e) => {
                        st.bundle_failed.get_or_insert_with(|| e.to_string());
                    }
                }
                st.parts_left -= 1;
                if st.parts_left == 0 {
                    drop(st);
                    pool.push(Lane::First, Job::BundleOpen { pack, from, bundle });
                }
                Ok(())
            }
            Job::BundleOpen { pack, from, bundle } => self.open_bundle(pack, from, bundle, pool, runs),
            Job::Delta { pack, step, patch } => {
                if let Some(p) = &patch {
                    self.store(&step.delta.object, step.delta.size, p)?;
                }
                let used = self.apply_delta(&step)?;
                let mut st = runs[pack].st();
                if used {
                    st.deltas_used += 1;
                } else {
                    st.deltas_failed += 1;
                    drop(st);
                    let present = |h: &Hash| self.repo.has_object(h);
                    for (hash, len) in plan::fallback_chunks(&step, &present) {
                        pool.push(lane(len), Job::Chunk { pack, hash, len, stored: None });
                    }
                }
                Ok(())
            }
            Job::Chunk { pack, hash, len, stored } => {
                if let Some(s) = &stored
                    && self.store(&hash, len, s)?
                {
                    return Ok(());
                }
                if self.object(&hash, len)?.is_none() {
                    runs[pack].st().missing.push(hash);
                }
                Ok(())
            }
        }
    }

    /// Gets a pack's manifest, or starts fetching its update bundle in parts.
    fn manifest_job(&self, pack: usize, try_bundle: bool, pool: &Pool<Job>, runs: &[PackRun]) -> Result<()> {
        let run = &runs[pack];
        let present = |h: &Hash| self.repo.has_object(h);
        // Bundles from servers: the national one, and a peer box, which keeps the bundle
        // it used (it is smaller than the per-file deltas it replaced, which the box
        // never fetched). A USB stick serves objects one by one, at no round-trip cost.
        if try_bundle
            && self.source.kind() != SourceKind::Folder
            && let ManifestFetch::Delta { from, bundle: Some(bundle), .. } =
                plan::manifest_fetch(run.entry, run.current, &present)
        {
            let parts = self.bundle_parts(&from, &bundle);
            {
                let mut st = run.st();
                st.parts = vec![None; parts.len()];
                st.parts_left = parts.len();
            }
            if parts.is_empty() {
                pool.push(Lane::First, Job::BundleOpen { pack, from, bundle });
            }
            for (part, (start, end)) in parts.into_iter().enumerate() {
                pool.push(Lane::First, Job::BundlePart { pack, from, bundle, part, start, end });
            }
            return Ok(());
        }
        let Some(bytes) = self.manifest(run.entry, run.current)? else {
            run.st().unavailable =
                Some(format!("{} does not have the manifest of version {}", self.source.describe(), run.entry.version));
            return Ok(());
        };
        self.plan_pack(pack, &bytes, &HashMap::new(), pool, runs)
    }

    /// Checks a whole bundle, rebuilds the manifest from its first record and plans the
    /// pack with the objects it holds. Anything wrong with the bundle: warn and do
    /// without it (the manifest delta, then objects one by one).
    fn open_bundle(
        &self,
        pack: usize,
        from: Hash,
        bundle: BundleRef,
        pool: &Pool<Job>,
        runs: &[PackRun],
    ) -> Result<()> {
        let run = &runs[pack];
        let (failed, parts) = {
            let mut st = run.st();
            (st.bundle_failed.take(), std::mem::take(&mut st.parts))
        };
        for (start, _) in self.bundle_parts(&from, &bundle) {
            let _ = std::fs::remove_file(part_path(self.partial_dir, &from, start));
        }
        let without = |why: String| {
            self.warn(format!(
                "the update bundle of pack {} ({}) was not used ({why}); fetching the manifest and objects one by one",
                run.id,
                update_rel_path(&from)
            ));
            pool.push(Lane::First, Job::Manifest { pack, bundle: false });
            Ok(())
        };
        if let Some(why) = failed {
            if self.source.kind() == SourceKind::Peer && why == NO_BUNDLE {
                // Most peers have no bundle for this step: nothing worth a warning.
                pool.push(Lane::First, Job::Manifest { pack, bundle: false });
                return Ok(());
            }
            return without(why);
        }
        let stored: Vec<u8> = parts.into_iter().flatten().flatten().collect();
        let present = |h: &Hash| self.repo.has_object(h);
        let ManifestFetch::Delta { from_size, object: patch_hash, size: patch_size, .. } =
            plan::manifest_fetch(run.entry, run.current, &present)
        else {
            return without("the manifest no longer needs it".into());
        };
        // A referenced bundle is decoded against files of the version the box holds.
        let bytes = match self.repo.decode_update(&stored, &bundle, || self.repo.read_manifest(&from, from_size)) {
            Ok(b) => b,
            Err(e) => return without(e.to_string()),
        };
        let records = match bundle::parse(&bytes) {
            Ok(r) => r,
            Err(e) => return without(e.to_string()),
        };
        let Some((first, first_stored)) = records.first().filter(|r| r.0 == patch_hash) else {
            return without("it does not start with the manifest patch".into());
        };
        let manifest = object::decode_verified(first_stored, first, patch_size).and_then(|patch| {
            let old = self.repo.read_object(&from, from_size)?;
            delta::apply_verified(&old, &patch, &run.entry.manifest, run.entry.manifest_size)
        });
        let manifest = match manifest {
            Ok(m) => m,
            Err(e) => return without(e.to_string()),
        };
        self.repo.write_object(&manifest, Encoding { level: 3, try_compress: true })?;
        self.fetched.fetch_add(1, Ordering::Relaxed);
        // Kept for peer boxes one version behind (see `apply::prune_updates`); losing it
        // costs them round trips, not correctness.
        let kept = self.repo.dir().join(update_rel_path(&from));
        if let Err(e) = kept
            .parent()
            .map_or(Ok(()), fsutil::create_dir_all_durable)
            .and_then(|()| fsutil::atomic_write(&kept, &stored))
        {
            self.warn(format!("the update bundle could not be kept for other boxes: {e}"));
        }
        let base = bytes.as_ptr() as usize;
        let offsets: Vec<(Hash, usize, usize)> = records[1..]
            .iter()
            .map(|(h, st)| (*h, st.as_ptr() as usize - base, st.as_ptr() as usize - base + st.len()))
            .collect();
        let whole = Arc::new(bytes);
        let index: HashMap<Hash, Stored> =
            offsets.into_iter().map(|(h, start, end)| (h, Stored { bundle: whole.clone(), start, end })).collect();
        self.plan_pack(pack, &manifest, &index, pool, runs)
    }

    /// Plans a pack from its (verified) manifest bytes and queues its objects: those the
    /// bundle brought first (local work), the others in the large or small lane.
    fn plan_pack(
        &self,
        pack: usize,
        bytes: &[u8],
        bundled: &HashMap<Hash, Stored>,
        pool: &Pool<Job>,
        runs: &[PackRun],
    ) -> Result<()> {
        let run = &runs[pack];
        let m = Manifest::from_bytes(bytes)?;
        if m.meta.id != run.id || m.version != run.entry.version {
            return Err(Error::Other(format!(
                "pack {}: the catalog names version {} but the manifest is {:?} version {} (mix-and-match refused)",
                run.id, run.entry.version, m.meta.id, m.version
            )));
        }
        // Chunks the bundle brought are stored first, and planned as present: a file whose
        // chunks all came in a (referenced) bundle needs no delta.
        let mut from_bundle = HashSet::new();
        for f in &m.files {
            for c in f.chunk_list() {
                if let Some(stored) = bundled.get(&c.0)
                    && !self.repo.has_object(&c.0)
                    && from_bundle.insert(c.0)
                {
                    pool.push(Lane::First, Job::Chunk { pack, hash: c.0, len: c.1, stored: Some(stored.clone()) });
                }
            }
        }
        let present = |h: &Hash| from_bundle.contains(h) || self.repo.has_object(h);
        let bases = plan::bases(self.installed, &|h: &Hash| self.repo.has_object(h));
        let p = plan::plan_pack(&m, &bases, &present);
        run.st().manifest = Some(m);
        {
            let mut t = self.manifests_done.lock().unwrap_or_else(|e| e.into_inner());
            *t = t.max(self.elapsed());
        }
        for step in p.deltas {
            let patch = bundled.get(&step.delta.object).cloned();
            let l = if patch.is_some() { Lane::First } else { lane(step.delta.size) };
            pool.push(l, Job::Delta { pack, step: Box::new(step), patch });
        }
        for (hash, len) in p.fetch {
            pool.push(lane(len), Job::Chunk { pack, hash, len, stored: None });
        }
        Ok(())
    }

    /// The new manifest's bytes (verified), from disk, a delta, or the source.
    fn manifest(&self, entry: &CatalogEntry, current: Option<(Hash, u64)>) -> Result<Option<Vec<u8>>> {
        let present = |h: &Hash| self.repo.has_object(h);
        match plan::manifest_fetch(entry, current, &present) {
            ManifestFetch::Present => {
                return self.repo.read_object(&entry.manifest, entry.manifest_size).map(Some);
            }
            ManifestFetch::Delta { from, from_size, object, size, .. } => {
                if let Some(patch) = self.object(&object, size)? {
                    let old = self.repo.read_object(&from, from_size)?;
                    match delta::apply_verified(&old, &patch, &entry.manifest, entry.manifest_size) {
                        Ok(bytes) => {
                            self.repo.write_object(&bytes, Encoding { level: 3, try_compress: true })?;
                            return Ok(Some(bytes));
                        }
                        Err(e) => self.warn(format!(
                            "the manifest delta {object} did not apply ({e}); fetching the whole manifest"
                        )),
                    }
                }
            }
            ManifestFetch::Whole => {}
        }
        self.object(&entry.manifest, entry.manifest_size)
    }

    /// Rebuilds a file from a delta and writes its chunks. `Ok(false)` means "use chunks
    /// instead" (the source lacks the patch, or it did not rebuild the file).
    fn apply_delta(&self, step: &DeltaStep) -> Result<bool> {
        let d = &step.delta;
        let Some(patch) = self.object(&d.object, d.size)? else {
            return Ok(false);
        };
        let base = self.repo.read_file(&step.base)?;
        let new = match delta::apply_verified(&base, &patch, &step.target.hash, step.target.size) {
            Ok(n) => n,
            Err(e) => {
                self.warn(format!(
                    "delta {} for {:?} did not apply ({e}); fetching its chunks",
                    d.object, step.target.path
                ));
                return Ok(false);
            }
        };
        let enc = Encoding { level: 3, try_compress: object::is_compressible(&step.target.media_type) };
        let mut at = 0usize;
        for c in step.target.chunk_list() {
            let end = at + c.1 as usize;
            let slice = &new[at..end];
            if Hash::of(slice) != c.0 {
                self.warn(format!(
                    "the chunk list of {:?} does not match its content; fetching its chunks",
                    step.target.path
                ));
                return Ok(false);
            }
            if !self.repo.has_object(&c.0) {
                self.repo.write_object(slice, enc)?;
            }
            at = end;
        }
        Ok(true)
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

/// How long the parts asked for with the catalog wait behind its request.
const SPECULATION_LAG: std::time::Duration = std::time::Duration::from_millis(30);

/// Update bundle parts asked for in the catalog's round trip.
#[derive(Default)]
struct Speculation {
    /// Parts asked for (from byte 0), by the manifest the bundle updates.
    prefix: HashMap<Hash, u64>,
    /// Each part's download, by its file: a job waits for it before using the file.
    gates: HashMap<PathBuf, Arc<Gate>>,
    /// Connections they use.
    slots: usize,
}

/// Asks an online server, in the same round trip as the catalog, for the first parts of
/// the update bundle of each installed pack (most recently installed first; `workers - 1`
/// parts in all, see `plan::speculation`). Whether there is an update is known only from
/// the catalog: when there is none, each costs a 404 (about as much as the HEAD request
/// it replaces); when the pack is one version behind, a small update has arrived whole
/// with the catalog, and a larger one continues in the next round without a pause.
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
    let mut packs: Vec<&InstalledPack> = installed
        .packs
        .iter()
        .filter(|(id, _)| opts.packs.as_ref().is_none_or(|w| w.contains(id)))
        .map(|(_, p)| p)
        .collect();
    packs.sort_by_key(|p| std::cmp::Reverse(p.installed_at));
    for (p, k) in packs.iter().zip(plan::speculation(packs.len(), opts.workers.saturating_sub(1))) {
        if k == 0 {
            continue;
        }
        for i in 0..k {
            let start = i * plan::BUNDLE_PART_BYTES;
            let end = start + plan::BUNDLE_PART_BYTES;
            let path = part_path(partial_dir, &p.manifest, start);
            let gate = Arc::new(Gate::default());
            spec.gates.insert(path.clone(), gate.clone());
            let rel = update_rel_path(&p.manifest);
            scope.spawn(move || {
                let _open = OpenOnDrop(gate);
                // After the catalog's request, so that its small answer is not queued
                // behind these parts at the link's bottleneck.
                std::thread::sleep(SPECULATION_LAG);
                let _ = source.get_range(&rel, start, end, end - start, &path, false);
            });
        }
        spec.prefix.insert(p.manifest, k);
        spec.slots += k as usize;
    }
    spec
}

/// The pool lane of an object of `len` decoded bytes.
fn lane(len: u64) -> Lane {
    if plan::is_large(len) { Lane::Large } else { Lane::Small }
}
