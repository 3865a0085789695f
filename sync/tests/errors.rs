//! The typed errors a caller matches on (`preau_sync::Error`): an unknown publisher with
//! its key, a busy data folder, a rollback, an HTTP status. Small packs built here, no
//! fixtures.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use preau_pack::SecretKey;
use preau_pack::build::{BuildOptions, build};
use preau_pack::source::SourceTree;
use preau_sync::source::{FolderSource, HttpOptions, HttpSource};
use preau_sync::{Error, PullOptions, install_from_folder, pull};

fn pack(repo: &Path, key: &SecretKey, title: &str) {
    let mut tree = SourceTree::default();
    tree.meta.id = "alpha".into();
    tree.meta.title = title.into();
    tree.add_bytes("index.html", format!("<h1>{title}</h1>"));
    build(repo, tree, key, &BuildOptions::default(), &mut |_, _| {}).unwrap();
}

#[test]
fn a_folder_from_another_publisher_is_an_unknown_publisher_with_its_key() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (key_a, key_b) = (SecretKey::generate(), SecretKey::generate());
    pack(a.path(), &key_a, "A");
    pack(b.path(), &key_b, "B");

    // A box that follows publisher A, and one that trusts A but holds nothing yet.
    let data = tempfile::tempdir().unwrap();
    install_from_folder(a.path(), data.path(), &[key_a.public()], None).unwrap();
    let fresh = tempfile::tempdir().unwrap();
    for (box_dir, keys) in [(data.path(), vec![]), (fresh.path(), vec![key_a.public()])] {
        let e = install_from_folder(b.path(), box_dir, &keys, None).unwrap_err();
        let Error::UnknownPublisher { key, fingerprint, .. } = &e else { panic!("not an unknown publisher: {e:?}") };
        assert_eq!(*key, key_b.public());
        assert_eq!(fingerprint.replace(' ', ""), key_b.public().to_hex());
        assert!(e.to_string().contains("not signed by any key this box trusts"), "{e}");
    }

    // A known publisher's copy with a broken catalog signature is not "unknown": it is
    // a bad copy, and says so.
    let bad = tempfile::tempdir().unwrap();
    assert!(
        Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", a.path().display()))
            .arg(bad.path())
            .status()
            .unwrap()
            .success()
    );
    let cat = bad.path().join("catalog.json");
    let text = std::fs::read_to_string(&cat).unwrap();
    let tampered = text.replace("\"version\":1,", "\"version\":7,");
    assert_ne!(text, tampered, "the version is in the signed top");
    std::fs::write(&cat, &tampered).unwrap();
    let e = pull(&FolderSource::new(bad.path()).unwrap(), data.path(), &PullOptions::default()).unwrap_err();
    assert!(matches!(e, Error::BadSignature { .. } | Error::Malformed { .. }), "{e:?}");
    std::fs::write(&cat, &text).unwrap();

    // The title is in a catalog node, named by its hash in the signed top: a changed
    // node is refused by its hash.
    let mut changed = 0;
    for f in std::fs::read_dir(bad.path().join("catalog")).unwrap() {
        let path = f.unwrap().path();
        let node = std::fs::read_to_string(&path).unwrap();
        let tampered = node.replace("\"title\":\"A\"", "\"title\":\"Z\"");
        if tampered != node {
            std::fs::write(&path, tampered).unwrap();
            changed += 1;
        }
    }
    assert_eq!(changed, 1, "the title is in one node");
    // (A box that holds the good node already uses its own copy: a new box.)
    let fresh = tempfile::tempdir().unwrap();
    let opts = PullOptions { trusted: vec![key_a.public()], ..Default::default() };
    let e = pull(&FolderSource::new(bad.path()).unwrap(), fresh.path(), &opts).unwrap_err();
    assert!(matches!(e, Error::CorruptObject { .. }), "{e:?}");
}

#[test]
fn a_second_writer_is_busy_and_an_older_catalog_is_a_rollback() {
    let (repo, old) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let key = SecretKey::generate();
    pack(repo.path(), &key, "v1");
    assert!(
        Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", repo.path().display()))
            .arg(old.path())
            .status()
            .unwrap()
            .success()
    );
    pack(repo.path(), &key, "v2");
    let data = tempfile::tempdir().unwrap();
    install_from_folder(repo.path(), data.path(), &[key.public()], None).unwrap();

    let lock = File::create(data.path().join("sync/pull.lock")).unwrap();
    lock.try_lock().unwrap();
    let e = pull(&FolderSource::new(repo.path()).unwrap(), data.path(), &PullOptions::default()).unwrap_err();
    assert!(matches!(e, Error::Busy { .. }), "{e:?}");
    assert!(e.to_string().contains("already running"), "{e}");
    drop(lock);

    let e = pull(&FolderSource::new(old.path()).unwrap(), data.path(), &PullOptions::default()).unwrap_err();
    assert!(matches!(e, Error::Rollback { .. }), "{e:?}");
    assert!(e.to_string().contains("older than the installed version"), "{e}");
}

#[test]
fn a_server_that_refuses_is_an_http_status_with_the_url() {
    // A real HTTP server on 127.0.0.1 that answers 403 to everything (a peer box asked
    // without the school's token, a misconfigured mirror).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    let src = HttpSource::new(&format!("http://127.0.0.1:{port}/"), HttpOptions::default()).unwrap();
    let data = tempfile::tempdir().unwrap();
    let key = SecretKey::generate();
    let opts = PullOptions { trusted: vec![key.public()], ..Default::default() };
    let e = pull(&src, data.path(), &opts).unwrap_err();
    let Error::Http { url, status } = &e else { panic!("not an HTTP status: {e:?}") };
    assert_eq!(*status, 403);
    assert!(url.starts_with(&format!("http://127.0.0.1:{port}/")) && url.ends_with(".json"), "{url}");
    assert!(e.to_string().contains("403 Forbidden"), "{e}");
}
