//! Builds small images from a prepared root folder (no mmdebstrap: seconds, not minutes)
//! through the real pipeline (mkfs.vfat, mcopy, mke2fs -d, sfdisk, bmaptool, zstd), then
//! reads the generated files back out of the image with debugfs and mtools.

use preau_image::partition::MIB;
use preau_image::pipeline::{self, BuildOptions, RootSource};
use preau_image::profile::Profile;
use preau_image::{image, personalize};
use std::path::{Path, PathBuf};
use std::process::Command;

const TOOLS: &[&str] = &["mkfs.vfat", "mcopy", "mtype", "sfdisk", "mke2fs", "debugfs", "bmaptool", "zstd", "systemctl"];

fn tools_present() -> bool {
    let missing: Vec<_> = TOOLS.iter().filter(|t| preau_image::tools::find(t).is_none()).collect();
    if missing.is_empty() {
        return true;
    }
    let msg = format!("missing {missing:?}: run bash .ci/install.d/60-image.sh");
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg}");
    }
    eprintln!("skipping: {msg}");
    false
}

fn write(root: &Path, path: &str, text: &str) {
    let p = root.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// A root folder with just what the pipeline reads from Debian's packages.
fn fake_root(dir: &Path, kernel: &str) -> PathBuf {
    let root = dir.join("root");
    write(&root, "etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
    write(&root, "etc/group", "root:x:0:\n");
    write(&root, "etc/shadow", "root:*:20000:0:99999:7:::\n");
    write(&root, "etc/gshadow", "root:*::\n");
    write(&root, "etc/machine-id", "0123456789abcdef0123456789abcdef\n");
    write(&root, "etc/ssh/ssh_host_ed25519_key", "secret\n");
    write(&root, "var/lib/systemd/random-seed", "seed\n");
    write(&root, &format!("boot/vmlinuz-{kernel}"), "kernel\n");
    write(&root, &format!("boot/initrd.img-{kernel}"), "initrd\n");
    write(&root, "boot/firmware/stale.txt", "left by raspi-firmware\n");
    write(&root, "usr/lib/systemd/boot/efi/systemd-bootx64.efi", "MZ systemd-boot\n");
    write(&root, "usr/lib/raspi-firmware/start4.elf", "firmware\n");
    write(&root, "usr/lib/raspi-firmware/bootcode.bin", "firmware\n");
    write(&root, &format!("usr/lib/linux-image-{kernel}/broadcom/bcm2837-rpi-3-b.dtb"), "dtb\n");
    for unit in ["systemd-networkd.service", "systemd-resolved.service"] {
        write(
            &root,
            &format!("lib/systemd/system/{unit}"),
            "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
        );
    }
    root
}

fn packs(dir: &Path) -> PathBuf {
    let p = dir.join("packs");
    write(&p, "catalog.json", "{}\n");
    write(&p, "objects/ab/abcdef", "object\n");
    p
}

fn build(dir: &Path, profile: &str, binary: PathBuf, image_tool: PathBuf, kernel: &str) -> pipeline::Built {
    let config = dir.join("preau.toml");
    std::fs::write(&config, "[box]\nhostname = \"salle-2\"\n[wifi]\nssid = \"Classe-CM1\"\npassphrase = \"cahier de textes\"\nchannel = 11\n").unwrap();
    pipeline::build(&BuildOptions {
        profile: Profile::parse(profile).unwrap(),
        out: dir.join("out"),
        binary,
        image_tool,
        packs: Some(packs(dir)),
        config: Some(config),
        root: RootSource::Prepared(fake_root(dir, kernel)),
        url_base: Some("https://example.org/images/".into()),
    })
    .unwrap()
}

fn debugfs(fs: &Path, request: &str) -> String {
    let out = Command::new("debugfs").arg("-R").arg(request).arg(fs).output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn pc_image_holds_units_config_and_packs() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tool = PathBuf::from(env!("CARGO_BIN_EXE_preau-image"));
    let built = build(
        dir.path(),
        "board = \"pc-amd64\"\nversion = \"t\"\ncompression = \"zstd\"\n[size]\nboot_mib = 64\ndata_mib = 16\n",
        PathBuf::from("/usr/bin/true"),
        tool.clone(),
        "6.1.0-9-amd64",
    );
    let img = &built.image;
    assert_eq!(img.file_name().unwrap(), "preau-pc-amd64-t.img");

    // The partition table as sfdisk reads it back.
    let table: serde_json::Value = serde_json::from_str(
        &String::from_utf8(Command::new("sfdisk").arg("--json").arg(img).output().unwrap().stdout).unwrap(),
    )
    .unwrap();
    let parts = table["partitiontable"]["partitions"].as_array().unwrap();
    assert_eq!(table["partitiontable"]["label"], "gpt");
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0]["type"], "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
    assert_eq!(parts[0]["start"].as_u64().unwrap() * 512, MIB);
    assert_eq!(parts[2]["size"].as_u64().unwrap() * 512, 16 * MIB);

    // The boot partition, read with mtools.
    let boot = |p: &str| personalize::read_boot_file(img, p).unwrap();
    assert!(
        boot("loader/entries/preau.conf")
            .contains("options console=tty0 console=ttyS0,115200 root=LABEL=preau-root ro")
    );
    assert_eq!(boot("EFI/BOOT/BOOTX64.EFI"), "MZ systemd-boot\n");
    assert_eq!(boot("preau/vmlinuz"), "kernel\n");
    assert!(boot("preau.toml").contains("Classe-CM1"));

    // The root partition, read with debugfs.
    let root = image::extract_part(img, built.layout.root).unwrap();
    let cat = |p: &str| debugfs(root.path(), &format!("cat {p}"));
    assert!(cat("/etc/fstab").contains("LABEL=preau-data\t/var/lib/preau\text4"));
    let unit = cat("/etc/systemd/system/preau.service");
    assert!(
        unit.contains("ExecStart=/usr/bin/preau system supervise --config /run/preau/preau.toml")
            && unit.contains("ProtectSystem=strict"),
        "{unit}"
    );
    assert!(cat("/etc/systemd/system/preau-config.service").contains("/usr/lib/preau/preau-image firstboot"));
    assert!(cat("/usr/lib/preau/grow-data").contains("resizepart"));
    assert_eq!(cat("/usr/share/preau/preload/objects/ab/abcdef"), "object\n");
    assert!(cat("/etc/passwd").contains("preau:x:"));
    assert_eq!(cat("/etc/machine-id"), "", "no identity is baked in");
    let wants = debugfs(root.path(), "ls -l /etc/systemd/system/multi-user.target.wants");
    for unit in ["preau.service", "preau-config.service", "systemd-networkd.service"] {
        assert!(wants.contains(unit), "{unit} not enabled: {wants}");
    }
    let ssh = debugfs(root.path(), "ls /etc/ssh");
    assert!(!ssh.contains("ssh_host_ed25519_key"), "host key shipped: {ssh}");
    assert!(debugfs(root.path(), "ls /boot/firmware").lines().all(|l| !l.contains("stale.txt")));
    let stat = debugfs(root.path(), "stat /usr/bin/preau");
    assert!(stat.contains("Mode:  0755"), "{stat}");

    // What the box does at boot, with the image's own tool and the card's preau.toml.
    let run_dir = dir.path().join("run");
    let firstboot = |config_text: &str| {
        let cfg = dir.path().join("card.toml");
        std::fs::write(&cfg, config_text).unwrap();
        let out = Command::new(&tool)
            .arg("firstboot")
            .arg("--config")
            .arg(&cfg)
            .arg("--run-dir")
            .arg(&run_dir)
            .arg("--hostname-file")
            .arg(dir.path().join("hostname"))
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, said) = firstboot(&boot("preau.toml"));
    assert!(ok, "{said}");
    let hostapd = std::fs::read_to_string(run_dir.join("hostapd.conf")).unwrap();
    assert!(
        hostapd.contains("ssid2=\"Classe-CM1\"")
            && hostapd.contains("channel=11")
            && hostapd.contains("wpa_passphrase=cahier de textes"),
        "{hostapd}"
    );
    let dnsmasq = std::fs::read_to_string(run_dir.join("dnsmasq.conf")).unwrap();
    assert!(dnsmasq.contains("host-record=salle-2,salle-2.lan,10.42.0.1"), "{dnsmasq}");

    // personalize: a new config lands on the card; a bad one is refused and changes nothing.
    let new = dir.path().join("new.toml");
    std::fs::write(&new, "[wifi]\nmode = \"ethernet\"\n").unwrap();
    personalize::personalize(img, &new).unwrap();
    assert_eq!(boot("preau.toml"), "[wifi]\nmode = \"ethernet\"\n");
    let (ok, said) = firstboot(&boot("preau.toml"));
    assert!(ok && said.contains("Ethernet"), "{said}");
    assert!(!run_dir.join("hostapd.conf").exists());
    std::fs::write(&new, "[wifi]\nmode = \"ethernet\"\nssid_typo = \"x\"\n").unwrap();
    let err = format!("{:#}", personalize::personalize(img, &new).unwrap_err());
    assert!(err.contains("ssid_typo"), "{err}");
    assert_eq!(boot("preau.toml"), "[wifi]\nmode = \"ethernet\"\n");

    // Outputs next to the image.
    let sums = std::fs::read_to_string(&built.sha256).unwrap();
    assert!(sums.contains("  preau-pc-amd64-t.img\n") && sums.contains("  preau-pc-amd64-t.img.zst\n"));
    let os: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&built.os_list).unwrap()).unwrap();
    assert_eq!(os["os_list"][0]["url"], "https://example.org/images/preau-pc-amd64-t.img.zst");
    assert_eq!(os["os_list"][0]["extract_size"], std::fs::metadata(img).unwrap().len());
    assert!(std::fs::read_to_string(&built.bmap).unwrap().contains("<BlockMap>"));
    let unpacked = dir.path().join("unpacked.img");
    assert!(
        Command::new("zstd")
            .args(["-d", "-q", "-f"])
            .arg(&built.compressed)
            .arg("-o")
            .arg(&unpacked)
            .status()
            .unwrap()
            .success()
    );
    // personalize changed the .img since; the compressed copy is the image as built.
    let built_sha = sums.lines().next().unwrap().split_whitespace().next().unwrap();
    assert_eq!(preau_image::outputs::sha256_file(&unpacked).unwrap(), built_sha);
}

