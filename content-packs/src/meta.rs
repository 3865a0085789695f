//! The signed metadata of a repository: the root document and the catalog.
//!
//! TUF-style: the *root* lists the keys allowed to sign the root itself and the catalog;
//! every root version is kept (`roots/<N>.json`) and each new one must be signed by the
//! previous root's keys, so that keys can be rotated. The *catalog* maps pack ids to the
//! manifest of their current version; its version only grows and it expires.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::hash::Hash;
use crate::sign::Role;

pub const ROOT_TYPE: &str = "preau-root";
pub const CATALOG_TYPE: &str = "preau-catalog";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roles {
    pub root: Role,
    pub catalog: Role,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Root {
    #[serde(rename = "type")]
    pub kind: String,
    pub version: u64,
    /// Unix seconds.
    pub expires: u64,
    pub roles: Roles,
}

/// A delta that rebuilds a pack's new manifest from an older one (see `DeltaRef`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestDelta {
    pub from: Hash,
    pub object: Hash,
    pub size: u64,
    /// Everything a box holding `from` needs, as one object (see `bundle`). Optional:
    /// repositories built before bundles existed have none, and readers that do not know
    /// the field ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<BundleRef>,
}

/// An update bundle (see `bundle`), at `updates/…/<from>`: the hash and length of its
/// decoded bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleRef {
    pub object: Hash,
    pub size: u64,
    /// Set for a *referenced* bundle (compressed against files of `from`, see
    /// `bundle::decode`): the exact length of the file. Absent: the file is a raw frame
    /// of `size` bytes. Readers that do not know the field fail to decode such a bundle
    /// and do without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<u64>,
}

impl BundleRef {
    /// The length of the bundle's file, which boxes split into Range parts.
    pub fn stored_len(&self) -> u64 {
        self.stored.unwrap_or_else(|| crate::object::raw_frame_len(self.size))
    }
}

/// What the catalog says about one pack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogEntry {
    pub version: u64,
    pub manifest: Hash,
    /// Length of the manifest's JSON bytes (the bound for reading it).
    pub manifest_size: u64,
    /// Sum of the pack's file sizes.
    pub size: u64,
    pub files: u64,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub language: String,
    #[serde(default)]
    pub subjects: Vec<String>,
    #[serde(default)]
    pub level: String,
    #[serde(default)]
    pub kind: String,
    /// Unix seconds of the build that published this version.
    #[serde(default)]
    pub published: u64,
    /// Manifest deltas from the version before this one (with its bundle): inline, so
    /// that a box one version behind needs nothing else.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manifest_deltas: Vec<ManifestDelta>,
    /// The deltas (and bundles) from older versions of the K-window, in one object (a
    /// JSON list of [`ManifestDelta`], see [`DeltaWindow`]): a box several versions
    /// behind fetches it in the second round; the catalog does not grow with K.
    /// Readers that do not know the field ignore it and update without a bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowRef>,
}

/// The object holding a version's older manifest deltas: its hash and decoded length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowRef {
    pub object: Hash,
    pub size: u64,
}

/// Readers refuse larger window objects (64 versions of about 300 bytes each fit).
pub const MAX_WINDOW_BYTES: u64 = 64 * 1024;

/// The content of a window object.
pub type DeltaWindow = Vec<ManifestDelta>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    #[serde(rename = "type")]
    pub kind: String,
    /// Grows by one at every publication; a box never accepts a smaller one.
    pub version: u64,
    /// Unix seconds when it was signed; boxes keep the latest seen as a clock floor.
    pub issued: u64,
    /// Unix seconds after which online sources must not serve it.
    pub expires: u64,
    /// The root version whose catalog keys signed it.
    pub root_version: u64,
    /// Every pack, in memory. In a split catalog's signed top it is empty and the packs
    /// are in the nodes named by `index` (see `catalog_tree`); readers fill it from them.
    pub packs: BTreeMap<String, CatalogEntry>,
    /// A split catalog (see `catalog_tree`): the hashes of its branch nodes, `null` for
    /// an empty one. Readers that do not know the field see no packs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<Vec<Option<Hash>>>,
}

impl Catalog {
    pub fn empty(root_version: u64) -> Catalog {
        Catalog {
            kind: CATALOG_TYPE.into(),
            version: 0,
            issued: 0,
            expires: 0,
            root_version,
            packs: BTreeMap::new(),
            index: None,
        }
    }
}

/// Now, in unix seconds (the operator's machine has a clock; boxes keep a floor).
pub fn now_unix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
