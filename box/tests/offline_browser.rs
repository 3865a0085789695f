//! Nothing a pack page loads comes from outside the box, in a real browser (Debian's
//! `chromium` + `chromium-driver`, headless) against a real `preau serve`.
//!
//! Packs built with the real `preau pack build`: a synthetic site that loads KaTeX from
//! jsdelivr, mermaid from unpkg, highlight.js from cdnjs, a polyfill.io script, an outside
//! image (served by a local HTTP server behind `--resolve`) and a YouTube iframe; and every
//! Moodle backup of the fixtures (`--offline`). The library files come from their npm
//! packages (the registry, cached under `target/offline-cache`). Chromium resolves every
//! host but 127.0.0.1 to "not found", and its performance log (DevTools network events,
//! read through chromedriver) lists every request of every page: none may leave the box.
//! Maths must be rendered by KaTeX and the mermaid diagram must be an SVG. A control pack,
//! the same site built `--verbatim`, must show its outside requests in the same log.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};

struct Driver(Child);
impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// chromedriver's log endpoint: the performance log entries since the last call.
#[derive(Debug)]
struct PerformanceLog;
impl WebDriverCompatibleCommand for PerformanceLog {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }
    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({"type": "performance"}).to_string()))
    }
}

/// Every URL the page asked for since the last call (DevTools `requestWillBeSent`).
async fn requested_urls(c: &Client) -> Vec<String> {
    let entries = c.issue_cmd(PerformanceLog).await.expect("chromedriver's performance log");
    let mut urls = Vec::new();
    for e in entries.as_array().into_iter().flatten() {
        let Some(msg) = e["message"].as_str() else { continue };
        let Ok(m) = serde_json::from_str::<Value>(msg) else { continue };
        if m["message"]["method"] == "Network.requestWillBeSent"
            && let Some(u) = m["message"]["params"]["request"]["url"].as_str()
        {
            urls.push(u.to_string());
        }
    }
    urls
}

fn leaves_the_box(url: &str) -> bool {
    let Ok(u) = url::Url::parse(url) else { return true };
    match u.scheme() {
        // The browser's own pages (its start page), never the network.
        "data" | "blob" | "about" | "chrome" | "chrome-untrusted" => false,
        "http" | "https" | "ws" | "wss" => u.host_str() != Some("127.0.0.1"),
        _ => true,
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start_driver(profile: &Path) -> (Driver, Client) {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver is installed (see .ci/install.d/50-box-app.sh)");
    let driver = Driver(child);
    let caps = json!({
        "goog:loggingPrefs": {"performance": "ALL"},
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                "--disable-dev-shm-usage", "--window-size=1000,900",
                // Every host but the box's address is "not found": a page that needs the
                // internet cannot reach it, and the log shows that it tried.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                format!("--user-data-dir={}", profile.display()),
            ]
        }
    });
    let mut builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
    builder.capabilities(caps.as_object().unwrap().clone());
    let mut last = None;
    for _ in 0..100 {
        match builder.connect(&format!("http://127.0.0.1:{port}")).await {
            Ok(c) => return (driver, c),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start: {last:?}");
}

/// A 1×1 PNG, served as the "outside" image.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0, 0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d,
    0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// The "outside" image host, on 127.0.0.1: it answers the PNG to anything.
fn image_server() -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            let mut r = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            while r.read_line(&mut line).unwrap_or(0) > 2 {
                line.clear();
            }
            let mut w = conn;
            let _ = write!(
                w,
                "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                PNG.len()
            );
            let _ = w.write_all(PNG);
        }
    });
    addr
}

