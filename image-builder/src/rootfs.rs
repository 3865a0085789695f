//! The root filesystem: Debian packages by mmdebstrap into a folder, then the image's
//! own files written into that folder from here (no chroot needed for those).

use crate::config::{BOOT_MOUNT, DATA_DIR, PRELOAD_DIR};
use crate::profile::{Board, Profile};
use crate::tools::{self, write_file};
use crate::units;
use anyhow::{Context, Result, bail};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Modules the Pi's initramfs needs (and the QEMU boards): the measured list that cut
/// mkinitramfs from minutes (MODULES=most under qemu-user) to under one.
const RPI_INITRD_MODULES: &[&str] = &[
    "virtio_pci",
    "virtio_blk",
    "virtio_mmio",
    "virtio_net",
    "ext4",
    "vfat",
    "nls_cp437",
    "nls_ascii",
    "nls_utf8",
    "mmc_block",
    "sdhci_iproc",
    "sdhci_pltfm",
    "bcm2835",
    "dwc2",
    "usb_storage",
    "sd_mod",
];

pub fn packages(profile: &Profile) -> Vec<String> {
    let mut p: Vec<&str> = vec![
        "systemd-sysv",
        "udev",
        "dbus",
        "kmod",
        "initramfs-tools",
        // COMPRESS=zstd below: without the zstd program mkinitramfs falls back to gzip.
        "zstd",
        "e2fsprogs",
        "dosfstools",
        "fdisk",
        // resizepart (grow-data): in util-linux on Debian 12, util-linux-extra on 13.
        "util-linux-extra",
        "cloud-guest-utils",
        "iproute2",
        "hostname",
        "systemd-resolved",
        "hostapd",
        "dnsmasq-base",
        "wireless-regdb",
        "iw",
        "ca-certificates",
    ];
    match profile.board {
        Board::PcAmd64 => p.extend(["linux-image-amd64", "systemd-boot-efi"]),
        Board::RpiArm64 => p.extend(["linux-image-arm64", "raspi-firmware", "firmware-brcm80211"]),
    }
    if !profile.ssh_authorized_keys.is_empty() {
        p.push("openssh-server");
    }
    let mut p: Vec<String> = p.into_iter().map(String::from).collect();
    p.extend(profile.debian.extra_packages.iter().cloned());
    p
}

/// The mmdebstrap command line (a function of the profile alone, so it can be tested).
pub fn mmdebstrap_command(profile: &Profile, target: &Path) -> Command {
    let d = &profile.debian;
    let components = match profile.board {
        Board::PcAmd64 => "main",
        // raspi-firmware and firmware-brcm80211 live in non-free-firmware.
        Board::RpiArm64 => "main non-free-firmware",
    };
    let (modules, list) = match profile.board {
        Board::PcAmd64 => ("most", String::new()),
        Board::RpiArm64 => ("list", RPI_INITRD_MODULES.join("\n")),
    };
    // Before any package is installed: the initramfs settings, so the kernel's
    // postinst builds the right initramfs the first time.
    let setup = format!(
        "mkdir -p \"$1/etc/initramfs-tools/conf.d\" \"$1/usr/share/initramfs-tools/modules.d\" && \
         printf 'MODULES={modules}\\nCOMPRESS=zstd\\n' > \"$1/etc/initramfs-tools/conf.d/preau.conf\" && \
         printf '{list}\\n' > \"$1/usr/share/initramfs-tools/modules.d/preau\""
    );
    let mut c = Command::new("mmdebstrap");
    c.arg("--variant=apt")
        .arg(format!("--architectures={}", profile.board.debian_arch()))
        .arg(format!("--include={}", packages(profile).join(",")))
        .arg(format!("--setup-hook={setup}"))
        .arg("--aptopt=Acquire::Retries \"3\"")
        // Documentation and translations are of no use on the box; copyright files stay.
        .arg("--dpkgopt=path-exclude=/usr/share/man/*")
        .arg("--dpkgopt=path-exclude=/usr/share/locale/*")
        .arg("--dpkgopt=path-include=/usr/share/locale/locale.alias")
        .arg("--dpkgopt=path-exclude=/usr/share/doc/*")
        .arg("--dpkgopt=path-include=/usr/share/doc/*/copyright")
        .arg(&d.suite)
        .arg(target)
        .arg(format!("deb {} {} {components}", d.mirror, d.suite))
        .arg(format!("deb {} {}-updates {components}", d.mirror, d.suite))
        .arg(format!("deb {} {}-security {components}", d.security_mirror, d.suite));
    c
}

