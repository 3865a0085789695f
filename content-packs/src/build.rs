//! Building a pack version from a [`SourceTree`] into a repository.
//!
//! The order of writes is what makes a build safe to kill at any moment:
//! 1. everything is checked first (paths, collisions, sizes, the key);
//! 2. new objects are written into a private staging folder;
//! 3. they are fsynced and renamed into `objects/`, and those folders fsynced;
//! 4. only then is the catalog re-signed and atomically replaced.
//!
//! A build that fails before step 4 removes its staging folder and leaves the
//! repository exactly as it was; a killed build leaves a staging folder that the next
//! build sweeps, and the old catalog, which still verifies.

use std::collections::HashSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::hash::Hash;
use crate::manifest::{ChunkRef, FileEntry, MANIFEST_FORMAT, Manifest};
use crate::meta::{CatalogEntry, now_unix};
use crate::object::{self, Encoding};
use crate::repo::{Repo, object_rel_path, update_rel_path};
use crate::sign::SecretKey;
use crate::source::{SourceData, SourceTree};
use crate::{Error, IoContext, Result, fsutil, limits, path};

#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// zstd level for new objects; publishing uses 19.
    pub level: i32,
    /// Largest file accepted.
    pub max_file_bytes: u64,
    /// How long the re-signed catalog stays valid for online sources.
    pub catalog_lifetime_secs: u64,
    /// How many previous versions of a pack get an update bundle straight to the new
    /// one (the *K-window*): a box at any of them updates in one bundle; older boxes
    /// fetch manifests and chunks. 1 is "only the version before"; 0 makes no bundles.
    pub bundle_window: usize,
}

/// Default K-window: a box that misses up to eight versions still gets one bundle.
pub const DEFAULT_BUNDLE_WINDOW: usize = 8;
/// Largest K-window accepted (each version stores one bundle per version in it).
pub const MAX_BUNDLE_WINDOW: usize = 64;

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            level: 19,
            max_file_bytes: limits::DEFAULT_MAX_FILE_BYTES,
            catalog_lifetime_secs: 90 * 24 * 3600,
            bundle_window: DEFAULT_BUNDLE_WINDOW,
        }
    }
}

/// What a build did, for people (`Display`) and scripts (`--json`).
#[derive(Debug, Clone, Serialize)]
pub struct BuildSummary {
    pub id: String,
    pub version: u64,
    pub manifest: Hash,
    /// True when the source is identical to the current version: nothing was written.
    pub unchanged: bool,
    pub files: u64,
    pub bytes_read: u64,
    pub chunks_total: u64,
    pub chunks_new: u64,
    pub chunks_reused: u64,
    /// Bytes of new object files written to the repository (compressed sizes).
    pub bytes_added: u64,
    pub catalog_version: u64,
}

