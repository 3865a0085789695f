//! The school mesh on a real multicast LAN: network namespaces joined by a Linux bridge,
//! three real `preau serve` (real mDNS with `mdns-sd`), real Avahi, and a fake peer.
//!
//! - B and C know only an unreachable national server; A holds packs (with a quiz, so
//!   there are private objects). B gets them from A by itself (background sync).
//! - A publishes v2 with a CLI pull from a folder; B follows by itself; A stops; C (new)
//!   gets v2 from B. Every box stays byte-exact (`preau pack extract`).
//! - A fake peer advertises `_preau._tcp` with Avahi, records and relays every request
//!   to A: the boxes talk to it, yet it never sees the secret nor a private object in
//!   clear. Polling `/repo/objects/<new quiz object>` without the secret during A's CLI
//!   pull and B's background pull never gets a 200 (a teacher's add: `sync_peer.rs`).
//! - `avahi-browse -rpt` sees each box's `_preau._tcp` TXT record and its `_http._tcp`.
//!
//! Root only (CI runs as root): outside CI a non-root run skips with one line; with
//! `CI=true` a missing tool or privilege fails. Everything the test creates
//! (namespaces, bridge, processes) is removed by a guard, even on failure.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "ecole-des-tilleuls-mesh-2026";
const PORT: u16 = 8080;

fn preau() -> &'static str {
    env!("CARGO_BIN_EXE_preau")
}

/// Whether the test can run here; `None` means skip (printed), panics in CI.
fn can_run() -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let tools = ["ip", "avahi-daemon", "avahi-browse", "avahi-publish-service", "dbus-daemon", "python3", "unshare"]
        .iter()
        .all(|t| {
            Command::new("sh").args(["-c", &format!("command -v {t}")]).output().is_ok_and(|o| o.status.success())
        });
    if root && tools {
        return true;
    }
    let why = if root { "ip, avahi-daemon, avahi-utils, dbus-daemon or python3 missing" } else { "not root" };
    assert!(!ci, "the mesh test must run in CI: {why}");
    eprintln!("skipping the mesh test: {why} (it needs root and .ci/install.d/70-mesh.sh)");
    false
}

/// Namespaces, the bridge (inside the hub namespace: deleting it removes the bridge and
/// the veth ends) and process groups, all removed on drop.
struct Lan {
    prefix: String,
    namespaces: Vec<String>,
    children: Vec<(String, Child)>,
}

impl Lan {
    fn new() -> Lan {
        let prefix = format!("pm{}", std::process::id());
        let mut lan = Lan { prefix: prefix.clone(), namespaces: Vec::new(), children: Vec::new() };
        let hub = lan.ns("hub");
        lan.namespaces.push(hub.clone());
        sh(&format!("ip netns add {hub}"));
        sh(&format!("ip -n {hub} link set lo up"));
        sh(&format!("ip -n {hub} link add br0 type bridge mcast_snooping 0"));
        sh(&format!("ip -n {hub} link set br0 up multicast on"));
        lan
    }

    fn ns(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// A host on the LAN at 10.77.0.`n`.
    fn host(&mut self, name: &str, n: u8) -> String {
        let (ns, hub) = (self.ns(name), self.ns("hub"));
        sh(&format!("ip netns add {ns}"));
        self.namespaces.push(ns.clone());
        sh(&format!("ip -n {hub} link add v{name} type veth peer name eth0 netns {ns}"));
        sh(&format!("ip -n {hub} link set v{name} master br0 up multicast on"));
        sh(&format!("ip -n {ns} link set lo up"));
        sh(&format!("ip -n {ns} addr add 10.77.0.{n}/24 dev eth0"));
        sh(&format!("ip -n {ns} link set eth0 up multicast on"));
        sh(&format!("ip -n {ns} route add 224.0.0.0/4 dev eth0"));
        ns
    }

    /// Runs `cmd` in namespace `ns` in its own process group.
    fn spawn(&mut self, label: &str, ns: &str, cmd: &mut Command) -> &mut Child {
        use std::os::unix::process::CommandExt;
        let mut full = Command::new("ip");
        full.args(["netns", "exec", ns]).arg(cmd.get_program()).args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => full.env(k, v),
                None => full.env_remove(k),
            };
        }
        full.process_group(0).stdin(Stdio::null());
        if cmd.get_current_dir().is_some() {
            full.current_dir(cmd.get_current_dir().unwrap());
        }
        let child = full.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn in a namespace");
        self.children.push((label.to_string(), child));
        &mut self.children.last_mut().unwrap().1
    }

    fn kill(&mut self, label: &str) {
        if let Some(i) = self.children.iter().position(|(l, _)| l == label) {
            let (_, mut c) = self.children.remove(i);
            kill_group(&mut c);
        }
    }
}

