//! The local mirror of a repository kept in an object store: a folder the build code
//! writes as it writes any repository, plus a record (`.preau-publish.json`) of which of
//! its files are known to equal the store's, with their ETags.
//!
//! Two kinds of files, told apart by their content, not their folder:
//! - *content-addressed* files, whose name is the hash of their bytes (or of their
//!   decoded zstd frame): objects, and any future node named by its hash. Immutable: only
//!   ever created (`If-None-Match: *`); "already exists" means same name, same bytes.
//!   Never deleted by a publisher. Cached by CDNs for a year.
//! - everything else (`root.json`, `roots/`, `catalog.json`, `updates/…`): mutable
//!   metadata, replaced only on the ETag this publisher read (`If-Match`), or created if
//!   absent; `no-cache` for CDNs (revalidated at each request). Leaf hints
//!   (`hints/…`, copies of the current catalog leaves that boxes check by hash) are
//!   mutable too but plainly overwritten: only the catalog decides a race.
//!
//! The push writes content-addressed files first, then metadata, then the signed catalog
//! last: a reader that sees the new catalog finds everything it references. Files the
//! build removed (an update bundle beyond the K-window) are deleted after the catalog.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as StorePath;
use object_store::{
    Attribute, Attributes, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion,
};
use preau_pack::catalog_tree::{HINTS_DIR, parse_hint_name};
use preau_pack::limits::{MAX_CATALOG_BYTES, MAX_MANIFEST_BYTES, MAX_OBJECT_BYTES};
use preau_pack::repo::{CATALOG_FILE, OBJECTS_DIR, ROOT_FILE, ROOTS_DIR, UPDATES_DIR};
use preau_pack::{Hash, Manifest, Repo};
use serde::{Deserialize, Serialize};

use crate::Conflict;

const STATE_FILE: &str = ".preau-publish.json";
const LOCK_FILE: &str = ".preau-publish.lock";
/// Requests in flight at once (uploads and downloads of objects).
const PARALLEL: usize = 8;
/// Most metadata files listed (a national repository has a few per pack).
const MAX_LISTED: usize = 2_000_000;
/// The largest metadata file fetched (a catalog is the largest).
const MAX_METADATA_BYTES: u64 = MAX_CATALOG_BYTES;

pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
pub const MUTABLE: &str = "no-cache";

#[derive(Serialize, Deserialize, Default)]
struct State {
    /// Path relative to the repository → what the store holds there.
    files: BTreeMap<String, Known>,
}

#[derive(Serialize, Deserialize, Clone)]
struct Known {
    /// The store's ETag (none for content-addressed files: never updated).
    etag: Option<String>,
    /// blake3 of the bytes (hex), to see what the build changed.
    hash: String,
    immutable: bool,
}

/// What a push sent, for the summary.
#[derive(Debug, Default, Clone, Copy)]
pub struct PushStats {
    pub created: u64,
    /// Content-addressed files another publisher had already put there.
    pub already_there: u64,
    pub updated: u64,
    pub deleted: u64,
    pub bytes: u64,
}

pub struct Mirror {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    dir: PathBuf,
    state: State,
    /// The store's metadata files (everything outside `objects/`) and their ETags, as
    /// listed by the last `pull_metadata`.
    remote: BTreeMap<String, Option<String>>,
    rt: tokio::runtime::Runtime,
    _lock: fs::File,
}

impl Mirror {
    /// Opens (creating) the mirror folder `dir` of the store's `prefix`. One publisher per
    /// mirror at a time: a second one waits for the lock.
    pub fn open(store: Arc<dyn ObjectStore>, prefix: &str, dir: &Path) -> Result<Mirror> {
        // The mirror removes files it does not know: never point it at a folder of
        // something else (a typo in --s3-cache could name one's home).
        let foreign = !dir.join(STATE_FILE).exists()
            && fs::read_dir(dir).is_ok_and(|mut e| e.any(|e| e.is_ok_and(|e| e.file_name() != LOCK_FILE)));
        if foreign {
            bail!(
                "{} n'est pas vide et n'est pas un miroir de publication : choisissez un dossier neuf \
                 (not empty and not a publishing mirror: choose a new folder)",
                dir.display()
            );
        }
        fs::create_dir_all(dir).with_context(|| format!("création de {} (creating it)", dir.display()))?;
        let lock = fs::File::create(dir.join(LOCK_FILE)).context("verrou du miroir (mirror lock)")?;
        lock.lock().context("verrou du miroir (mirror lock)")?;
        let state = match fs::read(dir.join(STATE_FILE)) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_default(),
            Err(_) => State::default(),
        };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("tokio runtime")?;
        let m = Mirror {
            store,
            prefix: prefix.to_string(),
            dir: dir.to_path_buf(),
            state,
            remote: BTreeMap::new(),
            rt,
            _lock: lock,
        };
        m.save()?;
        Ok(m)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn loc(&self, rel: &str) -> StorePath {
        if self.prefix.is_empty() { StorePath::from(rel) } else { StorePath::from(format!("{}/{rel}", self.prefix)) }
    }

