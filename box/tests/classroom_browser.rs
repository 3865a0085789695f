//! The classroom as a teacher runs it (issue 15), in a real browser (Debian's Chromium
//! over chromedriver) against a real `preau serve`: a pupil follows a quiz link while
//! signed out and lands back on the quiz after signing in; Enter in a short-answer field
//! leads to the summary, never to a finished attempt; the summary lists the unanswered
//! question and the way back keeps the answers; per-choice comments sit with their
//! choices; every page visited, pupil's and teacher's, in French and in English, passes
//! axe-core, and the French ones carry no English. Screenshots go to `target/e2e/`.

mod app_support;
mod common;

use app_support::chromium::{axe_violations, click, click_link, fill, screenshot, start_driver_with, text_of, wait_h1};
use fantoccini::{Client, Locator};
use preau_classroom::{self as app, testkit};
use serde_json::json;

/// WebDriver's Enter key.
const ENTER: &str = "\u{E007}";

/// A quiz whose first question takes several answers, each with its own comment.
fn qcm() -> Vec<u8> {
    json!({
        "id": "qcm", "title": "Les multiples",
        "questions": [
            {"id": "m1", "text_html": "<p>Lesquels sont des multiples de 3 ?</p>", "type": "multichoice",
             "single": false, "shuffle": false,
             "choices": [
                {"text_html": "9", "fraction": 0.5, "feedback_html": "Oui, 9 = 3 × 3."},
                {"text_html": "10", "fraction": -0.5, "feedback_html": "Non, 10 = 3 × 3 + 1."},
                {"text_html": "12", "fraction": 0.5, "feedback_html": "Oui, 12 = 3 × 4."}
             ]},
            {"id": "m2", "text_html": "<p>Le plus petit multiple de 7 non nul ?</p>", "type": "shortanswer",
             "answers": [{"pattern": "7", "fraction": 1.0}]},
            {"id": "m3", "text_html": "<p>0 est un multiple de 5.</p>", "type": "truefalse", "correct": true}
        ]
    })
    .to_string()
    .into_bytes()
}

/// Words that give away English on a French page (whole words, as a person would see).
const ENGLISH: &[&str] = &[
    "the",
    "and",
    "your",
    "you",
    "Submit",
    "Sign",
    "Error",
    "installed",
    "freed",
    "Home",
    "Back",
    "not found",
    "Refused",
    "Attempt",
    "Answer",
    "Search",
    "Pupil",
    "Results",
    "Marking",
    "Save",
    "bad",
    "use",
];

fn english_words(text: &str) -> Vec<&'static str> {
    let words: Vec<&str> = text.split(|c: char| !c.is_alphanumeric() && c != '\'').collect();
    ENGLISH.iter().copied().filter(|w| if w.contains(' ') { text.contains(w) } else { words.contains(w) }).collect()
}

