//! Running the generator confined with bubblewrap: a new mount, PID, IPC, UTS and
//! network namespace (no network at all), the system's `/usr` and the venv read-only,
//! the project read-only at `/src` (or a throwaway copy of it), only `/out` writable, a private `/tmp`, an empty
//! environment; and bounds: wall-clock time (the whole sandbox is killed), address space
//! and file size (`prlimit`, rlimits inherited by everything inside).

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::Error;

/// How a bounded run ended.
pub struct Ran {
    pub success: bool,
    pub timed_out: bool,
    /// The last lines of its output (stdout and stderr together).
    pub tail: String,
}

/// Runs `cmd` with its output going to `log`, killed after `limit`.
pub fn run_bounded(cmd: &mut Command, limit: Duration, log: &Path) -> Result<Ran, Error> {
    let io = |e: std::io::Error| Error::Io(format!("{}: {e}", log.display()));
    let out = std::fs::File::create(log).map_err(io)?;
    let err = out.try_clone().map_err(io)?;
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| Error::Unavailable(format!("cannot run {program}: {e}")))?;
    let start = Instant::now();
    let (status, timed_out) = loop {
        if let Some(st) = child.try_wait().map_err(io)? {
            break (Some(st), false);
        }
        if start.elapsed() >= limit {
            // bwrap runs with --die-with-parent's partner --unshare-pid: killing it ends
            // its PID namespace, hence every process of the build.
            let _ = child.kill();
            let _ = child.wait();
            break (None, true);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Ok(Ran { success: status.is_some_and(|s| s.success()), timed_out, tail: tail(log) })
}

/// The last 20 lines (at most 4 KiB) of a log.
fn tail(log: &Path) -> String {
    let mut text = String::new();
    if let Ok(f) = std::fs::File::open(log) {
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let mut f = f;
        if len > 4096 {
            use std::io::Seek;
            let _ = f.seek(std::io::SeekFrom::Start(len - 4096));
        }
        let mut bytes = Vec::new();
        let _ = f.take(4096).read_to_end(&mut bytes);
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Host paths made visible read-only inside the sandbox, when they exist. `/etc` is not
/// bound whole: a build needs none of its secrets.
const READ_ONLY: &[&str] = &["/usr", "/etc/alternatives", "/etc/mime.types", "/etc/localtime", "/etc/ld.so.cache"];

/// The bubblewrap command that runs `args` in `/src` with `venv` at `/venv` and `out`
/// at `/out`. `src` is read-only, unless `src_writable`: for a throwaway copy of the
/// project made for this build (plugins write caches beside the pages, such as
/// mkdocs-jupyter's `.cache/`; the copy is deleted after the build and only `/out` is
/// read back). `extra_ro` are host folders needed read-only at the same path (the
/// Python installation the venv points into, when it is not under `/usr`).
#[allow(clippy::too_many_arguments)] // each is one mount or bound of the sandbox
pub fn sandbox(
    src: &Path,
    src_writable: bool,
    out: &Path,
    venv: &Path,
    extra_ro: &[&Path],
    memory_bytes: u64,
    max_file_bytes: u64,
    args: &[&str],
) -> Command {
    let mut cmd = Command::new("prlimit");
    cmd.arg(format!("--as={memory_bytes}")).arg(format!("--fsize={max_file_bytes}")).arg("--");
    cmd.arg("bwrap");
    cmd.args(["--unshare-all", "--unshare-net", "--die-with-parent", "--new-session"]);
    for p in READ_ONLY {
        if Path::new(p).exists() {
            cmd.args(["--ro-bind", p, p]);
        }
    }
    // Merged /usr (Debian 12): /bin, /lib… are links into /usr.
    for link in ["/bin", "/sbin", "/lib", "/lib64", "/lib32"] {
        if let Ok(target) = std::fs::read_link(link) {
            cmd.arg("--symlink").arg(target).arg(link);
        } else if Path::new(link).is_dir() {
            cmd.args(["--ro-bind", link, link]);
        }
    }
    for p in extra_ro {
        cmd.arg("--ro-bind").arg(p).arg(p);
    }
    cmd.args(["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]);
    cmd.arg("--ro-bind").arg(venv).arg("/venv");
    cmd.arg(if src_writable { "--bind" } else { "--ro-bind" }).arg(src).arg("/src");
    cmd.arg("--bind").arg(out).arg("/out");
    cmd.args(["--chdir", "/src", "--clearenv"]);
    for (k, v) in [
        ("HOME", "/tmp"),
        ("PATH", "/venv/bin:/usr/bin:/bin"),
        ("LANG", "C.UTF-8"),
        ("PYTHONDONTWRITEBYTECODE", "1"),
        ("PYTHONUNBUFFERED", "1"),
    ] {
        cmd.args(["--setenv", k, v]);
    }
    cmd.arg("--").args(args);
    cmd
}

/// Checks that bubblewrap and prlimit can run here.
pub fn check_tools() -> Result<(), Error> {
    for (tool, package) in [("bwrap", "bubblewrap"), ("prlimit", "util-linux")] {
        let ok = Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
        if !ok.is_ok_and(|s| s.success()) {
            return Err(Error::Unavailable(format!(
                "{tool} is not installed (Debian: apt-get install {package}); the generator only runs confined"
            )));
        }
    }
    Ok(())
}
