//! The `preau keygen` / `preau pack …` command line, on real data and bad input.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn preau(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_preau")).args(args).output().expect("run preau")
}

fn ok(args: &[&str]) -> String {
    let out = preau(args);
    assert!(out.status.success(), "preau {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn fails(args: &[&str]) -> String {
    let out = preau(args);
    assert!(!out.status.success(), "preau {args:?} should have failed");
    String::from_utf8(out.stderr).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every file of a folder with its bytes (relative paths), ignoring the build lock file.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    if !dir.exists() {
        return out;
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.file_name().unwrap() == ".lock" {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        ok(&["keygen", "--out", s(&dir.path().join("key"))]);
        Setup { dir }
    }

    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn build(&self, src: &Path, extra: &[&str]) -> Output {
        let repo = self.p("repo");
        let key = self.p("key");
        let mut args = vec!["pack", "build", s(src), "--repo", s(&repo), "--key", s(&key)];
        args.extend_from_slice(extra);
        preau(&args)
    }
}

#[test]
fn fixture_course_v1_then_v2_adds_little_and_extracts_byte_exact() {
    let Some(v1) = preau_tests::fixture("sites/cours-python_2024-11-14_d996c94.tar") else { return };
    let Some(v2) = preau_tests::fixture("sites/cours-python_2025-09-29_366b8c0.tar") else { return };
    let t = Setup::new();
    let repo = t.p("repo");
    let json = |o: Output| -> serde_json::Value {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    // --verbatim: the pages stay byte for byte (without it their outside links are marked).
    let b1 = json(t.build(&v1, &["--id", "cours-python", "--json", "--verbatim"]));
    let b2 = json(t.build(&v2, &["--id", "cours-python", "--json", "--verbatim"]));
    assert_eq!(b1["version"], 1);
    assert_eq!(b2["version"], 2);
    let (added1, added2) = (b1["bytes_added"].as_u64().unwrap(), b2["bytes_added"].as_u64().unwrap());
    // v1→v2 adds 3 files (126 KB) and edits 6 chapters: far less than a full copy.
    assert!(added2 * 15 < added1, "v2 added {added2} bytes, v1 {added1}");
    assert!(b2["chunks_reused"].as_u64().unwrap() > 200);
    let verify = ok(&["pack", "verify", "--repo", s(&repo), "--trust", s(&t.p("key.pub"))]);
    assert!(verify.contains("OK"), "{verify}");

    for (version, tar) in [("1", &v1), ("2", &v2)] {
        let out = t.p(&format!("out{version}"));
        ok(&["pack", "extract", "--repo", s(&repo), "--id", "cours-python", "--version", version, "--out", s(&out)]);
        let expected = t.p(&format!("tar{version}"));
        std::fs::create_dir_all(&expected).unwrap();
        let st = Command::new("tar").args(["xf", s(tar), "-C", s(&expected)]).status().unwrap();
        assert!(st.success());
        assert_eq!(snapshot(&out), snapshot(&expected.join("cours-python")), "version {version} differs");
    }
    let list = ok(&["pack", "list", "--repo", s(&repo)]);
    assert!(list.contains("cours-python") && list.contains("v2"), "{list}");
}

#[test]
fn a_new_version_keeps_the_title_unless_the_source_names_itself() {
    let t = Setup::new();
    let (v1, v2) = (t.p("cours-v1"), t.p("cours-v2"));
    for (dir, text) in [(&v1, "un"), (&v2, "deux")] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("index.md"), format!("# Chapitre {text}\n")).unwrap();
    }
    let title = || {
        let list: serde_json::Value =
            serde_json::from_str(&ok(&["pack", "list", "--repo", s(&t.p("repo")), "--json"])).unwrap();
        list.to_string()
    };
    assert!(t.build(&v1, &["--id", "cours", "--title", "Cours de Python"]).status.success());
    assert!(t.build(&v2, &["--id", "cours"]).status.success());
    assert!(title().contains("Cours de Python"), "v2 keeps the title: {}", title());
    assert!(t.build(&v1, &["--id", "cours", "--title", "Python, 2de"]).status.success());
    assert!(title().contains("Python, 2de") && !title().contains("Cours de Python"), "{}", title());
}

#[test]
fn bad_sources_are_refused_and_the_repository_is_left_as_it_was() {
    use std::os::unix::fs::symlink;
    let t = Setup::new();
    let good = t.p("good");
    std::fs::create_dir_all(good.join("sub")).unwrap();
    std::fs::write(good.join("index.html"), "<h1>Cours</h1>").unwrap();
    std::fs::write(good.join("sub/page.html"), "<p>Page</p>").unwrap();
    assert!(t.build(&good, &["--id", "cours"]).status.success());
    let before = snapshot(&t.p("repo"));

    let case = |name: &str, setup: &dyn Fn(&Path), expect: &str, extra: &[&str]| {
        let src = t.p(name);
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("index.html"), "x").unwrap();
        setup(&src);
        let mut args = vec!["--id", "cours"];
        args.extend_from_slice(extra);
        let out = t.build(&src, &args);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!out.status.success(), "{name}: accepted");
        assert!(err.contains(expect), "{name}: error {err:?} does not say {expect:?}");
        assert_eq!(snapshot(&t.p("repo")), before, "{name}: the repository changed");
    };
    case("outside-link", &|d| symlink("/etc/hostname", d.join("link")).unwrap(), "outside the source folder", &[]);
    case(
        "fifo",
        &|d| assert!(Command::new("mkfifo").arg(d.join("pipe")).status().unwrap().success()),
        "not a regular file",
        &[],
    );
    case(
        "non-utf8",
        &|d| {
            use std::os::unix::ffi::OsStrExt;
            std::fs::write(d.join(std::ffi::OsStr::from_bytes(b"caf\xe9.txt")), "x").unwrap();
        },
        "not valid UTF-8",
        &[],
    );
    case(
        "too-big",
        &|d| std::fs::write(d.join("big.bin"), vec![0u8; 5000]).unwrap(),
        "larger than the limit",
        &["--max-file-size", "4096"],
    );
    case(
        "case-collision",
        &|d| {
            std::fs::write(d.join("Page.html"), "a").unwrap();
            std::fs::write(d.join("page.html"), "b").unwrap();
        },
        "letter case",
        &[],
    );
    // Tests run as root, which reads any file: a dangling link stands for an unreadable file.
    case("unreadable", &|d| symlink(d.join("nowhere"), d.join("secret.html")).unwrap(), "secret.html", &[]);

    // Tar archives with `..`, absolute paths, devices; a truncated one; not a tar at all.
    for (name, expect) in [("dotdot", "`..`"), ("absolute", "absolute"), ("device", "not a regular file")] {
        let tar_path = t.p(&format!("{name}.tar"));
        std::fs::write(&tar_path, evil_tar(name)).unwrap();
        let out = t.build(&tar_path, &["--id", "cours"]);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!out.status.success() && err.contains(expect), "{name}: {err}");
        assert_eq!(snapshot(&t.p("repo")), before, "{name}: the repository changed");
    }
    let mut truncated = evil_tar("good");
    truncated.truncate(700);
    std::fs::write(t.p("truncated.tar"), &truncated).unwrap();
    let out = t.build(&t.p("truncated.tar"), &["--id", "cours"]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success() && err.contains("truncated"), "truncated: {err}");
    assert_eq!(snapshot(&t.p("repo")), before);

    // A wrong key (another publisher's), a public key given as --key, and a missing key.
    ok(&["keygen", "--out", s(&t.p("other"))]);
    let repo = t.p("repo");
    let err = fails(&["pack", "build", s(&good), "--repo", s(&repo), "--key", s(&t.p("other")), "--id", "cours2"]);
    assert!(err.contains("not authorised"), "{err}");
    let err = fails(&["pack", "build", s(&good), "--repo", s(&repo), "--key", s(&t.p("key.pub")), "--id", "cours2"]);
    assert!(err.contains("public key"), "{err}");
    let err = fails(&["pack", "build", s(&good), "--repo", s(&repo), "--key", s(&t.p("missing")), "--id", "cours2"]);
    assert!(err.contains("missing"), "{err}");
    assert_eq!(snapshot(&repo), before);
}

