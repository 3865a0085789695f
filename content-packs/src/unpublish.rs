//! Taking packs out of a publishing repository: a new catalog without them, signed like a
//! build's, then the objects and update bundles that no remaining pack needs are deleted.
//!
//! The box's own repository of imported courses (`DATA/local/`) uses it when a teacher
//! removes a course, so that « Retirer » frees the disk there too. Same writer lock as a
//! build; the catalog is replaced (atomic rename) before anything is deleted, so a kill at
//! any moment leaves a catalog whose every object is present.

use std::collections::HashSet;
use std::path::Path;

use crate::hash::Hash;
use crate::manifest::Manifest;
use crate::meta::now_unix;
use crate::repo::Repo;
use crate::sign::SecretKey;
use crate::{Error, Result};

/// What an unpublication freed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unpublished {
    /// The ids that were in the catalog and are no longer.
    pub removed: Vec<String>,
    pub objects: u64,
    pub bytes: u64,
}

/// Removes `ids` from the catalog of the repository at `dir` (ids it does not list are
/// ignored) and deletes what no remaining pack needs. Nothing is re-signed when no id
/// is listed, but the sweep still runs (it finishes one that was interrupted).
pub fn unpublish(dir: &Path, ids: &[String], key: &SecretKey) -> Result<Unpublished> {
    let _lock = crate::repo::lock_repo(dir)?;
    let repo = Repo::open(dir)?;
    let (removed, catalog) = withdraw_locked(&repo, ids, key)?;
    let mut out = Unpublished { removed, ..Default::default() };
    // What the remaining packs need: each current version and the one before it (the
    // next build's deltas and boxes one version behind), with their manifest deltas, and
    // every version of their K-window (its bundles, and the files the next build makes
    // bundles from).
    let mut keep: HashSet<Hash> = HashSet::new();
    for e in catalog.packs.values() {
        keep_version(&repo, &e.manifest, e.manifest_size, &mut keep)?;
        for d in &e.manifest_deltas {
            keep.insert(d.from);
            keep.insert(d.object);
        }
        keep_window(&repo, e, &mut keep)?;
    }
    (out.objects, out.bytes) = repo.sweep_objects(&keep);
    repo.sweep_updates(&keep);
    Ok(out)
}

/// Removes `ids` from the catalog of the repository at `dir` and re-signs it, deleting
/// nothing else: for a publishing mirror of an object store, which holds only part of
/// the objects and never deletes one (another publisher's pack may share it). Returns
/// the ids that were listed.
pub fn withdraw(dir: &Path, ids: &[String], key: &SecretKey) -> Result<Vec<String>> {
    let _lock = crate::repo::lock_repo(dir)?;
    Ok(withdraw_locked(&Repo::open(dir)?, ids, key)?.0)
}

/// The catalog without `ids`, signed and published when one of them was listed.
fn withdraw_locked(repo: &Repo, ids: &[String], key: &SecretKey) -> Result<(Vec<String>, crate::meta::Catalog)> {
    let root = repo.verified_root(None)?;
    crate::repo::require_catalog_key(&root, key, repo.dir())?;
    let mut catalog = repo.load_catalog(&root)?;
    let mut removed = Vec::new();
    for id in ids {
        if catalog.packs.remove(id).is_some() {
            removed.push(id.clone());
        }
    }
    if !removed.is_empty() {
        catalog.version += 1;
        catalog.issued = now_unix().max(catalog.issued);
        catalog.root_version = root.version;
        repo.publish_catalog(&catalog, key)?;
    }
    Ok((removed, catalog))
}

/// Adds to `keep` every object of the version whose manifest is `manifest` (its chunks,
/// its deltas, the manifest) and of the version before it, when the repository holds it
/// (its size is recorded nowhere a box keeps: read with the manifest bound).
pub fn keep_version(repo: &Repo, manifest: &Hash, size: u64, keep: &mut HashSet<Hash>) -> Result<()> {
    keep.insert(*manifest);
    let m = repo.read_manifest(manifest, size)?;
    add_manifest(keep, &m);
    if let Some(prev) = m.previous
        && let Ok(pm) = repo.read_manifest_unsized(&prev)
    {
        keep.insert(prev);
        add_manifest(keep, &pm);
    }
    Ok(())
}

