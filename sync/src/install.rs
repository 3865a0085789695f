//! The one step that installs packs on a box: verify, copy objects durably, then switch.
//!
//! This first version reads from a repository folder (a USB stick, a staging folder).
//! Every object is decoded and checked against its hash before it is written; the
//! switch to the new versions is the atomic replacement of `installed.json`, after the
//! objects, the manifests and the signed metadata are all durable.

use std::collections::BTreeSet;
use std::path::Path;

use preau_pack::installed::{Installed, InstalledPack};
use preau_pack::meta::now_unix;
use preau_pack::repo::{self, CATALOG_FILE, ROOTS_DIR, Repo};
use preau_pack::{Error, PublicKey, Result, fsutil, object};
use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize)]
pub struct InstallSummary {
    /// (pack id, version) newly installed or updated.
    pub installed: Vec<(String, u64)>,
    /// Packs already at the catalog's version.
    pub up_to_date: Vec<String>,
    pub objects_copied: u64,
    pub bytes_copied: u64,
}

/// Installs (or updates) packs from the repository folder `src` into the box data folder
/// `data_dir` (`data_dir/repo`). `trusted` are root keys accepted in addition to those
/// the box already trusts; `only` limits the packs installed.
pub fn install_from_folder(
    src: &Path,
    data_dir: &Path,
    trusted: &[PublicKey],
    only: Option<&[String]>,
) -> Result<InstallSummary> {
    let src_repo = Repo::open(src)?;
    let dst_dir = data_dir.join("repo");
    fsutil::create_dir_all_durable(&dst_dir.join(repo::OBJECTS_DIR))?;

    // Trust: the keys given now plus the first root this box ever accepted.
    let mut keys: Vec<PublicKey> = trusted.to_vec();
    let dst_root_v1 = dst_dir.join(ROOTS_DIR).join("1.json");
    if dst_root_v1.is_file() {
        let root = repo::parse_root(&repo::read_bounded(&dst_root_v1, preau_pack::limits::MAX_ROOT_BYTES)?)?;
        for k in &root.roles.root.keys {
            keys.push(PublicKey::from_hex(k)?);
        }
    }
    if keys.is_empty() {
        return Err(Error::Key(
            "this box trusts no signing key yet: pass the publisher's public key (--trust FILE.pub)".into(),
        ));
    }
    let root = src_repo.verified_root(Some(&keys))?;
    let catalog_bytes = repo::read_bounded(&src.join(CATALOG_FILE), preau_pack::limits::MAX_CATALOG_BYTES)?;
    let catalog = repo::parse_catalog(&catalog_bytes, &root)?;

    // Rollback: never go back to an older catalog than the one installed.
    let dst_catalog = dst_dir.join(CATALOG_FILE);
    if dst_catalog.is_file() && dst_dir.join(repo::ROOT_FILE).is_file() {
        let (dst_root, _) = Repo::open(&dst_dir)?.load_root()?;
        let old =
            repo::parse_catalog(&repo::read_bounded(&dst_catalog, preau_pack::limits::MAX_CATALOG_BYTES)?, &dst_root)?;
        if old.version > catalog.version {
            return Err(Error::Other(format!(
                "refusing an older catalog (version {} < installed {}): possible rollback attack or stale copy",
                catalog.version, old.version
            )));
        }
    }

    let wanted: Option<BTreeSet<&str>> = only.map(|ids| ids.iter().map(String::as_str).collect());
    if let Some(w) = &wanted {
        for id in w {
            if !catalog.packs.contains_key(*id) {
                return Err(Error::NoSuchPack(id.to_string()));
            }
        }
    }
    let dst = DstRepo { dir: dst_dir.clone() };
    let mut installed = Installed::load(&dst_dir)?;
    let mut summary = InstallSummary::default();
    for (id, entry) in &catalog.packs {
        if wanted.as_ref().is_some_and(|w| !w.contains(id.as_str())) {
            continue;
        }
        if installed.packs.get(id).is_some_and(|p| p.manifest == entry.manifest) {
            summary.up_to_date.push(id.clone());
            continue;
        }
        let manifest = src_repo.read_manifest(&entry.manifest, entry.manifest_size)?;
        if manifest.meta.id != *id || manifest.version != entry.version {
            return Err(Error::Other(format!("pack {id}: catalog and manifest disagree (mix-and-match)")));
        }
        for f in &manifest.files {
            for c in f.chunk_list() {
                dst.copy_verified(&src_repo, &c.0, c.1, &mut summary)?;
            }
        }
        dst.copy_verified(&src_repo, &entry.manifest, entry.manifest_size, &mut summary)?;
        installed.packs.insert(
            id.clone(),
            InstalledPack {
                version: entry.version,
                manifest: entry.manifest,
                manifest_size: entry.manifest_size,
                installed_at: now_unix(),
            },
        );
        summary.installed.push((id.clone(), entry.version));
    }
    dst.sync_object_dirs()?;

    // Signed metadata first, then the switch.
    for v in 1..=root.version {
        let name = format!("{v}.json");
        let bytes = repo::read_bounded(&src.join(ROOTS_DIR).join(&name), preau_pack::limits::MAX_ROOT_BYTES)?;
        fsutil::create_dir_all_durable(&dst_dir.join(ROOTS_DIR))?;
        fsutil::atomic_write(&dst_dir.join(ROOTS_DIR).join(name), &bytes)?;
    }
    let (_, root_bytes) = src_repo.load_root()?;
    fsutil::atomic_write(&dst_dir.join(repo::ROOT_FILE), &root_bytes)?;
    fsutil::atomic_write(&dst_catalog, &catalog_bytes)?;
    installed.save(&dst_dir)?;
    Ok(summary)
}

struct DstRepo {
    dir: std::path::PathBuf,
}

impl DstRepo {
    fn copy_verified(&self, src: &Repo, hash: &preau_pack::Hash, len: u64, s: &mut InstallSummary) -> Result<()> {
        let to = self.dir.join(repo::object_rel_path(hash));
        if to.is_file() {
            return Ok(());
        }
        let stored = src.read_stored(hash)?;
        object::decode_verified(&stored, hash, len)?;
        if let Some(parent) = to.parent() {
            fsutil::create_dir_all_durable(parent)?;
        }
        fsutil::atomic_write(&to, &stored)?;
        s.objects_copied += 1;
        s.bytes_copied += stored.len() as u64;
        Ok(())
    }

    fn sync_object_dirs(&self) -> Result<()> {
        fsutil::sync_dir(&self.dir.join(repo::OBJECTS_DIR))
    }
}
