//! Checking a whole repository: signatures, every hash and length, every reachable object.

use std::collections::HashSet;

use serde::Serialize;

use crate::hash::Hash;
use crate::meta::now_unix;
use crate::repo::Repo;
use crate::sign::PublicKey;
use crate::{Error, Result};

#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub root_version: u64,
    pub catalog_version: u64,
    pub packs: u64,
    pub files: u64,
    pub objects_checked: u64,
    pub bytes_checked: u64,
    /// Problems that do not make the repository unusable (an expired catalog).
    pub warnings: Vec<String>,
    /// Everything wrong; empty when the repository verifies.
    pub problems: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies everything reachable from the catalog. Signature failures on the root or the
/// catalog are returned as errors (nothing else can be trusted then); damaged or missing
/// objects are listed in the report's `problems`, all of them.
pub fn verify_repo(repo: &Repo, trusted: Option<&[PublicKey]>) -> Result<VerifyReport> {
    let root = repo.verified_root(trusted)?;
    let catalog = repo.load_catalog(&root)?;
    let mut r = VerifyReport {
        root_version: root.version,
        catalog_version: catalog.version,
        packs: catalog.packs.len() as u64,
        ..Default::default()
    };
    let now = now_unix();
    if catalog.version > 0 && catalog.expires < now {
        r.warnings.push(format!(
            "the catalog expired {} days ago; re-sign it with `preau pack build`",
            (now - catalog.expires) / 86400
        ));
    }
    if root.expires < now {
        r.warnings.push("the root document has expired".into());
    }
    if let Some(index) = repo.load_catalog_top(&root)?.index {
        check_hints(repo, &index, &mut r)?;
    }
    let mut checked: HashSet<Hash> = HashSet::new();
    for (id, entry) in &catalog.packs {
        let manifest = match repo.read_manifest(&entry.manifest, entry.manifest_size) {
            Ok(m) => m,
            Err(e) => {
                r.problems.push(format!("pack {id}: manifest: {e}"));
                continue;
            }
        };
        r.objects_checked += 1;
        if manifest.meta.id != *id || manifest.version != entry.version {
            r.problems
                .push(format!("pack {id}: the catalog and the manifest disagree on id or version (mix-and-match?)"));
        }
        for f in &manifest.files {
            r.files += 1;
            let mut hasher = blake3::Hasher::new();
            let mut whole = true;
            for c in f.chunk_list() {
                match repo.read_object(&c.0, c.1) {
                    Ok(data) => {
                        hasher.update(&data);
                        if checked.insert(c.0) {
                            r.objects_checked += 1;
                            r.bytes_checked += c.1;
                        }
                    }
                    Err(e) => {
                        whole = false;
                        r.problems.push(format!("pack {id}: file {:?}: {e}", f.path));
                        break;
                    }
                }
            }
            if whole && Hash::from(hasher.finalize()) != f.hash {
                r.problems.push(format!("pack {id}: file {:?} does not match its hash", f.path));
            }
        }
        let mut window = Vec::new();
        if let Some(w) = &entry.window {
            match repo.read_object(&w.object, w.size).and_then(|b| {
                serde_json::from_slice::<crate::meta::DeltaWindow>(&b)
                    .map_err(|e| Error::Malformed { what: "window object".into(), detail: e.to_string() })
            }) {
                Ok(list) => window = list,
                Err(e) => r.problems.push(format!("pack {id}: window: {e}")),
            }
        }
        for d in entry.manifest_deltas.iter().chain(&window) {
            if let Err(e) = repo.read_object(&d.object, d.size) {
                r.problems.push(format!("pack {id}: manifest delta: {e}"));
            }
            if let Some(b) = &d.bundle
                && let Err(e) = check_bundle(repo, &d.from, b, &d.object, &manifest)
            {
                // A warning, not a problem: the file at `updates/…/<from>` is rewritten in
                // place at each publication (FORMAT.md), so a build killed between moving
                // the new bundle in and signing the new top leaves one that does not match
                // the entry; boxes check every bundle against the entry's hash and do
                // without it (whole chunks), and the next publication rewrites it.
                r.warnings.push(format!(
                    "pack {id}: update bundle from {} does not match the catalog (boxes will fetch chunks instead; the next publication rewrites it): {e}",
                    d.from
                ));
            }
        }
        for d in &manifest.deltas {
            // A delta object is read like any other: decoded, bounded, hashed.
            if let Err(e) = repo.read_object(&d.object, d.size) {
                r.problems.push(format!("pack {id}: delta: {e}"));
            } else if checked.insert(d.object) {
                r.objects_checked += 1;
            }
        }
    }
    Ok(r)
}

