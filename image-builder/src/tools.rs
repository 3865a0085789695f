//! Host tools: finding them (a missing one is named with the apt-get line that brings
//! it) and running them (a failure shows the command and its output).

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A host program and the Debian package that provides it.
pub struct Tool {
    pub program: &'static str,
    pub package: &'static str,
}

pub const MMDEBSTRAP: Tool = Tool { program: "mmdebstrap", package: "mmdebstrap" };
pub const MKFS_VFAT: Tool = Tool { program: "mkfs.vfat", package: "dosfstools" };
pub const MCOPY: Tool = Tool { program: "mcopy", package: "mtools" };
pub const SFDISK: Tool = Tool { program: "sfdisk", package: "fdisk" };
pub const MKE2FS: Tool = Tool { program: "mke2fs", package: "e2fsprogs" };
pub const DEBUGFS: Tool = Tool { program: "debugfs", package: "e2fsprogs" };
pub const BMAPTOOL: Tool = Tool { program: "bmaptool", package: "bmap-tools" };
pub const XZ: Tool = Tool { program: "xz", package: "xz-utils" };
pub const ZSTD: Tool = Tool { program: "zstd", package: "zstd" };
pub const SYSTEMCTL: Tool = Tool { program: "systemctl", package: "systemd" };
pub const QEMU_ARM_STATIC: Tool = Tool { program: "qemu-aarch64-static", package: "qemu-user-static" };

/// Finds a program on PATH (and in the sbin folders, which a non-root PATH may lack).
pub fn find(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let extra = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from);
    std::env::split_paths(&path).chain(extra).map(|d| d.join(program)).find(|p| p.is_file())
}

/// Fails, listing every missing tool and one apt-get line for all of them.
pub fn require(tools: &[&Tool]) -> Result<()> {
    let missing: Vec<&&Tool> = tools.iter().filter(|t| find(t.program).is_none()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let programs: Vec<_> = missing.iter().map(|t| t.program).collect();
    let mut packages: Vec<_> = missing.iter().map(|t| t.package).collect();
    packages.dedup();
    bail!(
        "missing host tool(s): {}. Install them with: sudo apt-get install {}",
        programs.join(", "),
        packages.join(" ")
    )
}

/// Runs a command; on failure the error holds the command line and its stderr's tail.
pub fn run(cmd: &mut Command) -> Result<String> {
    let shown = format!("{cmd:?}");
    let out = cmd.stdin(Stdio::null()).output().with_context(|| format!("cannot start {shown}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!("{shown} failed ({}):\n{}", out.status, tail.join("\n"));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs a command whose output goes to this terminal/log (long steps such as mmdebstrap).
pub fn run_visible(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd.stdin(Stdio::null()).status().with_context(|| format!("cannot start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed ({status}); its output is above");
    }
    Ok(())
}

/// mtools refuses FAT images whose geometry it finds odd unless told not to check.
pub fn mtools(program: &str) -> Command {
    let mut c = Command::new(program);
    c.env("MTOOLS_SKIP_CHECK", "1");
    c
}

/// Writes a file, creating its parent folders.
pub fn write_file(path: &Path, contents: impl AsRef<[u8]>) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, contents).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_tool_names_the_apt_line() {
        let fake = Tool { program: "preau-no-such-tool", package: "preau-no-such-package" };
        let err = require(&[&fake, &MKE2FS]).unwrap_err().to_string();
        assert!(err.contains("preau-no-such-tool"), "{err}");
        assert!(err.contains("sudo apt-get install preau-no-such-package"), "{err}");
    }

    #[test]
    fn failed_command_shows_its_stderr() {
        let err = run(Command::new("sh").args(["-c", "echo boom >&2; exit 3"])).unwrap_err();
        assert!(err.to_string().contains("boom"), "{err}");
    }
}
