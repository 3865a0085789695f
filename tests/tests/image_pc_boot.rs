//! End to end: build a `pc-amd64` image with the workspace's `preau` and a preloaded
//! pack, boot it under QEMU (TCG, UEFI with OVMF), and wait until the box inside answers
//! `/healthz` and serves a page of that pack through a port forwarded on 127.0.0.1.
//!
//! It uses the real `preau` (`PREAU_BIN`, else `target/debug/preau`) and fails, never
//! skips, in CI when the box does not serve. `PREAU_IMAGE_STANDIN=1` swaps in the test
//! stand-in server and a plain pack folder, to check the image's boot path alone.

use preau_tests::image::{
    Guest, MARKER, PACK_ID, e2e_config, free_port, make_pack, missing_tools, preau_bin, run, target_dir, workspace_bin,
};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

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
];
const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

#[test]
fn pc_amd64_image_boots_and_serves_a_preloaded_pack() {
    let missing = missing_tools(TOOLS);
    if !missing.is_empty() || !Path::new(OVMF_CODE).exists() {
        let msg = format!("missing host tools {missing:?} or OVMF: run bash .ci/install.d/60-image.sh");
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{msg}");
        }
        eprintln!("skipping: {msg}");
        return;
    }
    let standin = std::env::var("PREAU_IMAGE_STANDIN").as_deref() == Ok("1");
    let preau = if standin { workspace_bin("preau-standin") } else { preau_bin() };
    assert!(
        preau.is_file(),
        "{} is missing: build the box with `cargo build -p preau-box` (or set PREAU_BIN)",
        preau.display()
    );
    let image_tool = workspace_bin("preau-image");
    assert!(image_tool.is_file(), "{} is missing: cargo build -p preau-image", image_tool.display());

    let base = target_dir().join("image-e2e");
    let work = base.join("pc");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let (packs, public_key) = make_pack(&preau, &work);
    let config_path = work.join("preau.toml");
    std::fs::write(&config_path, e2e_config(public_key.as_deref())).unwrap();

    let profile = work.join("profile.toml");
    std::fs::write(&profile, "board = \"pc-amd64\"\nversion = \"e2e\"\ncompression = \"zstd\"\n").unwrap();

    // The Debian root folder is kept in the target folder between local runs (the
    // marker file makes a changed profile rebuild it); CI starts from a fresh clone.
    let t = Instant::now();
    let out = work.join("out");
    run(Command::new(&image_tool)
        .arg("build")
        .arg("--profile")
        .arg(&profile)
        .arg("--out")
        .arg(&out)
        .arg("--binary")
        .arg(&preau)
        .arg("--packs")
        .arg(&packs)
        .arg("--config")
        .arg(&config_path)
        .arg("--rootfs")
        .arg(base.join("rootfs-pc-amd64")));
    eprintln!("image built in {:.0}s", t.elapsed().as_secs_f64());
    let img = out.join("preau-pc-amd64-e2e.img");
    for ext in ["img.zst", "bmap", "sha256", "os_list.json"] {
        assert!(out.join(format!("preau-pc-amd64-e2e.{ext}")).is_file(), "no .{ext} output");
    }

    // Boot a copy-on-write overlay 1 GiB larger than the image, as if flashed on a
    // larger card: the data partition must grow at first boot.
    let overlay = work.join("disk.qcow2");
    let size = std::fs::metadata(&img).unwrap().len() + (1 << 30);
    run(Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
        .arg(&img)
        .arg(&overlay)
        .arg(size.to_string()));
    let vars = work.join("OVMF_VARS.fd");
    std::fs::copy(OVMF_VARS, &vars).unwrap();
    let port = free_port();
    let serial = work.join("serial.log");
    let mut qemu = Command::new("qemu-system-x86_64");
    qemu.args([
        "-M",
        "q35",
        "-cpu",
        "max",
        "-accel",
        "tcg",
        "-m",
        "1024",
        "-smp",
        "2",
        "-display",
        "none",
        "-no-reboot",
    ])
    .arg("-serial")
    .arg(format!("file:{}", serial.display()))
    .arg("-drive")
    .arg(format!("if=pflash,format=raw,readonly=on,file={OVMF_CODE}"))
    .arg("-drive")
    .arg(format!("if=pflash,format=raw,file={}", vars.display()))
    .arg("-drive")
    .arg(format!("file={},if=virtio,format=qcow2", overlay.display()))
    .arg("-netdev")
    .arg(format!("user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:80"))
    .args(["-device", "virtio-net-pci,netdev=n0"]);
    let mut guest = Guest::start(qemu, serial, port);

    let health = guest.wait_http("/healthz", Duration::from_secs(600));
    eprintln!(
        "/healthz answered {:.0}s after QEMU started: {:?}",
        guest.started.elapsed().as_secs_f64(),
        health.trim()
    );
    // The box installs the preloaded packs at start; give it a little while.
    let page_path = format!("/packs/{PACK_ID}/index.html");
    let page = guest.wait_http(&page_path, guest.started.elapsed() + Duration::from_secs(120));
    assert!(page.contains(MARKER), "{page_path} answered without the pack's text: {page}");

    let console = guest.console();
    assert!(console.contains("preau-grow-data: CHANGED"), "the data partition did not grow:\n{console}");
    assert!(console.contains("preau: hostname preau, Ethernet mode"), "preau.toml was not applied:\n{console}");
}
