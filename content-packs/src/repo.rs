//! A static pack repository on a local disk.
//!
//! ```text
//! DIR/root.json              current signed root (copy of the newest roots/N.json)
//! DIR/roots/1.json …         every root version, for key rotation
//! DIR/catalog.json           signed catalog top: version, expiry, hashes of its nodes
//! DIR/catalog/abcd…          catalog nodes (pack id → manifest), immutable, by hash
//! DIR/objects/ab/abcd…       immutable objects (chunks, manifests, deltas), zstd frames
//! DIR/updates/ab/abcd…       update bundles, by the manifest they update (to the newest version)
//! ```
//! Any plain HTTP server, S3 bucket or CDN can serve this folder as it is. Only
//! `root.json`, `roots/` and `catalog.json` ever change, each by an atomic rename.
//! Catalog nodes of older catalogs are kept (a box may be reading them mid-pull).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::fsutil;
use crate::hash::Hash;
use crate::limits::{MAX_CATALOG_BYTES, MAX_OBJECT_BYTES, MAX_ROOT_BYTES};
use crate::manifest::{FileEntry, Manifest};
use crate::meta::{CATALOG_TYPE, Catalog, ROOT_TYPE, Root};
use crate::object::{self, Encoding};
use crate::sign::{Envelope, PublicKey, Role, SecretKey};
use crate::{Error, IoContext, Result};

pub const ROOT_FILE: &str = "root.json";
pub const ROOTS_DIR: &str = "roots";
pub const CATALOG_FILE: &str = "catalog.json";
pub const OBJECTS_DIR: &str = "objects";
pub const UPDATES_DIR: &str = "updates";

/// Root documents are valid for ten years; they only change when keys rotate.
const ROOT_LIFETIME_SECS: u64 = 10 * 365 * 24 * 3600;

/// The path of an object relative to a repository's top (also its URL path).
pub fn object_rel_path(hash: &Hash) -> String {
    let hex = hash.to_hex();
    format!("{OBJECTS_DIR}/{}/{hex}", &hex[..2])
}

/// The path of the update bundle for a box that holds the manifest `from` (see
/// `bundle`), relative to a repository's top (also its URL path).
pub fn update_rel_path(from: &Hash) -> String {
    let hex = from.to_hex();
    format!("{UPDATES_DIR}/{}/{hex}", &hex[..2])
}

/// A repository folder.
#[derive(Debug, Clone)]
pub struct Repo {
    dir: PathBuf,
}

impl Repo {
    /// Opens an existing repository (it must have a `root.json`).
    pub fn open(dir: &Path) -> Result<Repo> {
        if !dir.join(ROOT_FILE).is_file() {
            return Err(Error::Other(format!(
                "{} is not a Préau pack repository (no {ROOT_FILE}); `preau pack build … --repo {}` creates one",
                dir.display(),
                dir.display()
            )));
        }
        Ok(Repo { dir: dir.to_path_buf() })
    }

    /// Opens a repository, creating it with `key` as its only root and catalog key when
    /// the folder has none yet.
    pub fn open_or_create(dir: &Path, key: &SecretKey) -> Result<Repo> {
        if dir.join(ROOT_FILE).is_file() {
            return Repo::open(dir);
        }
        fsutil::create_dir_all_durable(&dir.join(OBJECTS_DIR))?;
        fsutil::create_dir_all_durable(&dir.join(ROOTS_DIR))?;
        let pk = key.public();
        let root = Root {
            kind: ROOT_TYPE.into(),
            version: 1,
            expires: crate::meta::now_unix() + ROOT_LIFETIME_SECS,
            roles: crate::meta::Roles { root: Role::single(&pk), catalog: Role::single(&pk) },
        };
        let repo = Repo { dir: dir.to_path_buf() };
        repo.write_root(&Envelope::sign(&root, &[key]), 1)?;
        Ok(repo)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn object_path(&self, hash: &Hash) -> PathBuf {
        self.dir.join(object_rel_path(hash))
    }

    pub fn has_object(&self, hash: &Hash) -> bool {
        self.object_path(hash).is_file()
    }

    /// Reads an object's stored bytes (bounded), without decoding.
    pub fn read_stored(&self, hash: &Hash) -> Result<Vec<u8>> {
        let path = self.object_path(hash);
        read_bounded(&path, MAX_OBJECT_BYTES).map_err(|e| match e {
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                Error::MissingObject { hash: *hash, path }
            }
            other => other,
        })
    }

