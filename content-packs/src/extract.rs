//! Writing a pack version's files back to a folder, byte for byte.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::hash::Hash;
use crate::manifest::Manifest;
use crate::repo::Repo;
use crate::{Error, IoContext, Result};

/// Extracts every file of `manifest` into `out`, which must not exist or be empty (so
/// that no existing link inside it can redirect a write). Every file is verified.
pub fn extract(repo: &Repo, manifest: &Manifest, out: &Path) -> Result<u64> {
    if out.exists() {
        let mut entries = fs::read_dir(out).context(|| format!("reading {}", out.display()))?;
        if entries.next().is_some() {
            return Err(Error::Other(format!("{} is not empty; extract into a new folder", out.display())));
        }
    }
    fs::create_dir_all(out).context(|| format!("creating {}", out.display()))?;
    let mut written = 0u64;
    for f in &manifest.files {
        let target = out.join(&f.path);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).context(|| format!("creating {}", parent.display()))?;
        }
        let mut file = fs::File::create_new(&target).context(|| format!("creating {}", target.display()))?;
        let mut hasher = blake3::Hasher::new();
        for c in f.chunk_list() {
            let data = repo.read_object(&c.0, c.1)?;
            hasher.update(&data);
            file.write_all(&data).context(|| format!("writing {}", target.display()))?;
        }
        if Hash::from(hasher.finalize()) != f.hash {
            return Err(Error::CorruptObject {
                hash: f.hash,
                detail: format!("file {:?} does not match its hash", f.path),
            });
        }
        written += f.size;
    }
    Ok(written)
}
