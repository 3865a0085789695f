//! Python virtual environments, one per set of packages, cached under
//! `CACHE/sitegen/venvs/<key>` where the key is the BLAKE3 of the Python version, the
//! sorted specifiers and the constraints used. A venv is made in a temporary folder
//! beside the others and renamed into place only once `pip install` succeeded, so a
//! cache folder is always whole (a killed build leaves a `.tmp-…` folder, removed by the
//! next build that sees it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::confine::run_bounded;
use crate::{Error, Options};

/// Written into a venv once it is complete; its presence marks a usable venv.
const MARKER: &str = "preau-packages.txt";

/// The Python interpreter, checked: its version (`3.11.2`).
pub fn python_version(python: &Path) -> Result<String, Error> {
    let out = Command::new(python)
        .args(["-c", "import sys, venv, ensurepip; print('%d.%d.%d' % sys.version_info[:3])"])
        .output()
        .map_err(|e| Error::Unavailable(format!("no Python interpreter at {} ({e})", python.display())))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let why = if err.contains("ensurepip") || err.contains("venv") {
            "its venv module is missing (Debian: apt-get install python3-venv)".to_string()
        } else {
            err.lines().last().unwrap_or("").to_string()
        };
        return Err(Error::Unavailable(format!("{} cannot make virtual environments: {why}", python.display())));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The cache key of a set of packages.
pub fn key(python_version: &str, specs: &[String], constraints: Option<&str>) -> String {
    let mut h = blake3::Hasher::new();
    h.update(format!("python {python_version}\n").as_bytes());
    for s in specs {
        h.update(s.as_bytes());
        h.update(b"\n");
    }
    if let Some(c) = constraints {
        h.update(b"constraints\n");
        h.update(c.as_bytes());
    }
    h.finalize().to_hex()[..32].to_string()
}

/// The venv for `specs`, made (and `pip install`ed from PyPI) if the cache has none.
/// Returns its folder and whether it was already cached.
pub fn ensure(
    opts: &Options,
    python: &Path,
    specs: &[String],
    constraints: Option<&str>,
) -> Result<(PathBuf, bool), Error> {
    let version = python_version(python)?;
    let venvs = opts.cache_dir.join("sitegen").join("venvs");
    let dir = venvs.join(key(&version, specs, constraints));
    if dir.join(MARKER).is_file() {
        return Ok((dir, true));
    }
    std::fs::create_dir_all(&venvs).map_err(|e| Error::Io(format!("creating {}: {e}", venvs.display())))?;
    remove_stale(&venvs);
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempdir_in(&venvs)
        .map_err(|e| Error::Io(format!("creating a folder in {}: {e}", venvs.display())))?;
    let log = venvs.join(format!("{}.log", tmp.path().file_name().unwrap_or_default().to_string_lossy()));
    let made = run_bounded(Command::new(python).arg("-m").arg("venv").arg(tmp.path()), opts.pip_time_limit, &log);
    let _ = std::fs::remove_file(&log);
    let made = made?;
    if !made.success {
        return Err(Error::Unavailable(format!("`python3 -m venv` failed: {}", made.tail)));
    }
    let mut pip = Command::new(tmp.path().join("bin/python"));
    pip.args(["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--quiet", "--prefer-binary"]);
    let constraints_file = tmp.path().join("preau-constraints.txt");
    if let Some(c) = constraints {
        std::fs::write(&constraints_file, c).map_err(|e| Error::Io(format!("{}: {e}", constraints_file.display())))?;
        pip.arg("-c").arg(&constraints_file);
    }
    // Never from a folder of the project: specifiers are names checked by `packages`.
    pip.arg("--").args(specs);
    let installed = run_bounded(&mut pip, opts.pip_time_limit, &log);
    let _ = std::fs::remove_file(&log);
    let installed = installed?;
    if installed.timed_out {
        return Err(Error::Pip(format!("pip install took more than {}s", opts.pip_time_limit.as_secs())));
    }
    if !installed.success {
        return Err(Error::Pip(installed.tail));
    }
    std::fs::write(tmp.path().join(MARKER), specs.join("\n") + "\n")
        .map_err(|e| Error::Io(format!("writing into {}: {e}", tmp.path().display())))?;
    let tmp = tmp.keep();
    match std::fs::rename(&tmp, &dir) {
        Ok(()) => Ok((dir, false)),
        // Another build made the same venv meanwhile: use it, drop ours.
        Err(_) if dir.join(MARKER).is_file() => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok((dir, true))
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            Err(Error::Io(format!("moving the new venv to {}: {e}", dir.display())))
        }
    }
}

/// `.tmp-…` folders (and their logs) older than a day are what killed builds left.
fn remove_stale(venvs: &Path) {
    let Ok(rd) = std::fs::read_dir(venvs) else { return };
    for e in rd.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(86_400));
        if old && e.file_name().to_string_lossy().starts_with(".tmp-") {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}