    /// Reads, decodes and verifies an object of `len` decoded bytes.
    pub fn read_object(&self, hash: &Hash, len: u64) -> Result<Vec<u8>> {
        object::decode_verified(&self.read_stored(hash)?, hash, len)
    }

    /// Stores `data` (if not present) and returns its hash, stored size, and whether it was new.
    pub fn write_object(&self, data: &[u8], enc: Encoding) -> Result<(Hash, u64, bool)> {
        let hash = Hash::of(data);
        let path = self.object_path(&hash);
        if let Ok(meta) = fs::metadata(&path) {
            return Ok((hash, meta.len(), false));
        }
        let stored = object::encode(data, enc);
        self.write_stored(&hash, &stored)?;
        Ok((hash, stored.len() as u64, true))
    }

    /// Writes already-encoded object bytes durably under their name. The caller has
    /// verified them; the write is atomic so a reader never sees half an object.
    pub fn write_stored(&self, hash: &Hash, stored: &[u8]) -> Result<()> {
        let path = self.object_path(hash);
        let dir = path.parent().expect("objects have a parent");
        if !dir.is_dir() {
            fsutil::create_dir_all_durable(dir)?;
        }
        fsutil::atomic_write(&path, stored)
    }

    /// Reads, decodes and verifies the update bundle from the manifest `from`.
    pub fn read_update(&self, from: &Hash, b: &crate::meta::BundleRef) -> Result<Vec<u8>> {
        let stored = read_bounded(&self.dir.join(update_rel_path(from)), MAX_OBJECT_BYTES)?;
        self.decode_update(&stored, b, || self.read_manifest_unsized(from))
    }

    /// Decodes an update bundle's stored bytes (see `bundle::decode`). A referenced one
    /// is rebuilt from this repository's copies of files of the manifest it updates,
    /// which `old` reads (only when needed).
    pub fn decode_update(
        &self,
        stored: &[u8],
        b: &crate::meta::BundleRef,
        old: impl FnOnce() -> Result<Manifest>,
    ) -> Result<Vec<u8>> {
        crate::bundle::decode(stored, b, self.base_reader(old))
    }

    /// [`Self::decode_update`] for a bundle file no signed metadata names yet
    /// (`bundle::decode_unsigned`): its bytes and the reference they match.
    pub fn decode_update_unsigned(
        &self,
        stored: &[u8],
        old: impl FnOnce() -> Result<Manifest>,
    ) -> Result<(Vec<u8>, crate::meta::BundleRef)> {
        crate::bundle::decode_unsigned(stored, self.base_reader(old))
    }

    /// Reads the files of the version a bundle updates by content hash (the manifest
    /// `old` is read once, at the first base asked for).
    fn base_reader(&self, old: impl FnOnce() -> Result<Manifest>) -> impl FnMut(&Hash) -> Result<Vec<u8>> {
        let mut old = Some(old);
        let mut files: HashMap<Hash, crate::manifest::FileEntry> = HashMap::new();
        move |h| {
            if let Some(read) = old.take() {
                files = read()?.files.into_iter().map(|f| (f.hash, f)).collect();
            }
            let f = files.get(h).ok_or_else(|| Error::Malformed {
                what: "update bundle".into(),
                detail: format!("its base file {h} is not in the version it updates"),
            })?;
            self.read_file(f)
        }
    }

