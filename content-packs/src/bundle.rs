//! Update bundles: what a box holding one version of a pack lacks for the next, as one
//! object.
//!
//! Without a bundle, an update costs three dependent round trips: the catalog, then the
//! new manifest (it names the objects), then the objects. On a satellite or rural link
//! (400 ms or more) that is most of the time of a small update. The publisher therefore
//! also writes, with each manifest delta of the catalog, one *bundle*: a file whose
//! decoded bytes are the manifest patch followed by every object a box that holds the
//! previous version needs (per-file deltas, chunks of new content). It lives at
//! `updates/<h[0..2]>/<h>`, named by the manifest `h` it updates, so that a box can ask
//! for it *in the same round trip as the catalog*, before it knows whether there is an
//! update (it is rewritten at each publication to lead to the newest version: the
//! publisher's K-window, `build::window`). A box that is behind by up to K versions
//! then has everything after one round trip, plus the transfer (when it is more than
//! one behind, the bundle describes itself: [`decode_unsigned`]; or the window object
//! names it).
//!
//! Stored like an object: one raw zstd frame (`object::raw_frame`; its records are zstd
//! frames already). Decoded layout: the magic `PREAUBN1`, then records, each `hash` (32
//! bytes), `length` (u32, little endian) and `length` bytes: the object's stored bytes
//! (one zstd frame, exactly as in `objects/`). The first record is the manifest patch.
//!
//! Nothing in a bundle is trusted for being there: the signed catalog gives its hash and
//! length (`meta::BundleRef`), and every record is still decoded and checked against the
//! hash and length that the (verified) manifest gives before it is used. Pure code.
//!
//! **Referenced bundles.** Per-file deltas cannot use what changed files share: a course
//! site's `reveal.js` and `reveal.esm.js`, or its source maps, change the same way, and
//! each delta pays for it again (on one real pair, the per-file patches summed to twice
//! `zstd --patch-from` of the whole tree). A referenced bundle is therefore one zstd
//! frame made with the *old versions of the changed files*, concatenated, as reference
//! prefix (`delta::make`), whose decoded bytes are the records above with the missing
//! chunks as raw frames: one compression context sees every change at once, as
//! `zstd --patch-from=v1.tar v2.tar` does. Stored form: the magic `PREAUBR1`, the number
//! of base files (u32, little endian), their content hashes (32 bytes each, files of the
//! manifest `from`), then the frame. The catalog marks it with `BundleRef::stored`. The
//! publisher keeps whichever of the two forms is smaller.
//!
//! **Records without hashes** (`PREAUBN2`, inside referenced bundles). The records after
//! the manifest patch are the missing chunks in the order of [`missing_chunks`] between
//! the box's manifest and the new one, which the box knows once it has applied the
//! patch: each is only `length` and bytes. A BLAKE3 hash is 32 incompressible bytes per
//! chunk (1.3 KB of a 21 KB update on reveal.js); the box still checks every chunk
//! against the manifest's hash before it uses it. Boxes that do not know `PREAUBN2`
//! fail to read the bundle and update the three-round way.

use std::collections::{BTreeMap, HashSet};

use crate::hash::Hash;
use crate::manifest::{DeltaRef, Manifest};
use crate::{Error, Result};

pub const BUNDLE_MAGIC: &[u8; 8] = b"PREAUBN1";
/// Decoded bundle whose records after the first carry no hash (see the module doc).
pub const HASHLESS_MAGIC: &[u8; 8] = b"PREAUBN2";
/// Readers refuse larger bundles.
pub const MAX_BUNDLE_BYTES: u64 = 16 * 1024 * 1024;
/// The publisher makes no bundle larger than this: beyond it the transfer dominates and
/// the round trip a bundle saves is worth little against storing the bytes twice.
pub const BUILD_MAX_BUNDLE_BYTES: u64 = 4 * 1024 * 1024;

