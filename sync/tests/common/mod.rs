//! Test harness: fixture repositories, a real nginx on 127.0.0.1, and a fault-injecting
//! TCP proxy. Shared by the sync integration tests and the benchmark.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use preau_pack::build::{BuildOptions, build};
use preau_pack::installed::Installed;
use preau_pack::source::{SourceLimits, from_tar};
use preau_pack::{Repo, SecretKey};

pub const PACK: &str = "cours-python";

const V1: &str = "sites/cours-python_2024-11-14_d996c94.tar";
const V2: &str = "sites/cours-python_2025-09-29_366b8c0.tar";

/// Whether the two versions of the fixture course are there: a test that uses them starts
/// with `let Some(()) = course() else { return };` (skip outside CI, fail with `CI=true`:
/// the one rule of `preau_tests::fixture`).
pub fn course() -> Option<()> {
    preau_tests::fixture(V1)?;
    preau_tests::fixture(V2)?;
    Some(())
}

fn fixture(rel: &str) -> PathBuf {
    preau_tests::fixture(rel).unwrap_or_else(|| panic!("{rel}: call common::course() first"))
}

pub fn v1_tar() -> PathBuf {
    fixture(V1)
}

pub fn v2_tar() -> PathBuf {
    fixture(V2)
}

/// Builds (or adds a version to) the fixture pack in `repo` from a tar.
pub fn build_version(repo: &Path, key: &SecretKey, tar: &Path) {
    let mut tree = from_tar(tar, SourceLimits::default()).unwrap();
    tree.meta.id = PACK.into();
    tree.meta.title = "Cours de Python".into();
    build(repo, tree, key, &BuildOptions::default(), &mut |_, _| {}).unwrap();
}

/// Checks that the box in `data` has exactly the files of `tar`, byte for byte.
pub fn assert_box_matches(data: &Path, tar: &Path) {
    let repo = Repo::open(&data.join("repo")).unwrap();
    let inst = Installed::load(&data.join("repo")).unwrap();
    let p = &inst.packs[PACK];
    let m = repo.read_manifest(&p.manifest, p.manifest_size).unwrap();
    let tree = from_tar(tar, SourceLimits::default()).unwrap();
    assert_eq!(m.files.len(), tree.files.len(), "file count");
    for f in &tree.files {
        let want = match &f.data {
            preau_pack::SourceData::Bytes(b) => b.clone(),
            preau_pack::SourceData::File(p) => std::fs::read(p).unwrap(),
        };
        let entry = m.file(&f.path).unwrap_or_else(|| panic!("{} missing on the box", f.path));
        assert_eq!(repo.read_file(entry).unwrap(), want, "{} differs", f.path);
    }
}

