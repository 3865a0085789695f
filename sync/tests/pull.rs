//! End-to-end pulls against a real nginx on 127.0.0.1 (and a fault-injecting proxy in
//! front of it), with the real fixture course v1 → v2.

mod common;

use std::path::Path;

use common::*;
use preau_pack::installed::Installed;
use preau_pack::{PublicKey, SecretKey};
use preau_sync::pull::{PullOptions, PullSummary, pull};
use preau_sync::source::{FolderSource, HttpOptions, HttpSource, Source, SourceKind};

fn http(url: &str) -> HttpSource {
    HttpSource::new(url, HttpOptions::default()).unwrap()
}

fn opts(key: &SecretKey) -> PullOptions<'static> {
    PullOptions { trusted: vec![key.public()], ..Default::default() }
}

fn pull_from(src: &dyn Source, data: &Path, key: &SecretKey) -> PullSummary {
    pull(src, data, &opts(key)).unwrap()
}

/// A publisher repository with v1 (and v2 if asked).
fn publisher(v2: bool) -> (tempfile::TempDir, SecretKey) {
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::generate();
    build_version(dir.path(), &key, &v1_tar());
    if v2 {
        build_version(dir.path(), &key, &v2_tar());
    }
    (dir, key)
}

#[test]
fn fixture_v1_then_v2_over_nginx_is_byte_exact_and_uses_deltas() {
    let Some(()) = common::course() else { return };
    let (repo, key) = publisher(false);
    let nginx = Nginx::start(repo.path());
    let data = tempfile::tempdir().unwrap();
    let s1 = pull_from(&http(&nginx.url()), data.path(), &key);
    assert_eq!(s1.updated.len(), 1);
    assert_box_matches(data.path(), &v1_tar());

    build_version(repo.path(), &key, &v2_tar());
    nginx.clear_log();
    let s1_manifest = |d: &tempfile::TempDir| Installed::load(&d.path().join("repo")).unwrap().packs[PACK].manifest;
    let s1_manifest = s1_manifest(&data);
    let s1_manifest = |_: &tempfile::TempDir| s1_manifest;
    let s2 = pull_from(&http(&nginx.url()), data.path(), &key);
    assert_box_matches(data.path(), &v2_tar());
    nginx.wait_for_log(s2.requests);
    let (requests, wire) = nginx.traffic();
    assert_eq!(s2.requests, requests, "client and server count the same requests");
    // v1 → v2 must cost far less than the new version (8.5 MB): near the zstd limit of
    // this pair (104,465 bytes, `zstd -19 --long=31 --patch-from=v1.tar v2.tar`).
    assert!(wire < 125_000, "{wire} bytes on the wire");
    // The catalog's top (root.json is not needed: the box's root signed it), then its
    // branch and, beside it, the leaf hint of this pack's bin and parts of the update
    // bundle for the installed version, which hold the manifest patch and everything
    // else: no leaf by hash, no manifest and no object on its own.
    let gets = nginx.gets();
    let update = format!("/{}", preau_pack::repo::update_rel_path(&s1_manifest(&data)));
    let hint = format!("/{}", preau_pack::catalog_tree::hint_rel_path(preau_pack::catalog_tree::bins(PACK)));
    assert_eq!(gets.iter().filter(|g| *g == "/catalog.json").count(), 1, "{gets:?}");
    assert_eq!(gets.iter().filter(|g| g.starts_with("/catalog/")).count(), 1, "{gets:?}");
    assert_eq!(gets.iter().filter(|g| **g == hint).count(), 1, "{gets:?}");
    assert_eq!(s2.leaf_hints_used, 1);
    assert!(
        gets.len() > 4
            && gets.iter().all(|g| g == "/catalog.json" || *g == update || *g == hint || g.starts_with("/catalog/")),
        "{gets:?}"
    );
    assert!(s2.warnings.is_empty(), "{:?}", s2.warnings);
    // Nothing that no kept version uses stays on the box (the manifest patch came inside
    // the bundle and was never written).
    let box_repo = preau_pack::Repo::open(&data.path().join("repo")).unwrap();
    let live = preau_sync::apply::live_objects(&box_repo, &Installed::load(box_repo.dir()).unwrap()).unwrap();
    let on_disk = walk(&box_repo.dir().join("objects"));
    assert!(on_disk.len() > 200, "{on_disk:?}");
    for f in on_disk {
        let h: preau_pack::Hash = f.file_name().unwrap().to_str().unwrap().parse().unwrap();
        assert!(live.contains(&h), "{h} is on disk but no kept version uses it: {s2:?}");
    }

    // A third pull has nothing to do: one request, the catalog's top, answered 304 (no
    // bundle part goes out before the top is known to have changed).
    nginx.clear_log();
    let s3 = pull_from(&http(&nginx.url()), data.path(), &key);
    assert_eq!(s3.up_to_date, vec![PACK.to_string()]);
    nginx.wait_for_log(s3.requests);
    let gets = nginx.gets();
    assert_eq!(gets, vec!["/catalog.json".to_string()], "{gets:?}");
    assert!(nginx.traffic().1 < 2_000, "{:?}", nginx.traffic());
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[test]
fn a_proxy_cutting_connections_50_times_does_not_stop_the_pull() {
    let Some(()) = common::course() else { return };
    let (repo, key) = publisher(false);
    let nginx = Nginx::start(repo.path());
    let proxy = FaultProxy::start(nginx.port, Fault::Cut { max: 128 * 1024 }, 7);
    let data = tempfile::tempdir().unwrap();
    let src = http(&proxy.url());
    let s = pull_from(&src, data.path(), &key);
    let cuts = proxy.cuts.load(std::sync::atomic::Ordering::Relaxed);
    assert!(cuts >= 50, "only {cuts} cuts");
    assert!(s.retries >= 10, "the client resumed after cuts: {s:?}");
    assert_box_matches(data.path(), &v1_tar());
}

#[test]
fn a_server_ignoring_range_is_detected_and_the_pull_still_completes() {
    let Some(()) = common::course() else { return };
    let (repo, key) = publisher(false);
    let nginx = Nginx::start(repo.path());
    let proxy = FaultProxy::start(nginx.port, Fault::IgnoreRangeAndCut { max: 200 * 1024 }, 11);
    let data = tempfile::tempdir().unwrap();
    let s = pull_from(&http(&proxy.url()), data.path(), &key);
    assert!(s.warnings.iter().any(|w| w.contains("ignores Range")), "{:?}", s.warnings);
    assert_box_matches(data.path(), &v1_tar());
}

#[test]
fn the_update_bundle_resumes_after_cuts_and_is_given_up_for_a_server_ignoring_range() {
    let Some(()) = common::course() else { return };
    let (repo, key) = publisher(false);
    let nginx = Nginx::start(repo.path());
    let a = tempfile::tempdir().unwrap();
    pull_from(&http(&nginx.url()), a.path(), &key);
    let b = tempfile::tempdir().unwrap();
    copy_dir(a.path(), b.path());
    build_version(repo.path(), &key, &v2_tar());

    // Connections cut after at most 8 KB: the bundle's parts resume with Range requests.
    let cutting = FaultProxy::start(nginx.port, Fault::Cut { max: 8 * 1024 }, 5);
    let s = pull_from(&http(&cutting.url()), a.path(), &key);
    assert!(s.retries >= 5, "{s:?}");
    assert!(s.warnings.is_empty(), "the bundle was used: {:?}", s.warnings);
    assert_box_matches(a.path(), &v2_tar());

    // A server that ignores Range answers a part with the whole object: the box stops
    // reading, does without the bundle, and gets the update the three-round way.
    let ignoring = FaultProxy::start(nginx.port, Fault::IgnoreRangeAndCut { max: 1 << 40 }, 9);
    let s = pull_from(&http(&ignoring.url()), b.path(), &key);
    assert!(s.warnings.iter().any(|w| w.contains("update bundle") && w.contains("ignores Range")), "{:?}", s.warnings);
    assert!(s.deltas_used >= 6);
    assert_box_matches(b.path(), &v2_tar());
}

#[test]
fn two_packs_sharing_every_object_come_in_together_and_each_object_once() {
    let Some(()) = common::course() else { return };
    let (repo, key) = publisher(false);
    let mut tree = preau_pack::source::from_tar(&v1_tar(), Default::default()).unwrap();
    tree.meta.id = "copie".into();
    preau_pack::build::build(repo.path(), tree, &key, &Default::default(), &mut |_, _| {}).unwrap();
    let nginx = Nginx::start(repo.path());
    let data = tempfile::tempdir().unwrap();
    let s = pull_from(&http(&nginx.url()), data.path(), &key);
    assert_eq!(s.updated.len(), 2, "{s:?}");
    assert_box_matches(data.path(), &v1_tar());
    // Both manifests and every object once: the packs were planned together, and an
    // object both need was fetched by one of them while the other waited for it.
    nginx.wait_for_log(s.requests);
    let gets = nginx.gets();
    let mut unique = gets.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(gets.len(), unique.len(), "an object was fetched twice");
    let metadata = gets.iter().filter(|g| !g.starts_with("/objects/")).count();
    let nodes = gets.iter().filter(|g| g.starts_with("/catalog/")).count();
    assert!((2..=4).contains(&nodes), "a branch and a leaf per pack at most: {gets:?}");
    assert_eq!(metadata - nodes, 3, "root.json, roots/1.json and catalog.json: {gets:?}");
    assert_eq!(s.objects as usize, gets.len() - metadata, "{s:?}");

    // The publisher takes one out (`pack unpublish`): the next pull succeeds, and the box
    // keeps what it holds (a lesson in progress does not vanish) until a teacher removes
    // it; its objects survive the pull's garbage collection.
    let gone = preau_pack::unpublish::unpublish(repo.path(), &["copie".into()], &key).unwrap();
    assert_eq!(gone.removed, ["copie"]);
    let s = pull_from(&http(&nginx.url()), data.path(), &key);
    assert!(s.incomplete.is_empty() && s.updated.is_empty(), "{s:?}");
    let box_repo = preau_pack::Repo::open(&data.path().join("repo")).unwrap();
    let installed = Installed::load(box_repo.dir()).unwrap();
    let p = &installed.packs["copie"];
    let m = box_repo.read_manifest(&p.manifest, p.manifest_size).unwrap();
    for f in &m.files {
        box_repo.read_file(f).unwrap_or_else(|e| panic!("{}: {e}", f.path));
    }
}

#[test]
fn garbage_from_a_source_is_refused_and_nothing_is_installed() {
    let Some(()) = common::course() else { return };
    let (repo, key) = publisher(false);
    let nginx = Nginx::start(repo.path());
    let proxy = FaultProxy::start(nginx.port, Fault::Garbage, 3);
    let data = tempfile::tempdir().unwrap();
    let err = pull(&http(&proxy.url()), data.path(), &opts(&key)).unwrap_err().to_string();
    assert!(err.contains("root.json") || err.contains("malformed"), "{err}");
    assert!(installed_json(data.path()).is_none());
}

/// An update that only adds files has no old copies to compress against: the publisher
/// keeps the per-file bundle form, and a box one version behind uses it the same way.
#[test]
fn an_update_that_only_adds_files_comes_in_a_per_file_bundle() {
    use preau_pack::build::{BuildOptions, build};
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::generate();
    let tree = |files: &[(&str, Vec<u8>)]| {
        let mut t = preau_pack::SourceTree {
            meta: preau_pack::PackMeta { id: PACK.into(), title: "Cours".into(), ..Default::default() },
            files: vec![],
        };
        for (p, d) in files {
            t.add_bytes(p.to_string(), d.clone());
        }
        t
    };
    let page = |n: u32| format!("# Chapitre {n}\n\n{}", "Une phrase du cours. ".repeat(200 + n as usize)).into_bytes();
    let mut files = vec![("01.md", page(1)), ("02.md", page(2))];
    build(dir.path(), tree(&files), &key, &BuildOptions::default(), &mut |_, _| {}).unwrap();
    let nginx = Nginx::start(dir.path());
    let data = tempfile::tempdir().unwrap();
    pull_from(&http(&nginx.url()), data.path(), &key);
    files.push(("03.md", page(3)));
    build(dir.path(), tree(&files), &key, &BuildOptions::default(), &mut |_, _| {}).unwrap();

    let r = preau_pack::Repo::open(dir.path()).unwrap();
    let cat = r.load_catalog(&r.verified_root(None).unwrap()).unwrap();
    let bundle = cat.packs[PACK].manifest_deltas[0].bundle.expect("a bundle");
    assert_eq!(bundle.stored, None, "nothing changed in place: the per-file form");
    nginx.clear_log();
    let s = pull_from(&http(&nginx.url()), data.path(), &key);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let gets = nginx.gets();
    assert!(
        gets.iter().all(|g| g == "/catalog.json"
            || g.starts_with("/updates/")
            || g.starts_with("/catalog/")
            || g.starts_with("/hints/")),
        "{gets:?}"
    );
    let box_repo = preau_pack::Repo::open(&data.path().join("repo")).unwrap();
    let p = &Installed::load(box_repo.dir()).unwrap().packs[PACK];
    let m = box_repo.read_manifest(&p.manifest, p.manifest_size).unwrap();
    assert_eq!(box_repo.read_file(m.file("03.md").unwrap()).unwrap(), page(3));
}

#[test]
fn a_tampered_object_is_refused_by_name_and_the_installed_version_stays() {
    let Some(()) = common::course() else { return };
    let (repo, key) = publisher(false);
    let data = tempfile::tempdir().unwrap();
    pull_from(&FolderSource::new(repo.path()).unwrap(), data.path(), &key);
    let before = installed_json(data.path()).unwrap();
    build_version(repo.path(), &key, &v2_tar());
    // Tamper with one object of v2 that the box needs: a chunk of a new file.
    let r = preau_pack::Repo::open(repo.path()).unwrap();
    let root = r.verified_root(None).unwrap();
    let cat = r.load_catalog(&root).unwrap();
    let e = &cat.packs[PACK];
    let m = r.read_manifest(&e.manifest, e.manifest_size).unwrap();
    let f = m.files.iter().find(|f| f.path.contains("projet_pendule") && f.path.ends_with(".png")).unwrap();
    let victim = f.chunk_list()[0].0;
    let path = r.object_path(&victim);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    // And the update bundle, which holds a copy (compressed with the rest when the
    // bundle is referenced): it fails its own hash, the box does without it, and then
    // meets the tampered object itself.
    let from = e.manifest_deltas[0].from;
    let bpath = r.dir().join(preau_pack::repo::update_rel_path(&from));
    let mut stored = std::fs::read(&bpath).unwrap();
    let at = stored.len() - 100;
    stored[at] ^= 1;
    std::fs::write(&bpath, stored).unwrap();
    let nginx = Nginx::start(repo.path());
    let err = pull(&http(&nginx.url()), data.path(), &opts(&key)).unwrap_err().to_string();
    assert!(err.contains(&victim.to_hex()), "the error names the object: {err}");
    assert!(nginx.gets().iter().any(|g| g.ends_with(&from.to_hex())), "the bundle was tried first");
    assert_eq!(installed_json(data.path()).unwrap(), before, "v1 stays installed");
    assert_box_matches(data.path(), &v1_tar());
}

#[test]
fn wrong_key_rollback_and_freeze_are_refused() {
    let Some(()) = common::course() else { return };
    let (repo, key) = publisher(false);
    let old_copy = tempfile::tempdir().unwrap();
    copy_dir(repo.path(), old_copy.path());
    build_version(repo.path(), &key, &v2_tar());
    let data = tempfile::tempdir().unwrap();

    // Wrong key: a box that trusts another publisher.
    let other = SecretKey::generate();
    let err = pull(&FolderSource::new(repo.path()).unwrap(), data.path(), &opts(&other)).unwrap_err().to_string();
    assert!(err.contains("not signed by any key this box trusts"), "{err}");
    assert!(installed_json(data.path()).is_none());

    // v2 installed, then a stick with the older catalog: rollback.
    pull_from(&FolderSource::new(repo.path()).unwrap(), data.path(), &key);
    let before = installed_json(data.path()).unwrap();
    let err = pull(&FolderSource::new(old_copy.path()).unwrap(), data.path(), &opts(&key)).unwrap_err().to_string();
    assert!(err.contains("rollback"), "{err}");
    assert_eq!(installed_json(data.path()).unwrap(), before);

    // Freeze: with the clock 100 days later the catalog (90 days) has expired. An
    // online server is refused; a USB folder is accepted with a warning.
    let later = preau_pack::meta::now_unix() + 100 * 86400;
    let nginx = Nginx::start(repo.path());
    let o = PullOptions { now: Some(later), ..opts(&key) };
    let err = pull(&http(&nginx.url()), data.path(), &o).unwrap_err().to_string();
    assert!(err.contains("expired"), "{err}");
    let s = pull(&FolderSource::new(repo.path()).unwrap(), data.path(), &o).unwrap();
    assert!(s.warnings.iter().any(|w| w.contains("expired")), "{:?}", s.warnings);
    assert_eq!(installed_json(data.path()).unwrap(), before);
}

#[test]
fn an_endless_response_is_cut_off_with_a_clear_error() {
    let port = endless_server();
    let key = SecretKey::generate();
    let data = tempfile::tempdir().unwrap();
    let src = HttpSource::new(&format!("http://127.0.0.1:{port}/"), HttpOptions::default()).unwrap();
    let err = pull(&src, data.path(), &opts(&key)).unwrap_err().to_string();
    assert!(err.contains("endless") && err.contains("root.json"), "{err}");
    assert!(installed_json(data.path()).is_none());
}

#[test]
fn box_b_pulls_from_box_a_served_by_nginx() {
    let Some(()) = common::course() else { return };
    let (repo, key) = publisher(false);
    let upstream = Nginx::start(repo.path());
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    pull_from(&http(&upstream.url()), a.path(), &key);
    // A serves its DATA/repo as /repo/ (here: nginx on A's repo folder).
    let a_repo = Nginx::start(&a.path().join("repo"));
    let peer = HttpSource::new(&a_repo.url(), HttpOptions { kind: SourceKind::Peer, ..Default::default() }).unwrap();
    pull_from(&peer, b.path(), &key);
    assert_box_matches(b.path(), &v1_tar());

    build_version(repo.path(), &key, &v2_tar());
    pull_from(&http(&upstream.url()), a.path(), &key);
    assert_eq!(walk(&a.path().join("repo/updates")).len(), 1, "A kept the bundle it used");
    // (A new source: its byte counts start from zero.)
    let peer = HttpSource::new(&a_repo.url(), HttpOptions { kind: SourceKind::Peer, ..Default::default() }).unwrap();
    let s = pull_from(&peer, b.path(), &key);
    // A kept the update bundle it used (and would serve per-file deltas it fetched): B
    // gets v2 for about what A paid, not the new chunks whole.
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert!(s.bytes_downloaded < 250_000, "B used what A kept: {s:?}");
    assert_box_matches(b.path(), &v2_tar());
    let gets = a_repo.gets();
    assert!(gets.iter().any(|g| g.starts_with("/updates/")), "{gets:?}");

    // A's next version makes the kept bundle useless: it goes with the garbage.
    let kept = |d: &Path| std::fs::read_dir(d.join("repo/updates")).map(|r| r.count()).unwrap_or(0);
    assert_eq!(kept(a.path()), 1);
    build_version(repo.path(), &key, &v1_tar());
    pull_from(&http(&upstream.url()), a.path(), &key);
    let bundles: Vec<_> = walk(&a.path().join("repo/updates"));
    let v2 = Installed::load(&b.path().join("repo")).unwrap().packs[PACK].manifest;
    assert!(
        !bundles.is_empty() && bundles.iter().all(|p| p.ends_with(v2.to_hex())),
        "only the bundle from v2 stays: {bundles:?}"
    );
}

#[test]
fn usb_round_trip_through_wants_and_export() {
    let Some(()) = common::course() else { return };
    let (repo, key) = publisher(false);
    let nginx = Nginx::start(repo.path());
    let school = tempfile::tempdir().unwrap();
    pull_from(&http(&nginx.url()), school.path(), &key);
    build_version(repo.path(), &key, &v2_tar());

    // At school: what do I have?
    let stick = tempfile::tempdir().unwrap();
    let wants_file = stick.path().join("wants.json");
    preau_sync::mule::Wants::of_box(school.path()).unwrap().write(&wants_file).unwrap();
    // At a connected place: export exactly the delta.
    let wants = preau_sync::mule::Wants::parse(&std::fs::read(&wants_file).unwrap()).unwrap();
    let out = stick.path().join("preau");
    let e = preau_sync::mule::export(&http(&nginx.url()), Some(&wants), &out, 4).unwrap();
    assert!(e.bytes_written < 250_000, "the stick carries the delta only: {e:?}");
    // Back at school.
    let s = pull_from(&FolderSource::new(&out).unwrap(), school.path(), &key);
    assert!(s.incomplete.is_empty(), "{s:?}");
    assert_box_matches(school.path(), &v2_tar());

    // A full export (no wants) from a box's data folder also installs a new box.
    let full = tempfile::tempdir().unwrap();
    preau_sync::mule::export(&FolderSource::new(&school.path().join("repo")).unwrap(), None, full.path(), 4).unwrap();
    let fresh = tempfile::tempdir().unwrap();
    pull_from(&FolderSource::new(full.path()).unwrap(), fresh.path(), &key);
    assert_box_matches(fresh.path(), &v2_tar());
}

#[test]
fn install_from_folder_keeps_working_and_respects_trust() {
    let Some(()) = common::course() else { return };
    let (repo, key) = publisher(false);
    let data = tempfile::tempdir().unwrap();
    let s = preau_sync::install_from_folder(repo.path(), data.path(), &[key.public()], None).unwrap();
    assert_eq!(s.installed, vec![(PACK.to_string(), 1)]);
    let inst = Installed::load(&data.path().join("repo")).unwrap();
    assert_eq!(inst.packs[PACK].version, 1);
    let again = preau_sync::install_from_folder(repo.path(), data.path(), &[], None).unwrap();
    assert_eq!(again.up_to_date, vec![PACK.to_string()]);
    let none: [PublicKey; 0] = [];
    let fresh = tempfile::tempdir().unwrap();
    assert!(preau_sync::install_from_folder(repo.path(), fresh.path(), &none, None).is_err());
}

pub fn copy_dir(from: &Path, to: &Path) {
    let st = std::process::Command::new("cp").arg("-a").arg(format!("{}/.", from.display())).arg(to).status().unwrap();
    assert!(st.success());
}

#[test]
fn auto_sync_pulls_when_the_server_answers_and_backs_off_when_not() {
    let Some(()) = common::course() else { return };
    use preau_sync::auto::{AutoConfig, spawn};
    let (repo, key) = publisher(false);
    let nginx = Nginx::start(repo.path());
    let data = tempfile::tempdir().unwrap();
    let cfg = |url: String| AutoConfig {
        data_dir: data.path().to_path_buf(),
        repository: Some(url),
        trusted_keys: vec![key.public()],
        hours: None,
        utc_offset_minutes: 60,
        max_rate: None,
        peers: false,
        own_id: None,
        interval: std::time::Duration::from_secs(3600),
        min_backoff: std::time::Duration::from_secs(preau_sync::auto::MIN_BACKOFF_SECS),
        peer_token: None,
    };
    // Nothing listens: the loop reports it and waits (backoff), it does not spin.
    let dead = spawn(cfg(format!("http://127.0.0.1:{}/", free_port())));
    let st = wait_for(&dead, |s| s.consecutive_failures >= 1);
    assert_eq!(st.state, "unreachable");
    assert!(st.next_check_secs >= 60 && st.last_error.is_some(), "{st:?}");
    dead.stop();
    assert!(installed_json(data.path()).is_none());

    let live = spawn(cfg(nginx.url()));
    let st = wait_for(&live, |s| s.last_success.is_some());
    assert_eq!(st.state, "idle", "{st:?}");
    assert!(st.stale.is_empty());
    live.stop();
    assert_box_matches(data.path(), &v1_tar());
}

/// Polls the loop's status until `done` holds (bounded: 10 minutes).
fn wait_for(
    h: &preau_sync::auto::AutoHandle,
    done: impl Fn(&preau_sync::auto::AutoStatus) -> bool,
) -> preau_sync::auto::AutoStatus {
    for _ in 0..6000 {
        let st = h.status();
        if done(&st) {
            return st;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the auto-sync loop never got there: {:?}", h.status());
}

/// The K-window: a box that missed versions still updates in one update bundle, straight
/// from the version it holds; beyond the window it falls back to manifests and chunks.
#[test]
fn a_box_several_versions_behind_updates_in_one_bundle_within_the_window() {
    use preau_pack::build::{BuildOptions, build};
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::generate();
    let page = |n: u32, v: u32| {
        format!("# Chapitre {n}, version {v}\n\n{}", "Une phrase du cours sur les boucles. ".repeat(150 + n as usize))
            .into_bytes()
    };
    let version = |v: u32| {
        let mut t = preau_pack::SourceTree {
            meta: preau_pack::PackMeta { id: PACK.into(), title: "Cours".into(), ..Default::default() },
            files: vec![],
        };
        // Version v edits chapter v and adds chapter 10 + v.
        for n in 1..=6 {
            t.add_bytes(format!("{n:02}.md"), page(n, if n <= v { v } else { 0 }));
        }
        for n in 1..v {
            t.add_bytes(format!("{:02}.md", 10 + n), page(10 + n, 1));
        }
        t
    };
    let window = |k: usize| BuildOptions { bundle_window: k, ..BuildOptions::default() };
    build(dir.path(), version(1), &key, &window(3), &mut |_, _| {}).unwrap();
    let nginx = Nginx::start(dir.path());
    let at_v1 = tempfile::tempdir().unwrap();
    pull_from(&http(&nginx.url()), at_v1.path(), &key);
    let still_v1 = tempfile::tempdir().unwrap();
    pull_from(&http(&nginx.url()), still_v1.path(), &key);
    let lied_to_v1 = tempfile::tempdir().unwrap();
    pull_from(&http(&nginx.url()), lied_to_v1.path(), &key);
    build(dir.path(), version(2), &key, &window(3), &mut |_, _| {}).unwrap();
    let at_v2 = tempfile::tempdir().unwrap();
    pull_from(&http(&nginx.url()), at_v2.path(), &key);
    let one_lane_v2 = tempfile::tempdir().unwrap();
    pull_from(&http(&nginx.url()), one_lane_v2.path(), &key);
    build(dir.path(), version(3), &key, &window(3), &mut |_, _| {}).unwrap();
    build(dir.path(), version(4), &key, &window(3), &mut |_, _| {}).unwrap();

    let r = preau_pack::Repo::open(dir.path()).unwrap();
    let cat = r.load_catalog(&r.verified_root(None).unwrap()).unwrap();
    // v3's delta is in the catalog, v2's and v1's in the window object: each with a
    // bundle straight to v4.
    let entry = &cat.packs[PACK];
    assert_eq!(entry.manifest_deltas.len(), 1, "{:?}", entry.manifest_deltas);
    let w = entry.window.expect("a window object");
    let older: preau_pack::meta::DeltaWindow =
        serde_json::from_slice(&r.read_object(&w.object, w.size).unwrap()).unwrap();
    assert_eq!(older.len(), 2, "{older:?}");
    assert!(entry.manifest_deltas.iter().chain(&older).all(|d| d.bundle.is_some()));
    let window_get = format!("/{}", preau_pack::repo::object_rel_path(&w.object));

    for (data, v) in [(&at_v2, 2), (&at_v1, 1)] {
        nginx.clear_log();
        let s = pull_from(&http(&nginx.url()), data.path(), &key);
        assert!(s.warnings.is_empty(), "from v{v}: {:?}", s.warnings);
        let gets = nginx.gets();
        assert!(
            gets.iter().all(|g| g == "/catalog.json"
                || g.starts_with("/updates/")
                || *g == window_get
                || g.starts_with("/catalog/")
                || g.starts_with("/hints/")),
            "from v{v}, only the catalog (top, nodes and leaf hint), the window and the bundle: {gets:?}"
        );
        assert!(gets.iter().filter(|g| g.starts_with("/catalog/")).count() <= 2, "a branch and a leaf: {gets:?}");
        // The bundle came whole beside the catalog's nodes and described itself: no
        // window object, no third round.
        assert_eq!(gets.iter().filter(|g| **g == window_get).count(), 0, "{gets:?}");
        let box_repo = preau_pack::Repo::open(&data.path().join("repo")).unwrap();
        let p = &Installed::load(box_repo.dir()).unwrap().packs[PACK];
        assert_eq!(p.manifest, cat.packs[PACK].manifest, "from v{v}");
        let m = box_repo.read_manifest(&p.manifest, p.manifest_size).unwrap();
        assert_eq!(box_repo.read_file(m.file("04.md").unwrap()).unwrap(), page(4, 4));
        assert_eq!(box_repo.read_file(m.file("13.md").unwrap()).unwrap(), page(13, 1));
    }

    // With one connection nothing is asked for beside the catalog: the signed window
    // object names the bundle, one round later.
    nginx.clear_log();
    let one_lane = PullOptions { workers: 1, ..opts(&key) };
    let s = pull(&http(&nginx.url()), one_lane_v2.path(), &one_lane).unwrap();
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let gets = nginx.gets();
    assert_eq!(gets.iter().filter(|g| **g == window_get).count(), 1, "{gets:?}");
    assert!(!gets.iter().any(|g| g.starts_with("/objects/") && **g != window_get), "{gets:?}");
    let box_repo = preau_pack::Repo::open(&one_lane_v2.path().join("repo")).unwrap();
    assert_eq!(Installed::load(box_repo.dir()).unwrap().packs[PACK].manifest, cat.packs[PACK].manifest);

    // A bundle that describes itself is not trusted for it: a server that answers the
    // bundle from v3 where v1's belongs (a valid bundle, but to another base) makes the
    // box drop it and update the three-round way, to exactly the signed v4.
    let v1_manifest = Installed::load(&lied_to_v1.path().join("repo")).unwrap().packs[PACK].manifest;
    let v3_manifest = entry.manifest_deltas[0].from;
    let v1_bundle = dir.path().join(preau_pack::repo::update_rel_path(&v1_manifest));
    let kept = std::fs::read(&v1_bundle).unwrap();
    std::fs::copy(dir.path().join(preau_pack::repo::update_rel_path(&v3_manifest)), &v1_bundle).unwrap();
    let s = pull_from(&http(&nginx.url()), lied_to_v1.path(), &key);
    std::fs::write(&v1_bundle, kept).unwrap();
    assert!(s.warnings.iter().any(|w| w.contains("bundle")), "{:?}", s.warnings);
    assert_eq!(s.updated.len(), 1, "{s:?}");
    let box_repo = preau_pack::Repo::open(&lied_to_v1.path().join("repo")).unwrap();
    let p = &Installed::load(box_repo.dir()).unwrap().packs[PACK];
    assert_eq!(p.manifest, cat.packs[PACK].manifest);
    let m = box_repo.read_manifest(&p.manifest, p.manifest_size).unwrap();
    assert_eq!(box_repo.read_file(m.file("04.md").unwrap()).unwrap(), page(4, 4));
    for f in &m.files {
        box_repo.read_file(f).unwrap_or_else(|e| panic!("{}: {e}", f.path));
    }

    // A fifth version with a window of 3: v1 is out of it; a box still there updates
    // through the manifest and the chunks it lacks.
    build(dir.path(), version(5), &key, &window(3), &mut |_, _| {}).unwrap();
    let cat = r.load_catalog(&r.verified_root(None).unwrap()).unwrap();
    let w = cat.packs[PACK].window.expect("a window object");
    let older: preau_pack::meta::DeltaWindow =
        serde_json::from_slice(&r.read_object(&w.object, w.size).unwrap()).unwrap();
    assert_eq!(older.len(), 2, "a window of 3: v4 inline, v3 and v2 in the object");
    // v1's bundle (to v4, out of date) is gone: a box at v1 gets a 404, not useless parts.
    let v1 = Installed::load(&still_v1.path().join("repo")).unwrap().packs[PACK].manifest;
    assert!(!dir.path().join(preau_pack::repo::update_rel_path(&v1)).exists());
    assert!(older.iter().all(|d| dir.path().join(preau_pack::repo::update_rel_path(&d.from)).exists()));
    nginx.clear_log();
    let s = pull_from(&http(&nginx.url()), still_v1.path(), &key);
    assert_eq!(s.updated.len(), 1);
    assert!(nginx.gets().iter().any(|g| g.starts_with("/objects/")), "{:?}", nginx.gets());
    let box_repo = preau_pack::Repo::open(&still_v1.path().join("repo")).unwrap();
    let p = &Installed::load(box_repo.dir()).unwrap().packs[PACK];
    assert_eq!(p.manifest, cat.packs[PACK].manifest);
}

/// The catalog is asked for with `If-None-Match`: unchanged, nginx answers 304 with no
/// body and the kept copy is verified as if it had come; changed, the new one comes. A
/// damaged kept copy is not used.
#[test]
fn an_unchanged_catalog_costs_a_304_and_a_changed_one_comes_whole() {
    use preau_pack::build::{BuildOptions, build};
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::generate();
    let tree = |text: &str| {
        let mut t = preau_pack::SourceTree {
            meta: preau_pack::PackMeta { id: PACK.into(), title: "Cours".into(), ..Default::default() },
            files: vec![],
        };
        t.add_bytes("index.md".to_string(), text.as_bytes().to_vec());
        t
    };
    build(dir.path(), tree("# Version 1"), &key, &BuildOptions::default(), &mut |_, _| {}).unwrap();
    let nginx = Nginx::start(dir.path());
    let data = tempfile::tempdir().unwrap();
    pull_from(&http(&nginx.url()), data.path(), &key);
    let catalog_answers = |n: &Nginx| -> Vec<(String, u64)> {
        let log = std::fs::read_to_string(n.dir.path().join("access.log")).unwrap_or_default();
        log.lines()
            .filter(|l| l.contains(" /catalog.json "))
            .map(|l| {
                let w: Vec<&str> = l.split(' ').collect();
                (w[2].to_string(), w[3].parse().unwrap())
            })
            .collect()
    };

    nginx.clear_log();
    let s = pull_from(&http(&nginx.url()), data.path(), &key);
    nginx.wait_for_log(s.requests);
    assert_eq!(s.up_to_date, vec![PACK.to_string()]);
    let got = catalog_answers(&nginx);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "304", "{got:?}");
    let full = std::fs::metadata(dir.path().join("catalog.json")).unwrap().len();
    assert!(got[0].1 < full, "a 304 ({} bytes) is smaller than the catalog ({full})", got[0].1);

    build(dir.path(), tree("# Version 2"), &key, &BuildOptions::default(), &mut |_, _| {}).unwrap();
    nginx.clear_log();
    let s = pull_from(&http(&nginx.url()), data.path(), &key);
    nginx.wait_for_log(s.requests);
    assert_eq!(s.updated.len(), 1, "{s:?}");
    assert_eq!(catalog_answers(&nginx)[0].0, "200");

    // A damaged kept copy: the next GET is unconditional, and the pull still works.
    for e in std::fs::read_dir(data.path().join("sync/http")).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "body") {
            std::fs::write(e.path(), b"{\"not\": \"the catalog\"}").unwrap();
        }
    }
    nginx.clear_log();
    let s = pull_from(&http(&nginx.url()), data.path(), &key);
    nginx.wait_for_log(s.requests);
    assert_eq!(s.up_to_date, vec![PACK.to_string()]);
    assert_eq!(catalog_answers(&nginx)[0].0, "200");
}