pub fn mmdebstrap(profile: &Profile, target: &Path) -> Result<()> {
    if target.exists() {
        std::fs::remove_dir_all(target).with_context(|| format!("cannot remove the old {}", target.display()))?;
    }
    if profile.board == Board::RpiArm64 {
        crate::binfmt::ensure_arm64()?;
    }
    tools::run_visible(&mut mmdebstrap_command(profile, target))
}

/// What goes into the root filesystem besides Debian's packages.
pub struct Additions<'a> {
    pub preau_binary: &'a Path,
    pub image_tool: &'a Path,
    pub packs: Option<&'a Path>,
}

/// Writes the image's files into the root folder made by mmdebstrap.
pub fn customize(root: &Path, profile: &Profile, add: &Additions) -> Result<()> {
    install_exec(add.preau_binary, &root.join(units::BOX_PATH.trim_start_matches('/')))?;
    install_exec(add.image_tool, &root.join(units::TOOL_PATH.trim_start_matches('/')))?;
    let grow = root.join("usr/lib/preau/grow-data");
    write_file(&grow, units::grow_script())?;
    set_mode(&grow, 0o755)?;
    // A root folder kept between builds (--rootfs) still holds the previous build's
    // packs: the preload folder is exactly this build's --packs, or absent.
    let preload = root.join(PRELOAD_DIR.trim_start_matches('/'));
    if preload.exists() {
        std::fs::remove_dir_all(&preload).with_context(|| format!("cannot remove the old {}", preload.display()))?;
    }
    if let Some(packs) = add.packs {
        copy_dir(packs, &preload).with_context(|| format!("cannot copy the packs from {}", packs.display()))?;
    }

    let etc = root.join("etc");
    write_file(&etc.join("fstab"), units::fstab())?;
    write_file(&etc.join("hostname"), "preau\n")?;
    // mmdebstrap leaves the build host's resolver here; the box uses systemd-resolved.
    let resolv = etc.join("resolv.conf");
    let _ = std::fs::remove_file(&resolv);
    symlink("../run/systemd/resolve/stub-resolv.conf", &resolv)?;
    write_file(
        &etc.join("hosts"),
        "127.0.0.1\tlocalhost\n127.0.1.1\tpreau\n::1\tlocalhost ip6-localhost ip6-loopback\n",
    )?;
    let sys = etc.join("systemd/system");
    write_file(&sys.join("preau.service"), units::preau_service())?;
    write_file(&sys.join("preau-config.service"), units::config_service())?;
    write_file(&sys.join("preau-grow-data.service"), units::grow_service())?;
    write_file(&sys.join("preau-hostapd.service"), units::hostapd_service())?;
    write_file(&sys.join("preau-dnsmasq.service"), units::dnsmasq_service())?;
    write_file(&etc.join("systemd/network/20-preau-wired.network"), units::wired_network())?;
    // networkd reads run-time .network files from /run/systemd/network; firstboot
    // writes /run/preau/network, so point the one at the other.
    write_file(
        &etc.join("tmpfiles.d/preau.conf"),
        "L+ /run/systemd/network/10-preau-wlan.network - - - - /run/preau/network/10-preau-wlan.network\n",
    )?;
    // agetty shows the network to join (and a passphrase the box made) on the screen
    // and the serial console, above the login prompt; firstboot writes it in /run.
    std::fs::create_dir_all(etc.join("issue.d"))?;
    let issue = etc.join("issue.d/preau.issue");
    let _ = std::fs::remove_file(&issue);
    symlink("/run/preau/issue", &issue)?;
    // A journal that survives power cuts is worth a little SD wear on a box nobody watches.
    write_file(&etc.join("systemd/journald.conf.d/preau.conf"), "[Journal]\nStorage=persistent\nSystemMaxUse=64M\n")?;
    for dir in [BOOT_MOUNT, DATA_DIR] {
        std::fs::create_dir_all(root.join(dir.trim_start_matches('/')))?;
    }
    // raspi-firmware may have filled the FAT mount point in the root filesystem; the
    // real boot partition is assembled separately.
    let boot_fw = root.join(BOOT_MOUNT.trim_start_matches('/'));
    for entry in std::fs::read_dir(&boot_fw)? {
        let p = entry?.path();
        if p.is_dir() { std::fs::remove_dir_all(&p)? } else { std::fs::remove_file(&p)? }
    }
    add_system_user(root, "preau", "Préau classroom box")?;

    let mut enable = vec![
        "systemd-networkd.service",
        "systemd-resolved.service",
        "preau.service",
        "preau-config.service",
        "preau-grow-data.service",
        "preau-hostapd.service",
        "preau-dnsmasq.service",
    ];
    if !profile.ssh_authorized_keys.is_empty() {
        write_file(&sys.join("preau-ssh-keygen.service"), units::ssh_keygen_service())?;
        write_file(&etc.join("ssh/sshd_config.d/preau.conf"), units::sshd_config())?;
        let keys = root.join("root/.ssh/authorized_keys");
        write_file(&keys, profile.ssh_authorized_keys.join("\n") + "\n")?;
        set_mode(&keys, 0o600)?;
        set_mode(&root.join("root/.ssh"), 0o700)?;
        enable.push("preau-ssh-keygen.service");
        enable.push("ssh.service");
    }
    tools::run(Command::new("systemctl").arg(format!("--root={}", root.display())).arg("enable").args(&enable))?;
    // Debian's own hostapd unit would start with Debian's config; ours reads /run/preau.
    tools::run(Command::new("systemctl").arg(format!("--root={}", root.display())).args(["mask", "hostapd.service"]))?;

    forget_identity(root)?;
    Ok(())
}