/// A one-entry tar archive written by hand, with headers the `tar` crate's builder refuses to make.
fn evil_tar(kind: &str) -> Vec<u8> {
    let mut h = [0u8; 512];
    let (name, typeflag, size): (&[u8], u8, usize) = match kind {
        "dotdot" => (b"cours/../../etc/evil", b'0', 1),
        "absolute" => (b"/etc/evil", b'0', 1),
        "device" => (b"cours/dev", b'3', 0),
        _ => (b"cours/page.html", b'0', 2000),
    };
    h[..name.len()].copy_from_slice(name);
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = typeflag;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| *b as u32).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut out = h.to_vec();
    out.extend(std::iter::repeat_n(b'x', size));
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

#[test]
fn verify_finds_a_flipped_bit_a_missing_object_and_a_truncated_catalog() {
    let t = Setup::new();
    let src = t.p("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("index.html"), "<h1>Un cours de sciences</h1>".repeat(50)).unwrap();
    std::fs::write(src.join("photo.jpg"), (0..3000u32).map(|i| (i * 7919 % 251) as u8).collect::<Vec<u8>>()).unwrap();
    assert!(t.build(&src, &["--id", "sciences"]).status.success());
    let repo = t.p("repo");
    ok(&["pack", "verify", "--repo", s(&repo)]);

    // Flip one bit of every object in turn (compressed and raw): each flip is caught.
    let objects: Vec<PathBuf> =
        snapshot(&repo.join("objects")).into_keys().map(|p| repo.join("objects").join(p)).collect();
    assert!(objects.len() >= 3);
    for obj in &objects {
        let original = std::fs::read(obj).unwrap();
        for at in [original.len() - 1, original.len() / 2] {
            let mut flipped = original.clone();
            flipped[at] ^= 0x01;
            std::fs::write(obj, &flipped).unwrap();
            let err = fails(&["pack", "verify", "--repo", s(&repo)]);
            assert!(err.contains("corrupt") || err.contains("does not match"), "{err}");
        }
        std::fs::write(obj, &original).unwrap();
    }
    ok(&["pack", "verify", "--repo", s(&repo)]);

    let catalog = std::fs::read(repo.join("catalog.json")).unwrap();
    std::fs::write(repo.join("catalog.json"), &catalog[..catalog.len() / 2]).unwrap();
    let err = fails(&["pack", "verify", "--repo", s(&repo)]);
    assert!(err.contains("catalog.json"), "{err}");
    std::fs::write(repo.join("catalog.json"), &catalog).unwrap();

    // Another key in --trust is refused.
    ok(&["keygen", "--out", s(&t.p("other"))]);
    let err = fails(&["pack", "verify", "--repo", s(&repo), "--trust", s(&t.p("other.pub"))]);
    assert!(err.contains("trusted key"), "{err}");

    // A missing object is reported by name.
    std::fs::remove_file(&objects[0]).unwrap();
    let err = fails(&["pack", "verify", "--repo", s(&repo)]);
    assert!(err.contains("missing"), "{err}");
}

/// SIGKILL builds at random moments: after each kill the repository still verifies,
/// and a later build completes and sweeps what the killed ones left.
#[test]
fn builds_killed_at_random_moments_leave_a_valid_repository() {
    let t = Setup::new();
    let repo = t.p("repo");
    let src = t.p("src");
    std::fs::create_dir_all(&src).unwrap();
    // Several MB over many files, so that a build at level 19 takes a while.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..40 {
        let text: String = (0..20_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ["le ", "préau ", "classe ", "élève ", "\n", "cours ", "python "][(x % 7) as usize]
            })
            .collect();
        std::fs::write(src.join(format!("chap{i:02}.md")), text).unwrap();
    }
    std::fs::write(src.join("index.html"), "<h1>Cours</h1>").unwrap();
    assert!(t.build(&src, &["--id", "kill"]).status.success());

    let mut seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    let mut kills = 0;
    // Build times vary with the machine's load: keep killing until 20 builds were
    // killed mid-way (bounded, so a machine where builds never run long still ends).
    for round in 0..120 {
        if kills >= 20 {
            break;
        }
        // Change some content so that each build has new objects to write.
        let text = format!("version {round} {seed}\n").repeat(30_000);
        std::fs::write(src.join(format!("chap{:02}.md", round % 40)), text).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_preau"))
            .args(["pack", "build", s(&src), "--repo", s(&repo), "--key", s(&t.p("key")), "--id", "kill"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(std::time::Duration::from_millis(seed % 700));
        if child.try_wait().unwrap().is_none() {
            kills += 1;
            child.kill().unwrap(); // SIGKILL
        }
        let _ = child.wait();
        let out = ok(&["pack", "verify", "--repo", s(&repo)]);
        assert!(out.contains("OK"), "round {round}: {out}");
    }
    assert!(kills >= 20, "only {kills} builds were killed while running");
    assert!(t.build(&src, &["--id", "kill"]).status.success());
    ok(&["pack", "verify", "--repo", s(&repo)]);
    let leftovers = std::fs::read_dir(&repo)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".staging"))
        .count();
    assert_eq!(leftovers, 0, "staging folders were not swept");
}

