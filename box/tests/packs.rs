//! Pack serving against a real `preau serve` on 127.0.0.1: ETag/304, Range/206 across
//! chunk boundaries, gzip, the `_preau/` ban, the CSP sandbox, generated indexes,
//! Markdown, `/api/packs`, and `/repo/` as a repository another tool reads.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use preau_box::packs::Library;

const SANDBOX: &str = "sandbox allow-scripts allow-forms allow-popups allow-downloads";

#[test]
fn etag_and_if_none_match_give_304() {
    let (s, p, _t) = start_with_packs("");
    let r = s.get("/packs/t/style.css");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, p.css);
    let etag = r.header("etag").unwrap().to_string();
    assert_eq!(etag, format!("\"{}\"", blake3::hash(&p.css).to_hex()));
    assert!(r.header("cache-control").unwrap().contains("max-age"));
    let again = s.get_with("/packs/t/style.css", &[("if-none-match", &etag)]);
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    let other = s.get_with("/packs/t/style.css", &[("if-none-match", "\"nope\"")]);
    assert_eq!(other.status, 200);
    // Pages revalidate every time.
    assert_eq!(s.get("/packs/t/index.html").header("cache-control"), Some("no-cache"));
}

#[test]
fn ranges_across_chunk_boundaries() {
    let (s, p, t) = start_with_packs("");
    let lib = Library::open(&t.path().join("data/repo")).unwrap();
    let entry = lib.get("t").unwrap().manifest.file("media/video.mp4").unwrap().clone();
    assert!(entry.chunks.len() >= 3, "the test file must be split into chunks");
    let first_end = entry.chunks[0].1;
    let second_end = first_end + entry.chunks[1].1;
    let size = p.video.len() as u64;
    let cases = [
        (first_end - 10, first_end + 10),
        (first_end - 1, second_end + 1),
        (0, 0),
        (size - 1, size - 1),
        (12345, 12345 + 300_000),
    ];
    for (a, b) in cases {
        let r = s.get_with("/packs/t/media/video.mp4", &[("range", &format!("bytes={a}-{b}"))]);
        assert_eq!(r.status, 206, "{a}-{b}");
        assert_eq!(r.header("content-range").unwrap(), format!("bytes {a}-{b}/{size}"));
        assert_eq!(r.body, &p.video[a as usize..=b as usize], "{a}-{b}");
    }
    let tail = s.get_with("/packs/t/media/video.mp4", &[("range", "bytes=-100")]);
    assert_eq!(tail.status, 206);
    assert_eq!(tail.body, &p.video[p.video.len() - 100..]);
    let open = s.get_with("/packs/t/media/video.mp4", &[("range", &format!("bytes={}-", size - 5000))]);
    assert_eq!(open.body, &p.video[p.video.len() - 5000..]);
    let bad = s.get_with("/packs/t/media/video.mp4", &[("range", &format!("bytes={size}-"))]);
    assert_eq!(bad.status, 416);
    assert_eq!(bad.header("content-range").unwrap(), format!("bytes */{size}"));
    // If-Range with another tag: the whole file.
    let stale = s.get_with("/packs/t/media/video.mp4", &[("range", "bytes=0-9"), ("if-range", "\"old\"")]);
    assert_eq!(stale.status, 200);
    // The whole large file, streamed, is byte-exact.
    let whole = s.get("/packs/t/media/video.mp4");
    assert_eq!(whole.status, 200);
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));
    assert_eq!(whole.header("content-type"), Some("video/mp4"));
    assert!(whole.body == p.video, "streamed file differs");
    assert_eq!(s.get("/packs/t/media/small.mp4").body, p.small_video);
}

#[test]
fn gzip_when_asked_computed_once() {
    let (s, p, _t) = start_with_packs("");
    let plain = s.get("/packs/t/style.css");
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.header("vary"), Some("Accept-Encoding"));
    for _ in 0..3 {
        let r = s.get_with("/packs/t/style.css", &[("accept-encoding", "gzip, deflate")]);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        assert!(r.body.len() < p.css.len() / 4, "not compressed: {} bytes", r.body.len());
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&r.body[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, p.css);
        assert_ne!(r.header("etag"), plain.header("etag"), "each representation has its own tag");
        let etag = r.header("etag").unwrap().to_string();
        let nm = s.get_with("/packs/t/style.css", &[("accept-encoding", "gzip"), ("if-none-match", &etag)]);
        assert_eq!(nm.status, 304);
    }
    // Compressed once: the later requests were answered from the cache.
    let m = s.get("/metrics").text();
    let hits: u64 =
        m.lines().find(|l| l.starts_with("preau_file_cache_hits_total ")).unwrap()[28..].trim().parse().unwrap();
    assert!(hits >= 2, "{m}");
    // Video is not compressible: never gzip.
    let v = s.get_with("/packs/t/media/small.mp4", &[("accept-encoding", "gzip")]);
    assert_eq!(v.header("content-encoding"), None);
    // Refused gzip (q=0) is respected.
    let q0 = s.get_with("/packs/t/style.css", &[("accept-encoding", "gzip;q=0")]);
    assert_eq!(q0.header("content-encoding"), None);
}

