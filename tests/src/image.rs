//! Helpers for the image tests (`tests/tests/image_*.rs`): the pack, `preau.toml` and
//! profile an image is built from, the build itself (timed), booting the image under
//! QEMU (software emulation, user networking forwarded to 127.0.0.1 only) and checking
//! that the box inside serves.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const PACK_ID: &str = "e2e-demo";
pub const MARKER: &str = "Bonjour la classe de Préau";

/// `PREAU_IMAGE_STANDIN=1`: the image gets the test stand-in server
/// (`tests/src/bin/preau-standin.rs`) and a plain pack folder instead of the real box,
/// to check the image's boot path alone.
pub fn standin() -> bool {
    std::env::var("PREAU_IMAGE_STANDIN").as_deref() == Ok("1")
}

/// A pack repository holding one pack with an index.html, made by the real `preau`.
/// Returns the repository folder and the hex root public key, if keygen wrote one.
pub fn make_pack(preau: &Path, work: &Path) -> (PathBuf, Option<String>) {
    let src = work.join("pack-src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("index.html"), format!("<!doctype html><h1>{MARKER}</h1>\n")).unwrap();
    if standin() {
        // The stand-in serves {preload}/{id}/{path} from a plain folder.
        let repo = work.join("packs");
        std::fs::create_dir_all(repo.join(PACK_ID)).unwrap();
        std::fs::copy(src.join("index.html"), repo.join(PACK_ID).join("index.html")).unwrap();
        return (repo, None);
    }
    let key = work.join("root.key");
    let repo = work.join("repo");
    let _ = std::fs::remove_dir_all(&repo);
    let _ = std::fs::remove_file(&key);
    run(Command::new(preau).arg("keygen").arg("--out").arg(&key));
    run(Command::new(preau)
        .args(["pack", "build"])
        .arg(&src)
        .arg("--repo")
        .arg(&repo)
        .arg("--key")
        .arg(&key)
        .args(["--id", PACK_ID, "--title", "E2E demo"]));
    assert!(repo.join("catalog.json").is_file(), "preau pack build made no catalog.json in {}", repo.display());
    let public = std::fs::read_to_string(key.with_extension("key.pub")).ok().map(|s| s.trim().to_string());
    let public = public.filter(|k| k.len() == 64 && k.chars().all(|c| c.is_ascii_hexdigit()));
    (repo, public)
}

/// The Wi-Fi name of the boot tests (not ASCII: tablets show it as written).
pub const SSID: &str = "École e2e";

/// The preau.toml of the boot tests: the box's own hotspot without a passphrase (the box
/// makes one), port 80; the wired port (QEMU's network) takes an address by DHCP.
pub fn e2e_config(public_key: Option<&str>) -> String {
    let mut config = format!(
        "[box]\nschool = \"École e2e\"\nlisten = \"0.0.0.0:80\"\n\n[wifi]\nmode = \"hotspot\"\nssid = \"{SSID}\"\n"
    );
    if let Some(k) = public_key {
        config.push_str(&format!("\n[sync]\ntrusted_keys = [\"{k}\"]\n"));
    }
    config
}

/// The profile of the boot tests: the default Debian, plus what the simulated tablet
/// of the Wi-Fi test runs inside the booted box (`wpa_supplicant`; busybox's `udhcpc`
/// and `nslookup`; curl), none of which a real box needs.
pub fn test_profile(board: &str) -> String {
    format!(
        "board = \"{board}\"\nversion = \"e2e\"\ncompression = \"zstd\"\n\n[debian]\nextra_packages = [\"wpasupplicant\", \"busybox\", \"curl\"]\n"
    )
}

/// The workspace's root folder.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// The workspace's target folder (this test binary lives in `target/debug/deps/`).
pub fn target_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().expect("current exe");
    exe.ancestors().nth(3).expect("target dir").to_path_buf()
}

/// A binary of the workspace's debug build (`cargo build --workspace --bins`).
pub fn workspace_bin(name: &str) -> PathBuf {
    target_dir().join("debug").join(name)
}