/// Magic of a referenced bundle's stored form.
pub const REFERENCED_MAGIC: &[u8; 8] = b"PREAUBR1";
/// Most base files a referenced bundle may name.
pub const MAX_BASES: usize = 10_000;
/// Most bytes of base files (the reference prefix). With the decoded bundle (at most
/// [`MAX_BUNDLE_BYTES`]) it stays within a delta's bounded window, which a Pi can apply.
pub const MAX_BASE_BYTES: u64 = 48 * 1024 * 1024;

/// The stored form of a referenced bundle: header, then the zstd `frame`.
pub fn encode_referenced(bases: &[Hash], frame: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + 32 * bases.len() + frame.len());
    out.extend_from_slice(REFERENCED_MAGIC);
    out.extend_from_slice(&u32::try_from(bases.len()).expect("bounded by MAX_BASES").to_le_bytes());
    for b in bases {
        out.extend_from_slice(&b.0);
    }
    out.extend_from_slice(frame);
    out
}

/// Splits a referenced bundle's stored form into its base hashes and its frame.
pub fn parse_referenced(stored: &[u8]) -> Result<(Vec<Hash>, &[u8])> {
    let bad = |detail: String| Error::Malformed { what: "referenced update bundle".into(), detail };
    let rest = stored.strip_prefix(REFERENCED_MAGIC.as_slice()).ok_or_else(|| bad("bad magic".into()))?;
    let count = rest.get(..4).ok_or_else(|| bad("truncated header".into()))?;
    let count = u32::from_le_bytes(count.try_into().expect("4 bytes")) as usize;
    if count > MAX_BASES {
        return Err(bad(format!("{count} base files, more than {MAX_BASES}")));
    }
    let hashes = rest.get(4..4 + 32 * count).ok_or_else(|| bad("truncated list of base files".into()))?;
    let bases = hashes.chunks_exact(32).map(|c| Hash(c.try_into().expect("32 bytes"))).collect();
    Ok((bases, &rest[4 + 32 * count..]))
}

/// Decodes a bundle's stored bytes (raw or referenced, as `b` says) and checks them
/// against the catalog's hash and length. `read_base` gives the content of a file of the
/// manifest the bundle updates, by content hash (verified by the caller's reader).
pub fn decode(
    stored: &[u8],
    b: &crate::meta::BundleRef,
    mut read_base: impl FnMut(&Hash) -> Result<Vec<u8>>,
) -> Result<Vec<u8>> {
    if b.size > MAX_BUNDLE_BYTES {
        return Err(Error::TooLarge { what: "update bundle".into(), limit: MAX_BUNDLE_BYTES });
    }
    let Some(stored_len) = b.stored else {
        return crate::object::decode_verified(stored, &b.object, b.size);
    };
    if stored.len() as u64 != stored_len {
        return Err(Error::CorruptObject {
            hash: b.object,
            detail: format!("the bundle file has {} bytes, the catalog says {stored_len}", stored.len()),
        });
    }
    let (bases, frame) = parse_referenced(stored)?;
    let prefix = reference_prefix(&bases, &mut read_base)?;
    let bytes = crate::delta::apply(&prefix, frame, b.size)
        .map_err(|e| Error::CorruptObject { hash: b.object, detail: e.to_string() })?;
    let got = Hash::of(&bytes);
    if got != b.object {
        return Err(Error::CorruptObject { hash: b.object, detail: format!("decodes to content hashing to {got}") });
    }
    Ok(bytes)
}

