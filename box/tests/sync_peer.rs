//! Two boxes on loopback: box A is a real `preau serve`; box B pulls A's packs from its
//! `/repo/` with `preau sync pull` (the real binary), v1 then v2 of the fixture course.
//! A gets its packs through the same apply step (`install_from_folder`, as the teacher's
//! "add from USB" button does) while it is serving.

mod common;

use std::path::Path;
use std::process::Command;

use preau_pack::build::{BuildOptions, build};
use preau_pack::installed::Installed;
use preau_pack::source::{SourceLimits, from_tar};
use preau_pack::{Repo, SecretKey};

const PACK: &str = "cours-python";

fn publish(repo: &Path, key: &SecretKey, tar: &Path) {
    let mut tree = from_tar(tar, SourceLimits::default()).unwrap();
    tree.meta.id = PACK.into();
    build(repo, tree, key, &BuildOptions::default(), &mut |_, _| {}).unwrap();
}

fn assert_matches(data: &Path, tar: &Path) {
    let repo = Repo::open(&data.join("repo")).unwrap();
    let p = &Installed::load(&data.join("repo")).unwrap().packs[PACK];
    let m = repo.read_manifest(&p.manifest, p.manifest_size).unwrap();
    let tree = from_tar(tar, SourceLimits::default()).unwrap();
    assert_eq!(m.files.len(), tree.files.len());
    for f in &tree.files {
        let want = match &f.data {
            preau_pack::SourceData::Bytes(b) => b.clone(),
            preau_pack::SourceData::File(p) => std::fs::read(p).unwrap(),
        };
        assert_eq!(repo.read_file(m.file(&f.path).unwrap()).unwrap(), want, "{}", f.path);
    }
}

