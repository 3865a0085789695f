//! Property tests of the pack format: round trips, stable chunk boundaries, determinism.

use std::collections::BTreeMap;

use preau_pack::build::{BuildOptions, build};
use preau_pack::{PackMeta, Repo, SecretKey, SourceTree, extract};
use proptest::prelude::*;

fn opts() -> BuildOptions {
    // A low level keeps the property tests fast; the level does not change the format.
    BuildOptions { level: 1, ..BuildOptions::default() }
}

fn tree_of(files: &BTreeMap<String, Vec<u8>>) -> SourceTree {
    let mut t =
        SourceTree { meta: PackMeta { id: "p".into(), title: "Titre".into(), ..Default::default() }, files: vec![] };
    for (p, d) in files {
        t.add_bytes(p.clone(), d.clone());
    }
    t
}

/// Trees with nested paths (lowercase, so no case collisions), sizes from empty to a few chunks.
fn arb_tree() -> impl Strategy<Value = BTreeMap<String, Vec<u8>>> {
    let path = proptest::collection::vec("[a-z0-9é]{1,6}", 1..4).prop_map(|parts| parts.join("/"));
    let data = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        (any::<u64>(), 0usize..300_000).prop_map(|(seed, len)| pseudo_random(seed, len)),
    ];
    proptest::collection::btree_map(path, data, 1..8).prop_filter("no file is also a folder", |m| {
        m.keys().all(|a| m.keys().all(|b| !b.starts_with(&format!("{a}/"))))
    })
}

fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Mix some text-like runs in so that compression is exercised too.
            if x.is_multiple_of(5) { b'a' } else { x as u8 }
        })
        .collect()
}