/// First boot makes the identity: an empty machine-id makes systemd create one (and
/// treat the boot as the first), and no host key or random seed is shipped.
fn forget_identity(root: &Path) -> Result<()> {
    write_file(&root.join("etc/machine-id"), "")?;
    for f in ["var/lib/dbus/machine-id", "var/lib/systemd/random-seed", "var/lib/systemd/credential.secret"] {
        let _ = std::fs::remove_file(root.join(f));
    }
    if let Ok(entries) = std::fs::read_dir(root.join("etc/ssh")) {
        for e in entries {
            let p = e?.path();
            if p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("ssh_host_")) {
                std::fs::remove_file(&p)?;
            }
        }
    }
    Ok(())
}

/// Adds a locked system user and its group by editing the account files (the chroot may
/// be of another architecture). The first free id below 1000 going down from 999.
fn add_system_user(root: &Path, name: &str, gecos: &str) -> Result<()> {
    let read = |f: &str| {
        std::fs::read_to_string(root.join(f)).with_context(|| format!("cannot read {f} in the root filesystem"))
    };
    let passwd = read("etc/passwd")?;
    if passwd.lines().any(|l| l.starts_with(&format!("{name}:"))) {
        return Ok(());
    }
    let group = read("etc/group")?;
    let used = |text: &str| -> Vec<u32> { text.lines().filter_map(|l| l.split(':').nth(2)?.parse().ok()).collect() };
    let (u, g) = (used(&passwd), used(&group));
    let id = (100..1000).rev().find(|i| !u.contains(i) && !g.contains(i)).context("no free system id")?;
    let append = |f: &str, line: String| -> Result<()> {
        let mut text = read(f)?;
        if !text.ends_with('\n') && !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&line);
        std::fs::write(root.join(f), text)?;
        Ok(())
    };
    append("etc/passwd", format!("{name}:x:{id}:{id}:{gecos}:{DATA_DIR}:/usr/sbin/nologin\n"))?;
    append("etc/group", format!("{name}:x:{id}:\n"))?;
    append("etc/shadow", format!("{name}:!:1::::::\n"))?;
    if root.join("etc/gshadow").exists() {
        append("etc/gshadow", format!("{name}:!::\n"))?;
    }
    Ok(())
}

