//! Full-text search (issue 16) on a real `preau serve` over real packs built from the
//! shared fixtures with the real `preau pack build`, installed with `preau sync pull`:
//! a French Markdown course (Cours de Python), a French Moodle course (TÉLUQ INF 6450)
//! and a French GIFT quiz (UCLouvain). Accents, plurals and case; a phrase; a typo;
//! quiz stems found but never answers or feedback; bounds and French messages; removal
//! while serving; a kill during the index build and the rebuild at the next start;
//! and the search box in Chromium on a phone-sized window. Then, on generated packs (no
//! fixture needed): SIGKILL of `preau search` and of `preau serve` in the middle of a
//! big pack's build, an update (changed words, a removed page) and a removal.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::Server;

const SITE: &str = "sites/cours-python_2025-09-29_366b8c0.tar";
const MOODLE: &str = "moodle/teluq-inf6450-fr-moodle41.mbz";
const GIFT: &str = "questions/gift/uclouvain-louv23x-module2-fr.gift";

fn preau(args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_preau")).args(args).output().unwrap();
    assert!(out.status.success(), "preau {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn os(s: &str) -> &std::ffi::OsStr {
    s.as_ref()
}

/// `preau pack build` without the site generator and without downloads (fast, offline).
fn build(src: &Path, repo: &Path, key: &Path, id: &str) {
    preau(&[
        os("pack"),
        os("build"),
        src.as_os_str(),
        os("--repo"),
        repo.as_os_str(),
        os("--key"),
        key.as_os_str(),
        os("--id"),
        os(id),
        os("--level"),
        os("3"),
        os("--no-generator"),
        os("--offline"),
    ]);
}

fn pull(repo: &Path, data: &Path, key: &Path, pack: Option<&str>) {
    let pubkey = key.with_extension("key.pub");
    let mut args = vec![os("sync"), os("pull"), os("--from"), repo.as_os_str(), os("--data"), data.as_os_str()];
    args.extend([os("--trust"), pubkey.as_os_str()]);
    if let Some(p) = pack {
        args.extend([os("--pack"), os(p)]);
    }
    preau(&args);
}

fn enc(q: &str) -> String {
    q.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

fn api(server: &Server, query: &str) -> (u16, serde_json::Value) {
    let r = server.get(&format!("/api/search?{query}"));
    assert_eq!(r.header("content-type"), Some("application/json"), "{}", r.text());
    (r.status, serde_json::from_str(&r.text()).unwrap_or_else(|e| panic!("{e}: {}", r.text())))
}

fn search(server: &Server, q: &str) -> Vec<serde_json::Value> {
    let (status, v) = api(server, &format!("q={}&limit=50", enc(q)));
    assert_eq!(status, 200, "{q}: {v}");
    v["results"].as_array().unwrap().clone()
}

fn pages(results: &[serde_json::Value]) -> BTreeSet<(String, String)> {
    results.iter().map(|r| (r["pack"].as_str().unwrap().into(), r["path"].as_str().unwrap().into())).collect()
}

/// Waits until the index holds `packs` packs and has nothing left to do.
fn wait_indexed(server: &Server, packs: u64) {
    let start = Instant::now();
    loop {
        let (_, v) = api(server, "q=index");
        if v["index"]["ready"] == true && v["index"]["packs"] == packs {
            eprintln!("index ready with {packs} packs after {:?}", start.elapsed());
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "index not ready: {v}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn search_finds_pages_quizzes_in_any_accent_and_follows_the_installed_packs() {
    let (Some(site), Some(mbz), Some(gift)) =
        (preau_tests::fixture(SITE), preau_tests::fixture(MOODLE), preau_tests::fixture(GIFT))
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (repo, data, key) = (tmp.path().join("repo"), tmp.path().join("data"), tmp.path().join("pub.key"));
    preau(&[os("keygen"), os("--out"), key.as_os_str()]);
    build(&site, &repo, &key, "cours-python");
    build(&mbz, &repo, &key, "inf6450");
    build(&gift, &repo, &key, "droit-auteur");
    pull(&repo, &data, &key, None);
    let mut server = Server::start_in(&data, "");
    // The three packs (no demo pack: the box was not empty at its first start).
    wait_indexed(&server, 3);

    // One word, any accent, case or number: the same pages, from both courses.
    let reseau = pages(&search(&server, "réseau"));
    assert_eq!(pages(&search(&server, "reseaux")), reseau);
    assert_eq!(pages(&search(&server, "Réseaux")), reseau);
    let packs: BTreeSet<&str> = reseau.iter().map(|(p, _)| p.as_str()).collect();
    assert!(packs.contains("inf6450") && reseau.len() >= 2, "{reseau:?}");
    // "réseau social" is only in the quiz's general feedback: never searchable.
    assert!(!packs.contains("droit-auteur"), "a quiz's feedback was indexed: {reseau:?}");
    let first = &search(&server, "Réseaux")[0];
    assert!(first["snippet_html"].as_str().unwrap().to_lowercase().contains("<mark>r"), "{first}");
    let url = first["url"].as_str().unwrap();
    assert_eq!(server.get(url).status, 200, "a result links to a page the box serves: {url}");

    // A phrase in quotes: only pages with the words together, in that order.
    let phrase = pages(&search(&server, "\"réseaux sociaux\""));
    assert!(!phrase.is_empty() && phrase.is_subset(&reseau), "{phrase:?}");
    let reversed = pages(&search(&server, "\"sociaux réseaux\""));
    assert!(reversed.len() < phrase.len(), "{reversed:?} vs {phrase:?}");

    // A typo in a word of 5 letters or more still finds the page, below exact matches.
    let exact = search(&server, "encodage");
    let typo = search(&server, "encodaje");
    assert!(!exact.is_empty() && !typo.is_empty());
    assert_eq!(typo[0]["path"], exact[0]["path"], "typo: {:?}", typo[0]);
    assert!(search(&server, "enc").is_empty() || search(&server, "enc").len() < exact.len());

    // Quiz stems are searchable, and link to the quiz player; answers and choices never.
    let stems = search(&server, "processus peer-review publication");
    let quiz = stems.iter().find(|r| r["kind"] == "quiz").unwrap_or_else(|| panic!("no quiz: {stems:?}"));
    assert_eq!(quiz["pack"], "droit-auteur");
    assert!(quiz["url"].as_str().unwrap().starts_with("/packs/droit-auteur/_quiz/"), "{quiz}");
    for answer_only in ["internaute", "internautes"] {
        let r = search(&server, answer_only);
        assert!(r.iter().all(|h| h["pack"] != "droit-auteur"), "answer text indexed: {r:?}");
    }

    judged_set(&server);

    // Bounds and messages.
    for (query, status, code) in [
        ("q=", 400, "empty"),
        ("q=a", 400, "too_short"),
        ("q=le%20de%20la", 400, "only_stop_words"),
        ("q=reseau&limit=0", 400, "bad_limit"),
        ("q=reseau&limit=x", 400, "bad_limit"),
        ("q=reseau&pack=..%2Fx", 400, "bad_pack"),
    ] {
        let (s, v) = api(&server, query);
        assert_eq!((s, v["error"].as_str().unwrap_or("")), (status, code), "{query}: {v}");
        assert!(!v["message"].as_str().unwrap().is_empty());
    }
    let (s, v) = api(&server, &format!("q={}", "mot%20".repeat(70)));
    assert_eq!((s, v["error"].as_str().unwrap()), (400, "too_long"), "{v}");
    let (_, v) = api(&server, "q=reseau&limit=2");
    assert_eq!(v["results"].as_array().unwrap().len(), 2);
    let (_, v) = api(&server, "q=reseau&pack=inf6450&limit=50");
    assert!(v["results"].as_array().unwrap().iter().all(|r| r["pack"] == "inf6450"), "{v}");

    // The results page, in French by default.
    let html = server.get("/search?q=reseaux").text();
    assert!(html.contains("<mark>") && html.contains(r#"class="search-pack""#), "{html}");
    let none = server.get("/search?q=xyzzyqwv").text();
    assert!(none.contains("Aucun résultat pour « xyzzyqwv »"), "{none}");
    let short = server.get("/search?q=a").text();
    assert!(short.contains("trop courte"), "{short}");
    assert!(server.get("/").text().contains(r#"action="/search""#), "the home page has the search box");

    browse(&server);

    // Removal while serving: results go with the pack, at once (the file is checked at
    // query time), then from the index.
    preau(&[os("sync"), os("remove"), os("--data"), data.as_os_str(), os("inf6450")]);
    let start = Instant::now();
    while pages(&search(&server, "réseau")).iter().any(|(p, _)| p == "inf6450") {
        assert!(start.elapsed() < Duration::from_secs(30), "removed pack still found");
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_indexed(&server, 2);
    assert!(pages(&search(&server, "réseau")).iter().all(|(p, _)| p != "inf6450"));

    // A kill during the index build: the next start rebuilds what is missing, once.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    pull(&repo, &data, &key, Some("inf6450"));
    // The indexer starts before the server listens: killed right after, it is busy with
    // the pack (not proven every run: a fast machine may have finished it).
    let mut killed = Server::start_in(&data, "");
    std::thread::sleep(Duration::from_millis(30));
    killed.child.kill().unwrap();
    killed.child.wait().unwrap();
    let server = Server::start_in(&data, "");
    wait_indexed(&server, 3);
    let again = search(&server, "réseau");
    assert_eq!(pages(&again), reseau, "the same pages as before the removal");
    assert_eq!(again.len(), reseau.len(), "no page twice");
}

/// The judged set (`search_judged.tsv`): the rank of each expected page; at least 18 of
/// the 20 in the top 3 (the issue's goal). The table goes to stderr (BENCHMARKS.md).
fn judged_set(server: &Server) {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/search_judged.tsv");
    let text = std::fs::read_to_string(file).unwrap();
    let mut top3 = 0;
    let mut rows = 0;
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let [q, pack, path]: [&str; 3] = line.split('\t').collect::<Vec<_>>().try_into().unwrap();
        let results = search(server, q);
        let rank = results.iter().position(|r| r["pack"] == pack && r["path"] == path).map(|k| k + 1);
        rows += 1;
        if rank.is_some_and(|r| r <= 3) {
            top3 += 1;
        }
        eprintln!("judged: {q:<32} rank {}", rank.map_or("-".into(), |r| r.to_string()));
    }
    eprintln!("judged: {top3} of {rows} in the top 3");
    assert_eq!(rows, 20);
    assert!(top3 >= 18, "only {top3} of {rows} expected pages in the top 3");
}

/// Kills chromedriver when the test ends, however it ends.
struct Driver(std::process::Child);
impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// In Chromium on a phone-sized window (390×844): type "fichiers" in the search box of
/// the home page, get the results page (grouped by pack, words marked, no sideways
/// scrolling), follow the first result to the pack page.
fn browse(server: &Server) {
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
                    "--hide-scrollbars", "--window-size=390,844", "--lang=fr-FR",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "mobileEmulation": { "deviceMetrics": { "width": 390, "height": 844, "pixelRatio": 2.0 } }
            }
        });
        let mut builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(caps.as_object().unwrap().clone());
        let mut client = None;
        for _ in 0..100 {
            if let Ok(c) = builder.connect(&format!("http://127.0.0.1:{port}")).await {
                client = Some(c);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let c = client.expect("a Chromium session");
        c.goto(&format!("{base}/")).await.unwrap();
        let input = c.find(Locator::Css("header form.search input[name=q]")).await.unwrap();
        input.send_keys("fichiers").await.unwrap();
        c.find(Locator::Css("header form.search button")).await.unwrap().click().await.unwrap();
        c.wait().for_element(Locator::Css(".search-pack mark")).await.unwrap();
        let url = c.current_url().await.unwrap().to_string();
        assert!(url.starts_with(&format!("{base}/search?q=fichiers")), "{url}");
        let groups = c.find_all(Locator::Css(".search-pack h2")).await.unwrap();
        assert!(groups.len() >= 2, "results grouped by pack: {}", groups.len());
        let overflow =
            c.execute("return document.documentElement.scrollWidth - window.innerWidth;", vec![]).await.unwrap();
        assert!(overflow.as_i64().unwrap_or(1) <= 0, "the page scrolls sideways on a phone: {overflow}");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/e2e");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("search-phone.png"), c.screenshot().await.unwrap()).unwrap();
        c.find(Locator::Css(".search-pack li a")).await.unwrap().click().await.unwrap();
        let mut url = String::new();
        for _ in 0..200 {
            url = c.current_url().await.unwrap().to_string();
            if url.contains("/packs/") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(url.starts_with(&format!("{base}/packs/")), "the first result opens a pack page: {url}");
        c.close().await.unwrap();
    });
}

/// A page of pseudo-French text: `words` words drawn from a fixed list by a small
/// generator seeded with `seed`, so every run builds the same pack.
fn filler(seed: u64, words: usize) -> String {
    const VOCAB: &[&str] = &[
        "cartographie",
        "relief",
        "plateau",
        "rivière",
        "vallée",
        "climat",
        "population",
        "région",
        "frontière",
        "océan",
        "continent",
        "latitude",
        "longitude",
        "altitude",
        "forêt",
        "désert",
        "agriculture",
        "industrie",
        "commerce",
        "transport",
        "capitale",
        "province",
        "montagne",
        "littoral",
        "estuaire",
        "volcan",
        "glacier",
        "savane",
        "mousson",
        "archipel",
        "péninsule",
        "delta",
        "bassin",
        "échelle",
        "légende",
        "boussole",
    ];
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut out = String::with_capacity(words * 10);
    for k in 0..words {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        out.push_str(VOCAB[(x >> 33) as usize % VOCAB.len()]);
        out.push(if k % 12 == 11 { '.' } else { ' ' });
        if k % 120 == 119 {
            out.push_str("</p>\n<p>");
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>{title}</title></head><body><h1>{title}</h1><p>{body}</p></body></html>"
    )
}

/// Pages of the big pack ("atlas"): enough text (about 30 MB) that indexing it takes
/// seconds, so that a kill lands in the middle of its build. The first 20 pages hold
/// the word "girafon" (a count to check that no page comes twice).
const ATLAS_PAGES: usize = 300;
const GIRAFON_PAGES: usize = 20;

fn write_atlas(dir: &Path, version: u32) {
    std::fs::create_dir_all(dir).unwrap();
    for k in 0..ATLAS_PAGES {
        let mut body = filler(k as u64, 12_000);
        if k < GIRAFON_PAGES {
            body.push_str(" Le girafon de la savane.");
        }
        std::fs::write(dir.join(format!("p{k:03}.html")), page(&format!("Atlas, chapitre {k}"), &body)).unwrap();
    }
    if version == 2 {
        std::fs::write(dir.join("nouveau.html"), page("Nouveautés", "Le quetzalcoatl des hauts plateaux.")).unwrap();
    }
}

/// The small pack ("cours"): in version 1, a.html holds "zorglub" and b.html exists;
/// in version 2, a.html holds "vermicelle" instead and b.html is gone; c.html never
/// changes.
fn write_cours(dir: &Path, version: u32) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let a = if version == 1 { "Le zorglub des mers du sud." } else { "La vermicelle des mers du sud." };
    std::fs::write(dir.join("index.html"), page("Cours de géographie", "Sommaire du cours.")).unwrap();
    std::fs::write(dir.join("a.html"), page("Les mers", a)).unwrap();
    if version == 1 {
        std::fs::write(dir.join("b.html"), page("Page retirée", "Le pangolin des forêts humides.")).unwrap();
    }
    std::fs::write(dir.join("c.html"), page("Les fleuves", "Le mascaret remonte l'estuaire.")).unwrap();
}

fn status(server: &Server) -> (bool, u64) {
    let (_, v) = api(server, "q=index");
    (v["index"]["ready"] == true, v["index"]["packs"].as_u64().unwrap())
}

fn paths(server: &Server, q: &str) -> Vec<String> {
    search(server, q)
        .iter()
        .map(|r| format!("{}/{}", r["pack"].as_str().unwrap(), r["path"].as_str().unwrap()))
        .collect()
}

/// The index in step after a kill during a build (of `preau search`, then of `preau
/// serve`), an update (a page's words changed, a page removed) and a removal; with
/// generated packs, so it needs no fixture.
#[test]
fn index_in_step_after_kill_update_and_removal() {
    let tmp = tempfile::tempdir().unwrap();
    let (repo, data, key) = (tmp.path().join("repo"), tmp.path().join("data"), tmp.path().join("pub.key"));
    let (atlas, cours) = (tmp.path().join("atlas"), tmp.path().join("cours"));
    preau(&[os("keygen"), os("--out"), key.as_os_str()]);
    write_atlas(&atlas, 1);
    write_cours(&cours, 1);
    build(&atlas, &repo, &key, "atlas");
    build(&cours, &repo, &key, "cours");
    pull(&repo, &data, &key, Some("cours"));
    let v: serde_json::Value =
        serde_json::from_str(&preau(&[os("search"), os("--data"), data.as_os_str(), os("--json")])).unwrap();
    assert_eq!(v["built"], 1, "{v}");

    // 1. `preau search` killed (SIGKILL) while it indexes the big pack.
    pull(&repo, &data, &key, Some("atlas"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_preau"))
        .args([os("search"), os("--data"), data.as_os_str()])
        .env("PREAU_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()));
    let started = lines.find(|l| l.as_ref().is_ok_and(|l| l.contains("indexing pack") && l.contains("atlas")));
    assert!(started.is_some(), "`preau search` never started indexing atlas");
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "the build ended before the kill: the pack is too small");
    child.kill().unwrap();
    child.wait().unwrap();

    // 2. The next start finds atlas missing (only cours is complete) and indexes it;
    // `preau serve` killed in the middle of that, too.
    let mut server = Server::start_in(&data, "");
    assert_eq!(status(&server), (false, 1), "atlas was cut: only cours is complete, and atlas is being built");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(status(&server), (false, 1), "the build ended before the kill: the pack is too small");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let server = Server::start_in(&data, "");
    assert_eq!(status(&server).1, 1, "atlas still missing after the second kill");
    wait_indexed(&server, 2);
    // Every page once: no page of an interrupted build left behind, none twice.
    let girafon = paths(&server, "girafon");
    assert_eq!(girafon.len(), GIRAFON_PAGES, "{girafon:?}");
    assert_eq!(girafon.iter().collect::<BTreeSet<_>>().len(), GIRAFON_PAGES, "{girafon:?}");
    assert_eq!(paths(&server, "zorglub"), ["cours/a.html"]);
    assert_eq!(paths(&server, "pangolin"), ["cours/b.html"]);

    // 3. An update of both packs: cours's a.html has other words, b.html is gone. The
    // index rebuilds atlas first (it sorts first), which takes seconds: in that window
    // the library already has cours v2, the index still its v1 documents.
    write_atlas(&atlas, 2);
    write_cours(&cours, 2);
    build(&atlas, &repo, &key, "atlas");
    build(&cours, &repo, &key, "cours");
    pull(&repo, &data, &key, None);
    let start = Instant::now();
    while server.get("/packs/cours/b.html").status != 404 {
        assert!(start.elapsed() < Duration::from_secs(30), "the update was not installed");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Never the removed page, never a page for words it no longer has; the unchanged
    // page stays searchable while its pack waits for its rebuild.
    assert!(paths(&server, "pangolin").is_empty(), "a removed page was found");
    assert!(paths(&server, "zorglub").is_empty(), "a page was found by its old words");
    assert_eq!(paths(&server, "mascaret"), ["cours/c.html"]);
    // …and all that while the index still held cours's old documents.
    assert!(!status(&server).0, "the rebuild ended before the checks: the window was not observed");
    wait_indexed(&server, 2);
    assert_eq!(paths(&server, "vermicelle"), ["cours/a.html"], "the new words are found");
    assert_eq!(paths(&server, "quetzalcoatl"), ["atlas/nouveau.html"]);
    assert!(paths(&server, "zorglub").is_empty() && paths(&server, "pangolin").is_empty());
    assert_eq!(paths(&server, "mascaret"), ["cours/c.html"]);
    assert_eq!(paths(&server, "girafon").len(), GIRAFON_PAGES);

    // 4. A removal: gone from the results, then from the index.
    preau(&[os("sync"), os("remove"), os("--data"), data.as_os_str(), os("atlas")]);
    let start = Instant::now();
    while !paths(&server, "girafon").is_empty() {
        assert!(start.elapsed() < Duration::from_secs(30), "removed pack still found");
        std::thread::sleep(Duration::from_millis(50));
    }
    wait_indexed(&server, 1);
    assert!(paths(&server, "girafon").is_empty() && paths(&server, "quetzalcoatl").is_empty());
    assert_eq!(paths(&server, "mascaret"), ["cours/c.html"]);
}
