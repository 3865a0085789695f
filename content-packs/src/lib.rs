//! The Préau content-pack format.
//!
//! A *pack* is a named, versioned tree of files plus metadata. Its files are split into
//! content-defined chunks (FastCDC), named by BLAKE3, stored zstd-compressed in a static
//! *repository* of immutable objects, and listed in a *manifest*. A signed *catalog*
//! (ed25519, authorised by a signed *root* document) says which manifest is the current
//! version of each pack. See `FORMAT.md` beside this crate for the byte-level layout.
//!
//! This crate does no network I/O. It reads and writes repositories on a local disk;
//! fetching them from elsewhere is `preau-sync`'s job.

pub mod build;
pub mod bundle;
pub mod catalog_tree;
pub mod chunk;
pub mod course;
pub mod delta;
pub mod extract;
pub mod fsutil;
pub mod hash;
pub mod installed;
pub mod limits;
pub mod manifest;
pub mod meta;
pub mod object;
pub mod path;
pub mod quiz;
pub mod repo;
pub mod sign;
pub mod source;
pub mod text;
pub mod unpublish;
pub mod verify;

pub use hash::Hash;
pub use manifest::{ChunkRef, DeltaRef, FileEntry, Manifest, PackMeta};
pub use repo::Repo;
pub use sign::{PublicKey, SecretKey};
pub use source::{SourceData, SourceFile, SourceTree};

use std::path::PathBuf;

/// Everything that can go wrong with packs and repositories. Each variant names the
/// problem so that the CLI can print it as it is.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("bad path {path:?} in pack: {why}")]
    BadPath { path: String, why: String },
    #[error(
        "two paths differ only by letter case or Unicode form and would overwrite each other on a USB stick: {a:?} and {b:?}"
    )]
    PathCollision { a: String, b: String },
    #[error(
        "bad pack id {0:?}: use 1 to 64 lowercase letters, digits, '-', '_' or '.', starting with a letter or digit"
    )]
    BadPackId(String),
    #[error("{what} is larger than the limit of {limit} bytes")]
    TooLarge { what: String, limit: u64 },
    #[error("malformed {what}: {detail}")]
    Malformed { what: String, detail: String },
    #[error("object {hash} is corrupt: {detail}")]
    CorruptObject { hash: Hash, detail: String },
    #[error("object {hash} is missing from the repository ({path})")]
    MissingObject { hash: Hash, path: PathBuf },
    #[error("signature check failed for {what}: {detail}")]
    BadSignature { what: String, detail: String },
    #[error("key error: {0}")]
    Key(String),
    #[error("unsupported source {path}: {why}")]
    BadSource { path: PathBuf, why: String },
    #[error("no pack with id {0:?} in this repository")]
    NoSuchPack(String),
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds a description of what was being done to an I/O error.
pub trait IoContext<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io { context: what(), source })
    }
}
