//! The installed packs, as the server reads them: `DATA/repo/` is a static repository
//! written only by `preau-sync`'s apply step. The server never writes there.
//!
//! `Library` holds a snapshot (pack id → manifest) that is swapped whole on `reload()`,
//! so a request sees either the old or the new set of packs, never a mix.

#[cfg(feature = "serve")]
pub mod cache;
pub mod range;
#[cfg(feature = "serve")]
pub mod repo_static;
#[cfg(feature = "serve")]
pub mod serve;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use anyhow::{Context, Result, bail};
use preau_pack::{FileEntry, Hash, Manifest};

/// Largest file read whole into memory (pages, quiz data). Bigger files are streamed.
pub const MAX_WHOLE_READ_BYTES: u64 = 64 * 1024 * 1024;

/// The prefix of box-only files inside a pack: never served under `/packs/`.
pub const PRIVATE_PREFIX: &str = "_preau/";

/// One installed pack.
#[derive(Debug)]
pub struct Pack {
    pub id: String,
    pub version: u64,
    pub manifest_hash: Hash,
    pub manifest: Manifest,
}

impl Pack {
    /// A file that may be served to browsers (`None` for private `_preau/` files).
    pub fn public_file(&self, path: &str) -> Option<&FileEntry> {
        if is_private(path) { None } else { self.manifest.file(path) }
    }
}

/// True for paths under `_preau/`, in any letter case (a FAT-born `_PREAU/` too).
pub fn is_private(path: &str) -> bool {
    path.len() >= 6
        && path.as_bytes()[..6].eq_ignore_ascii_case(b"_preau")
        && matches!(path.as_bytes().get(6), None | Some(b'/'))
}

#[derive(Default)]
struct Snapshot {
    packs: BTreeMap<String, Arc<Pack>>,
    catalog_version: u64,
    /// Objects that only `_preau/` files use (quiz answers), in the installed versions
    /// and the versions kept before them: `/repo/` gives them to peers only, sealed.
    private_objects: HashSet<Hash>,
    /// Objects `/repo/objects/` may serve in clear: the manifests and the objects of
    /// public files of the installed and kept versions. Anything else is refused, so an
    /// object the server has not classified yet (a version installed after the last
    /// reload) is never public by default.
    public_objects: HashSet<Hash>,
    /// Kept update bundles (`updates/…/<from>`) that `/repo/` may serve: those of packs
    /// without private files. A bundle of a pack with quiz answers would carry them in
    /// clear; peers fetch such updates object by object instead.
    public_updates: HashSet<Hash>,
}

/// The objects that carry the bytes of `_preau/` files (their chunks and the deltas
/// that produce them) and that no public file also uses: what a pupil must not be able
/// to fetch from `/repo/objects/`. Manifests stay public: they hold names and hashes,
/// not answers.
pub fn private_objects<'a>(manifests: impl IntoIterator<Item = &'a Manifest>) -> HashSet<Hash> {
    classify(manifests).0
}

/// The private objects (as [`private_objects`]) and the public ones: the objects of
/// public files. Every object of these manifests' files is in exactly one of the two.
pub fn classify<'a>(manifests: impl IntoIterator<Item = &'a Manifest>) -> (HashSet<Hash>, HashSet<Hash>) {
    let mut private = HashSet::new();
    let mut public = HashSet::new();
    for m in manifests {
        let mut private_files = HashSet::new();
        for f in &m.files {
            let chunks = f.chunk_list().into_iter().map(|c| c.0);
            if is_private(&f.path) {
                private_files.insert(f.hash);
                private.extend(chunks);
            } else {
                public.extend(chunks);
            }
        }
        for d in &m.deltas {
            if private_files.contains(&d.to) {
                private.insert(d.object);
            } else {
                public.insert(d.object);
            }
        }
    }
    private.retain(|h| !public.contains(h));
    (private, public)
}

