//! A teacher adds a course without a command line: a real `preau serve` on 127.0.0.1,
//! a signed-in teacher, and multipart uploads sent as a browser sends them (session
//! and CSRF cookies, the CSRF field first, `Origin`). Each fixture Moodle backup and a
//! GIFT file are uploaded, another GIFT file is picked by path (a USB stick); each is imported, signed with the box's own key, installed and shown to pupils;
//! the report page is French. Too large and full-card uploads are refused before a byte
//! is stored; two repositories signed by one key both install from the admin page and
//! an older copy of one is refused in French.

mod common;

use std::path::Path;

use common::{Server, Teacher, first_teacher};

const CODE: &str = "483920";

/// Creates the first teacher with the config's setup code, as a browser does.
fn teacher(server: &Server) -> Teacher {
    first_teacher(server, CODE)
}

fn config() -> String {
    format!("[box]\nsetup_code = \"{CODE}\"\n")
}

fn uploads_empty(data: &Path) -> bool {
    std::fs::read_dir(data.join("uploads")).map(|d| d.count() == 0).unwrap_or(true)
}

/// The pack id of the page's "Ouvrir le cours" link.
fn pack_of(html: &str) -> String {
    let at = html.find(r#"<a href="/packs/"#).expect("a link to the course") + r#"<a href="/packs/"#.len();
    html[at..].split('/').next().unwrap().to_string()
}

#[test]
fn a_teacher_uploads_moodle_backups_and_a_gift_file_and_pupils_see_them() {
    let Some(fixtures) = preau_tests::fixture("moodle").map(|m| m.parent().unwrap().to_path_buf()) else { return };
    let server = Server::start(&config());
    let t = teacher(&server);
    let admin = t.get("/admin/");
    assert!(admin.text().contains(r#"action="/admin/packs/upload""#), "the admin page has the upload form");

    let mut files: Vec<_> = std::fs::read_dir(fixtures.join("moodle")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    files.push(fixtures.join("questions/gift/uclouvain-louv23x-module2-fr.gift"));
    let mut ids = Vec::new();
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        // Backups under a neutral name (the kind is found from the content, not the
        // name); the GIFT file under its own name, which gives its title.
        let is_gift = f.extension().is_some_and(|e| e == "gift");
        let name = if is_gift { f.file_name().unwrap().to_str().unwrap() } else { "cours" };
        let r = t.upload(name, &bytes);
        let html = r.text();
        assert_eq!(r.status, 200, "{}: {html}", f.display());
        assert!(html.contains("Rapport d'import") && html.contains("Cours installé"), "{html}");
        assert!(html.contains("<html lang=\"fr\""), "the page is French");
        let id = pack_of(&html);
        if is_gift {
            assert!(html.contains("« uclouvain-louv23x-module2-fr »"), "{html}");
        }
        // The pupil's catalog lists it and its start page is served.
        let api = server.get("/api/packs").text();
        assert!(api.contains(&format!("\"{id}\"")), "{id} missing from {api}");
        let page = server.get(&format!("/packs/{id}/"));
        assert!(page.status == 200 || page.status == 302 || page.status == 301, "{id}: {}", page.status);
        ids.push(id);
    }
    // Six courses side by side: no import displaced an earlier one.
    let api = server.get("/api/packs").text();
    for id in &ids {
        assert!(api.contains(&format!("\"{id}\"")), "{id} missing from {api}");
    }
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), files.len(), "{ids:?}");
    assert!(uploads_empty(&server.data), "uploads are removed after the import");
    // Signed with the box's own key, which only this box trusts.
    let publisher = std::fs::read_to_string(server.data.join("identity/publisher/key.pub")).unwrap();
    let state = std::fs::read_to_string(server.data.join("sync/state.json")).unwrap();
    assert!(state.contains(publisher.trim()), "{state}");
    assert!(server.data.join("local/catalog.json").is_file());

    // The same backup again: the same pack, unchanged (same version), not a refusal.
    let again = t.upload("cours", &std::fs::read(&files[0]).unwrap());
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(pack_of(&again.text()), ids[0]);
    assert!(again.text().contains("version 1"), "{}", again.text());

    // A raw course file picked on a USB stick (the folder picker's path): imported in place.
    let on_stick = fixtures.join("questions/gift/moodle-gift-format-php-examples.gift");
    let r = t.post_form("/admin/packs/add", &[("other", on_stick.to_str().unwrap())]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("Rapport d'import"), "{}", r.text());
    let id = pack_of(&r.text());
    assert!(server.get("/api/packs").text().contains(&format!("\"{id}\"")));

    // Not a course: a clear refusal, nothing installed, nothing kept.
    let r = t.upload("photo.mbz", b"\x89PNG\r\n\x1a\n not a course at all");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("Import impossible"), "{}", r.text());
    assert!(uploads_empty(&server.data));

    // Without the CSRF field, or from another origin: refused.
    let forged = Teacher { csrf: "0".repeat(t.csrf.len()), addr: t.addr, cookies: t.cookies.clone() };
    assert_eq!(forged.upload("cours", b"x").status, 403);
    assert!(uploads_empty(&server.data));

    // « Retirer » an imported course frees the box's own repository too, and the course
    // can be imported again afterwards.
    let local = server.data.join("local");
    let before = count_files(&local.join("objects"));
    let r = t.post_form("/admin/packs/remove", &[("pack", ids[0].as_str()), ("confirm", "yes")]);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = preau_pack::Repo::open(&local).unwrap();
    let catalog = r.load_catalog(&r.verified_root(None).unwrap()).unwrap();
    assert!(!catalog.packs.contains_key(&ids[0]), "{} still in DATA/local: {:?}", ids[0], catalog.packs.keys());
    let after = count_files(&local.join("objects"));
    assert!(after < before, "DATA/local/objects: {before} files before the removal, {after} after");
    let back = t.upload("cours", &std::fs::read(&files[0]).unwrap());
    assert_eq!(back.status, 200, "{}", back.text());
    assert_eq!(pack_of(&back.text()), ids[0]);
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map_or(0, |rd| rd.flatten().map(|e| if e.path().is_dir() { count_files(&e.path()) } else { 1 }).sum())
}

