//! The libraries pack from real npm packages (katex, mermaid and highlight.js, pinned, from
//! the npm registry, cached under `target/offline-cache`), and a whole site made offline:
//! CDN libraries to the libraries pack, outside files downloaded from a local HTTP server
//! that stands for the outside hosts (resolver override), the rest removed or marked.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;

use preau_import::ImportReport;
use preau_offline::libs::LIBS_PACK_ID;
use preau_offline::{Options, build_libs, prepare_pack};
use preau_pack::build::BuildOptions;
use preau_pack::{PackMeta, Repo, SecretKey, SourceData, SourceTree};

/// Shared by test runs: each package is downloaded once per target folder.
fn cache() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/offline-cache")
}

fn build_opts() -> BuildOptions {
    BuildOptions { level: 3, ..Default::default() }
}

fn pack_files(repo: &std::path::Path, id: &str) -> Vec<(String, Vec<u8>)> {
    let repo = Repo::open(repo).unwrap();
    let root = repo.verified_root(None).unwrap();
    let cat = repo.load_catalog(&root).unwrap();
    let e = &cat.packs[id];
    let m = repo.read_manifest(&e.manifest, e.manifest_size).unwrap();
    m.files.iter().map(|f| (f.path.clone(), repo.read_file(f).unwrap())).collect()
}

#[test]
fn libraries_pack_from_npm_then_offline_from_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let key = SecretKey::generate();
    let opts = Options { cache_dir: cache(), ..Default::default() };
    let wanted = [
        "katex@0.16.9/dist/katex.min.css".to_string(),
        "katex@0.16.9/dist/katex.min.js".to_string(),
        "mermaid@10.9.1/dist/mermaid.min.js".to_string(),
    ];
    let (done, summary) = build_libs(&repo, &key, &wanted, &opts, &build_opts()).unwrap();
    assert!(done.iter().all(|r| r.exact));
    assert_eq!(done[0].url(), "/packs/preau-libs/katex@0.16.9/dist/katex.min.css");
    let summary = summary.expect("a first libraries pack is built");
    assert_eq!(summary.id, LIBS_PACK_ID);
    let files = pack_files(&repo, LIBS_PACK_ID);
    let names: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    for must in [
        "katex@0.16.9/dist/katex.min.js",
        "katex@0.16.9/dist/katex.min.css",
        // Loaded by the stylesheet: followed through its url()s.
        "katex@0.16.9/dist/fonts/KaTeX_Main-Regular.woff2",
        "katex@0.16.9/LICENSE",
        "katex@0.16.9/package.json",
        "mermaid@10.9.1/dist/mermaid.min.js",
    ] {
        assert!(names.contains(&must), "{must} missing from {names:?}");
    }
    // Only what pages use: not the whole package (no sources, no ESM chunks for a UMD file).
    assert!(!names.iter().any(|n| n.starts_with("katex@0.16.9/src/") || n.contains("/dist/chunks/")));
    let katex_js = &files.iter().find(|(p, _)| p == "katex@0.16.9/dist/katex.min.js").unwrap().1;
    assert!(String::from_utf8_lossy(katex_js).contains("katex"), "the real library file");
    preau_pack::verify::verify_repo(&Repo::open(&repo).unwrap(), None)
        .map(|r| assert!(r.ok(), "{:?}", r.problems))
        .unwrap();

    // Offline: the same request adds nothing; a prefix is honoured from what is there; a
    // version nobody has gets the nearest one, said so.
    let offline = Options { offline: true, cache_dir: cache(), ..Default::default() };
    let (_, again) = build_libs(&repo, &key, &wanted[..1], &offline, &build_opts()).unwrap();
    assert!(again.is_none(), "nothing new to add");
    let (done, _) = build_libs(&repo, &key, &["katex@0.16/dist/katex.min.js".into()], &offline, &build_opts()).unwrap();
    assert!(done[0].exact && done[0].version == "0.16.9");
    let (done, _) =
        build_libs(&repo, &key, &["katex@0.15.2/dist/katex.min.js".into()], &offline, &build_opts()).unwrap();
    assert!(!done[0].exact && done[0].version == "0.16.9");
    // Offline with an empty cache and a library the pack lacks: a clear error.
    let empty = Options { offline: true, cache_dir: tmp.path().join("no-cache"), ..Default::default() };
    let err = build_libs(&repo, &key, &["jquery@3.7.1".into()], &empty, &build_opts()).unwrap_err();
    assert!(err.contains("jquery"), "{err}");
}

/// A tiny HTTP/1.1 server on 127.0.0.1 that answers fixed files and logs every request.
fn serve(
    files: Vec<(&'static str, &'static str, Vec<u8>)>,
) -> (SocketAddr, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log2 = log.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let mut host = String::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("host:") {
                    host = v.trim().to_string();
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            log2.lock().unwrap().push(format!("{host}{path}"));
            let found = files.iter().find(|(p, _, _)| *p == path);
            let resp = match found {
                Some((_, ct, body)) => {
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    r.extend_from_slice(body);
                    r
                }
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
            };
            let _ = conn.write_all(&resp);
            let _ = reader.read(&mut [0u8; 0]);
        }
    });
    (addr, log)
}

const PAGE: &str = r#"<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>Cours</title>
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/katex@0.16.9/dist/katex.min.css">
<link rel="stylesheet" href="http://fonts.example/css/font.css">
<script src="https://polyfill.io/v3/polyfill.min.js?features=es6"></script>
<script src="https://cdn.jsdelivr.net/npm/katex@0.16.9/dist/katex.min.js"></script>
</head><body>
<img src="http://images.example/cat.png" alt="Un chat">
<img src="http://images.example/missing.png" alt="Une image perdue">
<iframe src="https://www.youtube.com/embed/xyz" title="La photosynthèse"></iframe>
<a href="https://fr.wikipedia.org/">Wikipédia</a>
</body></html>"#;