pub struct Library {
    repo_dir: PathBuf,
    snapshot: RwLock<Arc<Snapshot>>,
    /// Called after every reload: whatever derives from the installed packs (the search
    /// index) follows the same switch.
    listeners: Mutex<Vec<Listener>>,
}

type Listener = Box<dyn Fn() + Send + Sync>;

impl Library {
    /// Opens the installed packs in `repo_dir` (a missing folder is an empty box).
    pub fn open(repo_dir: &Path) -> Result<Library> {
        let lib = Library {
            repo_dir: repo_dir.to_path_buf(),
            snapshot: RwLock::new(Arc::default()),
            listeners: Mutex::default(),
        };
        lib.reload()?;
        Ok(lib)
    }

    pub fn repo_dir(&self) -> &Path {
        &self.repo_dir
    }

    /// Reads the installed packs again (after a sync installed or removed one).
    pub fn reload(&self) -> Result<()> {
        let snap = store::load(&self.repo_dir)
            .with_context(|| format!("cannot read the installed packs in {}", self.repo_dir.display()))?;
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(snap);
        for listener in self.listeners.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            listener();
        }
        Ok(())
    }

    /// Calls `f` after every reload (an install, update or removal made visible).
    pub fn on_reload(&self, f: impl Fn() + Send + Sync + 'static) {
        self.listeners.lock().unwrap_or_else(|e| e.into_inner()).push(Box::new(f));
    }

    fn snap(&self) -> Arc<Snapshot> {
        self.snapshot.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The installed packs, sorted by id.
    pub fn list(&self) -> Vec<Arc<Pack>> {
        self.snap().packs.values().cloned().collect()
    }

    pub fn get(&self, id: &str) -> Option<Arc<Pack>> {
        self.snap().packs.get(id).cloned()
    }

    pub fn len(&self) -> usize {
        self.snap().packs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `/repo/objects/{hash}` holds bytes of private `_preau/` files only.
    pub fn is_private_object(&self, hash: &Hash) -> bool {
        self.snap().private_objects.contains(hash)
    }

    /// Whether `/repo/objects/{hash}` may be served in clear: known, and public.
    pub fn is_public_object(&self, hash: &Hash) -> bool {
        self.snap().public_objects.contains(hash)
    }

    /// Whether the kept update bundle `updates/…/{from}` may be served (no private bytes).
    pub fn is_public_update(&self, from: &Hash) -> bool {
        self.snap().public_updates.contains(from)
    }

    /// The version of the installed catalog (0 when nothing is installed).
    pub fn catalog_version(&self) -> u64 {
        self.snap().catalog_version
    }

    /// Reads a whole file (bounded by `MAX_WHOLE_READ_BYTES`). Blocking: call it from
    /// `spawn_blocking` in async code.
    pub fn read_file(&self, entry: &FileEntry) -> Result<Vec<u8>> {
        if entry.size > MAX_WHOLE_READ_BYTES {
            bail!("{:?} has {} bytes, more than {MAX_WHOLE_READ_BYTES} to read whole", entry.path, entry.size);
        }
        store::read_range(&self.repo_dir, entry, 0, entry.size)
    }

    /// Reads `len` bytes at `start`, touching only the chunks that hold them. Blocking.
    pub fn read_range(&self, entry: &FileEntry, start: u64, len: u64) -> Result<Vec<u8>> {
        if start.checked_add(len).is_none_or(|end| end > entry.size) {
            bail!("range {start}+{len} is outside {:?} ({} bytes)", entry.path, entry.size);
        }
        if len > MAX_WHOLE_READ_BYTES {
            bail!("range of {len} bytes is more than {MAX_WHOLE_READ_BYTES} to read at once");
        }
        store::read_range(&self.repo_dir, entry, start, len)
    }

    /// Installs (or updates) the packs of a repository folder (a USB stick) through
    /// preau-sync's one verified apply step, then reloads. `trusted` are root keys
    /// accepted in addition to the ones the box already trusts.
    pub fn install_from_folder(
        &self,
        folder: &Path,
        trusted: &[preau_pack::PublicKey],
    ) -> Result<preau_sync::InstallSummary> {
        let data_dir = self.repo_dir.parent().context("the repository folder has no parent data folder")?;
        let summary = preau_sync::install_from_folder(folder, data_dir, trusted, None)
            .with_context(|| format!("cannot install packs from {}", folder.display()))?;
        self.reload()?;
        Ok(summary)
    }

    /// Reads a box-only file `_preau/{path}` of a pack (quiz answers, course outline).
    /// `Ok(None)` when the pack or the file does not exist. Blocking.
    pub fn read_private(&self, pack_id: &str, path: &str) -> Result<Option<Vec<u8>>> {
        let Some(pack) = self.get(pack_id) else { return Ok(None) };
        let full = format!("{PRIVATE_PREFIX}{}", path.trim_start_matches('/'));
        match pack.manifest.file(&full) {
            Some(entry) => self.read_file(entry).map(Some),
            None => Ok(None),
        }
    }
}

/// The reading of `DATA/repo/`, through `preau-pack`'s repository reader.
mod store {
    use preau_pack::installed::Installed;
    use preau_pack::repo::Repo;

    use super::*;

    pub fn load(repo_dir: &Path) -> Result<Snapshot> {
        let installed = Installed::load(repo_dir)?;
        if installed.packs.is_empty() {
            return Ok(Snapshot::default());
        }
        let repo = Repo::open(repo_dir)?;
        let (root, _) = repo.load_root()?;
        let catalog_version = repo.load_catalog_top(&root)?.version;
        let mut packs = BTreeMap::new();
        let mut previous = Vec::new();
        let mut manifests = HashSet::new();
        let mut public_updates = HashSet::new();
        for (id, p) in &installed.packs {
            let manifest =
                repo.read_manifest(&p.manifest, p.manifest_size).with_context(|| format!("manifest of pack {id:?}"))?;
            manifests.insert(p.manifest);
            if let Some(h) = manifest.previous {
                manifests.insert(h);
                previous.extend(previous_manifest(&repo, &h));
                if !manifest.files.iter().any(|f| is_private(&f.path)) {
                    public_updates.insert(h);
                }
            }
            let pack = Pack { id: id.clone(), version: p.version, manifest_hash: p.manifest, manifest };
            packs.insert(id.clone(), Arc::new(pack));
        }
        let (private_objects, mut public_objects) =
            classify(packs.values().map(|p| &p.manifest).chain(previous.iter()));
        // Manifests hold names and hashes, not answers: peers need them to pull.
        public_objects.extend(manifests);
        Ok(Snapshot { packs, catalog_version, private_objects, public_objects, public_updates })
    }

    /// The manifest of the version before, which the sync keeps on disk (and `/repo/`
    /// serves) until the next update; `None` when it is gone.
    fn previous_manifest(repo: &Repo, hash: &Hash) -> Option<Manifest> {
        let stored = repo.read_stored(hash).ok()?;
        let bytes = preau_pack::object::decode_bounded(&stored, preau_pack::limits::MAX_MANIFEST_BYTES).ok()?;
        (Hash::of(&bytes) == *hash).then(|| Manifest::from_bytes(&bytes).ok()).flatten()
    }

    pub fn read_range(repo_dir: &Path, entry: &FileEntry, start: u64, len: u64) -> Result<Vec<u8>> {
        let repo = Repo::open(repo_dir)?;
        let bytes =
            if start == 0 && len == entry.size { repo.read_file(entry)? } else { repo.read_range(entry, start, len)? };
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_paths_in_any_case() {
        for p in ["_preau/quiz/q1.json", "_PREAU/x", "_Preau", "_preau"] {
            assert!(is_private(p), "{p}");
        }
        for p in ["_preaux/a", "a/_preau/b", "preau/a", "_pre"] {
            assert!(!is_private(p), "{p}");
        }
    }
}
