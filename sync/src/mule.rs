//! Mules: carrying exactly the missing bytes on a USB stick.
//!
//! `wants` writes a small file saying what a box holds (its root and catalog versions and
//! the manifest of every installed pack). At a connected place, `export --wants FILE`
//! writes onto the stick a repository *subset* with just what that box lacks: the signed
//! metadata, the new manifests (as deltas from the installed ones when the catalog offers
//! them) and, per changed file, a delta or the missing chunks. Back at the school, `preau
//! sync pull --from STICK` verifies and applies it like any other source. Without a wants
//! file, `export` writes every object of the packs (for a box that has nothing).
//!
//! The wants file is not trusted for anything: at worst it makes the stick too small to
//! complete a pack, which the pull then reports.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use preau_pack::installed::Installed;
use preau_pack::limits::{MAX_CATALOG_BYTES, MAX_ROOT_BYTES};
use preau_pack::meta::Catalog;
use preau_pack::repo::{self, CATALOG_FILE, OBJECTS_DIR, ROOT_FILE, ROOTS_DIR};
use preau_pack::{FileEntry, Hash, Manifest, Repo, fsutil};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fetch::{fetch_object, parallel};
use crate::plan::{self, ManifestFetch};
use crate::source::Source;

pub const WANTS_FORMAT: &str = "preau-wants";
const MAX_WANTS_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WantedPack {
    pub version: u64,
    pub manifest: Hash,
    pub manifest_size: u64,
}

/// What a box has, so that an export can bring just the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wants {
    pub format: String,
    pub root_version: u64,
    pub catalog_version: u64,
    /// Installed packs.
    pub packs: BTreeMap<String, WantedPack>,
    /// Only these packs are wanted (empty: all packs of the catalog).
    #[serde(default)]
    pub only: Vec<String>,
}

impl Wants {
    pub fn of_box(data_dir: &Path) -> Result<Wants> {
        let repo_dir = data_dir.join("repo");
        let installed = Installed::load(&repo_dir)?;
        let root_version =
            if repo_dir.join(ROOT_FILE).is_file() { Repo::open(&repo_dir)?.load_root()?.0.version } else { 0 };
        let (catalog_version, _) = crate::trust::installed_catalog(&repo_dir)?;
        Ok(Wants {
            format: WANTS_FORMAT.into(),
            root_version,
            catalog_version,
            packs: installed
                .packs
                .into_iter()
                .map(|(id, p)| {
                    (id, WantedPack { version: p.version, manifest: p.manifest, manifest_size: p.manifest_size })
                })
                .collect(),
            only: Vec::new(),
        })
    }

    pub fn parse(bytes: &[u8]) -> Result<Wants> {
        if bytes.len() as u64 > MAX_WANTS_BYTES {
            return Err(Error::TooLarge { what: "wants file".into(), limit: MAX_WANTS_BYTES });
        }
        let w: Wants = serde_json::from_slice(bytes)
            .map_err(|e| Error::Malformed { what: "wants file".into(), detail: e.to_string() })?;
        if w.format != WANTS_FORMAT {
            return Err(Error::Malformed {
                what: "wants file".into(),
                detail: format!("format is {:?}, not {WANTS_FORMAT:?}", w.format),
            });
        }
        Ok(w)
    }

    /// The file's bytes, as `write` writes them (a stick's free space is checked first).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("serialisable");
        bytes.push(b'\n');
        bytes
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fsutil::create_dir_all_durable(parent)?;
        }
        Ok(fsutil::atomic_write(path, &bytes)?)
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ExportSummary {
    pub packs: Vec<String>,
    pub objects: u64,
    pub bytes_written: u64,
    pub deltas: u64,
    pub bytes_downloaded: u64,
    pub requests: u64,
}

