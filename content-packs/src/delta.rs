//! Per-file deltas between two versions of a pack: zstd "patch-from".
//!
//! A delta is one zstd frame compressed with the *old* file as reference prefix (the
//! same as `zstd --patch-from=old new`), with long-distance matching so that moved text
//! far away in the old file is still found. The window must cover the old file plus the
//! new one; it is bounded by [`MAX_DELTA_WINDOW_LOG`] so that a Raspberry Pi (512 MB of
//! RAM on a Zero 2 W) can apply any delta it is offered. Larger pairs get no delta and a
//! box falls back to chunks.
//!
//! A delta is stored in the repository as an ordinary object (a raw-block zstd frame
//! around the patch bytes), named by the BLAKE3 of the patch bytes, so it is read and
//! verified like every other object. Pure code: no I/O here.

use crate::hash::Hash;
use crate::manifest::{DeltaRef, FileEntry};
use crate::{Error, Result};

/// Largest window a delta may need: 64 MiB (old and new file together).
pub const MAX_DELTA_WINDOW_LOG: u32 = 26;
/// zstd level used to make deltas (publishing is done once, applying many times).
pub const DELTA_LEVEL: i32 = 19;

/// The window log a delta from `old_len` to `new_len` bytes needs, if it is allowed.
pub fn window_log_for(old_len: u64, new_len: u64) -> Option<u32> {
    let total = old_len.checked_add(new_len)?.max(1);
    let log = (u64::BITS - (total - 1).leading_zeros()).max(10);
    (log <= MAX_DELTA_WINDOW_LOG).then_some(log)
}

/// Makes the patch that rebuilds `new` from `old`. `None` when the pair is too large for
/// the bounded window.
pub fn make(old: &[u8], new: &[u8]) -> Option<Vec<u8>> {
    use zstd::zstd_safe::{CCtx, CParameter};
    let wlog = window_log_for(old.len() as u64, new.len() as u64)?;
    let mut cctx = CCtx::create();
    let ok = |r: std::result::Result<usize, usize>| r.is_ok();
    if !(ok(cctx.set_parameter(CParameter::CompressionLevel(DELTA_LEVEL)))
        && ok(cctx.set_parameter(CParameter::WindowLog(wlog)))
        && ok(cctx.set_parameter(CParameter::EnableLongDistanceMatching(true)))
        && ok(cctx.set_parameter(CParameter::ContentSizeFlag(true)))
        && ok(cctx.set_parameter(CParameter::ChecksumFlag(false)))
        && ok(cctx.ref_prefix(old)))
    {
        return None;
    }
    let mut out: Vec<u8> = Vec::with_capacity(zstd::zstd_safe::compress_bound(new.len()));
    cctx.compress2(&mut out, new).ok()?;
    Some(out)
}

/// Rebuilds the new file from `old` and a patch, refusing to produce more than
/// `expected_len` bytes or to use a window beyond the bound. The caller checks the hash.
pub fn apply(old: &[u8], patch: &[u8], expected_len: u64) -> Result<Vec<u8>> {
    use zstd::zstd_safe::{DCtx, DParameter};
    let bad = |detail: String| Error::Malformed { what: "delta".into(), detail };
    let cap = usize::try_from(expected_len).map_err(|_| bad("expected length too large".into()))?;
    let mut dctx = DCtx::create();
    dctx.set_parameter(DParameter::WindowLogMax(MAX_DELTA_WINDOW_LOG))
        .map_err(|c| bad(zstd::zstd_safe::get_error_name(c).to_string()))?;
    dctx.ref_prefix(old).map_err(|c| bad(zstd::zstd_safe::get_error_name(c).to_string()))?;
    let mut out: Vec<u8> = Vec::with_capacity(cap);
    let n = dctx.decompress(&mut out, patch).map_err(|c| {
        bad(format!(
            "zstd: {} (output larger than {expected_len} bytes, wrong base, or damaged)",
            zstd::zstd_safe::get_error_name(c)
        ))
    })?;
    if n as u64 != expected_len {
        return Err(bad(format!("rebuilds {n} bytes, expected {expected_len}")));
    }
    Ok(out)
}

/// Applies a patch and checks that the result is the file with hash `to`.
pub fn apply_verified(old: &[u8], patch: &[u8], to: &Hash, expected_len: u64) -> Result<Vec<u8>> {
    let out = apply(old, patch, expected_len)?;
    let got = Hash::of(&out);
    if got != *to {
        return Err(Error::CorruptObject { hash: *to, detail: format!("delta rebuilds content hashing to {got}") });
    }
    Ok(out)
}

/// Which files of a new version deserve a delta from the previous version: same path,
/// different content, both sizes within the window bound. Returns (old, new) pairs.
pub fn candidates<'a>(old: &'a [FileEntry], new: &'a [FileEntry]) -> Vec<(&'a FileEntry, &'a FileEntry)> {
    let mut out = Vec::new();
    for n in new {
        let Ok(i) = old.binary_search_by(|o| o.path.as_str().cmp(&n.path)) else { continue };
        let o = &old[i];
        if o.hash != n.hash && o.size > 0 && window_log_for(o.size, n.size).is_some() {
            out.push((o, n));
        }
    }
    out
}

/// Whether a patch is worth publishing: clearly smaller than sending the file again.
pub fn worth_it(patch_len: usize, new_len: u64) -> bool {
    (patch_len as u64) * 4 < new_len * 3
}

/// A delta reference for a patch (the object is named by the patch's hash).
pub fn delta_ref(from: &Hash, to: &Hash, patch: &[u8]) -> DeltaRef {
    DeltaRef { from: *from, to: *to, object: Hash::of(patch), size: patch.len() as u64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(seed: u32, n: usize) -> Vec<u8> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                b"abcdefghij klmnop\n"[(x >> 16) as usize % 18]
            })
            .collect()
    }

    #[test]
    fn patch_round_trip_is_small_and_exact() {
        let old = text(1, 300_000);
        let mut new = old.clone();
        new.splice(150_000..150_010, b"INSERTED A NEW PARAGRAPH HERE".iter().copied());
        new.extend_from_slice(b"and an appendix");
        let patch = make(&old, &new).unwrap();
        assert!(patch.len() < 500, "patch is {} bytes", patch.len());
        assert!(worth_it(patch.len(), new.len() as u64));
        let back = apply_verified(&old, &patch, &Hash::of(&new), new.len() as u64).unwrap();
        assert_eq!(back, new);
    }

    #[test]
    fn wrong_base_wrong_length_and_damage_are_refused() {
        let old = text(2, 100_000);
        let mut new = old.clone();
        new[5000] = b'#';
        let patch = make(&old, &new).unwrap();
        let h = Hash::of(&new);
        let other = text(3, 100_000);
        assert!(apply_verified(&other, &patch, &h, new.len() as u64).is_err());
        assert!(apply(&old, &patch, new.len() as u64 - 1).is_err());
        let mut damaged = patch.clone();
        let last = damaged.len() - 2;
        damaged[last] ^= 0x55;
        assert!(apply_verified(&old, &damaged, &h, new.len() as u64).is_err());
    }

    #[test]
    fn window_is_bounded() {
        assert_eq!(window_log_for(1000, 1000), Some(11));
        assert!(window_log_for(40 << 20, 40 << 20).is_none());
        assert!(make(&[], b"x").is_some());
    }
}
