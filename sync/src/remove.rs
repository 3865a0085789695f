//! Removing installed packs: the teacher's "remove" button and `preau sync remove`.
//!
//! The same writer as a pull (it takes the data folder's lock), the same switch
//! (`installed.json` replaced by one atomic rename), then garbage collection of the
//! objects no installed version needs. The pack is remembered as removed so that the
//! background sync and the preload at start do not bring it back; adding it again from
//! a folder, or pulling it by name, does.
//!
//! Removal frees the disk at once: a request that is still streaming a file of the
//! removed pack ends early. Updates never do that (see `apply`), but a teacher who
//! removes a pack wants the space now.

use std::path::Path;

use preau_pack::Repo;
use preau_pack::installed::Installed;
use serde::Serialize;

use crate::apply;
use crate::error::{Error, Result};
use crate::pull::lock;
use crate::trust::STATE_DIR;

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct RemoveSummary {
    /// (pack id, version) removed.
    pub removed: Vec<(String, u64)>,
    pub gc_objects: u64,
    pub gc_bytes: u64,
}

/// Removes the packs `ids` from the box data folder `data_dir`. Every id must be
/// installed; nothing changes otherwise.
pub fn remove_packs(data_dir: &Path, ids: &[String]) -> Result<RemoveSummary> {
    if ids.is_empty() {
        return Err(Error::Other("no pack to remove was named".into()));
    }
    let repo_dir = data_dir.join("repo");
    let state_dir = data_dir.join(STATE_DIR);
    if !repo_dir.join(preau_pack::installed::INSTALLED_FILE).is_file() {
        return Err(Error::Other(format!("{} holds no installed packs", data_dir.display())));
    }
    let _lock = lock(&state_dir.join("pull.lock"))?;
    let repo = Repo::open(&repo_dir)?;
    let mut installed = Installed::load(&repo_dir)?;
    if let Some(missing) = ids.iter().find(|id| !installed.packs.contains_key(id.as_str())) {
        return Err(Error::NoSuchPack(missing.clone()));
    }
    let mut summary = RemoveSummary::default();
    for id in ids {
        if let Some(p) = installed.packs.remove(id) {
            summary.removed.push((id.clone(), p.version));
            installed.removed.insert(id.clone());
        }
    }
    installed.save(&repo_dir)?;
    let keep = apply::live_objects(&repo, &installed)?;
    let (n, bytes) = apply::collect_garbage(&repo, &keep)?;
    apply::prune_updates(&repo, &keep);
    summary.gc_objects = n;
    summary.gc_bytes = bytes;
    Ok(summary)
}
