//! `preau sync pull`: bring a box's packs up to date from any source.
//!
//! 1. verify the source's root chain and catalog (`trust`);
//! 2. for each pack whose catalog manifest differs from the installed one, get the new
//!    manifest (a delta from the installed manifest when the catalog offers one) and
//!    plan its objects (`plan`, pure);
//! 3. fetch, verify and write them (`fetch`), rebuilding changed files from deltas where
//!    the box holds the old file, falling back to chunks when a delta is missing or bad;
//! 4. switch atomically: signed metadata, then `installed.json` (`apply`);
//! 5. collect garbage, only when everything asked for is installed.
//!
//! Everything fetched is written as verified objects before the switch, so an
//! interrupted pull (cut, kill, power loss) resumes where it stopped: the next plan
//! finds those objects present, and partial objects resume with Range requests.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use preau_pack::installed::{Installed, InstalledPack};
use preau_pack::meta::{CatalogEntry, now_unix};
use preau_pack::object::{self, Encoding};
use preau_pack::repo::OBJECTS_DIR;
use preau_pack::{Error, Hash, Manifest, PublicKey, Repo, Result, delta, fsutil, limits};
use serde::Serialize;

use crate::apply;
use crate::fetch::{fetch_object, parallel};
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
    /// Parallel fetches (keep-alive connections).
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
            workers: 6,
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
    pub warnings: Vec<String>,
}

