//! End to end for the Pi: build one `rpi-arm64` image with the cross-built `preau` and
//! `preau-image` (`preau-image cross-build`) and a preloaded pack, then boot it twice
//! under `qemu-system-aarch64`, each time until the box answers `/healthz` and serves a
//! page of the pack through a port forwarded on 127.0.0.1:
//!
//! - `-M virt -cpu cortex-a72`: the kernel and initramfs of the image's boot partition,
//!   the image on a virtio disk, virtio networking (the quick one);
//! - `-M raspi3b`: the same kernel and initramfs with the image's own
//!   `bcm2837-rpi-3-b.dtb`, the image as the SD card (the board's SD host controller) and
//!   a USB network adapter on the board's USB controller (dwc2); the console is the
//!   mini UART of the GPIO header (`ttyS1`, QEMU's second serial port), as on a Pi 3.
//!
//! Too slow for CI (the arm64 root filesystem is installed under qemu-user), so it is
//! ignored by default. One command runs it, host and cross builds included (cargo
//! decides what is stale; the Debian root and the cross-build chroot are kept in
//! `target/` between runs):
//!
//! ```sh
//! cargo test -p preau-tests --test image_rpi_boot -- --ignored --nocapture
//! ```
//!
//! `PREAU_ARM64_BIN=FILE` uses that aarch64 `preau` (and the `preau-image` next to it)
//! instead of cross-building. `PREAU_IMAGE_STANDIN=1` puts the test stand-in server in
//! the image instead of the box. The pack is made with the host's `preau`.

use preau_tests::image::{
    Guest, ImageJob, free_port, host_ready, overlay, preau_bin, run, run_visible, standin, user_net, workspace_bin,
    workspace_root,
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
    "zstd",
    "systemctl",
];
/// The device tree of the board QEMU emulates, as the Pi firmware picks it
/// (`upstream_kernel=1` in config.txt) from the boot partition.
const RASPI3B_DTB: &str = "bcm2837-rpi-3-b.dtb";

#[test]
#[ignore = "slow (an hour from scratch): builds an arm64 root under emulation, boots two boards; run with --ignored"]
fn rpi_arm64_image_boots_under_qemu_virt_and_raspi3b_and_serves_a_preloaded_pack() {
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
    let boot = BootFiles::extract(&built.img, &job.work);

    // Both boards, one after the other (each takes the machine's cores); a failure of
    // the first does not hide the second's result.
    let virt = std::panic::catch_unwind(|| boot_virt(&job, &built.img, &boot));
    let raspi = std::panic::catch_unwind(|| boot_raspi3b(&job, &built.img, &boot));
    let secs = |d: Duration| format!("{:.0}s", d.as_secs_f64());
    let shown = |r: &std::thread::Result<Duration>| match r {
        Ok(d) => secs(*d),
        Err(_) => "FAILED".to_string(),
    };
    eprintln!(
        "rpi-arm64 timings: cross-build {}, Debian root {}, image {}, boot to /healthz: virt {}, raspi3b {}; whole test {}",
        secs(cross_time),
        secs(built.rootfs_time),
        secs(built.image_time),
        shown(&virt),
        shown(&raspi),
        secs(start.elapsed())
    );
    for r in [virt, raspi] {
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
    dtb: PathBuf,
    cmdline: String,
}

impl BootFiles {
    fn extract(img: &Path, dir: &Path) -> BootFiles {
        let out = run(Command::new("sfdisk").arg("--json").arg(img));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let offset = v["partitiontable"]["partitions"][0]["start"].as_u64().unwrap() * 512;
        let fat = format!("{}@@{offset}", img.display());
        let mtype = |p: &str| run(Command::new("mtype").env("MTOOLS_SKIP_CHECK", "1").arg("-i").arg(&fat).arg(p));
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
        let config_txt = mtype("::/config.txt");
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
            dtb: mcopy(RASPI3B_DTB),
            cmdline: mtype("::/cmdline.txt").trim().to_string(),
        }
    }

    /// The image's kernel command line with `console` as the only console (the last
    /// console= gets systemd's and the box's messages, which the test reads).
    fn append(&self, console: &str) -> String {
        let rest: Vec<&str> = self.cmdline.split_whitespace().filter(|a| !a.starts_with("console=")).collect();
        format!("console={console} {}", rest.join(" "))
    }
}

fn boot_virt(job: &ImageJob, img: &Path, boot: &BootFiles) -> Duration {
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
    guest.expect_serving_box(Duration::from_secs(900))
}

fn boot_raspi3b(job: &ImageJob, img: &Path, boot: &BootFiles) -> Duration {
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
        .arg(&boot.dtb)
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
    guest.expect_serving_box(Duration::from_secs(1500))
}