const SITE_INDEX: &str = r#"<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>Maths hors ligne</title>
<link rel="preconnect" href="https://cdn.jsdelivr.net">
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/katex@0.16.9/dist/katex.min.css" crossorigin="anonymous">
<link rel="stylesheet" href="https://cdnjs.cloudflare.com/ajax/libs/highlight.js/11.9.0/styles/default.min.css">
<script src="https://polyfill.io/v3/polyfill.min.js?features=es6"></script>
<script src="https://cdn.jsdelivr.net/npm/katex@0.16.9/dist/katex.min.js" crossorigin="anonymous"></script>
<script src="https://unpkg.com/mermaid@10.9.1/dist/mermaid.min.js"></script>
<script src="https://cdnjs.cloudflare.com/ajax/libs/highlight.js/11.9.0/highlight.min.js"></script>
</head><body>
<h1>Équations</h1>
<p id="maths"></p>
<pre class="mermaid">graph TD; A[Début] --> B[Fin]</pre>
<pre><code class="language-python">print("bonjour")</code></pre>
<img src="http://images.example/chat.png" alt="Un chat">
<iframe src="https://www.youtube.com/embed/dQw4w9WgXcQ" title="La photosynthèse"></iframe>
<p><a href="https://fr.wikipedia.org/wiki/Équation">Wikipédia</a> — <a href="sub/page.html">suite</a></p>
<script>
katex.render("x = \\frac{-b \\pm \\sqrt{b^2-4ac}}{2a}", document.getElementById("maths"));
hljs.highlightAll();
mermaid.initialize({ startOnLoad: true });
</script>
</body></html>"#;

