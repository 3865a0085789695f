//! `preau mirror`: local git repositories served by a real `git daemon` on 127.0.0.1 that
//! gain commits between runs, Éléa backups dropped in a folder (a real fixture), a
//! malformed backup, an unreachable git URL and a bad configuration.

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod s3_support;

fn preau(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_preau")).args(args).output().expect("run preau")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `git ARGS` in `dir`, with no user configuration; panics on failure.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=Forge", "-c", "user.email=forge@example.org", "-c", "init.defaultBranch=main"])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A Forge project: a working repository whose commits the daemon serves.
struct Project {
    dir: PathBuf,
}

impl Project {
    fn new(root: &Path, name: &str) -> Project {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        git(&dir, &["init", "--quiet", "--initial-branch=main"]);
        // The daemon serves only repositories that say so.
        std::fs::write(dir.join(".git/git-daemon-export-ok"), "").unwrap();
        Project { dir }
    }

    /// Writes `files` and commits them; returns the commit id.
    fn commit(&self, files: &[(&str, &str)], message: &str) -> String {
        for (path, body) in files {
            let p = self.dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        git(&self.dir, &["add", "--all"]);
        git(&self.dir, &["commit", "--quiet", "-m", message]);
        git(&self.dir, &["rev-parse", "HEAD"])
    }

    /// The files under `public/` (the project's built site, served as it is) of the
    /// commit at HEAD, with their bytes.
    fn head_site(&self) -> BTreeMap<String, Vec<u8>> {
        let list = git(&self.dir, &["ls-tree", "-r", "--name-only", "HEAD", "public/"]);
        list.lines()
            .map(|p| {
                let out =
                    Command::new("git").arg("-C").arg(&self.dir).args(["show", &format!("HEAD:{p}")]).output().unwrap();
                (p.strip_prefix("public/").unwrap().to_string(), out.stdout)
            })
            .collect()
    }
}

/// `git daemon` serving every repository under `root` on 127.0.0.1, stopped when dropped.
struct Daemon {
    child: Child,
    port: u16,
}

impl Daemon {
    fn start(root: &Path) -> Daemon {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("git")
            .args(["daemon", "--reuseaddr", "--listen=127.0.0.1", &format!("--port={port}")])
            .arg(format!("--base-path={}", root.display()))
            .arg(root)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon (Debian: the git package has it)");
        let d = Daemon { child, port };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "git daemon did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Run {
    code: i32,
    report: Value,
    stdout: String,
}

fn mirror(config: &Path) -> Run {
    mirror_with(config, &[])
}

fn mirror_with(config: &Path, env: &[(&str, &str)]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_preau"))
        .args(["mirror", "--config", s(config), "--json"])
        .envs(env.iter().copied())
        .output()
        .expect("run preau mirror");
    for text in [&out.stdout, &out.stderr] {
        assert!(!String::from_utf8_lossy(text).contains(s3_support::SECRET), "the S3 secret was printed");
    }
    let stdout = String::from_utf8(out.stdout).unwrap();
    let code = out.status.code().expect("exited");
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr)));
    Run { code, report, stdout }
}

