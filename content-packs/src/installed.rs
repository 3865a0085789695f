//! Which pack versions a box has installed: `DATA/repo/installed.json`.
//!
//! Written only by `preau-sync`'s apply step, after every object of the new version is
//! durably in `objects/`, by an atomic rename: this file *is* the switch from one
//! version to the next. The server only reads it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::hash::Hash;
use crate::{Error, Result, fsutil, repo};

pub const INSTALLED_FILE: &str = "installed.json";
const MAX_INSTALLED_BYTES: u64 = 8 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledPack {
    pub version: u64,
    pub manifest: Hash,
    pub manifest_size: u64,
    /// Unix seconds when it was installed (by the box's clock, which may be wrong).
    #[serde(default)]
    pub installed_at: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installed {
    pub packs: BTreeMap<String, InstalledPack>,
    /// Packs a teacher removed: pulls that take "every pack of the catalog" (the
    /// background sync, the preload at start) leave them out until someone asks for
    /// them by name or adds them again from a folder.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub removed: BTreeSet<String>,
}

impl Installed {
    /// Reads `repo_dir/installed.json`; a folder without one has nothing installed.
    pub fn load(repo_dir: &Path) -> Result<Installed> {
        let path = repo_dir.join(INSTALLED_FILE);
        if !path.exists() {
            return Ok(Installed::default());
        }
        let bytes = repo::read_bounded(&path, MAX_INSTALLED_BYTES)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::Malformed { what: path.display().to_string(), detail: e.to_string() })
    }

    /// Atomically replaces `repo_dir/installed.json`.
    pub fn save(&self, repo_dir: &Path) -> Result<()> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("serialisable");
        bytes.push(b'\n');
        fsutil::atomic_write(&repo_dir.join(INSTALLED_FILE), &bytes)
    }
}