fn sync_pull(from: &str, data: &Path, trust: &Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_preau"))
        .args(["sync", "pull", "--peer", "--json", "--from", from, "--data"])
        .arg(data)
        .arg("--trust")
        .arg(trust)
        .output()
        .unwrap();
    assert!(out.status.success(), "preau sync pull failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Waits until box A serves what was just installed beside it: a box serves an object
/// in clear only once it has classified it (public or private), at its next reload.
fn wait_servable(a: &common::Server, data: &Path) {
    let installed = Installed::load(&data.join("repo")).unwrap();
    for _ in 0..100 {
        if installed
            .packs
            .values()
            .all(|p| a.get(&format!("/repo/{}", preau_pack::repo::object_rel_path(&p.manifest))).status == 200)
        {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("box A did not reload its packs within 10 s");
}

#[test]
fn box_b_pulls_v1_then_v2_from_box_a() {
    let Some(v1) = preau_tests::fixture("sites/cours-python_2024-11-14_d996c94.tar") else { return };
    let Some(v2) = preau_tests::fixture("sites/cours-python_2025-09-29_366b8c0.tar") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let publisher = tmp.path().join("publisher");
    let key = SecretKey::generate();
    let pubkey = tmp.path().join("key.pub");
    std::fs::write(&pubkey, format!("{}\n", key.public().to_hex())).unwrap();
    publish(&publisher, &key, &v1);

    // Box A starts (with its demo pack), then a teacher adds the course from a stick.
    let a_data = tmp.path().join("a");
    let a = common::Server::start_in(&a_data, "");
    preau_sync::install_from_folder(&publisher, &a_data, &[key.public()], None).unwrap();
    wait_servable(&a, &a_data);
    let url = format!("http://{}/repo/", a.addr);

    let b_data = tmp.path().join("b");
    let s1 = sync_pull(&url, &b_data, &pubkey);
    assert!(s1["bytes_downloaded"].as_u64().unwrap() > 1_000_000);
    assert!(s1["requests"].as_u64().unwrap() > 10);
    assert_matches(&b_data, &v1);

    // v2 reaches A; B follows with deltas that A kept and serves.
    publish(&publisher, &key, &v2);
    preau_sync::install_from_folder(&publisher, &a_data, &[], None).unwrap();
    wait_servable(&a, &a_data);
    let s2 = sync_pull(&url, &b_data, &pubkey);
    assert!(s2["deltas_used"].as_u64().unwrap() >= 6, "{s2}");
    assert!(s2["bytes_downloaded"].as_u64().unwrap() < 250_000, "{s2}");
    assert_matches(&b_data, &v2);
}

/// Quiz answers live in the private `_preau/` files of a pack. Nobody on the box's
/// network gets them in clear, whatever it sends (the token is not a password any more:
/// it never travels); a peer box of the same school (same `[sync] peer_token`) gets them
/// sealed under a key derived from it, and so the whole pack.
#[test]
fn quiz_answers_go_only_to_peers_with_the_schools_token() {
    const TOKEN: &str = "ecole-des-tilleuls-2026";
    let tmp = tempfile::tempdir().unwrap();
    let publisher = tmp.path().join("publisher");
    let (p, key) = common::build_test_packs(&publisher);
    let pubkey = tmp.path().join("key.pub");
    std::fs::write(&pubkey, format!("{}\n", key.public().to_hex())).unwrap();
    let a_data = tmp.path().join("a");
    std::fs::create_dir_all(&a_data).unwrap();
    preau_sync::install_from_folder(&publisher, &a_data, &[key.public()], None).unwrap();
    let a = common::Server::start_in(&a_data, &format!("[sync]\npeer_token = \"{TOKEN}\""));

    let hash = preau_pack::Hash::of(&p.secret);
    let answers = format!("/repo/{}", preau_pack::repo::object_rel_path(&hash));
    let forbidden = a.get(&answers);
    assert_eq!(forbidden.status, 403, "a pupil's browser cannot read quiz answers");
    assert!(forbidden.text().contains("peer_token"));
    assert_eq!(
        a.get_with(&answers, &[("authorization", &format!("Bearer {TOKEN}"))]).status,
        403,
        "never in clear, even to a request that knows the token"
    );
    let object = |bytes: &[u8]| format!("/repo/{}", preau_pack::repo::object_rel_path(&preau_pack::Hash::of(bytes)));
    assert_eq!(a.get(&object(&p.markdown)).status, 200, "public files' objects stay public");
    assert_eq!(a.get(&object(b"an object this box does not know")).status, 403, "unknown: refused");
    // Sealed: anyone may ask, only the school's key opens it, and only as this object.
    let sealed = a.get(&format!("/repo/private/{}", hash.to_hex()));
    assert_eq!(sealed.status, 200);
    assert!(!sealed.body.windows(p.secret.len().min(32)).any(|w| w == &p.secret[..p.secret.len().min(32)]));
    let stored = preau_sync::private::SchoolKey::derive(TOKEN).open(&hash, &sealed.body).unwrap();
    assert_eq!(std::fs::read(a_data.join("repo").join(preau_pack::repo::object_rel_path(&hash))).unwrap(), stored);
    assert!(preau_sync::private::SchoolKey::derive("another-school-2026").open(&hash, &sealed.body).is_err());
    assert_ne!(a.get(&format!("/repo/private/{}", hash.to_hex())).body, sealed.body, "a fresh nonce each time");
    let public = preau_pack::Hash::of(&p.markdown);
    assert_eq!(a.get(&format!("/repo/private/{}", public.to_hex())).status, 404, "only private objects are sealed");
    // A kept update bundle of a pack with quiz answers could carry them: never served.
    let kept = preau_pack::repo::update_rel_path(&preau_pack::Hash::of(b"some manifest"));
    std::fs::create_dir_all(a_data.join("repo").join(&kept).parent().unwrap()).unwrap();
    std::fs::write(a_data.join("repo").join(&kept), &p.secret).unwrap();
    assert_eq!(a.get(&format!("/repo/{kept}")).status, 403, "kept bundles with answers are not served");
    std::fs::remove_file(a_data.join("repo").join(&kept)).unwrap();

    // A peer without the token gets everything but the answers: the pack stays
    // incomplete on it, with a message that says why.
    let url = format!("http://{}/repo/", a.addr);
    let run = |data: &Path, token: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_preau"));
        c.args(["sync", "pull", "--peer", "--json", "--from", &url, "--data"]).arg(data).arg("--trust").arg(&pubkey);
        if let Some(t) = token {
            c.args(["--peer-token", t]);
        }
        c.env_remove("PREAU_PEER_TOKEN").output().unwrap()
    };
    let b_data = tmp.path().join("b");
    let out = run(&b_data, None);
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(all.contains("peer_token"), "the pull says why the pack is incomplete: {all}");
    let installed = Installed::load(&b_data.join("repo")).unwrap_or_default();
    assert!(!installed.packs.contains_key("t"), "a pack without its answers is not switched to");

    let out = run(&b_data, Some(TOKEN));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let installed = Installed::load(&b_data.join("repo")).unwrap();
    let t = &installed.packs["t"];
    let repo = Repo::open(&b_data.join("repo")).unwrap();
    let m = repo.read_manifest(&t.manifest, t.manifest_size).unwrap();
    assert_eq!(repo.read_file(m.file("_preau/quiz/q1.json").unwrap()).unwrap(), p.secret);
}

/// A box of another school (another secret) gives the public packs of a publisher this
/// box trusts, never its quiz answers (sealed under a key this box does not have), and a
/// box that does not trust the publisher installs nothing from it.
#[test]
fn a_peer_of_another_school_gives_only_public_packs_of_trusted_publishers() {
    let tmp = tempfile::tempdir().unwrap();
    let publisher = tmp.path().join("publisher");
    let (_, key) = common::build_test_packs(&publisher);
    let mut open = preau_pack::SourceTree {
        meta: preau_pack::PackMeta { id: "open".into(), title: "Open".into(), ..Default::default() },
        files: vec![],
    };
    open.add_bytes("page.html", b"<p>public</p>".to_vec());
    build(&publisher, open, &key, &BuildOptions { level: 1, ..Default::default() }, &mut |_, _| {}).unwrap();
    let a_data = tmp.path().join("a");
    std::fs::create_dir_all(&a_data).unwrap();
    preau_sync::install_from_folder(&publisher, &a_data, &[key.public()], None).unwrap();
    let a = common::Server::start_in(&a_data, "[sync]\npeer_token = \"ecole-des-tilleuls-2026\"");
    let url = format!("http://{}/repo/", a.addr);
    let pull = |data: &Path, trust: &SecretKey| {
        let pubkey = data.with_extension("pub");
        std::fs::write(&pubkey, format!("{}\n", trust.public().to_hex())).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_preau"))
            .args([
                "sync",
                "pull",
                "--peer",
                "--json",
                "--from",
                &url,
                "--peer-token",
                "lycee-des-platanes-2026",
                "--data",
            ])
            .arg(data)
            .arg("--trust")
            .arg(&pubkey)
            .env_remove("PREAU_PEER_TOKEN")
            .output()
            .unwrap();
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    };
    let b_data = tmp.path().join("b");
    let said = pull(&b_data, &key);
    let installed = Installed::load(&b_data.join("repo")).unwrap_or_default();
    assert!(installed.packs.contains_key("open"), "a public pack of a trusted publisher: {said}");
    assert!(!installed.packs.contains_key("t"), "its answers are sealed for another school: {said}");
    assert!(said.contains("another school"), "the pull says why: {said}");

    let c_data = tmp.path().join("c");
    let said = pull(&c_data, &SecretKey::generate());
    let installed = Installed::load(&c_data.join("repo")).unwrap_or_default();
    assert!(installed.packs.is_empty(), "an untrusted publisher's packs are not installed: {said}");
}

/// A teacher adds a new version with a quiz from the admin page while a pupil's laptop
/// polls `/repo/objects/<new answers>`: never a 200, before, during or after the add
/// (the server classifies a version before it serves any of its objects in clear).
#[test]
fn a_teachers_add_never_exposes_the_new_answers() {
    use preau_classroom::{self as app, testkit};
    let tmp = tempfile::tempdir().unwrap();
    let publisher = tmp.path().join("publisher");
    let (_, key) = common::build_test_packs(&publisher);
    let a_data = tmp.path().join("a");
    std::fs::create_dir_all(&a_data).unwrap();
    preau_sync::install_from_folder(&publisher, &a_data, &[key.public()], None).unwrap();
    let a = common::Server::start_in(&a_data, &format!("[sync]\ntrusted_keys = [\"{}\"]", key.public().to_hex()));
    // v2 of `t` with new answers, on the "stick".
    let answers = br#"{"answers": "new key: C, A, D"}"#.to_vec();
    let mut t = preau_pack::SourceTree {
        meta: preau_pack::PackMeta {
            id: "t".into(),
            title: "Test <pack>".into(),
            entry: "index.html".into(),
            ..Default::default()
        },
        files: vec![],
    };
    t.add_bytes("index.html", b"<p>v2</p>".to_vec());
    t.add_bytes("_preau/quiz/q2.json", answers.clone());
    build(&publisher, t, &key, &BuildOptions { level: 1, ..Default::default() }, &mut |_, _| {}).unwrap();
    let path = format!("/repo/{}", preau_pack::repo::object_rel_path(&preau_pack::Hash::of(&answers)));

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let (stop, addr, path) = (stop.clone(), a.addr, path.clone());
        std::thread::spawn(move || {
            let mut codes = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                codes.push(common::request(addr, "GET", &path, &[], b"").status);
            }
            codes
        })
    };
    // The teacher: account from the setup code, then "add from a USB stick".
    let code = app::setup_code(&testkit::demo_context(&a_data)).unwrap().expect("a fresh box has a setup code");
    // Signed in as a browser is, with the CSRF token the box issued (it carries the MAC).
    let t = common::first_teacher(&a, &code);
    let r = t.post_form("/admin/packs/add", &[("folder", publisher.to_str().unwrap())]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(Installed::load(&a_data.join("repo")).unwrap().packs["t"].version, 2);
    std::thread::sleep(std::time::Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let codes = poller.join().unwrap();
    assert!(codes.len() > 10, "{codes:?}");
    assert!(codes.iter().all(|c| *c == 403), "the new answers were served: {codes:?}");
}
