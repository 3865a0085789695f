//! Faults of the box itself: killed in the middle of a pull, and a full disk.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use preau_pack::{PublicKey, SecretKey};
use preau_sync::pull::{PullOptions, pull};
use preau_sync::source::{HttpOptions, HttpSource};

fn count_objects(repo: &Path) -> usize {
    std::fs::read_dir(repo.join("objects"))
        .map(|d| d.flatten().map(|s| std::fs::read_dir(s.path()).map(|f| f.count()).unwrap_or(0)).sum())
        .unwrap_or(0)
}

/// Run by `sigkill_during_apply_then_resume` in a child process: a slow pull (rate
/// limited) that the parent kills with SIGKILL.
#[test]
#[ignore = "helper: run as a child process by sigkill_during_apply_then_resume"]
fn child_pull_to_be_killed() {
    let url = std::env::var("PREAU_TEST_URL").unwrap();
    let data = std::env::var("PREAU_TEST_DATA").unwrap();
    let key = PublicKey::from_hex(&std::env::var("PREAU_TEST_KEY").unwrap()).unwrap();
    let rate = std::env::var("PREAU_TEST_RATE").ok().and_then(|r| r.parse().ok()).unwrap_or(1_000_000);
    let src = HttpSource::new(&url, HttpOptions { max_rate: Some(rate), ..Default::default() }).unwrap();
    pull(&src, Path::new(&data), &PullOptions { trusted: vec![key], ..Default::default() }).unwrap();
}

#[test]
fn sigkill_during_apply_then_resume() {
    let Some(()) = common::course() else { return };
    let repo = tempfile::tempdir().unwrap();
    let key = SecretKey::generate();
    build_version(repo.path(), &key, &v1_tar());
    let total_objects = count_objects(repo.path());
    let nginx = Nginx::start(repo.path());
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_pull_to_be_killed", "--ignored", "--nocapture"])
        .env("PREAU_TEST_URL", nginx.url())
        .env("PREAU_TEST_DATA", data.path())
        .env("PREAU_TEST_KEY", key.public().to_hex())
        .spawn()
        .unwrap();
    // Wait until a good part of the objects is written, then kill -9.
    let repo_dir = data.path().join("repo");
    loop {
        if count_objects(&repo_dir) >= total_objects / 3 {
            break;
        }
        if let Some(st) = child.try_wait().unwrap() {
            panic!("the child pull ended before it could be killed: {st}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(installed_json(data.path()).is_none(), "killed before the switch: nothing installed");
    let already = count_objects(&repo_dir);

    // Resume: only what is missing is fetched, and the result is exact.
    let src = HttpSource::new(&nginx.url(), HttpOptions::default()).unwrap();
    let s = pull(&src, data.path(), &PullOptions { trusted: vec![key.public()], ..Default::default() }).unwrap();
    assert!(s.objects as usize <= total_objects - already + 1, "refetched verified objects: {s:?}");
    assert_box_matches(data.path(), &v1_tar());
}

fn partial_bytes(data: &Path) -> u64 {
    std::fs::read_dir(data.join("sync/partial"))
        .map(|d| d.flatten().map(|f| f.metadata().map(|m| m.len()).unwrap_or(0)).sum())
        .unwrap_or(0)
}

/// An update killed while its bundle's parts arrive: the next pull resumes each part
/// where it stopped instead of fetching the bundle again.
#[test]
fn sigkill_during_an_update_bundle_then_resume() {
    let Some(()) = common::course() else { return };
    let repo = tempfile::tempdir().unwrap();
    let key = SecretKey::generate();
    build_version(repo.path(), &key, &v1_tar());
    let nginx = Nginx::start(repo.path());
    let data = tempfile::tempdir().unwrap();
    let src = HttpSource::new(&nginx.url(), HttpOptions::default()).unwrap();
    pull(&src, data.path(), &PullOptions { trusted: vec![key.public()], ..Default::default() }).unwrap();
    build_version(repo.path(), &key, &v2_tar());
    let before = installed_json(data.path()).unwrap();

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_pull_to_be_killed", "--ignored", "--nocapture"])
        .env("PREAU_TEST_URL", nginx.url())
        .env("PREAU_TEST_DATA", data.path())
        .env("PREAU_TEST_KEY", key.public().to_hex())
        .env("PREAU_TEST_RATE", "20000")
        .spawn()
        .unwrap();
    // The bundle is about 107 KB: at 20 KB/s, kill once 40 KB of its parts are in.
    loop {
        if partial_bytes(data.path()) >= 40_000 {
            break;
        }
        if let Some(st) = child.try_wait().unwrap() {
            panic!("the child pull ended before it could be killed: {st}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(installed_json(data.path()).unwrap(), before, "killed before the switch: v1 stays");
    let kept = partial_bytes(data.path());

    let src = HttpSource::new(&nginx.url(), HttpOptions::default()).unwrap();
    let s = pull(&src, data.path(), &PullOptions { trusted: vec![key.public()], ..Default::default() }).unwrap();
    assert!(s.warnings.is_empty(), "the bundle was used: {:?}", s.warnings);
    assert!(s.bytes_downloaded + kept < 112_000, "only the rest of each part was fetched ({kept} kept): {s:?}");
    assert_box_matches(data.path(), &v2_tar());
}

/// A full disk: a 3 MiB tmpfs for the data folder (the pack needs about 6 MB).
#[test]
fn a_full_disk_is_reported_and_nothing_is_half_installed() {
    let Some(()) = common::course() else { return };
    let repo = tempfile::tempdir().unwrap();
    let key = SecretKey::generate();
    build_version(repo.path(), &key, &v1_tar());
    let small = tempfile::tempdir().unwrap();
    let st = Command::new("mount").args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"]).arg(small.path()).status().unwrap();
    assert!(st.success(), "this test mounts a small tmpfs and needs root");
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _guard = Unmount(small.path());
    let src = preau_sync::source::FolderSource::new(repo.path()).unwrap();
    let err = pull(&src, small.path(), &PullOptions { trusted: vec![key.public()], ..Default::default() })
        .unwrap_err()
        .to_string();
    assert!(err.contains("No space left on device"), "{err}");
    assert!(installed_json(small.path()).is_none());
}