    /// Reads a manifest whose length is not known here (bounded by the manifest limit).
    pub fn read_manifest_unsized(&self, hash: &Hash) -> Result<Manifest> {
        Manifest::from_bytes(&self.read_manifest_bytes_unsized(hash)?)
    }

    /// The verified JSON bytes of a manifest whose length is not known here (bounded).
    pub fn read_manifest_bytes_unsized(&self, hash: &Hash) -> Result<Vec<u8>> {
        let data = object::decode_bounded(&self.read_stored(hash)?, crate::limits::MAX_MANIFEST_BYTES)
            .map_err(|detail| Error::CorruptObject { hash: *hash, detail })?;
        let got = Hash::of(&data);
        if got != *hash {
            return Err(Error::CorruptObject { hash: *hash, detail: format!("content hashes to {got}") });
        }
        Ok(data)
    }

    pub fn read_manifest(&self, hash: &Hash, len: u64) -> Result<Manifest> {
        let bytes = self.read_object(hash, len)?;
        Manifest::from_bytes(&bytes)
    }

    /// Reads a whole file of a pack, verified chunk by chunk and as a whole.
    pub fn read_file(&self, f: &FileEntry) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(f.size as usize);
        for c in f.chunk_list() {
            out.extend_from_slice(&self.read_object(&c.0, c.1)?);
        }
        if Hash::of(&out) != f.hash {
            return Err(Error::CorruptObject {
                hash: f.hash,
                detail: format!("file {:?} does not match its hash", f.path),
            });
        }
        Ok(out)
    }

    /// Reads `len` bytes of a file from `start`, touching only the chunks that hold them.
    pub fn read_range(&self, f: &FileEntry, start: u64, len: u64) -> Result<Vec<u8>> {
        let end = start
            .checked_add(len)
            .filter(|e| *e <= f.size)
            .ok_or_else(|| Error::Other(format!("range {start}+{len} is outside {:?} ({} bytes)", f.path, f.size)))?;
        let mut out = Vec::with_capacity(len as usize);
        let mut offset = 0u64;
        for c in f.chunk_list() {
            let (c_start, c_end) = (offset, offset + c.1);
            offset = c_end;
            if c_end <= start || c_start >= end {
                continue;
            }
            let data = self.read_object(&c.0, c.1)?;
            let from = start.max(c_start) - c_start;
            let to = end.min(c_end) - c_start;
            out.extend_from_slice(&data[from as usize..to as usize]);
        }
        Ok(out)
    }

    // ----- signed metadata -----

    /// The current root, checked to be signed by its own root keys.
    /// Removes every object not in `keep` (and writes a crash left half done). Returns
    /// (objects removed, bytes freed). Only for a caller that holds the repository's
    /// writer lock: an object being written by someone else is not in `keep` yet.
    pub fn sweep_objects(&self, keep: &HashSet<Hash>) -> (u64, u64) {
        let (mut n, mut bytes) = (0u64, 0u64);
        let Ok(dirs) = fs::read_dir(self.dir.join(OBJECTS_DIR)) else {
            return (0, 0);
        };
        for d in dirs.flatten() {
            let Ok(files) = fs::read_dir(d.path()) else {
                continue;
            };
            for f in files.flatten() {
                let name = f.file_name();
                let Some(name) = name.to_str() else { continue };
                if name.starts_with(".tmp-") {
                    // A write interrupted by a crash: never renamed, never referenced.
                    let _ = fs::remove_file(f.path());
                    continue;
                }
                let Ok(h) = name.parse::<Hash>() else {
                    continue;
                };
                if !keep.contains(&h) {
                    bytes += f.metadata().map(|m| m.len()).unwrap_or(0);
                    if fs::remove_file(f.path()).is_ok() {
                        n += 1;
                    }
                }
            }
        }
        (n, bytes)
    }

    /// Removes the update bundles (`updates/…/<from>`) whose `from` is not in `keep`.
    /// Best effort: a bundle left behind only takes space.
    pub fn sweep_updates(&self, keep: &HashSet<Hash>) {
        let Ok(dirs) = fs::read_dir(self.dir.join(UPDATES_DIR)) else { return };
        for d in dirs.flatten() {
            let Ok(files) = fs::read_dir(d.path()) else { continue };
            for f in files.flatten() {
                let stale = f.file_name().to_str().is_none_or(|n| n.parse::<Hash>().is_ok_and(|h| !keep.contains(&h)));
                if stale {
                    let _ = fs::remove_file(f.path());
                }
            }
        }
    }

    pub fn load_root(&self) -> Result<(Root, Vec<u8>)> {
        let bytes = read_bounded(&self.dir.join(ROOT_FILE), MAX_ROOT_BYTES)?;
        let root = parse_root(&bytes)?;
        Ok((root, bytes))
    }

    /// Walks `roots/1.json` … up to the current root, checking that each version is signed
    /// by the previous version's root keys and by its own. Returns the newest root.
    /// With `trusted`, the first root must be signed by one of those keys.
    pub fn verified_root(&self, trusted: Option<&[PublicKey]>) -> Result<Root> {
        let (current, _) = self.load_root()?;
        let mut prev: Option<Root> = None;
        for v in 1..=current.version {
            let path = self.dir.join(ROOTS_DIR).join(format!("{v}.json"));
            let bytes = read_bounded(&path, MAX_ROOT_BYTES)?;
            let env = Envelope::parse(&bytes, &format!("root version {v}"))?;
            let root: Root = env.payload(&format!("root version {v}"))?;
            if root.version != v || root.kind != ROOT_TYPE {
                return Err(Error::Malformed {
                    what: path.display().to_string(),
                    detail: format!("expected root version {v}"),
                });
            }
            env.check_role(&root.roles.root, &format!("root version {v}"))?;
            match &prev {
                Some(p) => {
                    env.check_role(&p.roles.root, &format!("root version {v} (by the keys of version {})", v - 1))?
                }
                None => {
                    if let Some(keys) = trusted
                        && !env.valid_signers(&root.roles.root).iter().any(|k| keys.contains(k))
                    {
                        return Err(Error::BadSignature {
                            what: "root version 1".into(),
                            detail:
                                "not signed by any trusted key (wrong --trust key, or another publisher's repository)"
                                    .into(),
                        });
                    }
                }
            }
            prev = Some(root);
        }
        let newest = prev.ok_or_else(|| Error::Malformed { what: ROOT_FILE.into(), detail: "version 0".into() })?;
        if newest != current {
            return Err(Error::Malformed {
                what: ROOT_FILE.into(),
                detail: format!("differs from {ROOTS_DIR}/{}.json", current.version),
            });
        }
        Ok(newest)
    }

    /// Replaces the current root (and records it as `roots/<version>.json`).
    pub fn write_root(&self, signed: &[u8], version: u64) -> Result<()> {
        fsutil::create_dir_all_durable(&self.dir.join(ROOTS_DIR))?;
        fsutil::atomic_write(&self.dir.join(ROOTS_DIR).join(format!("{version}.json")), signed)?;
        fsutil::atomic_write(&self.dir.join(ROOT_FILE), signed)
    }

    /// The catalog, checked against `root`'s catalog keys, with every pack (a split
    /// catalog's nodes are read from `catalog/` and checked by hash; a missing one is an
    /// error, so that a publisher never re-signs a catalog that lost packs). A
    /// repository without a catalog yet has an empty one (version 0).
    pub fn load_catalog(&self, root: &Root) -> Result<Catalog> {
        let mut cat = self.load_catalog_top(root)?;
        let r = crate::catalog_tree::resolve(&mut cat, None, &|hs| self.read_nodes(hs))?;
        if let Some(h) = r.missing.first() {
            return Err(Error::MissingObject { hash: *h, path: self.dir.join(crate::catalog_tree::node_rel_path(h)) });
        }
        Ok(cat)
    }

    /// The catalog with the packs whose nodes this folder holds, and the nodes it lacks
    /// (a box keeps only the nodes of the packs it follows). For reading, never for
    /// re-signing.
    pub fn load_catalog_available(&self, root: &Root) -> Result<(Catalog, Vec<Hash>)> {
        let mut cat = self.load_catalog_top(root)?;
        let r = crate::catalog_tree::resolve(&mut cat, None, &|hs| self.read_nodes(hs))?;
        Ok((cat, r.missing))
    }

    /// The signed top of the catalog only (its version, times and index): no nodes read.
    pub fn load_catalog_top(&self, root: &Root) -> Result<Catalog> {
        let path = self.dir.join(CATALOG_FILE);
        if !path.exists() {
            return Ok(Catalog::empty(root.version));
        }
        parse_catalog(&read_bounded(&path, MAX_CATALOG_BYTES)?, root)
    }

    /// Catalog nodes from `catalog/` (`None` for those it lacks), for `catalog_tree::resolve`.
    pub fn read_nodes(&self, hashes: &[Hash]) -> Vec<Result<Option<Vec<u8>>>> {
        hashes
            .iter()
            .map(|h| {
                match read_bounded(
                    &self.dir.join(crate::catalog_tree::node_rel_path(h)),
                    crate::catalog_tree::MAX_NODE_BYTES,
                ) {
                    Ok(b) => Ok(Some(b)),
                    Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .collect()
    }

    /// Keeps catalog nodes (already checked by hash) under their names; those present
    /// are not rewritten (a node never changes).
    pub fn write_nodes(&self, nodes: &[(Hash, Vec<u8>)]) -> Result<()> {
        let dir = self.dir.join(crate::catalog_tree::NODES_DIR);
        if !nodes.is_empty() && !dir.is_dir() {
            fsutil::create_dir_all_durable(&dir)?;
        }
        for (h, bytes) in nodes {
            let path = self.dir.join(crate::catalog_tree::node_rel_path(h));
            if !path.is_file() {
                fsutil::atomic_write(&path, bytes)?;
            }
        }
        Ok(())
    }

    /// Brings the leaf hints (`hints/<branch>-<leaf>.json`, see `catalog_tree`) in line
    /// with the nodes of `index`: each non-empty bin's hint holds the bytes of its current
    /// leaf (written by atomic rename, only when it differs: a publication rewrites the
    /// hints of the leaves it changed, and repairs any other), and the hints of bins now
    /// empty, or of names that are no hint, are removed.
    pub fn write_hints(&self, index: &crate::catalog_tree::Index, nodes: &[(Hash, Vec<u8>)]) -> Result<()> {
        use crate::catalog_tree::{HINTS_DIR, hint_rel_path, leaf_bins, parse_hint_name};
        let leaves = leaf_bins(index, nodes)?;
        let bytes_of: std::collections::HashMap<Hash, &Vec<u8>> = nodes.iter().map(|(h, b)| (*h, b)).collect();
        let dir = self.dir.join(HINTS_DIR);
        if !leaves.is_empty() && !dir.is_dir() {
            fsutil::create_dir_all_durable(&dir)?;
        }
        for (bin, h) in &leaves {
            let bytes =
                bytes_of.get(h).ok_or_else(|| Error::Other(format!("catalog node {h} is not among the nodes")))?;
            let path = self.dir.join(hint_rel_path(*bin));
            if read_bounded(&path, crate::catalog_tree::MAX_NODE_BYTES).ok().as_ref() != Some(*bytes) {
                fsutil::atomic_write(&path, bytes)?;
            }
        }
        if let Ok(files) = fs::read_dir(&dir) {
            for f in files.flatten() {
                let name = f.file_name();
                let keep = name.to_str().and_then(parse_hint_name).is_some_and(|bin| leaves.contains_key(&bin));
                // Temporary files of an atomic write in progress start with a dot.
                if !keep && !name.to_string_lossy().starts_with('.') {
                    fs::remove_file(f.path()).context(|| format!("removing {}", f.path().display()))?;
                }
            }
        }
        Ok(())
    }

    /// Signs and atomically replaces the catalog, split into nodes (see `catalog_tree`):
    /// the nodes first (only those on the paths of changed packs are new), then the leaf
    /// hints of the bins that changed, then the signed top. Call only after every object
    /// it references is durably written.
    pub fn publish_catalog(&self, catalog: &Catalog, key: &SecretKey) -> Result<()> {
        let (index, nodes) = crate::catalog_tree::build(&catalog.packs);
        self.write_nodes(&nodes)?;
        self.write_hints(&index, &nodes)?;
        let top = Catalog {
            kind: catalog.kind.clone(),
            version: catalog.version,
            issued: catalog.issued,
            expires: catalog.expires,
            root_version: catalog.root_version,
            packs: Default::default(),
            index: Some(index),
        };
        self.write_catalog_bytes(&Envelope::sign(&top, &[key]))
    }

    /// Writes the top `catalog.json` this repository's publisher signed, or someone
    /// else did (see [`write_catalog_file`]).
    pub fn write_catalog_bytes(&self, bytes: &[u8]) -> Result<()> {
        write_catalog_file(&self.dir, bytes)
    }
}

/// Writes the top `catalog.json` into the repository folder `dir`: signed by its
/// publisher, or by someone else (a box installing upstream metadata, which its peers
/// then read from its `repo/`). The top keeps one length whatever changed, and plain
/// servers (nginx in front of a publisher's or a box's folder) derive the ETag from
/// length and mtime in seconds: two writes within a second would answer a reader's
/// If-None-Match with a 304. So the new top is dated at least one second after the old.
pub fn write_catalog_file(dir: &Path, bytes: &[u8]) -> Result<()> {
    let path = dir.join(CATALOG_FILE);
    let previous = fs::metadata(&path).and_then(|m| m.modified()).ok();
    fsutil::atomic_write(&path, bytes)?;
    if let Some(prev) = previous {
        let at = std::time::SystemTime::now().max(prev + std::time::Duration::from_secs(1));
        fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(at))
            .context(|| format!("dating {}", path.display()))?;
    }
    Ok(())
}

/// Parses a root document and checks it is signed by its own root keys.
pub fn parse_root(bytes: &[u8]) -> Result<Root> {
    if bytes.len() as u64 > MAX_ROOT_BYTES {
        return Err(Error::TooLarge { what: ROOT_FILE.into(), limit: MAX_ROOT_BYTES });
    }
    let env = Envelope::parse(bytes, ROOT_FILE)?;
    let root: Root = env.payload(ROOT_FILE)?;
    if root.kind != ROOT_TYPE {
        return Err(Error::Malformed {
            what: ROOT_FILE.into(),
            detail: format!("type is {:?}, not {ROOT_TYPE:?}", root.kind),
        });
    }
    env.check_role(&root.roles.root, ROOT_FILE)?;
    Ok(root)
}

/// Parses a catalog and checks its signatures against `root`'s catalog role.
pub fn parse_catalog(bytes: &[u8], root: &Root) -> Result<Catalog> {
    if bytes.len() as u64 > MAX_CATALOG_BYTES {
        return Err(Error::TooLarge { what: CATALOG_FILE.into(), limit: MAX_CATALOG_BYTES });
    }
    let env = Envelope::parse(bytes, CATALOG_FILE)?;
    env.check_role(&root.roles.catalog, CATALOG_FILE)?;
    let cat: Catalog = env.payload(CATALOG_FILE)?;
    if cat.kind != CATALOG_TYPE {
        return Err(Error::Malformed { what: CATALOG_FILE.into(), detail: format!("type is {:?}", cat.kind) });
    }
    if cat.packs.len() > crate::limits::MAX_PACKS_PER_CATALOG {
        return Err(Error::Malformed { what: CATALOG_FILE.into(), detail: "too many packs".into() });
    }
    for id in cat.packs.keys() {
        crate::path::check_pack_id(id)?;
    }
    Ok(cat)
}

/// Reads a whole file, refusing files larger than `limit` (and files that grow past it).
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let f = fs::File::open(path).context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    f.take(limit + 1).read_to_end(&mut out).context(|| format!("reading {}", path.display()))?;
    if out.len() as u64 > limit {
        return Err(Error::TooLarge { what: path.display().to_string(), limit });
    }
    Ok(out)
}

