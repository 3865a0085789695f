//! A real `preau serve` process on 127.0.0.1 (random port) and a tiny HTTP/1.1 client
//! that shows the exact status, headers and body bytes the server sent.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub data: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts the server on a fresh data folder with `config` as its `preau.toml`.
    pub fn start(config: &str) -> Server {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let mut s = Server::start_in(&data, config);
        s._tmp = Some(tmp);
        s
    }

    /// Starts the server on `data` (kept by the caller).
    pub fn start_in(data: &Path, config: &str) -> Server {
        Server::start_in_env(data, config, &[])
    }

    /// Starts the server on `data` with extra environment variables.
    pub fn start_in_env(data: &Path, config: &str, env: &[(&str, &str)]) -> Server {
        std::fs::create_dir_all(data).unwrap();
        let config_path = data.with_extension("toml");
        // mDNS off: tests must not talk to the network.
        std::fs::write(&config_path, format!("{config}\n")).unwrap();
        let text = std::fs::read_to_string(&config_path).unwrap();
        let text = if text.contains("[server]") {
            text.replace("[server]", "[server]\nmdns = false")
        } else {
            format!("{text}\n[server]\nmdns = false\n")
        };
        std::fs::write(&config_path, text).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_preau"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .arg("--config")
            .arg(&config_path)
            .env("PREAU_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start preau serve");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().expect("preau serve printed nothing").unwrap();
        let addr = first
            .strip_prefix("listening on http://")
            .and_then(|s| s.strip_suffix('/'))
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
        let addr: SocketAddr = addr.parse().unwrap();
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, addr, data: data.to_path_buf(), _tmp: None }
    }

    pub fn get(&self, path: &str) -> Resp {
        request(self.addr, "GET", path, &[], b"")
    }

    /// GETs `path`, following up to five redirects; returns where it ended and the answer.
    pub fn get_following(&self, path: &str) -> (String, Resp) {
        let mut resp = self.get(path);
        let mut at = path.to_string();
        for _ in 0..5 {
            if !(300..400).contains(&resp.status) {
                break;
            }
            at = resp.header("location").expect("a redirect has a Location").to_string();
            resp = self.get(&at);
        }
        (at, resp)
    }

    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        request(self.addr, "GET", path, headers, b"")
    }

    /// Sends SIGTERM and waits for the exit status (bounded).
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        signal(&self.child, "TERM");
        wait_exit(&mut self.child, Duration::from_secs(30)).expect("server did not exit after SIGTERM")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill").arg(format!("-{sig}")).arg(child.id().to_string()).status().unwrap().success();
    assert!(ok, "kill -{sig} failed");
}

pub fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let t = Instant::now();
    while t.elapsed() < limit {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request on a fresh connection (`Connection: close`), read to the end.
pub fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    parse_response(&raw, method == "HEAD")
}