    fn save(&self) -> Result<()> {
        let bytes = serde_json::to_vec(&self.state).expect("state serialises");
        preau_pack::fsutil::atomic_write(&self.dir.join(STATE_FILE), &bytes)?;
        Ok(())
    }

    /// Brings the metadata up to date: files left by an interrupted attempt go, the
    /// store's metadata is listed with its ETags, and every metadata file except update
    /// bundles (which the build only writes) is fetched when its ETag changed.
    pub fn pull_metadata(&mut self) -> Result<()> {
        // A file the record does not know is a leftover of a build whose push failed:
        // it may never have reached the store, so it must not pass for published.
        for rel in walk(&self.dir)? {
            if !self.state.files.contains_key(&rel) {
                let _ = fs::remove_file(self.dir.join(&rel));
            }
        }
        self.remote = self.list_metadata()?;
        let stale: Vec<String> = self
            .state
            .files
            .iter()
            .filter(|(rel, k)| !k.immutable && self.remote.get(*rel).is_none_or(|e| *e != k.etag))
            .map(|(rel, _)| rel.clone())
            .collect();
        for rel in stale {
            self.state.files.remove(&rel);
            let _ = fs::remove_file(self.dir.join(&rel));
        }
        let wanted: Vec<String> = self
            .remote
            .keys()
            .filter(|rel| !rel.starts_with(&format!("{UPDATES_DIR}/")) && !self.state.files.contains_key(*rel))
            .cloned()
            .collect();
        for rel in wanted {
            self.fetch(&rel, MAX_METADATA_BYTES, false)?;
        }
        self.save()
    }

    /// Lists every file outside `objects/` (objects are many and never change: they are
    /// not listed, a create that finds one is enough).
    fn list_metadata(&self) -> Result<BTreeMap<String, Option<String>>> {
        let top = (!self.prefix.is_empty()).then(|| StorePath::from(self.prefix.as_str()));
        let objects = self.loc(OBJECTS_DIR);
        let mut out = BTreeMap::new();
        let mut todo = vec![top];
        while let Some(p) = todo.pop() {
            let listed = self.rt.block_on(self.store.list_with_delimiter(p.as_ref()))?;
            for o in listed.objects {
                let rel = self.rel(&o.location)?;
                out.insert(rel, o.e_tag);
            }
            todo.extend(listed.common_prefixes.into_iter().filter(|c| *c != objects).map(Some));
            if out.len() > MAX_LISTED {
                bail!("plus de {MAX_LISTED} fichiers de métadonnées (more than {MAX_LISTED} metadata files)");
            }
        }
        Ok(out)
    }

    fn rel(&self, loc: &StorePath) -> Result<String> {
        let s = loc.as_ref();
        let rel = if self.prefix.is_empty() { Some(s) } else { s.strip_prefix(&format!("{}/", self.prefix)) };
        rel.map(str::to_string).with_context(|| format!("{s} n'est pas sous {} (not under the prefix)", self.prefix))
    }

    /// Downloads one file into the mirror and records it. `Ok(false)` when absent.
    fn fetch(&mut self, rel: &str, max: u64, immutable: bool) -> Result<bool> {
        let got = self.rt.block_on(get_bounded(&self.store, self.loc(rel), max));
        let Some((bytes, etag)) = got.with_context(|| format!("lecture de {rel} (reading it)"))? else {
            return Ok(false);
        };
        self.write_local(rel, &bytes)?;
        let hash = blake3::hash(&bytes).to_hex().to_string();
        self.state.files.insert(rel.to_string(), Known { etag, hash, immutable });
        Ok(true)
    }