#[test]
fn too_large_and_full_card_uploads_are_refused_before_they_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // The card "has" less free space than the floor the box keeps: every import is too big.
    let server = Server::start_in_env(&data, &config(), &[("PREAU_FREE_FLOOR_BYTES", &(u64::MAX / 4).to_string())]);
    let t = teacher(&server);
    let r = t.upload("cours.gift", b"::Q1:: 1 + 1 ? {=2 ~3}");
    assert_eq!(r.status, 507, "{}", r.text());
    assert!(r.text().contains("Carte pleine : place libre"), "{}", r.text());
    assert!(uploads_empty(&server.data));
    drop(server);

    // More than the import limit (1 Gio), announced by Content-Length: refused at once,
    // before the body is read (the box's own max_body_bytes is raised above it).
    let big = format!("{}\n[server]\nmax_body_bytes = 4000000000\n", config());
    let server = Server::start_in(&dir.path().join("data2"), &big);
    let t = teacher(&server);
    let origin = format!("http://{}", t.addr);
    let mut s = std::net::TcpStream::connect(t.addr).unwrap();
    use std::io::{Read, Write};
    write!(
        s,
        "POST /admin/packs/upload HTTP/1.1\r\nhost: {}\r\norigin: {origin}\r\ncookie: {}\r\naccept-language: fr\r\ncontent-type: multipart/form-data; boundary=x\r\ncontent-length: {}\r\nconnection: close\r\n\r\n--x\r\n",
        t.addr,
        t.cookies,
        2u64 << 30
    )
    .unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let r = common::parse_response(&raw, false);
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.text().contains("Fichier trop gros : au plus"), "{}", r.text());
    assert!(uploads_empty(&server.data));
}