/// Writes to `to` the repository subset a box described by `wants` needs (everything
/// when `wants` is `None`). The catalog is written last: an interrupted export leaves
/// no catalog and is plainly incomplete.
pub fn export(source: &dyn Source, wants: Option<&Wants>, to: &Path, workers: usize) -> Result<ExportSummary> {
    let get = |rel: &str, max: u64| -> Result<Vec<u8>> {
        source.get(rel, max)?.ok_or_else(|| Error::Other(format!("{} has no {rel}", source.describe())))
    };
    // Self-consistency only: the box checks the signatures against its own keys.
    let root_bytes = get(ROOT_FILE, MAX_ROOT_BYTES)?;
    let root = repo::parse_root(&root_bytes)?;
    let catalog_bytes = get(CATALOG_FILE, MAX_CATALOG_BYTES)?;
    let mut catalog: Catalog = repo::parse_catalog(&catalog_bytes, &root)?;

    fsutil::create_dir_all_durable(&to.join(OBJECTS_DIR))?;
    fsutil::create_dir_all_durable(&to.join(ROOTS_DIR))?;
    let _ = std::fs::remove_file(to.join(CATALOG_FILE));
    for v in 1..=root.version {
        let rel = format!("{ROOTS_DIR}/{v}.json");
        fsutil::atomic_write(&to.join(&rel), &get(&rel, MAX_ROOT_BYTES)?)?;
    }
    fsutil::atomic_write(&to.join(ROOT_FILE), &root_bytes)?;
    // The catalog's nodes (of the wanted packs) go onto the stick beside its top.
    crate::nodes::resolve(source, Some(to), &mut catalog, only(wants), workers)?;
    let stick = Repo::open(to)?;
    let partial =
        tempfile::tempdir().map_err(|e| Error::Io { context: "making a temporary folder".into(), source: e })?;
    let fetched = AtomicU64::new(0);
    let mut s = ExportSummary::default();
    let obj = |h: &Hash, len: u64| fetch_object(source, &stick, partial.path(), h, len, &fetched);

    for (id, entry) in &catalog.packs {
        if wants.is_some_and(|w| !w.only.is_empty() && !w.only.contains(id)) {
            continue;
        }
        let have = wants.and_then(|w| w.packs.get(id));
        if have.is_some_and(|h| h.manifest == entry.manifest) {
            continue;
        }
        // The new manifest is needed here to plan, whatever the stick carries.
        let new_bytes = obj(&entry.manifest, entry.manifest_size)?
            .ok_or_else(|| Error::Other(format!("{} lacks the manifest of pack {id}", source.describe())))?;
        let m = Manifest::from_bytes(&new_bytes)?;
        // What the box holds, from its installed manifest (if the source still has it).
        let old: Option<Manifest> = match have {
            Some(h) => match source.get_object(
                &h.manifest,
                crate::source::max_stored_len(h.manifest_size),
                &partial.path().join("old"),
            )? {
                Some(stored) => Some(Manifest::from_bytes(&preau_pack::object::decode_verified(
                    &stored,
                    &h.manifest,
                    h.manifest_size,
                )?)?),
                None => None,
            },
            None => None,
        };
        let box_has: HashSet<Hash> =
            old.iter().flat_map(|o| o.files.iter().flat_map(|f| f.chunk_list())).map(|c| c.0).collect();
        let box_present = |h: &Hash| box_has.contains(h);
        // A box with the old manifest rebuilds the new one from the delta: then the
        // stick need not carry the whole manifest.
        if let Some(h) = have {
            let present = |x: &Hash| *x == h.manifest;
            if let ManifestFetch::Delta { object, size, .. } =
                plan::manifest_fetch(entry, Some((h.manifest, h.manifest_size)), &present)
                && old.is_some()
                && obj(&object, size)?.is_some()
            {
                // Delta on the stick; the whole manifest written above is dropped.
                let _ = std::fs::remove_file(stick.object_path(&entry.manifest));
                s.deltas += 1;
            }
        }
        let bases: HashMap<Hash, FileEntry> = match &old {
            Some(o) => plan::bases([o], &box_present),
            None => HashMap::new(),
        };
        let p = plan::plan_pack(&m, &bases, &box_present);
        let extra: std::sync::Mutex<Vec<(Hash, u64)>> = std::sync::Mutex::new(Vec::new());
        parallel(p.deltas.clone(), workers, &|step| {
            if obj(&step.delta.object, step.delta.size)?.is_none() {
                extra.lock().unwrap_or_else(|e| e.into_inner()).extend(plan::fallback_chunks(&step, &box_present));
            }
            Ok(())
        })?;
        let mut jobs = p.fetch.clone();
        jobs.extend(extra.into_inner().unwrap_or_default());
        let missing = AtomicU64::new(0);
        parallel(jobs, workers, &|(h, len)| {
            if obj(&h, len)?.is_none() {
                missing.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        })?;
        if missing.load(Ordering::Relaxed) > 0 {
            return Err(Error::Other(format!(
                "{} lacks {} object(s) of pack {id}",
                source.describe(),
                missing.load(Ordering::Relaxed)
            )));
        }
        s.deltas += p.deltas.len() as u64;
        s.packs.push(id.clone());
    }
    fsutil::sync_dir(&to.join(OBJECTS_DIR))?;
    fsutil::atomic_write(&to.join(CATALOG_FILE), &catalog_bytes)?;
    s.objects = fetched.load(Ordering::Relaxed);
    s.bytes_written = dir_size(&to.join(OBJECTS_DIR));
    let st = source.stats();
    s.bytes_downloaded = st.bytes_downloaded;
    s.requests = st.requests;
    Ok(s)
}

/// The packs a wants file restricts an export to (`None`: all).
fn only(wants: Option<&Wants>) -> Option<&[String]> {
    wants.filter(|w| !w.only.is_empty()).map(|w| w.only.as_slice())
}

/// Bytes a file of `len` bytes takes on a stick: whole 32 KiB clusters (the cluster of
/// FAT32 sticks of 16 GiB and more).
pub fn on_disk(len: u64) -> u64 {
    const CLUSTER: u64 = 32 * 1024;
    len.div_ceil(CLUSTER).max(1) * CLUSTER
}

/// Bytes the stick needs for `export(source, wants, …)`, counted before a byte is
/// written: every object the export may write at its largest stored size (deltas are
/// not counted, so this bounds what is written from above), each in whole clusters
/// ([`on_disk`]), plus the signed metadata. Fails
/// like `export` when the source lacks a wanted pack's manifest.
pub fn export_needs(source: &dyn Source, wants: Option<&Wants>) -> Result<ExportNeeds> {
    let get = |rel: &str, max: u64| -> Result<Vec<u8>> {
        source.get(rel, max)?.ok_or_else(|| Error::Other(format!("{} has no {rel}", source.describe())))
    };
    let root_bytes = get(ROOT_FILE, MAX_ROOT_BYTES)?;
    let root = repo::parse_root(&root_bytes)?;
    let catalog_bytes = get(CATALOG_FILE, MAX_CATALOG_BYTES)?;
    let mut catalog: Catalog = repo::parse_catalog(&catalog_bytes, &root)?;
    let nodes = crate::nodes::resolve(source, None, &mut catalog, only(wants), 4)?.nodes;
    let partial =
        tempfile::tempdir().map_err(|e| Error::Io { context: "making a temporary folder".into(), source: e })?;
    let manifest = |h: &Hash, size: u64| -> Result<Option<Manifest>> {
        match source.get_object(h, crate::source::max_stored_len(size), &partial.path().join("m"))? {
            Some(stored) => Ok(Some(Manifest::from_bytes(&preau_pack::object::decode_verified(&stored, h, size)?)?)),
            None => Ok(None),
        }
    };
    // Every root version, the root and the catalog (a root file is small: its limit).
    let mut need = on_disk(MAX_ROOT_BYTES) * (root.version + 1) + on_disk(catalog_bytes.len() as u64);
    need += nodes.iter().map(|n| on_disk(n.1)).sum::<u64>();
    let mut counted: HashSet<Hash> = HashSet::new();
    let mut packs = Vec::new();
    for (id, entry) in &catalog.packs {
        if wants.is_some_and(|w| !w.only.is_empty() && !w.only.contains(id)) {
            continue;
        }
        let have = wants.and_then(|w| w.packs.get(id));
        if have.is_some_and(|h| h.manifest == entry.manifest) {
            continue;
        }
        let m = manifest(&entry.manifest, entry.manifest_size)?
            .ok_or_else(|| Error::Other(format!("{} lacks the manifest of pack {id}", source.describe())))?;
        let old = match have {
            Some(h) => manifest(&h.manifest, h.manifest_size)?,
            None => None,
        };
        let box_has: HashSet<Hash> =
            old.iter().flat_map(|o| o.files.iter().flat_map(|f| f.chunk_list())).map(|c| c.0).collect();
        need += on_disk(crate::source::max_stored_len(entry.manifest_size));
        for c in m.files.iter().flat_map(|f| f.chunk_list()) {
            if !box_has.contains(&c.0) && counted.insert(c.0) {
                need += on_disk(crate::source::max_stored_len(c.1));
            }
        }
        packs.push(id.clone());
    }
    Ok(ExportNeeds { bytes: need, packs })
}

/// What an export would write, before it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportNeeds {
    /// Stick bytes, at most.
    pub bytes: u64,
    /// The packs it would write (new to the box, or newer than what it holds).
    pub packs: Vec<String>,
}

fn dir_size(dir: &Path) -> u64 {
    let mut n = 0;
    for d in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(d.path()).into_iter().flatten().flatten() {
            n += f.metadata().map(|m| m.len()).unwrap_or(0);
        }
    }
    n
}
