//! `preau-image cross-build`: builds the aarch64 `preau` (and `preau-image`, which runs
//! on the box at boot) through Debian's own Rust, in a bookworm chroot made by
//! mmdebstrap inside the project's target folder. One command instead of five steps.

use crate::tools::{self, run_visible};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const PACKAGES: &[&str] = &[
    "rustc-web",
    "cargo-web",
    "libstd-rust-web-dev:arm64",
    "gcc-aarch64-linux-gnu",
    "libc6-dev-arm64-cross",
    "ca-certificates",
    "pkg-config",
];
pub const TARGET: &str = "aarch64-unknown-linux-gnu";

/// Where the binaries land, relative to the workspace.
pub fn output_dir(workspace: &Path) -> PathBuf {
    workspace.join("target/cross").join(TARGET).join("release")
}

/// The binaries built by default: the box and this tool (which runs on the box at boot).
pub const DEFAULT_BINS: &[&str] = &["preau-box:preau", "preau-image:preau-image"];

/// `bins`: `PACKAGE:BINARY` pairs.
pub fn cross_build(
    workspace: &Path,
    chroot: &Path,
    mirror: &str,
    security_mirror: &str,
    bins: &[String],
) -> Result<PathBuf> {
    let mut selection = String::new();
    let mut strip = String::new();
    let mut names = Vec::new();
    for b in bins {
        let Some((package, bin)) = b.split_once(':') else {
            bail!("--bin {b:?}: use PACKAGE:BINARY, for example preau-box:preau");
        };
        let ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok(package) || !ok(bin) {
            bail!("--bin {b:?}: not a cargo package and binary name");
        }
        selection.push_str(&format!(" -p {package} --bin {bin}"));
        let out = format!("/src/target/cross/{TARGET}/release/{bin}");
        strip.push_str(&format!(
            " && aarch64-linux-gnu-strip --strip-debug -o {out}.stripped {out} && mv -f {out}.stripped {out}"
        ));
        names.push(bin.to_string());
    }
    tools::require(&[&tools::MMDEBSTRAP])?;
    // The binaries are for a Pi image, whose Debian root runs arm64 programs: check that
    // this machine can (or make it so, as root) now, not after the cross-build.
    crate::binfmt::ensure_arm64()?;
    if !workspace.join("Cargo.toml").is_file() {
        bail!(
            "{} is not the workspace (no Cargo.toml): run from the repository root or pass --workspace",
            workspace.display()
        );
    }
    let workspace = workspace.canonicalize()?;
    let marker = chroot.join(".preau-cross");
    let want = PACKAGES.join(",");
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(want.as_str()) {
        if chroot.exists() {
            std::fs::remove_dir_all(chroot)?;
        }
        eprintln!("making the build chroot {} (once)", chroot.display());
        // mmdebstrap wants the parent folder to exist.
        std::fs::create_dir_all(chroot.parent().unwrap_or(Path::new(".")))?;
        run_visible(
            Command::new("mmdebstrap")
                .args(["--variant=apt", "--architectures=amd64,arm64"])
                .arg(format!("--include={want}"))
                .arg("bookworm")
                .arg(chroot)
                .arg(format!("deb {mirror} bookworm main"))
                .arg(format!("deb {mirror} bookworm-updates main"))
                .arg(format!("deb {security_mirror} bookworm-security main")),
        )?;
        std::fs::write(&marker, &want)?;
    }
    std::fs::create_dir_all(chroot.join("src"))?;
    // Crates are fetched by the host's cargo (its network and certificate settings
    // work here; the chroot's may not), then the chroot builds offline from the host's
    // registry, bind-mounted.
    run_visible(Command::new("cargo").arg("fetch").arg("--manifest-path").arg(workspace.join("Cargo.toml")))
        .context("cargo fetch failed on the host")?;
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .context("neither CARGO_HOME nor HOME is set")?;
    let registry = cargo_home.join("registry");
    std::fs::create_dir_all(chroot.join("cargo-home/registry"))?;
    // A private mount namespace: the bind mounts disappear with the command.
    // The binaries go on SD cards: their debug info (Debian's std carries full debug
    // info: preau is 128 MB with it, 21 MB without) is stripped from the copies in
    // release/, after every build; release/deps/ keeps them whole, to symbolise a box's
    // backtrace.
    let script = format!(
        "set -e\n\
         mount --bind '{ws}' '{ch}/src'\n\
         mount -t proc proc '{ch}/proc'\n\
         mount --bind /dev '{ch}/dev'\n\
         mount --bind '{reg}' '{ch}/cargo-home/registry'\n\
         cp /etc/resolv.conf '{ch}/etc/resolv.conf' 2>/dev/null || true\n\
         chroot '{ch}' sh -c 'cd /src && \
           CARGO_HOME=/cargo-home \
           CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
           cargo build --offline --release --target {TARGET} --target-dir /src/target/cross{selection}{strip}'\n",
        ws = workspace.display(),
        reg = registry.display(),
        ch = chroot.canonicalize()?.display(),
    );
    run_visible(Command::new("unshare").args(["--mount", "--propagation", "private", "sh", "-c"]).arg(&script))
        .context("the cross build failed (the chroot's Rust is Debian's rustc-web)")?;
    let out = output_dir(&workspace);
    for bin in &names {
        crate::elf::check_binary(&out.join(bin), crate::profile::Board::RpiArm64, bin)?;
    }
    Ok(out)
}