    fn write_local(&self, rel: &str, bytes: &[u8]) -> Result<()> {
        let path = self.dir.join(rel);
        fs::create_dir_all(path.parent().expect("a file has a folder"))?;
        preau_pack::fsutil::atomic_write(&path, bytes)?;
        Ok(())
    }

    /// Fetches what the build reads to make pack `id`'s next version: its last `window`
    /// manifests (one more: its bundle is removed when it leaves the window), every chunk
    /// of their files (deltas and bundles are made against them), and their update
    /// bundles (so that a removal by the build is seen). A pack not yet published needs
    /// nothing.
    pub fn pull_pack(&mut self, id: &str, window: usize) -> Result<()> {
        if !self.dir.join(ROOT_FILE).is_file() {
            return Ok(());
        }
        let repo = Repo::open(&self.dir)?;
        let root = repo.verified_root(None)?;
        let Some(entry) = repo.load_catalog(&root)?.packs.remove(id) else { return Ok(()) };
        let mut next = Some(entry.manifest);
        let mut chunks: Vec<(Hash, u64)> = Vec::new();
        let mut seen = HashSet::new();
        for _ in 0..=window.max(1) {
            let Some(h) = next.take() else { break };
            if !seen.insert(h) {
                break;
            }
            let rel = preau_pack::repo::object_rel_path(&h);
            if !repo.has_object(&h) && !self.fetch(&rel, MAX_MANIFEST_BYTES + 1024, true)? {
                break; // an older version the store no longer holds ends the history
            }
            let m: Manifest = repo.read_manifest_unsized(&h)?;
            for f in &m.files {
                chunks.extend(f.chunk_list().into_iter().map(|c| (c.0, c.1)));
            }
            let upd = preau_pack::repo::update_rel_path(&h);
            if self.remote.contains_key(&upd) && !self.state.files.contains_key(&upd) {
                self.fetch(&upd, MAX_OBJECT_BYTES, false)?;
            }
            next = m.previous;
        }
        chunks.retain(|(h, _)| !repo.has_object(h));
        chunks.sort();
        chunks.dedup();
        let store = self.store.clone();
        let jobs = chunks.into_iter().map(|(h, len)| {
            let rel = preau_pack::repo::object_rel_path(&h);
            let loc = self.loc(&rel);
            let store = store.clone();
            async move {
                // The largest stored form of `len` bytes (a raw-block frame), as preau-sync bounds it.
                let got = get_bounded(&store, loc, len + 18 + 3 * (len / (128 * 1024) + 1)).await;
                (rel, got)
            }
        });
        let fetched: Vec<_> = self.rt.block_on(futures::stream::iter(jobs).buffer_unordered(PARALLEL).collect());
        for (rel, got) in fetched {
            // A missing chunk is reported by the build that needs it, with its hash.
            if let Some((bytes, _)) = got.with_context(|| format!("lecture de {rel} (reading it)"))? {
                self.write_local(&rel, &bytes)?;
                let hash = blake3::hash(&bytes).to_hex().to_string();
                self.state.files.insert(rel, Known { etag: None, hash, immutable: true });
            }
        }
        self.save()
    }