/// An aarch64 ELF header: enough for the architecture check of a Pi build.
fn fake_arm64_binary(path: &Path) -> PathBuf {
    let mut h = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0".to_vec();
    h.extend(183u16.to_le_bytes());
    h.extend([0u8; 44]);
    std::fs::write(path, h).unwrap();
    path.to_path_buf()
}

#[test]
fn rpi_image_has_firmware_config_and_mbr() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bin = fake_arm64_binary(&dir.path().join("preau"));
    let tool = fake_arm64_binary(&dir.path().join("preau-image"));
    let kernel = "6.1.0-9-arm64";
    let built = build(
        dir.path(),
        "board = \"rpi-arm64\"\nversion = \"t\"\ncompression = \"zstd\"\n[size]\nboot_mib = 64\ndata_mib = 16\nimage_mib = 600\n",
        bin,
        tool,
        kernel,
    );
    assert_eq!(std::fs::metadata(&built.image).unwrap().len(), 600 * MIB);
    let table =
        String::from_utf8(Command::new("sfdisk").arg("--dump").arg(&built.image).output().unwrap().stdout).unwrap();
    assert!(table.contains("label: dos"), "{table}");
    assert!(table.contains("type=c, bootable"), "{table}");
    let boot = |p: &str| personalize::read_boot_file(&built.image, p).unwrap();
    let config = boot("config.txt");
    assert!(
        config.contains(&format!("kernel=vmlinuz-{kernel}\n"))
            && config.contains(&format!("initramfs initrd.img-{kernel} followkernel")),
        "{config}"
    );
    assert!(boot("cmdline.txt").contains("root=LABEL=preau-root ro rootwait fsck.repair=yes"));
    assert_eq!(boot("start4.elf"), "firmware\n");
    assert_eq!(boot("bcm2837-rpi-3-b.dtb"), "dtb\n");
    assert_eq!(boot(&format!("vmlinuz-{kernel}")), "kernel\n");
    let os: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&built.os_list).unwrap()).unwrap();
    assert_eq!(os["os_list"][0]["devices"][0], "pi3-64bit");
}