/// Pulls from `source` into the box data folder `data_dir` (its `repo/`).
pub fn pull(source: &dyn Source, data_dir: &Path, opts: &PullOptions) -> Result<PullSummary> {
    let started = Instant::now();
    let repo_dir = data_dir.join("repo");
    fsutil::create_dir_all_durable(&repo_dir.join(OBJECTS_DIR))?;
    let state_dir = data_dir.join(STATE_DIR);
    fsutil::create_dir_all_durable(&state_dir)?;
    let _lock = lock(&state_dir.join("pull.lock"))?;
    let partial_dir = state_dir.join("partial");
    fsutil::create_dir_all_durable(&partial_dir)?;

    // 1. Trust.
    let mut state = TrustState::load(data_dir)?;
    let mut trusted = opts.trusted.clone();
    trusted.extend(state.publisher_keys());
    let verified = trust::verify_source(source, &repo_dir, &trusted, &state, opts.now.unwrap_or_else(now_unix))?;
    if verified.catalog.issued > state.time_floor {
        state.time_floor = verified.catalog.issued;
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
        warnings: verified.warnings.clone(),
    };
    let ctx = Ctx {
        source,
        repo: &repo,
        partial_dir: &partial_dir,
        fetched: AtomicU64::new(0),
        opts,
        warnings: Mutex::new(vec![]),
    };

    // 2-3. Bring every wanted pack's objects in.
    let mut switch: Vec<(String, InstalledPack)> = Vec::new();
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
        match ctx.bring_pack(id, entry, current, &installed_manifests) {
            Ok(used) => {
                s.deltas_used += used.0;
                s.deltas_failed += used.1;
                switch.push((
                    id.clone(),
                    InstalledPack {
                        version: entry.version,
                        manifest: entry.manifest,
                        manifest_size: entry.manifest_size,
                        installed_at: now_unix(),
                    },
                ));
                s.updated.push(PackUpdate {
                    id: id.clone(),
                    from_version: current.map(|p| p.version),
                    version: entry.version,
                });
            }
            Err(PackError::Unavailable(why)) => s.incomplete.push((id.clone(), why)),
            Err(PackError::Fatal(e)) => return Err(e),
        }
    }

    // 4. The switch: metadata, then installed.json in one atomic rename.
    trust::install_metadata(&repo_dir, &verified)?;
    if !switch.is_empty() {
        for (id, p) in switch {
            installed.removed.remove(&id);
            installed.packs.insert(id, p);
        }
        installed.save(&repo_dir)?;
    }

    // 5. Garbage, only after a complete pull.
    if opts.gc && s.incomplete.is_empty() {
        let keep = apply::live_objects(&repo, &installed)?;
        let (n, b) = apply::collect_garbage(&repo, &keep)?;
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

enum Job {
    Delta(Box<DeltaStep>),
    Chunk(Hash, u64),
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

struct Ctx<'a> {
    source: &'a dyn Source,
    repo: &'a Repo,
    partial_dir: &'a PathBuf,
    fetched: AtomicU64,
    opts: &'a PullOptions<'a>,
    warnings: Mutex<Vec<String>>,
}

impl Ctx<'_> {
    fn warn(&self, w: String) {
        self.warnings.lock().unwrap_or_else(|e| e.into_inner()).push(w);
    }

    fn object(&self, hash: &Hash, len: u64) -> Result<Option<Vec<u8>>> {
        let r = fetch_object(self.source, self.repo, self.partial_dir, hash, len, &self.fetched);
        if let Some(p) = self.opts.progress {
            p(self.source.stats().bytes_downloaded, 0);
        }
        r
    }

    /// Fetches everything pack `id` at `entry` needs. Returns (deltas used, deltas failed).
    fn bring_pack(
        &self,
        id: &str,
        entry: &CatalogEntry,
        current: Option<&InstalledPack>,
        installed: &[Manifest],
    ) -> Result<(u64, u64), PackError> {
        if entry.manifest_size > limits::MAX_MANIFEST_BYTES {
            return Err(PackError::Fatal(Error::TooLarge {
                what: format!("manifest of pack {id}"),
                limit: limits::MAX_MANIFEST_BYTES,
            }));
        }
        let Some(bytes) = self.manifest(entry, current)? else {
            return Err(PackError::Unavailable(format!(
                "{} does not have the manifest of version {}",
                self.source.describe(),
                entry.version
            )));
        };
        let m = Manifest::from_bytes(&bytes)?;
        if m.meta.id != id || m.version != entry.version {
            return Err(PackError::Fatal(Error::Other(format!(
                "pack {id}: the catalog names version {} but the manifest is {:?} version {} (mix-and-match refused)",
                entry.version, m.meta.id, m.version
            ))));
        }
        let present = |h: &Hash| self.repo.has_object(h);
        let bases = plan::bases(installed, &present);
        let p = plan::plan_pack(&m, &bases, &present);

        let missing: Mutex<Vec<Hash>> = Mutex::new(Vec::new());
        let fallback: Mutex<Vec<(Hash, u64)>> = Mutex::new(Vec::new());
        let (used, failed) = (AtomicU64::new(0), AtomicU64::new(0));
        // Deltas and chunks in one batch, so that a long link sees a single round of
        // requests; chunks of the files whose delta failed come in a second batch.
        let jobs: Vec<Job> = p
            .deltas
            .iter()
            .cloned()
            .map(|d| Job::Delta(Box::new(d)))
            .chain(p.fetch.iter().map(|&(h, l)| Job::Chunk(h, l)))
            .collect();
        let run = |job: Job| -> Result<()> {
            match job {
                Job::Delta(step) => {
                    if self.apply_delta(&step)? {
                        used.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                        fallback
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .extend(plan::fallback_chunks(&step, &present));
                    }
                }
                Job::Chunk(h, len) => {
                    if self.object(&h, len)?.is_none() {
                        missing.lock().unwrap_or_else(|e| e.into_inner()).push(h);
                    }
                }
            }
            Ok(())
        };
        parallel(jobs, self.opts.workers, &run)?;
        let mut second: Vec<(Hash, u64)> = std::mem::take(&mut *fallback.lock().unwrap_or_else(|e| e.into_inner()));
        second.sort();
        second.dedup();
        parallel(second.into_iter().map(|(h, l)| Job::Chunk(h, l)).collect(), self.opts.workers, &run)?;
        let missing = missing.into_inner().unwrap_or_default();
        if let Some(h) = missing.first() {
            return Err(PackError::Unavailable(format!(
                "{} lacks {} object(s) of version {}, for example {h}",
                self.source.describe(),
                missing.len(),
                m.version
            )));
        }
        if let Some(h) = apply::complete(self.repo, &m) {
            return Err(PackError::Fatal(Error::Other(format!(
                "pack {id}: object {h} is still missing after the pull"
            ))));
        }
        Ok((used.into_inner(), failed.into_inner()))
    }

    /// The new manifest's bytes (verified), from disk, a delta, or the source.
    fn manifest(&self, entry: &CatalogEntry, current: Option<&InstalledPack>) -> Result<Option<Vec<u8>>> {
        let present = |h: &Hash| self.repo.has_object(h);
        match plan::manifest_fetch(entry, current.map(|p| (p.manifest, p.manifest_size)), &present) {
            ManifestFetch::Present => {
                return self.repo.read_object(&entry.manifest, entry.manifest_size).map(Some);
            }
            ManifestFetch::Delta { from, from_size, object, size } => {
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