    /// Sends what the build changed: content-addressed files (create), metadata (update
    /// on the ETag read, or create), the catalog last, then removals. A precondition that
    /// fails on metadata is a [`Conflict`]: nothing after it was written.
    pub fn push(&mut self) -> Result<PushStats> {
        let mut stats = PushStats::default();
        let mut fresh = Vec::new();
        let mut changed = Vec::new();
        let local = walk(&self.dir)?;
        for rel in &local {
            if self.state.files.get(rel).is_some_and(|k| k.immutable) {
                continue;
            }
            let bytes = fs::read(self.dir.join(rel)).with_context(|| format!("lecture de {rel}"))?;
            let hash = blake3::hash(&bytes).to_hex().to_string();
            if self.state.files.get(rel).is_some_and(|k| k.hash == hash) {
                continue;
            }
            if content_addressed(rel, &bytes) {
                fresh.push((rel.clone(), hash));
            } else {
                changed.push((rel.clone(), hash));
            }
        }

        // 1. Content-addressed files, in parallel.
        let store = self.store.clone();
        let jobs = fresh.into_iter().map(|(rel, hash)| {
            let loc = self.loc(&rel);
            let path = self.dir.join(&rel);
            let store = store.clone();
            async move {
                let bytes = tokio::fs::read(&path).await?;
                let n = bytes.len() as u64;
                let opts = put_options(&rel, PutMode::Create, true);
                let created = match store.put_opts(&loc, PutPayload::from(bytes), opts).await {
                    Ok(_) => true,
                    Err(object_store::Error::AlreadyExists { .. }) => false,
                    Err(object_store::Error::Precondition { .. }) => false,
                    Err(e) => return Err(anyhow::Error::from(e).context(format!("écriture de {rel} (writing it)"))),
                };
                Ok::<_, anyhow::Error>((rel, hash, created, n))
            }
        });
        let results: Vec<_> = self.rt.block_on(futures::stream::iter(jobs).buffer_unordered(PARALLEL).try_collect())?;
        for (rel, hash, created, n) in results {
            if created {
                stats.created += 1;
                stats.bytes += n;
            } else {
                stats.already_there += 1;
            }
            self.state.files.insert(rel, Known { etag: None, hash, immutable: true });
        }
        self.save()?;

        // 2. Metadata: new root versions before root.json, root.json before the
        // catalog, the catalog last (the commit point).
        changed.sort_by_key(|(rel, _)| {
            let rank = if rel == CATALOG_FILE {
                3
            } else if rel == ROOT_FILE {
                2
            } else if rel.starts_with(&format!("{ROOTS_DIR}/")) {
                0
            } else {
                1
            };
            (rank, rel.clone())
        });
        for (rel, hash) in changed {
            let bytes = fs::read(self.dir.join(&rel)).with_context(|| format!("lecture de {rel}"))?;
            let n = bytes.len() as u64;
            let mode = match self.remote.get(&rel) {
                // A leaf hint is only a hint (boxes use it when it hashes to the leaf the
                // signed tree names): overwritten, never a reason to lose a race. The
                // conditional update of the catalog after it still decides who wins; a
                // loser rewrites the hints on the winner's tree at its next attempt.
                _ if is_hint(&rel) => PutMode::Overwrite,
                Some(etag) => PutMode::Update(UpdateVersion { e_tag: etag.clone(), version: None }),
                None => PutMode::Create,
            };
            let put = self.rt.block_on(self.store.put_opts(
                &self.loc(&rel),
                PutPayload::from(bytes),
                put_options(&rel, mode, false),
            ));
            match put {
                Ok(r) => {
                    stats.updated += u64::from(self.remote.contains_key(&rel));
                    stats.created += u64::from(!self.remote.contains_key(&rel));
                    stats.bytes += n;
                    self.remote.insert(rel.clone(), r.e_tag.clone());
                    self.state.files.insert(rel, Known { etag: r.e_tag, hash, immutable: false });
                    self.save()?;
                }
                Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                    self.save()?;
                    return Err(Conflict(rel).into());
                }
                Err(e) => {
                    self.save()?;
                    return Err(anyhow::Error::from(e).context(format!("écriture de {rel} (writing it)")));
                }
            }
        }

        // 3. Metadata the build removed, now that no new catalog points to it.
        let local: HashSet<&String> = local.iter().collect();
        let gone: Vec<String> = self
            .state
            .files
            .iter()
            .filter(|(rel, k)| !k.immutable && !local.contains(rel))
            .map(|(rel, _)| rel.clone())
            .collect();
        for rel in gone {
            self.rt.block_on(self.store.delete(&self.loc(&rel))).with_context(|| format!("suppression de {rel}"))?;
            self.state.files.remove(&rel);
            self.remote.remove(&rel);
            stats.deleted += 1;
        }
        self.save()?;
        Ok(stats)
    }
}