fn kill_group(c: &mut Child) {
    let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", c.id())]).status();
    let _ = c.wait();
}

impl Drop for Lan {
    fn drop(&mut self) {
        for (_, c) in &mut self.children {
            kill_group(c);
        }
        for ns in self.namespaces.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn sh(cmd: &str) {
    let out = Command::new("sh").args(["-c", cmd]).output().unwrap();
    assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Keeps a child's output in a file (the test prints it when it fails).
fn log_to(child: &mut Child, path: &Path) {
    for stream in [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child.stderr.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let path = path.to_path_buf();
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path).unwrap();
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                use std::io::Write;
                let _ = writeln!(f, "{line}");
            }
        });
    }
}

fn wait_until(what: &str, limit: Duration, logs: &[PathBuf], mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    for l in logs {
        eprintln!("----- {} -----\n{}", l.display(), std::fs::read_to_string(l).unwrap_or_default());
    }
    panic!("timed out after {limit:?} waiting for {what}");
}

/// The installed version of `pack` in a box's data folder.
fn installed_version(data: &Path, pack: &str) -> Option<u64> {
    let installed = preau_pack::installed::Installed::load(&data.join("repo")).ok()?;
    installed.packs.get(pack).map(|p| p.version)
}

/// Extracts `pack` from a box's repository and compares it with the source folder.
fn assert_byte_exact(data: &Path, pack: &str, src: &Path, tmp: &Path) {
    let out = tmp.join(format!("extract-{}", data.file_name().unwrap().to_string_lossy()));
    let _ = std::fs::remove_dir_all(&out);
    run(Command::new(preau())
        .args(["pack", "extract", "--id", pack, "--repo"])
        .arg(data.join("repo"))
        .arg("--out")
        .arg(&out));
    let diff = Command::new("diff").arg("-r").arg(src).arg(&out).output().unwrap();
    assert!(
        diff.status.success(),
        "{} differs from the source: {}",
        data.display(),
        String::from_utf8_lossy(&diff.stdout)
    );
}

const FAKE_PEER: &str = r#"
# A fake peer: records every request (line + headers) and relays it to a real box,
# keeping every response body it relays. Or, with "poll", GETs a URL in a loop and
# records the status codes until a stop file appears.
import http.server, sys, urllib.request, urllib.error, os, time
mode = sys.argv[1]
if mode == "poll":
    url, out, stop = sys.argv[2], sys.argv[3], sys.argv[4]
    with open(out, "a") as f:
        while not os.path.exists(stop):
            try:
                code = urllib.request.urlopen(url, timeout=2).status
            except urllib.error.HTTPError as e:
                code = e.code
            except Exception:
                code = 0
            f.write(f"{code}\n"); f.flush()
            time.sleep(0.02)
    sys.exit(0)
