//! The upstream push against a real LRS: Ralph 5.1.0 (FUN's learning record store) on its
//! MongoDB backend, with nx-27017 (the MongoDB wire protocol over SQLite) under it, both
//! from the venv `.ci/install.d/75-lrs.sh` makes. Pupils answer quizzes on a real
//! `preau serve`; the box pushes (the background loop, then `preau upstream push` through
//! a fault-injecting proxy and under SIGKILLs); the LRS's own `GET /xAPI/statements` must
//! return every statement of the outbox exactly once, with no name and no free text.

mod app_support;
mod common;

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use preau_classroom::store::{Store, Who};
use preau_classroom::testkit;
use serde_json::Value;

const USER: &str = "preau-box";
const HOME: &str = "https://preau.example.org/";
const HEALTH_VERB: &str = "urn:preau:xapi:verb:reported-health";

fn venv() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var("PREAU_RALPH_VENV").unwrap_or_else(|_| "/opt/preau-ci/ralph".into()));
    if dir.join("bin/uvicorn").is_file() && dir.join("bin/nx-27017").is_file() && dir.join("bin/ralph").is_file() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("the Ralph venv is missing at {} (run .ci/install.d/75-lrs.sh)", dir.display());
    }
    println!("skipped: no Ralph venv at {} (run .ci/install.d/75-lrs.sh)", dir.display());
    None
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn b64(input: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in input.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A process group started by the test, killed whole when dropped (even on panic).
struct Group(Child);
impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", self.0.id())]).status();
        let _ = self.0.wait();
    }
}

/// Ralph on nx-27017, on free 127.0.0.1 ports, with credentials the test made.
struct Lrs {
    port: u16,
    password: String,
    _ralph: Group,
    _mongo: Group,
}