pub fn parse_response(raw: &[u8], head_only: bool) -> Resp {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(raw)));
    let head = std::str::from_utf8(&raw[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| l.split_once(':').unwrap())
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if head_only {
        Vec::new()
    } else if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    if let Some((_, len)) = headers.iter().find(|(k, _)| k == "content-length")
        && !head_only
    {
        assert_eq!(body.len(), len.parse::<usize>().unwrap(), "body length differs from content-length");
    }
    Resp { status, headers, body }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let nl = b.windows(2).position(|w| w == b"\r\n").expect("chunk size line");
        let size = usize::from_str_radix(std::str::from_utf8(&b[..nl]).unwrap().split(';').next().unwrap().trim(), 16)
            .unwrap();
        b = &b[nl + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// Deterministic incompressible bytes (xorshift), for chunked "video" files.
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The files of the test pack `t`, kept to compare with what the server sends.
pub struct TestPack {
    pub index: Vec<u8>,
    pub css: Vec<u8>,
    pub video: Vec<u8>,
    pub small_video: Vec<u8>,
    pub secret: Vec<u8>,
    pub markdown: Vec<u8>,
}

/// Builds packs `t` (with an entry page) and `bare` (no entry page) into a repository and
/// installs them into `data` through preau-sync's apply step.
pub fn install_test_packs(data: &Path) -> TestPack {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let (p, key) = build_test_packs(&repo);
    preau_sync::install_from_folder(&repo, data, &[key.public()], None).unwrap();
    p
}

/// Builds packs `t` and `bare` into the publisher repository `repo`.
pub fn build_test_packs(repo: &Path) -> (TestPack, preau_pack::sign::SecretKey) {
    use preau_pack::build::{BuildOptions, build};
    use preau_pack::sign::SecretKey;
    use preau_pack::{PackMeta, SourceTree};

    let css: Vec<u8> = "body { color: #222; margin: 0 auto; }\n".repeat(800).into_bytes();
    let p = TestPack {
        index: format!(
            "<!doctype html><title>Test</title><p>{}</p><script>document.cookie</script>",
            "Bonjour ".repeat(100)
        )
        .into_bytes(),
        css,
        video: noise(3 * 1024 * 1024 + 12345, 7),
        small_video: noise(700 * 1024, 9),
        secret: br#"{"answers": "the right answer is B"}"#.to_vec(),
        markdown: b"# Titre\n\nUn *paragraphe*.\n".to_vec(),
    };
    let key = SecretKey::generate();
    let mut t = SourceTree {
        meta: PackMeta {
            id: "t".into(),
            title: "Test <pack>".into(),
            entry: "index.html".into(),
            ..Default::default()
        },
        files: vec![],
    };
    t.add_bytes("index.html", p.index.clone());
    t.add_bytes("style.css", p.css.clone());
    t.add_bytes("media/video.mp4", p.video.clone());
    t.add_bytes("media/small.mp4", p.small_video.clone());
    t.add_bytes("_preau/quiz/q1.json", p.secret.clone());
    t.add_bytes("notes.md", p.markdown.clone());
    t.add_bytes("docs/a.txt", b"a".to_vec());
    t.add_bytes("docs/b c.txt", b"b".to_vec());
    let opts = BuildOptions { level: 1, ..Default::default() };
    build(repo, t, &key, &opts, &mut |_, _| {}).unwrap();
    let mut bare =
        SourceTree { meta: PackMeta { id: "bare".into(), title: "Bare".into(), ..Default::default() }, files: vec![] };
    bare.add_bytes("one.txt", b"one".to_vec());
    bare.add_bytes("sub/two.txt", b"two".to_vec());
    bare.add_bytes("_preau/course.json", b"{}".to_vec());
    build(repo, bare, &key, &opts, &mut |_, _| {}).unwrap();
    (p, key)
}

/// A server with the test packs installed (and no demo pack).
pub fn start_with_packs(config: &str) -> (Server, TestPack, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let pack = install_test_packs(&data);
    (Server::start_in(&data, config), pack, tmp)
}

/// The value of the cookie `name` set by a response.
pub fn set_cookie(r: &Resp, name: &str) -> Option<String> {
    r.headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .find_map(|(_, v)| v.strip_prefix(&format!("{name}="))?.split(';').next().map(str::to_string))
}

/// The CSRF token in a page's form.
pub fn csrf_field(html: &str) -> String {
    let at = html.find(r#"name="csrf" value=""#).expect("a CSRF field") + r#"name="csrf" value=""#.len();
    html[at..].split('"').next().unwrap().to_string()
}

/// A signed-in teacher as a browser is: session and CSRF cookies (the token the server
/// issued in the `preau_csrf` cookie), `Origin` on every post.
pub struct Teacher {
    pub addr: SocketAddr,
    pub cookies: String,
    pub csrf: String,
}

/// The teacher every test creates (`Mme Durand`, `motdepasse1`).
pub const TEACHER_NAME: &str = "Mme Durand";
pub const TEACHER_PASSWORD: &str = "motdepasse1";

/// Posts a form from a page of `addr` with these cookies (no session needed).
fn post_as_browser(addr: SocketAddr, path: &str, cookies: &str, csrf: &str, fields: &[(&str, &str)]) -> Resp {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("csrf", csrf);
    for (k, v) in fields {
        form.append_pair(k, v);
    }
    let origin = format!("http://{addr}");
    request(
        addr,
        "POST",
        path,
        &[
            ("origin", &origin),
            ("cookie", cookies),
            ("accept-language", "fr"),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        form.finish().as_bytes(),
    )
}

/// Opens `page`, then posts `fields` to it with the CSRF token the box issued; returns the
/// signed-in teacher once the box set a session cookie.
fn teacher_from(server: &Server, page: &str, fields: &[(&str, &str)]) -> Teacher {
    let addr = server.addr;
    let r = server.get(page);
    assert_eq!(r.status, 200, "{}", r.text());
    let csrf = set_cookie(&r, "preau_csrf").expect("a CSRF cookie");
    assert_eq!(csrf_field(&r.text()), csrf);
    let r = post_as_browser(addr, page, &format!("preau_csrf={csrf}"), &csrf, fields);
    assert_eq!(r.status, 303, "{}", r.text());
    let session = set_cookie(&r, "preau_session").expect("a session cookie");
    Teacher { addr, cookies: format!("preau_csrf={csrf}; preau_session={session}"), csrf }
}

/// Creates the first teacher with the setup `code` (the config's or the printed one).
pub fn first_teacher(server: &Server, code: &str) -> Teacher {
    teacher_from(
        server,
        "/teacher/setup",
        &[("code", code), ("name", TEACHER_NAME), ("password", TEACHER_PASSWORD), ("password2", TEACHER_PASSWORD)],
    )
}

/// Signs in the teacher created earlier on this box's data (after a restart).
pub fn sign_in(server: &Server) -> Teacher {
    teacher_from(server, "/teacher/login", &[("name", TEACHER_NAME), ("password", TEACHER_PASSWORD)])
}

impl Teacher {
    pub fn get(&self, path: &str) -> Resp {
        request(self.addr, "GET", path, &[("cookie", &self.cookies), ("accept-language", "fr")], b"")
    }

    pub fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Resp {
        post_as_browser(self.addr, path, &self.cookies, &self.csrf, fields)
    }

    /// `multipart/form-data` as a browser sends the admin page's upload form (the CSRF
    /// field first).
    pub fn upload(&self, name: &str, bytes: &[u8]) -> Resp {
        self.upload_to("/admin/packs/upload", name, bytes)
    }

    /// A multipart upload of one file to `path` (the CSRF field first).
    pub fn upload_to(&self, path: &str, name: &str, bytes: &[u8]) -> Resp {
        let b = "----preauboundary7MA4YWxkTrZu0gW";
        let mut body = format!(
            "--{b}\r\ncontent-disposition: form-data; name=\"csrf\"\r\n\r\n{}\r\n--{b}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"{name}\"\r\ncontent-type: application/octet-stream\r\n\r\n",
            self.csrf
        )
        .into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
        let origin = format!("http://{}", self.addr);
        request(
            self.addr,
            "POST",
            path,
            &[
                ("origin", &origin),
                ("cookie", &self.cookies),
                ("accept-language", "fr"),
                ("content-type", &format!("multipart/form-data; boundary={b}")),
            ],
            &body,
        )
    }
}

/// The URL path a `link` seen on page `base` leads to on the box, if it stays there
/// (query and fragment dropped, `.` and `..` resolved).
pub fn resolve_link(base: &str, link: &str) -> Option<String> {
    let link = link.split(['#', '?']).next().unwrap_or("");
    if link.is_empty() || link.starts_with("//") || link.contains(':') && !link.starts_with('/') {
        return None;
    }
    if link.starts_with('/') {
        return Some(link.to_string());
    }
    let mut parts: Vec<&str> = base.split('/').collect();
    parts.pop(); // the page's own name (empty for `…/`)
    for seg in link.split('/') {
        match seg {
            "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut path = parts.join("/");
    if link.ends_with('/') && !path.ends_with('/') {
        path.push('/');
    }
    Some(path)
}
