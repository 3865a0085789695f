//! End to end in a real browser (Debian's `chromium` + `chromium-driver`, headless)
//! against a real `preau serve`:
//! the first teacher sets up the box and creates a class; a pupil signs in, reads a
//! lesson, follows its link to the quiz and takes it; the teacher sees the score. A
//! pack page, opened in the teacher's browser, tries to read the teacher's pages.
//! Screenshots go to `target/e2e/`.

mod app_support;
mod common;

use std::time::Duration;

use app_support::chromium::{click, click_link, fill, screenshot, start_driver, text_of, wait_h1};
use fantoccini::Locator;
use preau_classroom::{self as app, testkit};

/// A page of the pack that tries to read a teacher page and the cookies.
const SPY: &[u8] = br#"<!DOCTYPE html><html><body><p id="out"></p><script>
var out = document.getElementById("out");
var cookies; try { cookies = document.cookie; } catch (e) { cookies = "blocked"; }
fetch("/teacher/results", {credentials: "include"})
  .then(function (r) { return r.text().then(function (t) { out.textContent = (t.indexOf("L\u00e9a") >= 0 ? "LEAK" : "no-data:" + r.status) + " cookies=" + cookies; }); })
  .catch(function () { out.textContent = "fetch-refused cookies=" + cookies; });
</script></body></html>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pupil_takes_a_quiz_and_teacher_sees_the_score() {
    let tmp = tempfile::tempdir().unwrap();
    let profile = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // The test pack, plus a hostile page that tries to read a teacher page and cookies.
    app_support::install_test_pack(
        &data,
        &[("spy.html", SPY), ("page2.html", b"<!DOCTYPE html><title>2</title><h1 id=\"p2\">Page 2</h1>")],
    );
    let server = common::Server::start_in(&data, "");
    let setup_code = app::setup_code(&testkit::demo_context(&data)).unwrap().expect("a fresh box has a setup code");
    let base = format!("http://{}", server.addr);

    let (_driver, c) = start_driver(profile.path()).await;

    // First start: the teacher creates their account with the setup code.
    c.goto(&format!("{base}/teacher/login")).await.unwrap();
    fill(&c, "input[name=code]", &setup_code).await;
    fill(&c, "input[name=name]", "Mme Durand").await;
    fill(&c, "input[name=password]", "motdepasse1").await;
    fill(&c, "input[name=password2]", "motdepasse1").await;
    click(&c, "main form button").await;
    assert_eq!(wait_h1(&c, "Tableau de bord").await, "Tableau de bord", "{}", c.source().await.unwrap());
    fill(&c, "form[action='/teacher/classes'] input[name=name]", "CM2 B").await;
    click(&c, "form[action='/teacher/classes'] button").await;
    assert_eq!(wait_h1(&c, "CM2 B").await, "CM2 B");
    fill(&c, "form[action$='/pupils'] input[name=name]", "Léa").await;
    click(&c, "form[action$='/pupils'] button").await;
    c.wait().for_element(Locator::Css("input[value='Léa']")).await.unwrap();

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
    assert_eq!(wait_h1(&c, "Bienvenue").await, "Bienvenue");

    // A pupil signs in: class, then name.
    click(&c, "a[href='/login']").await;
    assert_eq!(wait_h1(&c, "Entrer").await, "Entrer");
    click_link(&c, "CM2 B").await;
    assert_eq!(wait_h1(&c, "CM2 B").await, "CM2 B");
    click_link(&c, "Léa").await;
    click(&c, "form[action='/login'] button").await;
    assert_eq!(wait_h1(&c, "Bienvenue").await, "Bienvenue");
    // The catalog, then the lesson (a sandboxed pack page).
    click_link(&c, "Fractions — CM2").await;
    assert_eq!(text_of(&c, "#lesson").await, "Les fractions");
    // The lesson's link to its quiz reaches the quiz player, signed in.
    click(&c, "#to-quiz").await;
    assert_eq!(wait_h1(&c, "Quiz des fractions").await, "Quiz des fractions", "{}", c.source().await.unwrap());
    // KaTeX rendered the maths offline.
    c.wait().for_element(Locator::Css(".katex")).await.unwrap();
    click(&c, "input[name=q0][value='1']").await;
    click(&c, "input[name=q1][value='true']").await;
    fill(&c, "input[name=q2]", "Paris").await;
    fill(&c, "input[name=q3]", "11").await;
    fill(&c, "textarea[name=q4]", "Un morceau d'un tout.").await;
    screenshot(&c, "quiz.png").await;
    // "Terminer l'essai…" leads to the summary; only its confirmation ends the attempt.
    click(&c, "form[action$='/_quiz/quiz-1'] > button").await;
    c.wait().for_element(Locator::Css("#finish")).await.unwrap();
    click(&c, "#finish").await;
    assert_eq!(text_of(&c, "#score").await, "3 / 6");
    screenshot(&c, "quiz-result.png").await;
    // Progress shows the lesson read (the pupil went on to the quiz) and the quiz done.
    c.goto(&format!("{base}/pupil/")).await.unwrap();
    assert!(text_of(&c, "main").await.contains("Activités terminées : 2 / 3"));
    // A page reached without the box's own links is recorded too (the pack server's hook;
    // a page this browser has cached is answered 304 and not counted).
    c.goto(&format!("{base}/packs/{}/page2.html", testkit::DEMO)).await.unwrap();
    let store = app::store::Store::open(&data.join("preau.sqlite"), "x").unwrap();
    let pupil = store.pupils(store.classes().unwrap()[0].id).unwrap()[0].id;
    let mut recorded = false;
    for _ in 0..400 {
        recorded = store.events(pupil).unwrap().iter().any(|(v, _, p)| v == "opened" && p == "page2.html");
        if recorded {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(recorded, "the open hook did not record page2.html: {:?}", store.events(pupil).unwrap());
    c.goto(&format!("{base}/logout")).await.unwrap();
    click(&c, "form[action='/logout'] button").await;
    assert_eq!(wait_h1(&c, "Bienvenue").await, "Bienvenue");

    // The teacher signs in and sees the score.
    c.goto(&format!("{base}/teacher/login")).await.unwrap();
    fill(&c, "input[name=name]", "Mme Durand").await;
    fill(&c, "input[name=password]", "motdepasse1").await;
    click(&c, "main form button").await;
    assert_eq!(wait_h1(&c, "Tableau de bord").await, "Tableau de bord");
    c.goto(&format!("{base}/teacher/results")).await.unwrap();
    let table = text_of(&c, "#results").await;
    assert!(table.contains("Léa"), "{table}");
    assert!(table.contains("3 / 6"), "{table}");
    screenshot(&c, "teacher-results.png").await;
    c.close().await.unwrap();
}