#[test]
fn a_site_made_offline() {
    let png = b"\x89PNG\r\n\x1a\n fake but served".to_vec();
    let (addr, log) = serve(vec![
        ("/cat.png", "image/png", png.clone()),
        ("/css/font.css", "text/css", b"@font-face{font-family:F;src:url(../f/font.woff2) format('woff2')}".to_vec()),
        ("/f/font.woff2", "font/woff2", b"wOF2 fake".to_vec()),
    ]);
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let key = SecretKey::generate();
    let mut tree = SourceTree {
        meta: PackMeta { id: "cours".into(), entry: "a/index.html".into(), ..Default::default() },
        files: vec![],
    };
    tree.add_bytes("a/index.html", PAGE.as_bytes().to_vec());
    // A theme's script that loads a library by URL at run time.
    tree.add_bytes(
        "js/theme.js",
        br#"load("https://cdn.jsdelivr.net/npm/katex@0.16.9/dist/katex.min.js", "https://api.example/v1");"#.to_vec(),
    );
    let opts = Options {
        cache_dir: cache(),
        resolve: vec![("images.example".into(), addr), ("fonts.example".into(), addr)],
        ..Default::default()
    };
    let mut report = ImportReport::new("folder");
    let libs = prepare_pack(&repo, &key, &mut tree, &mut report, &opts, &build_opts()).unwrap();
    assert!(libs.is_some(), "the libraries pack was built for katex");
    let file = |p: &str| match &tree.files.iter().find(|f| f.path == p).unwrap_or_else(|| panic!("{p} missing")).data {
        SourceData::Bytes(b) => b.clone(),
        SourceData::File(f) => std::fs::read(f).unwrap(),
    };
    let page = String::from_utf8(file("a/index.html")).unwrap();
    assert!(page.contains(r#"href="/packs/preau-libs/katex@0.16.9/dist/katex.min.css""#), "{page}");
    assert!(page.contains(r#"src="/packs/preau-libs/katex@0.16.9/dist/katex.min.js""#));
    assert!(page.contains(r#"src="../preau-offline/images.example/cat.png""#), "{page}");
    assert!(page.contains(r#"href="../preau-offline/fonts.example/css/font.css""#));
    assert!(page.contains("[Une image perdue]"));
    assert!(page.contains("La photosynthèse</a> — nécessite internet"));
    assert!(page.contains("data-preau-internet") && page.contains(" (internet)"));
    assert!(!page.contains("polyfill"));
    assert_eq!(
        file("js/theme.js"),
        br#"load("/packs/preau-libs/katex@0.16.9/dist/katex.min.js", "https://api.example/v1");"#.to_vec()
    );
    assert_eq!(file("preau-offline/images.example/cat.png"), png);
    // The downloaded stylesheet's own font, found through its relative url().
    let css = String::from_utf8(file("preau-offline/fonts.example/css/font.css")).unwrap();
    assert!(css.contains(r#"url("../f/font.woff2")"#), "{css}");
    assert_eq!(file("preau-offline/fonts.example/f/font.woff2"), b"wOF2 fake");
    // Only the hosts the test maps were asked; YouTube and Wikipedia never.
    let asked = log.lock().unwrap().clone();
    assert!(asked.iter().all(|r| r.starts_with("images.example") || r.starts_with("fonts.example")), "{asked:?}");
    // Every change is in the report, with its page, and the report is in the pack.
    let actions: Vec<(&str, &str)> = report.offline.iter().map(|c| (c.action.as_str(), c.url.as_str())).collect();
    for expected in [
        ("library", "https://cdn.jsdelivr.net/npm/katex@0.16.9/dist/katex.min.js"),
        ("shim-dropped", "https://polyfill.io/v3/polyfill.min.js?features=es6"),
        ("downloaded", "http://images.example/cat.png"),
        ("removed", "http://images.example/missing.png"),
        ("removed", "https://www.youtube.com/embed/xyz"),
        ("link-marked", "https://fr.wikipedia.org/"),
        ("downloaded", "../f/font.woff2"),
    ] {
        assert!(actions.contains(&expected), "{expected:?} not in {actions:?}");
    }
    assert!(report.offline.iter().all(|c| !c.page.is_empty()));
    let stored: ImportReport = serde_json::from_slice(&file("_preau/import-report.json")).unwrap();
    assert_eq!(stored.offline, report.offline);
    assert!(report.to_string().contains("[hors ligne] a/index.html : http://images.example/missing.png — retiré"));

    // The same site built offline: libraries come from the libraries pack, the rest is removed.
    let mut tree2 = SourceTree { meta: PackMeta { id: "cours".into(), ..Default::default() }, files: vec![] };
    tree2.add_bytes("index.html", PAGE.as_bytes().to_vec());
    let mut report2 = ImportReport::new("folder");
    let offline = Options { offline: true, cache_dir: tmp.path().join("empty-cache"), ..Default::default() };
    let again = prepare_pack(&repo, &key, &mut tree2, &mut report2, &offline, &build_opts()).unwrap();
    assert!(again.is_none(), "katex is already in the libraries pack");
    let SourceData::Bytes(b) = &tree2.files[0].data else { panic!() };
    let page2 = String::from_utf8(b.clone()).unwrap();
    assert!(page2.contains("/packs/preau-libs/katex@0.16.9/dist/katex.min.js") && page2.contains("[Un chat]"));
    assert!(!page2.contains("fonts.example"));
    // Nothing reached the local server in the offline build.
    assert_eq!(log.lock().unwrap().len(), asked.len());
}