/// A GET bounded by `max` bytes: (bytes, ETag), or `None` when the store has no such file.
async fn get_bounded(
    store: &Arc<dyn ObjectStore>,
    loc: StorePath,
    max: u64,
) -> Result<Option<(Vec<u8>, Option<String>)>> {
    let got = match store.get(&loc).await {
        Ok(g) => g,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if got.meta.size > max {
        bail!(
            "{loc} : {} octets, plus que la limite de {max} ({} bytes, over the limit)",
            got.meta.size,
            got.meta.size
        );
    }
    let etag = got.meta.e_tag.clone();
    let bytes = got.bytes().await?;
    Ok(Some((bytes.to_vec(), etag)))
}

/// Content type and cache policy by kind of file (see the module's comment).
fn put_options(rel: &str, mode: PutMode, immutable: bool) -> PutOptions {
    let mut attributes = Attributes::new();
    let content_type = if rel.ends_with(".json") {
        "application/json"
    } else if rel.starts_with(&format!("{OBJECTS_DIR}/")) {
        "application/zstd"
    } else {
        "application/octet-stream"
    };
    attributes.insert(Attribute::ContentType, content_type.into());
    attributes.insert(Attribute::CacheControl, if immutable { IMMUTABLE } else { MUTABLE }.into());
    PutOptions { mode, attributes, ..Default::default() }
}

/// Whether `rel` is a leaf hint (`hints/<branch>-<leaf>.json`).
fn is_hint(rel: &str) -> bool {
    rel.strip_prefix(HINTS_DIR).and_then(|r| r.strip_prefix('/')).is_some_and(|n| parse_hint_name(n).is_some())
}

/// Whether a file's name is the hash of its bytes, or of the zstd frame's content: such a
/// file can only ever hold those bytes.
pub fn content_addressed(rel: &str, bytes: &[u8]) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    let Ok(h) = name.parse::<Hash>() else { return false };
    Hash::of(bytes) == h || preau_pack::object::decode_bounded(bytes, MAX_OBJECT_BYTES).is_ok_and(|d| Hash::of(&d) == h)
}

/// Every file under `dir`, relative, `/`-separated; names starting with `.` (locks,
/// staging folders, this record) are the mirror's own, not the repository's.
fn walk(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut todo = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, rel)) = todo.pop() {
        let entries = match fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("lecture de {}", d.display())),
        };
        for e in entries {
            let e = e?;
            let Some(name) = e.file_name().to_str().map(str::to_string) else { continue };
            if name.starts_with('.') {
                continue;
            }
            let r = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
            if e.file_type()?.is_dir() {
                todo.push((e.path(), r));
            } else {
                out.push(r);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_named_by_their_hash_are_immutable() {
        let data = b"a chunk".to_vec();
        let h = Hash::of(&data);
        let stored = preau_pack::object::encode(&data, preau_pack::object::Encoding { level: 3, try_compress: true });
        assert!(content_addressed(&preau_pack::repo::object_rel_path(&h), &stored));
        assert!(content_addressed(&format!("index/{h}"), &data));
        // An update bundle is named by the manifest it updates, not by its bytes.
        assert!(!content_addressed(&preau_pack::repo::update_rel_path(&h), b"other bytes"));
        assert!(!content_addressed(CATALOG_FILE, b"{}"));
    }

    #[test]
    fn a_folder_of_something_else_is_never_a_mirror() {
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("thesis.odt"), b"years of work").unwrap();
        assert!(Mirror::open(store.clone(), "p", dir.path()).is_err());
        assert!(dir.path().join("thesis.odt").exists());
        // A new folder, or one it made before, is fine.
        let fresh = dir.path().join("mirror");
        drop(Mirror::open(store.clone(), "p", &fresh).unwrap());
        std::fs::write(fresh.join("catalog.json"), b"{}").unwrap();
        let mut m = Mirror::open(store, "p", &fresh).unwrap();
        m.pull_metadata().unwrap();
        assert!(!fresh.join("catalog.json").exists(), "a file the store never had is a leftover");
    }

    #[test]
    fn cache_headers() {
        let get = |o: &PutOptions| o.attributes.get(&Attribute::CacheControl).map(|v| v.as_ref().to_string());
        assert_eq!(get(&put_options("objects/ab/abcd", PutMode::Create, true)).as_deref(), Some(IMMUTABLE));
        assert_eq!(get(&put_options(CATALOG_FILE, PutMode::Create, false)).as_deref(), Some(MUTABLE));
        assert_eq!(get(&put_options("updates/ab/abcd", PutMode::Create, false)).as_deref(), Some(MUTABLE));
        assert_eq!(get(&put_options("hints/3-41.json", PutMode::Overwrite, false)).as_deref(), Some(MUTABLE));
        assert!(is_hint("hints/3-41.json"));
        assert!(!is_hint("hints/3-41.json.x") && !is_hint("catalog/3-41.json") && !is_hint(CATALOG_FILE));
    }
}