#[test]
fn rotating_the_key_keeps_old_trust_working_and_retires_the_old_key() {
    let t = Setup::new();
    let src = t.p("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("index.html"), "<h1>Cours</h1>").unwrap();
    assert!(t.build(&src, &["--id", "cours"]).status.success());
    ok(&["keygen", "--out", s(&t.p("new"))]);
    let repo = t.p("repo");
    ok(&["pack", "rotate-key", "--repo", s(&repo), "--key", s(&t.p("key")), "--new-key", s(&t.p("new"))]);
    // A client that trusted the old key follows the chain roots/1 → roots/2.
    ok(&["pack", "verify", "--repo", s(&repo), "--trust", s(&t.p("key.pub"))]);
    assert!(repo.join("roots/2.json").is_file());
    std::fs::write(src.join("page.html"), "<p>Nouvelle page</p>").unwrap();
    let err = fails(&["pack", "build", s(&src), "--repo", s(&repo), "--key", s(&t.p("key")), "--id", "cours"]);
    assert!(err.contains("not authorised"), "{err}");
    ok(&["pack", "build", s(&src), "--repo", s(&repo), "--key", s(&t.p("new")), "--id", "cours"]);
    ok(&["pack", "verify", "--repo", s(&repo), "--trust", s(&t.p("key.pub"))]);
    // A forged root version 3 signed only by the retired key is refused.
    let forged = std::fs::read_to_string(repo.join("roots/2.json")).unwrap().replace("\"version\":2", "\"version\":3");
    std::fs::write(repo.join("roots/3.json"), &forged).unwrap();
    std::fs::write(repo.join("root.json"), &forged).unwrap();
    let err = fails(&["pack", "verify", "--repo", s(&repo)]);
    assert!(err.contains("signature"), "{err}");
}

/// `pack unpublish` takes a pack out of a folder repository: the catalog lists the others,
/// still verifies, and the disk is freed; a wrong key and an unknown id are said.
#[test]
fn unpublishing_a_pack_frees_its_objects_and_keeps_the_others() {
    let t = Setup::new();
    let repo = t.p("repo");
    for (id, text) in [("gardee", "Le cours qui reste"), ("retiree", "Le cours retiré")] {
        let src = t.p(id);
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("index.html"), format!("<h1>{text}</h1>")).unwrap();
        std::fs::write(src.join("notes.txt"), text.repeat(3000)).unwrap();
        assert!(t.build(&src, &["--id", id]).status.success());
    }
    let before = snapshot(&repo).len();
    ok(&["keygen", "--out", s(&t.p("other"))]);
    let err = fails(&["pack", "unpublish", "--repo", s(&repo), "--key", s(&t.p("other")), "retiree"]);
    assert!(err.contains("not authorised"), "{err}");
    let err = fails(&["pack", "unpublish", "--repo", s(&repo), "--key", s(&t.p("key"))]);
    assert!(err.contains("ID"), "no id given: {err}");

    let out = preau(&["pack", "unpublish", "--repo", s(&repo), "--key", s(&t.p("key")), "retiree", "inconnue"]);
    assert!(out.status.success(), "{out:?}");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("retiree") && stdout.contains("objets supprimés"), "{stdout}");
    assert!(stderr.contains("inconnue"), "{stderr}");
    assert!(snapshot(&repo).len() < before, "the removed pack's objects are gone");
    let list = ok(&["pack", "list", "--repo", s(&repo)]);
    assert!(list.contains("gardee") && !list.contains("retiree"), "{list}");
    ok(&["pack", "verify", "--repo", s(&repo), "--trust", s(&t.p("key.pub"))]);
    ok(&["pack", "extract", "--repo", s(&repo), "--id", "gardee", "--out", s(&t.p("out"))]);
    assert_eq!(std::fs::read(t.p("out/notes.txt")).unwrap(), std::fs::read(t.p("gardee/notes.txt")).unwrap());
    // Again: nothing left to take out, the catalog is not re-signed.
    let again = ok(&["pack", "unpublish", "--repo", s(&repo), "--key", s(&t.p("key")), "retiree"]);
    assert!(again.contains("inchangé"), "{again}");
}

