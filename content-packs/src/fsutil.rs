//! Durable file writes: write to a temporary name, fsync, rename, fsync the directory.
//!
//! A reader (or a pupil, after a pulled plug) sees either the old file or the new one,
//! never half of it.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use crate::{IoContext, Result};

/// Writes `bytes` to `path` atomically and durably.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().expect("atomic_write needs a path with a parent");
    let tmp = temp_name(path);
    let result = (|| {
        let mut f = File::create(&tmp).context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes).context(|| format!("writing {}", tmp.display()))?;
        f.sync_all().context(|| format!("syncing {}", tmp.display()))?;
        fs::rename(&tmp, path).context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Makes a directory entry change (create, rename) durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).context(|| format!("syncing directory {}", dir.display()))
}

/// A temporary sibling name that no other writer uses at the same time. Names starting
/// with `.tmp-` are ignored by readers and swept by the next build.
pub fn temp_name(path: &Path) -> std::path::PathBuf {
    let mut r = [0u8; 8];
    getrandom::fill(&mut r).expect("the OS random source works");
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".tmp-{}-{}-{name}", std::process::id(), hex::encode(r)))
}

/// Creates a directory and its parents, syncing each new entry's parent.
pub fn create_dir_all_durable(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent()
        && !parent.as_os_str().is_empty()
    {
        create_dir_all_durable(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(e).context(|| format!("creating directory {}", dir.display())),
    }
    if let Some(parent) = dir.parent()
        && !parent.as_os_str().is_empty()
    {
        sync_dir(parent)?;
    }
    Ok(())
}