#[test]
fn private_files_are_never_served() {
    let (s, p, _t) = start_with_packs("");
    for path in [
        "/packs/t/_preau/quiz/q1.json",
        "/packs/t/%5Fpreau/quiz/q1.json",
        "/packs/t/_PREAU/quiz/q1.json",
        "/packs/t/_preau/",
        "/packs/t/_preau",
        "/packs/t/_preau/quiz/",
        "/packs/bare/_preau/course.json",
    ] {
        let r = s.get(path);
        assert_eq!(r.status, 404, "{path}");
        assert!(!r.text().contains("right answer"), "{path}");
    }
    let index = s.get("/packs/bare/").text();
    assert!(!index.contains("_preau"), "{index}");
    let api = s.get("/api/packs").text();
    assert!(!api.contains("right answer"));
    let _ = p.secret;
}

#[test]
fn pack_content_is_sandboxed() {
    let (s, _p, _t) = start_with_packs("");
    for path in [
        "/packs/t/index.html",
        "/packs/t/style.css",
        "/packs/t/media/small.mp4",
        "/packs/bare/",
        "/packs/t/notes.md",
        "/packs/t/docs/",
    ] {
        let r = s.get(path);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-security-policy"), Some(SANDBOX), "{path}");
        assert!(!SANDBOX.contains("allow-same-origin"));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{path}");
    }
    // 304s carry the policy too (a cached page keeps its sandbox).
    let etag = s.get("/packs/t/index.html").header("etag").unwrap().to_string();
    let r = s.get_with("/packs/t/index.html", &[("if-none-match", &etag)]);
    assert_eq!(r.header("content-security-policy"), Some(SANDBOX));
}

#[test]
fn entry_pages_indexes_and_markdown() {
    let (s, p, _t) = start_with_packs("");
    let r = s.get("/packs/t");
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("/packs/t/"));
    let root = s.get("/packs/t/");
    assert_eq!(root.status, 200);
    assert_eq!(root.body, p.index);
    // No entry page: a generated index, with names escaped and links encoded.
    let bare = s.get("/packs/bare/");
    assert_eq!(bare.status, 200);
    let html = bare.text();
    assert!(html.contains("href=\"one.txt\"") && html.contains("href=\"sub/\""), "{html}");
    let docs = s.get("/packs/t/docs/").text();
    assert!(docs.contains("href=\"b%20c.txt\""), "{docs}");
    assert_eq!(s.get("/packs/t/docs").header("location"), Some("/packs/t/docs/"));
    assert_eq!(s.get("/packs/t/docs/b%20c.txt").body, b"b");
    assert_eq!(s.get("/packs/t/nothing/").status, 404);
    // Markdown rendered, or raw on request.
    let md = s.get("/packs/t/notes.md");
    assert!(md.header("content-type").unwrap().starts_with("text/html"));
    assert!(md.text().contains("<h1>Titre</h1>") && md.text().contains("<title>Titre</title>"), "{}", md.text());
    assert_eq!(s.get("/packs/t/notes.md?raw").body, p.markdown);
    // The JSON list.
    let v: serde_json::Value = serde_json::from_slice(&s.get("/api/packs").body).unwrap();
    let ids: Vec<&str> = v["packs"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["bare", "t"]);
    assert_eq!(v["packs"][1]["title"], "Test <pack>");
    assert_eq!(v["packs"][1]["url"], "/packs/t/");
    // The placeholder home page lists packs with escaped titles.
    assert!(s.get("/").text().contains("Test &lt;pack&gt;"));
}