impl Lrs {
    fn start(venv: &Path, dir: &Path) -> Lrs {
        let bin = venv.join("bin");
        let (mport, port) = (free_port(), free_port());
        let log = |name: &str| std::fs::File::create(dir.join(name)).unwrap();
        let mongo = Group(
            Command::new(bin.join("nx-27017"))
                .arg("--db")
                .arg(dir.join("nx.sqlite"))
                .args(["--host", "127.0.0.1", "-p", &mport.to_string()])
                .arg("--log-file")
                .arg(dir.join("nx.log"))
                .arg("--pid-file")
                .arg(dir.join("nx.pid"))
                .stdout(log("nx.out"))
                .stderr(log("nx.err"))
                .process_group(0)
                .spawn()
                .expect("start nx-27017"),
        );
        let password = format!("pw-{}", std::process::id());
        let env = [
            ("RALPH_AUTH_FILE", dir.join("auth.json").display().to_string()),
            ("RALPH_APP_DIR", dir.join("ralph-app").display().to_string()),
            ("RALPH_RUNSERVER_BACKEND", "mongo".to_string()),
            ("RALPH_BACKENDS__LRS__MONGO__CONNECTION_URI", format!("mongodb://127.0.0.1:{mport}/")),
        ];
        let ok = Command::new(bin.join("ralph"))
            .args(["auth", "-u", USER, "-p", &password, "-s", "statements/write", "-s", "statements/read"])
            .args(["-A", USER, "https://lrs.test/", "-w"])
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(log("auth.err"))
            .status()
            .unwrap();
        assert!(ok.success(), "ralph auth failed: {}", std::fs::read_to_string(dir.join("auth.err")).unwrap());
        let ralph = Group(
            Command::new(bin.join("uvicorn"))
                .args(["ralph.api:app", "--host", "127.0.0.1", "--port", &port.to_string()])
                .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                .stdout(log("ralph.out"))
                .stderr(log("ralph.err"))
                .process_group(0)
                .spawn()
                .expect("start ralph"),
        );
        let lrs = Lrs { port, password, _ralph: ralph, _mongo: mongo };
        let t = Instant::now();
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() && lrs.get("/xAPI/statements?limit=1").status == 200 {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(90),
                "Ralph did not start: {}",
                std::fs::read_to_string(dir.join("ralph.err")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        lrs
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn get(&self, path: &str) -> common::Resp {
        let auth = format!("Basic {}", b64(format!("{USER}:{}", self.password).as_bytes()));
        common::request(
            self.addr(),
            "GET",
            path,
            &[("authorization", &auth), ("x-experience-api-version", "1.0.3")],
            b"",
        )
    }

    /// Every statement the LRS holds, through its own query API (following `more`).
    fn statements(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut path = "/xAPI/statements?limit=100".to_string();
        for _ in 0..1000 {
            let r = self.get(&path);
            assert_eq!(r.status, 200, "{}", r.text());
            let v: Value = serde_json::from_slice(&r.body).unwrap();
            out.extend(v["statements"].as_array().unwrap().iter().cloned());
            match v["more"].as_str() {
                Some(m) if !m.is_empty() => path = m.to_string(),
                _ => return out,
            }
        }
        panic!("too many pages");
    }
}

/// One HTTP/1.1 request to the box with a pupil's session.
/// `csrf`: the token the server issued (CSRF tokens carry its MAC), empty before the first page.
fn box_http(addr: SocketAddr, token: &str, csrf: &str, method: &str, path: &str, body: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: preau_session={token}; preau_csrf={csrf}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let text = String::from_utf8_lossy(&resp).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let location = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("location: ").map(str::to_string))
        .unwrap_or_default();
    (status, location, rest.to_string())
}

/// Pupils answer the quiz `attempts` times each on a real `preau serve` (no upstream).
/// Every answer carries free text that must never reach the LRS.
fn pupils_answer(data: &Path, tokens: &[String], attempts: usize, tag: &str) {
    let server = common::Server::start_in(data, "");
    let quiz = format!("/packs/{}/_quiz/quiz-1", testkit::DEMO);
    for (p, token) in tokens.iter().enumerate() {
        let mut csrf = String::new();
        for i in 0..attempts {
            let (st, _, page) = box_http(server.addr, token, &csrf, "GET", &quiz, "");
            assert_eq!(st, 200, "{page}");
            // The page repeats the token in its form (a new one after each restart).
            if let Some(t) = page.split("name=\"csrf\" value=\"").nth(1).and_then(|r| r.split('"').next()) {
                csrf = t.to_string();
            }
            let n = page.split("name=\"n\" value=\"").nth(1).and_then(|r| r.split('"').next()).unwrap().to_string();
            let body = format!(
                "csrf={csrf}&n={n}&q0=1&q1=true&q2=secret-short-{tag}-{p}-{i}&q3=12&q4=secret-essay-{tag}-{p}-{i}"
            );
            let (st, loc, page) = box_http(server.addr, token, &csrf, "POST", &quiz, &body);
            assert_eq!(st, 303, "{page}");
            assert!(loc.contains("/pupil/attempt/"));
        }
    }
}

/// Ids in the outbox, and the ids marked sent.
fn outbox(data: &Path) -> (Vec<String>, HashSet<String>) {
    let c = rusqlite::Connection::open(data.join("preau.sqlite")).unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    let mut st = c.prepare("SELECT id, sent IS NOT NULL FROM outbox ORDER BY rowid").unwrap();
    let rows: Vec<(String, bool)> =
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<Result<_, _>>().unwrap();
    (rows.iter().map(|(id, _)| id.clone()).collect(), rows.into_iter().filter(|(_, s)| *s).map(|(id, _)| id).collect())
}

/// Checks the LRS holds exactly `expected` pupil statements, once each, without a name or
/// free text, with pseudonymous actors under the box's URL.
fn check_lrs(lrs: &Lrs, expected: &[String], box_id: &str, uuids: &HashSet<String>) -> usize {
    let all = lrs.statements();
    let (health, pupils): (Vec<&Value>, Vec<&Value>) = all.iter().partition(|s| s["verb"]["id"] == HEALTH_VERB);
    let mut count: HashMap<&str, usize> = HashMap::new();
    for s in &pupils {
        *count.entry(s["id"].as_str().unwrap()).or_default() += 1;
    }
    let dup: Vec<_> = count.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dup.is_empty(), "statements stored twice: {dup:?}");
    let got: HashSet<&str> = count.keys().copied().collect();
    let want: HashSet<&str> = expected.iter().map(String::as_str).collect();
    assert_eq!(got.len(), pupils.len());
    assert_eq!(got, want, "the LRS does not hold exactly the outbox");
    let text = serde_json::to_string(&all).unwrap();
    for bad in ["Léa", "Dupont", "Noé", "Zoé", "Hirondelles", "secret-", "127.0.0.1"] {
        assert!(!text.contains(bad), "{bad:?} reached the LRS");
    }
    for s in &pupils {
        let acc = &s["actor"]["account"];
        assert_eq!(acc["homePage"], format!("{HOME}box/{box_id}"));
        assert!(uuids.contains(acc["name"].as_str().unwrap()), "{s}");
        assert!(s["actor"].get("name").is_none() && s["actor"].get("mbox").is_none());
        assert!(s["timestamp"].as_str().unwrap().starts_with("20"));
        // The activity names the content: the pack and its installed version.
        let pack = &s["object"]["definition"]["extensions"]["urn:preau:xapi:ext:pack"];
        assert_eq!(pack["id"], testkit::DEMO, "{s}");
        assert!(pack["version"].as_u64().is_some(), "{s}");
        // This machine's clock is set: no statement carries the unset-clock mark.
        assert!(s["context"]["extensions"].get("urn:preau:xapi:ext:clock-unset").is_none(), "{s}");
    }
    // The short answer and the essay went as a digest and a length.
    let digests =
        pupils.iter().filter(|s| s["result"]["extensions"].get("urn:preau:xapi:ext:response-digest").is_some()).count();
    assert!(digests > 0, "no response digest found");
    assert!(!health.is_empty(), "no health statement");
    let h = &health[0]["context"]["extensions"]["urn:preau:xapi:ext:health"];
    assert_eq!(h["box_id"], box_id);
    assert!(h["packs"].as_array().unwrap().iter().any(|p| p[0] == testkit::DEMO), "{h}");
    pupils.len()
}

/// A TCP proxy in front of the LRS that injects faults: connections cut before and after
/// the LRS saw the request, cut mid-answer, 503s, answers slower than the client waits,
/// and one 409. Every other request passes, until `max_faults` were injected.
struct Proxy {
    port: u16,
    faults: Arc<Mutex<Vec<&'static str>>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    fn start(upstream: SocketAddr, max_faults: usize) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let faults = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (f, st) = (faults.clone(), stop.clone());
        let requests = Arc::new(Mutex::new(0usize));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (f, requests) = (f.clone(), requests.clone());
                std::thread::spawn(move || {
                    let _ = handle(conn, upstream, &f, &requests, max_faults);
                });
            }
        });
        Proxy { port, faults, stop }
    }
    fn injected(&self) -> Vec<&'static str> {
        self.faults.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn read_request(c: &mut TcpStream) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = c.read(&mut byte)?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&byte[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = c.read(&mut byte)?;
        if n == 0 {
            return Ok(None);
        }
        body.extend_from_slice(&byte[..n]);
    }
    Ok(Some((head, body)))
}

