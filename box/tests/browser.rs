//! End to end in a real browser (Debian's `chromium` + `chromium-driver`, headless):
//! the first teacher sets up the box and creates a class; a pupil signs in, reads a
//! lesson, follows its link to the quiz and takes it; the teacher sees the score. A
//! pack page, opened in the teacher's browser, tries to read the teacher's pages.
//! Screenshots go to `target/e2e/`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use preau_box::app::{self, testkit};
use serde_json::json;

/// Kills chromedriver when the test ends, however it ends.
struct Driver(Child);
impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/e2e");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn start_driver(profile: &std::path::Path) -> (Driver, Client) {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver is installed (apt-get install chromium chromium-driver; see .ci/install.d/50-box-app.sh)");
    let driver = Driver(child);
    let caps = json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            // A French classroom: the box answers in French.
            "prefs": {"intl.accept_languages": "fr-FR,fr"},
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                "--disable-dev-shm-usage", "--window-size=420,900", "--lang=fr-FR",
                format!("--user-data-dir={}", profile.display()),
            ]
        }
    });
    let caps = caps.as_object().unwrap().clone();
    let mut builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
    builder.capabilities(caps);
    // chromedriver needs a moment to listen: retry the connection (not a timed assertion:
    // the test fails only if it never comes up).
    let mut last = None;
    for _ in 0..100 {
        match builder.connect(&format!("http://127.0.0.1:{port}")).await {
            Ok(c) => return (driver, c),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot start a Chromium session: {last:?}");
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.unwrap();
}

async fn fill(c: &Client, css: &str, text: &str) {
    c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).send_keys(text).await.unwrap();
}

async fn text_of(c: &Client, css: &str) -> String {
    c.wait().for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).text().await.unwrap()
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(artifacts().join(name), png).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pupil_takes_a_quiz_and_teacher_sees_the_score() {
    let data = tempfile::tempdir().unwrap();
    let profile = tempfile::tempdir().unwrap();
    let ctx = testkit::demo_context(data.path());
    // A hostile page in the pack: it tries to read a teacher page and the cookies.
    let (mut info, mut files) = testkit::demo_pack();
    files.insert(
        "spy.html".into(),
        br#"<!DOCTYPE html><html><body><p id="out"></p><script>
var out = document.getElementById("out");
var cookies; try { cookies = document.cookie; } catch (e) { cookies = "blocked"; }
fetch("/teacher/results", {credentials: "include"})
  .then(function (r) { return r.text().then(function (t) { out.textContent = (t.indexOf("L\u00e9a") >= 0 ? "LEAK" : "no-data:" + r.status) + " cookies=" + cookies; }); })
  .catch(function () { out.textContent = "fetch-refused cookies=" + cookies; });
</script></body></html>"#
            .to_vec(),
    );
    info.size += 1;
    let packs = testkit::MemPacks::default();
    packs.add(info, files);
    let ctx = app::AppContext { packs: std::sync::Arc::new(packs), ..ctx };
    assert_eq!(ctx.packs.list().len(), 1);
    let setup_code = app::setup_code(&ctx).unwrap().expect("a fresh box has a setup code");

    let router = app::try_router(ctx.clone()).unwrap().merge(testkit::pack_files(&ctx));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let base = format!("http://{addr}");

    let (_driver, c) = start_driver(profile.path()).await;

    // First start: the teacher creates their account with the setup code.
    c.goto(&format!("{base}/teacher/login")).await.unwrap();
    fill(&c, "input[name=code]", &setup_code).await;
    fill(&c, "input[name=name]", "Mme Durand").await;
    fill(&c, "input[name=password]", "motdepasse1").await;
    fill(&c, "input[name=password2]", "motdepasse1").await;
    click(&c, "form button").await;
    assert_eq!(text_of(&c, "h1").await, "Tableau de bord");
    fill(&c, "form[action='/teacher/classes'] input[name=name]", "CM2 B").await;
    click(&c, "form[action='/teacher/classes'] button").await;
    fill(&c, "form[action$='/pupils'] input[name=name]", "Léa").await;
    click(&c, "form[action$='/pupils'] button").await;
    assert!(c.source().await.unwrap().contains("Léa"));

    // The hostile pack page, in the teacher's browser, gets neither data nor cookies.
    c.goto(&format!("{base}/packs/{}/spy.html", testkit::DEMO)).await.unwrap();
    let spied = loop {
        let t = text_of(&c, "#out").await;
        if !t.is_empty() {
            break t;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!spied.contains("LEAK"), "a pack page read a teacher page: {spied}");
    assert!(spied.ends_with("cookies=") || spied.ends_with("cookies=blocked"), "cookies visible: {spied}");

    // Teacher signs out.
    c.goto(&format!("{base}/logout")).await.unwrap();
    click(&c, "form[action='/logout'] button").await;

    // A pupil signs in: class, then name.
    c.goto(&format!("{base}/")).await.unwrap();
    click(&c, "a[href='/login']").await;
    c.find(Locator::LinkText("CM2 B")).await.unwrap().click().await.unwrap();
    c.find(Locator::LinkText("Léa")).await.unwrap().click().await.unwrap();
    click(&c, "form[action='/login'] button").await;
    // The catalog, then the lesson (a sandboxed pack page).
    c.find(Locator::LinkText("Fractions — CM2")).await.unwrap().click().await.unwrap();
    assert_eq!(text_of(&c, "#lesson").await, "Les fractions");
    // The lesson's link to its quiz reaches the quiz player, signed in.
    click(&c, "#to-quiz").await;
    assert_eq!(text_of(&c, "h1").await, "Quiz des fractions");
    // KaTeX rendered the maths offline.
    c.wait().for_element(Locator::Css(".katex")).await.unwrap();
    click(&c, "input[name=q0][value='1']").await;
    click(&c, "input[name=q1][value='true']").await;
    fill(&c, "input[name=q2]", "Paris").await;
    fill(&c, "input[name=q3]", "11").await;
    fill(&c, "textarea[name=q4]", "Un morceau d'un tout.").await;
    screenshot(&c, "quiz.png").await;
    click(&c, "form[action$='/_quiz/quiz-1'] > button").await;
    assert_eq!(text_of(&c, "#score").await, "3 / 6");
    screenshot(&c, "quiz-result.png").await;
    // Progress shows the lesson opened and the quiz done.
    c.goto(&format!("{base}/pupil/")).await.unwrap();
    assert!(text_of(&c, "main").await.contains("Activités terminées : 1 / 3"));
    c.goto(&format!("{base}/logout")).await.unwrap();
    click(&c, "form[action='/logout'] button").await;

    // The teacher signs in and sees the score.
    c.goto(&format!("{base}/teacher/login")).await.unwrap();
    fill(&c, "input[name=name]", "Mme Durand").await;
    fill(&c, "input[name=password]", "motdepasse1").await;
    click(&c, "form button").await;
    c.goto(&format!("{base}/teacher/results")).await.unwrap();
    let table = text_of(&c, "#results").await;
    assert!(table.contains("Léa"), "{table}");
    assert!(table.contains("3 / 6"), "{table}");
    screenshot(&c, "teacher-results.png").await;
    c.close().await.unwrap();
}