pub fn installed_json(data: &Path) -> Option<Vec<u8>> {
    std::fs::read(data.join("repo/installed.json")).ok()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for_port(port: u16) {
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("nothing listens on 127.0.0.1:{port}");
}

/// Debian's nginx serving `root` on 127.0.0.1, logging `$bytes_sent` per request.
pub struct Nginx {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Nginx {
    pub fn start(root: &Path) -> Nginx {
        Self::start_on("127.0.0.1", root)
    }

    pub fn start_on(addr: &str, root: &Path) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let d = dir.path().display();
        let conf = format!(
            "daemon off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;
user root;
events {{ worker_connections 256; }}
http {{
  access_log off;
  log_format bytes '$request_method $uri $status $bytes_sent';
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  keepalive_requests 100000; keepalive_timeout 60s; sendfile on; tcp_nodelay on;
  default_type application/octet-stream;
  log_format timed '$msec $request_method $uri $status';
  server {{
    listen {addr}:{port};
    access_log {d}/access.log bytes;
    access_log {d}/timed.log timed;
    root {root};
    location / {{ }}
  }}
}}
",
            root = root.display()
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        // Its own process group (master and worker), so that Drop stops both: killing the
        // master alone left its worker listening, one per test run.
        let child = Command::new("nginx")
            .args(["-c", &dir.path().join("nginx.conf").display().to_string(), "-e", &format!("{d}/error.log")])
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx is installed (.ci/install.d/20-sync.sh)");
        let n = Nginx { port, dir, child };
        if addr == "127.0.0.1" {
            wait_for_port(port);
        }
        n
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// (requests, bytes sent including headers) from the access log.
    pub fn traffic(&self) -> (u64, u64) {
        let log = std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default();
        let mut n = 0;
        let mut bytes = 0;
        for l in log.lines() {
            n += 1;
            bytes += l.rsplit(' ').next().and_then(|b| b.parse::<u64>().ok()).unwrap_or(0);
        }
        (n, bytes)
    }

    /// Waits (up to 5 s) until the access log has `n` requests: nginx writes a line
    /// after the response is sent, so the client may be done first.
    pub fn wait_for_log(&self, n: u64) {
        for _ in 0..500 {
            if self.traffic().0 >= n {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// (method, path) of every request in the access log, in order.
    pub fn requests(&self) -> Vec<(String, String)> {
        let log = std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default();
        log.lines()
            .filter_map(|l| {
                let mut w = l.split(' ');
                Some((w.next()?.to_string(), w.next()?.to_string()))
            })
            .collect()
    }

    /// The GET requests of the access log: their paths, in order.
    pub fn gets(&self) -> Vec<String> {
        self.requests().into_iter().filter(|(m, _)| m == "GET").map(|(_, p)| p).collect()
    }

    pub fn clear_log(&self) {
        let _ = std::fs::write(self.dir.path().join("access.log"), b"");
        let _ = std::fs::write(self.dir.path().join("timed.log"), b"");
    }

    /// (seconds, path) of every request, from the time nginx logged it.
    pub fn timed(&self) -> Vec<(f64, String)> {
        let log = std::fs::read_to_string(self.dir.path().join("timed.log")).unwrap_or_default();
        log.lines()
            .filter_map(|l| {
                let mut w = l.split(' ');
                let t = w.next()?.parse().ok()?;
                Some((t, w.nth(1)?.to_string()))
            })
            .collect()
    }

    /// The round of each request when the client reaches nginx through a [`DelayProxy`]
    /// of `delay` (a request that depends on an answer arrives at least `delay` after the
    /// request it depends on; those sent together arrive together): (round from 1, path).
    pub fn rounds(&self, delay: Duration) -> Vec<(usize, String)> {
        let mut t = self.timed();
        t.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut out = Vec::new();
        let (mut round, mut start) = (0, f64::NEG_INFINITY);
        for (at, path) in t {
            if at - start >= delay.as_secs_f64() * 0.6 {
                round += 1;
                start = at;
            }
            out.push((round, path));
        }
        out
    }
}

impl Drop for Nginx {
    /// Stops the whole process group, also when a test panics (Drop runs on unwinding):
    /// SIGTERM (nginx's fast shutdown), and SIGKILL to the group if the master has not
    /// exited within 5 s. (The group is signalled while the master, its leader, is not
    /// yet reaped, so its id cannot have been reused.)
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let signal = |sig: &str| {
            let _ = Command::new("kill").args([sig, "--", &group]).stderr(Stdio::null()).status();
        };
        signal("-TERM");
        for _ in 0..500 {
            // nginx's master exits after its workers: once it is gone, so is the group.
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        signal("-KILL");
        let _ = self.child.wait();
    }
}

/// A TCP proxy in front of `upstream` that delays every byte from the client by `delay`
/// (answers go back at once): each round trip of requests costs `delay`, as on a long
/// link, so that `Nginx::rounds` can tell the rounds apart.
pub struct DelayProxy {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl DelayProxy {
    pub fn start(upstream: u16, delay: Duration) -> DelayProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(client) = client else { continue };
                let Ok(up) = TcpStream::connect(("127.0.0.1", upstream)) else { continue };
                let _ = client.set_nodelay(true);
                let _ = up.set_nodelay(true);
                let (tx, rx) = std::sync::mpsc::channel::<(std::time::Instant, Vec<u8>)>();
                let mut c_read = client.try_clone().unwrap();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    while let Ok(n) = c_read.read(&mut buf) {
                        if n == 0 || tx.send((std::time::Instant::now(), buf[..n].to_vec())).is_err() {
                            break;
                        }
                    }
                });
                let mut up_write = up.try_clone().unwrap();
                std::thread::spawn(move || {
                    for (at, bytes) in rx {
                        std::thread::sleep((at + delay).saturating_duration_since(std::time::Instant::now()));
                        if up_write.write_all(&bytes).is_err() {
                            break;
                        }
                    }
                    let _ = up_write.shutdown(Shutdown::Write);
                });
                let (mut up_read, mut c_write) = (up, client);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut up_read, &mut c_write);
                    let _ = c_write.shutdown(Shutdown::Both);
                });
            }
        });
        DelayProxy { port, stop }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// How the proxy misbehaves.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// Cut each connection after a random number of response bytes in 1..=max.
    Cut { max: u64 },
    /// Remove Range headers from requests (a server that ignores Range), and cut.
    IgnoreRangeAndCut { max: u64 },
    /// Flip bytes in every response body after the headers.
    Garbage,
}

