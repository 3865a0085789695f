//! Writing verified objects durably, the atomic switch, and garbage collection.
//!
//! Order of writes in a pull: every object of the new version is verified and written
//! (temp + fsync + rename + fsync(dir)), then the signed metadata, then `installed.json`
//! is replaced atomically: that rename *is* the switch. A server that resolved a path
//! against the old manifest keeps reading old objects, which are still there: garbage
//! collection keeps every object of the installed versions *and of the versions just
//! before them*, and runs only after a pull that completed.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use preau_pack::installed::{Installed, InstalledPack};
use preau_pack::repo::{ROOT_FILE, ROOTS_DIR, update_rel_path};
use preau_pack::{Hash, Repo, fsutil, object};

use crate::error::Result;
use crate::trust::Verified;

/// Writes an object's stored bytes, which the caller has verified against `hash`
/// (`machine::Pull` does, before it asks for the write): temp + fsync + rename.
pub fn write_object(repo: &Repo, hash: &Hash, stored: &[u8]) -> Result<()> {
    if !repo.has_object(hash) {
        repo.write_stored(hash, stored)?;
    }
    Ok(())
}

/// Verifies stored object bytes against their name and decoded length, then writes them.
pub fn store_verified(repo: &Repo, hash: &Hash, len: u64, stored: &[u8]) -> Result<Vec<u8>> {
    let data = object::decode_verified(stored, hash, len)?;
    write_object(repo, hash, stored)?;
    Ok(data)
}

/// Keeps an update bundle the box used at its path in the box's repository, for peer
/// boxes one version behind (see [`prune_updates`]). Losing it costs them round trips,
/// not correctness.
pub fn keep_bundle(repo: &Repo, from: &Hash, stored: &[u8]) -> Result<()> {
    let kept = repo.dir().join(update_rel_path(from));
    if let Some(dir) = kept.parent() {
        fsutil::create_dir_all_durable(dir)?;
    }
    Ok(fsutil::atomic_write(&kept, stored)?)
}

/// The root files of a new box, before anything else: `Repo::open` needs them.
pub fn install_root(repo_dir: &Path, v: &Verified) -> Result<()> {
    fsutil::create_dir_all_durable(&repo_dir.join(ROOTS_DIR))?;
    for (version, bytes) in &v.new_roots {
        fsutil::atomic_write(&repo_dir.join(ROOTS_DIR).join(format!("{version}.json")), bytes)?;
    }
    Ok(fsutil::atomic_write(&repo_dir.join(ROOT_FILE), &v.root_bytes)?)
}

/// Installs the verified metadata into `repo_dir` (roots first, then the catalog).
pub fn install_metadata(repo_dir: &Path, v: &Verified) -> Result<()> {
    if !v.new_roots.is_empty() {
        install_root(repo_dir, v)?;
    }
    // Dated after the one it replaces: peers may read this folder through a plain
    // server whose ETag is length and mtime in seconds.
    Ok(preau_pack::repo::write_catalog_file(repo_dir, &v.catalog_bytes)?)
}

/// The switch, once every object of the new versions is written: the signed metadata,
/// then `installed.json` with `packs` in one atomic rename (when there are any).
pub fn switch(
    repo_dir: &Path,
    v: &Verified,
    installed: &mut Installed,
    packs: Vec<(String, InstalledPack)>,
) -> Result<()> {
    install_metadata(repo_dir, v)?;
    if packs.is_empty() {
        return Ok(());
    }
    for (id, p) in packs {
        installed.removed.remove(&id);
        installed.packs.insert(id, p);
    }
    Ok(installed.save(repo_dir)?)
}

/// Every object that the installed versions, and the versions just before them, use.
pub fn live_objects(repo: &Repo, installed: &Installed) -> Result<HashSet<Hash>> {
    let mut keep = HashSet::new();
    for p in installed.packs.values() {
        // The previous version stays for requests that started before the switch, and
        // for peers that are one version behind.
        preau_pack::unpublish::keep_version(repo, &p.manifest, p.manifest_size, &mut keep)?;
    }
    Ok(keep)
}

/// Removes objects no kept version needs. Returns (objects removed, bytes freed).
pub fn collect_garbage(repo: &Repo, keep: &HashSet<Hash>) -> Result<(u64, u64)> {
    Ok(repo.sweep_objects(keep))
}

/// Removes the update bundles a box kept (`updates/…/<from>`, for peers one version
/// behind) whose `from` is no kept version any more. Best effort: a bundle left behind
/// only takes space until the next pull.
pub fn prune_updates(repo: &Repo, keep: &HashSet<Hash>) {
    repo.sweep_updates(keep);
}

/// Removes leftover partial downloads.
pub fn clear_partials(dir: &Path) {
    let _ = fs::remove_dir_all(dir);
}
