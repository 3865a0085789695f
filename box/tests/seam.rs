//! The seam with the classroom app, in process: the box's router built by `wiring` from
//! the app's context, the page-open hook the app uses for progress, and `Library` reads
//! of private files.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use preau_box::config::Config;
use preau_box::metrics::Metrics;
use preau_box::packs::Library;
use preau_box::packs::cache::Cache;
use preau_box::packs::serve::Serving;
use preau_box::server::{self, routes};
use preau_box::wiring;

#[test]
fn open_hook_sees_pages_only_and_private_files_are_readable_by_the_app() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let p = common::install_test_packs(&data);
    let packs = Arc::new(Library::open(&data.join("repo")).unwrap());
    // The app reads what browsers never get.
    assert_eq!(packs.read_private("t", "quiz/q1.json").unwrap().unwrap(), p.secret);
    assert!(packs.read_private("t", "quiz/none.json").unwrap().is_none());
    assert!(packs.read_private("nope", "quiz/q1.json").unwrap().is_none());

    let seen: Arc<Mutex<Vec<(String, String, bool)>>> = Arc::default();
    let metrics = Arc::new(Metrics::default());
    let mut serving = Serving::new(packs.clone(), Cache::new(1 << 20), metrics.clone());
    let log = seen.clone();
    serving.on_open = Some(Arc::new(move |h: &http::HeaderMap, id: &str, path: &str| {
        log.lock().unwrap().push((id.to_string(), path.to_string(), h.contains_key("cookie")));
    }));
    let env = wiring::classroom_env(&data, &Config::default(), &"0".repeat(32), packs, None);
    let serving = Arc::new(serving);
    // The test's own page-open hook stands in for the app's, so the app's routes are
    // merged by hand (as `wiring::router` does).
    let router = routes::router(serving.clone(), preau_classroom::router(env).0);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let limits = Config::default().limits();
    let server = rt.spawn(server::serve(listener, router, Some(serving), limits, metrics, async {
        let _ = rx.await;
    }));
    let get = |path: &str| common::request(addr, "GET", path, &[("cookie", "pupil=x")], b"");
    assert_eq!(get("/packs/t/index.html").status, 200);
    assert_eq!(get("/packs/t/style.css").status, 200);
    assert_eq!(get("/packs/t/notes.md").status, 200);
    assert_eq!(get("/packs/t/missing.html").status, 404);
    let t = std::time::Instant::now();
    while seen.lock().unwrap().len() < 2 && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let got = seen.lock().unwrap().clone();
    assert_eq!(got, vec![("t".into(), "index.html".into(), true), ("t".into(), "notes.md".into(), true)]);

    // A revalidated page (304, as a shared tablet's cache gets) is an opening too; a
    // revalidated stylesheet is not.
    let wait_for = |n: usize| {
        let t = std::time::Instant::now();
        while seen.lock().unwrap().len() < n && t.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let etag = |path: &str| get(path).header("etag").unwrap().to_string();
    let (page_tag, css_tag) = (etag("/packs/t/index.html"), etag("/packs/t/style.css"));
    wait_for(3);
    seen.lock().unwrap().clear();
    let again = |path: &str, tag: &str| {
        common::request(addr, "GET", path, &[("cookie", "pupil=y"), ("if-none-match", tag)], b"").status
    };
    assert_eq!(again("/packs/t/index.html", &page_tag), 304);
    assert_eq!(again("/packs/t/style.css", &css_tag), 304);
    wait_for(1);
    assert_eq!(seen.lock().unwrap().clone(), vec![("t".into(), "index.html".into(), true)]);
    tx.send(()).unwrap();
    rt.block_on(server).unwrap().unwrap();
}

#[test]
fn a_teacher_removes_a_pack_and_adds_it_back_from_a_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let publisher = tmp.path().join("stick");
    let data = tmp.path().join("data");
    let (_, key) = common::build_test_packs(&publisher);
    std::fs::create_dir_all(&data).unwrap();
    preau_sync::install_from_folder(&publisher, &data, &[key.public()], None).unwrap();
    let packs = Arc::new(Library::open(&data.join("repo")).unwrap());
    let metrics = Arc::new(Metrics::default());
    let serving = Serving::new(packs.clone(), Cache::new(1 << 20), metrics.clone());
    let env = wiring::classroom_env(&data, &Config::default(), &"0".repeat(32), packs.clone(), None);
    let (router, serving) = wiring::router(env.clone(), serving);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(server::serve(listener, router, Some(serving), Config::default().limits(), metrics, async {
        let _ = rx.await;
    }));
    let get = |path: &str| common::request(addr, "GET", path, &[], b"").status;
    assert_eq!(get("/packs/t/index.html"), 200);
    let objects = || walk(&data.join("repo/objects"));
    let before = objects();

    let said = env.packs.remove("t").unwrap();
    assert!(said.contains("Mo"), "{said}");
    assert!(objects() < before, "the removed pack's objects are freed");
    assert_eq!(get("/packs/t/index.html"), 404, "the removed pack is no longer served");
    assert_eq!(get("/packs/bare/one.txt"), 200, "the other pack is untouched");
    assert!(env.packs.list().iter().all(|p| p.id != "t"));
    assert!(env.packs.remove("t").unwrap_err().contains("t"), "removing twice names the pack");

    // The preload at the next start does not bring it back; the teacher's "add" does.
    preau_sync::install_from_folder(&publisher, &data, &[], None).unwrap();
    packs.reload().unwrap();
    assert_eq!(get("/packs/t/index.html"), 404);
    env.packs.install_from_folder(&publisher, None).unwrap();
    assert_eq!(get("/packs/t/index.html"), 200);
    assert_eq!(objects(), before);
    tx.send(()).unwrap();
    rt.block_on(server).unwrap().unwrap();
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| if e.path().is_dir() { walk(&e.path()) } else { 1 }).sum())
        .unwrap_or(0)
}
