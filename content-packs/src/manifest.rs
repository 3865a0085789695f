//! The manifest of one pack version: metadata and the list of files with their chunks.
//!
//! A manifest is stored as an ordinary object in the repository (compressed JSON) and is
//! named by the hash of its JSON bytes. It is deterministic: the same files and metadata
//! give the same bytes, because files are sorted by path, maps are ordered, and nothing
//! time-dependent is recorded here (build times live in the catalog).

use serde::{Deserialize, Serialize};

use crate::hash::Hash;
use crate::limits;
use crate::{Error, Result};

/// The manifest format version. Readers refuse manifests with a higher number.
pub const MANIFEST_FORMAT: u32 = 1;

/// Descriptive metadata of a pack, shown in catalogs and used by the box.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PackMeta {
    /// Stable identifier: lowercase ASCII letters, digits, `-`, `_`, `.`; 1..=64 bytes.
    pub id: String,
    pub title: String,
    pub description: String,
    /// BCP 47 language tag, for example `fr`.
    pub language: String,
    pub subjects: Vec<String>,
    /// School level, free text for now (for example `cycle 4`, `seconde`, `L1`).
    pub level: String,
    /// Where the content came from (a Forge project, an Éléa course).
    pub source_url: String,
    /// Revision of the source, for example a git commit id.
    pub source_revision: String,
    /// The source's own id of the content, when it has one (a Moodle backup's
    /// `original_course_id`): the national side groups the same course across boxes by it.
    /// Absent from manifests of sources that have none, so their bytes are unchanged.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source_id: String,
    /// Licence name or SPDX id, for example `CC-BY-SA-4.0`.
    pub licence: String,
    /// The page a pupil opens first, a path inside the pack (for example `index.html`).
    pub entry: String,
    /// What produced the pack: `folder`, `tar`, `moodle`, `gift`, `moodle-xml`, `git`, `zim`…
    pub kind: String,
}

/// One chunk of a file: its hash and its uncompressed length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRef(pub Hash, pub u64);

/// One file of a pack version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    /// Media type, from the file name (for example `text/html`).
    #[serde(rename = "type")]
    pub media_type: String,
    /// BLAKE3 of the whole file.
    pub hash: Hash,
    /// The file's chunks in order. Empty when the file is a single chunk, whose object
    /// is then named by `hash` itself (small files stay whole).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chunks: Vec<ChunkRef>,
}

impl FileEntry {
    /// The chunks to read, in order, whether the file is whole or split.
    pub fn chunk_list(&self) -> Vec<ChunkRef> {
        if self.chunks.is_empty() { vec![ChunkRef(self.hash, self.size)] } else { self.chunks.clone() }
    }
}

/// A compressed delta that rebuilds the file `to` from the file `from` (zstd patch-from).
/// Listed in the manifest of the newer version so that it is covered by the signatures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeltaRef {
    /// Hash of the old file (the reference).
    pub from: Hash,
    /// Hash of the new file it produces.
    pub to: Hash,
    /// The delta object: its decoded bytes are the zstd patch, and it is named by their
    /// BLAKE3 like every object (see `delta`).
    pub object: Hash,
    /// Length of the patch (the object's decoded length).
    pub size: u64,
}

/// A pack version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub version: u64,
    pub meta: PackMeta,
    /// The manifest of the previous version of this pack, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Hash>,
    /// Files sorted by path (byte order).
    pub files: Vec<FileEntry>,
    /// Per-file deltas against the previous version (see `DeltaRef`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deltas: Vec<DeltaRef>,
}

impl Manifest {
    /// The canonical JSON bytes (the manifest's hash is the hash of these bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a manifest always serialises")
    }

    pub fn hash(&self) -> Hash {
        Hash::of(&self.to_bytes())
    }

    /// Parses and checks a manifest: format, sorted unique valid paths, consistent sizes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Manifest> {
        if bytes.len() as u64 > limits::MAX_MANIFEST_BYTES {
            return Err(Error::TooLarge { what: "manifest".into(), limit: limits::MAX_MANIFEST_BYTES });
        }
        let m: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| Error::Malformed { what: "manifest".into(), detail: e.to_string() })?;
        m.check()?;
        Ok(m)
    }

    /// The invariants every manifest holds (also asserted before writing one).
    pub fn check(&self) -> Result<()> {
        let bad =
            |detail: String| Err(Error::Malformed { what: format!("manifest of pack {:?}", self.meta.id), detail });
        if self.format > MANIFEST_FORMAT {
            return bad(format!("format {} is newer than this program understands ({MANIFEST_FORMAT})", self.format));
        }
        crate::path::check_pack_id(&self.meta.id)?;
        if self.files.len() > limits::MAX_FILES_PER_PACK {
            return bad(format!("{} files, more than the limit of {}", self.files.len(), limits::MAX_FILES_PER_PACK));
        }
        for pair in self.files.windows(2) {
            if pair[0].path >= pair[1].path {
                return bad(format!("files not sorted or duplicated at {:?}", pair[1].path));
            }
        }
        crate::path::check_collisions(self.files.iter().map(|f| f.path.as_str()))?;
        for f in &self.files {
            crate::path::check_pack_path(&f.path)?;
            if !f.chunks.is_empty() {
                let sum: u64 = f.chunks.iter().map(|c| c.1).sum();
                if sum != f.size {
                    return bad(format!("chunks of {:?} add up to {sum} bytes, not {}", f.path, f.size));
                }
                if f.chunks.iter().any(|c| c.1 > limits::MAX_CHUNK_BYTES) {
                    return bad(format!("a chunk of {:?} is larger than {} bytes", f.path, limits::MAX_CHUNK_BYTES));
                }
            } else if f.size > limits::MAX_CHUNK_BYTES {
                return bad(format!("{:?} has {} bytes but no chunk list", f.path, f.size));
            }
        }
        Ok(())
    }

    pub fn file(&self, path: &str) -> Option<&FileEntry> {
        self.files.binary_search_by(|f| f.path.as_str().cmp(path)).ok().map(|i| &self.files[i])
    }

    /// Sum of the file sizes.
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}
