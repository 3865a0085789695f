//! The split catalog end to end (issue 17, part 2): a box that follows a few packs of a
//! large repository over a real nginx on 127.0.0.1 fetches the catalog's top and only
//! the nodes on its own packs' paths; "nothing changed" is one request, and a pack that
//! changed costs two rounds (its leaf comes with its branch, by the bin's leaf hint).

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use preau_pack::build::{BuildOptions, build, build_many};
use preau_pack::catalog_tree::{bins, hint_rel_path};
use preau_pack::{SecretKey, SourceTree};
use preau_sync::pull::{PullOptions, PullSummary, pull};
use preau_sync::source::{HttpOptions, HttpSource};

fn tree(i: usize, text: &str) -> SourceTree {
    let mut t = SourceTree::default();
    t.meta.id = format!("pack-{i}");
    t.meta.title = format!("Pack {i}");
    t.add_bytes("index.md", format!("# Pack {i}\n{text}\n"));
    t
}

fn pull_mine(url: &str, data: &Path, key: &SecretKey, mine: &[String]) -> PullSummary {
    let src = HttpSource::new(url, HttpOptions::default()).unwrap();
    let opts = PullOptions { trusted: vec![key.public()], packs: Some(mine.to_vec()), ..Default::default() };
    pull(&src, data, &opts).unwrap()
}

fn nodes(gets: &[String]) -> usize {
    gets.iter().filter(|g| g.starts_with("/catalog/")).count()
}

fn hints(gets: &[String]) -> usize {
    gets.iter().filter(|g| g.starts_with("/hints/")).count()
}

/// What each round trip of the last pull costs: requests go through a proxy that delays
/// them by this much.
const DELAY: Duration = Duration::from_millis(200);

/// The rounds of the last pull (the last request's round).
fn rounds(nginx: &Nginx) -> usize {
    let r = nginx.rounds(DELAY);
    r.last().map_or(0, |l| l.0)
}

