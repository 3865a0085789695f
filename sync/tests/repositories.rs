//! Rollback protection per repository: two repositories signed by one publisher key (a
//! teacher's two USB sticks, two courses) both install, while a replayed older catalog
//! of the same repository, or an older version of an installed pack, is refused.

use std::path::Path;

use preau_pack::build::{BuildOptions, build};
use preau_pack::installed::Installed;
use preau_pack::{PackMeta, SecretKey, SourceTree};
use preau_sync::{Error, add_from_folder, install_from_folder};

fn build_pack(repo: &Path, key: &SecretKey, id: &str, text: &str) {
    let mut tree =
        SourceTree { meta: PackMeta { id: id.into(), title: id.into(), ..Default::default() }, files: vec![] };
    tree.add_bytes("index.html", format!("<p>{text}</p>"));
    build(repo, tree, key, &BuildOptions { level: 1, ..Default::default() }, &mut |_, _| {}).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

fn versions(data: &Path) -> Vec<(String, u64)> {
    Installed::load(&data.join("repo")).unwrap().packs.iter().map(|(id, p)| (id.clone(), p.version)).collect()
}

#[test]
fn two_repositories_of_one_key_install_and_each_keeps_its_rollback_floor() {
    let key = SecretKey::generate();
    let trusted = [key.public()];
    // Stick A: course "maths" at catalog version 3.
    let a = tempfile::tempdir().unwrap();
    build_pack(a.path(), &key, "maths", "v1");
    let a_old = tempfile::tempdir().unwrap();
    copy_dir(a.path(), a_old.path());
    build_pack(a.path(), &key, "maths", "v2");
    build_pack(a.path(), &key, "maths", "v3");
    // The root of a repository is named by its signed bytes, which hold a time in
    // seconds: the second stick is made in another second, as any real one is.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    // Stick B: another course, same key, catalog version 1 (lower than A's).
    let b = tempfile::tempdir().unwrap();
    build_pack(b.path(), &key, "histoire", "v1");

    let data = tempfile::tempdir().unwrap();
    add_from_folder(a.path(), data.path(), &trusted).unwrap();
    let s = add_from_folder(b.path(), data.path(), &trusted).expect("a second repository of the same key installs");
    assert_eq!(s.installed, vec![("histoire".to_string(), 1)]);
    assert_eq!(versions(data.path()), vec![("histoire".into(), 1), ("maths".into(), 3)]);

    // A replayed older catalog of stick A is refused, with its own error.
    let before = std::fs::read(data.path().join("repo/installed.json")).unwrap();
    let e = add_from_folder(a_old.path(), data.path(), &trusted).unwrap_err();
    assert!(matches!(e, Error::Rollback { ref what, offered: 1, installed: 3, .. } if what == "the catalog"), "{e:?}");
    assert_eq!(std::fs::read(data.path().join("repo/installed.json")).unwrap(), before);

    // Both sticks again: nothing to do, no error.
    add_from_folder(a.path(), data.path(), &trusted).unwrap();
    add_from_folder(b.path(), data.path(), &trusted).unwrap();

    // A third repository of the same key carrying an older version of an installed
    // pack: the repository is new, the pack's version is not.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let c = tempfile::tempdir().unwrap();
    build_pack(c.path(), &key, "maths", "another v1");
    let e = install_from_folder(c.path(), data.path(), &trusted, None).unwrap_err();
    assert!(matches!(e, Error::Rollback { ref what, offered: 1, installed: 3, .. } if what == "pack maths"), "{e:?}");
    assert_eq!(versions(data.path()), vec![("histoire".into(), 1), ("maths".into(), 3)]);
}

#[test]
fn a_box_from_before_repositories_were_remembered_keeps_its_floor() {
    // The state holds no repository yet: the installed catalog of the repository whose
    // root the box follows is the floor, as before.
    let key = SecretKey::generate();
    let a = tempfile::tempdir().unwrap();
    build_pack(a.path(), &key, "maths", "v1");
    let a_old = tempfile::tempdir().unwrap();
    copy_dir(a.path(), a_old.path());
    build_pack(a.path(), &key, "maths", "v2");
    let data = tempfile::tempdir().unwrap();
    add_from_folder(a.path(), data.path(), &[key.public()]).unwrap();
    let state = data.path().join("sync/state.json");
    let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(json["repositories"].as_object().map(|m| m.len()), Some(1), "{json}");
    json.as_object_mut().unwrap().remove("repositories");
    std::fs::write(&state, serde_json::to_vec(&json).unwrap()).unwrap();
    let e = add_from_folder(a_old.path(), data.path(), &[key.public()]).unwrap_err();
    assert!(matches!(e, Error::Rollback { offered: 1, installed: 2, .. }), "{e:?}");
}