/// The `preau` binary under test: `PREAU_BIN`, else the workspace's debug build.
pub fn preau_bin() -> PathBuf {
    std::env::var_os("PREAU_BIN").map(PathBuf::from).unwrap_or_else(|| workspace_bin("preau"))
}

/// Host tools the image tests need, with the line that installs them.
pub fn missing_tools(tools: &[&str]) -> Vec<String> {
    tools
        .iter()
        .filter(|t| !["/usr/bin", "/usr/sbin", "/bin", "/sbin"].iter().any(|d| Path::new(d).join(t).exists()))
        .map(|t| t.to_string())
        .collect()
}

/// Whether the host has `tools` and `files`. When it has not: fails under `CI=true` or
/// when `must` (an ignored test run on purpose), else prints why and returns false
/// (the caller skips).
pub fn host_ready(tools: &[&str], files: &[&str], must: bool) -> bool {
    let missing = missing_tools(tools);
    let missing_files: Vec<&&str> = files.iter().filter(|f| !Path::new(f).exists()).collect();
    if missing.is_empty() && missing_files.is_empty() {
        return true;
    }
    let msg = format!("missing host tools {missing:?} or files {missing_files:?}: run bash .ci/install.d/60-image.sh");
    if must || std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg}");
    }
    eprintln!("skipping: {msg}");
    false
}