#[test]
fn a_box_following_a_few_packs_of_a_large_catalog_fetches_only_their_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::generate();
    let fast = BuildOptions { level: 1, ..Default::default() };
    build_many(dir.path(), (0..300).map(|i| tree(i, "v1")).collect(), &key, &fast, &mut |_, _| {}).unwrap();
    let top = std::fs::metadata(dir.path().join("catalog.json")).unwrap().len();
    assert!(top < 2_000, "the signed top is {top} bytes for 300 packs");
    let nginx = Nginx::start(dir.path());
    let proxy = DelayProxy::start(nginx.port, DELAY);
    let data = tempfile::tempdir().unwrap();
    let mine: Vec<String> = (1..=3).map(|i| format!("pack-{i}")).collect();
    let my_bins: Vec<(usize, usize)> = mine.iter().map(|id| bins(id)).collect();

    // A new box: the top, the root chain, then a branch per pack (at most) with the
    // leaf hint of each pack's bin beside it: no leaf fetched by hash.
    let s = pull_mine(&proxy.url(), data.path(), &key, &mine);
    assert_eq!(s.updated.len(), 3, "{s:?}");
    nginx.wait_for_log(s.requests);
    let gets = nginx.gets();
    assert!((1..=3).contains(&nodes(&gets)), "{gets:?}");
    assert_eq!(hints(&gets), 3, "{gets:?}");
    assert_eq!(s.leaf_hints_used, 3, "{s:?}");
    let kept = std::fs::read_dir(data.path().join("repo/catalog")).unwrap().count();
    assert_eq!(kept, nodes(&gets) + 3, "the box keeps the nodes it used, the leaves from hints too");
    assert!(!data.path().join("repo/hints").exists(), "a box serves no hints");

    // Nothing changed: one request, the top, answered 304.
    nginx.clear_log();
    let s = pull_mine(&proxy.url(), data.path(), &key, &mine);
    nginx.wait_for_log(s.requests);
    assert_eq!(nginx.gets(), vec!["/catalog.json".to_string()]);
    let (requests, bytes) = nginx.traffic();
    assert_eq!(requests, 1);
    assert!(bytes < 2_000, "{bytes} bytes at the server");
    assert_eq!(s.up_to_date.len(), 3);
    assert_eq!(rounds(&nginx), 1);

    // Another pack changed under a branch none of the box's packs uses: the new top
    // only (no node, no hint, no bundle part).
    let far = (4..300).find(|&i| my_bins.iter().all(|b| b.0 != bins(&format!("pack-{i}")).0)).unwrap();
    build(dir.path(), tree(far, "v2"), &key, &fast, &mut |_, _| {}).unwrap();
    nginx.clear_log();
    let s = pull_mine(&proxy.url(), data.path(), &key, &mine);
    nginx.wait_for_log(s.requests);
    assert_eq!(nginx.gets(), vec!["/catalog.json".to_string()]);
    assert_eq!(s.up_to_date.len(), 3, "{s:?}");
    assert_eq!(rounds(&nginx), 1);

    // Another pack changed under the branch of pack-1 but in another leaf: the top, then
    // that branch with the hint of pack-1's bin beside it (the leaf the box holds).
    let near = (4..300)
        .map(|i| format!("pack-{i}"))
        .find(|id| bins(id).0 == my_bins[0].0 && !my_bins.contains(&bins(id)))
        .expect("300 packs fill every branch");
    let near: usize = near.trim_start_matches("pack-").parse().unwrap();
    build(dir.path(), tree(near, "v2"), &key, &fast, &mut |_, _| {}).unwrap();
    nginx.clear_log();
    let s = pull_mine(&proxy.url(), data.path(), &key, &mine);
    nginx.wait_for_log(s.requests);
    let gets = nginx.gets();
    assert_eq!(nodes(&gets), 1, "{gets:?}");
    assert!(gets.contains(&format!("/{}", hint_rel_path(my_bins[0]))), "{gets:?}");
    assert!(gets.iter().all(|g| g == "/catalog.json"
        || g.starts_with("/catalog/")
        || g.starts_with("/hints/")
        || g.starts_with("/updates/")));
    assert_eq!(s.up_to_date.len(), 3, "{s:?}");
    assert_eq!(rounds(&nginx), 2, "{:?}", nginx.rounds(DELAY));

    // One of the box's packs changed: the top, then its branch, its leaf (by the hint)
    // and the update bundle in the second round: two rounds in all. The box's kept
    // nodes are those of the new paths only.
    build(dir.path(), tree(2, "v2"), &key, &fast, &mut |_, _| {}).unwrap();
    nginx.clear_log();
    let s = pull_mine(&proxy.url(), data.path(), &key, &mine);
    nginx.wait_for_log(s.requests);
    let gets = nginx.gets();
    assert_eq!(s.updated.len(), 1, "{s:?}");
    assert_eq!(s.updated[0].id, "pack-2");
    assert_eq!(nodes(&gets), 1, "the branch; the leaf came as a hint: {gets:?}");
    assert!(gets.contains(&format!("/{}", hint_rel_path(my_bins[1]))), "{gets:?}");
    assert_eq!((s.leaf_hints_used, s.leaf_hints_refused), (1, 0), "{s:?}");
    let by_round = nginx.rounds(DELAY);
    assert_eq!(rounds(&nginx), 2, "{by_round:?}");
    assert!(by_round.iter().any(|(r, p)| *r == 2 && p.starts_with("/updates/")), "{by_round:?}");
    let kept = std::fs::read_dir(data.path().join("repo/catalog")).unwrap().count();
    assert!(kept <= 6, "{kept} nodes kept for 3 packs");
    let box_repo = preau_pack::Repo::open(&data.path().join("repo")).unwrap();
    let p = &preau_pack::installed::Installed::load(box_repo.dir()).unwrap().packs["pack-2"];
    let m = box_repo.read_manifest(&p.manifest, p.manifest_size).unwrap();
    assert_eq!(box_repo.read_file(m.file("index.md").unwrap()).unwrap(), b"# Pack 2\nv2\n");
}

