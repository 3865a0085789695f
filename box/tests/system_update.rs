//! Software updates with real processes on loopback (issue 18): `preau system supervise`
//! runs `preau serve`, a system pack published with `preau system publish` and pulled
//! with `preau sync pull` (the same signed, delta-synced path as content) is installed
//! as the other A/B slot, the box restarts into it, and a release that never answers
//! `/healthz` is rolled back by itself. Learner records and settings stay as they were.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::request;

fn preau(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_preau")).args(args).env("PREAU_LOG", "warn").output().unwrap();
    assert!(out.status.success(), "preau {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Supervisor(Child);

impl Drop for Supervisor {
    fn drop(&mut self) {
        // preau serve gets SIGTERM when its supervisor dies (parent-death signal).
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The program the supervisor's child runs now.
fn running(sup: &Child) -> Option<PathBuf> {
    let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", sup.id())).ok()?;
    let pid = children.split_whitespace().next()?;
    std::fs::read_link(format!("/proc/{pid}/exe")).ok()
}

fn healthy(port: u16) -> bool {
    std::panic::catch_unwind(|| request(([127, 0, 0, 1], port).into(), "GET", "/healthz", &[], b"").status == 200)
        .unwrap_or(false)
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while t.elapsed() < limit {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("timed out after {limit:?} waiting for {what}");
}

fn status(data: &Path) -> serde_json::Value {
    serde_json::from_str(&preau(&["system", "status", "--data", data.to_str().unwrap()])).unwrap()
}

fn publish(repo: &Path, key: &Path, serial: u64, bin: &Path) {
    preau(&[
        "system",
        "publish",
        "--repo",
        repo.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--serial",
        &serial.to_string(),
        "--version",
        &format!("test-{serial}"),
        "--bin",
        &format!("{}={}", std::env::consts::ARCH, bin.display()),
        "--level",
        "1",
    ]);
}

fn pull(repo: &Path, data: &Path, trust: &Path) {
    preau(&[
        "sync",
        "pull",
        "--from",
        repo.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--trust",
        trust.to_str().unwrap(),
    ]);
}

fn marker(data: &Path) -> Option<String> {
    let db = rusqlite::Connection::open(data.join("preau.sqlite")).unwrap();
    db.query_row("SELECT value FROM settings WHERE key = 'test.marker'", [], |r| r.get(0)).ok()
}

#[test]
fn a_box_updates_itself_and_goes_back_from_a_broken_release() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let national = tmp.path().join("national");
    let key = tmp.path().join("national.key");
    let pubkey = tmp.path().join("national.key.pub");
    preau(&["keygen", "--out", key.to_str().unwrap()]);
    let hex = preau_pack::PublicKey::read_file(&pubkey).unwrap().to_hex();
    let data = tmp.path().join("data");
    let config = tmp.path().join("preau.toml");
    let settings =
        format!("[box]\nschool = \"École de test\"\n[sync]\ntrusted_keys = [\"{hex}\"]\n[server]\nmdns = false\n");
    std::fs::write(&config, &settings).unwrap();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log = std::fs::File::create(tmp.path().join("supervisor.log")).unwrap();
    let sup = Supervisor(
        Command::new(env!("CARGO_BIN_EXE_preau"))
            .args(["system", "supervise", "--health-timeout", "15", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--data")
            .arg(&data)
            .arg("--config")
            .arg(&config)
            .env("PREAU_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let dump = || std::fs::read_to_string(tmp.path().join("supervisor.log")).unwrap_or_default();
    let image = std::fs::canonicalize(env!("CARGO_BIN_EXE_preau")).unwrap();
    wait_for("the image's binary to serve", Duration::from_secs(60), || healthy(port));
    assert_eq!(running(&sup.0), Some(image.clone()), "{}", dump());
    // Learner records and settings as a teacher left them.
    rusqlite::Connection::open(data.join("preau.sqlite"))
        .unwrap()
        .execute("INSERT INTO settings(key, value) VALUES ('test.marker', 'kept')", [])
        .unwrap();
    let last_good = std::fs::read(data.join("settings/last-good.toml")).unwrap();

    // v1: the same program, now from slot a.
    publish(&national, &key, 1, &image);
    pull(&national, &data, &pubkey);
    let slot_a = data.join("system/slots/a/preau");
    wait_for("v1 in slot a, kept", Duration::from_secs(90), || {
        running(&sup.0).as_deref() == Some(&slot_a) && status(&data)["state"]["trial"].is_null() && healthy(port)
    });
    assert_eq!(status(&data)["serial"], 1);

    // v2: another build (the same code with bytes after it), from slot b.
    let v2 = tmp.path().join("preau-v2");
    let mut bytes = std::fs::read(&image).unwrap();
    bytes.extend_from_slice(b"\npreau test build 2\n");
    std::fs::write(&v2, &bytes).unwrap();
    publish(&national, &key, 2, &v2);
    pull(&national, &data, &pubkey);
    let slot_b = data.join("system/slots/b/preau");
    wait_for("v2 in slot b, kept", Duration::from_secs(90), || {
        running(&sup.0).as_deref() == Some(&slot_b) && status(&data)["state"]["trial"].is_null() && healthy(port)
    });
    assert_eq!(std::fs::read(&slot_b).unwrap(), bytes, "slot b holds v2 byte for byte");
    assert_eq!(status(&data)["serial"], 2);
    assert_eq!(std::fs::read(&slot_a).unwrap(), std::fs::read(&image).unwrap(), "v1 kept as the previous one");

    // v3: broken (starts, never answers /healthz): tried in slot a, then back to v2.
    let v3 = tmp.path().join("preau-v3");
    let mut f = std::fs::File::create(&v3).unwrap();
    f.write_all(b"#!/bin/sh\n# a broken release: it never listens\nexec sleep 600\n").unwrap();
    drop(f);
    publish(&national, &key, 3, &v3);
    pull(&national, &data, &pubkey);
    wait_for("v3 refused, back on v2", Duration::from_secs(90), || {
        let s = status(&data);
        s["state"]["bad"] == serde_json::json!([3]) && s["current"] == "b" && healthy(port)
    });
    assert_eq!(running(&sup.0).as_deref(), Some(slot_b.as_path()), "{}", dump());
    let log = dump();
    assert!(log.contains("release serial 3 failed its health check"), "{log}");
    // Not tried again while it stays the newest release.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(status(&data)["current"], "b");
    assert_eq!(status(&data)["serial"], 2);

    assert_eq!(marker(&data).as_deref(), Some("kept"), "learner records untouched");
    assert_eq!(std::fs::read(data.join("settings/last-good.toml")).unwrap(), last_good, "settings untouched");
    // The system pack is not a pupil's content.
    let packs = request(([127, 0, 0, 1], port).into(), "GET", "/", &[], b"").text();
    assert!(!packs.contains("test-2") && !packs.contains("preau-system"), "{packs}");
    eprintln!("update test: {:.1} s", started.elapsed().as_secs_f64());
}