/// A TCP proxy in front of `upstream` that injects faults. Counts the cuts it made.
pub struct FaultProxy {
    pub port: u16,
    pub cuts: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

impl FaultProxy {
    pub fn start(upstream: u16, fault: Fault, seed: u64) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let cuts = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (cuts.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut rng = Rng(seed | 1);
            for client in listener.incoming() {
                if s.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(client) = client else { continue };
                let budget = match fault {
                    Fault::Cut { max } | Fault::IgnoreRangeAndCut { max } => 1 + rng.next() % max,
                    Fault::Garbage => u64::MAX,
                };
                let c = c.clone();
                std::thread::spawn(move || proxy_conn(client, upstream, fault, budget, &c));
            }
        });
        FaultProxy { port, cuts, stop }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn proxy_conn(client: TcpStream, upstream: u16, fault: Fault, budget: u64, cuts: &AtomicU64) {
    let Ok(up) = TcpStream::connect(("127.0.0.1", upstream)) else { return };
    let (mut c_read, mut up_write) = (client.try_clone().unwrap(), up.try_clone().unwrap());
    let strip_range = matches!(fault, Fault::IgnoreRangeAndCut { .. });
    // Requests: GETs only (no bodies), so the stream is header blocks; drop Range lines.
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        let mut pending: Vec<u8> = Vec::new();
        loop {
            let n = match c_read.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if !strip_range {
                if up_write.write_all(&buf[..n]).is_err() {
                    break;
                }
                continue;
            }
            pending.extend_from_slice(&buf[..n]);
            while let Some(pos) = pending.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = pending.drain(..pos + 2).collect();
                if line.to_ascii_lowercase().starts_with(b"range:") {
                    continue;
                }
                if up_write.write_all(&line).is_err() {
                    return;
                }
            }
        }
        let _ = up_write.shutdown(Shutdown::Write);
    });
    let (mut up_read, mut c_write) = (up, client);
    let mut sent = 0u64;
    let mut buf = [0u8; 16 * 1024];
    let mut header_done = false;
    loop {
        let n = match up_read.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut chunk = buf[..n].to_vec();
        if let Fault::Garbage = fault {
            let start = if header_done {
                0
            } else {
                match chunk.windows(4).position(|w| w == b"\r\n\r\n") {
                    Some(p) => {
                        header_done = true;
                        p + 4
                    }
                    None => chunk.len(),
                }
            };
            for b in &mut chunk[start..] {
                *b ^= 0x5a;
            }
        }
        let allowed = (budget - sent).min(chunk.len() as u64) as usize;
        if c_write.write_all(&chunk[..allowed]).is_err() {
            break;
        }
        sent += allowed as u64;
        if sent >= budget {
            cuts.fetch_add(1, Ordering::Relaxed);
            break;
        }
    }
    let _ = c_write.shutdown(Shutdown::Both);
    let _ = up_read.shutdown(Shutdown::Both);
}

/// A server that answers every request with an endless body.
pub fn endless_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n");
                let block = vec![b'['; 64 * 1024];
                while s.write_all(&block).is_ok() {}
            });
        }
    });
    port
}
