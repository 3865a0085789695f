//! The classroom as a teacher runs it (issue 15), in process: the quiz flow as Moodle's
//! (summary, confirmation, no blank attempts), progress that means something, sign-in
//! that returns to the page that asked, French that reads right.

use axum::http::{StatusCode, header};

use super::testkit::{Client, DEMO};
use super::tests::{class_with_pupils, fixture, pupil, teacher};

#[tokio::test]
async fn the_quiz_form_leads_to_a_summary_and_only_the_confirmation_ends_the_attempt() {
    let f = fixture();
    let mut t = teacher(&f).await;
    let (_class, alice, _bob) = class_with_pupils(&mut t, &f).await;
    let mut p = pupil(&f, alice, None).await;
    let url = format!("/packs/{DEMO}/_quiz/quiz-1");
    let form = p.get(&url).await.body;
    // What Enter in a text field sends is the form with `step=summary`.
    assert!(form.contains(r#"<input type="hidden" name="step" value="summary">"#), "{form}");
    assert!(form.contains(r#"<fieldset class="question" id="q0" aria-describedby="q0-text"><legend>Question 1 / 5"#));
    assert!(form.contains("Terminer l&#39;essai…") || form.contains("Terminer l'essai…"));
    let answers = [("n", "0"), ("step", "summary"), ("q0", "1"), ("q2", "Paris")];
    let summary = p.post(&url, &answers).await;
    assert_eq!(summary.status, StatusCode::OK);
    assert_eq!(f.app.store().attempt_count(alice, DEMO, "quiz-1").unwrap(), 0, "nothing saved by the summary");
    assert!(
        summary.body.contains(r#"id="unanswered""#) && summary.body.contains("sans réponse : 2, 4, 5."),
        "{}",
        summary.body
    );
    assert!(summary.body.contains(r#"<input type="hidden" name="q2" value="Paris">"#), "{}", summary.body);
    // Back to the attempt: the answers are there again.
    let edit = p.post(&url, &[("n", "0"), ("step", "edit"), ("q0", "1"), ("q2", "Paris")]).await;
    assert!(edit.body.contains(r#"name="q2" value="Paris""#), "{}", edit.body);
    assert!(edit.body.contains(r#"name="q0" value="1" checked"#), "{}", edit.body);
    // The confirmation ends it.
    let r = p.post(&url, &[("n", "0"), ("step", "finish"), ("q0", "1"), ("q2", "Paris")]).await;
    assert!(r.location.as_deref().is_some_and(|l| l.starts_with("/pupil/attempt/")), "{}", r.body);
    assert_eq!(f.app.store().attempt_count(alice, DEMO, "quiz-1").unwrap(), 1);
    // A summary of nothing offers no way to finish, and a blank finish is refused.
    let blank = p.post(&url, &[("n", "1"), ("step", "summary")]).await;
    assert!(!blank.body.contains(r#"id="finish""#), "{}", blank.body);
    let r = p.post(&url, &[("n", "1"), ("step", "finish")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(f.app.store().attempt_count(alice, DEMO, "quiz-1").unwrap(), 1, "a blank attempt is no attempt");
}

#[tokio::test]
async fn a_timed_quiz_whose_time_is_up_is_ended_even_from_the_summary_step() {
    let f = super::tests::fixture_with_quiz("chrono", |q| q["time_limit_secs"] = 60.into());
    let mut t = teacher(&f).await;
    let (_class, alice, _bob) = class_with_pupils(&mut t, &f).await;
    let mut p = pupil(&f, alice, None).await;
    let url = format!("/packs/{DEMO}/_quiz/chrono");
    p.get(&url).await;
    f.app.set_clock_offset(f.app.clock_offset() + 120).unwrap();
    // Time is up: even a blank form from the summary step is saved (the browser sent it).
    let r = p.post(&url, &[("n", "0"), ("step", "summary")]).await;
    assert!(r.location.is_some(), "{}", r.body);
    assert_eq!(f.app.store().attempt_count(alice, DEMO, "chrono").unwrap(), 1);
}

#[tokio::test]
async fn a_lesson_counts_as_read_once_the_pupil_goes_on_and_home_and_progress_agree() {
    let f = fixture();
    let mut t = teacher(&f).await;
    let (_class, alice, _bob) = class_with_pupils(&mut t, &f).await;
    let mut p = pupil(&f, alice, None).await;
    p.get(&format!("/pupil/open/{DEMO}/index.html")).await;
    let progress = p.get("/pupil/").await.body;
    assert!(progress.contains("Activités terminées : 0 / 3"), "{progress}");
    assert!(progress.contains("(commencé)"), "opened, not yet read: {progress}");
    assert!(progress.contains("1 activité(s) nécessitant internet, non comptée(s)"), "{progress}");
    // Going on to the next activity (the quiz) means the lesson was read to its end.
    p.get(&format!("/packs/{DEMO}/_quiz/quiz-1")).await;
    let progress = p.get("/pupil/").await.body;
    assert!(progress.contains("Activités terminées : 1 / 3"), "{progress}");
    let home = p.get("/").await.body;
    assert!(home.contains(r#"<small class="course-progress">1 / 3 terminées</small>"#), "{home}");
    // The teacher's table counts the same.
    let results = t.get("/teacher/results").await.body;
    assert!(results.contains("<td>Alice (CM2)</td><td>2</td><td>1</td>"), "{results}");
}

#[tokio::test]
async fn signing_in_returns_to_the_page_that_asked() {
    let f = fixture();
    let mut t = teacher(&f).await;
    let (class, _alice, bob) = class_with_pupils(&mut t, &f).await;
    let mut c = Client::new(f.router.clone());
    let quiz = format!("/packs/{DEMO}/_quiz/quiz-1");
    let r = c.get(&quiz).await;
    let login = r.location.unwrap();
    assert_eq!(login, format!("/login?next=%2Fpacks%2F{DEMO}%2F_quiz%2Fquiz-1"));
    let classes = c.get(&login).await.body;
    let class_link = format!("/login/class/{class}?next=%2Fpacks%2F{DEMO}%2F_quiz%2Fquiz-1");
    assert!(classes.contains(&class_link), "{classes}");
    let names = c.get(&class_link).await.body;
    assert!(names.contains(&format!("?pupil={bob}&amp;next=%2Fpacks")), "{names}");
    // A wrong code keeps the way back; the right one lands on the quiz.
    let bob_s = bob.to_string();
    let r = c.post("/login", &[("pupil", &bob_s), ("code", "0000"), ("next", &quiz)]).await;
    assert!(r.location.unwrap().ends_with(&format!("error=code&next=%2Fpacks%2F{DEMO}%2F_quiz%2Fquiz-1")));
    let r = c.post("/login", &[("pupil", &bob_s), ("code", "4321"), ("next", &quiz)]).await;
    assert_eq!(r.location, Some(quiz.clone()));
    // Another site is never a destination.
    let mut d = Client::new(f.router.clone());
    let r = d.post("/login", &[("pupil", &bob_s), ("code", "4321"), ("next", "//evil.example/")]).await;
    assert_eq!(r.location.as_deref(), Some("/"));
    // The teacher too.
    let mut t2 = Client::new(f.router.clone());
    let r = t2.get("/teacher/results?class=1").await;
    assert_eq!(r.location.as_deref(), Some("/teacher/login?next=%2Fteacher%2Fresults%3Fclass%3D1"));
    let page = t2.get(r.location.as_deref().unwrap()).await.body;
    assert!(page.contains(r#"name="next" value="/teacher/results?class=1""#), "{page}");
    let r = t2
        .post(
            "/teacher/login",
            &[("name", "Mme Durand"), ("password", "motdepasse1"), ("next", "/teacher/results?class=1")],
        )
        .await;
    assert_eq!(r.location.as_deref(), Some("/teacher/results?class=1"));
    // A wrong password keeps the name typed and the focus goes to the password.
    let r = t2.post("/teacher/login", &[("name", "Mme Durand"), ("password", "non")]).await;
    let again = t2.get(r.location.as_deref().unwrap()).await.body;
    assert!(again.contains(r#"name="name" value="Mme Durand""#), "{again}");
    assert!(again.contains(r#"autocomplete="current-password" required maxlength="200" autofocus"#), "{again}");
}

#[tokio::test]
async fn french_pages_read_right() {
    let f = fixture();
    let mut t = teacher(&f).await;
    let (_class, alice, _bob) = class_with_pupils(&mut t, &f).await;
    let mut p = pupil(&f, alice, None).await;
    // 2.5 / 4 of a quiz on 20: 12,5.
    let url = format!("/packs/{DEMO}/_quiz/quiz-1");
    let r = p.post(&url, &[("n", "0"), ("q0", "1"), ("q1", "true"), ("q4", "Une part.")]).await;
    let shown = p.get(&r.location.unwrap()).await.body;
    assert!(shown.contains(r#"<strong id="score">2 / 6</strong> (note 6,7 / 20)"#), "{shown}");
    // Unknown things are named in French, with the way back.
    let nf = t.get("/teacher/attempt/999").await;
    assert_eq!(nf.status, StatusCode::NOT_FOUND);
    // maud leaves an apostrophe as it is in text (it escapes `&<>"`); `esc` wrote `&#39;`.
    let said =
        nf.body.contains("Cet essai n&#39;existe pas ou plus.") || nf.body.contains("Cet essai n'existe pas ou plus.");
    assert!(said && nf.body.contains("data-back"), "{}", nf.body);
    // Opening hours: the error is French, and the closed page says when it reopens.
    let r = t.post("/admin/hours", &[("day", "1"), ("ranges", "8h30-12:00")]).await;
    assert!(r.body.contains("écrivez HH:MM") && !r.body.contains("bad "), "{}", r.body);
    let r = t
        .post(
            "/admin/hours",
            &[
                ("day", "1"),
                ("day", "2"),
                ("day", "3"),
                ("day", "4"),
                ("day", "5"),
                ("day", "6"),
                ("day", "7"),
                ("ranges", "00:00-00:01"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let closed = p.get("/").await;
    if closed.status == StatusCode::SERVICE_UNAVAILABLE {
        assert!(closed.body.contains("Il rouvre") && closed.body.contains(" à 00:00."), "{}", closed.body);
    }
    t.post("/admin/hours", &[("ranges", "")]).await;
    // Removing a pack frees a size in French units.
    let admin = t.get("/admin/").await.body;
    assert!(!admin.contains("`") && !admin.contains(" / installed"), "{admin}");
    assert!(admin.contains("12,1\u{a0}Ko"), "the demo pack's 12 345 bytes: {admin}");
    // A file name with accents survives the download (RFC 6266).
    let cd = super::html::attachment("Ébauche_Léa.txt");
    assert!(cd.contains("filename*=UTF-8''%C3%89bauche_L%C3%A9a.txt"));
    let csv = t.get("/teacher/results.csv").await;
    let disp = csv.headers.get(header::CONTENT_DISPOSITION).unwrap().to_str().unwrap().to_string();
    assert!(disp.contains("filename*=UTF-8''resultats.csv"), "{disp}");
}

#[tokio::test]
async fn work_given_to_a_class_shows_on_the_pupils_home_in_order_with_what_is_done() {
    let f = fixture();
    let mut t = teacher(&f).await;
    let (class, alice, bob) = class_with_pupils(&mut t, &f).await;
    let page = t.get(&format!("/teacher/class/{class}")).await.body;
    assert!(page.contains("Donner du travail à la classe"), "{page}");
    let lesson = format!("{DEMO}/index.html");
    let quiz = format!("{DEMO}/_quiz/quiz-1");
    assert!(page.contains(&format!(r#"value="{lesson}""#)) && page.contains(&format!(r#"value="{quiz}""#)));
    assert!(!page.contains("forum-1"), "what needs the internet is not offered");
    // The quiz first (numbered 1), then the lesson, due on a Tuesday.
    let order = format!("order:{quiz}");
    let form = [
        ("title", "Pour mardi"),
        ("due", "2026-12-08"),
        ("visible", "1"),
        ("item", lesson.as_str()),
        ("item", quiz.as_str()),
        (order.as_str(), "1"),
    ];
    let r = t.post(&format!("/teacher/class/{class}/work"), &form).await;
    let work_url = r.location.clone().expect("the work's page");
    // Refusals: no title, nothing ticked, an item that is not installed, a bad date.
    for bad in [
        vec![("title", ""), ("item", lesson.as_str())],
        vec![("title", "X")],
        vec![("title", "X"), ("item", "autre/page.html")],
        vec![("title", "X"), ("item", lesson.as_str()), ("due", "30/02/2026")],
    ] {
        let r = t.post(&format!("/teacher/class/{class}/work"), &bad).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad:?}");
        // The class page comes back with the form open, as it was filled in, the error
        // at its top (focused by preau.js: the field in error, else the error).
        assert!(r.body.contains(r#"<details class="card" open>"#), "{}", r.body);
        assert!(r.body.contains(r#"id="form-error""#), "{}", r.body);
    }
    let r = t
        .post(
            &format!("/teacher/class/{class}/work"),
            &[("title", "Gardé"), ("item", lesson.as_str()), ("due", "30/02/2026"), (order.as_str(), "3")],
        )
        .await;
    assert!(r.body.contains(r#"name="title" required maxlength="120" value="Gardé""#), "the title is kept: {}", r.body);
    assert!(r.body.contains(&format!(r#"value="{lesson}" checked"#)), "the item stays ticked");
    let order_input =
        r.body.split(&format!(r#"name="{order}""#)).nth(1).and_then(|x| x.split('>').next()).unwrap_or("");
    assert!(order_input.contains(r#"value="3""#), "the order is kept: {order_input}");
    assert!(r.body.contains(r#"name="due" value="30/02/2026" aria-invalid="true""#), "the date is marked: {}", r.body);
    // Only for Bob: Alice does not see it.
    let bob_s = bob.to_string();
    t.post(
        &format!("/teacher/class/{class}/work"),
        &[("title", "Rien que Bob"), ("item", lesson.as_str()), ("pupil", &bob_s)],
    )
    .await;
    let mut a = pupil(&f, alice, None).await;
    let home = a.get("/").await.body;
    assert!(home.contains(r#"<h2 id="todo">À faire</h2>"#), "{home}");
    assert!(home.contains("Pour mardi") && home.contains("pour le mardi 8 décembre 2026"), "{home}");
    assert!(!home.contains("Rien que Bob"), "{home}");
    let quiz_pos = home.find("/_quiz/quiz-1").unwrap();
    let lesson_pos = home.find(&format!("/pupil/open/{DEMO}/index.html")).unwrap();
    assert!(quiz_pos < lesson_pos, "the teacher's order");
    assert!(home.contains("0 / 2 fait(s)"), "{home}");
    // Alice does the quiz: 1 of 2; past the due date the rest is late.
    a.post(&format!("/packs/{DEMO}/_quiz/quiz-1"), &[("n", "0"), ("q0", "1")]).await;
    f.app.set_clock_offset(10 * 86_400).unwrap();
    let home = a.get("/").await.body;
    assert!(home.contains("1 / 2 fait(s)"), "{home}");
    let late = f.app.now() > 1_796_770_799;
    assert_eq!(home.contains("en retard"), late, "{home}");
    // The teacher sees it per pupil.
    let progress = t.get(&work_url).await.body;
    assert!(progress.contains("<td>Alice</td>") && progress.contains("<td>1 / 2</td>"), "{progress}");
    assert!(progress.contains("<td>Bob</td>") && progress.contains("<td>0 / 2</td>"), "{progress}");
    // Hidden, it leaves the pupils' home.
    let r = t.post(&format!("{work_url}/visible"), &[("visible", "0")]).await;
    assert_eq!(r.location.as_deref(), Some(work_url.as_str()));
    assert!(!a.get("/").await.body.contains("Pour mardi"));
    // Removed with confirmation only.
    assert_eq!(t.post(&format!("{work_url}/delete"), &[]).await.status, StatusCode::BAD_REQUEST);
    let r = t.post(&format!("{work_url}/delete"), &[("confirm", "yes")]).await;
    assert_eq!(r.location, Some(format!("/teacher/class/{class}#work")));
    assert_eq!(t.get(&work_url).await.status, StatusCode::NOT_FOUND);
    // Pupils cannot reach the teacher's routes.
    assert_eq!(a.post(&format!("/teacher/class/{class}/work"), &[("title", "x")]).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_teacher_changes_a_mark_and_exports_answers_and_assignment_marks() {
    let f = fixture();
    let mut t = teacher(&f).await;
    let (_class, alice, _bob) = class_with_pupils(&mut t, &f).await;
    let mut p = pupil(&f, alice, None).await;
    let url = format!("/packs/{DEMO}/_quiz/quiz-1");
    let r = p.post(&url, &[("n", "0"), ("q0", "1"), ("q2", "Lyon; ville"), ("q3", "12,5")]).await;
    let attempt_url = r.location.unwrap();
    let attempt_id: i64 = attempt_url.rsplit('/').next().unwrap().parse().unwrap();
    // The teacher's view speaks to the teacher and offers to change each mark.
    let view = t.get(&format!("/teacher/attempt/{attempt_id}")).await.body;
    assert!(view.contains("Réponse de l&#39;élève") || view.contains("Réponse de l'élève"), "{view}");
    assert!(!view.contains("Ta réponse") && !view.contains("Réponses enregistrées"), "{view}");
    // The third marked answer: the short answer "Lyon; ville".
    let q3 = f.app.store().attempt(attempt_id).unwrap().unwrap().answers[2].0;
    assert!(view.contains(&format!("/teacher/answer/{q3}/override")), "{view}");
    let r = t
        .post(
            &format!("/teacher/answer/{q3}/override"),
            &[("score", "0,5"), ("comment", "Lyon est <b>une</b> grande ville.")],
        )
        .await;
    assert_eq!(r.location, Some(format!("/teacher/attempt/{attempt_id}")), "{}", r.body);
    assert_eq!(
        t.post(&format!("/teacher/answer/{q3}/override"), &[("score", "beaucoup")]).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(t.post("/teacher/answer/99999/override", &[("score", "1")]).await.status, StatusCode::NOT_FOUND);
    // Kept with who and when; the pupil sees the new mark and the comment, escaped.
    let a = f.app.store().attempt(attempt_id).unwrap().unwrap();
    let m = &a.marks[&q3];
    assert_eq!((m.by.as_str(), m.comment.as_str()), ("Mme Durand", "Lyon est <b>une</b> grande ville."));
    let shown = p.get(&attempt_url).await.body;
    // 0,75 (1) + Paris? no, but 0,5 given by the teacher + 12,5 within 12 ± 0,5 (1).
    assert!(shown.contains(r#"<strong id="score">2,5 / 6</strong>"#), "{shown}");
    assert!(
        shown.contains("Note donnée par l&#39;enseignant (Mme Durand,")
            || shown.contains("Note donnée par l'enseignant (Mme Durand,"),
        "{shown}"
    );
    assert!(shown.contains("Lyon est &lt;b&gt;une&lt;/b&gt; grande ville."), "{shown}");
    assert!(!shown.contains("/override"), "no form for the pupil");
    // An assignment handed in and marked shows in the results and the CSV.
    let now = f.app.now();
    let sub = f.app.store().save_submission(alice, DEMO, "devoir-1", "Mon texte", None, now).unwrap();
    t.post(&format!("/teacher/submission/{sub}/mark"), &[("mark", "13,5"), ("comment", "Bien")]).await;
    let results = t.get("/teacher/results").await.body;
    assert!(results.contains(r#"<table id="assignments">"#) && results.contains("<td>13,5</td>"), "{results}");
    let csv = t.get("/teacher/results.csv").await.body;
    assert!(csv.contains("CM2;Alice;Fractions — CM2;Devoir;13,5;;0;"), "{csv}");
    // Per question: every answer, parsed back.
    let r = t.get("/teacher/answers.csv").await;
    let disp = r.headers.get(header::CONTENT_DISPOSITION).unwrap().to_str().unwrap().to_string();
    assert!(disp.contains("reponses.csv"), "{disp}");
    assert!(r.body.starts_with('\u{feff}'), "UTF-8 BOM for spreadsheets");
    assert!(r.body.ends_with("\r\n") && !r.body.replace("\r\n", "").contains('\n'), "CRLF line ends");
    // Parsed back with quotes (an answer may hold the separator).
    let rows = super::csv::records(r.body.trim_start_matches('\u{feff}'), ';');
    assert_eq!(rows[0].join(";"), "classe;élève;contenu;quiz;essai;date;question;réponse;score;max");
    let rows = &rows[1..];
    assert_eq!(rows.len(), 5, "every question, the blank essay too: {rows:?}");
    assert_eq!(rows[4][8], "", "the essay waits for marking: {rows:?}");
    let numerical = rows.iter().find(|r| r[7] == "12,5").expect("the numerical answer");
    assert_eq!(
        (numerical[6].as_str(), numerical[8].as_str(), numerical[9].as_str()),
        ("Combien font 3 × 4 ?", "1", "1")
    );
    let short = rows.iter().find(|r| r[7] == "Lyon; ville").expect("the short answer, quoted");
    assert_eq!(short[8], "0,5", "the teacher's mark: {short:?}");
}

#[tokio::test]
async fn a_quiz_built_from_the_banks_is_given_played_and_marked_like_a_packs() {
    let f = fixture();
    let mut t = teacher(&f).await;
    let (class, alice, _bob) = class_with_pupils(&mut t, &f).await;
    let page = t.get("/teacher/quizzes").await.body;
    // The demo pack's quiz questions, by pack and category, with a random draw per category.
    assert!(page.contains("Fractions — CM2 — Quiz des fractions"), "{page}");
    let q1 = format!("{DEMO}/quiz-1/q1");
    let q3 = format!("{DEMO}/quiz-1/q3");
    assert!(page.contains(&format!(r#"value="{q1}""#)), "{page}");
    let draw = format!("draw:{DEMO}\u{1f}Quiz des fractions");
    // Refused: nothing chosen; a question that is not installed.
    let r = t.post("/teacher/quizzes", &[("title", "Vide"), ("shuffle", "1"), ("minutes", "15")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // The builder comes back filled in, the error at its top.
    assert!(r.body.contains(r#"value="Vide""#) && r.body.contains(r#"value="15""#), "{}", r.body);
    assert!(r.body.contains(r#"name="shuffle" value="1" checked"#), "{}", r.body);
    assert!(r.body.contains("Choisissez au moins une question"), "{}", r.body);
    let r = t.post("/teacher/quizzes", &[("title", "Trop"), ("q", &q1), ("attempts", "1000")]).await;
    assert!(r.body.contains(&format!(r#"value="{q1}" checked"#)), "the question stays ticked");
    assert!(r.body.contains(r#"value="1000" aria-invalid="true""#), "the field in error is marked: {}", r.body);
    let r = t.post("/teacher/quizzes", &[("title", "X"), ("q", "autre/quiz/q")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = t
        .post(
            "/teacher/quizzes",
            &[("title", "Révision"), ("q", &q1), ("q", &q3), (&draw, "1"), ("attempts", "2"), ("answers", "after")],
        )
        .await;
    assert_eq!(r.location.as_deref(), Some("/teacher/quizzes"), "{}", r.body);
    assert!(t.get("/teacher/quizzes").await.body.contains("Révision"));
    // Stored on the box, never in a pack; offered as work for a class.
    let quiz = super::player::load_quiz(&f.app, super::player::OWN_PACK, "q1").expect("the teacher's quiz");
    assert_eq!((quiz.questions.len(), quiz.attempts_allowed), (3, Some(2)));
    assert!(matches!(quiz.questions[2].kind, preau_pack::quiz::QuestionKind::Random(_)));
    let class_page = t.get(&format!("/teacher/class/{class}")).await.body;
    let item = format!("{}/_quiz/q1", super::player::OWN_PACK);
    assert!(class_page.contains(&format!(r#"value="{item}""#)), "{class_page}");
    t.post(&format!("/teacher/class/{class}/work"), &[("title", "Révisions"), ("item", &item), ("visible", "1")]).await;
    // The pupil finds it under « À faire » and plays it with the same player.
    let mut p = pupil(&f, alice, None).await;
    let home = p.get("/").await.body;
    let url = format!("/packs/{}/_quiz/q1", super::player::OWN_PACK);
    assert!(home.contains(&url), "{home}");
    let form = p.get(&url).await.body;
    assert!(form.contains("Quelle fraction vaut") && form.contains("Capitale de la France"), "{form}");
    let r = p.post(&url, &[("n", "0"), ("step", "finish"), ("q0", "1"), ("q1", "Paris")]).await;
    let shown = p.get(&r.location.expect("an attempt")).await.body;
    assert!(
        shown.contains(r#"<strong id="score">2 / 3</strong>"#)
            || shown.contains(r#"<strong id="score">3 / 3</strong>"#),
        "{shown}"
    );
    // Right answers after each attempt, as chosen.
    assert!(shown.contains("Oui !"), "feedback after the attempt: {shown}");
    let results = t.get("/teacher/results").await.body;
    assert!(results.contains("Révision"), "{results}");
}

#[tokio::test]
async fn the_boxs_own_assets_are_light_and_katex_comes_only_with_maths() {
    use axum::body::Body;
    use axum::http::Request;
    let f = fixture();
    let mut t = teacher(&f).await;
    let (_class, alice, _bob) = class_with_pupils(&mut t, &f).await;
    let mut p = pupil(&f, alice, None).await;
    let home = p.get("/").await.body;
    let css = home.split(r#"<link rel="stylesheet" href=""#).nth(1).unwrap().split('"').next().unwrap().to_string();
    assert!(css.starts_with("/static/preau.") && css.len() == "/static/preau.12345678.css".len(), "{css}");
    assert!(home.contains(r#"<link rel="icon" href="/static/favicon."#), "{home}");
    assert!(!home.contains("katex"), "no maths on the home page");
    // The demo quiz has maths; an attempt page without any does not load KaTeX.
    assert!(p.get(&format!("/packs/{DEMO}/_quiz/quiz-1")).await.body.contains("katex.min."));
    // gzip for who asks, a year of caching under the hashed name, 304 on a revisit.
    let r = p.send(Request::get(&css).header(header::ACCEPT_ENCODING, "gzip, deflate"), Body::empty()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers.get(header::CONTENT_ENCODING).unwrap(), "gzip");
    assert_eq!(r.headers.get(header::CACHE_CONTROL).unwrap(), "public, max-age=31536000, immutable");
    let etag = r.headers.get(header::ETAG).unwrap().to_str().unwrap().to_string();
    let raw = p.get(&css).await;
    assert!(raw.headers.get(header::CONTENT_ENCODING).is_none() && raw.body.contains(".question"));
    let again = p
        .send(
            Request::get(&css).header(header::ACCEPT_ENCODING, "gzip").header(header::IF_NONE_MATCH, &etag),
            Body::empty(),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    assert_eq!(p.get("/static/preau.00000000.css").await.status, StatusCode::NOT_FOUND, "a stale hash");
    // Pages too, to browsers that ask.
    let page = p.send(Request::get("/").header(header::ACCEPT_ENCODING, "gzip"), Body::empty()).await;
    assert_eq!(page.headers.get(header::CONTENT_ENCODING).unwrap(), "gzip");
    let icon = p.get("/favicon.ico").await;
    assert_eq!(icon.status, StatusCode::OK);
    assert_eq!(icon.headers.get(header::CONTENT_TYPE).unwrap(), "image/svg+xml");
}

/// The demo pack with a quiz whose Moodle review options differ between "immediately
/// after" and "later while open", and overall feedback bands (issue 14's leftovers).
async fn later_fixture(overall: u32) -> (super::tests::Fixture, Client) {
    let f = super::tests::fixture_with_quiz("tard", |q| {
        q["questions"][2]["general_feedback_html"] = "<p>GENERALE</p>".into();
        // Specific feedback only later while open; general feedback only immediately after.
        q["review"] = serde_json::json!({"marks": 0x1100, "specific_feedback": 0x100, "general_feedback": 0x1000, "overall_feedback": overall});
        q["overall_feedback"] = serde_json::json!([
            {"min_grade": 10.0, "max_grade": 21.0, "text_html": "<p>BRAVO</p>"},
            {"min_grade": 0.0, "max_grade": 10.0, "text_html": "<p>COURAGE</p>"}
        ]);
        q["questions"].as_array_mut().unwrap().truncate(4);
    });
    let mut t = teacher(&f).await;
    let (_class, alice, _bob) = class_with_pupils(&mut t, &f).await;
    let p = pupil(&f, alice, None).await;
    (f, p)
}

#[tokio::test]
async fn feedback_follows_the_review_options_when_the_pupil_looks_and_overall_feedback_too() {
    let (f, mut p) = later_fixture(0x1100).await;
    let url = format!("/packs/{DEMO}/_quiz/tard");
    // 0,75 right (Oui !), Vrai right, Paris right, 12 right: 4 / 4, grade 20 / 20.
    let r = p.post(&url, &[("n", "0"), ("q0", "1"), ("q1", "true"), ("q2", "Paris"), ("q3", "12")]).await;
    let attempt = r.location.unwrap();
    let now = p.get(&attempt).await.body;
    assert!(!now.contains("Oui !"), "specific feedback is for later: {now}");
    assert!(now.contains("GENERALE"), "general feedback immediately after: {now}");
    assert!(now.contains(r#"id="overall-feedback""#) && now.contains("BRAVO") && !now.contains("COURAGE"), "{now}");
    // Three minutes later the same attempt shows the other way round.
    f.app.set_clock_offset(f.app.clock_offset() + 180).unwrap();
    let later = p.get(&attempt).await.body;
    assert!(later.contains("Oui !"), "specific feedback later while open: {later}");
    assert!(!later.contains("GENERALE"), "general feedback was for immediately after: {later}");
    // A weak attempt gets the lower band.
    let r = p.post(&url, &[("n", "1"), ("q0", "0")]).await;
    let weak = p.get(&r.location.unwrap()).await.body;
    assert!(weak.contains("COURAGE") && !weak.contains("BRAVO"), "{weak}");
}

#[tokio::test]
async fn overall_feedback_is_hidden_when_the_review_options_say_so() {
    let (_f, mut p) = later_fixture(0).await;
    let url = format!("/packs/{DEMO}/_quiz/tard");
    let r = p.post(&url, &[("n", "0"), ("q0", "1")]).await;
    let shown = p.get(&r.location.unwrap()).await.body;
    assert!(!shown.contains("overall-feedback") && !shown.contains("COURAGE"), "{shown}");
}
