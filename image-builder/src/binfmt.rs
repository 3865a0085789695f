//! Running arm64 programs on an x86 build machine: the kernel's binfmt_misc entry for
//! `qemu-aarch64-static`. A Pi image's Debian root runs arm64 maintainer scripts, so the
//! entry must exist; it is checked before the 14-minute cross-build starts, not after it.
//! As root the tool makes the entry itself; otherwise it stops with the exact commands.
//!
//! The decision (`decide`) is pure and unit-tested; `ensure_arm64` reads the machine and
//! carries it out.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::tools;

pub const MOUNT: &str = "/proc/sys/fs/binfmt_misc";
pub const ENTRY: &str = "/proc/sys/fs/binfmt_misc/qemu-aarch64";
pub const REGISTER: &str = "/proc/sys/fs/binfmt_misc/register";

/// The ELF header of an aarch64 executable (64-bit, little-endian, e_machine 183) and the
/// bits of it that must match: the values Debian's qemu-user-static registers.
const MAGIC: &str = r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00";
const MASK: &str = r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff";

/// The line written to `register`. Flag `F`: the kernel opens the interpreter now, so it
/// also runs inside the image's root (a chroot without `/usr/bin/qemu-aarch64-static`).
pub fn register_line(interpreter: &Path) -> String {
    format!(":qemu-aarch64:M::{MAGIC}:{MASK}:{}:F", interpreter.display())
}

/// What the machine looks like, as far as the decision goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    /// binfmt_misc is mounted (its `register` file exists).
    pub mounted: bool,
    /// `None`: no qemu-aarch64 entry; `Some(enabled)` otherwise.
    pub entry: Option<bool>,
    pub root: bool,
    /// Where `qemu-aarch64-static` is, if installed.
    pub interpreter: Option<PathBuf>,
    /// Debian's `update-binfmts` (binfmt-support) is installed.
    pub update_binfmts: bool,
}

/// One thing to do, as root.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Mount,
    /// `update-binfmts --enable qemu-aarch64`: Debian's own way, when binfmt-support
    /// knows qemu-user-static's format.
    UpdateBinfmts,
    /// Write this line to `register` (when `update-binfmts` is missing or did not make
    /// the entry).
    Register(String),
    /// Write `1` to the existing (disabled) entry.
    Enable,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    Ready,
    Do(Vec<Step>),
    /// Not root: the commands to run, one per line.
    Tell(Vec<String>),
    /// qemu-user-static is missing: nothing can run arm64 programs.
    NoQemu,
}

pub fn decide(h: &Host) -> Plan {
    if h.mounted && h.entry == Some(true) {
        return Plan::Ready;
    }
    let Some(interp) = &h.interpreter else { return Plan::NoQemu };
    let mut steps = Vec::new();
    if !h.mounted {
        steps.push(Step::Mount);
    }
    match h.entry {
        Some(false) => steps.push(Step::Enable),
        _ => {
            if h.update_binfmts {
                steps.push(Step::UpdateBinfmts);
            }
            steps.push(Step::Register(register_line(interp)));
        }
    }
    if h.root {
        return Plan::Do(steps);
    }
    let commands = steps
        .iter()
        .filter(|s| **s != Step::UpdateBinfmts)
        .map(|s| match s {
            Step::Mount => format!("sudo mount -t binfmt_misc binfmt_misc {MOUNT}"),
            Step::Enable => format!("echo 1 | sudo tee {ENTRY}"),
            // printf, not echo: some shells' echo would turn the \x escapes into bytes,
            // and the kernel wants them as text.
            Step::Register(line) => format!("printf '%s\\n' '{line}' | sudo tee {REGISTER}"),
            Step::UpdateBinfmts => unreachable!("filtered out"),
        })
        .collect();
    Plan::Tell(commands)
}

fn entry_state(entry: &Path) -> Option<bool> {
    let text = std::fs::read_to_string(entry).ok()?;
    Some(text.lines().next() == Some("enabled"))
}

/// Whether this process runs as root (effective uid 0), from /proc (no libc call).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0")))
        .unwrap_or(false)
}

fn read_host() -> Host {
    Host {
        mounted: Path::new(REGISTER).exists(),
        entry: entry_state(Path::new(ENTRY)),
        root: is_root(),
        interpreter: tools::find(tools::QEMU_ARM_STATIC.program),
        update_binfmts: tools::find("update-binfmts").is_some(),
    }
}