/// Replaces the repository's signing key: a new root version names `new` as the only root
/// and catalog key, signed by both the old root key and the new one (so that clients that
/// trust the old root can follow the chain), then the catalog is re-signed by `new`.
pub fn rotate_key(dir: &Path, old: &SecretKey, new: &SecretKey) -> Result<Root> {
    // A build at the same time would re-sign a catalog naming the old root.
    let _lock = lock_repo(dir)?;
    let repo = Repo::open(dir)?;
    let current = repo.verified_root(None)?;
    if !current.roles.root.contains(&old.public()) {
        return Err(Error::Key(format!("{} is not a root key of {}", old.public().to_hex(), dir.display())));
    }
    if current.roles.root.threshold > 1 {
        return Err(Error::Key("this repository needs several root signatures; rotate with all of them".into()));
    }
    let catalog = repo.load_catalog(&current)?;
    let pk = new.public();
    let next = Root {
        kind: ROOT_TYPE.into(),
        version: current.version + 1,
        expires: crate::meta::now_unix() + ROOT_LIFETIME_SECS,
        roles: crate::meta::Roles { root: Role::single(&pk), catalog: Role::single(&pk) },
    };
    repo.write_root(&Envelope::sign(&next, &[old, new]), next.version)?;
    let mut catalog = catalog;
    if catalog.version > 0 {
        catalog.version += 1;
        catalog.root_version = next.version;
        catalog.issued = catalog.issued.max(crate::meta::now_unix());
        repo.publish_catalog(&catalog, new)?;
    }
    Ok(next)
}