fn forward(upstream: SocketAddr, head: &str, body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut u = TcpStream::connect(upstream)?;
    u.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut h: Vec<&str> = head.split("\r\n").filter(|l| !l.to_ascii_lowercase().starts_with("connection:")).collect();
    h.push("Connection: close");
    u.write_all(format!("{}\r\n\r\n", h.join("\r\n")).as_bytes())?;
    u.write_all(body)?;
    let mut resp = Vec::new();
    u.read_to_end(&mut resp)?;
    Ok(resp)
}

fn handle(
    mut c: TcpStream,
    upstream: SocketAddr,
    faults: &Mutex<Vec<&'static str>>,
    requests: &Mutex<usize>,
    max_faults: usize,
) -> std::io::Result<()> {
    let Some((head, body)) = read_request(&mut c)? else { return Ok(()) };
    let n = {
        let mut r = requests.lock().unwrap();
        *r += 1;
        *r
    };
    let fault = {
        let mut f = faults.lock().unwrap();
        // Requests 1-4 pass (the gzip probe and its plain resend among them); then every
        // other request fails until the quota is spent.
        if n > 4 && n % 2 == 0 && f.len() < max_faults {
            let kind = if f.len() == 3 {
                "409"
            } else {
                ["cut-before", "cut-after", "503", "slow", "cut-mid-answer"][f.len() % 5]
            };
            f.push(kind);
            Some(kind)
        } else {
            None
        }
    };
    let close = "Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
    match fault {
        Some("cut-before") => Ok(()),
        Some("cut-after") => forward(upstream, &head, &body).map(|_| ()),
        Some("503") => c.write_all(format!("HTTP/1.1 503 Service Unavailable\r\n{close}").as_bytes()),
        Some("409") => c.write_all(format!("HTTP/1.1 409 Conflict\r\n{close}").as_bytes()),
        Some("slow") => {
            // Longer than the client's timeout (1 s): it gives up, the LRS still stores.
            std::thread::sleep(Duration::from_millis(1500));
            let resp = forward(upstream, &head, &body)?;
            c.write_all(&resp)
        }
        Some(_) => {
            let resp = forward(upstream, &head, &body)?;
            c.write_all(&resp[..resp.len() / 2])
        }
        None => {
            let resp = forward(upstream, &head, &body)?;
            c.write_all(&resp)
        }
    }
}

fn write_config(path: &Path, lrs_port: u16, password: &str) {
    std::fs::write(
        path,
        format!(
            "[upstream]\nlrs = \"http://127.0.0.1:{lrs_port}/\"\nusername = \"{USER}\"\npassword = \"{password}\"\nhome_page = \"{HOME}\"\n\n[server]\nmdns = false\n"
        ),
    )
    .unwrap();
}

