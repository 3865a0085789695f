//! What to fetch: pure planning, no I/O.
//!
//! Given the catalog entry of a pack, what the box has installed and which objects are
//! already on its disk, the planner says how to get the new manifest (already here, as a
//! delta from the installed one, or whole) and then how to get every file of the new
//! version: nothing (all chunks present), a delta from a file the box already holds, or
//! the missing chunks. Tested without sockets or disks.

use std::collections::{BTreeMap, HashMap, HashSet};

use preau_pack::bundle::MAX_BUNDLE_BYTES;
use preau_pack::meta::{BundleRef, CatalogEntry};
use preau_pack::{DeltaRef, FileEntry, Hash, Manifest};

/// How to obtain the manifest of the new version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestFetch {
    /// Its object is already on disk (an interrupted pull got that far).
    Present,
    /// Rebuild it from the installed manifest `from` with the patch `object` (`size` bytes).
    /// `bundle`: the publisher's update bundle from `from`, which holds the patch and the
    /// objects a box at `from` lacks (see `preau_pack::bundle`).
    Delta { from: Hash, from_size: u64, object: Hash, size: u64, bundle: Option<BundleRef> },
    /// Fetch the whole manifest object.
    Whole,
}

/// Chooses how to get `entry`'s manifest, given the installed (manifest hash, size) and
/// whether objects are present.
pub fn manifest_fetch(
    entry: &CatalogEntry,
    installed: Option<(Hash, u64)>,
    present: &dyn Fn(&Hash) -> bool,
) -> ManifestFetch {
    if present(&entry.manifest) {
        return ManifestFetch::Present;
    }
    if let Some((have, have_size)) = installed
        && present(&have)
        && let Some(d) = entry.manifest_deltas.iter().find(|d| d.from == have)
        && d.size < entry.manifest_size
    {
        return ManifestFetch::Delta {
            from: have,
            from_size: have_size,
            object: d.object,
            size: d.size,
            bundle: d.bundle.filter(|b| b.size <= MAX_BUNDLE_BYTES),
        };
    }
    ManifestFetch::Whole
}

/// A file rebuilt from a file the box already holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaStep {
    pub delta: DeltaRef,
    /// The old file (every chunk of it is on disk).
    pub base: FileEntry,
    /// The new file to produce (its chunks are written after the patch is applied).
    pub target: FileEntry,
}

/// Everything needed to complete one pack version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackPlan {
    /// Objects to fetch whole: (hash, decoded length), deduplicated, in manifest order.
    pub fetch: Vec<(Hash, u64)>,
    pub deltas: Vec<DeltaStep>,
    /// Files already complete on disk.
    pub files_present: usize,
    /// Decoded bytes the plan brings (chunks) plus patch bytes (deltas): for progress.
    pub bytes_to_fetch: u64,
}

impl PackPlan {
    pub fn is_empty(&self) -> bool {
        self.fetch.is_empty() && self.deltas.is_empty()
    }
}

/// Files the box can use as delta bases: every file of the installed manifests whose
/// chunks are all present, by content hash.
pub fn bases<'a>(
    installed: impl IntoIterator<Item = &'a Manifest>,
    present: &dyn Fn(&Hash) -> bool,
) -> HashMap<Hash, FileEntry> {
    let mut out = HashMap::new();
    for m in installed {
        for f in &m.files {
            if !out.contains_key(&f.hash) && f.chunk_list().iter().all(|c| present(&c.0)) {
                out.insert(f.hash, f.clone());
            }
        }
    }
    out
}