/// Decodes a whole bundle file that no signed metadata describes yet, and gives the
/// [`BundleRef`](crate::meta::BundleRef) it matches: a box several versions behind that
/// received the whole file with the catalog's top, before the pack's window object would
/// name it (`sync`'s pull). Bounded as [`decode`]; the result is to be used only where
/// everything taken from it is checked against signed hashes, as the pull does: the
/// manifest patch must rebuild the catalog's manifest, and each record is checked against
/// that manifest's hashes before it is used (so a wrong file is refused, never trusted).
pub fn decode_unsigned(
    stored: &[u8],
    mut read_base: impl FnMut(&Hash) -> Result<Vec<u8>>,
) -> Result<(Vec<u8>, crate::meta::BundleRef)> {
    let bad = |detail: String| Error::Malformed { what: "update bundle".into(), detail };
    if !stored.starts_with(REFERENCED_MAGIC) {
        let bytes = crate::object::decode_bounded(stored, MAX_BUNDLE_BYTES).map_err(bad)?;
        let b = crate::meta::BundleRef { object: Hash::of(&bytes), size: bytes.len() as u64, stored: None };
        return Ok((bytes, b));
    }
    let (bases, frame) = parse_referenced(stored)?;
    let size = match zstd::zstd_safe::get_frame_content_size(frame) {
        Ok(Some(n)) if n <= MAX_BUNDLE_BYTES => n,
        Ok(Some(_)) => return Err(Error::TooLarge { what: "update bundle".into(), limit: MAX_BUNDLE_BYTES }),
        _ => return Err(bad("its frame does not say its length".into())),
    };
    // The hash is not known yet: decode against the bases, then name what came out.
    let prefix = reference_prefix(&bases, &mut read_base)?;
    let bytes = crate::delta::apply(&prefix, frame, size)?;
    let b = crate::meta::BundleRef { object: Hash::of(&bytes), size, stored: Some(stored.len() as u64) };
    Ok((bytes, b))
}

/// The manifest delta a decoded bundle `bytes` (see [`decode_unsigned`]) carries, from
/// the manifest `from`: its first record is the manifest patch.
pub fn delta_of(from: Hash, bytes: &[u8], bundle: crate::meta::BundleRef) -> Result<crate::meta::ManifestDelta> {
    let (patch, first) = first_record(bytes)?;
    let size = crate::object::decode_bounded(first, crate::limits::MAX_MANIFEST_BYTES)
        .map_err(|detail| Error::Malformed { what: "update bundle's manifest patch".into(), detail })?
        .len() as u64;
    Ok(crate::meta::ManifestDelta { from, object: patch, size, bundle: Some(bundle) })
}

/// The base files of a referenced bundle, concatenated (the frame's reference prefix),
/// within [`MAX_BASE_BYTES`].
fn reference_prefix(bases: &[Hash], read_base: &mut impl FnMut(&Hash) -> Result<Vec<u8>>) -> Result<Vec<u8>> {
    let mut prefix = Vec::new();
    for h in bases {
        let data = read_base(h)?;
        if prefix.len() as u64 + data.len() as u64 > MAX_BASE_BYTES {
            return Err(Error::TooLarge { what: "base files of an update bundle".into(), limit: MAX_BASE_BYTES });
        }
        prefix.extend_from_slice(&data);
    }
    Ok(prefix)
}

/// The base files of a referenced bundle from `prev` to `new`: the previous version of
/// each file that changed (the pairs per-file deltas are made for), in `new`'s order,
/// each once, within [`MAX_BASE_BYTES`].
pub fn referenced_bases<'a>(prev: &'a Manifest, new: &'a Manifest) -> Vec<&'a crate::manifest::FileEntry> {
    let mut seen = HashSet::new();
    let mut total = 0u64;
    let mut out = Vec::new();
    for (old, _) in crate::delta::candidates(&prev.files, &new.files) {
        if total + old.size > MAX_BASE_BYTES {
            continue;
        }
        if seen.insert(old.hash) {
            total += old.size;
            out.push(old);
        }
    }
    out
}

/// The chunks (hash, length) of `new` that a box holding every chunk of `prev` lacks, in
/// manifest order, each once: a referenced bundle carries them all (no per-file deltas).
pub fn missing_chunks(prev: &Manifest, new: &Manifest) -> Vec<(Hash, u64)> {
    let mut have: HashSet<Hash> = prev.files.iter().flat_map(|f| f.chunk_list()).map(|c| c.0).collect();
    let mut out = Vec::new();
    for f in &new.files {
        for c in f.chunk_list() {
            if have.insert(c.0) {
                out.push((c.0, c.1));
            }
        }
    }
    out
}

