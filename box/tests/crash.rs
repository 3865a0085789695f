//! Crash tests: `preau serve` is SIGKILLed at random moments while a pupil submits quiz
//! answers, then restarted; every answer that was acknowledged with success must be in
//! the records, whole, with its xAPI statements, and the store opens after every kill.
//! `preau sync pull` is SIGKILLed at random moments while it installs or updates a pack;
//! after every kill whatever is installed verifies, and the next pull completes it.
//!
//! `PREAU_CRASH_KILLS` sets the number of kills of each test (200 and 20 by default);
//! `.ci/scale/crash.sh` runs them with 1,000 (figures in BENCHMARKS.md).

mod app_support;
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use preau_classroom::{store::Store, store::Who, testkit};

/// The kills of a test: `PREAU_CRASH_KILLS`, else `default`.
fn kills(default: usize) -> usize {
    std::env::var("PREAU_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| (1..=100_000).contains(n))
        .unwrap_or(default)
}
const TOKEN: &str = "0123456789abcdef0123456789abcdef";

/// One HTTP/1.1 request; `None` when the connection fails (the server was killed).
/// `csrf`: the token the server issued (CSRF tokens carry its MAC), empty before the first page.
fn http(addr: SocketAddr, method: &str, path: &str, body: &str, csrf: &str) -> Option<(u16, String, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: preau_session={TOKEN}; preau_csrf={csrf}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).ok()?;
    let text = String::from_utf8_lossy(&resp).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n")?;
    let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
    let location = head
        .lines()
        .find_map(|l| l.strip_prefix("location: ").or_else(|| l.strip_prefix("Location: ")))
        .unwrap_or("")
        .to_string();
    Some((status, location, rest.to_string()))
}

/// xorshift64*: enough randomness for kill timings, reproducible from the printed seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn crash_test_acknowledged_answers_survive_sigkill() {
    let kills = kills(200);
    let started = std::time::Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    app_support::install_test_pack(&data, &[]);
    let pupil = {
        let store = Store::open(&data.join("preau.sqlite"), "test-box").unwrap();
        let class = store.create_class("CM2").unwrap();
        let pupil = store.create_pupil(class, "Léa").unwrap();
        // Sessions expire on the server (a school day): start this one now.
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        store.create_session(Who::Pupil(pupil), TOKEN, now).unwrap();
        pupil
    };
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    println!("crash test seed {seed}");
    let mut rng = Rng(seed);
    let quiz = format!("/packs/{}/_quiz/quiz-1", testkit::DEMO);
    // (attempt id, the unique answer it carried) for every acknowledged submission.
    let mut acked: Vec<(i64, String)> = Vec::new();
    let mut counter = 0u64;
    for round in 0..kills {
        let server = common::Server::start_in(&data, "");
        let addr = server.addr;
        let stop = Arc::new(AtomicBool::new(false));
        let client = {
            let stop = stop.clone();
            let quiz = quiz.clone();
            let base = counter;
            std::thread::spawn(move || {
                let mut acks = Vec::new();
                let mut i = base;
                let mut csrf = String::new();
                while !stop.load(Ordering::Relaxed) {
                    // Which attempt number the quiz expects now.
                    let Some((200, _, page)) = http(addr, "GET", &quiz, "", &csrf) else { break };
                    // The page repeats the token in its form (a new one after each restart).
                    if let Some(t) = page.split("name=\"csrf\" value=\"").nth(1).and_then(|r| r.split('"').next()) {
                        csrf = t.to_string();
                    }
                    let Some(n) = page.split("name=\"n\" value=\"").nth(1).and_then(|r| r.split('"').next()) else {
                        panic!("no attempt number in the quiz page");
                    };
                    i += 1;
                    let answer = format!("answer-{round}-{i}");
                    let body = format!("csrf={csrf}&n={n}&q0=1&q1=true&q2={answer}&q3=12");
                    match http(addr, "POST", &quiz, &body, &csrf) {
                        Some((303, location, _)) => {
                            let id: i64 = location.rsplit('/').next().unwrap().parse().unwrap();
                            acks.push((id, answer));
                        }
                        Some((409, _, _)) => {} // raced with a previous unacknowledged commit
                        Some((status, _, body)) => panic!("unexpected answer {status}: {body}"),
                        None => break,
                    }
                }
                (acks, i)
            })
        };
        // Let the client work for a random moment, then pull the plug.
        std::thread::sleep(Duration::from_micros(rng.next() % 40_000));
        drop(server); // SIGKILL (Child::kill), then reap
        stop.store(true, Ordering::Relaxed);
        let (acks, last) = client.join().expect("client thread");
        counter = last;
        acked.extend(acks);
        // The store opens after every kill (the next start would also refuse otherwise).
        Store::open(&data.join("preau.sqlite"), "test-box")
            .unwrap_or_else(|e| panic!("the store does not open after kill {round}: {e}"));
    }
    let db = rusqlite::Connection::open(data.join("preau.sqlite")).unwrap();
    let check: String = db.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok", "SQLite integrity after {kills} kills");
    drop(db);
    assert!(acked.len() >= kills / 4, "too few acknowledged submissions to prove anything: {}", acked.len());
    // Every acknowledged attempt is in the records, with the answer it carried.
    let store = Store::open(&data.join("preau.sqlite"), "test-box").unwrap();
    for (id, answer) in &acked {
        let attempt = store.attempt(*id).unwrap().unwrap_or_else(|| panic!("acknowledged attempt {id} lost"));
        assert_eq!(attempt.pupil_id, pupil);
        let q3 = attempt.answers.iter().find(|(_, a)| a.question == "q3").expect("q3 answered");
        assert_eq!(&q3.1.response, answer, "attempt {id} holds another answer");
        assert_eq!(attempt.answers.len(), 5, "attempt {id} is whole");
    }
    // Each attempt came with its xAPI statements, in the same transaction.
    let attempts = store.attempt_count(pupil, testkit::DEMO, "quiz-1").unwrap();
    let completed = store
        .outbox_pending(1_000_000)
        .unwrap()
        .iter()
        .filter(|(_, s)| s["verb"]["display"]["en-US"] == "completed")
        .count();
    assert_eq!(completed, attempts, "one completed statement per attempt");
    println!(
        "{kills} kills, {} acknowledged submissions, {attempts} attempts stored, integrity ok, {:.1} s",
        acked.len(),
        started.elapsed().as_secs_f64()
    );
}