/// Each leaf hint (`hints/<branch>-<leaf>.json`) should hold the bytes of the leaf its
/// bin's branch names. One that does not (a publication interrupted between the hints
/// and the top, a publisher that gave up a race on an object store), one of an empty
/// bin, and a missing one (a repository published before hints) are reported as
/// warnings, not problems: boxes check every hint against its branch and fetch the leaf
/// by hash instead, so they cost a round trip, never a wrong entry; the next publication
/// rewrites them.
fn check_hints(repo: &Repo, index: &crate::catalog_tree::Index, r: &mut VerifyReport) -> Result<()> {
    use crate::catalog_tree::{HINTS_DIR, MAX_NODE_BYTES, hint_rel_path, leaf_bins, parse_hint_name};
    let branches: Vec<Hash> = index.iter().flatten().copied().collect();
    let mut nodes = Vec::new();
    for (h, got) in branches.iter().zip(repo.read_nodes(&branches)) {
        // A missing or damaged branch is reported by `load_catalog` already.
        if let Ok(Some(b)) = got {
            nodes.push((*h, b));
        }
    }
    let leaves = leaf_bins(index, &nodes)?;
    let mut missing = 0;
    for (bin, leaf) in &leaves {
        let rel = hint_rel_path(*bin);
        match crate::repo::read_bounded(&repo.dir().join(&rel), MAX_NODE_BYTES) {
            Ok(b) if Hash::of(&b) == *leaf => {}
            Ok(b) => r.warnings.push(format!(
                "{rel}: this leaf hint hashes to {}, not to the leaf {leaf} its branch names (stale: boxes fetch \
                 the leaf in a round of their own until the next publication rewrites it)",
                Hash::of(&b)
            )),
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => missing += 1,
            Err(e) => r.warnings.push(format!("{rel}: {e}")),
        }
    }
    if missing > 0 {
        r.warnings.push(format!(
            "{missing} of {} leaf hints are missing under {HINTS_DIR}/ (boxes then fetch those leaves in a round of their own); \
             the next publication writes them",
            leaves.len()
        ));
    }
    if let Ok(files) = std::fs::read_dir(repo.dir().join(HINTS_DIR)) {
        for f in files.flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            match parse_hint_name(&name) {
                Some(bin) if leaves.contains_key(&bin) => {}
                Some(_) => {
                    r.warnings.push(format!("{HINTS_DIR}/{name}: a leaf hint for a bin the catalog leaves empty"))
                }
                None => r.warnings.push(format!("{HINTS_DIR}/{name}: not a leaf hint name (<branch>-<leaf>.json)")),
            }
        }
    }
    Ok(())
}

/// An update bundle must decode to its hash, start with the manifest patch `first`, and
/// hold exact copies of objects of the repository.
fn check_bundle(
    repo: &Repo,
    from: &Hash,
    b: &crate::meta::BundleRef,
    first: &Hash,
    new: &crate::Manifest,
) -> Result<()> {
    let bytes = repo.read_update(from, b)?;
    let (patch, patch_stored) = crate::bundle::first_record(&bytes)?;
    if patch != *first {
        return Err(Error::Other("its first record is not the manifest patch".into()));
    }
    let mut records = vec![(patch, patch_stored)];
    records.extend(crate::bundle::later_records(&bytes, &repo.read_manifest_unsized(from)?, new)?);
    for (h, stored) in records {
        // A referenced bundle holds raw frames of the chunks, not the repository's copy:
        // compare what they decode to.
        let same = if b.stored.is_some() {
            let ours = repo.read_stored(&h)?;
            let decoded = |s: &[u8]| crate::object::decode_bounded(s, crate::bundle::MAX_BUNDLE_BYTES);
            decoded(&ours).is_ok_and(|o| decoded(stored).is_ok_and(|t| t == o))
        } else {
            repo.read_stored(&h)? == stored
        };
        if !same {
            return Err(Error::Other(format!("its copy of object {h} differs from the repository's")));
        }
    }
    Ok(())
}

/// Like [`verify_repo`], but any problem is an error.
pub fn verify_repo_strict(repo: &Repo, trusted: Option<&[PublicKey]>) -> Result<VerifyReport> {
    let r = verify_repo(repo, trusted)?;
    if !r.ok() {
        return Err(Error::Other(format!("the repository does not verify:\n  {}", r.problems.join("\n  "))));
    }
    Ok(r)
}
