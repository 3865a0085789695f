//! A real Forge MkDocs site (`../shared/fixtures/sites/ens-fr-learn-mkdocs-gitrepo.tar`),
//! built by `preau pack build` with MkDocs itself (preau-sitegen), from the git
//! repository and from the same files as a plain folder, installed in a real box and
//! crawled as a pupil's browser would: from the pack's start page, every link inside
//! the pack. Then in Chromium: the site's own navigation and the link back to the box;
//! one page is screenshotted (`target/e2e/site-mkdocs.png`).
//!
//! Needs the fixture, python3-venv, bubblewrap and PyPI (`.ci/install.d/35-sitegen.sh`);
//! outside CI it skips with one line when they are missing.

mod common;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::Server;
use preau_pack::sign::SecretKey;

fn fixture() -> Option<PathBuf> {
    let tar = preau_tests::fixture("sites/ens-fr-learn-mkdocs-gitrepo.tar")?;
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let bwrap = Command::new("bwrap").arg("--version").output().is_ok_and(|o| o.status.success());
    if !bwrap {
        assert!(!ci, "bubblewrap is missing in CI (.ci/install.d/35-sitegen.sh)");
        eprintln!("skipped: bubblewrap is not installed");
        return None;
    }
    Some(tar)
}

fn preau(args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_preau")).args(args).output().unwrap();
    assert!(out.status.success(), "preau {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// `preau pack build SRC --id ID` with the shared venv cache; its JSON summary.
fn build(src: &Path, repo: &Path, key: &Path, id: &str) -> serde_json::Value {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sitegen-cache");
    let out = preau(&[
        "pack".as_ref(),
        "build".as_ref(),
        src.as_os_str(),
        "--repo".as_ref(),
        repo.as_os_str(),
        "--key".as_ref(),
        key.as_os_str(),
        "--id".as_ref(),
        id.as_ref(),
        "--level".as_ref(),
        "3".as_ref(),
        "--cache".as_ref(),
        cache.as_os_str(),
        "--json".as_ref(),
    ]);
    serde_json::from_str(&out).unwrap()
}

/// The link targets (`href`, `src`) of a page.
fn links(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["href=\"", "src=\"", "href='", "src='"] {
        let quote = attr.chars().last().unwrap();
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            let after = &rest[i + attr.len()..];
            let end = after.find(quote).unwrap_or(after.len());
            out.push(decode_entities(&after[..end]));
            rest = &after[end..];
        }
    }
    out
}

/// An attribute value as the browser reads it: `&amp;` and numeric references decoded
/// (Markdown writes `mailto:` links as `&#109;&#97;…`).
fn decode_entities(v: &str) -> String {
    let mut out = String::new();
    let mut rest = v;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let end = after.find(';').filter(|e| *e <= 10);
        let decoded = end.and_then(|e| {
            let name = &after[..e];
            let code = match name.strip_prefix('#') {
                Some(n) => match n.strip_prefix(['x', 'X']) {
                    Some(h) => u32::from_str_radix(h, 16).ok(),
                    None => n.parse().ok(),
                },
                None if name == "amp" => Some('&' as u32),
                None => None,
            };
            code.and_then(char::from_u32).map(|c| (c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &after[e + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The pack file a URL path names (`/packs/x/a/` → `a/index.html`), percent-decoded.
fn file_of(prefix: &str, url: &str) -> String {
    let rest = url.strip_prefix(prefix).unwrap_or(url);
    let rest = if rest.is_empty() || rest.ends_with('/') { format!("{rest}index.html") } else { rest.to_string() };
    preau_pack::text::percent_decode_lossy(&rest)
}

/// What the crawl of one pack found.
#[derive(Default)]
struct Crawl {
    /// Pack files reached (HTML pages and resources).
    reached: BTreeSet<String>,
    problems: Vec<String>,
    pages: usize,
}

fn crawl(server: &Server, id: &str) -> Crawl {
    let prefix = format!("/packs/{id}/");
    let mut c = Crawl::default();
    let mut queue = VecDeque::from([(prefix.clone(), "(start)".to_string())]);
    let mut seen = BTreeSet::from([prefix.clone()]);
    while let Some((url, from)) = queue.pop_front() {
        assert!(seen.len() < 5000, "the crawl does not end");
        let (at, resp) = server.get_following(&url);
        if resp.status != 200 {
            c.problems.push(format!("{url} (linked from {from}): HTTP {}", resp.status));
            continue;
        }
        c.reached.insert(file_of(&prefix, &at));
        let html = resp.header("content-type").is_some_and(|t| t.starts_with("text/html"));
        if !html {
            continue;
        }
        c.pages += 1;
        let text = resp.text();
        let head = text[..text.len().min(2000)].to_ascii_lowercase();
        let html_tag = head.find("<html").map(|i| &head[i..i + head[i..].find('>').unwrap_or(0)]);
        if !html_tag.is_some_and(|t| t.contains("lang=\"fr\"")) {
            c.problems.push(format!("{at}: no lang=\"fr\" on <html>"));
        }
        if !text.contains("<a class=\"preau-retour\" href=\"/\" target=\"_top\"") {
            c.problems.push(format!("{at}: no link back to the box"));
        }
        let visible = preau_import::site::visible_text(&text);
        for (construct, sample) in preau_import::site::unrendered_constructs(&visible) {
            // TeX stays text for the page's MathJax (arithmatex generic): that is the site's design.
            if construct != "maths" {
                c.problems.push(format!("{at}: {construct} left as text: {sample}"));
            }
        }
        for link in links(&text) {
            let Some(target) = common::resolve_link(&at, &link) else { continue };
            // The back link and the box's own pages are not the pack's.
            if !target.starts_with(&prefix) {
                continue;
            }
            if seen.insert(target.clone()) {
                queue.push_back((target, at.clone()));
            }
        }
    }
    c
}

/// The HTML pages of an installed pack, from its manifest.
fn pack_pages(repo: &Path, id: &str) -> BTreeSet<String> {
    let repo = preau_pack::Repo::open(repo).unwrap();
    let root = repo.verified_root(None).unwrap();
    let catalog = repo.load_catalog(&root).unwrap();
    let entry = &catalog.packs[id];
    let manifest = repo.read_manifest(&entry.manifest, entry.manifest_size).unwrap();
    manifest.files.iter().map(|f| f.path.clone()).filter(|p| p.ends_with(".html")).collect()
}

#[test]
fn forge_mkdocs_site_built_by_mkdocs_is_navigable_on_the_box() {
    let Some(tar) = fixture() else { return };
    let tmp = tempfile::tempdir().unwrap();
    assert!(Command::new("tar").arg("-xf").arg(&tar).arg("-C").arg(tmp.path()).status().unwrap().success());
    let git = tmp.path().join("learn-mkdocs");
    // The same files without their history: a plain folder.
    let folder = tmp.path().join("dossier/learn-mkdocs");
    std::fs::create_dir_all(folder.parent().unwrap()).unwrap();
    let copied = Command::new("cp").arg("-a").arg(&git).arg(&folder).status().unwrap().success();
    assert!(copied);
    std::fs::remove_dir_all(folder.join(".git")).unwrap();

    let key = tmp.path().join("key");
    preau(&["keygen".as_ref(), "--out".as_ref(), key.as_os_str()]);
    let repo = tmp.path().join("repo");
    let mut reports = BTreeMap::new();
    for (src, id) in [(&git, "learn-git"), (&folder, "learn-folder")] {
        let summary = build(src, &repo, &key, id);
        let site = &summary["import"]["site"];
        assert_eq!(site["path"], "generator", "{id}: {site}");
        assert_eq!(site["project"], "mkdocs");
        assert!(site["generator"].as_str().unwrap().contains(".gitlab-ci.yml"), "{site}");
        reports.insert(id, summary);
    }
    assert_eq!(reports["learn-git"]["import"]["kind"], "git");
    assert_eq!(reports["learn-folder"]["import"]["kind"], "folder");

    let data = tmp.path().join("data");
    let public = SecretKey::read_file(&key).unwrap().public();
    preau_sync::install_from_folder(&repo, &data, &[public], None).unwrap();
    let server = Server::start_in(&data, "");

    for id in ["learn-git", "learn-folder"] {
        let pages = pack_pages(&repo, id);
        assert!(pages.len() >= 10, "{id}: the generator's pages {pages:?}");
        let c = crawl(&server, id);
        assert!(c.problems.is_empty(), "{id}: {} problem(s):\n{}", c.problems.len(), c.problems.join("\n"));
        // 404.html is the page a missing address shows, linked from nowhere.
        let missed: Vec<&String> =
            pages.iter().filter(|p| p.as_str() != "404.html" && !c.reached.contains(p.as_str())).collect();
        assert!(missed.is_empty(), "{id}: pages of the generator never reached: {missed:?}");
        assert!(c.pages >= pages.len() - 1, "{id}: {} pages crawled", c.pages);
        // MkDocs directory URLs: `page` and `page/` both lead to `page/index.html`.
        let dir = server.get(&format!("/packs/{id}/maths"));
        assert_eq!((dir.status, dir.header("location")), (302, Some(format!("/packs/{id}/maths/").as_str())));
    }

    // The home page is the site's own (Material), not a file listing.
    let home = server.get("/packs/learn-git/").text();
    assert!(home.contains("De Jupyter à MkDocs") && home.contains("md-header"), "{}", &home[..home.len().min(500)]);
    browse(&server, "learn-git");
}

/// Kills chromedriver when the test ends, however it ends.
struct Driver(std::process::Child);
impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// In Chromium (over chromedriver), as a pupil: open a page of the site, follow the
/// site's own navigation tab to another page (Material's scripts run in the pack
/// sandbox), take a screenshot (`target/e2e/site-mkdocs.png`), then follow the link back
/// to the box's home.
fn browse(server: &Server, id: &str) {
    use fantoccini::{ClientBuilder, Locator};
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let spawned = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let Ok(child) = spawned else {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "chromedriver is missing in CI");
        eprintln!("browser part skipped: chromedriver is not installed");
        return;
    };
    let _driver = Driver(child);
    let profile = tempfile::tempdir().unwrap();
    let base = format!("http://{}", server.addr);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let caps = serde_json::json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage",
                    "--hide-scrollbars", "--window-size=1400,1400", "--lang=fr-FR",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        });
        let mut builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(caps.as_object().unwrap().clone());
        let mut client = None;
        // chromedriver needs a moment to listen (the test fails only if it never does).
        for _ in 0..100 {
            if let Ok(c) = builder.connect(&format!("http://127.0.0.1:{port}")).await {
                client = Some(c);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let c = client.expect("a Chromium session");
        c.goto(&format!("{base}/packs/{id}/markdown-bases/")).await.unwrap();
        let found = c.wait().for_element(Locator::Css("a.md-tabs__link[href$='/maths/']")).await;
        let Ok(tab) = found else {
            let html = c.source().await.unwrap_or_default();
            panic!(
                "no navigation tab to ../maths/ in {}: {}",
                c.current_url().await.unwrap(),
                &html[..html.len().min(3000)]
            );
        };
        tab.click().await.unwrap();
        let mut url = String::new();
        for _ in 0..200 {
            url = c.current_url().await.unwrap().to_string();
            if url.ends_with("/maths/") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(url, format!("{base}/packs/{id}/maths/"), "the site's navigation tab leads to the page");
        c.goto(&format!("{base}/packs/{id}/markdown-mkdocs/")).await.unwrap();
        c.wait().for_element(Locator::Css("div.admonition")).await.unwrap();
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/e2e");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("site-mkdocs.png"), c.screenshot().await.unwrap()).unwrap();
        c.find(Locator::Css("a.preau-retour")).await.unwrap().click().await.unwrap();
        for _ in 0..200 {
            url = c.current_url().await.unwrap().to_string();
            if !url.contains("/packs/") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(url, format!("{base}/"), "the back link leads to the box's home");
        c.close().await.unwrap();
    });
}
