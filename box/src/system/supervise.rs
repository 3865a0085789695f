//! `preau system supervise`: the process systemd runs on an image. It runs `preau serve`
//! from the current slot (or the image's own binary), installs newer releases of the
//! system pack, and is the watchdog of a new binary: `/healthz` must answer 200 within
//! the health timeout after the restart, else the box goes back to the previous binary
//! by itself. The supervisor itself is the image's `preau` (not replaced by updates).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use preau_pack::PublicKey;

use super::release;
use super::slots::Slots;

pub struct Options {
    pub data_dir: PathBuf,
    pub config: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    /// Time a new binary has to answer `/healthz` after it starts.
    pub health_timeout: Duration,
    /// Root keys allowed to sign software (`[sync] trusted_keys`).
    pub keys: Vec<PublicKey>,
}

/// How often the installed packs are looked at for a new release.
const CHECK_EVERY: Duration = Duration::from_secs(3);
/// Time `preau serve` has to stop on SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(20);

pub fn run(o: Options) -> Result<()> {
    let image = std::env::current_exe().context("cannot find this program's own path")?;
    let slots = Slots::new(&o.data_dir);
    loop {
        let state = slots.load()?;
        let trial = slots.trial(&state);
        if trial.is_some() && !slots.start_trial()? {
            tracing::error!("update: the new binary never passed its health check; going back");
            slots.roll_back()?;
            continue;
        }
        let exe = slots.binary(&image);
        let serial = slots.current_serial(&state);
        tracing::info!("update: starting {} (release serial {serial})", exe.display());
        let (mut child, addr) = spawn(&exe, &o)?;
        if trial.is_some() {
            match healthy(&mut child, &addr, o.health_timeout) {
                Ok(()) => {
                    slots.mark_good()?;
                    tracing::info!("update: release serial {serial} passed its health check; kept");
                }
                Err(why) => {
                    tracing::error!("update: release serial {serial} failed its health check ({why}); going back");
                    stop(&mut child);
                    slots.roll_back()?;
                    continue;
                }
            }
        }
        watch(&mut child, &slots, &o)?;
    }
}

/// Runs until the child exits (it is then started again after a pause) or a new release
/// was staged and switched to (the child is stopped first).
fn watch(child: &mut Child, slots: &Slots, o: &Options) -> Result<()> {
    let installed = o.data_dir.join("repo").join(preau_pack::installed::INSTALLED_FILE);
    let mut seen: Option<SystemTime> = None;
    let mut next_check = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            tracing::warn!("update: preau serve exited ({status}); starting it again in 3 s");
            std::thread::sleep(Duration::from_secs(3));
            return Ok(());
        }
        if Instant::now() >= next_check {
            next_check = Instant::now() + CHECK_EVERY;
            let modified = std::fs::metadata(&installed).and_then(|m| m.modified()).ok();
            if modified != seen {
                seen = modified;
                if let Some((slot, r)) = stage_new(slots, o) {
                    tracing::info!(
                        "update: release {} (serial {}) staged in slot {slot}; restarting",
                        r.version,
                        r.serial
                    );
                    stop(child);
                    slots.switch(&slot, &r)?;
                    return Ok(());
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A newer, trusted, never-refused release of the installed system pack, written into
/// the free slot. Problems are logged and retried when the installed packs change.
fn stage_new(slots: &Slots, o: &Options) -> Option<(String, release::Release)> {
    let found = match release::installed(&o.data_dir.join("repo"), &o.keys) {
        Ok(found) => found?,
        Err(e) => {
            tracing::warn!("update: the installed system pack is not usable: {e:#}");
            return None;
        }
    };
    let (r, repo, manifest) = found;
    let state = slots.load().ok()?;
    if !slots.wants(&state, &r) {
        return None;
    }
    match slots.stage(&r, &repo, &manifest) {
        Ok(slot) => Some((slot, r)),
        Err(e) => {
            tracing::warn!("update: release {} could not be staged: {e:#}", r.version);
            None
        }
    }
}

/// Starts `exe serve` with the supervisor's settings. Its stdout is passed on line by
/// line; the first line (`listening on http://ADDR/`) gives the address to check.
fn spawn(exe: &Path, o: &Options) -> Result<(Child, mpsc::Receiver<SocketAddr>)> {
    let mut cmd = Command::new(exe);
    cmd.arg("serve").arg("--data").arg(&o.data_dir);
    if let Some(c) = &o.config {
        cmd.arg("--config").arg(c);
    }
    if let Some(l) = o.listen {
        cmd.arg("--listen").arg(l.to_string());
    }
    cmd.stdout(Stdio::piped());
    // The child goes when the supervisor goes (systemd stops both anyway; a test's kill).
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().with_context(|| format!("cannot start {}", exe.display()))?;
    let out = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut stdout = std::io::stdout();
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(a) =
                line.strip_prefix("listening on http://").and_then(|r| r.trim_end_matches('/').parse().ok())
            {
                let _ = tx.send(a);
            }
            let _ = writeln!(stdout, "{line}");
        }
    });
    Ok((child, rx))
}

/// Waits for `/healthz` to answer 200 within `limit`.
fn healthy(child: &mut Child, addr: &mpsc::Receiver<SocketAddr>, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    let mut at: Option<SocketAddr> = None;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("it exited: {status}"));
        }
        if at.is_none() {
            at = addr.recv_timeout(Duration::from_millis(200)).ok().map(loopback);
            continue;
        }
        if let Some(a) = at
            && get_healthz(a).unwrap_or(false)
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    Err(match at {
        None => format!("it did not start listening within {} s", limit.as_secs()),
        Some(a) => format!("http://{a}/healthz did not answer 200 within {} s", limit.as_secs()),
    })
}

/// `0.0.0.0:80` is checked at `127.0.0.1:80`.
fn loopback(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V4(v) if v.ip().is_unspecified() => SocketAddr::from(([127, 0, 0, 1], v.port())),
        SocketAddr::V6(v) if v.ip().is_unspecified() => {
            ("::1", v.port()).to_socket_addrs().map_or(a, |mut i| i.next().unwrap_or(a))
        }
        other => other,
    }
}

fn get_healthz(addr: SocketAddr) -> std::io::Result<bool> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    write!(s, "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut head = [0u8; 16];
    let n = s.read(&mut head)?;
    Ok(head[..n].starts_with(b"HTTP/1.1 200"))
}

/// SIGTERM, then SIGKILL after [`STOP_GRACE`].
fn stop(child: &mut Child) {
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}
