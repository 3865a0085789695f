//! End to end for the Pi: build an `rpi-arm64` image with the cross-built `preau` and
//! `preau-image` (`preau-image cross-build`) and a preloaded pack, boot it under
//! `qemu-system-aarch64 -M virt -cpu cortex-a72` with the kernel and initramfs taken
//! from the image's boot partition, and wait until the box answers over 127.0.0.1.
//!
//! Too slow for CI (the arm64 root filesystem is installed under qemu-user), so it is
//! ignored by default; run it with one command:
//!
//! ```sh
//! cargo test -p preau-tests --test image_rpi_boot -- --ignored --nocapture
//! ```
//!
//! Binaries: `PREAU_ARM64_BIN` (default `target/cross/aarch64-unknown-linux-gnu/release/preau`)
//! and `preau-image` next to it. The pack is made with the host's `preau`.

use preau_tests::image::{
    Guest, MARKER, PACK_ID, e2e_config, free_port, make_pack, missing_tools, preau_bin, run,
    target_dir, workspace_bin,
};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
#[ignore = "slow: builds an arm64 root under emulation; run with --ignored"]
fn rpi_arm64_image_boots_under_qemu_virt_and_serves_a_preloaded_pack() {
    let missing = missing_tools(&[
        "mmdebstrap",
        "qemu-system-aarch64",
        "qemu-aarch64-static",
        "mcopy",
        "qemu-img",
    ]);
    assert!(
        missing.is_empty(),
        "missing {missing:?}: run bash .ci/install.d/60-image.sh"
    );
    let standin = std::env::var("PREAU_IMAGE_STANDIN").as_deref() == Ok("1");
    let cross = target_dir().join("cross/aarch64-unknown-linux-gnu/release");
    let arm_bin = match std::env::var_os("PREAU_ARM64_BIN") {
        Some(p) => PathBuf::from(p),
        None if standin => cross.join("preau-standin"),
        None => cross.join("preau"),
    };
    assert!(
        arm_bin.is_file(),
        "{} is missing: run `preau-image cross-build`",
        arm_bin.display()
    );
    let image_tool_arm = arm_bin.with_file_name("preau-image");
    let image_tool = workspace_bin("preau-image");

    let base = target_dir().join("image-e2e");
    let work = base.join("rpi");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let host_preau = if standin {
        workspace_bin("preau-standin")
    } else {
        preau_bin()
    };
    let (packs, public_key) = make_pack(&host_preau, &work);
    let config = work.join("preau.toml");
    std::fs::write(&config, e2e_config(public_key.as_deref())).unwrap();
    let profile = work.join("profile.toml");
    std::fs::write(
        &profile,
        "board = \"rpi-arm64\"\nversion = \"e2e\"\ncompression = \"zstd\"\n",
    )
    .unwrap();

    let t = Instant::now();
    let out = work.join("out");
    run(Command::new(&image_tool)
        .arg("build")
        .arg("--profile")
        .arg(&profile)
        .arg("--out")
        .arg(&out)
        .arg("--binary")
        .arg(&arm_bin)
        .arg("--image-tool")
        .arg(&image_tool_arm)
        .arg("--packs")
        .arg(&packs)
        .arg("--config")
        .arg(&config)
        .arg("--rootfs")
        .arg(base.join("rootfs-rpi-arm64")));
    eprintln!("image built in {:.0}s", t.elapsed().as_secs_f64());
    let img = out.join("preau-rpi-arm64-e2e.img");

    // The kernel and initramfs, as the Pi firmware would load them (config.txt).
    let offset = preau_image_boot_offset(&img);
    let fat = format!("{}@@{offset}", img.display());
    let mtype = |p: &str| {
        run(Command::new("mtype")
            .env("MTOOLS_SKIP_CHECK", "1")
            .arg("-i")
            .arg(&fat)
            .arg(p))
    };
    let config_txt = mtype("::/config.txt");
    let kernel = config_txt
        .lines()
        .find_map(|l| l.strip_prefix("kernel="))
        .expect("kernel= in config.txt")
        .to_string();
    let initrd = kernel.replace("vmlinuz-", "initrd.img-");
    for f in [&kernel, &initrd] {
        run(Command::new("mcopy")
            .env("MTOOLS_SKIP_CHECK", "1")
            .args(["-o", "-i"])
            .arg(&fat)
            .arg(format!("::/{f}"))
            .arg(work.join(f)));
    }
    let cmdline = mtype("::/cmdline.txt");
    // The virt board's serial port is a PL011: ttyAMA0.
    let append = cmdline
        .trim()
        .replace("console=ttyS1,115200 console=tty1", "console=ttyAMA0");

    let overlay = work.join("disk.qcow2");
    let size = std::fs::metadata(&img).unwrap().len() + (1 << 30);
    run(Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
        .arg(&img)
        .arg(&overlay)
        .arg(size.to_string()));
    let port = free_port();
    let serial = work.join("serial.log");
    let mut qemu = Command::new("qemu-system-aarch64");
    qemu.args([
        "-M",
        "virt",
        "-cpu",
        "cortex-a72",
        "-m",
        "1024",
        "-smp",
        "2",
        "-display",
        "none",
        "-no-reboot",
    ])
    .arg("-kernel")
    .arg(work.join(&kernel))
    .arg("-initrd")
    .arg(work.join(&initrd))
    .arg("-append")
    .arg(&append)
    .arg("-serial")
    .arg(format!("file:{}", serial.display()))
    .arg("-drive")
    .arg(format!(
        "file={},if=none,id=d0,format=qcow2",
        overlay.display()
    ))
    .args(["-device", "virtio-blk-pci,drive=d0"])
    .arg("-netdev")
    .arg(format!("user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:80"))
    .args(["-device", "virtio-net-pci,netdev=n0"]);
    let mut guest = Guest::start(qemu, serial, port);
    guest.wait_http("/healthz", Duration::from_secs(900));
    eprintln!(
        "/healthz answered {:.0}s after QEMU started",
        guest.started.elapsed().as_secs_f64()
    );
    let page = guest.wait_http(
        &format!("/packs/{PACK_ID}/index.html"),
        guest.started.elapsed() + Duration::from_secs(180),
    );
    assert!(
        page.contains(MARKER),
        "the pack page lacks its text: {page}"
    );
    let console = guest.console();
    assert!(
        console.contains("preau-grow-data: CHANGED"),
        "the data partition did not grow"
    );
}

fn preau_image_boot_offset(img: &std::path::Path) -> u64 {
    let out = run(Command::new("sfdisk").arg("--json").arg(img));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["partitiontable"]["partitions"][0]["start"]
        .as_u64()
        .unwrap()
        * 512
}
