//! What a pack is built from: a list of files with their final pack paths, plus metadata.
//!
//! Importers (folder, tar, Moodle, git, …) produce a [`SourceTree`]; the builder chunks,
//! hashes, compresses and signs it. An importer never writes to a repository itself, so a
//! failed import leaves the repository untouched.

use std::path::PathBuf;

use crate::manifest::PackMeta;

/// Where the bytes of one source file are.
#[derive(Debug, Clone)]
pub enum SourceData {
    /// Bytes produced in memory (rendered HTML, converted quiz JSON, small archive members).
    Bytes(Vec<u8>),
    /// A regular file on disk (large media read from a folder or a temporary directory).
    File(PathBuf),
}

/// One file of the future pack.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path inside the pack: relative, `/`-separated, UTF-8. Checked by the builder
    /// with [`crate::path::check_pack_path`].
    pub path: String,
    pub data: SourceData,
}

/// Everything a pack version is built from.
#[derive(Debug, Clone, Default)]
pub struct SourceTree {
    pub meta: PackMeta,
    pub files: Vec<SourceFile>,
}

impl SourceTree {
    pub fn add_bytes(&mut self, path: impl Into<String>, bytes: impl Into<Vec<u8>>) {
        self.files.push(SourceFile { path: path.into(), data: SourceData::Bytes(bytes.into()) });
    }

    pub fn add_file(&mut self, path: impl Into<String>, on_disk: impl Into<PathBuf>) {
        self.files.push(SourceFile { path: path.into(), data: SourceData::File(on_disk.into()) });
    }
}