/// Most keys a root authorises to sign the catalog (about 17 KiB of root.json).
const MAX_CATALOG_KEYS: usize = 256;

/// Changes which keys may sign the catalog (`preau pack authorize-key`): a new root
/// version whose catalog role lists `add` and no longer lists `remove`, signed by
/// `root_key`, a root key of the repository (its root role's threshold must be 1; the
/// root keys themselves do not change). Several publishers (a national team's source
/// teams, a mirror's per-source keys) can then each sign the catalog with their own key.
/// The catalog is re-signed by `root_key` when it is a catalog key (so that it names the
/// new root); otherwise it is left as it is, which is refused when its signer would lose
/// the right to sign it. Nothing is written when nothing changes.
pub fn authorize_catalog_keys(
    dir: &Path,
    root_key: &SecretKey,
    add: &[PublicKey],
    remove: &[PublicKey],
) -> Result<Root> {
    // The catalog is read here and re-signed below: a build in between would be lost.
    let _lock = lock_repo(dir)?;
    let repo = Repo::open(dir)?;
    let current = repo.verified_root(None)?;
    if !current.roles.root.contains(&root_key.public()) {
        return Err(Error::Key(format!(
            "{} is not a root key of {} (its root keys: {}): only a root key authorises catalog keys",
            root_key.public().to_hex(),
            dir.display(),
            current.roles.root.keys.join(", ")
        )));
    }
    if current.roles.root.threshold > 1 {
        return Err(Error::Key("this repository needs several root signatures to change its root".into()));
    }
    if let Some(k) = add.iter().find(|k| remove.contains(k)) {
        return Err(Error::Key(format!("{} is both added and removed", k.to_hex())));
    }
    let mut catalog_role = current.roles.catalog.clone();
    for k in add {
        if !catalog_role.contains(k) {
            catalog_role.keys.push(k.to_hex());
        }
    }
    for k in remove {
        if !catalog_role.contains(k) {
            return Err(Error::Key(format!("{} is not a catalog key of {}", k.to_hex(), dir.display())));
        }
        catalog_role.keys.retain(|x| *x != k.to_hex());
    }
    if catalog_role == current.roles.catalog {
        return Ok(current);
    }
    if catalog_role.keys.len() < catalog_role.threshold as usize || catalog_role.keys.is_empty() {
        return Err(Error::Key(format!(
            "the catalog needs {} signature(s): at least that many catalog keys must remain",
            catalog_role.threshold.max(1)
        )));
    }
    if catalog_role.keys.len() > MAX_CATALOG_KEYS {
        return Err(Error::Key(format!("more than {MAX_CATALOG_KEYS} catalog keys")));
    }
    let next = Root {
        kind: ROOT_TYPE.into(),
        version: current.version + 1,
        expires: crate::meta::now_unix() + ROOT_LIFETIME_SECS,
        roles: crate::meta::Roles { root: current.roles.root.clone(), catalog: catalog_role },
    };
    let resign = next.roles.catalog.contains(&root_key.public()) && next.roles.catalog.threshold <= 1;
    let catalog_file = dir.join(CATALOG_FILE);
    let catalog = if catalog_file.is_file() { Some(repo.load_catalog(&current)?) } else { None };
    if !resign && catalog_file.is_file() {
        let bytes = read_bounded(&catalog_file, MAX_CATALOG_BYTES)?;
        if parse_catalog(&bytes, &next).is_err() {
            return Err(Error::Key(
                "the current catalog is signed by a key being removed, and the root key is not a catalog key \
                 that could re-sign it: publish with another catalog key first"
                    .into(),
            ));
        }
    }
    repo.write_root(&Envelope::sign(&next, &[root_key]), next.version)?;
    if let Some(mut catalog) = catalog.filter(|c| resign && c.version > 0) {
        catalog.version += 1;
        catalog.root_version = next.version;
        catalog.issued = catalog.issued.max(crate::meta::now_unix());
        repo.publish_catalog(&catalog, root_key)?;
    }
    Ok(next)
}