/// A folder of `n` files of noise (`seed` changes their bytes).
fn noise_folder(dir: &std::path::Path, n: usize, seed: u64) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("index.html"), format!("<!doctype html><title>v{seed}</title><p>version {seed}")).unwrap();
    for i in 0..n {
        let bytes = common::noise(8192 + (i % 7) * 4096, seed.wrapping_mul(1000).wrapping_add(i as u64));
        std::fs::write(dir.join(format!("f{i:03}.bin")), bytes).unwrap();
    }
}

fn preau(args: &[&std::ffi::OsStr]) -> std::process::Output {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_preau")).args(args).output().unwrap();
    assert!(out.status.success(), "preau {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn pull_cmd(from: &std::path::Path, data: &std::path::Path, trust: &std::path::Path) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_preau"));
    c.args(["sync", "pull", "--from"]).arg(from).arg("--data").arg(data).arg("--trust").arg(trust);
    c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    c
}

/// The installed version of pack `p` on the box at `data`, if any.
fn installed_version(data: &std::path::Path) -> Option<u64> {
    let repo = data.join("repo");
    repo.join(preau_pack::installed::INSTALLED_FILE).is_file().then_some(())?;
    let installed = preau_pack::installed::Installed::load(&repo).unwrap();
    installed.packs.get("p").map(|p| p.version)
}

/// What a box must hold after any kill: nothing, or installed packs whose every file
/// reads back whole (hash-checked), and a repository that verifies against the key.
fn assert_box_whole(data: &std::path::Path, key: &preau_pack::PublicKey, round: usize) {
    let dir = data.join("repo");
    if !dir.join(preau_pack::installed::INSTALLED_FILE).is_file() {
        return;
    }
    let repo = preau_pack::Repo::open(&dir).unwrap_or_else(|e| panic!("kill {round}: repository does not open: {e}"));
    let report = preau_pack::verify::verify_repo(&repo, Some(std::slice::from_ref(key)))
        .unwrap_or_else(|e| panic!("kill {round}: the box's repository does not verify: {e}"));
    // A box keeps only the update bundles and manifest deltas it used (none from a folder
    // source): the catalog it copied names others, which its peers then do without
    // (`preau pack verify --repo DATA/repo` lists them too, even after clean pulls).
    let optional = |p: &String| {
        (p.contains("update bundle from") && p.contains("No such file"))
            || (p.contains("manifest delta: object") && p.contains("is missing"))
    };
    let problems: Vec<&String> = report.problems.iter().filter(|p| !optional(p)).collect();
    assert!(problems.is_empty(), "kill {round}: the box's repository does not verify: {problems:?}");
    let installed = preau_pack::installed::Installed::load(&dir).unwrap();
    for (id, p) in &installed.packs {
        let m = repo.read_manifest(&p.manifest, p.manifest_size).unwrap_or_else(|e| panic!("kill {round}: {id}: {e}"));
        for f in &m.files {
            // `read_file` checks every chunk and the whole file against their hashes.
            repo.read_file(f).unwrap_or_else(|e| panic!("kill {round}: {id}/{}: {e}", f.path));
        }
    }
}