/// Plans the objects of `new`. A delta is used when the box holds its base and the patch
/// is smaller than the chunks it replaces (decoded size: a conservative comparison, as
/// patches are already compressed and chunks are not yet).
pub fn plan_pack(new: &Manifest, bases: &HashMap<Hash, FileEntry>, present: &dyn Fn(&Hash) -> bool) -> PackPlan {
    let mut deltas_to: BTreeMap<Hash, Vec<&DeltaRef>> = BTreeMap::new();
    for d in &new.deltas {
        deltas_to.entry(d.to).or_default().push(d);
    }
    let mut plan = PackPlan::default();
    let mut planned: HashSet<Hash> = HashSet::new();
    let mut rebuilt: HashSet<Hash> = HashSet::new();
    for f in &new.files {
        let chunks = f.chunk_list();
        let missing: Vec<_> = chunks.iter().filter(|c| !present(&c.0) && !planned.contains(&c.0)).collect();
        if missing.is_empty() || rebuilt.contains(&f.hash) {
            if chunks.iter().all(|c| present(&c.0)) {
                plan.files_present += 1;
            }
            continue;
        }
        let missing_len: u64 = missing.iter().map(|c| c.1).sum();
        let best = deltas_to
            .get(&f.hash)
            .into_iter()
            .flatten()
            .filter(|d| bases.contains_key(&d.from))
            .filter(|d| present(&d.object) || d.size < missing_len)
            .min_by_key(|d| if present(&d.object) { 0 } else { d.size });
        if let Some(d) = best {
            plan.bytes_to_fetch += if present(&d.object) { 0 } else { d.size };
            plan.deltas.push(DeltaStep { delta: (*d).clone(), base: bases[&d.from].clone(), target: f.clone() });
            rebuilt.insert(f.hash);
            planned.extend(chunks.iter().map(|c| c.0));
            continue;
        }
        for c in missing {
            if planned.insert(c.0) {
                plan.fetch.push((c.0, c.1));
                plan.bytes_to_fetch += c.1;
            }
        }
    }
    plan
}

/// Parts of a bundle fetched in parallel: at least this many bytes each. A new TCP
/// connection sends about 14 KB (ten segments) in its first round trip, so parts of this
/// size on separate connections all arrive in about one round trip.
pub const BUNDLE_PART_BYTES: u64 = 16 * 1024;

/// Most parts asked for per pack with the catalog. Each part beyond a bundle's end costs
/// an answer of about 400 bytes (416): more than a small update itself. The first part
/// (16 KiB) holds a typical one-page edit whole and arrives in the first round trip of
/// its connection; the second runs to [`SPECULATIVE_END`], so that any bundle the
/// publisher makes arrives whole in the round after the catalog's top (at most two
/// rounds), and a box several versions behind needs no window object (`pull.rs`).
pub const MAX_SPECULATIVE_PARTS: u64 = 2;

/// Where the last part asked for with the catalog ends (servers stop at the bundle's
/// end): the largest bundle a publisher makes. It is asked for only when the top shows
/// that the pack's branch changed, and a bundle from the box's version exists only when
/// a newer version does, so a pack that did not change costs a 404, as before.
pub const SPECULATIVE_END: u64 = preau_pack::bundle::BUILD_MAX_BUNDLE_BYTES;

/// The Range `(start, end)` of part `i` of the `k` parts asked for with the catalog: parts
/// of [`BUNDLE_PART_BYTES`], the last one running to [`SPECULATIVE_END`].
pub fn speculative_part(i: u64, k: u64) -> (u64, u64) {
    let start = i * BUNDLE_PART_BYTES;
    let end = if i + 1 == k { SPECULATIVE_END.max(start + BUNDLE_PART_BYTES) } else { start + BUNDLE_PART_BYTES };
    (start, end)
}

/// The parts asked for with the catalog, before it is known whether there is an update:
/// how many parts (from byte 0, see [`speculative_part`]) each installed pack gets, given
/// `slots` spare connections (at most [`MAX_SPECULATIVE_PARTS`] each). `packs` are in
/// order of preference; a pack beyond the slots gets none (it is updated with one more
/// round trip if it changed).
pub fn speculation(packs: usize, slots: usize) -> Vec<u64> {
    let mut out = vec![0u64; packs];
    let mut left = slots;
    for _ in 0..MAX_SPECULATIVE_PARTS {
        for k in out.iter_mut() {
            if left == 0 {
                return out;
            }
            *k += 1;
            left -= 1;
        }
    }
    out
}