#[test]
fn bad_inputs_name_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let opts = |profile: &str, binary: PathBuf| BuildOptions {
        profile: Profile::parse(profile).unwrap(),
        out: dir.path().join("out"),
        binary,
        image_tool: PathBuf::from(env!("CARGO_BIN_EXE_preau-image")),
        packs: None,
        config: None,
        root: RootSource::Prepared(dir.path().join("none")),
        url_base: None,
    };
    if !tools_present() {
        return;
    }
    // An os_list url Raspberry Pi Imager could not download from.
    let mut o = opts("board = \"pc-amd64\"", PathBuf::from("/usr/bin/true"));
    o.url_base = Some("images.example.org/preau".into());
    let err = format!("{:#}", pipeline::build(&o).err().unwrap());
    assert!(err.contains("--url-base") && err.contains("http(s)://"), "{err}");
    // An x86_64 binary for the Pi.
    let err =
        format!("{:#}", pipeline::build(&opts("board = \"rpi-arm64\"", PathBuf::from("/usr/bin/true"))).err().unwrap());
    assert!(err.contains("x86_64") && err.contains("aarch64") && err.contains("cross-build"), "{err}");
    // A missing binary.
    let err = format!("{:#}", pipeline::build(&opts("board = \"pc-amd64\"", dir.path().join("nope"))).err().unwrap());
    assert!(err.contains("missing") && err.contains("cargo build"), "{err}");
    // A root partition too small for the content.
    let root = fake_root(dir.path(), "6.1.0-9-amd64");
    write(&root, "usr/share/big", &"x".repeat(3 * MIB as usize));
    let mut o = opts("board = \"pc-amd64\"\n[size]\nroot_mib = 100\nboot_mib = 64", PathBuf::from("/usr/bin/true"));
    o.root = RootSource::Prepared(root);
    let err = format!("{:#}", pipeline::build(&o).err().unwrap());
    assert!(err.contains("root partition is too small") && err.contains("size.root_mib = "), "{err}");
}
