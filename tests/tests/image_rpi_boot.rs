//! End to end for the Pi: build one `rpi-arm64` image (Debian 13) with the cross-built
//! `preau` and `preau-image` (`preau-image cross-build`) and a preloaded pack, then boot
//! it under `qemu-system-aarch64` on three machines, one after the other. On each, a
//! pupil's tablet joins the box's hotspot over simulated Wi-Fi inside the guest
//! (`mac80211_hwsim`, `tests/src/wifi_tablet.sh`) and loads the home page and the pack:
//!
//! - `-M raspi4b` (a Pi 4 Model B): the image's kernel and initramfs with its own
//!   `bcm2711-rpi-4-b.dtb`, the image as the SD card. QEMU's Pi 4 has no PCIe, hence no
//!   USB and no Ethernet: the box is seen from inside only, through the tablet, on the
//!   PL011's console (`ttyAMA0`). QEMU 10 leaves part of the board out, and Debian's
//!   6.12 kernel stops at boot on what is missing; the test works around it, never the
//!   image (see [`raspi4b_dtb_for_qemu`] and [`RASPI4B_QEMU_ARGS`]);
//! - `-M virt -cpu cortex-a72`: the same kernel on a virtio disk with virtio networking,
//!   so `/healthz` and the pack are also fetched from the host (the quick one);
//! - `-M raspi3b`: the image's `bcm2837-rpi-3-b.dtb`, the SD card, a USB network adapter
//!   on the board's dwc2 controller, `/healthz` from the host too.
//!
//! Too slow for CI (the arm64 root filesystem is installed under qemu-user), so it is
//! ignored by default. One command runs it, host and cross builds included (cargo
//! decides what is stale; the Debian root and the cross-build chroot are kept in
//! `target/` between runs). As root the tool registers qemu-aarch64 with binfmt_misc
//! itself:
//!
//! ```sh
//! cargo test -p preau-tests --test image_rpi_boot -- --ignored --nocapture
//! ```
//!
//! `PREAU_ARM64_BIN=FILE` uses that aarch64 `preau` (and the `preau-image` next to it)
//! instead of cross-building. `PREAU_IMAGE_STANDIN=1` puts the test stand-in server in
//! the image instead of the box. `PREAU_RPI_BOARDS=raspi4b,virt` boots only those. The
//! pack is made with the host's `preau`.