/// Builds `tree` as the next version of its pack (`tree.meta.id`) in `repo_dir`,
/// creating the repository if needed. `progress(done, total)` is called as bytes are read.
pub fn build(
    repo_dir: &Path,
    tree: SourceTree,
    key: &SecretKey,
    opts: &BuildOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<BuildSummary> {
    let mut out = build_many(repo_dir, vec![tree], key, opts, progress)?;
    Ok(out.remove(0))
}

/// Builds several packs into `repo_dir` and publishes the catalog once, at the end (a
/// national repository's first fill, or a mirror run, without re-signing the catalog
/// per pack). The summaries are in the order of `trees`.
pub fn build_many(
    repo_dir: &Path,
    mut trees: Vec<SourceTree>,
    key: &SecretKey,
    opts: &BuildOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Vec<BuildSummary>> {
    let mut totals = Vec::with_capacity(trees.len());
    let mut ids = std::collections::BTreeSet::new();
    for tree in &mut trees {
        totals.push(check_tree(tree, opts)?);
        if !ids.insert(tree.meta.id.clone()) {
            return Err(Error::Other(format!("pack {:?} is given twice", tree.meta.id)));
        }
    }
    let existed = repo_dir.join(crate::repo::ROOT_FILE).is_file();
    if !existed {
        // Only create the repository once the source is known to be good.
        fsutil::create_dir_all_durable(repo_dir)?;
    }
    let lock = crate::repo::lock_repo(repo_dir)?;
    let repo = Repo::open_or_create(repo_dir, key)?;
    let root = repo.verified_root(None)?;
    crate::repo::require_catalog_key(&root, key, repo_dir)?;
    let mut catalog = repo.load_catalog(&root)?;
    sweep_stale_staging(repo_dir);
    let base = catalog.version;
    let mut summaries = Vec::with_capacity(trees.len());
    let mut beyond_all = Vec::new();
    for (tree, total) in trees.into_iter().zip(totals) {
        let id = tree.meta.id.clone();
        let (entry, summary, beyond) = build_one(&repo, &catalog, base, tree, total, opts, progress)?;
        if let Some(e) = entry {
            catalog.packs.insert(id, e);
        }
        beyond_all.extend(beyond);
        summaries.push(summary);
    }
    if summaries.iter().all(|s| s.unchanged) {
        return Ok(summaries);
    }

    // 4. Re-sign the catalog: the single switch to the new versions.
    let now = now_unix();
    catalog.version = base + 1;
    catalog.issued = now.max(catalog.issued);
    catalog.expires = now + opts.catalog_lifetime_secs;
    catalog.root_version = root.version;
    repo.publish_catalog(&catalog, key)?;
    for h in beyond_all {
        let _ = fs::remove_file(repo_dir.join(update_rel_path(&h)));
    }
    drop(lock);
    Ok(summaries)
}

/// Stages and commits one pack's new objects; returns its new catalog entry (`None`
/// when unchanged), its summary and the bundle beyond its K-window to remove once the
/// catalog is out.
#[allow(clippy::too_many_arguments)]
fn build_one(
    repo: &Repo,
    catalog: &crate::meta::Catalog,
    base: u64,
    tree: SourceTree,
    total: u64,
    opts: &BuildOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(Option<CatalogEntry>, BuildSummary, Option<Hash>)> {
    // 2. Chunk, hash and stage new objects.
    let mut staging = Staging::new(repo)?;
    // Objects staged that are not chunks (deltas, bundles), for the summary.
    let mut delta_objects = 0u64;
    // The version just beyond the K-window: its bundle leads to an older version and is
    // removed once the new catalog is out (a box there gets a 404, not useless bytes).
    let mut beyond: Option<Hash> = None;
    let result = (|| {
        let mut files = Vec::with_capacity(tree.files.len());
        let mut done = 0u64;
        let (mut chunks_total, mut chunks_reused) = (0u64, 0u64);
        for f in &tree.files {
            let media_type = media_type_of(&f.path);
            let enc = Encoding { level: opts.level, try_compress: object::is_compressible(&media_type) };
            let reader: Box<dyn Read> = match &f.data {
                SourceData::Bytes(b) => Box::new(&b[..]),
                SourceData::File(p) => Box::new(fs::File::open(p).context(|| format!("reading {}", p.display()))?),
            };
            let mut hasher = blake3::Hasher::new();
            let mut chunks = Vec::new();
            crate::chunk::for_each_chunk(reader, |data| {
                hasher.update(data);
                let (h, new) = staging.put(data, enc)?;
                chunks_total += 1;
                chunks_reused += u64::from(!new);
                chunks.push(ChunkRef(h, data.len() as u64));
                done += data.len() as u64;
                progress(done, total);
                Ok(())
            })?;
            let size: u64 = chunks.iter().map(|c| c.1).sum();
            if size > opts.max_file_bytes {
                return Err(Error::TooLarge {
                    what: format!("file {:?} (grew while reading)", f.path),
                    limit: opts.max_file_bytes,
                });
            }
            let hash = Hash::from(hasher.finalize());
            if chunks.is_empty() {
                // An empty file is one empty object.
                staging.put(&[], enc)?;
            } else if chunks.len() == 1 {
                chunks.clear();
            }
            files.push(FileEntry { path: f.path.clone(), size, media_type, hash, chunks });
        }

        let previous = catalog.packs.get(&tree.meta.id).cloned();
        let prev_manifest = match &previous {
            Some(e) => Some(repo.read_manifest(&e.manifest, e.manifest_size)?),
            None => None,
        };
        if let Some(pm) = &prev_manifest
            && pm.files == files
            && pm.meta == tree.meta
        {
            let e = previous.as_ref().expect("previous entry");
            return Ok((None, summary_of(&tree, e.version, e.manifest, true, chunks_total, chunks_reused, done, base)));
        }
        // Per-file deltas against the previous version (see `delta`).
        let deltas = match &prev_manifest {
            Some(pm) => stage_deltas(repo, &mut staging, pm, &files, &tree, &mut delta_objects)?,
            None => Vec::new(),
        };
        let manifest = Manifest {
            format: MANIFEST_FORMAT,
            version: previous.as_ref().map_or(1, |e| e.version + 1),
            meta: tree.meta.clone(),
            previous: previous.as_ref().map(|e| e.manifest),
            files,
            deltas,
        };
        manifest.check()?;
        let bytes = manifest.to_bytes();
        let (mhash, _) = staging.put(&bytes, Encoding { level: opts.level, try_compress: true })?;
        // The new manifest as a delta against each of the last K versions, each with
        // an update bundle from that version (see `bundle`): a box pays for the changed
        // entries only, and a box several versions behind still updates in one bundle.
        let mut manifest_deltas = Vec::new();
        if let Some(e) = &previous {
            let pm = prev_manifest.as_ref().expect("a previous entry has a manifest");
            let versions = window(repo, e, pm, opts.bundle_window)?;
            if versions.len() >= opts.bundle_window.max(1) {
                beyond = versions.last().and_then(|v| v.2.previous);
            }
            for (from, from_size, from_manifest) in versions {
                let old_bytes = repo.read_object(&from, from_size)?;
                let Some(patch) = crate::delta::make(&old_bytes, &bytes) else { continue };
                if !crate::delta::worth_it(patch.len(), bytes.len() as u64) {
                    continue;
                }
                let (object, new) = staging.put(&patch, Encoding { level: 1, try_compress: false })?;
                delta_objects += u64::from(new);
                let bundle = if opts.bundle_window > 0 {
                    stage_bundle(repo, &mut staging, &from_manifest, &from, &manifest, object)?
                } else {
                    None
                };
                manifest_deltas.push(crate::meta::ManifestDelta { from, object, size: patch.len() as u64, bundle });
            }
        }
        // The previous version's delta stays in the catalog; older ones go to one object.
        let older = if manifest_deltas.first().is_some_and(|d| Some(d.from) == previous.as_ref().map(|e| e.manifest)) {
            manifest_deltas.split_off(1)
        } else {
            std::mem::take(&mut manifest_deltas)
        };
        let window = if older.is_empty() {
            None
        } else {
            let json = serde_json::to_vec(&older).expect("deltas serialise");
            let (object, new) = staging.put(&json, Encoding { level: opts.level, try_compress: true })?;
            delta_objects += u64::from(new);
            Some(crate::meta::WindowRef { object, size: json.len() as u64 })
        };
        let entry = CatalogEntry {
            version: manifest.version,
            manifest: mhash,
            manifest_size: bytes.len() as u64,
            size: manifest.total_size(),
            files: manifest.files.len() as u64,
            title: manifest.meta.title.clone(),
            language: manifest.meta.language.clone(),
            subjects: manifest.meta.subjects.clone(),
            level: manifest.meta.level.clone(),
            kind: manifest.meta.kind.clone(),
            published: now_unix(),
            manifest_deltas,
            window,
        };
        let s = summary_of(&tree, manifest.version, mhash, false, chunks_total, chunks_reused, done, base + 1);
        Ok((Some(entry), s))
    })();

    let (entry, mut summary) = match result {
        Ok(v) => v,
        Err(e) => {
            staging.discard();
            return Err(e);
        }
    };
    let Some(entry) = entry else {
        staging.discard();
        return Ok((None, summary, None));
    };

    // 3. Make the new objects durable and visible.
    // The manifest is a new object too, but not a chunk. It may be there already: a
    // publish to an object store that lost a race builds the same version again on the
    // winner's catalog, in a mirror that holds its objects (`preau-publish`).
    summary.chunks_new = staging.new_objects.saturating_sub(1 + delta_objects);
    summary.bytes_added = staging.commit()?;
    Ok((Some(entry), summary, beyond))
}

/// Checks everything that can be checked in `tree` before writing anything; returns
/// its size in bytes.
fn check_tree(tree: &mut SourceTree, opts: &BuildOptions) -> Result<u64> {
    path::check_pack_id(&tree.meta.id)?;
    tree.files.sort_by(|a, b| a.path.cmp(&b.path));
    if tree.files.len() > limits::MAX_FILES_PER_PACK {
        return Err(Error::Other(format!(
            "{} files, more than the limit of {}",
            tree.files.len(),
            limits::MAX_FILES_PER_PACK
        )));
    }
    let mut total = 0u64;
    for (i, f) in tree.files.iter().enumerate() {
        path::check_pack_path(&f.path)?;
        if i > 0 && tree.files[i - 1].path == f.path {
            return Err(Error::BadPath { path: f.path.clone(), why: "appears twice in the source".into() });
        }
        let size = match &f.data {
            SourceData::Bytes(b) => b.len() as u64,
            SourceData::File(p) => fs::metadata(p).context(|| format!("reading {}", p.display()))?.len(),
        };
        if size > opts.max_file_bytes {
            return Err(Error::TooLarge {
                what: format!("file {:?} ({size} bytes)", f.path),
                limit: opts.max_file_bytes,
            });
        }
        total += size;
    }
    path::check_collisions(tree.files.iter().map(|f| f.path.as_str()))?;
    if !tree.meta.entry.is_empty() && !tree.files.iter().any(|f| f.path == tree.meta.entry) {
        return Err(Error::Other(format!("the entry page {:?} is not a file of the pack", tree.meta.entry)));
    }

    Ok(total)
}

#[allow(clippy::too_many_arguments)]
fn summary_of(
    tree: &SourceTree,
    version: u64,
    manifest: Hash,
    unchanged: bool,
    chunks_total: u64,
    chunks_reused: u64,
    bytes_read: u64,
    catalog_version: u64,
) -> BuildSummary {
    BuildSummary {
        id: tree.meta.id.clone(),
        version,
        manifest,
        unchanged,
        files: tree.files.len() as u64,
        bytes_read,
        chunks_total,
        chunks_new: 0,
        chunks_reused,
        bytes_added: 0,
        catalog_version,
    }
}

/// The versions a new version gets a manifest delta (and a bundle) from: the previous
/// one, then its predecessors by the manifests' `previous` links, `k` in all (at least
/// the previous one, as before K-windows). A predecessor this repository no longer
/// holds ends the walk. Each: (manifest hash, its JSON length, the manifest).
fn window(repo: &Repo, prev: &CatalogEntry, pm: &Manifest, k: usize) -> Result<Vec<(Hash, u64, Manifest)>> {
    let k = k.clamp(1, MAX_BUNDLE_WINDOW);
    let mut out = vec![(prev.manifest, prev.manifest_size, pm.clone())];
    while out.len() < k {
        let Some(h) = out.last().expect("not empty").2.previous else { break };
        if out.iter().any(|(x, _, _)| *x == h) || !repo.has_object(&h) {
            break; // a loop would be a bug elsewhere; a missing one ends the history
        }
        let bytes = repo.read_manifest_bytes_unsized(&h)?;
        out.push((h, bytes.len() as u64, Manifest::from_bytes(&bytes)?));
    }
    Ok(out)
}

/// Makes, stages and lists the deltas from the files of `prev` to the changed `files`.
fn stage_deltas(
    repo: &Repo,
    staging: &mut Staging,
    prev: &Manifest,
    files: &[FileEntry],
    tree: &SourceTree,
    new_objects: &mut u64,
) -> Result<Vec<crate::manifest::DeltaRef>> {
    let mut out = Vec::new();
    for (old, new) in crate::delta::candidates(&prev.files, files) {
        let old_bytes = repo.read_file(old)?;
        let Ok(i) = tree.files.binary_search_by(|f| f.path.as_str().cmp(&new.path)) else { continue };
        let new_bytes = match &tree.files[i].data {
            SourceData::Bytes(b) => b.clone(),
            SourceData::File(p) => fs::read(p).context(|| format!("reading {}", p.display()))?,
        };
        if Hash::of(&new_bytes) != new.hash {
            return Err(Error::Other(format!("file {:?} changed while the pack was being built", new.path)));
        }
        let Some(patch) = crate::delta::make(&old_bytes, &new_bytes) else { continue };
        if !crate::delta::worth_it(patch.len(), new.size) {
            continue;
        }
        // The patch is already compressed: store it as a raw frame.
        let (_, fresh) = staging.put(&patch, Encoding { level: 1, try_compress: false })?;
        *new_objects += u64::from(fresh);
        out.push(crate::delta::delta_ref(&old.hash, &new.hash, &patch));
    }
    Ok(out)
}

/// Stages the update bundle from `prev` (manifest `from`) to `new` (see `bundle`): the
/// manifest patch `patch`, then what a box holding `prev` lacks, to be written at
/// `updates/…/<from>`, in the smaller of its two forms (per-file records, or referenced
/// against the changed files' previous versions). `None` when both are too large.
fn stage_bundle(
    repo: &Repo,
    staging: &mut Staging,
    prev: &Manifest,
    from: &Hash,
    new: &Manifest,
    patch: Hash,
) -> Result<Option<crate::meta::BundleRef>> {
    let plain = plain_bundle(staging, prev, new, patch)?;
    let referenced = referenced_bundle(repo, staging, prev, new, patch)?;
    let plain_len = plain.as_ref().map(|b| object::raw_frame_len(b.len() as u64));
    let chosen = match (plain, referenced) {
        (Some(_), Some((bytes, stored))) if (stored.len() as u64) < plain_len.expect("plain is some") => {
            Some((bytes, stored, true))
        }
        (Some(p), _) => {
            // Its records are zstd frames already: the bundle is stored raw (its exact
            // stored length, `object::raw_frame_len`, is what boxes split into parts).
            let stored = object::raw_frame(&p);
            Some((p, stored, false))
        }
        (None, Some((bytes, stored))) => Some((bytes, stored, true)),
        (None, None) => None,
    };
    let Some((bytes, stored, is_referenced)) = chosen else { return Ok(None) };
    staging.put_update(from, &stored)?;
    Ok(Some(crate::meta::BundleRef {
        object: Hash::of(&bytes),
        size: bytes.len() as u64,
        stored: is_referenced.then_some(stored.len() as u64),
    }))
}

/// The decoded bytes of the per-file bundle: the patch, then the per-file deltas and
/// chunks the box's planner would fetch (`bundle::members`).
fn plain_bundle(staging: &Staging, prev: &Manifest, new: &Manifest, patch: Hash) -> Result<Option<Vec<u8>>> {
    let members = crate::bundle::members(prev, new);
    let mut records = Vec::with_capacity(members.len() + 1);
    let mut total = 0u64;
    for h in std::iter::once(patch).chain(members) {
        let stored = staging.stored(&h)?;
        total += 36 + stored.len() as u64;
        if total > crate::bundle::BUILD_MAX_BUNDLE_BYTES {
            return Ok(None);
        }
        records.push((h, stored));
    }
    Ok(Some(crate::bundle::encode(&records)))
}

/// The referenced bundle: (decoded bytes, stored form). Its records are the patch and
/// every missing chunk as a raw frame, compressed in one frame against the previous
/// versions of the changed files. `None` when it would be too large.
fn referenced_bundle(
    repo: &Repo,
    staging: &Staging,
    prev: &Manifest,
    new: &Manifest,
    patch: Hash,
) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
    let bases = crate::bundle::referenced_bases(prev, new);
    if bases.is_empty() {
        return Ok(None); // nothing to refer to: the per-file form is as good
    }
    let first = (patch, staging.stored(&patch)?);
    let mut chunks = Vec::new();
    let mut total = 0u64;
    for (h, len) in crate::bundle::missing_chunks(prev, new) {
        total += 4 + len;
        if total > crate::bundle::MAX_BUNDLE_BYTES / 2 {
            return Ok(None);
        }
        let data = object::decode_verified(&staging.stored(&h)?, &h, len)?;
        chunks.push(object::raw_frame(&data));
    }
    let bytes = crate::bundle::encode_hashless(&first, &chunks);
    let mut prefix = Vec::new();
    for f in &bases {
        prefix.extend_from_slice(&repo.read_file(f)?);
    }
    let Some(frame) = crate::delta::make(&prefix, &bytes) else { return Ok(None) };
    let hashes: Vec<Hash> = bases.iter().map(|f| f.hash).collect();
    let stored = crate::bundle::encode_referenced(&hashes, &frame);
    if stored.len() as u64 > crate::bundle::BUILD_MAX_BUNDLE_BYTES {
        return Ok(None);
    }
    Ok(Some((bytes, stored)))
}

/// The media type of a pack path, from its extension.
pub fn media_type_of(path: &str) -> String {
    let lower = path.to_ascii_lowercase();
    if lower.ends_with(".md") || lower.ends_with(".markdown") {
        return "text/markdown".into();
    }
    mime_guess::from_path(path).first_raw().unwrap_or("application/octet-stream").to_string()
}

const STAGING_PREFIX: &str = ".staging-";

/// Removes staging folders left by killed builds (we hold the repository lock).
fn sweep_stale_staging(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(STAGING_PREFIX) {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// New objects of one build, kept apart until the build is known to succeed.
struct Staging {
    repo: Repo,
    dir: PathBuf,
    staged: Vec<Hash>,
    /// Update bundles staged, by the manifest they update.
    updates: Vec<Hash>,
    seen: HashSet<Hash>,
    new_objects: u64,
}

impl Staging {
    fn new(repo: &Repo) -> Result<Staging> {
        let mut r = [0u8; 6];
        getrandom::fill(&mut r).expect("the OS random source works");
        let dir = repo.dir().join(format!("{STAGING_PREFIX}{}", hex::encode(r)));
        fs::create_dir(&dir).context(|| format!("creating {}", dir.display()))?;
        Ok(Staging {
            repo: repo.clone(),
            dir,
            staged: Vec::new(),
            updates: Vec::new(),
            seen: HashSet::new(),
            new_objects: 0,
        })
    }

    /// Stages `data` unless the repository or this build already has it. Returns its hash
    /// and whether it is new.
    fn put(&mut self, data: &[u8], enc: Encoding) -> Result<(Hash, bool)> {
        let hash = Hash::of(data);
        if self.seen.contains(&hash) || self.repo.has_object(&hash) {
            return Ok((hash, false));
        }
        let stored = object::encode(data, enc);
        let path = self.dir.join(hash.to_hex());
        fs::write(&path, &stored).context(|| format!("writing {}", path.display()))?;
        self.seen.insert(hash);
        self.staged.push(hash);
        self.new_objects += 1;
        Ok((hash, true))
    }

    /// Stages the update bundle for a box holding the manifest `from` (stored bytes).
    fn put_update(&mut self, from: &Hash, stored: &[u8]) -> Result<()> {
        let path = self.dir.join(format!("update-{}", from.to_hex()));
        fs::write(&path, stored).context(|| format!("writing {}", path.display()))?;
        self.updates.push(*from);
        Ok(())
    }

    /// The stored bytes of an object this build staged or the repository holds.
    fn stored(&self, hash: &Hash) -> Result<Vec<u8>> {
        if self.seen.contains(hash) {
            let path = self.dir.join(hash.to_hex());
            return fs::read(&path).context(|| format!("reading {}", path.display()));
        }
        self.repo.read_stored(hash)
    }

    /// fsyncs every staged object, renames it into `objects/`, fsyncs the folders.
    /// Returns the bytes added.
    fn commit(self) -> Result<u64> {
        let mut added = 0u64;
        let mut dirs = HashSet::new();
        let objects = self.staged.iter().map(|h| (self.dir.join(h.to_hex()), object_rel_path(h)));
        let updates =
            self.updates.iter().map(|h| (self.dir.join(format!("update-{}", h.to_hex())), update_rel_path(h)));
        for (from, to) in objects.chain(updates) {
            let to = self.repo.dir().join(to);
            let f = fs::File::open(&from).context(|| format!("opening {}", from.display()))?;
            f.sync_all().context(|| format!("syncing {}", from.display()))?;
            added += f.metadata().context(|| format!("reading {}", from.display()))?.len();
            let parent = to.parent().expect("objects have a parent").to_path_buf();
            if !dirs.contains(&parent) {
                fsutil::create_dir_all_durable(&parent)?;
                dirs.insert(parent);
            }
            fs::rename(&from, &to).context(|| format!("moving {} into place", from.display()))?;
        }
        for d in &dirs {
            fsutil::sync_dir(d)?;
        }
        let _ = fs::remove_dir_all(&self.dir);
        Ok(added)
    }

    fn discard(self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}
