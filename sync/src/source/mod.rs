//! Where packs come from: an HTTP repository (the national server or a peer box's
//! `/repo/`) or a folder (a USB stick). Every source serves the same static layout and
//! every byte it returns is verified by the caller against signatures and hashes: a
//! source is never trusted for what it is, only for what it can prove.

pub mod folder;
pub mod http;

use std::path::Path;

use preau_pack::Hash;
use serde::Serialize;

pub use folder::FolderSource;

use crate::error::Result;
pub use http::{HttpOptions, HttpSource};

/// What kind of place a source is. It changes only the freshness policy: an expired
/// catalog is refused from an online server but tolerated, with a warning, from a USB
/// stick or a peer box (they carry what was current when they were last connected).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Online,
    Peer,
    Folder,
}

/// Counters every source keeps, for `--json` and the admin page.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct SourceStats {
    /// Response body bytes received (HTTP) or bytes read (folder).
    pub bytes_downloaded: u64,
    /// HTTP requests sent (or files opened).
    pub requests: u64,
    /// Connections cut or failed that were retried.
    pub retries: u64,
}

/// A static repository to read from. Implementations bound every read by `max` and
/// report absence as `Ok(None)` so that callers can fall back (a peer may lack a delta).
pub trait Source: Send + Sync {
    /// For messages: the URL or folder.
    fn describe(&self) -> String;
    fn kind(&self) -> SourceKind;
    /// A small file (`root.json`, `roots/N.json`, `catalog.json`, a catalog node).
    fn get(&self, rel: &str, max: u64) -> Result<Option<Vec<u8>>>;
    /// The stored bytes of an object, at most `max` bytes. An HTTP source keeps what it
    /// received in `partial` and resumes from there with a Range request.
    fn get_object(&self, hash: &Hash, max: u64, partial: &Path) -> Result<Option<Vec<u8>>>;
    /// Bytes `start..end` of the file `rel` (an update bundle), kept in `partial` and
    /// resumed from there; at most `max` bytes. Fewer when the file ends before `end`
    /// (none when it ends before `start`). `Ok(None)` when the source does not have the
    /// file; an error when it cannot serve parts (the caller then does without). With
    /// `retry` false, one attempt only (a speculative request). Only sources where a round
    /// trip is expensive implement it.
    fn get_range(
        &self,
        _rel: &str,
        _start: u64,
        _end: u64,
        _max: u64,
        _partial: &Path,
        _retry: bool,
    ) -> Result<Option<Vec<u8>>> {
        Err(crate::Error::Other(format!("{} does not serve parts of files", self.describe())))
    }
    /// Opens `n` more connections ahead of need, so that the next round of requests does
    /// not wait for TCP (and TLS) handshakes. Returns when they are open (or failed).
    fn warm(&self, _n: usize) {}
    /// Keep the catalog's answer and its ETag in `dir` and ask for it conditionally
    /// next time (`If-None-Match`; a 304 gives the kept bytes, verified as usual).
    /// Only sources where a transfer is expensive implement it.
    fn keep_validators(&self, _dir: &Path) {}
    /// The length of `rel` when an earlier partial answer gave it (`Content-Range`).
    fn known_length(&self, _rel: &str) -> Option<u64> {
        None
    }
    fn stats(&self) -> SourceStats;
    /// Warnings gathered while reading (a server that ignores Range…).
    fn take_warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The largest stored size of an object of `len` decoded bytes: a raw-block frame
/// (compressed objects are only kept when smaller than that).
pub fn max_stored_len(len: u64) -> u64 {
    len + 18 + 3 * (len / (128 * 1024) + 1)
}

/// Opens `--from`: an `http://` or `https://` URL, or a folder.
pub fn open(from: &str, opts: HttpOptions) -> Result<Box<dyn Source>> {
    if from.starts_with("http://") || from.starts_with("https://") {
        Ok(Box::new(HttpSource::new(from, opts)?))
    } else {
        Ok(Box::new(FolderSource::new(Path::new(from))?))
    }
}

/// The bytes of a small local file, or `None` when it is missing, unreadable or larger
/// than `max`.
pub(crate) fn read_small(path: &Path, max: u64) -> Option<Vec<u8>> {
    preau_pack::repo::read_bounded(path, max).ok()
}