/// The fixture course two versions behind (v1 → v3, v3 = v2 with a few chapters edited):
/// one bundle straight from v1, near the physical limit (about 102,700 bytes for such a
/// v3: `zstd -19 --long=31 --patch-from`, `sync/bench/chain.sh`). Before the K-window a
/// box two versions behind fetched the new manifest and its chunks one by one.
#[test]
fn the_fixture_course_two_versions_behind_comes_in_one_bundle_near_the_limit() {
    let Some(()) = common::course() else { return };
    let (repo, key) = publisher(false);
    let nginx = Nginx::start(repo.path());
    let data = tempfile::tempdir().unwrap();
    pull_from(&http(&nginx.url()), data.path(), &key);
    build_version(repo.path(), &key, &v2_tar());
    let mut v3 = preau_pack::source::from_tar(&v2_tar(), Default::default()).unwrap();
    v3.meta.id = PACK.into();
    v3.meta.title = "Cours de Python".into();
    let mut edited = 0;
    for f in v3.files.iter_mut().filter(|f| f.path.ends_with("_tests.md") || f.path.ends_with("_listes.md")) {
        let mut text = match &f.data {
            preau_pack::SourceData::Bytes(b) => b.clone(),
            preau_pack::SourceData::File(p) => std::fs::read(p).unwrap(),
        };
        text.extend_from_slice(b"\n\n## Pour aller plus loin\n\nRefaites les exercices de ce chapitre.\n");
        f.data = preau_pack::SourceData::Bytes(text);
        edited += 1;
    }
    assert!(edited >= 2, "{edited} chapters edited");
    preau_pack::build::build(repo.path(), v3, &key, &Default::default(), &mut |_, _| {}).unwrap();

    nginx.clear_log();
    let s = pull_from(&http(&nginx.url()), data.path(), &key);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    nginx.wait_for_log(s.requests);
    let (_, wire) = nginx.traffic();
    let gets = nginx.gets();
    // The catalog (its top, branch and leaf hint) and the bundle, which came whole beside
    // the nodes and described itself (no window object): no manifest and no chunk on
    // their own.
    assert_eq!(gets.iter().filter(|g| g.starts_with("/objects/")).count(), 0, "{gets:?}");
    assert!(gets.iter().all(|g| g == "/catalog.json"
        || g.starts_with("/updates/")
        || g.starts_with("/objects/")
        || g.starts_with("/catalog/")
        || g.starts_with("/hints/")));
    assert!(wire < 125_000, "{wire} bytes on the wire (limit 102,664 for v1 → v2 plus these edits)");
    let box_repo = preau_pack::Repo::open(&data.path().join("repo")).unwrap();
    let p = &Installed::load(box_repo.dir()).unwrap().packs[PACK];
    assert_eq!(p.version, 3);
}
