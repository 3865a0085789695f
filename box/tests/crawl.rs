//! Every Moodle backup of the fixtures and the cours-python site
//! (`../shared/fixtures/{moodle,sites}/`), built by `preau pack build --offline
//! --no-generator` (nothing downloaded, no generator: what any builder without internet
//! gets), installed in a real `preau serve` on 127.0.0.1 and crawled as a pupil's browser
//! would: from each pack's start page, every link inside the pack. Asserts that no
//! internal link answers 4xx (the player's `_quiz/…` and `_assign/…` pages answer with
//! their sign-in redirect, which is followed), that every page has a `lang`, and that no
//! script, stylesheet, image or frame is loaded from outside the box.

mod common;

use std::collections::{BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::Server;
use preau_pack::sign::SecretKey;

/// The fixture root, through the one fixture rule (`PREAU_FIXTURES`, skip or fail).
fn fixtures() -> Option<PathBuf> {
    preau_tests::fixture("moodle")?;
    preau_tests::fixture("sites")?.parent().map(Path::to_path_buf)
}

fn preau(args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_preau")).args(args).output().unwrap();
    assert!(out.status.success(), "preau {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The values of `attr` in the tags named in `tags` (lower-case HTML as the importers
/// and generators write it).
fn tag_attrs(html: &str, tags: &[&str], attr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lower = html.to_ascii_lowercase();
    for tag in tags {
        let open = format!("<{tag}");
        let mut from = 0;
        while let Some(i) = lower[from..].find(&open) {
            let start = from + i;
            let end = lower[start..].find('>').map_or(lower.len(), |e| start + e);
            let t = &html[start..end];
            for q in ['"', '\''] {
                let key = format!(" {attr}={q}");
                if let Some(a) = t.to_ascii_lowercase().find(&key) {
                    let v = &t[a + key.len()..];
                    out.push(v[..v.find(q).unwrap_or(v.len())].replace("&amp;", "&"));
                }
            }
            from = end;
        }
    }
    out
}

/// The `href` of the `<link>` tags a browser fetches (stylesheets, icons, preloads,
/// manifests); `rel="canonical"`, `alternate`, `next`… only name a page.
fn link_loads(html: &str) -> Vec<String> {
    const LOADS: [&str; 8] =
        ["stylesheet", "icon", "preload", "modulepreload", "prefetch", "manifest", "apple-touch-icon", "mask-icon"];
    let mut out = Vec::new();
    let lower = html.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find("<link") {
        let start = from + i;
        let end = lower[start..].find('>').map_or(lower.len(), |e| start + e + 1);
        let tag = &html[start..end];
        let rels = tag_attrs(tag, &["link"], "rel").join(" ").to_ascii_lowercase();
        if rels.split_ascii_whitespace().any(|r| LOADS.contains(&r)) {
            out.extend(tag_attrs(tag, &["link"], "href"));
        }
        from = end;
    }
    out
}

fn is_outside(v: &str) -> bool {
    let v = v.trim().to_ascii_lowercase();
    v.starts_with("http:") || v.starts_with("https:") || v.starts_with("//")
}

/// Problems found crawling pack `id`, and the number of pages seen.
/// `seeds`: pack pages to open besides the start page.
fn crawl(server: &Server, id: &str, seeds: &[String]) -> (Vec<String>, usize) {
    let prefix = format!("/packs/{id}/");
    let mut problems = Vec::new();
    let mut pages = 0;
    let mut queue = VecDeque::from([(prefix.clone(), "(start)".to_string())]);
    queue.extend(seeds.iter().map(|p| (format!("{prefix}{p}"), "(seed)".to_string())));
    let mut seen: BTreeSet<String> = queue.iter().map(|(u, _)| u.clone()).collect();
    while let Some((url, from)) = queue.pop_front() {
        assert!(seen.len() < 5000, "{id}: the crawl does not end");
        let (at, resp) = server.get_following(&url);
        if resp.status != 200 {
            problems.push(format!("{url} (linked from {from}): HTTP {}", resp.status));
            continue;
        }
        // The player's pages need a pupil: its sign-in page is where the link leads.
        if !at.starts_with(&prefix) || at.contains("/_quiz/") || at.contains("/_assign/") {
            continue;
        }
        if !resp.header("content-type").is_some_and(|t| t.starts_with("text/html")) {
            continue;
        }
        pages += 1;
        let text = resp.text();
        let head = text.to_ascii_lowercase();
        let tag = head.find("<html").map(|i| &head[i..i + head[i..].find('>').unwrap_or(0)]);
        if !tag.is_some_and(|t| t.contains(" lang=\"") && !t.contains(" lang=\"\"")) {
            problems.push(format!("{at}: no lang on <html>"));
        }
        let mut loads = tag_attrs(&text, &["script", "img", "iframe", "source", "video", "audio", "embed"], "src");
        loads.extend(link_loads(&text));
        loads.extend(tag_attrs(&text, &["object"], "data"));
        for v in loads.iter().filter(|v| is_outside(v)) {
            problems.push(format!("{at}: loads {v} from outside the box"));
        }
        let mut links = tag_attrs(&text, &["a", "area"], "href");
        links.extend(loads);
        for link in links {
            let Some(target) = common::resolve_link(&at, &link) else { continue };
            if target.starts_with(&prefix) && seen.insert(target.clone()) {
                queue.push_back((target, at.clone()));
            }
        }
    }
    (problems, pages)
}

/// The files of a built pack whose path ends with `suffix`, from its manifest.
fn pack_files(repo: &Path, id: &str, suffix: &str) -> Vec<String> {
    let repo = preau_pack::Repo::open(repo).unwrap();
    let root = repo.verified_root(None).unwrap();
    let catalog = repo.load_catalog(&root).unwrap();
    let entry = &catalog.packs[id];
    let manifest = repo.read_manifest(&entry.manifest, entry.manifest_size).unwrap();
    manifest.files.iter().map(|f| f.path.clone()).filter(|p| p.ends_with(suffix)).collect()
}

#[test]
fn every_moodle_backup_and_the_python_course_crawl_clean_on_the_box() {
    let Some(fx) = fixtures() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("key");
    preau(&["keygen".as_ref(), "--out".as_ref(), key.as_os_str()]);
    let repo = tmp.path().join("repo");
    let cache = tmp.path().join("empty-cache");
    let mut sources: Vec<(PathBuf, String)> = std::fs::read_dir(fx.join("moodle"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mbz"))
        .enumerate()
        .map(|(i, p)| (p, format!("moodle-{i}")))
        .collect();
    sources.sort();
    assert!(sources.len() >= 5, "{sources:?}");
    sources.push((fx.join("sites/cours-python_2025-09-29_366b8c0.tar"), "cours-python".into()));
    for (src, id) in &sources {
        preau(&[
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
            "1".as_ref(),
            "--offline".as_ref(),
            "--no-generator".as_ref(),
            "--cache".as_ref(),
            cache.as_os_str(),
        ]);
    }
    let data = tmp.path().join("data");
    let public = SecretKey::read_file(&key).unwrap().public();
    preau_sync::install_from_folder(&repo, &data, &[public], None).unwrap();
    let server = Server::start_in(&data, "");
    let mut all = Vec::new();
    for (src, id) in &sources {
        // The Python course is Markdown chapters under a README that links only to the
        // outside: the importer gives it a start page with every chapter and
        // previous/next links, so every one of its pages is reached from the start page.
        let (problems, pages) = crawl(&server, id, &[]);
        eprintln!("{id}: {pages} page(s) crawled");
        assert!(pages > 0, "{id} ({}): {pages} page(s) crawled", src.display());
        if id == "cours-python" {
            let made = pack_files(&repo, id, ".html").len();
            assert!(made > 20 && pages >= made, "{id}: {pages} page(s) reached of the {made} the import made");
        }
        all.extend(problems.into_iter().map(|p| format!("{id} ({}): {p}", src.file_name().unwrap().to_string_lossy())));
    }
    assert!(all.is_empty(), "{} problem(s):\n{}", all.len(), all.join("\n"));
}