fn push_cmd(data: &Path, config: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_preau"));
    c.args(["upstream", "push", "--json", "--batch", "4", "--retry-base-ms", "20", "--timeout-secs", "1"])
        .args(["--max-retries", "40", "--data"])
        .arg(data)
        .arg("--config")
        .arg(config)
        .env("PREAU_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

#[test]
fn the_outbox_reaches_a_real_lrs_exactly_once_through_cuts_and_kills() {
    let Some(venv) = venv() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let lrs = Lrs::start(&venv, tmp.path());
    let data = tmp.path().join("data");
    app_support::install_test_pack(&data, &[]);
    let (tokens, uuids) = {
        let store = Store::open(&data.join("preau.sqlite"), "setup").unwrap();
        let class = store.create_class("CM2 Les Hirondelles").unwrap();
        let mut tokens = Vec::new();
        let mut uuids = HashSet::new();
        for (i, name) in ["Léa Dupont", "Noé Martin", "Zoé Petit"].iter().enumerate() {
            let p = store.create_pupil(class, name).unwrap();
            let token = format!("{i:02}23456789abcdef0123456789abcdef");
            // Sessions expire on the server (a school day): start this one now.
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
            store.create_session(Who::Pupil(p), &token, now).unwrap();
            uuids.insert(store.pupil(p).unwrap().unwrap().uuid);
            tokens.push(token);
        }
        (tokens, uuids)
    };

    // 1. Pupils answer; then `preau serve` with [upstream] pushes by itself.
    pupils_answer(&data, &tokens[..2], 3, "a");
    let (ids_a, sent) = outbox(&data);
    assert!(ids_a.len() >= 2 * 3 * 6 && sent.is_empty(), "{} statements", ids_a.len());
    let config = tmp.path().join("preau.toml");
    write_config(&config, lrs.port, &lrs.password);
    let mut server = common::Server::start_in(
        &data,
        &std::fs::read_to_string(&config).unwrap().replace("[server]\nmdns = false\n", ""),
    );
    let box_id = identity(&data);
    let t = Instant::now();
    while outbox(&data).1.len() < ids_a.len() {
        assert!(t.elapsed() < Duration::from_secs(60), "the background push did not empty the outbox");
        std::thread::sleep(Duration::from_millis(200));
    }
    server.terminate();
    let n = check_lrs(&lrs, &ids_a, &box_id, &uuids);
    println!("background push: {n} statements at the LRS");

    // 2. More answers, then `preau upstream push` through a proxy injecting 50 faults,
    //    and SIGKILLed 5 times during its pushes.
    pupils_answer(&data, &tokens, 15, "b");
    let (ids_all, _) = outbox(&data);
    assert!(ids_all.len() >= ids_a.len() + 3 * 15 * 6);
    let proxy = Proxy::start(lrs.addr(), 50);
    let proxied = tmp.path().join("proxied.toml");
    write_config(&proxied, proxy.port, &lrs.password);
    let mut seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    println!("kill timing seed {seed}");
    let mut kills = 0;
    for _ in 0..50 {
        if kills == 5 {
            break;
        }
        let mut child = push_cmd(&data, &proxied).spawn().unwrap();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(150 + seed % 500));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        let _ = child.wait();
        // Marks none wrongly: whatever the box marked sent, the LRS holds.
        let (_, sent) = outbox(&data);
        let at_lrs: HashSet<String> = lrs.statements().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect();
        let wrong: Vec<_> = sent.difference(&at_lrs).collect();
        assert!(wrong.is_empty(), "marked sent but not at the LRS: {wrong:?}");
    }
    assert_eq!(kills, 5, "the pushes finished before 5 kills could land");
    // Then pushes run to the end (each gives up after 40 failures in a row at most).
    let mut last = Value::Null;
    for _ in 0..10 {
        let out = push_cmd(&data, &proxied).output().unwrap();
        last = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        if out.status.success() && last["remaining"] == 0 {
            break;
        }
    }
    assert_eq!(last["remaining"], 0, "{last}");
    let injected = proxy.injected();
    assert_eq!(injected.len(), 50, "faults injected: {injected:?}");
    let (ids_now, sent) = outbox(&data);
    assert_eq!(sent.len(), ids_now.len(), "every statement is marked sent");
    let n = check_lrs(&lrs, &ids_all, &box_id, &uuids);
    println!("after 50 faults and {kills} SIGKILLs: {n} statements at the LRS, once each; faults {injected:?}");

    // 3. Resending everything creates nothing new at the LRS.
    rusqlite::Connection::open(data.join("preau.sqlite"))
        .unwrap()
        .execute("UPDATE outbox SET sent = NULL", [])
        .unwrap();
    let out = push_cmd(&data, &config).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    check_lrs(&lrs, &ids_all, &box_id, &uuids);
}

fn identity(data: &Path) -> String {
    for entry in std::fs::read_dir(data.join("identity")).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_file() {
            continue; // identity/publisher/: the box's own publisher key
        }
        let text = std::fs::read_to_string(path).unwrap();
        let t = text.trim();
        if t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return t.to_string();
        }
    }
    panic!("no box id in {}", data.join("identity").display());
}