/// The Range parts `(start, end)` of a bundle stored in exactly `len` bytes: first the
/// `prefix` parts that were asked for with the catalog ([`speculative_part`], cut at
/// `len`), then the rest in at most `workers` parts of at least [`BUNDLE_PART_BYTES`].
pub fn bundle_parts(len: u64, workers: usize, prefix: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut at = 0;
    for i in 0..prefix {
        if at >= len {
            break;
        }
        let (start, end) = speculative_part(i, prefix);
        out.push((start, end.min(len)));
        at = end;
    }
    if at < len {
        let rest = len - at;
        let k = rest.div_ceil(BUNDLE_PART_BYTES).clamp(1, workers.max(1) as u64);
        let step = rest.div_ceil(k);
        for i in 0..k {
            out.push((at + i * step, (at + (i + 1) * step).min(len)));
        }
    }
    out
}

/// Whether an object of `len` decoded bytes goes to the pool's large lane: it keeps a
/// connection busy for longer than a round trip on a slow link.
pub fn is_large(len: u64) -> bool {
    len >= 32 * 1024
}

/// The chunks to fetch instead when a delta step cannot be used (the source lacks the
/// patch, or it does not rebuild the file).
pub fn fallback_chunks(step: &DeltaStep, present: &dyn Fn(&Hash) -> bool) -> Vec<(Hash, u64)> {
    step.target.chunk_list().into_iter().filter(|c| !present(&c.0)).map(|c| (c.0, c.1)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use preau_pack::manifest::{ChunkRef, MANIFEST_FORMAT};
    use preau_pack::meta::ManifestDelta;

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
            meta: preau_pack::PackMeta { id: "p".into(), ..Default::default() },
            previous: None,
            files,
            deltas,
        }
    }

    fn entry(manifest: Hash, size: u64, deltas: Vec<ManifestDelta>) -> CatalogEntry {
        CatalogEntry {
            version: 2,
            manifest,
            manifest_size: size,
            size: 0,
            files: 0,
            title: String::new(),
            language: String::new(),
            subjects: vec![],
            level: String::new(),
            kind: String::new(),
            published: 0,
            manifest_deltas: deltas,
            window: None,
        }
    }

    #[test]
    fn manifest_uses_delta_only_from_what_is_installed() {
        let d = ManifestDelta { from: h(1), object: h(9), size: 100, bundle: None };
        let e = entry(h(2), 5000, vec![d]);
        let present = |x: &Hash| *x == h(1);
        assert_eq!(
            manifest_fetch(&e, Some((h(1), 4000)), &present),
            ManifestFetch::Delta { from: h(1), from_size: 4000, object: h(9), size: 100, bundle: None }
        );
        assert_eq!(manifest_fetch(&e, Some((h(3), 4000)), &present), ManifestFetch::Whole);
        assert_eq!(manifest_fetch(&e, None, &present), ManifestFetch::Whole);
        assert_eq!(manifest_fetch(&e, Some((h(1), 4000)), &|x: &Hash| *x == h(2)), ManifestFetch::Present);
    }

    #[test]
    fn a_bundle_is_offered_with_its_manifest_delta_and_split_into_parts() {
        let b = BundleRef { object: h(8), size: 110_000, stored: None };
        let d = ManifestDelta { from: h(1), object: h(9), size: 100, bundle: Some(b) };
        let e = entry(h(2), 5000, vec![d]);
        let present = |x: &Hash| *x == h(1);
        assert!(
            matches!(manifest_fetch(&e, Some((h(1), 4000)), &present), ManifestFetch::Delta { bundle: Some(x), .. } if x == b)
        );
        let huge = ManifestDelta {
            from: h(1),
            object: h(9),
            size: 100,
            bundle: Some(BundleRef { object: h(8), size: MAX_BUNDLE_BYTES + 1, stored: None }),
        };
        let e = entry(h(2), 5000, vec![huge]);
        assert!(matches!(manifest_fetch(&e, Some((h(1), 4000)), &present), ManifestFetch::Delta { bundle: None, .. }));

        assert_eq!(bundle_parts(1000, 8, 0), vec![(0, 1000)]);
        let parts = bundle_parts(110_000, 8, 0);
        assert_eq!(parts.len(), 7);
        assert_eq!(parts[0], (0, 15_715));
        assert_eq!(parts[6], (6 * 15_715, 110_000));
        // After parts asked for with the catalog: the last one ran to SPECULATIVE_END,
        // the rest of a larger bundle is split again.
        let parts = bundle_parts(700_000, 8, 3);
        assert_eq!(parts, vec![(0, 16_384), (16_384, 32_768), (32_768, 700_000)]);
        let big = SPECULATIVE_END + 100_000;
        let parts = bundle_parts(big, 8, 2);
        assert_eq!(parts[..2], [(0, 16_384), (16_384, SPECULATIVE_END)]);
        assert_eq!(parts.len(), 2 + 7);
        assert_eq!(parts.last().unwrap().1, big);
        for w in parts.windows(2) {
            assert_eq!(w[0].1, w[1].0, "parts are contiguous");
        }
        // A bundle shorter than what was asked for: the parts it has, cut at its end.
        assert_eq!(bundle_parts(20_000, 8, 7), vec![(0, 16_384), (16_384, 20_000)]);
        assert_eq!(bundle_parts(10_000, 8, 2), vec![(0, 10_000)]);
        assert_eq!(bundle_parts(110_000, 8, 1), vec![(0, 110_000)]);
        assert_eq!(speculative_part(0, 2), (0, 16_384));
        assert_eq!(speculative_part(1, 2), (16_384, SPECULATIVE_END));
        assert_eq!(speculative_part(0, 1), (0, SPECULATIVE_END));
        assert_eq!(bundle_parts(10_000_000, 4, 0).len(), 4);
        assert_eq!(speculation(1, 7), vec![2]);
        assert_eq!(speculation(3, 7), vec![2, 2, 2]);
        assert_eq!(speculation(5, 7), vec![2, 2, 1, 1, 1]);
        assert_eq!(speculation(9, 7), vec![1, 1, 1, 1, 1, 1, 1, 0, 0]);
        assert!(speculation(0, 7).is_empty());
    }

    #[test]
    fn plan_fetches_missing_chunks_once_and_prefers_small_deltas() {
        // Old version: a.md (one object h10), big.pdf (chunks h20 h21).
        let old_a = file("a.md", h(10), &[]);
        let old = manifest(vec![old_a.clone(), file("big.pdf", h(30), &[(h(20), 100), (h(21), 100)])], vec![]);
        // New version: a.md changed (h11, 5000 bytes in chunks h12 h13), c.txt shares h21, new.png.
        let new_a = file("a.md", h(11), &[(h(12), 2500), (h(13), 2500)]);
        let delta = DeltaRef { from: h(10), to: h(11), object: h(40), size: 300 };
        let new = manifest(
            vec![
                new_a.clone(),
                file("big.pdf", h(30), &[(h(20), 100), (h(21), 100)]),
                file("c.txt", h(31), &[(h(21), 100), (h(50), 100)]),
                file("d.txt", h(32), &[(h(50), 100), (h(51), 100)]),
            ],
            vec![delta.clone()],
        );
        let on_disk: HashSet<Hash> = [h(10), h(20), h(21)].into_iter().collect();
        let present = |x: &Hash| on_disk.contains(x);
        let b = bases([&old], &present);
        let plan = plan_pack(&new, &b, &present);
        assert_eq!(plan.deltas, vec![DeltaStep { delta: delta.clone(), base: old_a.clone(), target: new_a.clone() }]);
        assert_eq!(plan.fetch, vec![(h(50), 100), (h(51), 100)], "h50 is shared and fetched once");
        assert_eq!(plan.files_present, 1);
        assert_eq!(plan.bytes_to_fetch, 300 + 200);

        // Without the base, the same file comes as chunks.
        let no_base: HashSet<Hash> = [h(20), h(21)].into_iter().collect();
        let present2 = |x: &Hash| no_base.contains(x);
        let plan2 = plan_pack(&new, &bases([&old], &present2), &present2);
        assert!(plan2.deltas.is_empty());
        assert_eq!(plan2.fetch[..2], [(h(12), 2500), (h(13), 2500)]);
        assert_eq!(fallback_chunks(&plan.deltas[0], &present), vec![(h(12), 2500), (h(13), 2500)]);
    }

    /// The publisher decides what goes in an update bundle with its own copy of this
    /// planner's rule (`preau_pack::bundle::members`: the pack crate cannot call the sync
    /// crate). For a box that holds exactly the previous version, both must name the same
    /// objects, or boxes would fetch what the bundle left out.
    fn assert_bundle_agrees(old: &Manifest, new: &Manifest) {
        let on_disk: HashSet<Hash> = old.files.iter().flat_map(|f| f.chunk_list()).map(|c| c.0).collect();
        let present = |x: &Hash| on_disk.contains(x);
        let plan = plan_pack(new, &bases([old], &present), &present);
        let mut planned: Vec<Hash> =
            plan.fetch.iter().map(|f| f.0).chain(plan.deltas.iter().map(|d| d.delta.object)).collect();
        let mut bundled = preau_pack::bundle::members(old, new);
        planned.sort();
        bundled.sort();
        assert_eq!(bundled, planned);
    }

    #[test]
    fn the_publishers_bundle_rule_is_this_planners_rule() {
        let old =
            manifest(vec![file("a.md", h(10), &[]), file("big.pdf", h(30), &[(h(20), 100), (h(21), 100)])], vec![]);
        let new = manifest(
            vec![
                file("a.md", h(11), &[(h(12), 2500), (h(13), 2500)]),
                file("big.pdf", h(30), &[(h(20), 100), (h(21), 100)]),
                file("c.txt", h(31), &[(h(21), 100), (h(50), 100)]),
                file("d.txt", h(32), &[(h(50), 100), (h(51), 100)]),
                file("e.txt", h(11), &[(h(12), 2500), (h(13), 2500)]),
            ],
            vec![
                DeltaRef { from: h(10), to: h(11), object: h(40), size: 300 },
                DeltaRef { from: h(10), to: h(11), object: h(41), size: 200 },
                DeltaRef { from: h(99), to: h(32), object: h(42), size: 10 },
            ],
        );
        assert_bundle_agrees(&old, &new);
        let tiny_old = manifest(vec![file("a", h(10), &[])], vec![]);
        let tiny_new =
            manifest(vec![file("a", h(11), &[])], vec![DeltaRef { from: h(10), to: h(11), object: h(40), size: 50 }]);
        assert_bundle_agrees(&tiny_old, &tiny_new);
    }

    #[test]
    fn a_delta_larger_than_the_chunks_is_not_used_and_a_complete_version_plans_nothing() {
        let old = manifest(vec![file("a", h(10), &[])], vec![]);
        let new =
            manifest(vec![file("a", h(11), &[])], vec![DeltaRef { from: h(10), to: h(11), object: h(40), size: 50 }]);
        let on_disk: HashSet<Hash> = [h(10)].into_iter().collect();
        let present = |x: &Hash| on_disk.contains(x);
        let plan = plan_pack(&new, &bases([&old], &present), &present);
        assert!(plan.deltas.is_empty(), "a 50-byte patch for a 10-byte file is not worth it");
        assert_eq!(plan.fetch, vec![(h(11), 10)]);
        let all = |_: &Hash| true;
        assert!(plan_pack(&new, &bases([&old], &all), &all).is_empty());
    }
}
