//! Bounds on every input the pack format reads. A reader refuses anything larger with
//! [`crate::Error::TooLarge`] instead of allocating without limit ("endless data").

/// FastCDC parameters: about 64 KiB chunks; files under `MIN_CHUNK_BYTES` stay whole.
pub const MIN_CHUNK_BYTES: u32 = 16 * 1024;
pub const AVG_CHUNK_BYTES: u32 = 64 * 1024;
pub const MAX_CHUNK_BYTES: u64 = 256 * 1024;

/// zstd window for stored chunks: at most 8 MiB, so that any browser or Pi can decode.
pub const MAX_WINDOW_LOG: u32 = 23;

pub const MAX_ROOT_BYTES: u64 = 64 * 1024;
pub const MAX_CATALOG_BYTES: u64 = 8 * 1024 * 1024;
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;
pub const MAX_FILES_PER_PACK: usize = 200_000;
pub const MAX_PACKS_PER_CATALOG: usize = 20_000;
/// Default largest file accepted into a pack (4 GiB); `pack build --max-file-size` changes it.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 4 * 1024 * 1024 * 1024;
pub const MAX_PATH_BYTES: usize = 1024;
pub const MAX_PATH_COMPONENT_BYTES: usize = 255;
pub const MAX_ID_BYTES: usize = 64;
/// Largest stored object (a chunk, a manifest or a delta), compressed or not.
pub const MAX_OBJECT_BYTES: u64 = MAX_MANIFEST_BYTES + 1024;
/// Signatures and keys on one root or catalog.
pub const MAX_SIGNATURES: usize = 32;
