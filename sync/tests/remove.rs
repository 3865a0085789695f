//! Removing packs: the switch, garbage collection that spares the other packs, and the
//! memory of the removal (the background sync does not bring a removed pack back; a
//! teacher adding the folder again, or a pull by name, does).

use std::path::Path;

use preau_pack::build::{BuildOptions, build};
use preau_pack::installed::Installed;
use preau_pack::source::SourceTree;
use preau_pack::{Repo, SecretKey};
use preau_sync::source::FolderSource;
use preau_sync::{Error, PullOptions, add_from_folder, install_from_folder, pull, remove_packs};

fn pack(repo: &Path, key: &SecretKey, id: &str, seed: u8) {
    let mut tree = SourceTree::default();
    tree.meta.id = id.into();
    tree.meta.title = format!("Pack {id}");
    tree.add_bytes("index.html", format!("<h1>{id}</h1>"));
    // Large and different per pack, so that each pack has chunks of its own.
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ u64::from(seed);
    let body: Vec<u8> = (0..300_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    tree.add_bytes("data.bin", body);
    tree.add_bytes("shared.txt", "the same bytes in both packs".repeat(100));
    build(repo, tree, key, &BuildOptions::default(), &mut |_, _| {}).unwrap();
}

fn objects_on_disk(data: &Path) -> usize {
    walk(&data.join("repo/objects"))
}

fn walk(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| if e.path().is_dir() { walk(&e.path()) } else { 1 }).sum())
        .unwrap_or(0)
}

fn setup() -> (tempfile::TempDir, tempfile::TempDir, SecretKey) {
    let publisher = tempfile::tempdir().unwrap();
    let key = SecretKey::generate();
    pack(publisher.path(), &key, "alpha", 1);
    pack(publisher.path(), &key, "beta", 2);
    let data = tempfile::tempdir().unwrap();
    let s = install_from_folder(publisher.path(), data.path(), &[key.public()], None).unwrap();
    assert_eq!(s.installed.len(), 2);
    (publisher, data, key)
}

#[test]
fn removing_a_pack_frees_its_objects_and_keeps_the_other_pack_whole() {
    let (_publisher, data, _key) = setup();
    let before = objects_on_disk(data.path());
    let s = remove_packs(data.path(), &["alpha".to_string()]).unwrap();
    assert_eq!(s.removed, vec![("alpha".to_string(), 1)]);
    assert!(s.gc_objects > 0 && s.gc_bytes > 100_000, "alpha's own chunks are freed: {s:?}");
    assert_eq!(objects_on_disk(data.path()), before - s.gc_objects as usize);

    let inst = Installed::load(&data.path().join("repo")).unwrap();
    assert!(!inst.packs.contains_key("alpha"));
    assert!(inst.removed.contains("alpha"));
    // Beta, including the chunk it shares with alpha, still reads back whole.
    let repo = Repo::open(&data.path().join("repo")).unwrap();
    let b = &inst.packs["beta"];
    let m = repo.read_manifest(&b.manifest, b.manifest_size).unwrap();
    for f in &m.files {
        repo.read_file(f).unwrap();
    }
}

#[test]
fn removing_an_unknown_pack_changes_nothing() {
    let (_publisher, data, _key) = setup();
    let before = std::fs::read(data.path().join("repo/installed.json")).unwrap();
    let objects = objects_on_disk(data.path());
    let e = remove_packs(data.path(), &["beta".to_string(), "gamma".to_string()]).unwrap_err();
    assert!(matches!(e, Error::NoSuchPack(ref id) if id == "gamma"), "{e}");
    assert_eq!(std::fs::read(data.path().join("repo/installed.json")).unwrap(), before);
    assert_eq!(objects_on_disk(data.path()), objects);
    let empty = tempfile::tempdir().unwrap();
    assert!(remove_packs(empty.path(), &["alpha".to_string()]).unwrap_err().to_string().contains("no installed packs"));
}

#[test]
fn a_removed_pack_stays_removed_until_asked_for_again() {
    let (publisher, data, key) = setup();
    remove_packs(data.path(), &["alpha".to_string()]).unwrap();
    let installed = |d: &Path| Installed::load(&d.join("repo")).unwrap();

    // The preload at start and the background sync take "every pack": not alpha.
    let s = install_from_folder(publisher.path(), data.path(), &[], None).unwrap();
    assert!(s.installed.is_empty(), "{s:?}");
    let src = FolderSource::new(publisher.path()).unwrap();
    let p = pull(&src, data.path(), &PullOptions { trusted: vec![key.public()], ..Default::default() }).unwrap();
    assert!(p.updated.is_empty() && p.incomplete.is_empty(), "{p:?}");
    assert!(!installed(data.path()).packs.contains_key("alpha"));

    // The teacher adds the folder again: alpha is back and no longer marked removed.
    let s = add_from_folder(publisher.path(), data.path(), &[]).unwrap();
    assert_eq!(s.installed, vec![("alpha".to_string(), 1)]);
    let inst = installed(data.path());
    assert!(inst.packs.contains_key("alpha") && inst.removed.is_empty());

    // Removed again, then pulled by name.
    remove_packs(data.path(), &["alpha".to_string()]).unwrap();
    let by_name = PullOptions { packs: Some(vec!["alpha".into()]), ..Default::default() };
    let p = pull(&src, data.path(), &by_name).unwrap();
    assert_eq!(p.updated.len(), 1);
    assert!(installed(data.path()).removed.is_empty());
}