/// axe-clean, and for a French page no English word: the checks every visited page gets.
async fn check_page(c: &Client, lang: &str, seen: &mut Vec<String>, failures: &mut Vec<String>) {
    let url = c.current_url().await.unwrap().to_string();
    let page =
        format!("{lang} {}", url.split_once("://").map(|(_, r)| r.split_once('/').map_or(r, |x| x.1)).unwrap_or(&url));
    for v in axe_violations(c).await {
        failures.push(format!("{page}: {v}"));
    }
    if lang == "fr" {
        let text = text_of(c, "body").await;
        let found = english_words(&text);
        if !found.is_empty() {
            failures.push(format!("{page}: English words {found:?} in: {text}"));
        }
    }
    seen.push(page);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pupil_takes_a_quiz_as_in_moodle_and_every_page_is_accessible() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    app_support::install_test_pack(&data, &[("_preau/quiz/qcm.json", &qcm())]);
    let server = common::Server::start_in(&data, "");
    let setup_code = app::setup_code(&testkit::demo_context(&data)).unwrap().expect("a fresh box has a setup code");
    let base = format!("http://{}", server.addr);
    let quiz_url = format!("{base}/packs/{}/_quiz/qcm", testkit::DEMO);
    let (mut seen, mut failures) = (Vec::new(), Vec::new());

    // The teacher, on a laptop window: first start, a class, a pupil.
    let teacher_profile = tempfile::tempdir().unwrap();
    let (_td, t) = start_driver_with(teacher_profile.path(), (1280, 900), "fr-FR,fr").await;
    t.goto(&format!("{base}/teacher/setup")).await.unwrap();
    check_page(&t, "fr", &mut seen, &mut failures).await;
    // A wrong code keeps the name typed.
    fill(&t, "input[name=code]", "00000000").await;
    fill(&t, "input[name=name]", "Mme Durand").await;
    fill(&t, "input[name=password]", "motdepasse1").await;
    fill(&t, "input[name=password2]", "motdepasse1").await;
    click(&t, "main form button").await;
    t.wait().for_element(Locator::Css("p.error")).await.unwrap();
    let kept = t.find(Locator::Css("input[name=name]")).await.unwrap().prop("value").await.unwrap();
    assert_eq!(kept.as_deref(), Some("Mme Durand"), "the name typed is kept after a wrong code");
    check_page(&t, "fr", &mut seen, &mut failures).await;
    fill(&t, "input[name=code]", &setup_code).await;
    fill(&t, "input[name=password]", "motdepasse1").await;
    fill(&t, "input[name=password2]", "motdepasse1").await;
    click(&t, "main form button").await;
    assert_eq!(wait_h1(&t, "Tableau de bord").await, "Tableau de bord");
    check_page(&t, "fr", &mut seen, &mut failures).await;
    fill(&t, "form[action='/teacher/classes'] input[name=name]", "CM1").await;
    click(&t, "form[action='/teacher/classes'] button").await;
    assert_eq!(wait_h1(&t, "CM1").await, "CM1");
    fill(&t, "form[action$='/pupils'] input[name=name]", "Inès").await;
    click(&t, "form[action$='/pupils'] button").await;
    t.wait().for_element(Locator::Css("input[value='Inès']")).await.unwrap();
    check_page(&t, "fr", &mut seen, &mut failures).await;
    let class_url = t.current_url().await.unwrap().to_string();
    // A quiz from the banks: the course quiz's first question.
    t.goto(&format!("{base}/teacher/quizzes")).await.unwrap();
    check_page(&t, "fr", &mut seen, &mut failures).await;
    fill(&t, "form[action='/teacher/quizzes'] input[name=title]", "Révision").await;
    click(&t, &format!("input[name=q][value='{}/quiz-1/q1']", testkit::DEMO)).await;
    click(&t, "form[action='/teacher/quizzes'] > button").await;
    t.wait().for_element(Locator::Css("#own-quizzes")).await.unwrap();
    assert!(text_of(&t, "#own-quizzes").await.contains("Révision"));
    // Work for the class: the lesson, then that quiz, due on a day.
    t.goto(&class_url).await.unwrap();
    click(&t, "details > summary").await;
    fill(&t, "form[action$='/work'] input[name=title]", "Pour lundi").await;
    click(&t, &format!("input[name=item][value='{}/index.html']", testkit::DEMO)).await;
    click(&t, "input[name=item][value='_enseignant/_quiz/q1']").await;
    click(&t, "form[action$='/work'] > button").await;
    assert_eq!(wait_h1(&t, "Pour lundi").await, "Pour lundi", "{}", t.source().await.unwrap());
    check_page(&t, "fr", &mut seen, &mut failures).await;
    let work_url = t.current_url().await.unwrap().to_string();

    // The pupil, on a phone: a link to the quiz while signed out.
    let pupil_profile = tempfile::tempdir().unwrap();
    let (_pd, p) = start_driver_with(pupil_profile.path(), (420, 900), "fr-FR,fr").await;
    p.goto(&quiz_url).await.unwrap();
    assert_eq!(wait_h1(&p, "Entrer").await, "Entrer");
    check_page(&p, "fr", &mut seen, &mut failures).await;
    click_link(&p, "CM1").await;
    assert_eq!(wait_h1(&p, "CM1").await, "CM1");
    check_page(&p, "fr", &mut seen, &mut failures).await;
    click_link(&p, "Inès").await;
    p.wait().for_element(Locator::Css("form[action='/login'] button")).await.unwrap();
    check_page(&p, "fr", &mut seen, &mut failures).await;
    click(&p, "form[action='/login'] button").await;
    // Signing in lands on the quiz that asked, not on the home page.
    assert_eq!(wait_h1(&p, "Les multiples").await, "Les multiples", "{}", p.source().await.unwrap());
    check_page(&p, "fr", &mut seen, &mut failures).await;
    // Each question is a fieldset named by its legend.
    let legend = text_of(&p, "fieldset#q0 > legend").await;
    assert!(legend.starts_with("Question 1 / 3"), "{legend}");
    // Enter in the short answer: the summary, not a finished attempt.
    fill(&p, "input[name=q1]", &format!("7{ENTER}")).await;
    let h1 = wait_h1(&p, "Les multiples — Résumé de l'essai").await;
    assert_eq!(h1, "Les multiples — Résumé de l'essai", "{}", p.source().await.unwrap());
    let store = app::store::Store::open(&data.join("preau.sqlite"), "x").unwrap();
    let pupil = store.pupils(store.classes().unwrap()[0].id).unwrap()[0].id;
    assert_eq!(store.attempt_count(pupil, testkit::DEMO, "qcm").unwrap(), 0, "Enter saved an attempt");
    assert!(text_of(&p, "#unanswered").await.contains("1, 3"), "{}", text_of(&p, "main").await);
    screenshot(&p, "classroom-summary.png").await;
    check_page(&p, "fr", &mut seen, &mut failures).await;
    // Back to the attempt: the answer typed is still there.
    click(&p, "button[value=edit]").await;
    // (The summary holds the answers in hidden fields too: wait for the quiz form itself.)
    let q1 = p.wait().for_element(Locator::Css("#quiz-form input[name=q1]")).await.unwrap();
    let typed = q1.prop("value").await.unwrap();
    assert_eq!(typed.as_deref(), Some("7"));
    click(&p, "input[name=q0][value='0']").await;
    click(&p, "input[name=q0][value='1']").await;
    click(&p, "input[name=q2][value='true']").await;
    click(&p, "#quiz-form > button").await;
    p.wait().for_element(Locator::Css("#finish")).await.unwrap();
    assert!(text_of(&p, "main").await.contains("Tu as répondu à toutes les questions."));
    click(&p, "#finish").await;
    p.wait().for_element(Locator::Css("#score")).await.unwrap();
    // 9 (+0.5) and 10 (-0.5): 0, then 1 and 1.
    assert_eq!(text_of(&p, "#score").await, "2 / 3");
    // Each comment sits with its own choice.
    let comments = p.find_all(Locator::Css(".choice-feedback")).await.unwrap();
    let mut texts = Vec::new();
    for e in comments {
        texts.push(e.text().await.unwrap());
    }
    assert_eq!(texts, ["9 — Oui, 9 = 3 × 3.", "10 — Non, 10 = 3 × 3 + 1."], "per-choice feedback");
    screenshot(&p, "classroom-attempt.png").await;
    check_page(&p, "fr", &mut seen, &mut failures).await;
    for path in ["/pupil/", "/"] {
        p.goto(&format!("{base}{path}")).await.unwrap();
        p.wait().for_element(Locator::Css("h1")).await.unwrap();
        check_page(&p, "fr", &mut seen, &mut failures).await;
    }
    // The work is on the pupil's home, in the teacher's order; the bank quiz plays.
    let todo = text_of(&p, "section[aria-labelledby=todo]").await;
    assert!(todo.contains("Pour lundi") && todo.contains("0 / 2"), "{todo}");
    click(&p, "section[aria-labelledby=todo] a[href='/packs/_enseignant/_quiz/q1']").await;
    assert_eq!(wait_h1(&p, "Révision").await, "Révision");
    check_page(&p, "fr", &mut seen, &mut failures).await;
    t.goto(&work_url).await.unwrap();
    let progress = text_of(&t, "#work-progress").await;
    assert!(progress.contains("Inès"), "{progress}");

    // The teacher's pages, in French, then everything again in English.
    let attempt = store.attempts_of(pupil, testkit::DEMO, "qcm").unwrap()[0];
    let teacher_pages = [
        "/teacher/".to_string(),
        "/teacher/results".into(),
        "/teacher/marking".into(),
        "/admin/".into(),
        format!("/teacher/attempt/{attempt}"),
    ];
    for path in &teacher_pages {
        t.goto(&format!("{base}{path}")).await.unwrap();
        t.wait().for_element(Locator::Css("h1")).await.unwrap();
        check_page(&t, "fr", &mut seen, &mut failures).await;
    }
    screenshot(&t, "classroom-teacher-attempt.png").await;
    let attempt_text = text_of(&t, "main").await;
    assert!(attempt_text.contains("Réponse de l'élève") && !attempt_text.contains("Ta réponse"), "{attempt_text}");

    let en_profile = tempfile::tempdir().unwrap();
    let (_ed, e) = start_driver_with(en_profile.path(), (1280, 900), "en-GB,en").await;
    e.goto(&format!("{base}/teacher/login")).await.unwrap();
    check_page(&e, "en", &mut seen, &mut failures).await;
    fill(&e, "input[name=name]", "Mme Durand").await;
    fill(&e, "input[name=password]", "motdepasse1").await;
    click(&e, "main form button").await;
    assert_eq!(wait_h1(&e, "Dashboard").await, "Dashboard");
    for path in &teacher_pages {
        e.goto(&format!("{base}{path}")).await.unwrap();
        e.wait().for_element(Locator::Css("h1")).await.unwrap();
        check_page(&e, "en", &mut seen, &mut failures).await;
    }
    for path in ["/", "/login"] {
        e.goto(&format!("{base}{path}")).await.unwrap();
        check_page(&e, "en", &mut seen, &mut failures).await;
    }
    p.close().await.unwrap();
    t.close().await.unwrap();
    e.close().await.unwrap();
    assert!(failures.is_empty(), "{} problems on {} pages:\n{}", failures.len(), seen.len(), failures.join("\n"));
}
