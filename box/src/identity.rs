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

/// The box's own local publisher key: it signs the courses a teacher imports on the
/// admin page, and only this box trusts it (`DATA/sync/state.json` publishers). Made
/// at first start in `DATA/identity/publisher/` (never baked into an image): the key
/// files are written in a fresh folder that is then renamed, so a power cut leaves
/// either no key (made again) or a whole one.
pub fn publisher_key(data_dir: &Path) -> Result<preau_pack::SecretKey> {
    let dir = identity_dir(data_dir);
    let path = dir.join(PUBLISHER_DIR).join("key");
    if path.exists() {
        return preau_pack::SecretKey::read_file(&path)
            .with_context(|| format!("local publisher key {}", path.display()));
    }
    let fresh = dir.join(".publisher-new");
    if fresh.exists() {
        fs::remove_dir_all(&fresh).with_context(|| format!("cannot remove {}", fresh.display()))?;
    }
    fs::create_dir_all(&fresh).with_context(|| format!("cannot create {}", fresh.display()))?;
    let key = preau_pack::SecretKey::generate();
    key.write_files(&fresh.join("key")).context("cannot write the local publisher key")?;
    for f in ["key", "key.pub"] {
        fs::File::open(fresh.join(f)).and_then(|f| f.sync_all()).context("cannot sync the local publisher key")?;
    }
    fs::File::open(&fresh).and_then(|d| d.sync_all()).context("cannot sync the local publisher key")?;
    fs::rename(&fresh, dir.join(PUBLISHER_DIR)).context("cannot install the local publisher key")?;
    fs::File::open(&dir).and_then(|d| d.sync_all()).with_context(|| format!("cannot sync {}", dir.display()))?;
    Ok(key)
}

const PUBLISHER_DIR: &str = "publisher";

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
    fn the_local_publisher_key_is_made_once_per_box() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let k = publisher_key(a.path()).unwrap();
        assert_eq!(publisher_key(a.path()).unwrap().public(), k.public());
        assert_ne!(publisher_key(b.path()).unwrap().public(), k.public());
        assert!(identity_dir(a.path()).join("publisher/key.pub").is_file());
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