/// Serialises records (hash, stored bytes) into a bundle's decoded bytes.
pub fn encode(records: &[(Hash, Vec<u8>)]) -> Vec<u8> {
    let total: usize = records.iter().map(|r| 36 + r.1.len()).sum();
    let mut out = Vec::with_capacity(BUNDLE_MAGIC.len() + total);
    out.extend_from_slice(BUNDLE_MAGIC);
    for (h, stored) in records {
        out.extend_from_slice(&h.0);
        out.extend_from_slice(&u32::try_from(stored.len()).expect("objects are far below 4 GiB").to_le_bytes());
        out.extend_from_slice(stored);
    }
    out
}

/// Splits a bundle's decoded bytes into records (hash, stored bytes). Checks only the
/// framing; the caller verifies each record against the manifest before using it.
/// The decoded bytes of a bundle without hashes: the manifest patch `(hash, stored)` with
/// its hash, then each chunk of [`missing_chunks`] (in that order) as length and bytes.
pub fn encode_hashless(patch: &(Hash, Vec<u8>), chunks: &[Vec<u8>]) -> Vec<u8> {
    let total: usize = 36 + patch.1.len() + chunks.iter().map(|c| 4 + c.len()).sum::<usize>();
    let mut out = Vec::with_capacity(HASHLESS_MAGIC.len() + total);
    out.extend_from_slice(HASHLESS_MAGIC);
    out.extend_from_slice(&patch.0.0);
    for stored in std::iter::once(&patch.1).chain(chunks) {
        out.extend_from_slice(&u32::try_from(stored.len()).expect("objects are far below 4 GiB").to_le_bytes());
        out.extend_from_slice(stored);
    }
    out
}

/// The first record of a decoded bundle (either form): the manifest patch.
pub fn first_record(bytes: &[u8]) -> Result<(Hash, &[u8])> {
    if let Some(rest) = bytes.strip_prefix(HASHLESS_MAGIC.as_slice()) {
        let bad = || Error::Malformed { what: "update bundle".into(), detail: "truncated first record".into() };
        let h = Hash(rest.get(..32).ok_or_else(bad)?.try_into().expect("32 bytes"));
        let (first, _) = split_lengths(&rest[32..], 1)?;
        return Ok((h, first[0]));
    }
    parse(bytes)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Malformed { what: "update bundle".into(), detail: "it has no record".into() })
}

/// Every record after the first, by object hash. For records without hashes the box's
/// manifest `prev` and the new manifest `new` give the hashes ([`missing_chunks`]).
pub fn later_records<'a>(bytes: &'a [u8], prev: &Manifest, new: &Manifest) -> Result<Vec<(Hash, &'a [u8])>> {
    let Some(rest) = bytes.strip_prefix(HASHLESS_MAGIC.as_slice()) else {
        return Ok(parse(bytes)?.into_iter().skip(1).collect());
    };
    let missing = missing_chunks(prev, new);
    let rest = rest.get(32..).unwrap_or_default();
    let (records, left) = split_lengths(rest, missing.len() + 1)?;
    if !left.is_empty() {
        return Err(Error::Malformed {
            what: "update bundle".into(),
            detail: "more records than the chunks the update needs".into(),
        });
    }
    Ok(missing.into_iter().map(|(h, _)| h).zip(records.into_iter().skip(1)).collect())
}

/// Splits `n` records of `length` and bytes off `rest`; returns them and what is left.
fn split_lengths(mut rest: &[u8], n: usize) -> Result<(Vec<&[u8]>, &[u8])> {
    let bad = |detail: String| Error::Malformed { what: "update bundle".into(), detail };
    let mut out = Vec::with_capacity(n.min(MAX_BASES));
    while out.len() < n {
        if rest.len() < 4 {
            return Err(bad(format!("truncated record header at record {}", out.len())));
        }
        let len = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        rest = &rest[4..];
        if rest.len() < len {
            return Err(bad(format!("record {} is truncated", out.len())));
        }
        out.push(&rest[..len]);
        rest = &rest[len..];
    }
    Ok((out, rest))
}

