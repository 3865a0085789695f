//! The classroom as a teacher runs it (issue 15), in a real browser (Debian's Chromium
//! over chromedriver) against a real `preau serve`: a pupil follows a quiz link while
//! signed out and lands back on the quiz after signing in; Enter in a short-answer field
//! leads to the summary, never to a finished attempt; the summary lists the unanswered
//! question and the way back keeps the answers; per-choice comments sit with their
//! choices; every page visited, pupil's and teacher's, in French and in English, passes
//! axe-core, and the French ones carry no English. Screenshots go to `target/e2e/`.

mod app_support;
mod common;

use app_support::chromium::{
    ARROW_DOWN, ARROW_UP, ENTER_KEY, SPACE, axe_violations, click, click_link, fetch_bytes, fill, focused, press,
    screenshot, shift_tab, start_driver_with, tab_to, text_of, type_keys, wait_h1,
};
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
    check_page_with(c, lang, seen, failures, &[]).await
}

/// Lines of the fixture Moodle quiz (English content, shown as the pack has it, so not
/// the box's words): skipped by the English check of the French pages that show them.
const MOODLE_CONTENT: &[&str] = &[
    "Choice",
    "True or False",
    "Short Answer",
    "short answer",
    "Numerical",
    "Are you living",
    "towel",
    "Drag and Drop",
    "Embedded Answers",
    "Essay",
    "Matching question",
    "What is the answer",
    "Please type",
    "Select the",
];

