//! Helpers for the image tests (`tests/tests/image_*.rs`): finding the binaries, booting
//! an image under QEMU (software emulation, user networking forwarded to 127.0.0.1
//! only) and asking the box over HTTP.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const PACK_ID: &str = "e2e-demo";
pub const MARKER: &str = "Bonjour la classe de Préau";

/// A pack repository holding one pack with an index.html, made by the real `preau`.
/// Returns the repository folder and the hex root public key, if keygen wrote one.
pub fn make_pack(preau: &Path, work: &Path) -> (std::path::PathBuf, Option<String>) {
    let src = work.join("pack-src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("index.html"),
        format!("<!doctype html><h1>{MARKER}</h1>\n"),
    )
    .unwrap();
    if std::env::var("PREAU_IMAGE_STANDIN").as_deref() == Ok("1") {
        // The stand-in serves {preload}/{id}/{path} from a plain folder.
        let repo = work.join("packs");
        std::fs::create_dir_all(repo.join(PACK_ID)).unwrap();
        std::fs::copy(
            src.join("index.html"),
            repo.join(PACK_ID).join("index.html"),
        )
        .unwrap();
        return (repo, None);
    }
    let key = work.join("root.key");
    let repo = work.join("repo");
    let _ = std::fs::remove_dir_all(&repo);
    let _ = std::fs::remove_file(&key);
    run(Command::new(preau).arg("keygen").arg("--out").arg(&key));
    run(Command::new(preau)
        .args(["pack", "build"])
        .arg(&src)
        .arg("--repo")
        .arg(&repo)
        .arg("--key")
        .arg(&key)
        .args(["--id", PACK_ID, "--title", "E2E demo"]));
    assert!(
        repo.join("catalog.json").is_file(),
        "preau pack build made no catalog.json in {}",
        repo.display()
    );
    let public = std::fs::read_to_string(key.with_extension("key.pub"))
        .ok()
        .map(|s| s.trim().to_string());
    let public = public.filter(|k| k.len() == 64 && k.chars().all(|c| c.is_ascii_hexdigit()));
    (repo, public)
}

/// The preau.toml of the boot tests: Ethernet mode (QEMU has no Wi-Fi), port 80.
pub fn e2e_config(public_key: Option<&str>) -> String {
    let mut config = String::from(
        "[box]\nschool = \"École e2e\"\nlisten = \"0.0.0.0:80\"\n\n[wifi]\nmode = \"ethernet\"\n",
    );
    if let Some(k) = public_key {
        config.push_str(&format!("\n[sync]\ntrusted_keys = [\"{k}\"]\n"));
    }
    config
}

/// The workspace's target folder (this test binary lives in `target/debug/deps/`).
pub fn target_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().expect("current exe");
    exe.ancestors().nth(3).expect("target dir").to_path_buf()
}

/// A binary of the workspace's debug build (`cargo build --workspace --bins`).
pub fn workspace_bin(name: &str) -> PathBuf {
    target_dir().join("debug").join(name)
}

/// The `preau` binary under test: `PREAU_BIN`, else the workspace's debug build.
pub fn preau_bin() -> PathBuf {
    std::env::var_os("PREAU_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_bin("preau"))
}

/// Host tools the image tests need, with the line that installs them.
pub fn missing_tools(tools: &[&str]) -> Vec<String> {
    tools
        .iter()
        .filter(|t| {
            !["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
                .iter()
                .any(|d| Path::new(d).join(t).exists())
        })
        .map(|t| t.to_string())
        .collect()
}

/// Runs a command to completion; panics with its output when it fails.
pub fn run(cmd: &mut Command) -> String {
    let shown = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
    assert!(
        out.status.success(),
        "{shown} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A free TCP port on 127.0.0.1 for QEMU's hostfwd.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain HTTP/1.1 GET to 127.0.0.1; `None` when nothing answers (yet).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(3)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: preau\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// A QEMU guest, killed when dropped; its serial console goes to a file.
pub struct Guest {
    child: Child,
    pub serial: PathBuf,
    pub port: u16,
    pub started: Instant,
}

impl Guest {
    pub fn start(mut cmd: Command, serial: PathBuf, port: u16) -> Guest {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        Guest {
            child,
            serial,
            port,
            started: Instant::now(),
        }
    }

    pub fn console(&self) -> String {
        let raw = std::fs::read(&self.serial).unwrap_or_default();
        String::from_utf8_lossy(&raw).into_owned()
    }

    fn console_tail(&self) -> String {
        let c = self.console();
        let lines: Vec<&str> = c.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    /// Waits until `GET path` answers 200, or fails with the console's last lines.
    pub fn wait_http(&mut self, path: &str, limit: Duration) -> String {
        loop {
            if let Some((200, body)) = http_get(self.port, path) {
                return body;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "QEMU exited ({status}) before {path} answered; console:\n{}",
                    self.console_tail()
                );
            }
            if self.started.elapsed() > limit {
                panic!(
                    "{path} did not answer 200 within {}s of boot; console:\n{}",
                    limit.as_secs(),
                    self.console_tail()
                );
            }
            std::thread::sleep(Duration::from_secs(2));
        }
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