impl Run {
    fn line(&self, id: &str) -> &Value {
        self.report["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["id"] == id)
            .unwrap_or_else(|| panic!("no line for {id} in {}", self.stdout))
    }

    fn status(&self, id: &str) -> &str {
        self.line(id)["status"].as_str().unwrap()
    }
}

/// What state.json records for one pack.
fn state_of(t: &Setup, id: &str) -> Value {
    let state: Value = serde_json::from_slice(&std::fs::read(t.p("state/state.json")).unwrap()).unwrap();
    state["packs"][id].clone()
}

fn catalog_version(repo: &Path) -> u64 {
    let out = preau(&["pack", "list", "--repo", s(repo), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<Value>(&out.stdout).unwrap()["version"].as_u64().unwrap()
}

fn verify(repo: &Path, key: &Path) {
    let pubkey = format!("{}.pub", key.display());
    let out = preau(&["pack", "verify", "--repo", s(repo), "--trust", &pubkey]);
    assert!(
        out.status.success(),
        "verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The pack's files as extracted, without the import report Préau adds.
fn extracted(repo: &Path, id: &str, out: &Path) -> BTreeMap<String, Vec<u8>> {
    let o = preau(&["pack", "extract", "--repo", s(repo), "--id", id, "--out", s(out)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut files = BTreeMap::new();
    let mut stack = vec![out.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(out).unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                if rel != "_preau" {
                    stack.push(p);
                }
            } else {
                files.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    files
}

struct Setup {
    tmp: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let out = preau(&["keygen", "--out", s(&tmp.path().join("key"))]);
        assert!(out.status.success());
        Setup { tmp }
    }
    fn p(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }
    fn config(&self, sources: &str) -> PathBuf {
        let text = format!(
            "repo = {:?}\nkey = {:?}\nstate = {:?}\n[build]\noffline = true\ngit_timeout_secs = 30\n{sources}",
            s(&self.p("repo")),
            s(&self.p("key")),
            s(&self.p("state"))
        );
        let path = self.p("mirror.toml");
        std::fs::write(&path, text).unwrap();
        path
    }
}

#[test]
fn git_sources_rebuild_only_what_changed() {
    let t = Setup::new();
    let served = t.p("forge");
    let a = Project::new(&served, "maths.git");
    let b = Project::new(&served, "physique.git");
    // A Forge project with its built site in public/ (GitLab Pages), one of Markdown pages.
    a.commit(
        &[("README.md", "# Maths\n"), ("public/index.html", "<h1>Maths</h1>"), ("public/chap/1.html", "<p>un</p>")],
        "first",
    );
    b.commit(&[("index.md", "# Physique\n\nLa lumière.\n")], "first");
    let daemon = Daemon::start(&served);
    let config = t.config(&format!(
        "[[git]]\nid = \"forge-maths\"\nurl = {:?}\ntitle = \"Maths 6e\"\n\
         [[git]]\nid = \"forge-physique\"\nurl = {:?}\nbranch = \"main\"\n",
        daemon.url("maths.git"),
        daemon.url("physique.git")
    ));
    let repo = t.p("repo");

    // Run 1: everything is built.
    let r1 = mirror(&config);
    assert_eq!(r1.code, 0, "{}", r1.stdout);
    assert_eq!((r1.report["built"].as_u64(), r1.report["failed"].as_u64()), (Some(2), Some(0)), "{}", r1.stdout);
    assert_eq!(r1.line("forge-maths")["version"], 1);
    verify(&repo, &t.p("key"));
    assert_eq!(extracted(&repo, "forge-maths", &t.p("x1")), a.head_site());
    let v1 = catalog_version(&repo);
    let catalog1 = std::fs::read(repo.join("catalog.json")).unwrap();
    // The report is also in the state folder, the same as printed.
    let on_disk: Value = serde_json::from_slice(&std::fs::read(t.p("state/report.json")).unwrap()).unwrap();
    assert_eq!(on_disk, r1.report);

    // Run 2, nothing changed: nothing built, the repository untouched.
    let r2 = mirror(&config);
    assert_eq!(r2.code, 0, "{}", r2.stdout);
    assert_eq!((r2.status("forge-maths"), r2.status("forge-physique")), ("unchanged", "unchanged"));
    assert_eq!(r2.report["built"], 0);
    assert_eq!(catalog_version(&repo), v1);
    assert_eq!(std::fs::read(repo.join("catalog.json")).unwrap(), catalog1, "the catalog was rewritten");

    // Run 3, a commit in one project: only that one is rebuilt.
    let head =
        a.commit(&[("public/chap/1.html", "<p>un, corrigé</p>"), ("public/chap/2.html", "<p>deux</p>")], "second");
    let r3 = mirror(&config);
    assert_eq!(r3.code, 0, "{}", r3.stdout);
    assert_eq!((r3.status("forge-maths"), r3.status("forge-physique")), ("built", "unchanged"), "{}", r3.stdout);
    assert_eq!(r3.line("forge-maths")["version"], 2);
    assert_eq!(r3.line("forge-maths")["fingerprint"], head.as_str());
    assert_eq!(r3.line("forge-physique")["version"], 1);
    assert!(catalog_version(&repo) > v1);
    verify(&repo, &t.p("key"));
    let now = extracted(&repo, "forge-maths", &t.p("x3"));
    assert_eq!(now, a.head_site());
    assert_eq!(now["chap/2.html"], b"<p>deux</p>");
    let list: Value = serde_json::from_slice(&preau(&["pack", "list", "--repo", s(&repo), "--json"]).stdout).unwrap();
    assert_eq!(list["packs"]["forge-maths"]["title"], "Maths 6e");

    // A changed setting (the title) rebuilds that source even without a commit.
    let config = t.config(&format!(
        "[[git]]\nid = \"forge-maths\"\nurl = {:?}\ntitle = \"Mathématiques 6e\"\n\
         [[git]]\nid = \"forge-physique\"\nurl = {:?}\n",
        daemon.url("maths.git"),
        daemon.url("physique.git")
    ));
    let r4 = mirror(&config);
    assert_eq!((r4.status("forge-maths"), r4.status("forge-physique")), ("built", "unchanged"), "{}", r4.stdout);

    // A project taken out of the configuration: said once (still published, how to take
    // it out), forgotten by the mirror with its clone, never unpublished on a guess.
    assert!(t.p("state/git/forge-physique.git").is_dir());
    let config = t.config(&format!(
        "[[git]]\nid = \"forge-maths\"\nurl = {:?}\ntitle = \"Mathématiques 6e\"\n",
        daemon.url("maths.git")
    ));
    let r5 = mirror(&config);
    assert_eq!(r5.code, 0, "{}", r5.stdout);
    assert_eq!((r5.status("forge-maths"), r5.status("forge-physique")), ("unchanged", "not_followed"), "{}", r5.stdout);
    assert_eq!(r5.report["not_followed"], 1);
    assert_eq!(r5.line("forge-physique")["version"], 1);
    assert!(r5.line("forge-physique")["detail"].as_str().unwrap().contains("pack unpublish"));
    assert!(r5.stdout.contains("forge-physique"), "{}", r5.stdout);
    assert!(state_of(&t, "forge-physique").is_null(), "forgotten by the mirror");
    assert!(!t.p("state/git/forge-physique.git").exists());
    let list: Value = serde_json::from_slice(&preau(&["pack", "list", "--repo", s(&repo), "--json"]).stdout).unwrap();
    assert!(list["packs"]["forge-physique"].is_object(), "still published: {list}");
    let r6 = mirror(&config);
    assert_eq!(r6.report["not_followed"], 0, "said once: {}", r6.stdout);
    assert_eq!(r6.report["sources"].as_array().unwrap().len(), 1);
    drop(daemon);
}

#[test]
fn one_failing_source_does_not_stop_the_others() {
    const TOKEN: &str = "glpat-MIRROR-TEST-TOKEN";
    let Some(mbz) = preau_tests::fixture("moodle/studentquiz-course-moodle40.mbz") else { return };
    let Some(mbz2) = preau_tests::fixture("moodle/studentquiz-versions-moodle45.mbz") else { return };
    let Some(zim) = preau_tests::fixture("zim/small.zim") else { return };
    let t = Setup::new();
    let served = t.p("forge");
    let a = Project::new(&served, "cours.git");
    a.commit(&[("index.html", "<h1>Cours</h1>")], "first");
    let daemon = Daemon::start(&served);
    let drop_dir = t.p("depot");
    std::fs::create_dir_all(&drop_dir).unwrap();
    // Read in place is fine; a copy in the temporary folder plays the dropped file.
    std::fs::copy(&mbz, drop_dir.join("sauvegarde-moodle2-course-40-quiz-20261201-0900.mbz")).unwrap();
    std::fs::write(drop_dir.join("cassee.mbz"), b"PK\x03\x04 not really a zip").unwrap();
    // A half-copied file (dot name) is not looked at.
    std::fs::write(drop_dir.join(".arrive.mbz"), b"partial").unwrap();
    // A port nothing listens on: connection refused, at once.
    let dead_port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = t.config(&format!(
        "[[git]]\nid = \"forge-cours\"\nurl = {:?}\nverbatim = true\n\
         [[git]]\nid = \"forge-disparu\"\nurl = \"http://forge:{TOKEN}@127.0.0.1:{dead_port}/disparu.git\"\n\
         [[mbz]]\nfolder = {:?}\nprefix = \"elea-\"\n\
         [[mbz.name]]\npattern = \"sauvegarde-*-course-40-*.mbz\"\nid = \"elea-quiz-40\"\n\
         [[zim]]\nid = \"kiwix-small\"\npath = {:?}\ntitle = \"Petit wiki\"\n",
        daemon.url("cours.git"),
        s(&drop_dir),
        s(&zim)
    ));
    let repo = t.p("repo");

    let r1 = mirror(&config);
    assert_eq!(r1.code, 1, "some sources failed: {}", r1.stdout);
    assert_eq!(r1.status("forge-cours"), "built");
    assert_eq!(r1.status("elea-quiz-40"), "built");
    assert_eq!(r1.status("kiwix-small"), "built");
    assert_eq!(r1.status("forge-disparu"), "failed");
    let why = r1.line("forge-disparu")["detail"].as_str().unwrap();
    assert!(why.contains("ls-remote") && why.contains("127.0.0.1"), "{why}");
    // A token in a URL is never printed, reported or written (nor put in git's argv).
    assert!(!r1.stdout.contains(TOKEN), "{}", r1.stdout);
    assert!(r1.line("forge-disparu")["origin"].as_str().unwrap().starts_with("http://127.0.0.1:"));
    assert_eq!(r1.status("elea-cassee"), "failed");
    let why = r1.line("elea-cassee")["detail"].as_str().unwrap();
    assert!(why.contains("cassee.mbz"), "{why}");
    assert_eq!(r1.report["sources"].as_array().unwrap().len(), 5, "the dot file was read: {}", r1.stdout);
    assert_eq!((r1.report["built"].as_u64(), r1.report["failed"].as_u64()), (Some(3), Some(2)));
    verify(&repo, &t.p("key"));
    let v1 = catalog_version(&repo);

    // Failed sources are tried again, the built ones are not rebuilt.
    let r2 = mirror(&config);
    assert_eq!(r2.code, 1);
    for f in ["state/state.json", "state/report.json"] {
        assert!(!std::fs::read_to_string(t.p(f)).unwrap().contains(TOKEN), "the token is in {f}");
    }
    assert_eq!((r2.status("forge-cours"), r2.status("elea-quiz-40")), ("unchanged", "unchanged"));
    assert_eq!(r2.status("kiwix-small"), "unchanged");
    assert_eq!((r2.status("forge-disparu"), r2.status("elea-cassee")), ("failed", "failed"));
    assert_eq!(catalog_version(&repo), v1);

    // The same backup dropped again (new modification time, same bytes): hashed, unchanged.
    let dropped = drop_dir.join("sauvegarde-moodle2-course-40-quiz-20261201-0900.mbz");
    let stat_before = state_of(&t, "elea-quiz-40")["stat"].clone();
    std::fs::remove_file(&dropped).unwrap();
    std::fs::copy(&mbz, &dropped).unwrap();
    let r = mirror(&config);
    assert_eq!(r.status("elea-quiz-40"), "unchanged", "{}", r.stdout);
    assert_eq!(r.line("elea-quiz-40")["version"], 1);
    assert_ne!(state_of(&t, "elea-quiz-40")["stat"], stat_before, "the new stat was not remembered");
    assert_eq!(catalog_version(&repo), v1);

    // A newer backup of the same course replaces the older: built as its next version.
    let newer = drop_dir.join("sauvegarde-moodle2-course-40-quiz-20261208-0900.mbz");
    // Another real backup plays the course's next state.
    std::fs::copy(&mbz2, &newer).unwrap();
    let later = std::time::SystemTime::now() + Duration::from_secs(60);
    std::fs::File::options().write(true).open(&newer).unwrap().set_modified(later).unwrap();
    std::fs::remove_file(drop_dir.join("cassee.mbz")).unwrap();
    let r3 = mirror(&config);
    assert_eq!(r3.status("elea-quiz-40"), "built", "{}", r3.stdout);
    assert_eq!(r3.line("elea-quiz-40")["version"], 2);
    assert!(r3.line("elea-quiz-40")["origin"].as_str().unwrap().ends_with("20261208-0900.mbz"));
    verify(&repo, &t.p("key"));

    // The drop folder cannot be listed (a share not mounted): its backups are not taken
    // for gone, and come back unchanged with the folder.
    let away = t.p("depot-ailleurs");
    std::fs::rename(&drop_dir, &away).unwrap();
    let r4 = mirror(&config);
    assert_eq!(r4.status("elea-*"), "failed", "{}", r4.stdout);
    assert_eq!(r4.report["not_followed"], 0, "{}", r4.stdout);
    assert_eq!(state_of(&t, "elea-quiz-40")["version"], 2);
    std::fs::rename(&away, &drop_dir).unwrap();
    let r5 = mirror(&config);
    assert_eq!(r5.status("elea-quiz-40"), "unchanged", "{}", r5.stdout);
    drop(daemon);
}

#[test]
fn a_bad_configuration_exits_2_naming_every_bad_entry() {
    let t = Setup::new();
    let config = t.config(
        "[[git]]\nid = \"Pas Bon\"\nurl = \"https://forge.example/a.git\"\n\
         [[git]]\nid = \"ok\"\nurl = \"ext::sh -c id\"\n\
         [[zim]]\nid = \"ok\"\npath = \"/srv/x.zim\"\n",
    );
    let out = preau(&["mirror", "--config", s(&config)]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in ["git[0] (id \"Pas Bon\")", "git[1] (id \"ok\"): url", "zim[0] (id \"ok\"): the same id as git[1]"] {
        assert!(err.contains(needle), "{needle:?} not in {err}");
    }
    assert!(!t.p("state").exists(), "a bad configuration must not start a run");
    // An unknown key is a typo, named.
    std::fs::write(
        &config,
        "repo = \"/x\"\nkey = \"/k\"\nstate = \"/s\"\n[[git]]\nid = \"a\"\nurl = \"/r\"\nbrnach = \"x\"\n",
    )
    .unwrap();
    let out = preau(&["mirror", "--config", s(&config)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("brnach"));
}

#[test]
fn publishes_to_s3_and_pushes_nothing_when_nothing_changed() {
    let Some(venv) = s3_support::venv() else { return };
    let moto = s3_support::Moto::start(&venv);
    let t = Setup::new();
    let a = Project::new(&t.p("forge"), "svt");
    a.commit(&[("public/index.html", "<h1>SVT</h1>"), ("public/cellule.html", "<p>La cellule</p>")], "first");
    // A file:// URL here (git daemon is the other tests').
    let text = format!(
        "repo = \"s3://{}/mirror\"\nkey = {:?}\nstate = {:?}\n[s3]\nendpoint = {:?}\ncache = {:?}\n\
         [build]\noffline = true\n[[git]]\nid = \"forge-svt\"\nurl = \"file://{}\"\n",
        s3_support::BUCKET,
        s(&t.p("key")),
        s(&t.p("state")),
        moto.endpoint(),
        s(&t.p("s3-cache")),
        a.dir.display()
    );
    let config = t.p("mirror.toml");
    std::fs::write(&config, text).unwrap();
    // Credentials in the environment only, as for `pack build`.
    let env = [
        ("AWS_ACCESS_KEY_ID", "preau-test"),
        ("AWS_SECRET_ACCESS_KEY", s3_support::SECRET),
        ("AWS_REGION", "us-east-1"),
    ];
    let url = moto.repo_url("mirror");
    let repo = Path::new(&url);

    let r1 = mirror_with(&config, &env);
    assert_eq!((r1.code, r1.status("forge-svt")), (0, "built"), "{}", r1.stdout);
    verify(repo, &t.p("key"));
    let v1 = catalog_version(repo);

    let r2 = mirror_with(&config, &env);
    assert_eq!((r2.code, r2.status("forge-svt")), (0, "unchanged"), "{}", r2.stdout);
    assert_eq!(catalog_version(repo), v1);

    a.commit(&[("public/cellule.html", "<p>La cellule, le noyau</p>")], "second");
    let r3 = mirror_with(&config, &env);
    assert_eq!((r3.code, r3.status("forge-svt")), (0, "built"), "{}", r3.stdout);
    assert_eq!(r3.line("forge-svt")["version"], 2);
    verify(repo, &t.p("key"));
    assert!(catalog_version(repo) > v1);
    assert_eq!(extracted(repo, "forge-svt", &t.p("x")), a.head_site());
    for f in ["state/state.json", "state/report.json"] {
        let text = std::fs::read_to_string(t.p(f)).unwrap();
        assert!(!text.contains(s3_support::SECRET), "the secret is in {f}");
    }
}

#[test]
fn a_second_run_at_once_does_nothing_and_says_so() {
    use std::os::fd::AsRawFd;
    let t = Setup::new();
    let config = t.config("");
    std::fs::create_dir_all(t.p("state")).unwrap();
    // The lock a run in progress holds (a timer firing during a long run).
    let held = std::fs::File::create(t.p("state/.lock")).unwrap();
    assert_eq!(unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }, 0);
    let out = preau(&["mirror", "--config", s(&config)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another `preau mirror` run"));
    assert!(!t.p("state/report.json").exists());
    drop(held);
    // Another test's child forked between our open and its exec holds a copy of the
    // descriptor for a moment (the lock belongs to the open file, not to the fd): wait
    // until the lock is really free, as a timer's next run would find it.
    let probe = std::fs::File::open(t.p("state/.lock")).unwrap();
    let free = (0..200).any(|_| {
        let got = unsafe { libc::flock(probe.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if !got {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        got
    });
    assert!(free, "the test's own lock was not released within 10 s");
    drop(probe);
    // Released: an empty configuration runs and reports nothing to do.
    let out = preau(&["mirror", "--config", s(&config)]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(t.p("state/report.json").exists());
}

#[test]
fn a_source_whose_build_fails_is_not_recorded_and_is_built_once_fixed() {
    let t = Setup::new();
    let a = Project::new(&t.p("forge"), "lourd");
    a.commit(&[("public/index.html", "<h1>Lourd</h1>"), ("public/video.bin", &"x".repeat(5000))], "first");
    let text = format!(
        "repo = {:?}\nkey = {:?}\nstate = {:?}\n[build]\noffline = true\nmax_file_size = 4096\n\
         [[git]]\nid = \"forge-lourd\"\nurl = \"file://{}\"\n",
        s(&t.p("repo")),
        s(&t.p("key")),
        s(&t.p("state")),
        a.dir.display()
    );
    let config = t.p("mirror.toml");
    std::fs::write(&config, text).unwrap();

    // The build refuses the file over max_file_size: failed, and nothing recorded.
    let r1 = mirror(&config);
    assert_eq!((r1.code, r1.status("forge-lourd")), (1, "failed"), "{}", r1.stdout);
    assert!(r1.line("forge-lourd")["detail"].as_str().unwrap().contains("video.bin"), "{}", r1.stdout);
    let state = std::fs::read_to_string(t.p("state/state.json")).unwrap_or_default();
    assert!(!state.contains("forge-lourd"), "a failed source was recorded: {state}");

    // Same commit, next run: tried again (not "unchanged"), fails again.
    let r2 = mirror(&config);
    assert_eq!(r2.status("forge-lourd"), "failed");

    // Fixed upstream: built, recorded; the text report says so.
    let head = a.commit(&[("public/video.bin", "petit")], "smaller");
    let out = preau(&["mirror", "--config", s(&config)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("built     forge-lourd v1"), "{text}");
    assert!(text.contains("1 built, 0 unchanged, 0 failed"), "{text}");
    let state: Value = serde_json::from_str(&std::fs::read_to_string(t.p("state/state.json")).unwrap()).unwrap();
    assert_eq!(state["packs"]["forge-lourd"]["fingerprint"], head.as_str());
    assert_eq!(state["packs"]["forge-lourd"]["version"], 1);
}

/// The public key (64 hex digits) of the key file `key`.
fn public_key(key: &Path) -> String {
    std::fs::read_to_string(format!("{}.pub", key.display())).unwrap().trim().to_string()
}

/// The keys whose signatures the repository's catalog.json carries.
fn catalog_signers(repo: &Path) -> Vec<String> {
    let top: Value = serde_json::from_slice(&std::fs::read(repo.join("catalog.json")).unwrap()).unwrap();
    top["signatures"].as_array().unwrap().iter().map(|s| s["keyid"].as_str().unwrap().to_string()).collect()
}

fn keygen(path: &Path) {
    let out = preau(&["keygen", "--out", s(path)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn authorize(repo: &Path, root_key: &Path, add: &[&Path]) {
    let mut args = vec!["pack", "authorize-key", "--repo", s(repo), "--key", s(root_key)];
    let pubs: Vec<String> = add.iter().map(|k| format!("{}.pub", k.display())).collect();
    for p in &pubs {
        args.extend(["--add", p.as_str()]);
    }
    let out = preau(&args);
    assert!(out.status.success(), "authorize-key: {}", String::from_utf8_lossy(&out.stderr));
}

/// Two Forge projects, each with its own publisher key, published into one repository
/// whose root authorises both keys: each publication is signed by its source's key, the
/// report says which (the public key, never the secret), and the repository verifies.
#[test]
fn each_source_is_signed_with_its_own_key() {
    let t = Setup::new();
    let repo = t.p("repo");
    let (key_a, key_b) = (t.p("equipe-maths.key"), t.p("equipe-svt.key"));
    keygen(&key_a);
    keygen(&key_b);
    // The national team's repository: created with its root key, which authorises the
    // two source teams' keys to sign the catalog.
    std::fs::create_dir_all(t.p("accueil")).unwrap();
    std::fs::write(t.p("accueil/index.html"), "<h1>Accueil</h1>").unwrap();
    let out = preau(&[
        "pack",
        "build",
        s(&t.p("accueil")),
        "--repo",
        s(&repo),
        "--key",
        s(&t.p("key")),
        "--id",
        "accueil",
        "--verbatim",
        "--json",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    authorize(&repo, &t.p("key"), &[&key_a, &key_b]);

    let a = Project::new(&t.p("forge"), "maths");
    let b = Project::new(&t.p("forge"), "svt");
    a.commit(&[("public/index.html", "<h1>Maths</h1>")], "first");
    b.commit(&[("public/index.html", "<h1>SVT</h1>")], "first");
    let config = t.config(&format!(
        "[[git]]\nid = \"forge-maths\"\nurl = \"file://{}\"\nkey = {:?}\n\
         [[git]]\nid = \"forge-svt\"\nurl = \"file://{}\"\nkey = {:?}\n",
        a.dir.display(),
        s(&key_a),
        b.dir.display(),
        s(&key_b)
    ));
    let (pub_a, pub_b) = (public_key(&key_a), public_key(&key_b));
    assert_ne!(pub_a, pub_b);

    let r1 = mirror(&config);
    assert_eq!(r1.code, 0, "{}", r1.stdout);
    assert_eq!((r1.status("forge-maths"), r1.status("forge-svt")), ("built", "built"), "{}", r1.stdout);
    assert_eq!(r1.line("forge-maths")["key"], pub_a.as_str());
    assert_eq!(r1.line("forge-svt")["key"], pub_b.as_str());
    for secret in [&key_a, &key_b] {
        let text = std::fs::read_to_string(secret).unwrap();
        let hex = text.lines().last().unwrap().trim_start_matches("PREAU-ED25519-SECRET-");
        assert!(!r1.stdout.contains(hex), "a secret key is in the report");
    }
    // The last publication (forge-svt's) signed the catalog with its own key.
    assert_eq!(catalog_signers(&repo), vec![pub_b.clone()]);
    verify(&repo, &t.p("key"));
    assert_eq!(extracted(&repo, "forge-maths", &t.p("x1")), a.head_site());
    assert_eq!(extracted(&repo, "forge-svt", &t.p("x2")), b.head_site());

    // A commit in forge-maths: published with its key; forge-svt, unchanged, still says
    // the key that signed its version.
    a.commit(&[("public/index.html", "<h1>Maths, v2</h1>")], "second");
    let r2 = mirror(&config);
    assert_eq!((r2.status("forge-maths"), r2.status("forge-svt")), ("built", "unchanged"), "{}", r2.stdout);
    assert_eq!(r2.line("forge-maths")["key"], pub_a.as_str());
    assert_eq!(r2.line("forge-svt")["key"], pub_b.as_str());
    assert_eq!(catalog_signers(&repo), vec![pub_a.clone()]);
    verify(&repo, &t.p("key"));
    assert_eq!(extracted(&repo, "forge-maths", &t.p("x3")), a.head_site());

    // The text report names each key by its public key's first 16 hex digits.
    let out = preau(&["mirror", "--config", s(&config)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("forge-maths v2 (") && text.contains(&pub_a[..16]), "{text}");
    assert!(text.contains(&pub_b[..16]), "{text}");
}

/// A source whose key file is missing, and one whose key the repository's root does not
/// authorise, fail alone, each naming its key file; the other source is built. Once the
/// root authorises the key, that source is built with it.
#[test]
fn a_missing_or_unauthorised_key_fails_that_source_alone() {
    let t = Setup::new();
    let repo = t.p("repo");
    let intrus = t.p("intrus.key");
    keygen(&intrus);
    let missing = t.p("cles/absente.key");
    let projects: Vec<Project> = ["ok", "sans-cle", "intrus"].iter().map(|n| Project::new(&t.p("forge"), n)).collect();
    for p in &projects {
        p.commit(&[("public/index.html", "<h1>Cours</h1>")], "first");
    }
    // "ok" takes the top-level key and, built first, creates the repository with it.
    let config = t.config(&format!(
        "[[git]]\nid = \"ok\"\nurl = \"file://{}\"\n\
         [[git]]\nid = \"sans-cle\"\nurl = \"file://{}\"\nkey = {:?}\n\
         [[git]]\nid = \"intrus\"\nurl = \"file://{}\"\nkey = {:?}\n",
        projects[0].dir.display(),
        projects[1].dir.display(),
        s(&missing),
        projects[2].dir.display(),
        s(&intrus)
    ));
    let r1 = mirror(&config);
    assert_eq!(r1.code, 1, "{}", r1.stdout);
    assert_eq!(r1.status("ok"), "built", "{}", r1.stdout);
    assert_eq!(r1.line("ok")["key"], public_key(&t.p("key")).as_str());
    assert_eq!(r1.status("sans-cle"), "failed");
    let why = r1.line("sans-cle")["detail"].as_str().unwrap();
    assert!(why.contains(s(&missing)), "the missing key file is not named: {why}");
    assert_eq!(r1.status("intrus"), "failed");
    let why = r1.line("intrus")["detail"].as_str().unwrap();
    assert!(why.contains("not authorised") && why.contains(s(&intrus)), "{why}");
    assert!(why.contains("authorize-key"), "the way out is not said: {why}");
    assert_eq!((r1.report["built"].as_u64(), r1.report["failed"].as_u64()), (Some(1), Some(2)));
    verify(&repo, &t.p("key"));
    let list: Value = serde_json::from_slice(&preau(&["pack", "list", "--repo", s(&repo), "--json"]).stdout).unwrap();
    assert!(list["packs"].get("intrus").is_none(), "an unauthorised key's pack was published");

    // The root key authorises the newcomer: built with its own key at the next run.
    authorize(&repo, &t.p("key"), &[&intrus]);
    let r2 = mirror(&config);
    assert_eq!(r2.status("intrus"), "built", "{}", r2.stdout);
    assert_eq!(r2.line("intrus")["key"], public_key(&intrus).as_str());
    assert_eq!((r2.status("ok"), r2.status("sans-cle")), ("unchanged", "failed"));
    assert_eq!(catalog_signers(&repo), vec![public_key(&intrus)]);
    verify(&repo, &t.p("key"));
}

/// A Forge project that is a hand-written static site (no Markdown, no mkdocs.yml) is
/// mirrored as it is: its own index.html byte for byte, its pages and stylesheet.
#[test]
fn a_hand_written_html_site_keeps_its_own_index() {
    let t = Setup::new();
    let a = Project::new(&t.p("forge"), "histoire");
    let files = [
        (
            "index.html",
            "<!DOCTYPE html><html lang=\"fr\"><head><title>Histoire</title><link rel=\"stylesheet\" href=\"style.css\">\
             </head><body><h1>Histoire</h1><a href=\"page.html\">Le Moyen Âge</a></body></html>\n",
        ),
        (
            "page.html",
            "<html><head><link rel=\"stylesheet\" href=\"style.css\"></head><body><a href=\"index.html\">Accueil</a></body></html>",
        ),
        ("style.css", "h1 { color: navy; }\n"),
    ];
    a.commit(&files, "site");
    let config = t.config(&format!("[[git]]\nid = \"forge-histoire\"\nurl = \"file://{}\"\n", a.dir.display()));
    let r = mirror(&config);
    assert_eq!((r.code, r.status("forge-histoire")), (0, "built"), "{}", r.stdout);
    verify(&t.p("repo"), &t.p("key"));
    let got = extracted(&t.p("repo"), "forge-histoire", &t.p("x"));
    let want: BTreeMap<String, Vec<u8>> = files.iter().map(|(p, b)| (p.to_string(), b.as_bytes().to_vec())).collect();
    assert_eq!(got, want, "the site was not mirrored as it is");
}