#[test]
fn repo_is_a_repository_another_tool_can_read() {
    const TOKEN: &str = "0123456789abcdef-peer";
    let (s, p, t) = start_with_packs(&format!("[sync]\npeer_token = \"{TOKEN}\""));
    let url = format!("http://{}/repo/", s.addr);
    // `preau pack` reads the box's /repo/ over HTTP (preau-sync's HTTP source), as a
    // technician checks a peer or a mirror from a shell.
    let pack = |args: &[&str], token: Option<&str>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_preau"));
        c.arg("pack").args(args).args(["--repo", &url]).env_remove("PREAU_PEER_TOKEN");
        if let Some(t) = token {
            c.env("PREAU_PEER_TOKEN", t);
        }
        c.output().unwrap()
    };
    let list = pack(&["list", "--json"], None);
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
    let catalog: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert!(catalog["packs"]["t"]["version"].as_u64().is_some(), "{catalog}");
    let out_dir = t.path().join("out");
    let out = pack(&["extract", "--id", "t", "--out", out_dir.to_str().unwrap()], Some(TOKEN));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(out_dir.join("media/video.mp4")).unwrap(), p.video);
    assert_eq!(std::fs::read(out_dir.join("_preau/quiz/q1.json")).unwrap(), p.secret, "answers opened with the token");
    let verify = pack(&["verify"], Some(TOKEN));
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    assert!(String::from_utf8_lossy(&verify.stdout).contains("OK"));
    // Without the school's secret the answers stay out of reach, and verify says so.
    let verify = pack(&["verify"], None);
    assert!(!verify.status.success());
    assert!(
        String::from_utf8_lossy(&verify.stderr).contains("peer_token"),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    // A URL that is not a repository gets a message naming that problem.
    let wrong = std::process::Command::new(env!("CARGO_BIN_EXE_preau"))
        .args(["pack", "list", "--repo", &format!("http://{}/nothing/", s.addr)])
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("not a Préau repository"));

    let repo_dir = t.path().join("data/repo");
    let mut files = Vec::new();
    for d in std::fs::read_dir(repo_dir.join("objects")).unwrap() {
        let d = d.unwrap();
        for o in std::fs::read_dir(d.path()).unwrap() {
            files.push(format!(
                "objects/{}/{}",
                d.file_name().to_string_lossy(),
                o.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    let secret = format!("objects/{}", &preau_pack::repo::object_rel_path(&preau_pack::Hash::of(&p.secret))[8..]);
    let obj = files.iter().find(|f| **f != secret).unwrap();
    assert!(s.get(&format!("/repo/{obj}")).header("cache-control").unwrap().contains("immutable"));
    // Range and conditional requests on /repo/ too (resumed downloads).
    let obj = files.iter().find(|f| f.starts_with("objects/")).unwrap();
    let full = s.get(&format!("/repo/{obj}"));
    let part = s.get_with(&format!("/repo/{obj}"), &[("range", "bytes=1-4")]);
    assert_eq!(part.status, 206);
    assert_eq!(part.body, &full.body[1..5]);
    let etag = full.header("etag").unwrap().to_string();
    assert_eq!(s.get_with(&format!("/repo/{obj}"), &[("if-none-match", &etag)]).status, 304);
    assert_eq!(s.get("/repo/objects").status, 404);
    assert_eq!(s.get("/repo/.hidden").status, 404);
}

#[test]
fn sigterm_lets_a_download_in_flight_finish() {
    let (mut s, p, _t) = start_with_packs("");
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.write_all(b"GET /packs/t/media/video.mp4 HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    let mut first = vec![0u8; 1000];
    c.read_exact(&mut first).unwrap();
    common::signal(&s.child, "TERM");
    std::thread::sleep(Duration::from_millis(300));
    // New connections are refused while the download goes on.
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    first.extend_from_slice(&rest);
    let r = parse_response(&first, false);
    assert_eq!(r.status, 200);
    assert!(r.body == p.video, "download cut short: {} of {} bytes", r.body.len(), p.video.len());
    let st = common::wait_exit(&mut s.child, Duration::from_secs(20)).expect("no exit after SIGTERM");
    assert!(st.success());
}

/// `GET` of a pack file is answered before routing (`Serving::direct`); `HEAD` and
/// anything unusual go through the router. Both must give the same headers, and the
/// shortcut must never open what the router keeps closed.
#[test]
fn files_answered_before_routing_match_the_router() {
    let (s, p, _t) = start_with_packs("");
    for (path, gzip) in [("/packs/t/style.css", false), ("/packs/t/style.css", true), ("/packs/t/index.html", false)] {
        let h: &[(&str, &str)] = if gzip { &[("accept-encoding", "gzip")] } else { &[] };
        let get = s.get_with(path, h);
        let head = request(s.addr, "HEAD", path, h, b"");
        assert_eq!((get.status, head.status), (200, 200), "{path}");
        for name in [
            "etag",
            "content-type",
            "content-length",
            "content-encoding",
            "cache-control",
            "content-security-policy",
            "vary",
            "accept-ranges",
            "x-content-type-options",
            "referrer-policy",
            "x-frame-options",
        ] {
            assert_eq!(get.header(name), head.header(name), "{path} gzip={gzip}: {name}");
        }
        assert_eq!(get.header("content-security-policy"), Some(SANDBOX));
        assert_eq!(get.header("x-content-type-options"), Some("nosniff"));
    }
    assert_eq!(s.get("/packs/t/style.css").body, p.css);
    // Percent-encoded names, and escapes that hide a reserved or private path.
    assert_eq!(s.get("/packs/t/docs/b%20c.txt").body, b"b");
    assert_eq!(s.get("/packs/%74/docs/a.txt").body, b"a");
    for hidden in ["/packs/t/%5Fpreau/quiz/q1.json", "/packs/t/_preau/quiz/q1.json", "/packs/t/_PREAU/quiz/q1.json"] {
        let r = s.get(hidden);
        assert_eq!(r.status, 404, "{hidden}");
        assert!(!r.text().contains("right answer"), "{hidden}");
    }
    assert!(s.get("/packs/t/docs/b%2").status >= 400);
    assert_eq!(s.get("/packs/t/docs").status, 302);
    assert_eq!(s.get("/packs/nope/style.css").status, 404);
    // Range and conditional requests on the shortcut.
    let r = s.get_with("/packs/t/style.css", &[("range", "bytes=0-9")]);
    assert_eq!((r.status, r.body.as_slice()), (206, &p.css[..10]));
    let etag = s.get("/packs/t/style.css").header("etag").unwrap().to_string();
    assert_eq!(s.get_with("/packs/t/style.css", &[("if-none-match", &etag)]).status, 304);
}