/// Runs a command to completion; panics with its output when it fails.
pub fn run(cmd: &mut Command) -> String {
    let shown = format!("{cmd:?}");
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
    assert!(
        out.status.success(),
        "{shown} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a long command with its output shown as it goes; panics when it fails.
pub fn run_visible(cmd: &mut Command) {
    let shown = format!("{cmd:?}");
    let status = cmd.stdin(Stdio::null()).status().unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
    assert!(status.success(), "{shown} failed ({status})");
}

/// The inputs of one image build, in `target/image-e2e/<dir>/` (emptied first). The
/// Debian root folder is kept in `target/image-e2e/rootfs-<board>/` between local runs
/// (its marker file makes a changed profile rebuild it); CI starts from a fresh clone.
pub struct ImageJob {
    pub board: &'static str,
    pub work: PathBuf,
    pub rootfs: PathBuf,
    pub packs: PathBuf,
    pub config: PathBuf,
    pub profile: PathBuf,
}

/// A built image and how long its two steps took.
pub struct BuiltImage {
    pub img: PathBuf,
    /// `preau-image rootfs`: the Debian root (near zero when an earlier one is reused).
    pub rootfs_time: Duration,
    /// `preau-image build` with that root: customisation, partitions, outputs.
    pub image_time: Duration,
}

impl ImageJob {
    /// Makes the pack (with `host_preau`), the preau.toml and the profile for `board`.
    pub fn prepare(board: &'static str, dir: &str, host_preau: &Path) -> ImageJob {
        let base = target_dir().join("image-e2e");
        let work = base.join(dir);
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).unwrap();
        let (packs, public_key) = make_pack(host_preau, &work);
        let config = work.join("preau.toml");
        std::fs::write(&config, e2e_config(public_key.as_deref())).unwrap();
        let profile = work.join("profile.toml");
        std::fs::write(&profile, test_profile(board)).unwrap();
        ImageJob { board, rootfs: base.join(format!("rootfs-{board}")), work, packs, config, profile }
    }

    /// Builds the image with `image_tool` (the host's `preau-image`): the Debian root
    /// first (timed apart, it is the long step), then the image around `binary`.
    /// `board_image_tool` is the `preau-image` that runs on the box, when the board is
    /// not the host's.
    pub fn build(&self, image_tool: &Path, binary: &Path, board_image_tool: Option<&Path>) -> BuiltImage {
        let t = Instant::now();
        run_visible(
            Command::new(image_tool)
                .arg("rootfs")
                .arg("--profile")
                .arg(&self.profile)
                .arg("--rootfs")
                .arg(&self.rootfs),
        );
        let rootfs_time = t.elapsed();
        eprintln!("{}: Debian root ready in {:.0}s", self.board, rootfs_time.as_secs_f64());

        let t = Instant::now();
        let out = self.work.join("out");
        let mut cmd = Command::new(image_tool);
        cmd.arg("build")
            .arg("--profile")
            .arg(&self.profile)
            .arg("--out")
            .arg(&out)
            .arg("--binary")
            .arg(binary)
            .arg("--packs")
            .arg(&self.packs)
            .arg("--config")
            .arg(&self.config)
            .arg("--rootfs")
            .arg(&self.rootfs);
        if let Some(tool) = board_image_tool {
            cmd.arg("--image-tool").arg(tool);
        }
        run(&mut cmd);
        let image_time = t.elapsed();
        eprintln!("{}: image built in {:.0}s", self.board, image_time.as_secs_f64());
        let name = format!("preau-{}-e2e", self.board);
        for ext in ["img", "img.zst", "bmap", "sha256", "os_list.json"] {
            assert!(out.join(format!("{name}.{ext}")).is_file(), "no {name}.{ext} in {}", out.display());
        }
        BuiltImage { img: out.join(format!("{name}.img")), rootfs_time, image_time }
    }
}

/// The simulated tablet: a shell script run inside the booted box (see the script).
pub const TABLET_SCRIPT: &str = include_str!("wifi_tablet.sh");

/// Kernel arguments that give the box two simulated radios and run the tablet from the
/// boot partition. `systemd.run=` alone would make its own unit the boot's target; the
/// box's usual target stays the target (`systemd.unit=`) and also wants the generated
/// unit (`systemd.wants=`). That unit only hands the script to a transient unit
/// (`systemd-run --no-block`) and exits at once: a oneshot unit still running holds
/// the boot back (the box never started while it waited). The transient unit waits for
/// the FAT partition (mounted `nofail`, so not ordered before anything).
pub const TABLET_ARGS: &str = "modules-load=mac80211_hwsim mac80211_hwsim.radios=2 \
    systemd.unit=multi-user.target systemd.wants=kernel-command-line.service \
    systemd.run=\"/usr/bin/systemd-run --no-block --unit=preau-tablet \
    --property=Requires=boot-firmware.mount --property=After=boot-firmware.mount \
    /bin/sh /boot/firmware/tablet.sh\" \
    systemd.run_success_action=none systemd.run_failure_action=none";

/// `mtools`' name for the FAT partition (the first one) of a raw image.
pub fn fat_of(img: &Path) -> String {
    let out = run(Command::new("sfdisk").arg("--json").arg(img));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let offset = v["partitiontable"]["partitions"][0]["start"].as_u64().unwrap() * 512;
    format!("{}@@{offset}", img.display())
}

pub fn mtype(fat: &str, path: &str) -> String {
    run(Command::new("mtype").env("MTOOLS_SKIP_CHECK", "1").arg("-i").arg(fat).arg(path))
}

/// Writes `text` to `path` (`::/…`) on the FAT partition `fat`.
pub fn mwrite(fat: &str, path: &str, text: &str, work: &Path) {
    let tmp = work.join("mwrite.tmp");
    std::fs::write(&tmp, text).unwrap();
    run(Command::new("mcopy").env("MTOOLS_SKIP_CHECK", "1").args(["-o", "-i"]).arg(fat).arg(&tmp).arg(path));
    let _ = std::fs::remove_file(tmp);
}

/// Puts the tablet on a built image's boot partition (a test image only: the image's
/// checksums no longer match). On the PC the kernel arguments go into systemd-boot's
/// entry; the Pi tests pass them to QEMU.
pub fn add_tablet(img: &Path, work: &Path, pc: bool) {
    let fat = fat_of(img);
    mwrite(&fat, "::/tablet.sh", TABLET_SCRIPT, work);
    if pc {
        let entry = mtype(&fat, "::/loader/entries/preau.conf");
        let args = TABLET_ARGS.split_whitespace().collect::<Vec<_>>().join(" ");
        let edited: String = entry
            .lines()
            .map(|l| if l.starts_with("options ") { format!("{l} {args}\n") } else { format!("{l}\n") })
            .collect();
        assert!(edited.contains("mac80211_hwsim"), "no options line in the loader entry:\n{entry}");
        mwrite(&fat, "::/loader/entries/preau.conf", &edited, work);
    }
}

/// A copy-on-write qcow2 overlay of the raw image at `path`, `size` bytes large (as if
/// flashed on a larger card: the data partition must grow at first boot).
pub fn overlay(img: &Path, path: &Path, size: u64) -> PathBuf {
    let _ = std::fs::remove_file(path);
    run(Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
        .arg(img)
        .arg(path)
        .arg(size.to_string()));
    path.to_path_buf()
}

/// QEMU user networking whose only way in is `127.0.0.1:port` → the guest's port 80.
pub fn user_net(id: &str, port: u16) -> String {
    format!("user,id={id},hostfwd=tcp:127.0.0.1:{port}-:80")
}

/// A free TCP port on 127.0.0.1 for QEMU's hostfwd.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A plain HTTP/1.1 GET to 127.0.0.1; `None` when nothing answers (yet).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(3)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: preau\r\nConnection: close\r\n\r\n").ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((status, body))
}

