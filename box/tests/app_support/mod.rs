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

/// Builds the fixture Moodle backups `(file, pack id)` (in `shared/fixtures/moodle` next to
/// the main checkout or to the worktrees' folder, read in place) into packs with the
/// `preau` command and installs them into `data`. `false` when the fixtures are missing
/// outside CI (in CI that fails the test).
pub fn install_moodle_fixtures(data: &Path, backups: &[(&str, &str)]) -> bool {
    // The one fixture root (`PREAU_FIXTURES` or `../shared/fixtures`).
    let fixtures = preau_tests::fixtures_root().join("moodle");
    let missing: Vec<_> = backups.iter().filter(|(f, _)| !fixtures.join(f).exists()).collect();
    if !missing.is_empty() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the Moodle fixtures {missing:?} are missing from {}",
            fixtures.display()
        );
        eprintln!("skipped: Moodle fixtures {missing:?} not in {}", fixtures.display());
        return false;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (repo, key) = (tmp.path().join("repo"), tmp.path().join("key"));
    let preau = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_preau")).args(args).output().expect("run preau");
        assert!(
            out.status.success(),
            "preau {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    preau(&["keygen", "--out", key.to_str().unwrap()]);
    for (file, id) in backups {
        let src = fixtures.join(file);
        preau(&[
            "pack",
            "build",
            src.to_str().unwrap(),
            "--repo",
            repo.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
            "--id",
            id,
            "--level",
            "3",
            "--offline",
        ]);
    }
    let public = SecretKey::read_file(&key).unwrap().public();
    std::fs::create_dir_all(data).unwrap();
    preau_sync::install_from_folder(&repo, data, &[public], None).unwrap();
    true
}
