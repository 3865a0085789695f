//! The box id: made at first start in `DATA/identity/`, never baked into an SD image.
//!
//! Cloned images would otherwise share one identity, and learner statements from two
//! schools would carry the same actor. The id is 128 random bits as 32 hex digits,
//! written with write-temp + fsync + rename + fsync(dir) so a power cut during first
//! start leaves either no id (made again on the next start) or a whole one.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

pub const ID_FILE: &str = "box-id";

/// The identity folder inside a data folder.
pub fn identity_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("identity")
}

/// Reads the box id, creating it on first start.
pub fn load_or_create(data_dir: &Path) -> Result<String> {
    let dir = identity_dir(data_dir);
    let path = dir.join(ID_FILE);
    match fs::read(&path) {
        Ok(bytes) => return parse(&bytes).with_context(|| format!("box id file {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read box id file {}", path.display())),
    }
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).map_err(|e| anyhow::anyhow!("no system randomness for the box id: {e}"))?;
    let id = hex::encode(raw);
    let mut tmp =
        tempfile::NamedTempFile::new_in(&dir).with_context(|| format!("cannot write in {}", dir.display()))?;
    writeln!(tmp, "{id}").and_then(|_| tmp.as_file().sync_all()).context("cannot write the box id")?;
    tmp.persist(&path).with_context(|| format!("cannot create {}", path.display()))?;
    fs::File::open(&dir).and_then(|d| d.sync_all()).with_context(|| format!("cannot sync {}", dir.display()))?;
    Ok(id)
}

fn parse(bytes: &[u8]) -> Result<String> {
    let text = std::str::from_utf8(bytes).ok().map(str::trim).unwrap_or("");
    if text.len() != 32 || !text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        bail!("does not hold a box id (32 lowercase hex digits); remove it to make a new one");
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_stable_and_unique_per_folder() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let id = load_or_create(a.path()).unwrap();
        assert_eq!(id.len(), 32);
        assert_eq!(load_or_create(a.path()).unwrap(), id);
        assert_ne!(load_or_create(b.path()).unwrap(), id);
    }

    #[test]
    fn corrupt_id_is_an_error_naming_the_file() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(identity_dir(d.path())).unwrap();
        fs::write(identity_dir(d.path()).join(ID_FILE), "garbage").unwrap();
        let e = format!("{:#}", load_or_create(d.path()).unwrap_err());
        assert!(e.contains("box-id"), "{e}");
    }
}