port, target, log, bodies = int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
count = [0]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(log, "a") as f:
            f.write(f"{self.client_address[0]} {self.requestline}\n{self.headers}\n")
        req = urllib.request.Request(target + self.path, headers={k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")})
        try:
            r = urllib.request.urlopen(req, timeout=10); code, body, hdrs = r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            code, body, hdrs = e.code, e.read(), e.headers
        count[0] += 1
        with open(os.path.join(bodies, str(count[0])), "wb") as f:
            f.write(body)
        self.send_response(code)
        for k in ("Content-Type", "Content-Range", "ETag"):
            if hdrs.get(k): self.send_header(k, hdrs.get(k))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_HEAD = do_GET
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("0.0.0.0", port), H).serve_forever()
"#;

/// `PREAU_MESH_BENCH_TAR`: a site tar (the fixture course) added to the course, for the
/// BENCHMARKS.md figures; the test itself uses a small generated course.
fn write_course(dir: &Path, version: u32) {
    std::fs::create_dir_all(dir.join("_preau/quiz")).unwrap();
    if let Ok(tar) = std::env::var("PREAU_MESH_BENCH_TAR")
        && !dir.join("site").exists()
    {
        std::fs::create_dir_all(dir.join("site")).unwrap();
        sh(&format!("tar -xf {tar} -C {}", dir.join("site").display()));
    }
    std::fs::write(dir.join("index.html"), format!("<h1>Cours v{version}</h1>")).unwrap();
    std::fs::write(dir.join("lecon.md"), format!("# Leçon {version}\n\nDu texte.\n")).unwrap();
    // A bigger public file, shared by both versions (so v2 is a small update).
    let mut big = Vec::new();
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for _ in 0..300_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        big.push((x >> 24) as u8);
    }
    std::fs::write(dir.join("media.bin"), big).unwrap();
    std::fs::write(dir.join(format!("_preau/quiz/q{version}.json")), quiz(version)).unwrap();
}

fn quiz(version: u32) -> String {
    format!("{{\"question\":\"2+{version}?\",\"answer\":\"{} (secret answer key v{version})\"}}", 2 + version)
}

