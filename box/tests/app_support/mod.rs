//! For the classroom application's tests against a real `preau serve`: installs the
//! application's test pack (a course, a quiz, an assignment) into a box data folder
//! through the same verified apply step as every pack, before the server starts.
#![allow(dead_code)]

pub mod chromium;

use std::path::Path;

use preau_classroom::testkit;
use preau_pack::build::{BuildOptions, build};
use preau_pack::sign::SecretKey;
use preau_pack::{PackMeta, SourceTree};

/// Builds `testkit::demo_pack()` plus `extra` files into a throw-away repository and
/// installs it into `data` (`data/repo`).
pub fn install_test_pack(data: &Path, extra: &[(&str, &[u8])]) {
    let (info, files) = testkit::demo_pack();
    let meta = PackMeta {
        id: info.id.clone(),
        title: info.title.clone(),
        subjects: vec![info.subject.clone()],
        level: info.level.clone(),
        entry: info.entry.clone(),
        language: "fr".into(),
        kind: "folder".into(),
        ..PackMeta::default()
    };
    let mut tree = SourceTree { meta, files: Vec::new() };
    for (path, bytes) in files {
        tree.add_bytes(path, bytes);
    }
    for (path, bytes) in extra {
        tree.add_bytes(path.to_string(), bytes.to_vec());
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let key = SecretKey::generate();
    let opts = BuildOptions { level: 3, ..BuildOptions::default() };
    build(&repo, tree, &key, &opts, &mut |_, _| {}).unwrap();
    std::fs::create_dir_all(data).unwrap();
    preau_sync::install_from_folder(&repo, data, &[key.public()], None).unwrap();
}
