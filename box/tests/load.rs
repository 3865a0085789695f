//! Load test (loopback only, bounded in time): 40 simulated pupils browsing a pack on
//! keep-alive connections, while 200 slowloris connections trickle half-sent headers.
//! Every pupil request must succeed. Speed is not asserted here (see BENCHMARKS.md).
//!
//! `PREAU_LOAD_SECS` sets the duration (default 60). Every client here is 127.0.0.1, so
//! the per-client connection cap is raised to the global one (`connection_fairness`
//! tests the per-client cap).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use common::*;

const PUPILS: usize = 40;
const SLOWLORIS: usize = 200;

/// One keep-alive connection that reconnects when the server ends it cleanly.
struct Client {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
}

impl Client {
    fn get(&mut self, path: &str, headers: &str) -> Result<(u16, Vec<u8>), String> {
        let addr = self.addr;
        if self.conn.is_none() {
            let s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            self.conn = Some(BufReader::new(s));
        }
        let conn = self.conn.as_mut().unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\n{headers}\r\n");
        conn.get_mut().write_all(req.as_bytes()).map_err(|e| format!("write {path}: {e}"))?;
        let mut status_line = String::new();
        conn.read_line(&mut status_line).map_err(|e| format!("read {path}: {e}"))?;
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or(format!("bad status line {status_line:?} for {path}"))?;
        let (mut len, mut close) = (0usize, false);
        loop {
            let mut line = String::new();
            conn.read_line(&mut line).map_err(|e| format!("read head {path}: {e}"))?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (k, v) = line.split_once(':').ok_or("bad header")?;
            match k.to_ascii_lowercase().as_str() {
                "content-length" => len = v.trim().parse().map_err(|_| "bad length")?,
                "connection" => close = v.trim().eq_ignore_ascii_case("close"),
                "transfer-encoding" => return Err(format!("unexpected chunked body for {path}")),
                _ => {}
            }
        }
        let mut body = vec![0u8; len];
        conn.read_exact(&mut body).map_err(|e| format!("read body {path}: {e}"))?;
        if close {
            self.conn = None;
        }
        Ok((status, body))
    }
}

#[test]
fn forty_pupils_and_two_hundred_slowloris() {
    let secs: u64 = std::env::var("PREAU_LOAD_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60).clamp(5, 600);
    let (s, p, _t) = start_with_packs("[server]\nheader_read_timeout_secs = 5\nmax_connections_per_client = 512");
    let addr = s.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(secs);

    // The attackers: each connection sends one more header byte every second, never
    // finishing; reconnects when the server cuts it.
    let cut = Arc::new(AtomicU64::new(0));
    let lorises = {
        let (stop, cut) = (stop.clone(), cut.clone());
        std::thread::spawn(move || {
            let open = |_| {
                let mut c = TcpStream::connect(addr).ok()?;
                c.write_all(b"GET /packs/t/index.html HTTP/1.1\r\nhost: x\r\nx-a: ").ok()?;
                Some(c)
            };
            let mut conns: Vec<Option<TcpStream>> = (0..SLOWLORIS).map(open).collect();
            while !stop.load(Relaxed) {
                std::thread::sleep(Duration::from_millis(1000));
                for (i, c) in conns.iter_mut().enumerate() {
                    let alive = c.as_mut().is_some_and(|c| c.write_all(b"a").is_ok());
                    if !alive {
                        if c.is_some() {
                            cut.fetch_add(1, Relaxed);
                        }
                        *c = open(i);
                    }
                }
            }
        })
    };
    std::thread::sleep(Duration::from_millis(500));

    let requests = Arc::new(AtomicU64::new(0));
    let pupils: Vec<_> = (0..PUPILS)
        .map(|i| {
            let (stop, requests) = (stop.clone(), requests.clone());
            let (index, css, video) = (p.index.clone(), p.css.len(), p.video.clone());
            std::thread::spawn(move || -> Vec<String> {
                let mut c = Client { addr, conn: None };
                let mut errors = Vec::new();
                let mut n = 0u64;
                while !stop.load(Relaxed) && errors.len() < 10 {
                    let step = (n + i as u64) % 5;
                    let off = (n * 65_537 + i as u64 * 4099) % (video.len() as u64 - 200_000);
                    let result = match step {
                        0 => c.get("/packs/t/", "").map(|(st, b)| (st == 200 && b == index, st)),
                        1 => c
                            .get("/packs/t/style.css", "accept-encoding: gzip, deflate\r\n")
                            .map(|(st, b)| (st == 200 && !b.is_empty() && b.len() < css, st)),
                        2 => c
                            .get("/packs/t/media/video.mp4", &format!("range: bytes={off}-{}\r\n", off + 199_999))
                            .map(|(st, b)| (st == 206 && b == video[off as usize..off as usize + 200_000], st)),
                        3 => c.get("/api/packs", "").map(|(st, b)| (st == 200 && b.starts_with(b"{"), st)),
                        _ => c.get("/packs/t/notes.md", "").map(|(st, _)| (st == 200, st)),
                    };
                    match result {
                        Ok((true, _)) => {}
                        Ok((false, st)) => errors.push(format!("pupil {i} step {step}: status {st} or wrong body")),
                        Err(e) => {
                            errors.push(format!("pupil {i} step {step}: {e}"));
                            c.conn = None;
                        }
                    }
                    n += 1;
                    requests.fetch_add(1, Relaxed);
                    // A pupil reads a little between clicks.
                    std::thread::sleep(Duration::from_millis(20));
                }
                errors
            })
        })
        .collect();

    // Watch the server while the load runs: the slow connections are really held open.
    let mut max_open = 0u64;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
        if let Ok(text) = std::panic::catch_unwind(|| s.get("/metrics").text()) {
            let open: u64 = text
                .lines()
                .find_map(|l| l.strip_prefix("preau_connections_open "))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            max_open = max_open.max(open);
        }
    }
    stop.store(true, Relaxed);
    let errors: Vec<String> = pupils.into_iter().flat_map(|h| h.join().unwrap()).collect();
    lorises.join().unwrap();
    let total = requests.load(Relaxed);
    eprintln!(
        "load: {secs} s, {total} pupil requests, {} slowloris connections cut, at most {max_open} connections open",
        cut.load(Relaxed)
    );
    assert!(errors.is_empty(), "{} pupil errors, first: {:?}", errors.len(), &errors[..errors.len().min(5)]);
    assert!(total >= PUPILS as u64 * secs, "only {total} requests in {secs} s");
    assert!(max_open >= SLOWLORIS as u64, "the slowloris connections were not all open at once ({max_open})");
    assert!(cut.load(Relaxed) >= SLOWLORIS as u64, "the header read timeout did not cut the slow connections");
}