/// Refuses a key that `root` does not authorise to sign the catalog of `dir`.
pub(crate) fn require_catalog_key(root: &crate::meta::Root, key: &SecretKey, dir: &Path) -> Result<()> {
    if root.roles.catalog.contains(&key.public()) {
        return Ok(());
    }
    Err(Error::Key(format!(
        "this key ({}) is not authorised to sign the catalog of {} (its keys: {})",
        key.public().to_hex(),
        dir.display(),
        root.roles.catalog.keys.join(", ")
    )))
}

/// Serialises builds into one repository: two builds at once would each re-sign a
/// catalog that lacks the other's pack.
pub(crate) fn lock_repo(dir: &Path) -> Result<fs::File> {
    let path = dir.join(".lock");
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .context(|| format!("opening {}", path.display()))?;
    // A short wait before giving up: a process forked by another thread of this program
    // holds a copy of the lock until it execs, for a moment after the holder let go.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        match f.try_lock() {
            Ok(()) => return Ok(f),
            Err(fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(fs::TryLockError::WouldBlock) => {
                return Err(Error::Other(format!(
                    "another build is writing to {} right now; try again when it ends",
                    dir.display()
                )));
            }
            Err(fs::TryLockError::Error(e)) => return Err(e).context(|| format!("locking {}", path.display())),
        }
    }
}
