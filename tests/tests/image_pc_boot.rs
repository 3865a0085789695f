//! End to end: build a `pc-amd64` image with the workspace's `preau` and a preloaded
//! pack, boot it under QEMU (TCG, UEFI with OVMF), and wait until the box inside answers
//! `/healthz` and serves a page of that pack through a port forwarded on 127.0.0.1.
//! Then a pupil's tablet joins the box's hotspot over simulated Wi-Fi inside the guest
//! (`mac80211_hwsim`, see `tests/src/wifi_tablet.sh`): not without the passphrase the
//! box made and showed on its console, then DHCP, DNS (outside names and captive-portal
//! probes answered with the box), the portal redirect, the pupil's home page and the
//! pack's page.
//!
//! It uses the real `preau` (`PREAU_BIN`, else `target/debug/preau`) and fails, never
//! skips, in CI when the box does not serve. `PREAU_IMAGE_STANDIN=1` swaps in the test
//! stand-in server and a plain pack folder, to check the image's boot path alone.

use preau_tests::image::{
    Guest, ImageJob, add_tablet, free_port, host_ready, overlay, preau_bin, standin, user_net, workspace_bin,
};
use std::process::Command;
use std::time::Duration;

const TOOLS: &[&str] = &[
    "mmdebstrap",
    "mkfs.vfat",
    "mcopy",
    "sfdisk",
    "mke2fs",
    "bmaptool",
    "zstd",
    "systemctl",
    "qemu-system-x86_64",
    "qemu-img",
    "mtype",
];
const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

#[test]
fn pc_amd64_image_boots_and_serves_a_preloaded_pack() {
    if !host_ready(TOOLS, &[OVMF_CODE, OVMF_VARS], false) {
        return;
    }
    let preau = if standin() { workspace_bin("preau-standin") } else { preau_bin() };
    assert!(
        preau.is_file(),
        "{} is missing: build the box with `cargo build -p preau-box` (or set PREAU_BIN)",
        preau.display()
    );
    let image_tool = workspace_bin("preau-image");
    assert!(image_tool.is_file(), "{} is missing: cargo build -p preau-image", image_tool.display());

    let job = ImageJob::prepare("pc-amd64", "pc", &preau);
    let built = job.build(&image_tool, &preau, None);
    add_tablet(&built.img, &job.work, true);

    let size = std::fs::metadata(&built.img).unwrap().len() + (1 << 30);
    let disk = overlay(&built.img, &job.work.join("disk.qcow2"), size);
    let vars = job.work.join("OVMF_VARS.fd");
    std::fs::copy(OVMF_VARS, &vars).unwrap();
    let port = free_port();
    let serial = job.work.join("serial.log");
    let mut qemu = Command::new("qemu-system-x86_64");
    qemu.args(["-M", "q35", "-cpu", "max", "-accel", "tcg", "-m", "1024", "-smp", "2", "-display", "none"])
        .arg("-no-reboot")
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .arg("-drive")
        .arg(format!("if=pflash,format=raw,readonly=on,file={OVMF_CODE}"))
        .arg("-drive")
        .arg(format!("if=pflash,format=raw,file={}", vars.display()))
        .arg("-drive")
        .arg(format!("file={},if=virtio,format=qcow2", disk.display()))
        .arg("-netdev")
        .arg(user_net("n0", port))
        .args(["-device", "virtio-net-pci,netdev=n0"]);
    let mut guest = Guest::start("pc-amd64 q35", qemu, serial, port);
    let health = guest.expect_serving_box(Duration::from_secs(600));
    let first_page = guest.expect_tablet_joins(Duration::from_secs(900));
    eprintln!(
        "pc-amd64 timings: Debian root {:.0}s, image {:.0}s, QEMU start to /healthz {:.0}s, power-on (QEMU start) to the tablet's first page {first_page:.0}s",
        built.rootfs_time.as_secs_f64(),
        built.image_time.as_secs_f64(),
        health.as_secs_f64()
    );
}