pub fn parse(bytes: &[u8]) -> Result<Vec<(Hash, &[u8])>> {
    let bad = |detail: String| Error::Malformed { what: "update bundle".into(), detail };
    let Some(mut rest) = bytes.strip_prefix(BUNDLE_MAGIC.as_slice()) else {
        return Err(bad("bad magic".into()));
    };
    let mut out = Vec::new();
    while !rest.is_empty() {
        if rest.len() < 36 {
            return Err(bad(format!("truncated record header at record {}", out.len())));
        }
        let h = Hash(rest[..32].try_into().expect("32 bytes"));
        let len = u32::from_le_bytes(rest[32..36].try_into().expect("4 bytes")) as usize;
        rest = &rest[36..];
        if rest.len() < len {
            return Err(bad(format!("record {} ({h}) is truncated", out.len())));
        }
        out.push((h, &rest[..len]));
        rest = &rest[len..];
    }
    Ok(out)
}

/// The objects a box that holds every file and chunk of `prev` lacks to complete `new`,
/// in manifest order: for each file, its per-file delta when one exists from a file of
/// `prev` and is smaller than the chunks it replaces, otherwise its missing chunks. This
/// is the rule of the box's planner (`preau_sync::plan::plan_pack`) for such a box; a test
/// there (`the_publishers_bundle_rule_is_this_planners_rule`) keeps the two in step.
pub fn members(prev: &Manifest, new: &Manifest) -> Vec<Hash> {
    let have: HashSet<Hash> = prev.files.iter().flat_map(|f| f.chunk_list()).map(|c| c.0).collect();
    let bases: HashSet<Hash> = prev.files.iter().map(|f| f.hash).collect();
    let mut deltas_to: BTreeMap<Hash, Vec<&DeltaRef>> = BTreeMap::new();
    for d in &new.deltas {
        deltas_to.entry(d.to).or_default().push(d);
    }
    let mut planned: HashSet<Hash> = HashSet::new();
    let mut rebuilt: HashSet<Hash> = HashSet::new();
    let mut out = Vec::new();
    for f in &new.files {
        let chunks = f.chunk_list();
        let missing: Vec<_> = chunks.iter().filter(|c| !have.contains(&c.0) && !planned.contains(&c.0)).collect();
        if missing.is_empty() || rebuilt.contains(&f.hash) {
            continue;
        }
        let missing_len: u64 = missing.iter().map(|c| c.1).sum();
        let best = deltas_to
            .get(&f.hash)
            .into_iter()
            .flatten()
            .filter(|d| bases.contains(&d.from) && d.size < missing_len)
            .min_by_key(|d| d.size);
        if let Some(d) = best {
            if planned.insert(d.object) {
                out.push(d.object);
            }
            rebuilt.insert(f.hash);
            planned.extend(chunks.iter().map(|c| c.0));
            continue;
        }
        for c in missing {
            if planned.insert(c.0) {
                out.push(c.0);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{ChunkRef, FileEntry, MANIFEST_FORMAT};

    fn h(n: u8) -> Hash {
        Hash::of(&[n])
    }

    fn file(path: &str, hash: Hash, chunks: &[(Hash, u64)]) -> FileEntry {
        FileEntry {
            path: path.into(),
            size: chunks.iter().map(|c| c.1).sum::<u64>().max(if chunks.is_empty() { 10 } else { 0 }),
            media_type: "text/plain".into(),
            hash,
            chunks: chunks.iter().map(|c| ChunkRef(c.0, c.1)).collect(),
        }
    }

    fn manifest(files: Vec<FileEntry>, deltas: Vec<DeltaRef>) -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT,
            version: 2,
            meta: crate::PackMeta { id: "p".into(), ..Default::default() },
            previous: None,
            files,
            deltas,
        }
    }

    #[test]
    fn records_round_trip_and_damage_is_refused() {
        let recs = vec![(h(1), b"abc".to_vec()), (h(2), vec![]), (h(3), vec![7u8; 1000])];
        let bytes = encode(&recs);
        let back = parse(&bytes).unwrap();
        assert_eq!(back.len(), 3);
        assert_eq!(back[0], (h(1), &b"abc"[..]));
        assert_eq!(back[2].1.len(), 1000);
        assert!(parse(&bytes[..bytes.len() - 1]).is_err(), "truncated");
        assert!(parse(&bytes[1..]).is_err(), "bad magic");
        assert!(parse(&bytes[..8 + 20]).is_err(), "truncated header");
        assert_eq!(parse(BUNDLE_MAGIC).unwrap(), vec![]);
    }

    #[test]
    fn records_without_hashes_are_named_by_the_two_manifests() {
        let old = manifest(vec![file("a", h(10), &[(h(1), 5), (h(2), 5)])], vec![]);
        let new = manifest(
            vec![file("a", h(11), &[(h(1), 5), (h(3), 4)]), file("b", h(12), &[(h(4), 3), (h(3), 4)])],
            vec![],
        );
        assert_eq!(missing_chunks(&old, &new), vec![(h(3), 4), (h(4), 3)]);
        let bytes = encode_hashless(&(h(9), b"patch".to_vec()), &[b"cccc".to_vec(), b"ddd".to_vec()]);
        assert_eq!(first_record(&bytes).unwrap(), (h(9), &b"patch"[..]));
        let later = later_records(&bytes, &old, &new).unwrap();
        assert_eq!(later, vec![(h(3), &b"cccc"[..]), (h(4), &b"ddd"[..])]);
        // One record too many or too few for what the manifests say is missing: refused.
        let extra = encode_hashless(&(h(9), b"patch".to_vec()), &[b"cccc".to_vec(), b"ddd".to_vec(), b"e".to_vec()]);
        assert!(later_records(&extra, &old, &new).is_err());
        let short = encode_hashless(&(h(9), b"patch".to_vec()), &[b"cccc".to_vec()]);
        assert!(later_records(&short, &old, &new).is_err());
        assert!(first_record(&bytes[..20]).is_err(), "truncated");
        // The older form still reads.
        let old_form = encode(&[(h(9), b"patch".to_vec()), (h(3), b"cccc".to_vec())]);
        assert_eq!(first_record(&old_form).unwrap(), (h(9), &b"patch"[..]));
        assert_eq!(later_records(&old_form, &old, &new).unwrap(), vec![(h(3), &b"cccc"[..])]);
    }

    #[test]
    fn a_referenced_bundle_decodes_only_against_its_bases() {
        let old_a = b"fn main() { println!(\"bonjour\"); } // version une".repeat(40);
        let old_b = b"<p>Le groupe nominal.</p>".repeat(60);
        let bases = [Hash::of(&old_a), Hash::of(&old_b)];
        let mut new_a = old_a.clone();
        new_a.extend_from_slice(b"// version deux");
        let records = vec![(h(1), crate::object::raw_frame(&new_a)), (h(2), crate::object::raw_frame(&old_b))];
        let decoded = encode(&records);
        let prefix = [old_a.clone(), old_b.clone()].concat();
        let frame = crate::delta::make(&prefix, &decoded).unwrap();
        let stored = encode_referenced(&bases, &frame);
        assert!(stored.len() < decoded.len() / 10, "the bases do the work: {} of {}", stored.len(), decoded.len());
        let b = crate::meta::BundleRef {
            object: Hash::of(&decoded),
            size: decoded.len() as u64,
            stored: Some(stored.len() as u64),
        };
        let files = |h: &Hash| -> Result<Vec<u8>> {
            if *h == bases[0] {
                Ok(old_a.clone())
            } else if *h == bases[1] {
                Ok(old_b.clone())
            } else {
                Err(Error::Other(format!("no base {h}")))
            }
        };
        assert_eq!(decode(&stored, &b, files).unwrap(), decoded);
        assert_eq!(parse(&decode(&stored, &b, files).unwrap()).unwrap().len(), 2);

        // A base that differs (the box holds something else): refused, not garbage.
        let err = decode(&stored, &b, |_| Ok(old_b.clone())).unwrap_err();
        assert!(matches!(err, Error::CorruptObject { .. }), "{err}");
        // A missing base, a damaged frame, a cut file, a lying header: refused by name.
        assert!(decode(&stored, &b, |h| Err(Error::Other(format!("no base {h}")))).is_err());
        let mut damaged = stored.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 0x40;
        assert!(decode(&damaged, &b, files).is_err());
        let err = decode(&stored[..stored.len() - 1], &b, files).unwrap_err().to_string();
        assert!(err.contains("the catalog says"), "{err}");
        let mut lying = stored.clone();
        lying[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&lying, &b, files).unwrap_err().to_string().contains("base files"));
        // The plain form still decodes as before.
        let plain = crate::meta::BundleRef { stored: None, ..b };
        assert_eq!(decode(&crate::object::raw_frame(&decoded), &plain, files).unwrap(), decoded);

        // Unsigned (a box that holds the whole file before the window object): the same
        // bytes and the reference the catalog would have given, in both forms.
        assert_eq!(decode_unsigned(&stored, files).unwrap(), (decoded.clone(), b));
        assert_eq!(decode_unsigned(&crate::object::raw_frame(&decoded), files).unwrap(), (decoded.clone(), plain));
        let patch = crate::object::raw_frame(b"the manifest patch");
        let with_patch = encode(&[(h(9), patch)]);
        let unsigned = decode_unsigned(&crate::object::raw_frame(&with_patch), files).unwrap();
        let d = delta_of(h(5), &unsigned.0, unsigned.1).unwrap();
        assert_eq!((d.from, d.object, d.size, d.bundle), (h(5), h(9), 18, Some(unsigned.1)));
        // Damage, a wrong base, a cut file, garbage: refused, never described.
        assert!(decode_unsigned(&damaged, files).is_err());
        assert!(decode_unsigned(&stored, |_| Ok(old_b.clone())).is_err());
        assert!(decode_unsigned(&stored[..stored.len() - 1], files).is_err());
        assert!(decode_unsigned(b"<html>404</html>", files).is_err());
        assert!(delta_of(h(5), b"PREAUBN1", unsigned.1).is_err(), "no first record");
        // A frame that declares more than a bundle may hold is refused before decoding.
        let huge = crate::delta::make(&prefix, &vec![0u8; (MAX_BUNDLE_BYTES + 1) as usize]).unwrap();
        let err = decode_unsigned(&encode_referenced(&bases, &huge), files).unwrap_err();
        assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    }

    #[test]
    fn members_are_what_a_box_at_the_previous_version_lacks() {
        let prev =
            manifest(vec![file("a.md", h(10), &[]), file("b.png", h(30), &[(h(20), 100), (h(21), 100)])], vec![]);
        let d = DeltaRef { from: h(10), to: h(11), object: h(40), size: 30 };
        let big = DeltaRef { from: h(30), to: h(31), object: h(41), size: 500 };
        let new = manifest(
            vec![
                file("a.md", h(11), &[(h(12), 2500), (h(13), 2500)]),
                file("b.png", h(31), &[(h(20), 100), (h(22), 100)]),
                file("c.txt", h(32), &[(h(22), 100), (h(23), 100)]),
            ],
            vec![d, big],
        );
        // a.md by its small delta; b.png's delta is larger than its one missing chunk;
        // c.txt shares h22 with b.png and it is listed once.
        assert_eq!(members(&prev, &new), vec![h(40), h(22), h(23)]);
        assert!(members(&new, &new).is_empty());
    }
}