#[test]
fn boxes_share_packs_by_themselves_and_keep_answers_private() {
    if !can_run() {
        return;
    }
    // Stray system Avahi daemons would answer for the test's; the test runs its own.
    let _ = Command::new("avahi-daemon").arg("--kill").output();
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let mut lan = Lan::new();
    let ns_a = lan.host("a", 1);
    let ns_b = lan.host("b", 2);
    let ns_c = lan.host("c", 3);
    let ns_v = lan.host("v", 5);

    // The publisher: a course with a quiz, built with `preau pack build`.
    let key = t.join("key");
    run(Command::new(preau()).args(["keygen", "--out"]).arg(&key));
    let pubkey = std::fs::read_to_string(t.join("key.pub")).unwrap().trim().to_string();
    let publisher = t.join("publisher");
    let course = t.join("course");
    write_course(&course, 1);
    let build = |src: &Path| {
        run(Command::new(preau())
            .args(["pack", "build"])
            .arg(src)
            .arg("--repo")
            .arg(&publisher)
            .arg("--key")
            .arg(&key)
            .args(["--id", "cours", "--level", "3"]));
    };
    build(&course);

    let config = |name: &str, national: bool| {
        let path = t.join(format!("{name}.toml"));
        let repo = if national { "repository = \"http://127.0.0.1:9/repo/\"\n" } else { "" };
        std::fs::write(
            &path,
            format!(
                "[box]\nhostname = \"preau-{name}\"\n[sync]\n{repo}peer_token = \"{TOKEN}\"\ntrusted_keys = [\"{pubkey}\"]\n"
            ),
        )
        .unwrap();
        path
    };
    let data = |name: &str| {
        let d = t.join(name);
        // No demo pack: the boxes hold only the course.
        std::fs::create_dir_all(d.join("identity")).unwrap();
        std::fs::write(d.join("identity/demo-installed"), "test\n").unwrap();
        d
    };
    let (a_data, b_data, c_data) = (data("a"), data("b"), data("c"));
    // A gets v1 from a folder (a CLI pull), then serves it.
    run(Command::new(preau())
        .args(["sync", "pull", "--from"])
        .arg(&publisher)
        .arg("--data")
        .arg(&a_data)
        .arg("--trust")
        .arg(t.join("key.pub")));
    let serve = |data: &Path, cfg: &Path| {
        let mut c = Command::new(preau());
        c.args(["serve", "--listen", &format!("0.0.0.0:{PORT}"), "--data"])
            .arg(data)
            .arg("--config")
            .arg(cfg)
            .env("PREAU_SYNC_INTERVAL_SECS", "2")
            .env("PREAU_LOG", "info")
            .env_remove("PREAU_PEER_TOKEN");
        c
    };
    let logs: Vec<PathBuf> =
        ["a", "b", "c", "fake", "avahi", "fake-log"].iter().map(|n| t.join(format!("{n}.log"))).collect();

    // Real Avahi in its own namespace, with a private D-Bus (never the system's).
    let v = t.join("avahi");
    std::fs::create_dir_all(&v).unwrap();
    let bus = v.join("bus");
    std::fs::write(
        v.join("dbus.conf"),
        format!(
            "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\" \
             \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n<busconfig><type>system</type>\
             <listen>unix:path={}</listen><auth>EXTERNAL</auth><policy context=\"default\"><allow user=\"*\"/>\
             <allow own=\"*\"/><allow send_destination=\"*\"/><allow receive_sender=\"*\"/></policy></busconfig>\n",
            bus.display()
        ),
    )
    .unwrap();
    std::fs::write(
        v.join("avahi-daemon.conf"),
        "[server]\nuse-ipv4=yes\nuse-ipv6=no\nallow-interfaces=eth0\nenable-dbus=yes\nratelimit-interval-usec=0\n\
         [wide-area]\nenable-wide-area=no\n[publish]\npublish-hinfo=no\npublish-workstation=no\n[reflector]\n[rlimits]\n",
    )
    .unwrap();
    let bus_env = format!("unix:path={}", bus.display());
    let child = lan.spawn(
        "dbus",
        &ns_v,
        Command::new("dbus-daemon").arg(format!("--config-file={}", v.join("dbus.conf").display())).arg("--nofork"),
    );
    log_to(child, &logs[4]);
    wait_until("the private D-Bus", Duration::from_secs(10), &logs, || bus.exists());
    // Its own mount namespace: the pid file under /run/avahi-daemon is private to it.
    let daemon = format!(
        "mkdir -p /run/avahi-daemon && mount -t tmpfs tmpfs /run/avahi-daemon && exec avahi-daemon --no-drop-root --no-chroot --no-rlimits -f {}",
        v.join("avahi-daemon.conf").display()
    );
    let child = lan.spawn(
        "avahi",
        &ns_v,
        Command::new("unshare").args(["-m", "sh", "-c", &daemon]).env("DBUS_SYSTEM_BUS_ADDRESS", &bus_env),
    );
    log_to(child, &logs[4]);

    // The fake peer: relays to A, advertised by Avahi as a box.
    let bodies = t.join("fake-bodies");
    std::fs::create_dir_all(&bodies).unwrap();
    let script = t.join("fake_peer.py");
    std::fs::write(&script, FAKE_PEER).unwrap();
    let child = lan.spawn(
        "fake",
        &ns_v,
        Command::new("python3")
            .arg(&script)
            .args(["serve", "8080", "http://10.77.0.1:8080"])
            .arg(&logs[5])
            .arg(&bodies),
    );
    log_to(child, &logs[3]);
    // Its id sorts first: every box tries it before the real ones (a relay in real time).
    // For the benchmark it sorts last, so that the figures are those of A itself.
    let bench = std::env::var_os("PREAU_MESH_BENCH_TAR").is_some();
    let fake_id = if bench { "ffffffffffffffffffffffffffffffff" } else { "00000000000000000000000000000000" };
    wait_until("Avahi to start", Duration::from_secs(20), &logs, || {
        Command::new("ip")
            .args(["netns", "exec", &ns_v, "avahi-browse", "-at", "-p"])
            .env("DBUS_SYSTEM_BUS_ADDRESS", &bus_env)
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let child = lan.spawn(
        "publish",
        &ns_v,
        Command::new("avahi-publish-service")
            .args([format!("Préau {}", &fake_id[..8]).as_str(), "_preau._tcp", "8080"])
            .args([format!("id={fake_id}"), "path=/repo/".into(), "api=2".into(), "catalog=99".into()])
            .env("DBUS_SYSTEM_BUS_ADDRESS", &bus_env),
    );
    log_to(child, &logs[3]);

    // B starts with nothing but an unreachable national server and backs off; A then
    // appears on the LAN, and B gets its packs by itself.
    let child = lan.spawn("b", &ns_b, &mut serve(&b_data, &config("b", true)));
    log_to(child, &logs[1]);
    wait_until("B to back off", Duration::from_secs(60), &logs, || {
        std::fs::read_to_string(&logs[1]).unwrap_or_default().matches("sync: round failed").count() >= 3
    });
    let started = Instant::now();
    let child = lan.spawn("a", &ns_a, &mut serve(&a_data, &config("a", false)));
    log_to(child, &logs[0]);
    wait_until("B to get v1 from A", Duration::from_secs(120), &logs, || {
        installed_version(&b_data, "cours") == Some(1)
    });
    eprintln!("B installed v1 {:.1} s after A appeared", started.elapsed().as_secs_f64());
    assert_byte_exact(&b_data, "cours", &course, t);
    // The switch comes before the pull's log line: wait for it.
    let pulled = |log: &Path, urls: &[&str]| {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        urls.iter().any(|u| text.contains(&format!("sync: pulled from {u}")))
    };
    let (a_url, fake_url) = ("http://10.77.0.1:8080/repo/", "http://10.77.0.5:8080/repo/");
    wait_until("B to log where it pulled from", Duration::from_secs(20), &logs, || {
        pulled(&logs[1], &[a_url, fake_url])
    });
    let b_log = std::fs::read_to_string(&logs[1]).unwrap();
    for l in b_log.lines().filter(|l| l.contains("appeared") || l.contains("sync: pulled from")) {
        eprintln!("B: {l}");
    }

    // v2 with a new quiz; pollers without the secret ask for its private object on A
    // (during A's CLI pull) and on B (during B's background pull).
    std::fs::remove_file(course.join("_preau/quiz/q1.json")).unwrap();
    write_course(&course, 2);
    let secret_hash = preau_pack::Hash::of(quiz(2).as_bytes());
    let stop = t.join("stop-polling");
    for (label, n) in [("poll-a", 1), ("poll-b", 2)] {
        let url = format!("http://10.77.0.{n}:{PORT}/repo/{}", preau_pack::repo::object_rel_path(&secret_hash));
        lan.spawn(
            label,
            &ns_c,
            Command::new("python3").arg(&script).arg("poll").arg(url).arg(t.join(format!("{label}.codes"))).arg(&stop),
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    build(&course);
    run(Command::new(preau())
        .args(["sync", "pull", "--from"])
        .arg(&publisher)
        .arg("--data")
        .arg(&a_data)
        .arg("--trust")
        .arg(t.join("key.pub")));
    assert_eq!(installed_version(&a_data, "cours"), Some(2));
    wait_until("B to get v2 from A", Duration::from_secs(120), &logs, || {
        installed_version(&b_data, "cours") == Some(2)
    });
    // Past both reloads: the servers have classified the new object by now.
    std::thread::sleep(Duration::from_secs(4));
    std::fs::write(&stop, "").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    for label in ["poll-a", "poll-b"] {
        let codes = std::fs::read_to_string(t.join(format!("{label}.codes"))).unwrap();
        let codes: Vec<&str> = codes.lines().collect();
        assert!(codes.len() > 20, "{label} polled: {codes:?}");
        assert!(
            codes.iter().all(|c| *c == "404" || *c == "403"),
            "{label}: a private object served in clear: {codes:?}"
        );
        assert_eq!(codes.last(), Some(&"403"), "{label} ends with the object installed and refused");
    }
    assert_byte_exact(&a_data, "cours", &course, t);
    assert_byte_exact(&b_data, "cours", &course, t);

    // A leaves; C arrives and gets v2 from B.
    lan.kill("a");
    let child = lan.spawn("c", &ns_c, &mut serve(&c_data, &config("c", true)));
    log_to(child, &logs[2]);
    wait_until("C to get v2 from B", Duration::from_secs(120), &logs, || {
        installed_version(&c_data, "cours") == Some(2)
    });
    assert_byte_exact(&c_data, "cours", &course, t);
    wait_until("C to log that it pulled from B", Duration::from_secs(20), &logs, || {
        pulled(&logs[2], &["http://10.77.0.2:8080/repo/"])
    });

    // Avahi sees each box with its TXT record, and the laptops' `_http._tcp`.
    let browse = |ty: &str| {
        run(Command::new("ip")
            .args(["netns", "exec", &ns_v, "avahi-browse", "-rpt", ty])
            .env("DBUS_SYSTEM_BUS_ADDRESS", &bus_env))
    };
    let catalog = {
        let repo = preau_pack::Repo::open(&publisher).unwrap();
        repo.load_catalog(&repo.verified_root(None).unwrap()).unwrap().version
    };
    let ids: Vec<String> = [&b_data, &c_data]
        .iter()
        .map(|d| std::fs::read_to_string(d.join("identity/box-id")).unwrap().trim().to_string())
        .collect();
    // The adverts follow the installed catalog (v2 reached both after they started): a
    // box re-announces within seconds of its reload.
    let advert_of = |adverts: &str, id: &str| {
        adverts.lines().find(|l| l.starts_with("=;") && l.contains(&format!("\"id={id}\""))).map(str::to_string)
    };
    let mut preau_adverts = String::new();
    wait_until("Avahi to see B and C with catalog v2", Duration::from_secs(30), &logs, || {
        preau_adverts = browse("_preau._tcp");
        ids.iter()
            .all(|id| advert_of(&preau_adverts, id).is_some_and(|l| l.contains(&format!("\"catalog={catalog}\""))))
    });
    let http = browse("_http._tcp");
    for id in &ids {
        let line = advert_of(&preau_adverts, id).unwrap();
        assert!(line.contains("\"path=/repo/\"") && line.contains("\"api=2\""), "{line}");
        assert!(line.contains(";_preau._tcp;local;preau-"), "the host name of the box: {line}");
        assert!(http.lines().any(|l| l.starts_with("=;") && l.contains(&id[..8])), "no _http._tcp for {id}:\n{http}");
    }

    // The fake peer was asked (the boxes found it) but got neither the secret nor an
    // answer in clear.
    let fake_log = std::fs::read_to_string(&logs[5]).unwrap_or_default();
    assert!(fake_log.contains("GET /repo/"), "the boxes never talked to the fake peer:\n{fake_log}");
    assert!(bench || fake_log.contains("GET /repo/private/"), "the relay carried sealed objects:\n{fake_log}");
    assert!(!fake_log.contains(TOKEN), "the secret went to the fake peer");
    assert!(!fake_log.to_ascii_lowercase().contains("authorization"), "{fake_log}");
    let a_repo = preau_pack::Repo::open(&a_data.join("repo")).unwrap();
    let private_stored: Vec<Vec<u8>> = [quiz(1), quiz(2)]
        .iter()
        .filter_map(|q| a_repo.read_stored(&preau_pack::Hash::of(q.as_bytes())).ok())
        .collect();
    assert!(!private_stored.is_empty());
    for e in std::fs::read_dir(&bodies).unwrap() {
        let body = std::fs::read(e.unwrap().path()).unwrap();
        assert!(!private_stored.contains(&body), "the fake peer relayed a private object in clear");
        for q in [quiz(1), quiz(2)] {
            assert!(!body.windows(q.len()).any(|w| w == q.as_bytes()), "an answer key in clear");
        }
    }
}