#[test]
fn crash_test_sync_applies_survive_sigkill() {
    let kills = kills(20);
    let started = std::time::Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let key = t.join("key");
    preau(&["keygen".as_ref(), "--out".as_ref(), key.as_os_str()]);
    let trust = t.join("key.pub");
    let public = preau_pack::PublicKey::from_hex(std::fs::read_to_string(&trust).unwrap().trim()).unwrap();
    // Repository A holds version 1 of pack `p`; B the same repository after version 2
    // (60 of 120 files changed, 20 added): a first install, then an update.
    let (v1, v2) = (t.join("v1"), t.join("v2"));
    noise_folder(&v1, 120, 1);
    noise_folder(&v2, 140, 2);
    for i in 60..120 {
        std::fs::copy(v1.join(format!("f{i:03}.bin")), v2.join(format!("f{i:03}.bin"))).unwrap();
    }
    let (repo_a, repo_b) = (t.join("repo-a"), t.join("repo-b"));
    let build = |src: &std::path::Path, repo: &std::path::Path| {
        preau(&[
            "pack".as_ref(),
            "build".as_ref(),
            src.as_os_str(),
            "--repo".as_ref(),
            repo.as_os_str(),
            "--key".as_ref(),
            key.as_os_str(),
            "--id".as_ref(),
            "p".as_ref(),
            "--level".as_ref(),
            "3".as_ref(),
        ]);
    };
    build(&v1, &repo_a);
    let copied = std::process::Command::new("cp").arg("-a").arg(&repo_a).arg(&repo_b).status().unwrap();
    assert!(copied.success());
    build(&v2, &repo_b);
    // How long an uninterrupted pull takes, to kill inside it.
    let data = t.join("data");
    let time = |from: &std::path::Path| {
        let at = std::time::Instant::now();
        assert!(pull_cmd(from, &data, &trust).status().unwrap().success());
        at.elapsed()
    };
    let full = [time(&repo_a), time(&repo_b)];
    assert_eq!(installed_version(&data), Some(2));
    std::fs::remove_dir_all(&data).unwrap();
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    println!("sync crash test seed {seed}; uninterrupted pulls {:?}", full);
    let mut rng = Rng(seed);
    let (mut mid, mut completed, mut updates) = (0usize, 0usize, 0usize);
    for round in 0..kills {
        // Back to an empty box after version 2, and every third round, so that kills land
        // in first installs as well as in updates.
        if data.exists() && (installed_version(&data) == Some(2) || round % 3 == 0) {
            std::fs::remove_dir_all(&data).unwrap();
        }
        let update = installed_version(&data) == Some(1);
        let (from, span) = if update { (&repo_b, full[1]) } else { (&repo_a, full[0]) };
        let mut child = pull_cmd(from, &data, &trust).spawn().unwrap();
        let wait = span.as_micros() as u64 * 12 / 10;
        std::thread::sleep(Duration::from_micros(rng.next() % wait.max(1)));
        match child.try_wait().unwrap() {
            Some(st) => {
                assert!(st.success(), "kill {round}: an uninterrupted pull failed: {st}");
                completed += 1;
            }
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                mid += 1;
                updates += usize::from(update);
            }
        }
        assert_box_whole(&data, &public, round);
    }
    // The last state, whatever it is, is completed by an uninterrupted pull.
    if installed_version(&data) != Some(1) && installed_version(&data) != Some(2) {
        assert!(pull_cmd(&repo_a, &data, &trust).status().unwrap().success());
    }
    assert!(pull_cmd(&repo_b, &data, &trust).status().unwrap().success());
    assert_eq!(installed_version(&data), Some(2));
    assert_box_whole(&data, &public, kills);
    assert!(mid >= kills / 4, "too few kills landed inside a pull to prove anything: {mid} of {kills}");
    println!(
        "{kills} rounds: {mid} pulls killed ({updates} of them updates), {completed} completed before the kill; every state verified; {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