use preau_tests::image::{
    Guest, ImageJob, TABLET_ARGS, add_tablet, fat_of, free_port, host_ready, mtype, overlay, preau_bin, run,
    run_visible, standin, user_net, workspace_bin, workspace_root,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const TOOLS: &[&str] = &[
    "mmdebstrap",
    "qemu-aarch64-static",
    "qemu-system-aarch64",
    "qemu-img",
    "mcopy",
    "mtype",
    "sfdisk",
    "mkfs.vfat",
    "mke2fs",
    "bmaptool",
    "fdtput",
    "zstd",
    "systemctl",
];
/// The device trees of the boards QEMU emulates, as the Pi firmware picks them
/// (`upstream_kernel=1` in config.txt) from the boot partition.
const RASPI3B_DTB: &str = "bcm2837-rpi-3-b.dtb";
const RASPI4B_DTB: &str = "bcm2711-rpi-4-b.dtb";
const BOARDS: [&str; 3] = ["raspi4b", "virt", "raspi3b"];

#[test]
#[ignore = "slow (an hour from scratch): builds an arm64 root under emulation, boots three boards; run with --ignored"]
fn rpi_arm64_image_boots_on_raspi4b_virt_and_raspi3b_and_a_tablet_joins_its_hotspot() {
    host_ready(TOOLS, &[], true);
    let start = Instant::now();
    let standin = standin();

    // The host's binaries (the image tool, the preau that makes the pack), then the
    // board's, so that the image holds the code of this tree.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run_visible(Command::new(cargo).current_dir(workspace_root()).args(["build", "--workspace", "--bins"]));
    let t = Instant::now();
    let arm_bin = match std::env::var_os("PREAU_ARM64_BIN") {
        Some(p) => PathBuf::from(p),
        None => cross_build(standin),
    };
    let cross_time = t.elapsed();
    assert!(arm_bin.is_file(), "{} is missing", arm_bin.display());
    let arm_image_tool = arm_bin.with_file_name("preau-image");
    let host_preau = if standin { workspace_bin("preau-standin") } else { preau_bin() };

    let job = ImageJob::prepare("rpi-arm64", "rpi", &host_preau);
    let built = job.build(&workspace_bin("preau-image"), &arm_bin, Some(&arm_image_tool));
    add_tablet(&built.img, &job.work, false);
    let boot = BootFiles::extract(&built.img, &job.work);

    // One board after the other (each takes the machine's cores); a failure of one does
    // not hide the others' results.
    let wanted = std::env::var("PREAU_RPI_BOARDS").unwrap_or_else(|_| BOARDS.join(","));
    let mut results = Vec::new();
    for board in BOARDS.iter().filter(|b| wanted.split(',').any(|w| w.trim() == **b)) {
        let r = std::panic::catch_unwind(|| match *board {
            "raspi4b" => boot_raspi4b(&job, &built.img, &boot),
            "virt" => boot_virt(&job, &built.img, &boot),
            _ => boot_raspi3b(&job, &built.img, &boot),
        });
        results.push((*board, r));
    }
    let secs = |d: Duration| format!("{:.0}s", d.as_secs_f64());
    let shown: Vec<String> = results
        .iter()
        .map(|(b, r)| match r {
            Ok(t) => format!("{b}: /healthz {:.0}s, tablet's first page {:.0}s", t.0, t.1),
            Err(_) => format!("{b}: FAILED"),
        })
        .collect();
    eprintln!(
        "rpi-arm64 timings: cross-build {}, Debian root {}, image {}; power-on to (guest uptime) {}; whole test {}",
        secs(cross_time),
        secs(built.rootfs_time),
        secs(built.image_time),
        shown.join("; "),
        secs(start.elapsed())
    );
    assert!(!results.is_empty(), "PREAU_RPI_BOARDS={wanted:?} names none of {BOARDS:?}");
    for (_, r) in results {
        if let Err(e) = r {
            std::panic::resume_unwind(e);
        }
    }
}

/// `preau-image cross-build` (the Debian chroot is made once, then cargo rebuilds what
/// changed); returns the aarch64 `preau` (or the stand-in).
fn cross_build(standin: bool) -> PathBuf {
    let root = workspace_root();
    let mut cmd = Command::new(workspace_bin("preau-image"));
    cmd.arg("cross-build").arg("--workspace").arg(&root);
    let bin = if standin {
        cmd.args(["--bin", "preau-tests:preau-standin", "--bin", "preau-image:preau-image"]);
        "preau-standin"
    } else {
        "preau"
    };
    run_visible(&mut cmd);
    root.join("target/cross/aarch64-unknown-linux-gnu/release").join(bin)
}

/// What the Pi firmware would load from the image's boot partition.
struct BootFiles {
    kernel: PathBuf,
    initrd: PathBuf,
    dtb3: PathBuf,
    dtb4: PathBuf,
    cmdline: String,
}

impl BootFiles {
    fn extract(img: &Path, dir: &Path) -> BootFiles {
        let fat = fat_of(img);
        let mcopy = |name: &str| {
            let to = dir.join(name);
            run(Command::new("mcopy")
                .env("MTOOLS_SKIP_CHECK", "1")
                .args(["-o", "-i"])
                .arg(&fat)
                .arg(format!("::/{name}"))
                .arg(&to));
            to
        };
        let config_txt = mtype(&fat, "::/config.txt");
        let value = |key: &str| {
            config_txt
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .unwrap_or_else(|| panic!("no {key} line in config.txt:\n{config_txt}"))
                .to_string()
        };
        let kernel = value("kernel=");
        // `initramfs FILE followkernel`
        let initrd = value("initramfs ").split_whitespace().next().expect("initramfs file").to_string();
        BootFiles {
            kernel: mcopy(&kernel),
            initrd: mcopy(&initrd),
            dtb3: mcopy(RASPI3B_DTB),
            dtb4: mcopy(RASPI4B_DTB),
            cmdline: mtype(&fat, "::/cmdline.txt").trim().to_string(),
        }
    }

    /// The image's kernel command line with `console` as the only console (the last
    /// console= gets systemd's and the box's messages, which the test reads), and the
    /// simulated radios and tablet.
    fn append(&self, console: &str) -> String {
        let rest: Vec<&str> = self.cmdline.split_whitespace().filter(|a| !a.starts_with("console=")).collect();
        format!("console={console} {} {TABLET_ARGS}", rest.join(" "))
    }
}

/// Seconds from QEMU's start to `/healthz` (from the host), and the guest's uptime when
/// the tablet's first page loaded.
fn boot_virt(job: &ImageJob, img: &Path, boot: &BootFiles) -> (f64, f64) {
    let size = std::fs::metadata(img).unwrap().len() + (1 << 30);
    let disk = overlay(img, &job.work.join("virt.qcow2"), size);
    let port = free_port();
    let serial = job.work.join("serial-virt.log");
    let mut qemu = Command::new("qemu-system-aarch64");
    qemu.args(["-M", "virt", "-cpu", "cortex-a72", "-m", "1024", "-smp", "2", "-display", "none", "-no-reboot"])
        .arg("-kernel")
        .arg(&boot.kernel)
        .arg("-initrd")
        .arg(&boot.initrd)
        // The virt board's serial port is a PL011: ttyAMA0.
        .arg("-append")
        .arg(boot.append("ttyAMA0"))
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .arg("-drive")
        .arg(format!("file={},if=none,id=d0,format=qcow2", disk.display()))
        .args(["-device", "virtio-blk-pci,drive=d0"])
        .arg("-netdev")
        .arg(user_net("n0", port))
        .args(["-device", "virtio-net-pci,netdev=n0"]);
    let mut guest = Guest::start("rpi-arm64 virt", qemu, serial, port);
    let health = guest.expect_serving_box(Duration::from_secs(900));
    (health.as_secs_f64(), guest.expect_tablet_joins(Duration::from_secs(1500)))
}

fn boot_raspi3b(job: &ImageJob, img: &Path, boot: &BootFiles) -> (f64, f64) {
    // QEMU's SD card must be a power of two in size; the room left makes the data
    // partition grow, as on a real card larger than the image.
    let size = (std::fs::metadata(img).unwrap().len() + (256 << 20)).next_power_of_two();
    let card = overlay(img, &job.work.join("sd.qcow2"), size);
    let port = free_port();
    let serial = job.work.join("serial-raspi3b.log");
    let mut qemu = Command::new("qemu-system-aarch64");
    // The board is fixed: 4 Cortex-A53 and 1 GiB.
    qemu.args(["-M", "raspi3b", "-display", "none", "-no-reboot"])
        .arg("-kernel")
        .arg(&boot.kernel)
        .arg("-initrd")
        .arg(&boot.initrd)
        .arg("-dtb")
        .arg(&boot.dtb3)
        // As on a Pi 3: the PL011 (first serial port) is the Bluetooth UART, the GPIO
        // header's serial is the mini UART, ttyS1 (the image's own console=ttyS1).
        .arg("-append")
        .arg(boot.append("ttyS1,115200"))
        .args(["-serial", "null", "-serial"])
        .arg(format!("file:{}", serial.display()))
        .arg("-drive")
        .arg(format!("file={},if=sd,format=qcow2", card.display()))
        .arg("-netdev")
        .arg(user_net("n0", port))
        .args(["-device", "usb-net,netdev=n0"]);
    let mut guest = Guest::start("rpi-arm64 raspi3b", qemu, serial, port);
    let health = guest.expect_serving_box(Duration::from_secs(1500));
    (health.as_secs_f64(), guest.expect_tablet_joins(Duration::from_secs(2400)))
}

/// The Pi 4: no network in QEMU, so `/healthz` is the time the tablet script saw it
/// answer on the box itself (guest uptime).
/// Kernel arguments for QEMU's Pi 4 only. QEMU 10 does not map the HDMI block's
/// registers (`0xfef0_0000`): Debian's 6.12 kernel takes an external abort, and panics,
/// in the L2 interrupt controller and the HDMI I2C drivers and when it turns off
/// unused clocks. A real Pi 4 has that hardware and boots without them.
const RASPI4B_QEMU_ARGS: &str = "initcall_blacklist=brcmstb_l2_driver_init,brcmstb_i2c_driver_init \
     clk_ignore_unused modprobe.blacklist=vc4";

/// The image's own Pi 4 device tree, changed for QEMU with `fdtput` (a copy in `work`):
/// QEMU connects the SD card to the Arasan controller (`mmc@7e300000`, the Wi-Fi's SDIO
/// bus on a real Pi 4), whose power sequence waits for firmware GPIOs that QEMU's
/// firmware does not answer, so its probe would wait for ever; the Wi-Fi chip under it
/// is removed, and so are EMMC2's regulators (the same firmware GPIOs). The image is not
/// changed: on a Pi 4 the firmware gives the kernel the real tree.
fn raspi4b_dtb_for_qemu(dtb: &Path, work: &Path) -> PathBuf {
    let patched = work.join("bcm2711-rpi-4-b-qemu.dtb");
    std::fs::copy(dtb, &patched).expect("copy the Pi 4 device tree");
    let p = patched.to_str().expect("UTF-8 path");
    for args in [
        &["-d", p, "/soc/mmc@7e300000", "mmc-pwrseq"][..],
        &["-d", p, "/soc/mmc@7e300000", "non-removable"],
        &["-r", p, "/soc/mmc@7e300000/wifi@1"],
        &["-d", p, "/emmc2bus/mmc@7e340000", "vqmmc-supply"],
        &["-d", p, "/emmc2bus/mmc@7e340000", "vmmc-supply"],
    ] {
        run(Command::new("fdtput").args(args));
    }
    patched
}

fn boot_raspi4b(job: &ImageJob, img: &Path, boot: &BootFiles) -> (f64, f64) {
    let size = (std::fs::metadata(img).unwrap().len() + (256 << 20)).next_power_of_two();
    let card = overlay(img, &job.work.join("sd4.qcow2"), size);
    let serial = job.work.join("serial-raspi4b.log");
    let mut qemu = Command::new("qemu-system-aarch64");
    // The board is fixed: 4 Cortex-A72 and 2 GiB.
    qemu.args(["-M", "raspi4b", "-display", "none", "-no-reboot"])
        .arg("-kernel")
        .arg(&boot.kernel)
        .arg("-initrd")
        .arg(&boot.initrd)
        .arg("-dtb")
        .arg(raspi4b_dtb_for_qemu(&boot.dtb4, &job.work))
        // On a Pi 4 the GPIO header's serial is the mini UART (ttyS1), but under QEMU its
        // shared interrupt makes the kernel loop on warnings: the console is the PL011.
        .arg("-append")
        .arg(format!("{} {RASPI4B_QEMU_ARGS}", boot.append("ttyAMA0,115200")))
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .arg("-serial")
        .arg(format!("file:{}", job.work.join("serial-raspi4b-mini-uart.log").display()))
        .arg("-drive")
        .arg(format!("file={},if=sd,format=qcow2", card.display()));
    // No port: nothing reaches the guest from the host.
    let mut guest = Guest::start("rpi-arm64 raspi4b", qemu, serial, free_port());
    let first_page = guest.expect_tablet_joins(Duration::from_secs(2400));
    let console = guest.console();
    let health = console
        .lines()
        .find_map(|l| l.split_once("TABLET: box answers /healthz at ").map(|(_, r)| r.trim_end_matches('s').trim()))
        .and_then(|s| s.parse().ok())
        .expect("the /healthz step");
    assert!(console.contains("preau-grow-data: CHANGED"), "raspi4b: the data partition did not grow:\n{console}");
    (health, first_page)
}