fn install_exec(from: &Path, to: &Path) -> Result<()> {
    if let Some(p) = to.parent() {
        std::fs::create_dir_all(p)?;
    }
    std::fs::copy(from, to).with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    set_mode(to, 0o755)
}

fn set_mode(p: &Path, mode: u32) -> Result<()> {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot chmod {}", p.display()))
}

/// Copies a folder tree (files, folders and symlinks), readable by everyone.
pub fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let ty = entry.file_type()?;
        if ty.is_dir() {
            copy_dir(&src, &dst)?;
        } else if ty.is_symlink() {
            symlink(std::fs::read_link(&src)?, &dst)?;
        } else {
            std::fs::copy(&src, &dst).with_context(|| format!("cannot copy {}", src.display()))?;
            set_mode(&dst, 0o644)?;
        }
    }
    set_mode(to, 0o755)
}

/// The kernel version installed in the root folder (the one `vmlinuz-*` in /boot).
pub fn kernel_version(root: &Path) -> Result<String> {
    let mut versions: Vec<String> = std::fs::read_dir(root.join("boot"))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_prefix("vmlinuz-").map(String::from))
        .collect();
    versions.sort();
    match versions.as_slice() {
        [v] => Ok(v.clone()),
        [] => bail!("no kernel in {}/boot: did the linux-image package install?", root.display()),
        many => bail!("several kernels in {}/boot: {many:?}", root.display()),
    }
}

/// Bytes and files under a folder (to size the root partition).
pub fn usage(dir: &Path) -> Result<(u64, u64)> {
    let (mut bytes, mut files) = (0, 0);
    let mut stack = vec![PathBuf::from(dir)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let meta = e.path().symlink_metadata()?;
            files += 1;
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                bytes += meta.len();
            }
        }
    }
    Ok((bytes, files))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_follow_the_board() {
        let pc = Profile::parse("board = \"pc-amd64\"").unwrap();
        let p = packages(&pc);
        assert!(p.contains(&"systemd-boot-efi".into()) && !p.contains(&"raspi-firmware".into()));
        assert!(p.contains(&"zstd".into()), "the initramfs is zstd-compressed: {p:?}");
        assert!(!p.contains(&"openssh-server".into()));
        let pi = Profile::parse("board = \"rpi-arm64\"\nssh_authorized_keys = [\"ssh-ed25519 AAA x\"]").unwrap();
        let p = packages(&pi);
        assert!(p.contains(&"firmware-brcm80211".into()) && p.contains(&"openssh-server".into()));
        let args: Vec<String> =
            mmdebstrap_command(&pi, Path::new("/x")).get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert!(args.contains(&"--architectures=arm64".into()));
        assert!(args.iter().any(|a| a.ends_with("trixie-security main non-free-firmware")), "{args:?}");
        assert!(args.iter().any(|a| a.contains("MODULES=list") && a.contains("sdhci_iproc")));
    }

    #[test]
    fn system_user_is_added_once_with_a_free_id() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(
            etc.join("passwd"),
            "root:x:0:0:root:/root:/bin/bash\nsystemd-network:x:999:999::/:/usr/sbin/nologin\n",
        )
        .unwrap();
        std::fs::write(etc.join("group"), "root:x:0:\nsystemd-network:x:999:\n").unwrap();
        std::fs::write(etc.join("shadow"), "root:*:1::::::\n").unwrap();
        add_system_user(dir.path(), "preau", "Préau").unwrap();
        add_system_user(dir.path(), "preau", "Préau").unwrap();
        let passwd = std::fs::read_to_string(etc.join("passwd")).unwrap();
        assert_eq!(passwd.lines().filter(|l| l.starts_with("preau:")).count(), 1);
        assert!(passwd.contains("preau:x:998:998:"), "{passwd}");
        assert!(std::fs::read_to_string(etc.join("shadow")).unwrap().contains("preau:!:"));
    }
}
