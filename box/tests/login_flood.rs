//! Issue 14 (H1): an anonymous sign-in flood against a real `preau serve` on 127.0.0.1
//! keeps the server's memory bounded while pack files keep being served.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Server, request, start_with_packs};

/// Peak resident memory of the server process (`VmHWM`), in KiB.
fn peak_rss_kib(s: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.child.id())).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM in /proc/PID/status");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A CSRF cookie the box issued, from the setup page (no teacher yet).
fn csrf(s: &Server) -> String {
    let r = s.get("/teacher/setup");
    let set = r.header("set-cookie").expect("the setup page sets a CSRF cookie");
    let v = set.strip_prefix("preau_csrf=").expect("preau_csrf cookie");
    v.split(';').next().unwrap().to_string()
}

/// `names` sign-ins with distinct names, `parallel` at a time; returns the statuses.
fn flood(s: &Server, token: &str, parallel: usize, names: usize, tag: &str) -> Vec<u16> {
    let next = Arc::new(AtomicUsize::new(0));
    let statuses = Arc::new(std::sync::Mutex::new(Vec::new()));
    std::thread::scope(|scope| {
        for _ in 0..parallel {
            let (next, statuses) = (next.clone(), statuses.clone());
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= names {
                        break;
                    }
                    let body = format!("csrf={token}&name=intrus-{tag}-{i}&password=devine-{i}");
                    let cookie = format!("preau_csrf={token}");
                    let r = request(
                        s.addr,
                        "POST",
                        "/teacher/login",
                        &[("content-type", "application/x-www-form-urlencoded"), ("cookie", &cookie)],
                        body.as_bytes(),
                    );
                    statuses.lock().unwrap().push(r.status);
                }
            });
        }
    });
    Arc::try_unwrap(statuses).unwrap().into_inner().unwrap()
}

#[test]
fn a_login_flood_keeps_memory_bounded_and_pack_files_answering() {
    let (s, pack, _tmp) = start_with_packs("");
    let token = csrf(&s);
    let stop = Arc::new(AtomicBool::new(false));
    // Another client keeps fetching a pack file during the flood.
    let reader = {
        let (stop, addr, css) = (stop.clone(), s.addr, pack.css.clone());
        std::thread::spawn(move || {
            let mut slowest = Duration::ZERO;
            let mut served = 0;
            while !stop.load(Ordering::SeqCst) {
                let t = Instant::now();
                let r = request(addr, "GET", "/packs/t/style.css", &[], b"");
                assert_eq!(r.status, 200);
                assert_eq!(r.body, css);
                slowest = slowest.max(t.elapsed());
                served += 1;
            }
            (served, slowest)
        })
    };
    for (parallel, tag) in [(16, "a"), (64, "b")] {
        let statuses = flood(&s, &token, parallel, 300, tag);
        assert_eq!(statuses.len(), 300);
        // A refused sign-in is a redirect back to the form (wrong or locked) or a 429.
        assert!(statuses.iter().all(|c| matches!(c, 303 | 429)), "{statuses:?}");
        let hwm = peak_rss_kib(&s);
        eprintln!(
            "{parallel} in parallel: peak RSS {hwm} KiB, {} answered 429",
            statuses.iter().filter(|c| **c == 429).count()
        );
        assert!(hwm < 100 * 1024, "server peak RSS {} MiB after {parallel} in parallel", hwm / 1024);
    }
    stop.store(true, Ordering::SeqCst);
    let (served, slowest) = reader.join().unwrap();
    eprintln!("pack file requests during the flood: {served}, slowest {slowest:?}");
    assert!(served > 0, "pack files answered during the flood");
    // Generous: a debug build on a shared 2-core machine; the old flood took seconds per request.
    assert!(slowest < Duration::from_secs(5), "slowest pack file request {slowest:?}");
}