#[test]
fn a_stale_or_missing_leaf_hint_costs_a_round_never_a_wrong_entry() {
    // The hint of the box's pack is the previous leaf (a CDN's stale copy, a publisher
    // that stopped between the hints and the top), then garbage, then absent (an older
    // publisher): the leaf is fetched by hash in a third round and the update is right.
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::generate();
    let fast = BuildOptions { level: 1, ..Default::default() };
    build_many(dir.path(), (0..40).map(|i| tree(i, "v1")).collect(), &key, &fast, &mut |_, _| {}).unwrap();
    let nginx = Nginx::start(dir.path());
    let proxy = DelayProxy::start(nginx.port, DELAY);
    let data = tempfile::tempdir().unwrap();
    let mine = vec!["pack-5".to_string()];
    let hint = dir.path().join(hint_rel_path(bins("pack-5")));
    pull_mine(&proxy.url(), data.path(), &key, &mine);
    for (v, spoil) in [(2, "stale"), (3, "garbage"), (4, "absent")] {
        let before = std::fs::read(&hint).unwrap();
        build(dir.path(), tree(5, &format!("v{v}")), &key, &fast, &mut |_, _| {}).unwrap();
        match spoil {
            "stale" => std::fs::write(&hint, &before).unwrap(),
            "garbage" => std::fs::write(&hint, b"{\"type\":\"preau-catalog-leaf\",\"packs\":{}}").unwrap(),
            _ => std::fs::remove_file(&hint).unwrap(),
        }
        nginx.clear_log();
        let s = pull_mine(&proxy.url(), data.path(), &key, &mine);
        nginx.wait_for_log(s.requests);
        assert_eq!(s.updated.len(), 1, "{spoil}: {s:?}");
        assert_eq!(s.updated[0].version, v, "{spoil}");
        assert_eq!(s.leaf_hints_used, 0, "{spoil}");
        assert_eq!(s.leaf_hints_refused, usize::from(spoil != "absent") as u64, "{spoil}");
        let gets = nginx.gets();
        assert_eq!(nodes(&gets), 2, "{spoil}: branch and leaf by hash: {gets:?}");
        assert_eq!(rounds(&nginx), 3, "{spoil}: {:?}", nginx.rounds(DELAY));
        let box_repo = preau_pack::Repo::open(&data.path().join("repo")).unwrap();
        let p = &preau_pack::installed::Installed::load(box_repo.dir()).unwrap().packs["pack-5"];
        let m = box_repo.read_manifest(&p.manifest, p.manifest_size).unwrap();
        assert_eq!(box_repo.read_file(m.file("index.md").unwrap()).unwrap(), format!("# Pack 5\nv{v}\n").as_bytes());
    }
}

#[test]
fn a_rolled_back_top_is_refused_and_its_nodes_do_not_matter() {
    // The rollback check is on the signed top alone: an older top, with its older
    // nodes all present and valid, is refused.
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::generate();
    let fast = BuildOptions { level: 1, ..Default::default() };
    build_many(dir.path(), (0..20).map(|i| tree(i, "v1")).collect(), &key, &fast, &mut |_, _| {}).unwrap();
    let old_top = std::fs::read(dir.path().join("catalog.json")).unwrap();
    build(dir.path(), tree(1, "v2"), &key, &fast, &mut |_, _| {}).unwrap();
    let nginx = Nginx::start(dir.path());
    let data = tempfile::tempdir().unwrap();
    let mine = vec!["pack-1".to_string()];
    pull_mine(&nginx.url(), data.path(), &key, &mine);
    std::fs::write(dir.path().join("catalog.json"), &old_top).unwrap();
    // nginx's ETag is the mtime in seconds and the size: an old top of the same size
    // written in the same second as the new one would be answered 304. Give it another
    // time, as a replayed file served by an attacker would have.
    let old_time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    std::fs::File::options().write(true).open(dir.path().join("catalog.json")).unwrap().set_modified(old_time).unwrap();
    let src = HttpSource::new(&nginx.url(), HttpOptions::default()).unwrap();
    let opts = PullOptions { packs: Some(mine), ..Default::default() };
    let e = pull(&src, data.path(), &opts).unwrap_err();
    assert!(matches!(e, preau_sync::Error::Rollback { offered: 1, installed: 2, .. }), "{e:?}");
}
