//! A repository folder: a USB stick, a staging folder, a mounted share.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use preau_pack::Hash;
use preau_pack::repo::{self, object_rel_path};

use super::{Source, SourceKind, SourceStats};
use crate::error::{Error, Result};

pub struct FolderSource {
    dir: PathBuf,
    bytes: AtomicU64,
    files: AtomicU64,
}

impl FolderSource {
    pub fn new(dir: &Path) -> Result<FolderSource> {
        if !dir.join(repo::ROOT_FILE).is_file() {
            return Err(Error::Other(format!(
                "{} is not a Préau repository folder (no {}): point --from at the folder that holds root.json",
                dir.display(),
                repo::ROOT_FILE
            )));
        }
        Ok(FolderSource { dir: dir.to_path_buf(), bytes: AtomicU64::new(0), files: AtomicU64::new(0) })
    }

    fn read(&self, rel: &str, max: u64) -> Result<Option<Vec<u8>>> {
        let path = self.dir.join(rel);
        self.files.fetch_add(1, Ordering::Relaxed);
        match repo::read_bounded(&path, max) {
            Ok(b) => {
                self.bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
                Ok(Some(b))
            }
            Err(preau_pack::Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

impl Source for FolderSource {
    fn describe(&self) -> String {
        self.dir.display().to_string()
    }
    fn kind(&self) -> SourceKind {
        SourceKind::Folder
    }
    fn get(&self, rel: &str, max: u64) -> Result<Option<Vec<u8>>> {
        self.read(rel, max)
    }
    fn get_object(&self, hash: &Hash, max: u64, _partial: &Path) -> Result<Option<Vec<u8>>> {
        self.read(&object_rel_path(hash), max)
    }
    fn stats(&self) -> SourceStats {
        SourceStats {
            bytes_downloaded: self.bytes.load(Ordering::Relaxed),
            requests: self.files.load(Ordering::Relaxed),
            retries: 0,
        }
    }
}
