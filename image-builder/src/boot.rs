//! The FAT boot partition's content, staged in a folder: the boot loader (systemd-boot
//! on PCs, the Pi firmware on the Pi), the kernel and initramfs, and `preau.toml`.
//!
//! Kernel command line: root by label (the card may be /dev/mmcblk0 or /dev/sda), `ro`
//! so that systemd checks the root file system before remounting it read-write, and
//! `net.ifnames=0` so the interfaces are eth0/wlan0 as the generated configs expect.

use crate::profile::Board;
use crate::rootfs::copy_dir;
use crate::tools::write_file;
use crate::units::ROOT_LABEL;
use anyhow::{Context, Result};
use std::path::Path;

pub fn cmdline(board: Board) -> String {
    let console = match board {
        // The last console= gets systemd's messages: the serial port (QEMU reads it).
        Board::PcAmd64 => "console=tty0 console=ttyS0,115200",
        // The Pi's serial header (enable_uart=1) and the screen.
        Board::RpiArm64 => "console=ttyS1,115200 console=tty1",
    };
    format!(
        "{console} root=LABEL={ROOT_LABEL} ro rootwait fsck.repair=yes net.ifnames=0 loglevel=4 systemd.show_status=yes"
    )
}

/// The Pi firmware's config.txt. raspi-firmware's own hook only writes it when run as a
/// configure step with /proc mounted, so it is written here.
pub fn config_txt(kernel_version: &str) -> String {
    format!(
        "# Préau: Raspberry Pi firmware settings (Pi 3, 4, 5, Zero 2 W).\n\
         [all]\n\
         arm_64bit=1\n\
         kernel=vmlinuz-{kernel_version}\n\
         initramfs initrd.img-{kernel_version} followkernel\n\
         cmdline=cmdline.txt\n\
         # Debian's kernel uses the upstream device trees.\n\
         upstream_kernel=1\n\
         enable_uart=1\n\
         disable_overscan=1\n\
         \n\
         [pi4]\n\
         max_framebuffers=2\n\
         arm_boost=1\n"
    )
}

pub fn loader_conf() -> String {
    "default preau.conf\ntimeout 0\nconsole-mode keep\neditor no\n".to_string()
}

pub fn loader_entry(board: Board) -> String {
    format!("title Préau\nlinux /preau/vmlinuz\ninitrd /preau/initrd.img\noptions {}\n", cmdline(board))
}

pub const README_TXT: &str = "Préau boot partition\r\n\
\r\n\
Edit preau.toml (school name, Wi-Fi name and passphrase, national repository,\r\n\
trusted keys, teacher setup code) with any text editor, save, eject the card and\r\n\
start the box. Unknown or wrong settings stop the box from starting: check the file\r\n\
with `preau-image check-config preau.toml` on a computer first.\r\n";

/// Stages the boot partition into `stage` from the root folder `root`.
pub fn stage(board: Board, root: &Path, kernel: &str, config_toml: &str, stage: &Path) -> Result<()> {
    std::fs::create_dir_all(stage)?;
    let copy = |from: &str, to: &Path| -> Result<()> {
        if let Some(p) = to.parent() {
            std::fs::create_dir_all(p)?;
        }
        std::fs::copy(root.join(from), to).with_context(|| format!("cannot copy {from} from the root filesystem"))?;
        Ok(())
    };
    match board {
        Board::PcAmd64 => {
            copy("usr/lib/systemd/boot/efi/systemd-bootx64.efi", &stage.join("EFI/BOOT/BOOTX64.EFI"))?;
            copy(&format!("boot/vmlinuz-{kernel}"), &stage.join("preau/vmlinuz"))?;
            copy(&format!("boot/initrd.img-{kernel}"), &stage.join("preau/initrd.img"))?;
            write_file(&stage.join("loader/loader.conf"), loader_conf())?;
            write_file(&stage.join("loader/entries/preau.conf"), loader_entry(board))?;
        }
        Board::RpiArm64 => {
            copy_dir(&root.join("usr/lib/raspi-firmware"), stage)?;
            let dtbs = root.join(format!("usr/lib/linux-image-{kernel}/broadcom"));
            for e in std::fs::read_dir(&dtbs).with_context(|| format!("no device trees in {}", dtbs.display()))? {
                let e = e?;
                std::fs::copy(e.path(), stage.join(e.file_name()))?;
            }
            copy(&format!("boot/vmlinuz-{kernel}"), &stage.join(format!("vmlinuz-{kernel}")))?;
            copy(&format!("boot/initrd.img-{kernel}"), &stage.join(format!("initrd.img-{kernel}")))?;
            write_file(&stage.join("config.txt"), config_txt(kernel))?;
            write_file(&stage.join("cmdline.txt"), cmdline(board) + "\n")?;
        }
    }
    write_file(&stage.join("preau.toml"), config_toml)?;
    write_file(&stage.join("README.txt"), README_TXT)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdline_roots_by_label_and_checks_root() {
        for b in [Board::PcAmd64, Board::RpiArm64] {
            let c = cmdline(b);
            assert!(c.contains("root=LABEL=preau-root ro "), "{c}");
            assert!(c.contains("fsck.repair=yes") && c.contains("net.ifnames=0"));
        }
        assert!(cmdline(Board::PcAmd64).contains("console=ttyS0"));
    }

    #[test]
    fn config_txt_names_the_kernel() {
        let c = config_txt("6.1.0-40-arm64");
        assert!(c.contains("kernel=vmlinuz-6.1.0-40-arm64\n"));
        assert!(c.contains("initramfs initrd.img-6.1.0-40-arm64 followkernel\n"));
        assert!(c.contains("arm_64bit=1"));
    }
}
