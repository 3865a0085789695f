//! The catalog as a small Merkle tree, so that what a box fetches follows the packs it
//! holds, not the packs of the repository (issue 17).
//!
//! Only `catalog.json` is signed and mutable. Instead of listing every pack it names
//! (`index`) the hashes of [`TOP_FANOUT`] *branch* nodes; each branch names
//! [`BRANCH_FANOUT`] *leaf* nodes; a leaf holds the catalog entries of the packs whose
//! id falls in its bin (the first bits of BLAKE3 of the id, see [`bins`]). Nodes are
//! plain JSON files named by the BLAKE3 of their bytes (`catalog/<hex>`), immutable:
//! they are authenticated by the hash chain from the signed top, so rollback and freeze
//! checks stay on the top alone (as TUF's snapshot role pins its targets files).
//!
//! Sizes: the top is about 1.3 KB whatever the number of packs; a branch about 4.3 KB;
//! at 10,000 packs a leaf holds about 10 packs (2.5 to 5.5 KB). A box with a pack that
//! changed fetches the top, one branch and one leaf; a box whose packs did not change
//! fetches what changed on its own paths only (nodes it holds are kept).
//!
//! *Leaf hints* save the third round: beside each leaf, a publisher writes a mutable copy
//! of the current leaf of each bin under a stable name (`hints/<branch>-<leaf>.json`,
//! [`hint_rel_path`]), so that a reader can ask for its bin's leaf in the same round as
//! the branch. A hint is never trusted: it is used only when BLAKE3 of its bytes is the
//! leaf hash the (verified) branch names; otherwise (a stale CDN copy, a racing
//! publisher, a place without hints) the leaf is fetched by hash, as without hints.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::hash::Hash;
use crate::meta::{Catalog, CatalogEntry};
use crate::{Error, Result};

/// Where nodes live in a repository (also their URL path).
pub const NODES_DIR: &str = "catalog";
/// Branches named by the signed top.
pub const TOP_FANOUT: usize = 16;
/// Leaves named by each branch.
pub const BRANCH_FANOUT: usize = 64;
/// Readers refuse larger nodes (a leaf of 4 MiB is ~8,000 packs in one bin: a
/// repository far beyond the catalog's pack limit).
pub const MAX_NODE_BYTES: u64 = 4 * 1024 * 1024;
pub const BRANCH_TYPE: &str = "preau-catalog-branch";
pub const LEAF_TYPE: &str = "preau-catalog-leaf";
/// Where leaf hints live (outside `catalog/`, which holds content-addressed nodes only).
pub const HINTS_DIR: &str = "hints";

/// The path of the hint of bin `(branch, leaf)` relative to a repository's top.
pub fn hint_rel_path(bin: (usize, usize)) -> String {
    format!("{HINTS_DIR}/{}-{}.json", bin.0, bin.1)
}

/// The bin a hint file name (`<branch>-<leaf>.json`) names, if it is one.
pub fn parse_hint_name(name: &str) -> Option<(usize, usize)> {
    let (t, b) = name.strip_suffix(".json")?.split_once('-')?;
    let ok = |s: &str| !s.is_empty() && s.len() <= 2 && s.bytes().all(|c| c.is_ascii_digit());
    if !ok(t) || !ok(b) {
        return None;
    }
    let (t, b) = (t.parse().ok()?, b.parse().ok()?);
    (t < TOP_FANOUT && b < BRANCH_FANOUT && hint_rel_path((t, b)) == format!("{HINTS_DIR}/{name}")).then_some((t, b))
}

/// The leaf hash of every non-empty bin, from a split catalog's nodes (as [`build`]
/// returns them): what each hint must hash to.
pub fn leaf_bins(index: &Index, nodes: &[Node]) -> Result<BTreeMap<(usize, usize), Hash>> {
    let by_hash: BTreeMap<Hash, &Vec<u8>> = nodes.iter().map(|(h, b)| (*h, b)).collect();
    let mut out = BTreeMap::new();
    for (t, h) in index.iter().enumerate() {
        let Some(h) = h else { continue };
        let bytes = by_hash.get(h).ok_or_else(|| Error::Other(format!("catalog node {h} is not among the nodes")))?;
        let branch: Branch = serde_json::from_slice(bytes)
            .map_err(|e| Error::Malformed { what: format!("catalog node {h}"), detail: e.to_string() })?;
        for (b, l) in branch.leaves.iter().enumerate() {
            if let Some(l) = l {
                out.insert((t, b), *l);
            }
        }
    }
    Ok(out)
}