fn read_tree(dir: &std::path::Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(dir).unwrap().to_str().unwrap().to_string(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_trees_round_trip_byte_exact(files in arb_tree()) {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::generate();
        let repo_dir = dir.path().join("repo");
        let s = build(&repo_dir, tree_of(&files), &key, &opts(), &mut |_, _| {}).unwrap();
        let repo = Repo::open(&repo_dir).unwrap();
        let report = preau_pack::verify::verify_repo(&repo, Some(&[key.public()])).unwrap();
        prop_assert!(report.ok(), "{:?}", report.problems);
        let root = repo.verified_root(None).unwrap();
        let entry = repo.load_catalog(&root).unwrap().packs["p"].clone();
        prop_assert_eq!(entry.manifest, s.manifest);
        let m = repo.read_manifest(&entry.manifest, entry.manifest_size).unwrap();
        let out = dir.path().join("out");
        extract::extract(&repo, &m, &out).unwrap();
        prop_assert_eq!(read_tree(&out), files);
    }

    #[test]
    fn manifests_are_deterministic(files in arb_tree()) {
        let dir = tempfile::tempdir().unwrap();
        // Two repositories, two keys: the manifest bytes depend only on the content.
        let a = build(&dir.path().join("a"), tree_of(&files), &SecretKey::generate(), &opts(), &mut |_, _| {}).unwrap();
        let b = build(&dir.path().join("b"), tree_of(&files), &SecretKey::generate(), &opts(), &mut |_, _| {}).unwrap();
        prop_assert_eq!(a.manifest, b.manifest);
    }

    #[test]
    fn chunk_boundaries_stay_put_under_an_insertion(seed in any::<u64>(), at in 0usize..100_000, insert in proptest::collection::vec(any::<u8>(), 1..500)) {
        let original = pseudo_random(seed, 1_000_000);
        let mut edited = original.clone();
        edited.splice(at..at, insert.iter().copied());
        let cuts = |d: &[u8]| -> Vec<usize> {
            let mut pos = 0;
            preau_pack::chunk::chunk_lengths(d).into_iter().map(|l| { pos += l; pos }).collect()
        };
        let before = cuts(&original);
        let after: Vec<usize> = cuts(&edited).into_iter().map(|c| c - insert.len()).collect();
        // Every boundary well after the edit is found again, shifted by the insertion.
        let far: Vec<usize> = before.iter().copied().filter(|c| *c > at + 300_000).collect();
        prop_assert!(!far.is_empty());
        for c in far {
            prop_assert!(after.contains(&c), "boundary at {} moved", c);
        }
    }
}

#[test]
fn a_second_version_reuses_unchanged_chunks_and_keeps_history() {
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::generate();
    let repo_dir = dir.path().join("repo");
    let mut files = BTreeMap::new();
    files.insert("big.bin".to_string(), pseudo_random(7, 2_000_000));
    files.insert("page.html".to_string(), b"<h1>Bonjour</h1>".to_vec());
    let v1 = build(&repo_dir, tree_of(&files), &key, &opts(), &mut |_, _| {}).unwrap();
    files.get_mut("big.bin").unwrap().splice(1_000_000..1_000_000, *b"insertion");
    let v2 = build(&repo_dir, tree_of(&files), &key, &opts(), &mut |_, _| {}).unwrap();
    assert_eq!((v1.version, v2.version), (1, 2));
    assert!(v2.chunks_reused >= v2.chunks_total - 3, "{v2:?}");
    assert!(v2.bytes_added < v1.bytes_added / 4, "{} vs {}", v2.bytes_added, v1.bytes_added);
    let again = build(&repo_dir, tree_of(&files), &key, &opts(), &mut |_, _| {}).unwrap();
    assert!(again.unchanged && again.version == 2 && again.catalog_version == 2);
    let repo = Repo::open(&repo_dir).unwrap();
    let root = repo.verified_root(None).unwrap();
    let entry = repo.load_catalog(&root).unwrap().packs["p"].clone();
    let m2 = repo.read_manifest(&entry.manifest, entry.manifest_size).unwrap();
    assert_eq!(m2.previous, Some(v1.manifest));
}

/// Files that change the same way (a library and its second build, a source map) are
/// sent once: the bundle is compressed against the changed files' old versions as one
/// frame, and comes out far smaller than the per-file deltas together.
#[test]
fn a_shared_change_is_sent_once_in_a_referenced_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::generate();
    let repo_dir = dir.path().join("repo");
    let lib: Vec<u8> =
        (0..4000).flat_map(|i| format!("function f{i}(x) {{ return x * {i}; }}\n").into_bytes()).collect();
    let mut files = BTreeMap::new();
    files.insert("dist/lib.js".to_string(), lib.clone());
    files.insert("dist/lib.esm.js".to_string(), [b"export ".to_vec(), lib.clone()].concat());
    files.insert("image.bin".to_string(), pseudo_random(3, 300_000));
    build(&repo_dir, tree_of(&files), &key, &opts(), &mut |_, _| {}).unwrap();
    let change: Vec<u8> = pseudo_random(9, 20_000).iter().map(|b| b'a' + b % 26).collect();
    for f in ["dist/lib.js", "dist/lib.esm.js"] {
        files.get_mut(f).unwrap().splice(50_000..50_000, change.iter().copied());
    }
    build(&repo_dir, tree_of(&files), &key, &opts(), &mut |_, _| {}).unwrap();

    let repo = Repo::open(&repo_dir).unwrap();
    let root = repo.verified_root(None).unwrap();
    let entry = repo.load_catalog(&root).unwrap().packs["p"].clone();
    let d = &entry.manifest_deltas[0];
    let b = d.bundle.expect("a bundle from v1");
    let stored = b.stored.expect("the referenced form is the smaller here");
    let m2 = repo.read_manifest(&entry.manifest, entry.manifest_size).unwrap();
    let per_file: u64 = m2.deltas.iter().map(|d| d.size).sum();
    assert_eq!(m2.deltas.len(), 2, "{:?}", m2.deltas);
    assert!(
        stored * 10 < per_file * 7,
        "one copy of the change: {stored} bytes against {per_file} for the per-file deltas"
    );
    // It decodes against v1's files to exactly its catalog hash, and verifies.
    let decoded = repo.read_update(&d.from, &b).unwrap();
    assert_eq!(decoded.len() as u64, b.size);
    preau_pack::verify::verify_repo_strict(&repo, None).unwrap();

    // A bundle that no longer matches its entry (a build killed after moving in the next
    // bundle, before signing the next top) costs boxes bytes, never a wrong file: it is
    // a warning naming the bundle, and the repository still verifies.
    let path = repo_dir.join(preau_pack::repo::update_rel_path(&d.from));
    std::fs::write(&path, b"not a bundle").unwrap();
    let r = preau_pack::verify::verify_repo(&repo, None).unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert!(
        r.warnings.iter().any(|w| w.contains("update bundle from") && w.contains(&d.from.to_hex())),
        "{:?}",
        r.warnings
    );
}