/// A QEMU guest, killed when dropped; its serial console goes to a file.
pub struct Guest {
    child: Child,
    pub name: String,
    pub serial: PathBuf,
    pub port: u16,
    pub started: Instant,
}

impl Guest {
    /// Starts `cmd` (a QEMU command whose console is written to `serial` and whose port
    /// 80 is forwarded from `127.0.0.1:port`).
    pub fn start(name: &str, mut cmd: Command, serial: PathBuf, port: u16) -> Guest {
        let _ = std::fs::remove_file(&serial);
        eprintln!("{name}: {cmd:?}");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        Guest { child, name: name.to_string(), serial, port, started: Instant::now() }
    }

    pub fn console(&self) -> String {
        let raw = std::fs::read(&self.serial).unwrap_or_default();
        String::from_utf8_lossy(&raw).into_owned()
    }

    fn console_tail(&self) -> String {
        let c = self.console();
        let lines: Vec<&str> = c.lines().collect();
        lines[lines.len().saturating_sub(80)..].join("\n")
    }

    /// Waits until `GET path` answers 200 (at most `limit` after QEMU started), or
    /// fails with the console's last lines.
    pub fn wait_http(&mut self, path: &str, limit: Duration) -> String {
        loop {
            if let Some((200, body)) = http_get(self.port, path) {
                return body;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{}: QEMU exited ({status}) before {path} answered; console ({}):\n{}",
                    self.name,
                    self.serial.display(),
                    self.console_tail()
                );
            }
            if self.started.elapsed() > limit {
                panic!(
                    "{}: {path} did not answer 200 within {}s of boot; console ({}):\n{}",
                    self.name,
                    limit.as_secs(),
                    self.serial.display(),
                    self.console_tail()
                );
            }
            std::thread::sleep(Duration::from_secs(2));
        }
    }

    /// What every boot test asks of a booted box: `/healthz` answers (within
    /// `healthz_limit` of QEMU's start), then a page of the preloaded pack; the console
    /// shows the data partition grew and `preau.toml` was applied. Returns the time
    /// from QEMU's start to `/healthz`.
    pub fn expect_serving_box(&mut self, healthz_limit: Duration) -> Duration {
        let health = self.wait_http("/healthz", healthz_limit);
        let to_health = self.started.elapsed();
        eprintln!("{}: /healthz answered {:.0}s after QEMU started: {:?}", self.name, to_health.as_secs_f64(), {
            let h = health.trim();
            h.chars().take(120).collect::<String>()
        });
        // The box installs the preloaded packs at start; give it a little while.
        let page_path = format!("/packs/{PACK_ID}/index.html");
        let page = self.wait_http(&page_path, to_health + Duration::from_secs(180));
        assert!(page.contains(MARKER), "{}: {page_path} answered without the pack's text: {page}", self.name);
        eprintln!("{}: {page_path} served {:.0}s after QEMU started", self.name, self.started.elapsed().as_secs_f64());
        let console = self.console();
        assert!(
            console.contains("preau-grow-data: CHANGED"),
            "{}: the data partition did not grow:\n{console}",
            self.name
        );
        let applied = format!("preau: hostname preau, Wi-Fi hotspot \"{SSID}\" (WPA2, passphrase ");
        assert!(console.contains(&applied), "{}: preau.toml was not applied:\n{console}", self.name);
        to_health
    }

    /// Waits for `line` on the console (at most `limit` after QEMU started).
    pub fn wait_console(&mut self, line: &str, fail: &str, limit: Duration) -> String {
        loop {
            let c = self.console();
            if c.contains(line) || c.contains(fail) {
                return c;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{}: QEMU exited ({status}) before {line:?}; console:\n{}", self.name, self.console_tail());
            }
            if self.started.elapsed() > limit {
                panic!("{}: no {line:?} within {}s; console:\n{}", self.name, limit.as_secs(), self.console_tail());
            }
            std::thread::sleep(Duration::from_secs(2));
        }
    }

    /// The simulated tablet (`wifi_tablet.sh`, see `TABLET_ARGS`) joins the hotspot:
    /// checks each step it printed. Returns the seconds from QEMU's start (power-on) to
    /// the console line that says the pupil's home page had loaded (polled every 2 s).
    pub fn expect_tablet_joins(&mut self, limit: Duration) -> f64 {
        let console = self.wait_console("TABLET DONE", "TABLET FAIL", limit);
        let seen = self.started.elapsed().as_secs_f64();
        let tablet: Vec<&str> = console.lines().filter(|l| l.contains("TABLET")).collect();
        let shown = tablet.join("\n");
        eprintln!("{}: the tablet's steps:\n{shown}", self.name);
        assert!(!console.contains("TABLET FAIL"), "{}: the tablet failed:\n{console}", self.name);
        let step = |prefix: &str| -> &str {
            tablet
                .iter()
                .find_map(|l| l.split_once(&format!("TABLET: {prefix}")).map(|(_, rest)| rest))
                .unwrap_or_else(|| panic!("{}: no step {prefix:?} in:\n{shown}", self.name))
        };
        // The passphrase the tablet typed is the one the box made, shown on the console.
        let screen = step(&format!("screen shows ssid={SSID} passphrase="));
        let pass = screen.trim();
        let groups: Vec<&str> = pass.split('-').collect();
        assert!(groups.len() == 3 && groups.iter().all(|g| g.len() == 4), "not a made passphrase: {pass:?}");
        assert!(
            console.contains(&format!("(WPA2, passphrase {pass}, made by this box now)")),
            "{}: the console does not show the passphrase {pass}:\n{console}",
            self.name
        );
        step("without the passphrase: not associated");
        step("with a wrong passphrase: not associated");
        step(&format!("associated with \"{SSID}\" (WPA2)"));
        let lease = step("dhcp address ");
        assert!(lease.starts_with("10.42.0.") && lease.ends_with("router 10.42.0.1 dns 10.42.0.1"), "{lease}");
        for name in ["preau", "example.org", "connectivitycheck.gstatic.com", "captive.apple.com"] {
            assert_eq!(step(&format!("dns {name} -> ")).trim(), "10.42.0.1", "{name}");
        }
        // The portal: a redirect to the box's own address (the box writes the port).
        let probe = step("probe http://connectivitycheck.gstatic.com/generate_204 -> ").trim();
        assert!(
            probe == "302 http://10.42.0.1/" || probe == "302 http://10.42.0.1:80/",
            "{}: the probe was not sent to the box: {probe}",
            self.name
        );
        let home = step("home http://preau/ -> ");
        assert!(home.starts_with("200 ") && home.trim_end().ends_with("Préau"), "{}: home page: {home}", self.name);
        step("box answers /healthz at ");
        step("pack page http://preau/packs/e2e-demo/index.html served");
        let done = tablet.iter().find_map(|l| l.split_once("TABLET DONE ")).expect("DONE line").1;
        eprintln!(
            "{}: the tablet's home page loaded {}s after the guest's kernel started, seen {seen:.0}s after QEMU started",
            self.name,
            done.trim()
        );
        seen
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