/// `pack build` detects the kind of source by content: a Moodle backup renamed `.tar`,
/// a GIFT file without extension; the import report comes with the build summary.
#[test]
fn pack_build_imports_moodle_backups_and_question_files_by_content() {
    let Some(teluq) = preau_tests::fixture("moodle/teluq-inf6450-fr-moodle41.mbz") else { return };
    let Some(module2) = preau_tests::fixture("questions/gift/uclouvain-louv23x-module2-fr.gift") else { return };
    let t = Setup::new();
    let mbz = t.p("cours.tar");
    std::fs::copy(teluq, &mbz).unwrap();
    let out = t.build(&mbz, &["--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], 1);
    assert!(v["import"].is_object(), "{v}");
    let id = v["id"].as_str().unwrap().to_string();

    let gift = t.p("questions");
    std::fs::copy(module2, &gift).unwrap();
    let out = t.build(&gift, &["--id", "quiz-module2"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("quiz-module2 v1 built"), "{text}");

    let repo = t.p("repo");
    ok(&["pack", "verify", "--repo", s(&repo)]);
    let list = ok(&["pack", "list", "--repo", s(&repo)]);
    assert!(list.contains(&id) && list.contains("quiz-module2"), "{list}");
    // Correct answers stay in `_preau/`, never in a page a browser can open.
    let out_dir = t.p("quiz-files");
    ok(&["pack", "extract", "--repo", s(&repo), "--id", "quiz-module2", "--out", s(&out_dir)]);
    assert!(snapshot(&out_dir).keys().any(|p| p.starts_with("_preau/quiz")));
}
