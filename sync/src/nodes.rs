//! The nodes of a split catalog (see `preau_pack::catalog_tree`) on the box's side.
//!
//! A box keeps the nodes it used in its repository (`DATA/repo/catalog/`, which peers
//! read through `/repo/` too) and fetches from a source only the nodes on the paths of
//! the packs it follows whose hash it does not hold: when nothing changed for it, no
//! node at all; when one of its packs changed, one branch and one leaf (each level's
//! nodes in parallel). From an online server the leaf comes in the branch's round: the
//! *leaf hint* of the pack's bin (`hints/<branch>-<leaf>.json`, a mutable copy of the
//! current leaf) is asked for beside the branch and used only when it hashes to the leaf
//! the branch names; otherwise the leaf is fetched by hash in a round of its own. Every
//! node is checked against the hash that names it before it is used or kept; a hint is
//! never kept as a hint (a box's `/repo/` has none: peers asking get a 404 and fall back).

use std::collections::HashSet;
use std::path::Path;
use std::sync::Mutex;

use preau_pack::Hash;
use preau_pack::catalog_tree::{self, HintAsk, MAX_NODE_BYTES, NODES_DIR, hint_rel_path, node_rel_path};
use preau_pack::meta::Catalog;

use crate::error::{Error, Result};
use crate::fetch::parallel;
use crate::source::{Source, SourceKind};

/// Most leaf hints asked for in one pull: a box that follows many packs of a changed
/// branch would spend more on hints of unchanged leaves than the round they save.
pub const MAX_HINTS: usize = 16;

/// What [`resolve`] used: every node (hash, length), and warnings for the summary.
#[derive(Debug, Default)]
pub struct Used {
    pub nodes: Vec<(Hash, u64)>,
    pub warnings: Vec<String>,
    /// Leaves taken from their hint, and hints that did not match (ignored).
    pub hints_used: usize,
    pub hints_refused: usize,
}

/// Fills `catalog.packs` (every pack, or the bins of `wanted`) from the nodes kept in
/// `keep` (a repository folder: the box's, or the stick an export writes) and, for the others, from `source`; keeps the fetched
/// ones in `keep`. Returns every node used, with its length (to keep at the next pruning)
/// and warnings. A node the source lacks is an error from an online server; from a USB
/// stick or a peer, which may carry a part of a catalog, its packs are left out with a
/// warning.
pub fn resolve(
    source: &dyn Source,
    keep: Option<&Path>,
    catalog: &mut Catalog,
    wanted: Option<&[String]>,
    workers: usize,
) -> Result<Used> {
    resolve_hinted(source, keep, catalog, wanted, &[], workers)
}

/// One request of a level: a node by hash, or a leaf hint by bin.
enum Job {
    Node(usize, Hash),
    Hint(usize, (usize, usize)),
}

/// [`resolve`], asking an online source, beside each branch it fetches, for the leaf
/// hints of the bins of `hinted` under it (at most [`MAX_HINTS`]; none when the
/// source is a folder or a peer box, which serve no hints).
pub fn resolve_hinted(
    source: &dyn Source,
    keep: Option<&Path>,
    catalog: &mut Catalog,
    wanted: Option<&[String]>,
    hinted: &[String],
    workers: usize,
) -> Result<Used> {
    if catalog.index.is_none() {
        return Ok(Used::default());
    }
    let kept = |h: &Hash| {
        keep.and_then(|d| {
            crate::source::read_small(&d.join(node_rel_path(h)), MAX_NODE_BYTES).filter(|b| Hash::of(b) == *h)
        })
    };
    let read = |hashes: &[Hash], asks: &[HintAsk]| {
        type Got = Vec<preau_pack::Result<Option<Vec<u8>>>>;
        let out: Mutex<(Got, Vec<Option<Vec<u8>>>)> =
            Mutex::new((hashes.iter().map(|_| Ok(None)).collect(), vec![None; asks.len()]));
        let mut jobs = Vec::new();
        for (i, h) in hashes.iter().enumerate() {
            match kept(h) {
                Some(b) => out.lock().unwrap_or_else(|e| e.into_inner()).0[i] = Ok(Some(b)),
                None => jobs.push(Job::Node(i, *h)),
            }
        }
        // A hint only beside a branch that is fetched: a branch the box holds names its
        // leaves at once.
        let hints = asks
            .iter()
            .enumerate()
            .filter(|(_, a)| {
                source.kind() == SourceKind::Online
                    && jobs.iter().any(|j| matches!(j, Job::Node(_, h) if *h == a.branch))
            })
            .take(MAX_HINTS)
            .map(|(j, a)| Job::Hint(j, a.bin))
            .collect::<Vec<_>>();
        jobs.extend(hints);
        let fetched = parallel(jobs, workers, &|job| {
            match job {
                Job::Node(i, h) => {
                    let got = source
                        .get(&node_rel_path(&h), MAX_NODE_BYTES)
                        .map_err(|e| preau_pack::Error::Other(format!("catalog node {h}: {e}")));
                    out.lock().unwrap_or_else(|e| e.into_inner()).0[i] = got;
                }
                Job::Hint(j, bin) => {
                    // Only a hint: absent or failed, the leaf is read by hash.
                    let got = source.get(&hint_rel_path(bin), MAX_NODE_BYTES).ok().flatten();
                    out.lock().unwrap_or_else(|e| e.into_inner()).1[j] = got;
                }
            }
            Ok(())
        });
        let mut out = out.into_inner().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = fetched {
            out.0 = hashes.iter().map(|_| Err(preau_pack::Error::Other(e.to_string()))).collect();
        }
        out
    };
    let r = catalog_tree::resolve_hinted(catalog, wanted, hinted, &read)?;
    let mut warnings = Vec::new();
    if let Some(h) = r.missing.first() {
        let msg = format!(
            "{} lacks {} node(s) of its catalog ({}, …): the packs listed there are left out",
            source.describe(),
            r.missing.len(),
            node_rel_path(h)
        );
        if source.kind() == SourceKind::Online {
            return Err(Error::Other(msg));
        }
        warnings.push(msg);
    }
    if let Some(dir) = keep {
        // Nodes are kept before the switch: they are immutable, and a pull that stops
        // here finds them at the next try.
        let nodes_dir = dir.join(NODES_DIR);
        for (h, bytes) in &r.nodes {
            let path = dir.join(node_rel_path(h));
            if !path.is_file() {
                if !nodes_dir.is_dir() {
                    preau_pack::fsutil::create_dir_all_durable(&nodes_dir)?;
                }
                preau_pack::fsutil::atomic_write(&path, bytes)?;
            }
        }
    }
    Ok(Used {
        nodes: r.nodes.into_iter().map(|(h, b)| (h, b.len() as u64)).collect(),
        warnings,
        hints_used: r.hints_used,
        hints_refused: r.hints_refused,
    })
}

/// Removes the kept nodes not in `used` (those of older catalogs).
pub fn prune(repo_dir: &Path, used: &[(Hash, u64)]) {
    let used: HashSet<Hash> = used.iter().map(|n| n.0).collect();
    let Ok(files) = std::fs::read_dir(repo_dir.join(NODES_DIR)) else { return };
    for f in files.flatten() {
        let name = f.file_name();
        let keep = name.to_str().and_then(|n| n.parse::<Hash>().ok()).is_some_and(|h| used.contains(&h));
        if !keep {
            let _ = std::fs::remove_file(f.path());
        }
    }
}