#[test]
fn range_reads_cross_chunk_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::generate();
    let data = pseudo_random(3, 700_000);
    let mut files = BTreeMap::new();
    files.insert("video.mp4".to_string(), data.clone());
    let s = build(&dir.path().join("r"), tree_of(&files), &key, &opts(), &mut |_, _| {}).unwrap();
    let repo = Repo::open(&dir.path().join("r")).unwrap();
    let root = repo.verified_root(None).unwrap();
    let e = repo.load_catalog(&root).unwrap().packs["p"].clone();
    assert_eq!(e.manifest, s.manifest);
    let m = repo.read_manifest(&e.manifest, e.manifest_size).unwrap();
    let f = m.file("video.mp4").unwrap();
    assert!(f.chunks.len() > 3);
    for (start, len) in [(0u64, 10u64), (65_000, 200_000), (699_990, 10), (0, 700_000)] {
        assert_eq!(repo.read_range(f, start, len).unwrap(), &data[start as usize..(start + len) as usize]);
    }
    assert!(repo.read_range(f, 699_990, 11).is_err());
}

#[test]
fn build_many_publishes_once_and_the_catalog_reads_back_from_its_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::generate();
    let tree = |id: &str, text: &str| {
        let mut t = SourceTree::default();
        t.meta.id = id.into();
        t.add_bytes("index.md", text.as_bytes().to_vec());
        t
    };
    let trees = || vec![tree("a", "A"), tree("b", "B"), tree("c", "C")];
    let s = preau_pack::build::build_many(dir.path(), trees(), &key, &opts(), &mut |_, _| {}).unwrap();
    assert!(s.iter().all(|s| s.catalog_version == 1 && !s.unchanged), "{s:?}");
    let repo = Repo::open(dir.path()).unwrap();
    let root = repo.verified_root(None).unwrap();
    let cat = repo.load_catalog(&root).unwrap();
    assert_eq!((cat.version, cat.packs.len()), (1, 3));
    assert!(repo.load_catalog_top(&root).unwrap().packs.is_empty(), "the signed top lists no pack");

    // Two unchanged, one changed: one new catalog version, only that pack's path rewritten.
    let nodes_before = std::fs::read_dir(dir.path().join("catalog")).unwrap().count();
    let mut next = trees();
    next[1] = tree("b", "B2");
    let s = preau_pack::build::build_many(dir.path(), next, &key, &opts(), &mut |_, _| {}).unwrap();
    assert_eq!(s.iter().map(|s| s.unchanged).collect::<Vec<_>>(), [true, false, true]);
    let cat = repo.load_catalog(&root).unwrap();
    assert_eq!((cat.version, cat.packs["b"].version, cat.packs["a"].version), (2, 2, 1));
    let nodes_after = std::fs::read_dir(dir.path().join("catalog")).unwrap().count();
    assert_eq!(nodes_after - nodes_before, 2, "one leaf and its branch");

    // Nothing changed: no new version. The same id twice: refused before any write.
    let s = preau_pack::build::build_many(dir.path(), vec![tree("a", "A")], &key, &opts(), &mut |_, _| {}).unwrap();
    assert!(s[0].unchanged && s[0].catalog_version == 2);
    let e =
        preau_pack::build::build_many(dir.path(), vec![tree("d", "1"), tree("d", "2")], &key, &opts(), &mut |_, _| {});
    assert!(e.unwrap_err().to_string().contains("twice"));
    assert_eq!(repo.load_catalog(&root).unwrap().version, 2);

    // A missing node is an error for a publisher (re-signing would lose packs); a
    // reader of a box's partial copy gets what is there and the list of what is not.
    std::fs::remove_dir_all(dir.path().join("catalog")).unwrap();
    let e = repo.load_catalog(&root).unwrap_err();
    assert!(matches!(e, preau_pack::Error::MissingObject { .. }), "{e:?}");
    let (cat, missing) = repo.load_catalog_available(&root).unwrap();
    assert!(cat.packs.is_empty() && !missing.is_empty());
}

