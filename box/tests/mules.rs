//! Mules without a computer, through two real `preau serve` on 127.0.0.1 and their
//! admin pages (a signed-in teacher, server-issued CSRF tokens): box B, which has no
//! internet, writes its want-list into a folder (the stick); box A, which holds the
//! packs, first refuses a stick too small (free space simulated with
//! `PREAU_STICK_FREE_BYTES`), then fills it; B installs from it with "add from a USB
//! stick"; the pack `preau pack extract` gives back from B is byte-exact. A box C
//! without the packs turns to its unreachable `[sync] repository` and says so.

mod common;

use std::path::Path;
use std::process::Command;

use common::Teacher;
use common::{Server, first_teacher, sign_in};

const CODE: &str = "483920";

/// Creates the first teacher with the config's setup code, as a browser does.
fn teacher(server: &Server) -> Teacher {
    first_teacher(server, CODE)
}

fn config(extra: &str) -> String {
    format!("[box]\nsetup_code = \"{CODE}\"\n{extra}")
}

#[test]
fn box_b_gets_packs_from_box_a_on_a_stick_through_the_admin_pages() {
    let tmp = tempfile::tempdir().unwrap();
    let publisher = tmp.path().join("publisher");
    let (p, key) = common::build_test_packs(&publisher);
    let a_data = tmp.path().join("a");
    preau_sync::install_from_folder(&publisher, &a_data, &[key.public()], None).unwrap();
    let stick = tmp.path().join("stick");
    std::fs::create_dir(&stick).unwrap();
    let stick_path = stick.to_str().unwrap();

    // B writes what it has onto the stick.
    let b_data = tmp.path().join("b");
    let b = Server::start_in(&b_data, &config(""));
    let tb = teacher(&b);
    let page = tb.get("/admin/").text();
    assert!(page.contains("Écrire la liste des besoins sur une clé USB"), "{page}");
    assert!(page.contains(r#"action="/admin/stick/wants""#));
    assert!(page.contains("Remplir une clé pour une autre boîte"));
    // Not the box's own folder, not a relative path.
    let r = tb.post_form("/admin/stick/wants", &[("other", b_data.to_str().unwrap())]);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("pas une clé"), "{}", r.text());
    let r = tb.post_form("/admin/stick/wants", &[("other", "stick")]);
    assert_eq!(r.status, 400, "{}", r.text());
    let r = tb.post_form("/admin/stick/wants", &[("other", stick_path)]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("Liste des besoins écrite"), "{}", r.text());
    let wants: serde_json::Value =
        serde_json::from_slice(&std::fs::read(stick.join("preau-wants.json")).unwrap()).unwrap();
    assert_eq!(wants["format"], "preau-wants");
    assert!(wants["packs"].get("t").is_none(), "B does not hold t yet: {wants}");
    // A stick without a want-list cannot be filled.
    let empty = tmp.path().join("empty-stick");
    std::fs::create_dir(&empty).unwrap();

    // A, with a stick that has 1 MB free: the 3 MB pack does not fit, nothing is written.
    let a = Server::start_in_env(&a_data, &config(""), &[("PREAU_STICK_FREE_BYTES", "1000000")]);
    let ta = teacher(&a);
    let r = ta.post_form("/admin/stick/fill", &[("other", empty.to_str().unwrap())]);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("preau-wants.json"), "{}", r.text());
    let r = ta.post_form("/admin/stick/fill", &[("other", stick_path)]);
    assert_eq!(r.status, 507, "{}", r.text());
    let text = r.text();
    assert!(text.contains("Clé trop petite : place libre 976,6\u{a0}Ko (1000000 octets) ; il faut"), "{text}");
    let need: u64 =
        text.split("il faut ").nth(1).unwrap().split(" (").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(need > 4_000_000 && need < 8_000_000, "need {need} for about 4 MB of packs");
    assert!(!stick.join("catalog.json").exists() && !stick.join("objects").exists(), "nothing written");
    drop(a);

    // The same box with the real free space fills it.
    let a = Server::start_in(&a_data, &config(""));
    let ta = sign_in(&a);
    let r = ta.post_form("/admin/stick/fill", &[("other", stick_path)]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("Clé remplie"), "{}", r.text());
    assert!(stick.join("catalog.json").is_file());
    let written: u64 = walk_size(&stick.join("objects"));
    assert!(written <= need, "the need ({need}) bounds what was written ({written})");

    // A box that lacks the packs turns to its national repository, and says when it
    // cannot reach it (nothing listens on port 9 of 127.0.0.1).
    let stick2 = tmp.path().join("stick2");
    std::fs::create_dir(&stick2).unwrap();
    std::fs::copy(stick.join("preau-wants.json"), stick2.join("preau-wants.json")).unwrap();
    let c = Server::start_in(&tmp.path().join("c"), &config("[sync]\nrepository = \"http://127.0.0.1:9/repo/\"\n"));
    let r = teacher(&c).post_form("/admin/stick/fill", &[("other", stick2.to_str().unwrap())]);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("Dépôt national injoignable"), "{}", r.text());
    assert!(!stick2.join("catalog.json").exists());
    drop(c);

    // B installs from the stick as from any repository on a stick.
    let hex = key.public().to_hex();
    let r = tb.post_form("/admin/packs/add", &[("other", stick_path), ("trust", &hex), ("confirm", "yes")]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("t (v1)"), "{}", r.text());
    let out = tmp.path().join("extract");
    let st = Command::new(env!("CARGO_BIN_EXE_preau"))
        .args(["pack", "extract", "--id", "t", "--repo"])
        .arg(b_data.join("repo"))
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    for (path, bytes) in [
        ("index.html", &p.index),
        ("style.css", &p.css),
        ("media/video.mp4", &p.video),
        ("media/small.mp4", &p.small_video),
        ("notes.md", &p.markdown),
    ] {
        assert!(std::fs::read(out.join(path)).unwrap() == *bytes, "{path} differs");
    }
    // And B serves it to pupils.
    assert_eq!(b.get("/packs/t/media/small.mp4").status, 200);
}

fn walk_size(dir: &Path) -> u64 {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let m = e.metadata().unwrap();
        n += if m.is_dir() { walk_size(&e.path()) } else { m.len() };
    }
    n
}