const SITE_PAGE: &str = r#"<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>Suite</title>
<style>body { background: url("http://images.example/fond.png") }</style></head>
<body><img src="//images.example/petit.png" alt="Petit"><a href="../index.html">retour</a></body></html>"#;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn preau(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_preau")).args(args).output().expect("run preau");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "preau {args:?} failed:\n{text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_leaves_the_box() {
    let ci = std::env::var("CI").as_deref() == Ok("true");
    if !Path::new("/usr/bin/chromium").exists() || Command::new("chromedriver").arg("--version").output().is_err() {
        assert!(!ci, "chromium and chromedriver are required in CI (.ci/install.d/50-box-app.sh)");
        eprintln!("skipped: chromium/chromedriver not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("site");
    std::fs::create_dir_all(site.join("sub")).unwrap();
    std::fs::write(site.join("index.html"), SITE_INDEX).unwrap();
    std::fs::write(site.join("sub/page.html"), SITE_PAGE).unwrap();
    let repo = tmp.path().join("repo");
    let key = tmp.path().join("key");
    let repo_s = repo.to_str().unwrap();
    let key_s = key.to_str().unwrap();
    preau(&["keygen", "--out", key_s]);
    let images = image_server();
    let cache = workspace().join("target/offline-cache");
    let resolve = format!("images.example=127.0.0.1:{}", images.port());
    let report = preau(&[
        "pack",
        "build",
        site.to_str().unwrap(),
        "--repo",
        repo_s,
        "--key",
        key_s,
        "--id",
        "maths",
        "--level",
        "3",
        "--cache",
        cache.to_str().unwrap(),
        "--resolve",
        &resolve,
    ]);
    assert!(report.contains("preau-libs v1"), "the libraries pack was built: {report}");
    // The control: the same site kept byte for byte, whose page must show outside requests
    // in the log (else the log would prove nothing).
    preau(&[
        "pack",
        "build",
        site.to_str().unwrap(),
        "--repo",
        repo_s,
        "--key",
        key_s,
        "--id",
        "control",
        "--level",
        "3",
        "--verbatim",
    ]);

    let fixtures = workspace().join("../shared/fixtures/moodle");
    let mut backups: Vec<PathBuf> = std::fs::read_dir(&fixtures)
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "mbz")).collect())
        .unwrap_or_default();
    backups.sort();
    if backups.is_empty() {
        assert!(!ci, "the Moodle fixtures are missing: {}", fixtures.display());
        eprintln!("Moodle part skipped: no fixtures at {}", fixtures.display());
    }
    for b in &backups {
        preau(&["pack", "build", b.to_str().unwrap(), "--repo", repo_s, "--key", key_s, "--level", "3", "--offline"]);
    }

    let data = tmp.path().join("data");
    let public = preau_pack::SecretKey::read_file(&key).unwrap().public();
    preau_sync::install_from_folder(&repo, &data, &[public], None).unwrap();
    let server = common::Server::start_in(&data, "");
    let base = format!("http://{}", server.addr);

    // Every public HTML page of every pack but the libraries.
    let r = preau_pack::Repo::open(&repo).unwrap();
    let catalog = r.load_catalog(&r.verified_root(None).unwrap()).unwrap();
    let mut pages = Vec::new();
    for (id, e) in &catalog.packs {
        if id == "preau-libs" || id == "control" {
            continue;
        }
        let m = r.read_manifest(&e.manifest, e.manifest_size).unwrap();
        for f in &m.files {
            if f.path.ends_with(".html") && !f.path.starts_with('_') {
                pages.push(format!("/packs/{id}/{}", f.path));
            }
        }
    }
    assert!(pages.len() >= 2 + if backups.is_empty() { 0 } else { 90 }, "{} pages", pages.len());

    let profile = tmp.path().join("chromium");
    let (_driver, c) = start_driver(&profile).await;
    // What the browser did at start (its new tab page) is not a pack page's doing.
    c.goto("about:blank").await.unwrap();
    let _ = requested_urls(&c).await;
    let mut outside = Vec::new();
    let mut seen = 0;
    for page in &pages {
        c.goto(&format!("{base}{page}")).await.unwrap();
        if page == "/packs/maths/index.html" {
            // KaTeX and mermaid work from the box's copies: wait for what they render.
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let done = c
                    .execute(
                        "return [document.querySelectorAll('#maths .katex').length, document.querySelectorAll('pre.mermaid svg').length, document.querySelectorAll('code.hljs').length];",
                        vec![],
                    )
                    .await
                    .unwrap();
                if done == json!([1, 1, 1]) {
                    break;
                }
                assert!(Instant::now() < deadline, "maths/diagram/code not rendered from the box's copies: {done}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let text = c.execute("return document.body.innerText;", vec![]).await.unwrap();
            let text = text.as_str().unwrap_or_default();
            assert!(!text.contains("[Un chat]"), "the outside image was downloaded, not removed: {text}");
            assert!(text.contains("La photosynthèse — nécessite internet") && text.contains("(internet)"), "{text}");
            // KaTeX's own fonts, from the libraries pack (a CORS load from the sandboxed page).
            let fonts = c
                .execute_async(
                    "const done = arguments[0]; document.fonts.load('1em KaTeX_Main').then(() => done(document.fonts.check('1em KaTeX_Main') && [...document.fonts].some(f => f.family.includes('KaTeX_Main') && f.status === 'loaded')), () => done(false));",
                    vec![],
                )
                .await
                .unwrap();
            assert_eq!(fonts, json!(true), "KaTeX's fonts were loaded from the box");
            let png = c.execute("return document.querySelector('img').naturalWidth;", vec![]).await.unwrap();
            assert_eq!(png, json!(1), "the outside image was downloaded into the pack and shows");
        } else {
            // Let late loads (images, fonts) start before reading the log.
            let deadline = Instant::now() + Duration::from_secs(10);
            while c.execute("return document.readyState;", vec![]).await.unwrap() != json!("complete")
                && Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let urls = requested_urls(&c).await;
        assert!(urls.iter().any(|u| u.ends_with(page.as_str())), "the log holds the page itself: {page} {urls:?}");
        seen += urls.len();
        outside.extend(urls.into_iter().filter(|u| leaves_the_box(u)).map(|u| format!("{page}: {u}")));
    }
    c.goto(&format!("{base}/packs/control/index.html")).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let control: Vec<String> = requested_urls(&c).await.into_iter().filter(|u| leaves_the_box(u)).collect();
    for host in ["cdn.jsdelivr.net", "unpkg.com", "cdnjs.cloudflare.com", "polyfill.io", "images.example"] {
        assert!(
            control.iter().any(|u| u.contains(host)),
            "the log misses the unmodified page's request to {host}: {control:?}"
        );
    }
    c.close().await.unwrap();
    eprintln!("{} pages, {seen} requests, {} outside", pages.len(), outside.len());
    assert!(outside.is_empty(), "requests that left the box:\n{}", outside.join("\n"));
}