/// The path of a node relative to a repository's top.
pub fn node_rel_path(hash: &Hash) -> String {
    format!("{NODES_DIR}/{}", hash.to_hex())
}

/// The (branch, leaf) bins of a pack id: the first 4 and next 6 bits of BLAKE3 of the id.
pub fn bins(id: &str) -> (usize, usize) {
    let h = blake3::hash(id.as_bytes());
    let v = u16::from_be_bytes([h.as_bytes()[0], h.as_bytes()[1]]);
    ((v >> 12) as usize % TOP_FANOUT, ((v >> 6) & 0x3f) as usize % BRANCH_FANOUT)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Branch {
    #[serde(rename = "type")]
    kind: String,
    /// `null` for an empty leaf.
    leaves: Vec<Option<Hash>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Leaf {
    #[serde(rename = "type")]
    kind: String,
    packs: BTreeMap<String, CatalogEntry>,
}

/// The signed top's list of branches (`null`: an empty bin).
pub type Index = Vec<Option<Hash>>;
/// A node: its hash and its bytes.
pub type Node = (Hash, Vec<u8>);

/// Splits `packs` into nodes: the top's list of branches and every node as
/// (hash, bytes). The same packs always give the same bytes (sorted maps), so a
/// publisher writes only the nodes on the paths of the packs that changed.
pub fn build(packs: &BTreeMap<String, CatalogEntry>) -> (Index, Vec<Node>) {
    let mut by_bin: BTreeMap<(usize, usize), BTreeMap<String, CatalogEntry>> = BTreeMap::new();
    for (id, e) in packs {
        by_bin.entry(bins(id)).or_default().insert(id.clone(), e.clone());
    }
    let mut top = vec![None; TOP_FANOUT];
    let mut nodes = Vec::new();
    for (t, slot) in top.iter_mut().enumerate() {
        let mut leaves = vec![None; BRANCH_FANOUT];
        for (b, leaf_slot) in leaves.iter_mut().enumerate() {
            let Some(packs) = by_bin.remove(&(t, b)) else { continue };
            let bytes = serde_json::to_vec(&Leaf { kind: LEAF_TYPE.into(), packs }).expect("leaf serialises");
            let h = Hash::of(&bytes);
            *leaf_slot = Some(h);
            nodes.push((h, bytes));
        }
        if leaves.iter().any(Option::is_some) {
            let bytes = serde_json::to_vec(&Branch { kind: BRANCH_TYPE.into(), leaves }).expect("branch serialises");
            let h = Hash::of(&bytes);
            *slot = Some(h);
            nodes.push((h, bytes));
        }
    }
    (top, nodes)
}

/// Reads the nodes named by hash, in order: `None` for a node the place does not have.
/// One call per level, so that a network reader asks for a level in one round trip.
pub type ReadNodes<'a> = dyn Fn(&[Hash]) -> Vec<Result<Option<Vec<u8>>>> + 'a;

/// A leaf hint asked for beside the branch that names the leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HintAsk {
    /// (branch, leaf) bin: the hint is at [`hint_rel_path`]`(bin)`.
    pub bin: (usize, usize),
    /// The branch asked for in the same round (a reader that holds it asks no hint: the
    /// leaf it names is known at once).
    pub branch: Hash,
}

/// Reads one level: the nodes named by hash (as [`ReadNodes`]) and, in the same round,
/// the hints asked (one answer each, in order: `None` when not asked, absent or failed).
/// Hint bytes are untrusted: [`resolve_hinted`] checks them.
pub type ReadLevel<'a> = dyn Fn(&[Hash], &[HintAsk]) -> (Vec<Result<Option<Vec<u8>>>>, Vec<Option<Vec<u8>>>) + 'a;

/// What [`resolve`] did: the nodes it used (hash, bytes), and the nodes the place did
/// not have (their packs are left out of the catalog).
#[derive(Debug, Default)]
pub struct Resolved {
    pub nodes: Vec<Node>,
    pub missing: Vec<Hash>,
    /// Leaves taken from a hint (no round of their own).
    pub hints_used: usize,
    /// Hints that came but did not hash to the leaf their branch names (ignored).
    pub hints_refused: usize,
    /// Levels read: 2 for a tree resolved from its branches and leaves, 1 when every
    /// leaf needed came with a hint (or none was needed).
    pub levels: usize,
}

/// Fills `cat.packs` from the nodes of a split catalog: every pack (`wanted` `None`) or
/// only the bins of the `wanted` ids (other packs of the leaves read come too). Each
/// node is checked against the hash that names it; a leaf's packs must belong to its
/// bin. A catalog without `index` (packs inline) is left as it is.
pub fn resolve(cat: &mut Catalog, wanted: Option<&[String]>, read: &ReadNodes<'_>) -> Result<Resolved> {
    resolve_hinted(cat, wanted, &[], &|hs, asks| (read(hs), vec![None; asks.len()]))
}

/// [`resolve`], asking beside the branches for the hints of the bins of `hinted` (ids;
/// those outside `wanted` are ignored): a leaf whose hint hashes to the hash its branch
/// names is used without a round of its own; any other hint is ignored and the leaf read
/// by hash in a second level.
pub fn resolve_hinted(
    cat: &mut Catalog,
    wanted: Option<&[String]>,
    hinted: &[String],
    read: &ReadLevel<'_>,
) -> Result<Resolved> {
    let mut out = Resolved::default();
    let Some(top) = cat.index.clone() else { return Ok(out) };
    let malformed = |detail: String| Error::Malformed { what: "catalog.json".into(), detail };
    if top.len() != TOP_FANOUT {
        return Err(malformed(format!("its index names {} branches, not {TOP_FANOUT}", top.len())));
    }
    if !cat.packs.is_empty() {
        return Err(malformed("it lists packs beside its index".into()));
    }
    let want: Option<BTreeSet<(usize, usize)>> = wanted.map(|ids| ids.iter().map(|id| bins(id)).collect());
    let wants = |t: usize, b: Option<usize>| {
        want.as_ref().is_none_or(|w| w.iter().any(|&(wt, wb)| wt == t && b.is_none_or(|b| b == wb)))
    };
    let branches: Vec<(usize, Hash)> =
        top.iter().enumerate().filter_map(|(t, h)| h.filter(|_| wants(t, None)).map(|h| (t, h))).collect();
    let mut leaves: Vec<(usize, usize, Hash)> = Vec::new();
    let hashes: Vec<Hash> = branches.iter().map(|b| b.1).collect();
    let asks: Vec<HintAsk> = hinted
        .iter()
        .map(|id| bins(id))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|&(t, b)| wants(t, Some(b)))
        .filter_map(|(t, b)| top[t].map(|branch| HintAsk { bin: (t, b), branch }))
        .collect();
    let (level, hint_bytes) = checked(&hashes, &asks, read, &mut out)?;
    if hint_bytes.len() != asks.len() {
        return Err(Error::Other(format!("{} leaf hints read for {} asked", hint_bytes.len(), asks.len())));
    }
    let hints: BTreeMap<(usize, usize), Vec<u8>> =
        asks.iter().zip(hint_bytes).filter_map(|(a, b)| b.map(|b| (a.bin, b))).collect();
    for ((t, h), got) in branches.iter().zip(level) {
        let Some(bytes) = got else { continue };
        let branch: Branch = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Malformed { what: format!("catalog node {h}"), detail: e.to_string() })?;
        if branch.kind != BRANCH_TYPE || branch.leaves.len() != BRANCH_FANOUT {
            return Err(Error::Malformed {
                what: format!("catalog node {h}"),
                detail: format!("not a branch of {BRANCH_FANOUT} leaves"),
            });
        }
        for (b, leaf) in branch.leaves.iter().enumerate() {
            if let Some(l) = leaf
                && wants(*t, Some(b))
            {
                leaves.push((*t, b, *l));
            }
        }
    }
    // Leaves whose hint is the very node their branch names need no round of their own.
    let mut ready: Vec<(BinLeaf, Option<Vec<u8>>)> = Vec::new();
    let mut fetch: Vec<BinLeaf> = Vec::new();
    for (t, b, h) in leaves {
        match hints.get(&(t, b)) {
            Some(bytes) if bytes.len() as u64 <= MAX_NODE_BYTES && Hash::of(bytes) == h => {
                out.hints_used += 1;
                out.nodes.push((h, bytes.clone()));
                ready.push(((t, b, h), Some(bytes.clone())));
            }
            other => {
                out.hints_refused += usize::from(other.is_some());
                fetch.push((t, b, h));
            }
        }
    }
    let hashes: Vec<Hash> = fetch.iter().map(|l| l.2).collect();
    let (level, _) = checked(&hashes, &[], read, &mut out)?;
    ready.extend(fetch.into_iter().zip(level));
    for ((t, b, h), got) in &ready {
        let Some(bytes) = got else { continue };
        let leaf: Leaf = serde_json::from_slice(bytes)
            .map_err(|e| Error::Malformed { what: format!("catalog node {h}"), detail: e.to_string() })?;
        if leaf.kind != LEAF_TYPE {
            return Err(Error::Malformed { what: format!("catalog node {h}"), detail: "not a leaf".into() });
        }
        for (id, e) in leaf.packs {
            crate::path::check_pack_id(&id)?;
            if bins(&id) != (*t, *b) {
                return Err(Error::Malformed {
                    what: format!("catalog node {h}"),
                    detail: format!("pack {id:?} does not belong to its bin"),
                });
            }
            cat.packs.insert(id, e);
        }
        if cat.packs.len() > crate::limits::MAX_PACKS_PER_CATALOG {
            return Err(malformed("too many packs".into()));
        }
    }
    Ok(out)
}