/// A root key authorises another key to sign the catalog (a second publisher), and
/// withdraws it; each change is a root version the chain verifies, and a removal that
/// would leave the current catalog signed by nobody authorised is refused.
#[test]
fn the_root_key_authorises_and_withdraws_catalog_keys() {
    use preau_pack::repo::authorize_catalog_keys;
    let dir = tempfile::tempdir().unwrap();
    let repo_dir = dir.path().join("repo");
    let (root, team) = (SecretKey::generate(), SecretKey::generate());
    let files = BTreeMap::from([("a.txt".to_string(), b"un".to_vec())]);
    build(&repo_dir, tree_of(&files), &root, &opts(), &mut |_, _| {}).unwrap();
    let mut other = tree_of(&files);
    other.meta.id = "q".into();
    let err = build(&repo_dir, other.clone(), &team, &opts(), &mut |_, _| {}).unwrap_err();
    assert!(err.to_string().contains("not authorised"), "{err}");
    let err = authorize_catalog_keys(&repo_dir, &team, &[team.public()], &[]).unwrap_err();
    assert!(err.to_string().contains("not a root key"), "{err}");

    let r2 = authorize_catalog_keys(&repo_dir, &root, &[team.public()], &[]).unwrap();
    assert_eq!(r2.version, 2);
    assert_eq!(authorize_catalog_keys(&repo_dir, &root, &[team.public()], &[]).unwrap().version, 2, "no change");
    build(&repo_dir, other.clone(), &team, &opts(), &mut |_, _| {}).unwrap();
    let repo = Repo::open(&repo_dir).unwrap();
    assert_eq!(repo.verified_root(Some(&[root.public()])).unwrap().version, 2);
    assert!(preau_pack::verify::verify_repo(&repo, Some(&[root.public()])).unwrap().ok());

    // The root key publishes, then tries to stop signing catalogs: refused, the current
    // catalog (its own) would be signed by no catalog key, and nothing is written.
    let files2 = BTreeMap::from([("a.txt".to_string(), b"deux".to_vec())]);
    build(&repo_dir, tree_of(&files2), &root, &opts(), &mut |_, _| {}).unwrap();
    let err = authorize_catalog_keys(&repo_dir, &root, &[], &[root.public()]).unwrap_err();
    assert!(err.to_string().contains("publish with another catalog key first"), "{err}");
    assert_eq!(repo.verified_root(None).unwrap().version, 2);
    // Once the team has published, it can: the current catalog, the team's, stays valid.
    let mut other2 = other.clone();
    other2.add_bytes("b.txt".to_string(), b"trois".to_vec());
    build(&repo_dir, other2, &team, &opts(), &mut |_, _| {}).unwrap();
    let r3 = authorize_catalog_keys(&repo_dir, &root, &[], &[root.public()]).unwrap();
    assert_eq!(r3.roles.catalog.keys, vec![team.public().to_hex()]);
    // Withdrawing the team's key now would leave no catalog key at all.
    let err = authorize_catalog_keys(&repo_dir, &root, &[], &[team.public()]).unwrap_err();
    assert!(err.to_string().contains("at least that many") || err.to_string().contains("re-sign"), "{err}");
    // Back: the root key re-signs the catalog when it is a catalog key again.
    let r4 = authorize_catalog_keys(&repo_dir, &root, &[root.public()], &[team.public()]).unwrap();
    assert_eq!(r4.roles.catalog.keys, vec![root.public().to_hex()]);
    let catalog = repo.load_catalog(&r4).unwrap();
    assert_eq!(catalog.root_version, 4, "the catalog names the new root");
    assert_eq!(catalog.packs.len(), 2);
    let err = build(&repo_dir, other, &team, &opts(), &mut |_, _| {}).unwrap_err();
    assert!(err.to_string().contains("not authorised"), "withdrawn key still signs: {err}");
    assert!(preau_pack::verify::verify_repo(&repo, Some(&[root.public()])).unwrap().ok());
}