/// `check_page`, the lines holding one of `content` (a pack's own text) left out of the
/// English check.
async fn check_page_with(c: &Client, lang: &str, seen: &mut Vec<String>, failures: &mut Vec<String>, content: &[&str]) {
    let url = c.current_url().await.unwrap().to_string();
    let page =
        format!("{lang} {}", url.split_once("://").map(|(_, r)| r.split_once('/').map_or(r, |x| x.1)).unwrap_or(&url));
    for v in axe_violations(c).await {
        failures.push(format!("{page}: {v}"));
    }
    if lang == "fr" {
        let text = text_of(c, "body").await;
        let text: Vec<&str> = text.lines().filter(|l| !content.iter().any(|m| l.contains(m))).collect();
        let text = text.join("\n");
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
    click(&t, "form[action='/teacher/setup'] button").await;
    t.wait().for_element(Locator::Css("p.error")).await.unwrap();
    let kept = t.find(Locator::Css("input[name=name]")).await.unwrap().prop("value").await.unwrap();
    assert_eq!(kept.as_deref(), Some("Mme Durand"), "the name typed is kept after a wrong code");
    check_page(&t, "fr", &mut seen, &mut failures).await;
    fill(&t, "input[name=code]", &setup_code).await;
    fill(&t, "input[name=password]", "motdepasse1").await;
    fill(&t, "input[name=password2]", "motdepasse1").await;
    click(&t, "form[action='/teacher/setup'] button").await;
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
    click(&e, "form[action^='/teacher/login'] button").await;
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

/// Clicks the element an XPath names (for a control found by its label's text).
async fn click_x(c: &Client, xpath: &str) {
    c.wait().for_element(Locator::XPath(xpath)).await.unwrap_or_else(|e| panic!("{xpath}: {e}")).click().await.unwrap();
}

/// A CSV file as the box writes it: `;`-separated, fields with `;`, `"` or a line break
/// in double quotes (doubled inside). Refuses a line that does not end with CRLF.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(ch) = chars.next() {
        match ch {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ';' if !quoted => row.push(std::mem::take(&mut field)),
            '\r' if !quoted => {
                assert_eq!(chars.next(), Some('\n'), "a CR not followed by LF");
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            '\n' if !quoted => panic!("a line ends with LF alone, not CRLF: {text:?}"),
            c => field.push(c),
        }
    }
    assert!(field.is_empty() && row.is_empty(), "the last line does not end with CRLF");
    rows
}

/// Fetches a CSV export through the teacher's browser and checks its form: UTF-8 with a
/// BOM, an attachment. Returns its rows.
async fn csv_export(c: &Client, href: &str) -> Vec<Vec<String>> {
    let (status, disposition, bytes) = fetch_bytes(c, href).await;
    assert_eq!(status, 200, "{href}");
    assert!(disposition.starts_with("attachment"), "{href}: {disposition}");
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF", "{href}: no UTF-8 BOM");
    let text = String::from_utf8(bytes[3..].to_vec()).expect("UTF-8");
    parse_csv(&text)
}

/// Issue 15's proof, in a real Chromium against a real `preau serve` with packs built
/// from the fixture Moodle backups (a French course of 90 pages, and a quiz of every
/// question type): the teacher, on a laptop window, sets the box up, makes a class from a
/// pasted Pronote list, builds a quiz from the question banks and gives the class work
/// (a course page, then that quiz, due on a day); two pupils on phone-sized windows
/// (390 × 844) do it; the teacher sees their progress, changes one mark with a comment
/// and exports the CSV files, which are parsed back: BOM, `;`, CRLF, decimal commas, each
/// pupil's answer to each question, the changed mark. Every box page visited passes
/// axe-core and shows no English; screenshots are in `target/e2e/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teachers_week_work_and_a_bank_quiz_for_two_pupils_then_marks_and_csv() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let packs = [("teluq-inf6450-fr-moodle41.mbz", "inf6450"), ("quiz_archiver-referencequiz-moodle41.mbz", "refquiz")];
    if !app_support::install_moodle_fixtures(&data, &packs) {
        return;
    }
    let server = common::Server::start_in(&data, "");
    let setup_code = app::setup_code(&testkit::demo_context(&data)).unwrap().expect("a fresh box has a setup code");
    let base = format!("http://{}", server.addr);
    let (mut seen, mut failures) = (Vec::new(), Vec::new());

    // The teacher, on a laptop window: first start, a class from a pasted Pronote list.
    let teacher_profile = tempfile::tempdir().unwrap();
    let (_td, t) = start_driver_with(teacher_profile.path(), (1280, 900), "fr-FR,fr").await;
    t.goto(&format!("{base}/teacher/setup")).await.unwrap();
    check_page_with(&t, "fr", &mut seen, &mut failures, MOODLE_CONTENT).await;
    fill(&t, "input[name=code]", &setup_code).await;
    fill(&t, "input[name=name]", "M. Bernard").await;
    fill(&t, "input[name=password]", "motdepasse1").await;
    fill(&t, "input[name=password2]", "motdepasse1").await;
    click(&t, "form[action='/teacher/setup'] button").await;
    assert_eq!(wait_h1(&t, "Tableau de bord").await, "Tableau de bord");
    check_page_with(&t, "fr", &mut seen, &mut failures, MOODLE_CONTENT).await;
    fill(&t, "form[action='/teacher/classes'] input[name=name]", "5e B").await;
    click(&t, "form[action='/teacher/classes'] button").await;
    assert_eq!(wait_h1(&t, "5e B").await, "5e B");
    fill(
        &t,
        "form[action$='/import'] textarea[name=text]",
        "Nom;Prénom;Date de naissance\nMARTIN;Léa;2013-03-01\nDUBOIS;Noé;2013-07-14\n",
    )
    .await;
    click(&t, "form[action$='/import'] button").await;
    t.wait().for_element(Locator::Css("input[value='Noé D.']")).await.unwrap();
    t.wait().for_element(Locator::Css("input[value='Léa M.']")).await.unwrap();
    check_page_with(&t, "fr", &mut seen, &mut failures, MOODLE_CONTENT).await;
    let class_url = t.current_url().await.unwrap().to_string();

    // A quiz from the banks of the installed Moodle quiz: four questions picked by name.
    t.goto(&format!("{base}/teacher/quizzes")).await.unwrap();
    check_page_with(&t, "fr", &mut seen, &mut failures, MOODLE_CONTENT).await;
    let bank = text_of(&t, "form[action='/teacher/quizzes']").await;
    assert!(bank.contains("Single Choice") && bank.contains("Numerical"), "the Moodle quiz's bank is listed: {bank}");
    fill(&t, "form[action='/teacher/quizzes'] input[name=title]", "Révision : les types de questions").await;
    for name in ["Single Choice", "True or False", "Short Answer", "Numerical"] {
        click_x(&t, &format!("//input[@name='q'][starts-with(normalize-space(..), '{name} —')]")).await;
    }
    screenshot(&t, "week-bank-quiz.png").await;
    click(&t, "form[action='/teacher/quizzes'] > button").await;
    t.wait().for_element(Locator::Css("#own-quizzes")).await.unwrap();
    assert!(text_of(&t, "#own-quizzes").await.contains("Révision : les types de questions"));
    check_page_with(&t, "fr", &mut seen, &mut failures, MOODLE_CONTENT).await;

    // Work for the class: the course's first page, then the quiz, due on 31 December.
    t.goto(&class_url).await.unwrap();
    click(&t, "details > summary").await;
    fill(&t, "form[action$='/work'] input[name=title]", "Semaine 1 : XML").await;
    // The date picker: what its calendar sets (typing into it follows the headless
    // browser's own locale, not the page's, so the keys would land in other fields).
    t.execute(r#"document.querySelector("form[action$='/work'] input[name=due]").value = "2026-12-31";"#, vec![])
        .await
        .unwrap();
    let page_item = t
        .wait()
        .for_element(Locator::Css("input[name=item][value^='inf6450/']"))
        .await
        .unwrap()
        .attr("value")
        .await
        .unwrap()
        .unwrap();
    click(&t, &format!("input[name=item][value='{page_item}']")).await;
    click(&t, "input[name=item][value^='_enseignant/_quiz/']").await;
    screenshot(&t, "week-give-work.png").await;
    click(&t, "form[action$='/work'] > button").await;
    assert_eq!(wait_h1(&t, "Semaine 1 : XML").await, "Semaine 1 : XML", "{}", t.source().await.unwrap());
    let due = text_of(&t, "main").await;
    assert!(due.contains("31") && due.contains("2026"), "the due day shows: {due}");
    check_page_with(&t, "fr", &mut seen, &mut failures, MOODLE_CONTENT).await;
    let work_url = t.current_url().await.unwrap().to_string();

    // Two pupils, each on a phone: sign in, the page, then the quiz.
    // (single choice, true/false, short answer, numerical) and the expected score.
    let pupils = [
        ("Léa M.", ["Correct", "true", "short answer", "42"], "4 / 4"),
        ("Noé D.", ["False", "true", "réponse courte", "41"], "1 / 4"),
    ];
    let mut phones = Vec::new();
    for (name, answers, score) in pupils {
        let profile = tempfile::tempdir().unwrap();
        let (driver, p) = start_driver_with(profile.path(), (390, 844), "fr-FR,fr").await;
        p.goto(&format!("{base}/login")).await.unwrap();
        let width = p.execute("return window.innerWidth;", vec![]).await.unwrap();
        assert_eq!(width, json!(390), "a phone-sized viewport");
        check_page_with(&p, "fr", &mut seen, &mut failures, MOODLE_CONTENT).await;
        click_link(&p, "5e B").await;
        click_link(&p, name).await;
        click(&p, "form[action='/login'] button").await;
        let todo = text_of(&p, "section[aria-labelledby=todo]").await;
        assert!(todo.contains("Semaine 1 : XML") && todo.contains("0 / 2"), "{name}: {todo}");
        check_page_with(&p, "fr", &mut seen, &mut failures, MOODLE_CONTENT).await;
        // The course page (a pack page: the course's own HTML, not checked by axe here).
        click(&p, "section[aria-labelledby=todo] li:nth-of-type(1) a").await;
        p.wait().for_element(Locator::Css("body")).await.unwrap();
        p.back().await.unwrap();
        click(&p, "section[aria-labelledby=todo] a[href^='/packs/_enseignant/_quiz/']").await;
        assert_eq!(wait_h1(&p, "Révision : les types de questions").await, "Révision : les types de questions");
        check_page_with(&p, "fr", &mut seen, &mut failures, MOODLE_CONTENT).await;
        click_x(&p, &format!("//fieldset[@id='q0']//label[normalize-space()='{}']//input", answers[0])).await;
        click(&p, &format!("input[name=q1][value='{}']", answers[1])).await;
        fill(&p, "input[name=q2]", answers[2]).await;
        fill(&p, "input[name=q3]", answers[3]).await;
        screenshot(&p, &format!("week-quiz-{}.png", phones.len() + 1)).await;
        click(&p, "#quiz-form > button").await;
        p.wait().for_element(Locator::Css("#finish")).await.unwrap();
        check_page_with(&p, "fr", &mut seen, &mut failures, MOODLE_CONTENT).await;
        click(&p, "#finish").await;
        assert_eq!(text_of(&p, "#score").await, score, "{name}: {}", text_of(&p, "main").await);
        check_page_with(&p, "fr", &mut seen, &mut failures, MOODLE_CONTENT).await;
        screenshot(&p, &format!("week-result-{}.png", phones.len() + 1)).await;
        p.goto(&format!("{base}/")).await.unwrap();
        let todo = text_of(&p, "section[aria-labelledby=todo]").await;
        assert!(todo.contains("2 / 2"), "{name}: the page (gone past) and the quiz are done: {todo}");
        check_page_with(&p, "fr", &mut seen, &mut failures, MOODLE_CONTENT).await;
        phones.push((driver, p, profile));
    }

    // The teacher sees the work done by both.
    t.goto(&work_url).await.unwrap();
    let progress = text_of(&t, "#work-progress").await;
    let done_rows = progress.lines().filter(|l| l.contains("2 / 2")).count();
    assert!(progress.contains("Léa M.") && progress.contains("Noé D.") && done_rows == 2, "{progress}");
    screenshot(&t, "week-work-progress.png").await;
    check_page_with(&t, "fr", &mut seen, &mut failures, MOODLE_CONTENT).await;

    // Noé's short answer is right in French: the teacher gives half the mark, with a comment.
    t.goto(&format!("{base}/teacher/results")).await.unwrap();
    check_page_with(&t, "fr", &mut seen, &mut failures, MOODLE_CONTENT).await;
    click_x(&t, "//tr[contains(., 'Noé D.')]//a[starts-with(@href, '/teacher/attempt/')]").await;
    t.wait().for_element(Locator::Css("form.mark-form")).await.unwrap();
    let q3 = "//div[contains(@class, 'question')][.//small[normalize-space()='Question 3']]";
    assert!(text_of(&t, "main").await.contains("réponse courte"));
    let score_field = format!("{q3}//form//input[@name='score']");
    let field = t.wait().for_element(Locator::XPath(&score_field)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys("0,5").await.unwrap();
    t.find(Locator::XPath(&format!("{q3}//form//textarea[@name='comment']")))
        .await
        .unwrap()
        .send_keys("Juste, en français : la moitié des points.")
        .await
        .unwrap();
    click_x(&t, &format!("{q3}//form//button")).await;
    t.wait().for_element(Locator::Css("p.teacher-mark")).await.unwrap();
    let mark = text_of(&t, "p.teacher-mark").await;
    assert!(mark.contains("M. Bernard") && mark.contains("la moitié des points"), "{mark}");
    let kept = t.find(Locator::XPath(&score_field)).await.unwrap().prop("value").await.unwrap();
    assert_eq!(kept.as_deref(), Some("0,5"), "the new mark, with a decimal comma");
    let attempt_id = t.current_url().await.unwrap().path().rsplit('/').next().unwrap().to_string();
    check_page_with(&t, "fr", &mut seen, &mut failures, MOODLE_CONTENT).await;
    screenshot(&t, "week-mark-changed.png").await;

    // The exports, through the links of the results page.
    t.goto(&format!("{base}/teacher/results")).await.unwrap();
    let answers_href =
        t.find(Locator::Css("a[href^='/teacher/answers.csv']")).await.unwrap().attr("href").await.unwrap().unwrap();
    let results_href =
        t.find(Locator::Css("a[href^='/teacher/results.csv']")).await.unwrap().attr("href").await.unwrap().unwrap();
    let answers = csv_export(&t, &answers_href).await;
    assert_eq!(
        answers[0],
        ["classe", "élève", "contenu", "quiz", "essai", "date", "question", "réponse", "score", "max"]
    );
    let got: Vec<(String, String, String, String)> =
        answers[1..].iter().map(|r| (r[1].clone(), r[7].clone(), r[8].clone(), r[9].clone())).collect();
    let s = |a: &str, b: &str, c: &str, d: &str| (a.to_string(), b.to_string(), c.to_string(), d.to_string());
    assert_eq!(got.len(), 8, "{answers:?}");
    for want in [
        s("Léa M.", "short answer", "1", "1"),
        s("Léa M.", "42", "1", "1"),
        s("Noé D.", "réponse courte", "0,5", "1"),
        s("Noé D.", "41", "0", "1"),
    ] {
        assert!(got.contains(&want), "{want:?} not in {got:?}");
    }
    for r in &answers[1..] {
        assert_eq!(r[0], "5e B");
        assert_eq!(r[3], "Révision : les types de questions", "{r:?}");
        assert!(
            r[6].contains("Choice") || r[6].contains("True") || r[6].contains("Short") || r[6].contains("Numerical"),
            "question named: {r:?}"
        );
    }
    let results = csv_export(&t, &results_href).await;
    let noe = results.iter().find(|r| r[1] == "Noé D.").expect("Noé's attempt in results.csv");
    assert_eq!(
        (noe[4].as_str(), noe[5].as_str(), noe[6].as_str()),
        ("1,5", "4", "0"),
        "the changed mark counts: {noe:?}"
    );
    let lea = results.iter().find(|r| r[1] == "Léa M.").expect("Léa's attempt in results.csv");
    assert_eq!((lea[4].as_str(), lea[5].as_str()), ("4", "4"), "{lea:?}");

    // Noé sees the teacher's comment with the attempt.
    let (_, noe_phone, _) = &phones[1];
    noe_phone.goto(&format!("{base}/pupil/attempt/{attempt_id}")).await.unwrap();
    let seen_by_noe = text_of(noe_phone, "p.teacher-mark").await;
    assert!(seen_by_noe.contains("la moitié des points"), "{seen_by_noe}");
    check_page_with(noe_phone, "fr", &mut seen, &mut failures, MOODLE_CONTENT).await;
    screenshot(noe_phone, "week-pupil-sees-mark.png").await;

    for (_, p, _) in phones {
        p.close().await.unwrap();
    }
    t.close().await.unwrap();
    assert!(seen.len() >= 20, "{seen:?}");
    assert!(failures.is_empty(), "{} problems on {} pages:\n{}", failures.len(), seen.len(), failures.join("\n"));
}

/// Whether the element `css` is checked.
async fn checked(c: &Client, css: &str) -> bool {
    c.find(Locator::Css(css)).await.unwrap().prop("checked").await.unwrap().as_deref() == Some("true")
}

/// Keyboard only (issue 15): the teacher's first sign-in, a pupil's sign-in, an
/// assignment given as work and a whole quiz, done with Tab, Shift+Tab, Space, Enter, the
/// arrow keys and typing (WebDriver key actions; no click, no script acting on the page).
/// Tab reaches each control in page order; Enter in the short answer leads to the summary
/// and saves nothing; the flows complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_a_quiz_and_an_assignment_with_the_keyboard_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    app_support::install_test_pack(&data, &[("_preau/quiz/qcm.json", &qcm())]);
    let server = common::Server::start_in(&data, "");
    let setup_code = app::setup_code(&testkit::demo_context(&data)).unwrap().expect("a fresh box has a setup code");
    let base = format!("http://{}", server.addr);

    // The teacher's first sign-in (the setup form), keyboard only.
    let teacher_profile = tempfile::tempdir().unwrap();
    let (_td, t) = start_driver_with(teacher_profile.path(), (1280, 900), "fr-FR,fr").await;
    t.goto(&format!("{base}/teacher/setup")).await.unwrap();
    t.wait().for_element(Locator::Css("input[name=code]")).await.unwrap();
    let path = tab_to(&t, "input[name=code]", 10).await;
    assert_eq!(
        path.first().map(String::as_str),
        Some(r#"a "Aller au contenu""#),
        "the skip link comes first: {path:?}"
    );
    type_keys(&t, &setup_code).await;
    for (field, text) in [("name", "Mme Keita"), ("password", "motdepasse1"), ("password2", "motdepasse1")] {
        tab_to(&t, &format!("input[name={field}]"), 1).await;
        type_keys(&t, text).await;
    }
    press(&t, &[ENTER_KEY]).await;
    assert_eq!(wait_h1(&t, "Tableau de bord").await, "Tableau de bord", "Enter sends the setup form");
    t.close().await.unwrap();

    // A class, a pupil and work for them: the lesson, the assignment, the quiz.
    let mut store = app::store::Store::open(&data.join("preau.sqlite"), "x").unwrap();
    let class = store.create_class("CM2").unwrap();
    let pupil = store.create_pupil(class, "Inès").unwrap();
    let item = |path: &str, title: &str| app::store::WorkItem {
        pack: testkit::DEMO.into(),
        path: path.into(),
        title: title.into(),
    };
    let items = [item("_assign/devoir-1", "Le devoir"), item("_quiz/qcm", "Les multiples")];
    let work = app::store::NewWork {
        class_id: class,
        title: "Pour jeudi",
        due: None,
        visible: true,
        items: &items,
        pupils: &[],
    };
    store.create_work(&work, 1).unwrap().expect("work created");

    // The pupil signs in: the class, the name, the button.
    let pupil_profile = tempfile::tempdir().unwrap();
    let (_pd, p) = start_driver_with(pupil_profile.path(), (390, 844), "fr-FR,fr").await;
    p.goto(&format!("{base}/login")).await.unwrap();
    p.wait().for_element(Locator::LinkText("CM2")).await.unwrap();
    tab_to(&p, "a[href^='/login/class/']", 15).await;
    press(&p, &[ENTER_KEY]).await;
    p.wait().for_element(Locator::LinkText("Inès")).await.unwrap();
    tab_to(&p, "a[href*='pupil=']", 15).await;
    press(&p, &[ENTER_KEY]).await;
    p.wait().for_element(Locator::Css("form[action='/login'] button")).await.unwrap();
    tab_to(&p, "form[action='/login'] button", 15).await;
    press(&p, &[ENTER_KEY]).await;
    let todo = text_of(&p, "section[aria-labelledby=todo]").await;
    assert!(todo.contains("Pour jeudi") && todo.contains("0 / 2"), "signed in, the work shows: {todo}");

    // The assignment: Tab to it, Enter, type, Tab to the button, Space.
    tab_to(&p, "section[aria-labelledby=todo] a[href$='/_assign/devoir-1']", 30).await;
    press(&p, &[ENTER_KEY]).await;
    p.wait().for_element(Locator::Css("textarea[name=text]")).await.unwrap();
    tab_to(&p, "textarea[name=text]", 20).await;
    type_keys(&p, "Mon exposé sur les volcans.").await;
    tab_to(&p, "form[action$='/_assign/devoir-1'] button", 5).await;
    press(&p, &[SPACE]).await;
    p.wait().for_element(Locator::Css("p.msg.ok")).await.unwrap();
    let reader = app::store::Store::open(&data.join("preau.sqlite"), "x").unwrap();
    let handed_in = reader.submissions(Some(pupil)).unwrap();
    assert_eq!(handed_in.iter().map(|s| s.text.as_str()).collect::<Vec<_>>(), ["Mon exposé sur les volcans."]);

    // The quiz, from the home page.
    p.goto(&format!("{base}/")).await.unwrap();
    tab_to(&p, "section[aria-labelledby=todo] a[href$='/_quiz/qcm']", 30).await;
    press(&p, &[ENTER_KEY]).await;
    assert_eq!(wait_h1(&p, "Les multiples").await, "Les multiples");
    // Focus order: the three choices, the short answer, then the true/false group.
    tab_to(&p, "input[name=q0][value='0']", 30).await;
    press(&p, &[SPACE]).await;
    assert_eq!(tab_to(&p, "input[name=q0][value='1']", 1).await.len(), 1);
    assert_eq!(tab_to(&p, "input[name=q0][value='2']", 1).await.len(), 1);
    press(&p, &[SPACE]).await;
    assert!(checked(&p, "input[name=q0][value='0']").await && checked(&p, "input[name=q0][value='2']").await);
    assert!(!checked(&p, "input[name=q0][value='1']").await);
    tab_to(&p, "input[name=q1]", 1).await;
    type_keys(&p, "7").await;
    tab_to(&p, "input[name=q2]", 1).await;
    // In a radio group the arrows move and choose.
    press(&p, &[ARROW_DOWN]).await;
    press(&p, &[ARROW_UP]).await;
    assert!(checked(&p, "input[name=q2][value='true']").await, "the arrows chose « Vrai »");
    // Back to the short answer with Shift+Tab; Enter there leads to the summary only.
    shift_tab(&p).await;
    assert_eq!(focused(&p).await, "input[type=text][name=q1]");
    press(&p, &[ENTER_KEY]).await;
    assert_eq!(wait_h1(&p, "Les multiples — Résumé de l'essai").await, "Les multiples — Résumé de l'essai");
    assert_eq!(reader.attempt_count(pupil, testkit::DEMO, "qcm").unwrap(), 0, "Enter saved an attempt");
    // Confirm: Tab to « Terminer », Enter.
    tab_to(&p, "#finish", 30).await;
    press(&p, &[ENTER_KEY]).await;
    p.wait().for_element(Locator::Css("#score")).await.unwrap();
    assert_eq!(text_of(&p, "#score").await, "3 / 3");
    assert_eq!(reader.attempt_count(pupil, testkit::DEMO, "qcm").unwrap(), 1);
    screenshot(&p, "keyboard-quiz-done.png").await;
    p.goto(&format!("{base}/")).await.unwrap();
    let todo = text_of(&p, "section[aria-labelledby=todo]").await;
    assert!(todo.contains("2 / 2"), "{todo}");
    p.close().await.unwrap();
}