/// Adds to `keep` a pack's window object and every version it lists (manifest, files,
/// manifest delta). A window that cannot be read stops the sweep: deleting on a guess
/// could take a version boxes still update from.
fn keep_window(repo: &Repo, e: &crate::meta::CatalogEntry, keep: &mut HashSet<Hash>) -> Result<()> {
    let Some(w) = e.window else { return Ok(()) };
    keep.insert(w.object);
    let bytes = repo.read_object(&w.object, w.size)?;
    let list: crate::meta::DeltaWindow = serde_json::from_slice(&bytes)
        .map_err(|err| Error::Malformed { what: format!("window object {}", w.object), detail: err.to_string() })?;
    for d in list {
        keep.insert(d.from);
        keep.insert(d.object);
        if let Ok(m) = repo.read_manifest_unsized(&d.from) {
            add_manifest(keep, &m);
        }
    }
    Ok(())
}

fn add_manifest(keep: &mut HashSet<Hash>, m: &Manifest) {
    for f in &m.files {
        keep.extend(f.chunk_list().iter().map(|c| c.0));
    }
    keep.extend(m.deltas.iter().map(|d| d.object));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::{BuildOptions, build};
    use crate::source::SourceTree;

    fn tree(id: &str, text: &str) -> SourceTree {
        let mut t = SourceTree::default();
        t.meta.id = id.into();
        t.add_bytes("index.html", format!("<p>{text}</p>").into_bytes());
        t.add_bytes("big.bin", text.repeat(5000).into_bytes());
        t
    }

    fn objects(dir: &Path) -> usize {
        walk(&dir.join("objects"))
    }

    fn walk(d: &Path) -> usize {
        std::fs::read_dir(d)
            .map_or(0, |rd| rd.flatten().map(|e| if e.path().is_dir() { walk(&e.path()) } else { 1 }).sum())
    }

    #[test]
    fn the_other_packs_keep_their_versions_window_and_a_mirror_withdraws_without_deleting() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("repo");
        let key = SecretKey::generate();
        let opts = BuildOptions::default();
        for v in 1..=4 {
            build(&dir, tree("keep", &format!("gardé v{v}")), &key, &opts, &mut |_, _| {}).unwrap();
        }
        build(&dir, tree("gone", "retiré"), &key, &opts, &mut |_, _| {}).unwrap();
        let updates = |dir: &Path| walk(&dir.join(crate::repo::UPDATES_DIR));
        assert_eq!(updates(&dir), 3, "bundles from v1, v2 and v3 of the kept pack");
        let with_gone = objects(&dir);

        // On a mirror of an object store: the catalog changes, nothing is deleted.
        let mirror = tmp.path().join("mirror");
        let copied = std::process::Command::new("cp").arg("-a").arg(&dir).arg(&mirror).status().unwrap();
        assert!(copied.success());
        assert_eq!(withdraw(&mirror, &["gone".into()], &key).unwrap(), ["gone"]);
        assert_eq!((objects(&mirror), updates(&mirror)), (with_gone, 3));
        let repo = Repo::open(&mirror).unwrap();
        let catalog = repo.load_catalog(&repo.verified_root(None).unwrap()).unwrap();
        assert_eq!(catalog.packs.keys().collect::<Vec<_>>(), ["keep"]);
        let other = SecretKey::generate();
        let err = withdraw(&mirror, &["keep".into()], &other).unwrap_err().to_string();
        assert!(err.contains("not authorised"), "{err}");

        // In a folder: the removed pack's objects go, the kept pack's window stays whole.
        let u = unpublish(&dir, &["gone".into()], &key).unwrap();
        assert_eq!(u.removed, ["gone"]);
        assert!(objects(&dir) < with_gone);
        assert_eq!(updates(&dir), 3, "a box at v1 or v2 of the kept pack still updates in one bundle");
        let repo = Repo::open(&dir).unwrap();
        let report = crate::verify::verify_repo_strict(&repo, None).unwrap();
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        // The next version still makes its bundles from every version of the window.
        build(&dir, tree("keep", "gardé v5"), &key, &opts, &mut |_, _| {}).unwrap();
        assert_eq!(updates(&dir), 4);
    }

    #[test]
    fn removed_packs_leave_no_objects_and_the_rest_verifies() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("repo");
        let key = SecretKey::generate();
        let opts = BuildOptions::default();
        build(&dir, tree("keep", "gardé"), &key, &opts, &mut |_, _| {}).unwrap();
        let alone = objects(&dir);
        build(&dir, tree("gone", "retiré v1"), &key, &opts, &mut |_, _| {}).unwrap();
        build(&dir, tree("gone", "retiré v2"), &key, &opts, &mut |_, _| {}).unwrap();
        assert!(objects(&dir) > alone);
        let u = unpublish(&dir, &["gone".into(), "never-there".into()], &key).unwrap();
        assert_eq!(u.removed, ["gone"]);
        assert!(u.bytes > 0);
        assert_eq!(objects(&dir), alone, "only the remaining pack's objects are left");
        let repo = Repo::open(&dir).unwrap();
        let root = repo.verified_root(None).unwrap();
        let catalog = repo.load_catalog(&root).unwrap();
        assert_eq!(catalog.packs.keys().collect::<Vec<_>>(), ["keep"]);
        assert_eq!(catalog.version, 4, "one version more than the three builds");
        crate::verify::verify_repo_strict(&repo, None).unwrap();
        // The leaf hints follow: one per non-empty bin, the bin of "gone" emptied.
        let hints: Vec<String> = std::fs::read_dir(dir.join(crate::catalog_tree::HINTS_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(hints, [crate::catalog_tree::hint_rel_path(crate::catalog_tree::bins("keep"))[6..].to_string()]);
        // Nothing to remove: the catalog is not re-signed.
        unpublish(&dir, &["gone".into()], &key).unwrap();
        assert_eq!(repo.load_catalog(&root).unwrap().version, 4);
    }

    #[test]
    fn leaf_hints_are_written_verified_and_repaired() {
        use crate::catalog_tree::{HINTS_DIR, bins, hint_rel_path};
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("repo");
        let key = SecretKey::generate();
        let opts = BuildOptions::default();
        let ids: Vec<String> = (0..40).map(|i| format!("p{i}")).collect();
        let trees = ids.iter().map(|id| tree(id, "v1")).collect();
        crate::build::build_many(&dir, trees, &key, &opts, &mut |_, _| {}).unwrap();
        let repo = Repo::open(&dir).unwrap();
        let report = crate::verify::verify_repo_strict(&repo, None).unwrap();
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        let hint = dir.join(hint_rel_path(bins("p3")));
        let v1 = std::fs::read(&hint).unwrap();
        assert!(std::fs::exists(dir.join(crate::catalog_tree::node_rel_path(&Hash::of(&v1)))).unwrap());
        // A new version rewrites its bin's hint, and that one only.
        let before: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.join(HINTS_DIR))
            .unwrap()
            .map(|e| e.unwrap())
            .map(|e| (e.file_name().into_string().unwrap(), std::fs::read(e.path()).unwrap()))
            .collect();
        build(&dir, tree("p3", "v2"), &key, &opts, &mut |_, _| {}).unwrap();
        let changed: Vec<&String> = before
            .iter()
            .filter(|(n, b)| std::fs::read(dir.join(HINTS_DIR).join(n)).unwrap() != *b)
            .map(|x| &x.0)
            .collect();
        assert_eq!(changed.len(), 1, "{changed:?}");
        crate::verify::verify_repo_strict(&repo, None).unwrap();

        // A stale hint (the previous leaf: a build killed between the hints and the top),
        // an extra one and a missing one are reported, as warnings (boxes check hints
        // against their branch: they cost a round, never a wrong entry).
        std::fs::write(&hint, &v1).unwrap();
        let empty = (0..16).flat_map(|t| (0..64).map(move |b| (t, b))).find(|b| !ids.iter().any(|id| bins(id) == *b));
        std::fs::write(dir.join(hint_rel_path(empty.unwrap())), b"{}").unwrap();
        std::fs::remove_file(dir.join(hint_rel_path(bins("p7")))).unwrap();
        let r = crate::verify::verify_repo(&repo, None).unwrap();
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(r.warnings.len(), 3, "{:?}", r.warnings);
        let stale = hint_rel_path(bins("p3"));
        assert!(r.warnings.iter().any(|w| w.contains(&stale) && w.contains("stale")), "{:?}", r.warnings);
        assert!(r.warnings.iter().any(|w| w.contains("empty")), "{:?}", r.warnings);
        assert!(r.warnings.iter().any(|w| w.contains("1 of")), "{:?}", r.warnings);

        // The next publication (here an unpublication) repairs them all.
        unpublish(&dir, &["p0".into()], &key).unwrap();
        let r = crate::verify::verify_repo(&repo, None).unwrap();
        assert!(r.problems.is_empty() && r.warnings.is_empty(), "{r:?}");
    }
}