fn build(repo: &Path, key: &preau_pack::SecretKey, id: &str, text: &str) {
    let mut tree = preau_pack::SourceTree {
        meta: preau_pack::PackMeta {
            id: id.into(),
            title: id.into(),
            entry: "index.html".into(),
            ..Default::default()
        },
        files: vec![],
    };
    tree.add_bytes("index.html", format!("<p>{text}</p>"));
    let opts = preau_pack::build::BuildOptions { level: 1, ..Default::default() };
    preau_pack::build::build(repo, tree, key, &opts, &mut |_, _| {}).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn two_sticks_of_one_key_install_and_an_old_copy_is_refused_in_french() {
    let dir = tempfile::tempdir().unwrap();
    let key = preau_pack::SecretKey::generate();
    let (a, a_old, b) = (dir.path().join("a"), dir.path().join("a-old"), dir.path().join("b"));
    build(&a, &key, "maths", "v1");
    copy_dir(&a, &a_old);
    build(&a, &key, "maths", "v2");
    build(&a, &key, "maths", "v3");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    build(&b, &key, "histoire", "v1");

    let server = Server::start_in(&dir.path().join("data"), &config());
    let t = teacher(&server);
    let path = |p: &Path| p.to_str().unwrap().to_string();
    // First stick: an unknown publisher, trusted by the teacher.
    let r = t.post_form("/admin/packs/add", &[("other", &path(&a))]);
    assert_eq!(r.status, 409, "{}", r.text());
    let hex = key.public().to_hex();
    let r = t.post_form("/admin/packs/add", &[("other", &path(&a)), ("trust", &hex), ("confirm", "yes")]);
    assert_eq!(r.status, 200, "{}", r.text());
    // Second stick, same key, a lower catalog version: installed.
    let r = t.post_form("/admin/packs/add", &[("other", &path(&b))]);
    assert_eq!(r.status, 200, "{}", r.text());
    let api = server.get("/api/packs").text();
    assert!(api.contains("\"maths\"") && api.contains("\"histoire\""), "{api}");
    // An older copy of the first stick: refused, in French.
    let r = t.post_form("/admin/packs/add", &[("other", &path(&a_old))]);
    assert_eq!(r.status, 409, "{}", r.text());
    let text = r.text();
    assert!(text.contains("plus ancien que la version 3"), "{text}");
    assert!(!text.contains("rollback"), "{text}");
}

/// A tar of a built site, as a teacher uploads it.
fn site_tar(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, text) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(text.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, path, text.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn an_uploaded_site_loads_nothing_from_outside_and_the_report_says_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    // The box already holds KaTeX 0.16.9 in an installed libraries pack (from a stick).
    let key = preau_pack::SecretKey::generate();
    let stick = dir.path().join("stick");
    let mut libs = preau_pack::SourceTree {
        meta: preau_pack::PackMeta { id: "preau-libs".into(), title: "libs".into(), ..Default::default() },
        files: vec![],
    };
    libs.add_bytes("katex@0.16.9/package.json", r#"{"name":"katex","version":"0.16.9","main":"dist/katex.js"}"#);
    libs.add_bytes("katex@0.16.9/dist/katex.min.js", "/* katex */");
    let opts = preau_pack::build::BuildOptions { level: 1, ..Default::default() };
    preau_pack::build::build(&stick, libs, &key, &opts, &mut |_, _| {}).unwrap();

    let server = Server::start_in(&dir.path().join("data"), &config());
    let t = teacher(&server);
    let hex = key.public().to_hex();
    let stick = stick.to_str().unwrap().to_string();
    let r = t.post_form("/admin/packs/add", &[("other", &stick), ("trust", &hex), ("confirm", "yes")]);
    assert_eq!(r.status, 200, "{}", r.text());

    let page = r#"<!doctype html><html lang="fr"><head>
<script src="https://cdn.jsdelivr.net/npm/katex@0.16.9/dist/katex.min.js"></script>
<script src="https://cdn.jsdelivr.net/npm/mermaid@10.9.0/dist/mermaid.min.js"></script>
<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto">
</head><body><h1>Photosynthèse</h1>
<img src="https://i.creativecommons.org/l/by/4.0/88x31.png" alt="Licence CC BY">
<iframe src="https://www.youtube.com/embed/abc" title="La photosynthèse"></iframe>
<a href="https://fr.wikipedia.org/wiki/Photosynth%C3%A8se">Wikipédia</a>
</body></html>"#;
    let r = t.upload("photosynthese.tar", &site_tar(&[("index.html", page)]));
    let html = r.text();
    assert_eq!(r.status, 200, "{html}");
    assert!(html.contains("Cours installé"), "{html}");
    // The report page lists every change, in French.
    for line in [
        "[hors ligne] index.html : https://cdn.jsdelivr.net/npm/katex@0.16.9/dist/katex.min.js — bibliothèque locale → /packs/preau-libs/katex@0.16.9/dist/katex.min.js",
        "[hors ligne] index.html : https://cdn.jsdelivr.net/npm/mermaid@10.9.0/dist/mermaid.min.js — retiré",
        "[hors ligne] index.html : https://i.creativecommons.org/l/by/4.0/88x31.png — retiré",
        "[hors ligne] index.html : https://www.youtube.com/embed/abc — retiré",
        "lien marqué (internet)",
    ] {
        assert!(html.contains(&line.replace('"', "&quot;")) || html.contains(line), "{line} not in {html}");
    }
    let id = pack_of(&html);
    let served = server.get(&format!("/packs/{id}/index.html"));
    assert_eq!(served.status, 200);
    let served = served.text();
    assert!(served.contains(r#"src="/packs/preau-libs/katex@0.16.9/dist/katex.min.js""#), "{served}");
    for outside in ["cdn.jsdelivr.net", "fonts.googleapis.com", "i.creativecommons.org", "<iframe"] {
        assert!(!served.contains(outside), "{outside} still loaded: {served}");
    }
    assert!(served.contains("Licence CC BY"), "the image keeps its alt text: {served}");
    assert!(served.contains(">La photosynthèse</a> — nécessite internet"), "{served}");
    assert!(served.contains("data-preau-internet"), "{served}");
    // The library file itself is served by the box.
    assert_eq!(server.get("/packs/preau-libs/katex@0.16.9/dist/katex.min.js").status, 200);
}

fn site_zip(files: &[(&str, &str)]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (path, text) in files {
        w.start_file(*path, zip::write::SimpleFileOptions::default()).unwrap();
        w.write_all(text.as_bytes()).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .args(["-c", "user.name=Prof", "-c", "user.email=prof@example.org", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("the git command");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_zip_of_a_built_site_and_a_git_bundle_are_uploaded_and_shown_offline() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(&dir.path().join("data"), &config());
    let t = teacher(&server);

    // A zipped MkDocs project that holds its built site: the built site is what pupils get.
    let built = r#"<!doctype html><html lang="fr"><head><title>Algo</title></head><body>
<h1 id="built-marker">Algorithmique (site construit)</h1>
<img src="https://forge.example.org/logo.png" alt="Logo de la Forge"></body></html>"#;
    let zip = site_zip(&[
        ("algo/mkdocs.yml", "site_name: Algorithmique\n"),
        ("algo/docs/index.md", "# Algorithmique\n\nSource, pas le site.\n"),
        ("algo/site/index.html", built),
    ]);
    let r = t.upload("algo", &zip);
    let html = r.text();
    assert_eq!(r.status, 200, "{html}");
    assert!(html.contains("Cours installé"), "{html}");
    assert!(!html.contains("sans site construit"), "the built site was found: {html}");
    assert!(html.contains("https://forge.example.org/logo.png — retiré"), "{html}");
    let id = pack_of(&html);
    let start = server.get(&format!("/packs/{id}/"));
    let page = if start.status == 200 {
        start.text()
    } else {
        let loc = start.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("location")).unwrap().1.clone();
        server.get(&loc).text()
    };
    assert!(page.contains("built-marker"), "{page}");
    assert!(page.contains("Logo de la Forge") && !page.contains("forge.example.org/logo.png\""), "{page}");

    // A git bundle of a MkDocs source without a built site: the internal rendering, and
    // the page tells the teacher where the real site is.
    let work = dir.path().join("cours-nsi");
    std::fs::create_dir_all(work.join("docs")).unwrap();
    std::fs::write(work.join("mkdocs.yml"), "site_name: Cours NSI\n").unwrap();
    std::fs::write(
        work.join("docs/index.md"),
        "# Les réseaux\n\nUn schéma : ![Modèle OSI](https://cdn.example.net/osi.png)\n",
    )
    .unwrap();
    git(&work, &["init", "-q"]);
    git(&work, &["add", "."]);
    git(&work, &["commit", "-q", "-m", "cours"]);
    let bundle = dir.path().join("cours-nsi.bundle");
    git(&work, &["bundle", "create", "-q", bundle.to_str().unwrap(), "--all"]);
    let bytes = std::fs::read(&bundle).unwrap();
    assert!(bytes.starts_with(b"# v2 git bundle") || bytes.starts_with(b"# v3 git bundle"));
    let r = t.upload("cours-nsi.bundle", &bytes);
    let html = r.text();
    assert_eq!(r.status, 200, "{html}");
    assert!(html.contains("Cours installé") && html.contains("Cours NSI"), "{html}");
    assert!(html.contains("sans site construit"), "{html}");
    assert!(html.contains("https://cdn.example.net/osi.png — retiré"), "{html}");
    let id = pack_of(&html);
    let listing = server.get("/api/packs").text();
    assert!(listing.contains(&format!("\"{id}\"")), "{listing}");
    let page = server.get(&format!("/packs/{id}/index.html")).text();
    assert!(page.contains("Les réseaux") && page.contains("Modèle OSI"), "{page}");
    assert!(!page.contains("cdn.example.net/osi.png\""), "{page}");

    // A truncated bundle: a clear refusal naming the problem, nothing kept.
    let r = t.upload("casse.bundle", &bytes[..bytes.len() / 2]);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("Import impossible") && r.text().contains("bundle"), "{}", r.text());
    assert!(uploads_empty(&server.data));
}

/// Issue 18: a teacher exports the pupils' records before a reflash and imports them on
/// the fresh box from its admin page; the same file is refused a second time, and a file
/// of another records format is refused with a reason.
#[test]
fn records_go_from_one_box_to_a_fresh_one_through_the_admin_page() {
    let old = Server::start(&config());
    let t = teacher(&old);
    assert_eq!(t.post_form("/teacher/classes", &[("name", "CM2 Tilleuls")]).status, 303);
    let class = t.get("/teacher/").text();
    let at = class.find("/teacher/class/").expect("a class link") + "/teacher/class/".len();
    let id: String = class[at..].chars().take_while(char::is_ascii_digit).collect();
    assert_eq!(t.post_form(&format!("/teacher/class/{id}/pupils"), &[("name", "Zélie Marchand")]).status, 303);
    let admin = t.get("/admin/").text();
    assert!(admin.contains("données personnelles") && admin.contains(r#"action="/admin/records/import""#));
    let file = t.get("/admin/records/export");
    assert_eq!(file.status, 200, "{}", file.text());
    assert!(file.body.starts_with(b"SQLite format 3\0"));
    assert!(file.header("content-disposition").unwrap().contains("attachment"));
    assert!(std::fs::read_dir(old.data.join("exports")).unwrap().next().is_none(), "the snapshot is removed");

    let fresh = Server::start(&config());
    let t2 = teacher(&fresh);
    let r = t2.upload_to("/admin/records/import", "eleves.preau-records", &file.body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(t2.get("/teacher/").text().contains("CM2 Tilleuls"));
    let r = t2.upload_to("/admin/records/import", "eleves.preau-records", &file.body);
    assert_eq!(r.status, 400);
    assert!(r.text().contains("already has learner records"), "{}", r.text());
    let r = t2.upload_to("/admin/records/import", "notes.csv", b"nom;classe\nA;B\n");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("ne peut pas être importé"), "{}", r.text());
    assert!(uploads_empty(&fresh.data));
}