/// A leaf to read: its bin (branch, leaf) and its hash.
type BinLeaf = (usize, usize, Hash);

/// A level's nodes and the hints read beside them.
type LevelRead = (Vec<Option<Vec<u8>>>, Vec<Option<Vec<u8>>>);

/// Reads one level's nodes (and hints) and checks each node against its name.
fn checked(hashes: &[Hash], asks: &[HintAsk], read: &ReadLevel<'_>, out: &mut Resolved) -> Result<LevelRead> {
    if hashes.is_empty() && asks.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    out.levels += 1;
    let (got, hints) = read(hashes, asks);
    if got.len() != hashes.len() {
        return Err(Error::Other(format!("{} catalog nodes read for {} asked", got.len(), hashes.len())));
    }
    let mut level = Vec::with_capacity(hashes.len());
    for (h, r) in hashes.iter().zip(got) {
        match r? {
            None => {
                out.missing.push(*h);
                level.push(None);
            }
            Some(bytes) => {
                if bytes.len() as u64 > MAX_NODE_BYTES {
                    return Err(Error::TooLarge { what: format!("catalog node {h}"), limit: MAX_NODE_BYTES });
                }
                let got = Hash::of(&bytes);
                if got != *h {
                    return Err(Error::CorruptObject {
                        hash: *h,
                        detail: format!("this catalog node hashes to {got} (tampered or damaged)"),
                    });
                }
                out.nodes.push((*h, bytes.clone()));
                level.push(Some(bytes));
            }
        }
    }
    Ok((level, hints))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn entry(v: u64) -> CatalogEntry {
        CatalogEntry {
            version: v,
            manifest: Hash::of(&v.to_le_bytes()),
            manifest_size: 100,
            size: 10,
            files: 1,
            title: "t".into(),
            language: String::new(),
            subjects: vec![],
            level: String::new(),
            kind: String::new(),
            published: 0,
            manifest_deltas: vec![],
            window: None,
        }
    }

    fn packs(n: usize) -> BTreeMap<String, CatalogEntry> {
        (0..n).map(|i| (format!("pack-{i}"), entry(1))).collect()
    }

    fn top_of(index: Vec<Option<Hash>>) -> Catalog {
        let mut c = Catalog::empty(1);
        c.index = Some(index);
        c
    }

    #[test]
    fn one_pack_changed_rewrites_only_its_path() {
        let mut p = packs(10_000);
        let (top1, nodes1) = build(&p);
        assert_eq!(nodes1.len(), TOP_FANOUT + TOP_FANOUT * BRANCH_FANOUT, "every bin used at 10,000 packs");
        let largest = nodes1.iter().map(|n| n.1.len()).max().unwrap();
        assert!(largest < 8 * 1024, "a node of {largest} bytes");
        p.insert("pack-3".into(), entry(2));
        let (top2, nodes2) = build(&p);
        let old: BTreeSet<Hash> = nodes1.iter().map(|n| n.0).collect();
        let new: Vec<&Hash> = nodes2.iter().map(|n| &n.0).filter(|h| !old.contains(h)).collect();
        assert_eq!(new.len(), 2, "one leaf and its branch");
        assert_eq!(top1.iter().zip(&top2).filter(|(a, b)| a != b).count(), 1);
    }

    #[test]
    fn a_partial_resolve_reads_the_paths_of_the_wanted_packs_only() {
        let p = packs(2_000);
        let (top, nodes) = build(&p);
        let store: HashMap<Hash, Vec<u8>> = nodes.into_iter().collect();
        let asked = std::sync::Mutex::new(Vec::new());
        let read = |hs: &[Hash]| {
            asked.lock().unwrap().push(hs.len());
            hs.iter().map(|h| Ok(store.get(h).cloned())).collect()
        };
        let wanted: Vec<String> = (0..10).map(|i| format!("pack-{i}")).collect();
        let mut cat = top_of(top.clone());
        let r = resolve(&mut cat, Some(&wanted), &read).unwrap();
        assert!(r.missing.is_empty());
        for id in &wanted {
            assert_eq!(cat.packs[id], p[id]);
        }
        let levels = asked.lock().unwrap().clone();
        assert_eq!(levels.len(), 2, "two rounds: branches, then leaves");
        assert!(levels[0] <= 10 && levels[1] <= 10, "{levels:?}");
        assert!(cat.packs.len() < 100, "{} packs read for 10", cat.packs.len());

        let mut all = top_of(top);
        resolve(&mut all, None, &read).unwrap();
        assert_eq!(all.packs, p);
    }

    #[test]
    fn a_tampered_node_is_refused_by_its_hash_and_a_missing_one_is_reported() {
        let p = packs(50);
        let (top, nodes) = build(&p);
        let mut store: HashMap<Hash, Vec<u8>> = nodes.into_iter().collect();
        let leaf = *store.iter().find(|(_, b)| b.starts_with(b"{\"type\":\"preau-catalog-leaf\"")).unwrap().0;
        let tampered = String::from_utf8(store[&leaf].clone()).unwrap().replace("\"version\":1", "\"version\":9");
        store.insert(leaf, tampered.into_bytes());
        let read = |hs: &[Hash]| hs.iter().map(|h| Ok(store.get(h).cloned())).collect();
        let e = resolve(&mut top_of(top.clone()), None, &read).unwrap_err();
        assert!(matches!(e, Error::CorruptObject { hash, .. } if hash == leaf), "{e:?}");

        store.remove(&leaf);
        let read = |hs: &[Hash]| hs.iter().map(|h| Ok(store.get(h).cloned())).collect();
        let mut cat = top_of(top);
        let r = resolve(&mut cat, None, &read).unwrap();
        assert_eq!(r.missing, vec![leaf]);
        assert!(cat.packs.len() < 50 && !cat.packs.is_empty());
    }

    #[test]
    fn a_pack_moved_to_another_bin_is_refused() {
        // A leaf that claims a pack outside its bin: a publisher bug, or a node from
        // another tree spliced in. Hashes alone would not catch it.
        let mut p = packs(1);
        let (t, b) = bins("pack-0");
        let other = (1..).map(|i| format!("x{i}")).find(|id| bins(id) != (t, b)).unwrap();
        p.insert(other.clone(), entry(1));
        let (top, mut nodes) = build(&p);
        let leaf_bytes = serde_json::to_vec(&Leaf { kind: LEAF_TYPE.into(), packs: p }).unwrap();
        let lh = Hash::of(&leaf_bytes);
        let mut leaves = vec![None; BRANCH_FANOUT];
        leaves[b] = Some(lh);
        let br = serde_json::to_vec(&Branch { kind: BRANCH_TYPE.into(), leaves }).unwrap();
        let mut index = top;
        index[t] = Some(Hash::of(&br));
        nodes.push((Hash::of(&br), br));
        nodes.push((lh, leaf_bytes));
        let store: HashMap<Hash, Vec<u8>> = nodes.into_iter().collect();
        let read = |hs: &[Hash]| hs.iter().map(|h| Ok(store.get(h).cloned())).collect();
        let e = resolve(&mut top_of(index), None, &read).unwrap_err();
        assert!(e.to_string().contains(&other) || e.to_string().contains("pack-0"), "{e}");
    }

    /// A place holding `nodes` and, per bin, whatever its hint file holds.
    struct Place {
        nodes: HashMap<Hash, Vec<u8>>,
        hints: HashMap<(usize, usize), Vec<u8>>,
        /// (nodes asked, hints asked) per call: one call is one round.
        calls: std::sync::Mutex<Vec<(usize, usize)>>,
    }

    impl Place {
        fn new(nodes: Vec<Node>) -> Place {
            Place { nodes: nodes.into_iter().collect(), hints: HashMap::new(), calls: Default::default() }
        }

        fn with_hints(nodes: Vec<Node>, index: &Index) -> Place {
            let mut p = Place::new(nodes.clone());
            for (bin, h) in leaf_bins(index, &nodes).unwrap() {
                p.hints.insert(bin, p.nodes[&h].clone());
            }
            p
        }

        fn resolve(&self, index: &Index, wanted: &[String]) -> (Catalog, Resolved) {
            let read = |hs: &[Hash], asks: &[HintAsk]| {
                self.calls.lock().unwrap().push((hs.len(), asks.len()));
                (
                    hs.iter().map(|h| Ok(self.nodes.get(h).cloned())).collect(),
                    asks.iter().map(|a| self.hints.get(&a.bin).cloned()).collect(),
                )
            };
            let mut cat = top_of(index.clone());
            let r = resolve_hinted(&mut cat, Some(wanted), wanted, &read).unwrap();
            (cat, r)
        }

        fn rounds(&self) -> usize {
            self.calls.lock().unwrap().len()
        }
    }

    #[test]
    fn a_matching_hint_saves_the_leaf_round() {
        let mut p = packs(2_000);
        p.insert("pack-3".into(), entry(2));
        let (index, nodes) = build(&p);
        let leaves = leaf_bins(&index, &nodes).unwrap();
        let place = Place::with_hints(nodes, &index);
        let wanted = vec!["pack-3".to_string(), "pack-7".to_string()];
        let (cat, r) = place.resolve(&index, &wanted);
        assert_eq!(place.rounds(), 1, "branches and hints in one round, no leaf round");
        assert_eq!(r.levels, 1);
        assert_eq!(r.hints_used, 2);
        assert_eq!(r.hints_refused, 0);
        assert_eq!(cat.packs["pack-3"], entry(2));
        assert_eq!(cat.packs["pack-7"], entry(1));
        let asked = place.calls.lock().unwrap()[0];
        assert_eq!(asked.1, 2, "one hint per wanted bin: {asked:?}");
        // The leaves used are among the nodes (kept by a box like any node).
        for id in &wanted {
            assert!(r.nodes.iter().any(|n| n.0 == leaves[&bins(id)]));
        }
    }

    #[test]
    fn a_stale_absent_or_corrupt_hint_falls_back_to_the_leaf_by_hash() {
        let old = packs(2_000);
        let (old_index, old_nodes) = build(&old);
        let mut new = old.clone();
        new.insert("pack-3".into(), entry(2));
        let (index, nodes) = build(&new);
        let wanted = vec!["pack-3".to_string()];
        let bin = bins("pack-3");
        let old_leaf = leaf_bins(&old_index, &old_nodes).unwrap()[&bin];
        let old_leaf_bytes = old_nodes.iter().find(|n| n.0 == old_leaf).unwrap().1.clone();
        let tampered = String::from_utf8(Place::with_hints(nodes.clone(), &index).hints[&bin].clone())
            .unwrap()
            .replace("\"version\":2", "\"version\":9");
        let cases: Vec<(&str, Option<Vec<u8>>)> = vec![
            ("stale (the previous leaf: a CDN copy, a racing publisher)", Some(old_leaf_bytes)),
            ("absent (404: a peer box, an older publisher)", None),
            ("tampered", Some(tampered.into_bytes())),
            ("garbage", Some(b"<html>502</html>".to_vec())),
            ("too large", Some(vec![b' '; MAX_NODE_BYTES as usize + 1])),
        ];
        for (what, hint) in cases {
            let mut place = Place::with_hints(nodes.clone(), &index);
            match hint {
                Some(h) => place.hints.insert(bin, h),
                None => place.hints.remove(&bin),
            };
            let (cat, r) = place.resolve(&index, &wanted);
            assert_eq!(cat.packs["pack-3"], entry(2), "{what}: the new entry, from the leaf by hash");
            assert_eq!(place.rounds(), 2, "{what}: a round for the leaf");
            assert_eq!(r.hints_used, 0, "{what}");
            assert_eq!(r.hints_refused, usize::from(place.hints.contains_key(&bin)), "{what}");
            assert_eq!(place.calls.lock().unwrap()[1], (1, 0), "{what}: the leaf alone, by hash");
        }
    }

    #[test]
    fn hints_never_change_what_is_resolved() {
        // Any mix of right, stale, swapped, broken and absent hints resolves exactly what
        // the tree holds; one round exactly when every wanted leaf's hint is right.
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let old = packs(600);
        let (old_index, old_nodes) = build(&old);
        let old_hints = Place::with_hints(old_nodes, &old_index).hints;
        for round in 0..200 {
            let mut new = old.clone();
            for _ in 0..1 + next(5) {
                new.insert(format!("pack-{}", next(600)), entry(2 + next(3)));
            }
            let (index, nodes) = build(&new);
            let mut place = Place::with_hints(nodes, &index);
            let right = place.hints.clone();
            let wanted: Vec<String> = (0..1 + next(6)).map(|_| format!("pack-{}", next(600))).collect();
            for id in &wanted {
                let bin = bins(id);
                match next(5) {
                    0 => {}
                    1 => {
                        place.hints.remove(&bin);
                    }
                    2 => {
                        place.hints.insert(bin, old_hints[&bin].clone());
                    }
                    3 => {
                        let other = *right.keys().nth(next(right.len() as u64) as usize).unwrap();
                        place.hints.insert(bin, right[&other].clone());
                    }
                    _ => {
                        let mut b = right[&bin].clone();
                        let i = next(b.len() as u64) as usize;
                        b[i] ^= 1;
                        place.hints.insert(bin, b);
                    }
                }
            }
            let (cat, r) = place.resolve(&index, &wanted);
            for id in &wanted {
                assert_eq!(cat.packs[id], new[id], "round {round}: {id}");
            }
            for (id, e) in &cat.packs {
                assert_eq!(new[id], *e, "round {round}: a pack of a leaf read");
            }
            let all_right = wanted.iter().all(|id| place.hints.get(&bins(id)) == right.get(&bins(id)));
            assert_eq!(place.rounds() == 1, all_right, "round {round}: {:?}", place.calls.lock().unwrap());
            assert_eq!(r.levels, place.rounds());
            assert_eq!(r.hints_used == wanted.iter().map(|id| bins(id)).collect::<BTreeSet<_>>().len(), all_right);
        }
    }

    #[test]
    fn hint_names() {
        assert_eq!(hint_rel_path((3, 41)), "hints/3-41.json");
        assert_eq!(parse_hint_name("3-41.json"), Some((3, 41)));
        assert_eq!(parse_hint_name("15-63.json"), Some((15, 63)));
        for bad in
            ["16-0.json", "0-64.json", "03-1.json", "1-1", "-1.json", "a-b.json", "1-1.json.tmp", ".tmp-1-1.json"]
        {
            assert_eq!(parse_hint_name(bad), None, "{bad}");
        }
    }
}
