//! The HTTP core against a real `preau serve` on 127.0.0.1: probes, health, metrics,
//! security headers, limits (body, header read timeout, connection cap), shutdown.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn healthz_and_metrics() {
    let s = Server::start("");
    let r = s.get("/healthz");
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["status"], "ok");
    let m = s.get("/metrics");
    assert_eq!(m.status, 200);
    assert!(m.header("content-type").unwrap().starts_with("text/plain; version=0.0.4"));
    let text = m.text();
    // The /healthz request above was counted.
    let ok_line = text.lines().find(|l| l.starts_with("preau_http_requests_total{class=\"2xx\"}")).unwrap();
    let n: u64 = ok_line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n >= 1, "{ok_line}");
    for name in
        ["preau_connections_open", "preau_connections_refused_total", "preau_packs_installed", "preau_file_cache_bytes"]
    {
        assert!(text.contains(&format!("# TYPE {name} ")), "{name} missing in\n{text}");
    }
}

#[test]
fn captive_portal_probes_redirect_to_the_box() {
    let s = Server::start("");
    for path in
        ["/generate_204", "/hotspot-detect.html", "/connecttest.txt", "/ncsi.txt", "/canonical.html", "/success.txt"]
    {
        let r = s.get_with(path, &[("host", "connectivitycheck.gstatic.com")]);
        assert_eq!(r.status, 302, "{path}");
        assert_eq!(r.header("location").unwrap(), format!("http://{}/", s.addr), "{path}");
        assert_eq!(r.header("cache-control"), Some("no-store"), "{path}");
        // Not the "internet works" answers, which would hide the box.
        assert!(!r.text().contains("Microsoft Connect Test") && !r.text().starts_with("success"), "{path}");
    }
}

#[test]
fn box_pages_have_security_headers_and_unknown_paths_404() {
    let s = Server::start("");
    let r = s.get("/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("x-frame-options"), Some("SAMEORIGIN"));
    assert!(r.header("content-security-policy").unwrap().contains("frame-ancestors 'self'"));
    assert_eq!(s.get("/nothing/here").status, 404);
    assert_eq!(s.get("/packs/nope/index.html").status, 404);
    assert_eq!(s.get("/repo/../../etc/passwd").status, 404);
    let api = s.get("/api/packs");
    assert_eq!(api.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&api.body).unwrap();
    assert!(v["packs"].is_array());
}

#[test]
fn body_over_the_limit_is_refused() {
    let s = Server::start("[server]\nmax_body_bytes = 4096");
    // Declared too large: refused before reading.
    let r = request(s.addr, "POST", "/", &[], &vec![b'x'; 5000]);
    assert_eq!(r.status, 413);
    assert_eq!(r.header("connection"), Some("close"));
    let m = s.get("/metrics").text();
    assert!(m.contains("preau_request_bodies_too_large_total 1"), "{m}");
    // Under the limit the request goes through to the router.
    assert_ne!(request(s.addr, "POST", "/", &[], &[b'x'; 100]).status, 413);
}

#[test]
fn slow_headers_are_cut_off_by_the_header_read_timeout() {
    let s = Server::start("[server]\nheader_read_timeout_secs = 1");
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n").unwrap();
    let t = Instant::now();
    let mut buf = Vec::new();
    // The server closes the connection; it never answers a half request.
    let _ = c.read_to_end(&mut buf);
    let waited = t.elapsed();
    assert!(waited < Duration::from_secs(9), "connection held for {waited:?}");
    assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));
    // A connection that sends nothing at all is closed too.
    let mut idle = TcpStream::connect(s.addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let t = Instant::now();
    let _ = idle.read_to_end(&mut buf);
    assert!(t.elapsed() < Duration::from_secs(9));
    // And the server still answers others.
    assert_eq!(s.get("/healthz").status, 200);
}

#[test]
fn connections_over_the_cap_get_503_and_the_others_keep_working() {
    let s = Server::start("[server]\nmax_connections = 4\nheader_read_timeout_secs = 30");
    let held: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(s.addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = TcpStream::connect(s.addr).unwrap();
    extra.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = Vec::new();
    let _ = extra.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 503"), "{text:?}");
    drop(held);
    // Permits come back when the held connections close.
    let t = Instant::now();
    loop {
        let r = std::panic::catch_unwind(|| s.get("/healthz").status);
        if r.is_ok_and(|st| st == 200) {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "cap never released");
        std::thread::sleep(Duration::from_millis(100));
    }
    // At least the extra connection was refused; a retry above may have been too while
    // the held connections were still closing on a loaded machine.
    let m = s.get("/metrics").text();
    let refused: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("preau_connections_refused_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(refused >= 1, "{m}");
}

#[test]
fn sigterm_closes_idle_connections_and_exits_cleanly() {
    let mut s = Server::start("");
    // A keep-alive connection that is idle, and one with a request half sent.
    let mut idle = TcpStream::connect(s.addr).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let t = Instant::now();
    let status = s.terminate();
    assert!(status.success(), "exit status {status:?}");
    assert!(t.elapsed() < Duration::from_secs(15));
    // The port is closed now.
    assert!(TcpStream::connect(s.addr).is_err());
}

#[test]
fn keep_alive_ends_after_the_request_cap() {
    let s = Server::start("[server]\nkeep_alive_max_requests = 2");
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // Two requests pipelined on one connection, then the server closes it.
    c.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\nGET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    let mut all = Vec::new();
    c.read_to_end(&mut all).unwrap();
    let text = String::from_utf8_lossy(&all);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
    let second = &text[text.rfind("HTTP/1.1 200 OK").unwrap()..];
    assert!(second.contains("connection: close"), "{text}");
    let first = &text[..text.rfind("HTTP/1.1 200 OK").unwrap()];
    assert!(!first.contains("connection: close"), "{text}");
}

/// Issue 18: a `preau.toml` with an error never bricks a box. It starts on the last good
/// settings, and the error (file, line, key, French and English) is on the home page, in
/// `DATA/config-error.txt` (the console) and in the log.
#[test]
fn a_refused_config_starts_the_box_on_the_last_good_settings() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut s = Server::start_in(&data, "[box]\nschool = \"École des Tilleuls\"");
    assert!(s.get("/").text().contains("École des Tilleuls"));
    assert!(!data.join("config-error.txt").exists());
    s.terminate();
    drop(s);
    // A typo in the key name (line 3 once start_in_env appended its [server] section).
    let mut s = Server::start_in(&data, "[box]\nschool = \"Autre école\"\nschol = \"typo\"");
    let home = s.get("/").text();
    assert!(home.contains("École des Tilleuls"), "last good school name: {home}");
    assert!(home.contains("id=\"config-problem\""), "{home}");
    assert!(home.contains("ligne 3") && home.contains("clé box.schol"), "{home}");
    let en = s.get_with("/", &[("Accept-Language", "en")]).text();
    assert!(en.contains("line 3") && en.contains("key box.schol") && en.contains("last good settings"), "{en}");
    let console = std::fs::read_to_string(data.join("config-error.txt")).unwrap();
    assert!(console.contains("PRÉAU") && console.contains("box.schol"), "{console}");
    s.terminate();
}
