//! A real S3 API on loopback for the tests that publish to `s3://`: moto's server
//! (moto[server] from PyPI, the venv `.ci/install.d/80-s3.sh` makes), with one bucket
//! readable anonymously, as boxes and CDNs read it. Used by `s3_publish.rs` and `mirror.rs`.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BUCKET: &str = "preau";
pub const SECRET: &str = "PREAU-TEST-SECRET-7f3c9a1e55d04b2b";

pub fn venv() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var("PREAU_MOTO_VENV").unwrap_or_else(|_| "/opt/preau-ci/moto".into()));
    if dir.join("bin/moto_server").is_file() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("the moto venv is missing at {} (run .ci/install.d/80-s3.sh)", dir.display());
    }
    println!("skipped: no moto venv at {} (run .ci/install.d/80-s3.sh)", dir.display());
    None
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("nothing listens on 127.0.0.1:{port}");
}

/// A child in its own process group, stopped with its children on drop (even when the
/// test fails).
pub struct Group(pub Child);

impl Drop for Group {
    fn drop(&mut self) {
        unsafe { libc::kill(-(self.0.id() as i32), libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

pub struct Moto {
    pub port: u16,
    _child: Group,
}

impl Moto {
    /// Starts moto on a free port and makes the bucket. The bucket's creation is the
    /// readiness check, retried: a port that accepts connections may still reset them
    /// while Python starts on a loaded machine, and a port picked free can be taken by
    /// another test before moto binds it (then moto exits and we start again elsewhere).
    pub fn start(venv: &Path) -> Moto {
        let mut failures = Vec::new();
        for _ in 0..3 {
            let port = free_port();
            let child = Command::new(venv.join("bin/moto_server"))
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .process_group(0)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("moto_server starts");
            let mut m = Moto { port, _child: Group(child) };
            match m.create_bucket() {
                Ok(()) => {
                    // Readable by anyone (boxes and the CDN read anonymously; writes need
                    // the signed requests of a publisher).
                    let policy = format!(
                        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{BUCKET}/*"}}]}}"#
                    );
                    let (status, out) = http_put(port, &format!("/{BUCKET}?policy"), &policy);
                    assert!(status == 200 || status == 204, "setting the bucket policy: {out}");
                    return m;
                }
                Err(e) => failures.push(format!("port {port}: {e}")),
            }
        }
        panic!("moto_server never became ready: {}", failures.join("; "));
    }

    fn create_bucket(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self._child.0.try_wait() {
                return Err(format!("moto_server exited ({status})"));
            }
            match try_http_put(self.port, &format!("/{BUCKET}"), "") {
                Ok((200, _)) => return Ok(()),
                Ok((status, out)) => return Err(format!("creating the bucket answered {status}: {out}")),
                Err(e) if Instant::now() > deadline => return Err(format!("creating the bucket: {e}")),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The repository as boxes read it: path-style, anonymous GETs.
    pub fn repo_url(&self, prefix: &str) -> String {
        format!("http://127.0.0.1:{}/{BUCKET}/{prefix}/", self.port)
    }
}

pub fn http_put(port: u16, path: &str, body: &str) -> (u16, String) {
    try_http_put(port, path, body).unwrap_or_else(|e| panic!("PUT {path} on moto: {e}"))
}

fn try_http_put(port: u16, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    write!(
        s,
        "PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let status = out.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Ok((status, out))
}