/// Makes sure this machine runs arm64 programs (nothing to do on an arm64 machine).
pub fn ensure_arm64() -> Result<()> {
    if cfg!(target_arch = "aarch64") {
        return Ok(());
    }
    match decide(&read_host()) {
        Plan::Ready => Ok(()),
        Plan::NoQemu => tools::require(&[&tools::QEMU_ARM_STATIC]),
        Plan::Tell(commands) => bail!(
            "arm64 programs cannot run here: binfmt_misc has no enabled qemu-aarch64 entry, and \
             preau-image is not root so it cannot make one. Run:\n  {}\n(or run preau-image as root: it \
             does this itself)",
            commands.join("\n  ")
        ),
        Plan::Do(steps) => {
            for step in steps {
                if entry_state(Path::new(ENTRY)) == Some(true) {
                    break; // update-binfmts made it
                }
                match step {
                    Step::Mount => {
                        tools::run(Command::new("mount").args(["-t", "binfmt_misc", "binfmt_misc", MOUNT]))
                            .context("cannot mount binfmt_misc")?;
                    }
                    Step::UpdateBinfmts => {
                        // Not fatal: binfmt-support may not know qemu-aarch64; the register
                        // line below does the same.
                        let _ = Command::new("update-binfmts").args(["--enable", "qemu-aarch64"]).status();
                    }
                    Step::Enable => std::fs::write(ENTRY, "1").with_context(|| format!("cannot write {ENTRY}"))?,
                    Step::Register(line) => std::fs::write(REGISTER, format!("{line}\n"))
                        .with_context(|| format!("cannot register qemu-aarch64 in {REGISTER}"))?,
                }
            }
            if entry_state(Path::new(ENTRY)) != Some(true) {
                bail!("registered qemu-aarch64 in binfmt_misc, but {ENTRY} is still not enabled");
            }
            eprintln!("binfmt_misc: qemu-aarch64 registered (arm64 programs run through QEMU)");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(mounted: bool, entry: Option<bool>, root: bool) -> Host {
        Host { mounted, entry, root, interpreter: Some("/usr/bin/qemu-aarch64-static".into()), update_binfmts: false }
    }

    #[test]
    fn the_register_line_has_the_aarch64_magic_and_the_f_flag() {
        let line = register_line(Path::new("/usr/bin/qemu-aarch64-static"));
        let fields: Vec<&str> = line.split(':').collect();
        // :name:type:offset:magic:mask:interpreter:flags
        assert_eq!(fields.len(), 8, "{line}");
        assert_eq!(&fields[..4], ["", "qemu-aarch64", "M", ""]);
        // 20 bytes each, as \xNN escapes (the "ELF" letters are plain).
        assert_eq!(fields[4].matches(r"\x").count() + 3, 20);
        assert_eq!(fields[5].matches(r"\x").count(), 20);
        assert!(fields[4].ends_with(r"\xb7\x00"), "e_machine 183 (aarch64)");
        assert_eq!((fields[6], fields[7]), ("/usr/bin/qemu-aarch64-static", "F"));
        assert!(line.len() < 256, "the kernel limits a register line");
    }

    #[test]
    fn ready_when_the_entry_is_enabled() {
        assert_eq!(decide(&host(true, Some(true), false)), Plan::Ready);
    }

    #[test]
    fn root_mounts_then_registers() {
        let Plan::Do(steps) = decide(&host(false, None, true)) else { panic!() };
        assert_eq!(steps[0], Step::Mount);
        assert!(matches!(&steps[1], Step::Register(l) if l.ends_with(":F")));
        assert_eq!(steps.len(), 2);
        let mut h = host(true, None, true);
        h.update_binfmts = true;
        let Plan::Do(steps) = decide(&h) else { panic!() };
        assert_eq!(steps[0], Step::UpdateBinfmts, "Debian's own tool first, the register line as fallback");
        assert!(matches!(steps[1], Step::Register(_)));
        assert_eq!(decide(&host(true, Some(false), true)), Plan::Do(vec![Step::Enable]));
    }

    #[test]
    fn not_root_gets_the_exact_commands() {
        let Plan::Tell(c) = decide(&host(false, None, false)) else { panic!() };
        assert_eq!(c[0], "sudo mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc");
        assert!(c[1].starts_with(r"printf '%s\n' ':qemu-aarch64:M::\x7fELF"), "{}", c[1]);
        assert!(c[1].ends_with(":/usr/bin/qemu-aarch64-static:F' | sudo tee /proc/sys/fs/binfmt_misc/register"));
        assert_eq!(c.len(), 2);
        let Plan::Tell(c) = decide(&host(true, Some(false), false)) else { panic!() };
        assert_eq!(c, ["echo 1 | sudo tee /proc/sys/fs/binfmt_misc/qemu-aarch64"]);
    }

    #[test]
    fn without_qemu_nothing_can_be_registered() {
        let mut h = host(true, None, true);
        h.interpreter = None;
        assert_eq!(decide(&h), Plan::NoQemu);
    }

    #[test]
    fn the_command_printed_registers_the_line_byte_for_byte() {
        // What `sh` hands to `tee` is exactly the register line (the \x stay text).
        let line = register_line(Path::new("/usr/bin/qemu-aarch64-static"));
        let out = Command::new("sh").arg("-c").arg(format!("printf '%s\\n' '{line}'")).output().unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("{line}\n"));
    }

    #[test]
    fn the_readme_prints_the_same_line() {
        let line = register_line(Path::new("/usr/bin/qemu-aarch64-static"));
        assert!(include_str!("../README.md").contains(&format!("printf '%s\\n' '{line}'")), "{line}");
    }
}
