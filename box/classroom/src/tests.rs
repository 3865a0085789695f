//! Router-level tests: the real routes, store and guards, driven in-process.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};

use super::testkit::{Client, DEMO, demo_context};
use super::*;

pub(super) struct Fixture {
    pub(super) _dir: tempfile::TempDir,
    pub(super) router: Router,
    pub(super) app: Arc<App>,
}

pub(super) fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let ctx = demo_context(dir.path());
    let store = open_store(&ctx).unwrap();
    let app = Arc::new(App::new(ctx, store));
    Fixture { router: routes(app.clone()), app, _dir: dir }
}

/// A fixture whose demo pack also holds a copy of its quiz as `id`, changed by `edit`
/// (review options, limits…).
pub(super) fn fixture_with_quiz(id: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = demo_context(dir.path());
    let packs = super::testkit::MemPacks::default();
    let (info, mut files) = super::testkit::demo_pack();
    let mut q: serde_json::Value = serde_json::from_slice(&files["_preau/quiz/quiz-1.json"]).unwrap();
    q["id"] = id.into();
    edit(&mut q);
    files.insert(format!("_preau/quiz/{id}.json"), serde_json::to_vec(&q).unwrap());
    packs.add(info, files);
    ctx.packs = Arc::new(packs);
    let store = open_store(&ctx).unwrap();
    let app = Arc::new(App::new(ctx, store));
    Fixture { router: routes(app.clone()), app, _dir: dir }
}

/// Creates the first teacher through the setup form and returns a signed-in client.
pub(super) async fn teacher(f: &Fixture) -> Client {
    let mut c = Client::new(f.router.clone());
    let r = c.get("/teacher/login").await;
    assert_eq!(r.location.as_deref(), Some("/teacher/setup"), "no teacher yet: setup first");
    let code = super::teacher::setup_code(&f.app.store()).unwrap().unwrap();
    let r = c
        .post(
            "/teacher/setup",
            &[("code", &code), ("name", "Mme Durand"), ("password", "motdepasse1"), ("password2", "motdepasse1")],
        )
        .await;
    assert_eq!(r.location.as_deref(), Some("/teacher/"), "{}", r.body);
    c
}

/// A class "CM2" with pupils Alice (no code) and Bob (code 4321); returns their ids.
pub(super) async fn class_with_pupils(t: &mut Client, f: &Fixture) -> (i64, i64, i64) {
    let r = t.post("/teacher/classes", &[("name", "CM2")]).await;
    let class: i64 = r.location.unwrap().rsplit('/').next().unwrap().parse().unwrap();
    t.post(&format!("/teacher/class/{class}/pupils"), &[("name", "Alice")]).await;
    t.post(&format!("/teacher/class/{class}/pupils"), &[("name", "Bob")]).await;
    let pupils = f.app.store().pupils(class).unwrap();
    let (alice, bob) = (pupils[0].id, pupils[1].id);
    let r = t.post(&format!("/teacher/pupil/{bob}/code"), &[("kind", "digits"), ("code", "4321")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    (class, alice, bob)
}

pub(super) async fn pupil(f: &Fixture, id: i64, code: Option<&str>) -> Client {
    let mut c = Client::new(f.router.clone());
    let id_s = id.to_string();
    let mut fields = vec![("pupil", id_s.as_str())];
    if let Some(code) = code {
        fields.push(("code", code));
    }
    let r = c.post("/login", &fields).await;
    assert_eq!(r.location.as_deref(), Some("/"), "sign-in failed: {}", r.body);
    c
}

#[tokio::test]
async fn setup_code_from_config_also_works_once() {
    let f = fixture();
    let mut c = Client::new(f.router.clone());
    let r = c
        .post(
            "/teacher/setup",
            &[("code", "0000"), ("name", "X"), ("password", "motdepasse1"), ("password2", "motdepasse1")],
        )
        .await;
    assert_eq!(r.location.as_deref(), Some("/teacher/setup?name=X&error=code"), "the name typed is kept");
    let r = c
        .post(
            "/teacher/setup",
            &[("code", "24681357"), ("name", "X"), ("password", "motdepasse1"), ("password2", "motdepasse1")],
        )
        .await;
    assert_eq!(r.location.as_deref(), Some("/teacher/"));
    // Once a teacher exists, setup is closed.
    let mut other = Client::new(f.router.clone());
    let r = other
        .post(
            "/teacher/setup",
            &[("code", "24681357"), ("name", "Y"), ("password", "motdepasse1"), ("password2", "motdepasse1")],
        )
        .await;
    assert_eq!(r.location.as_deref(), Some("/teacher/login"));
    assert_eq!(f.app.store().teacher_count().unwrap(), 1);
}

#[tokio::test]
async fn teacher_login_is_rate_limited() {
    let f = fixture();
    let _ = teacher(&f).await;
    let mut c = Client::new(f.router.clone());
    for _ in 0..passwords::Attempts::FREE_FAILURES {
        let r = c.post("/teacher/login", &[("name", "Mme Durand"), ("password", "wrong-password")]).await;
        assert_eq!(r.location.as_deref(), Some("/teacher/login?name=Mme+Durand&error=1"));
    }
    // Locked: even the right password is refused now.
    let r = c.post("/teacher/login", &[("name", "Mme Durand"), ("password", "motdepasse1")]).await;
    assert_eq!(r.location.as_deref(), Some("/teacher/login?name=Mme+Durand&error=locked"));
    let r = c.get("/teacher/login?error=locked").await;
    assert!(r.body.contains("Trop d&#39;essais") || r.body.contains("Trop d'essais"), "{}", r.body);
}

#[tokio::test]
async fn pupil_code_is_checked_and_rate_limited() {
    let f = fixture();
    let mut t = teacher(&f).await;
    let (class, _alice, bob) = class_with_pupils(&mut t, &f).await;
    let mut c = Client::new(f.router.clone());
    let bob_s = bob.to_string();
    let r = c.post("/login", &[("pupil", &bob_s), ("code", "1111")]).await;
    assert_eq!(r.location, Some(format!("/login/class/{class}?pupil={bob}&error=code")));
    assert!(!c.cookies.contains_key("preau_session"));
    for _ in 1..passwords::Attempts::FREE_FAILURES {
        c.post("/login", &[("pupil", &bob_s), ("code", "1111")]).await;
    }
    let r = c.post("/login", &[("pupil", &bob_s), ("code", "4321")]).await;
    assert!(r.location.unwrap().ends_with("error=locked"));
}

#[tokio::test]
async fn pupil_takes_the_quiz_and_the_teacher_sees_the_score() {
    let f = fixture();
    let mut t = teacher(&f).await;
    let (_class, alice, bob) = class_with_pupils(&mut t, &f).await;
    let mut p = pupil(&f, bob, Some("4321")).await;
    // The session cookie of a pupil is HttpOnly.
    let home = p.get("/").await;
    assert!(home.body.contains("Fractions — CM2"));
    assert!(home.body.contains(&format!("/pupil/open/{DEMO}/index.html")));
    let r = p.get(&format!("/pupil/open/{DEMO}/index.html")).await;
    assert_eq!(r.location, Some(format!("/packs/{DEMO}/index.html")));

    let quiz = p.get(&format!("/packs/{DEMO}/_quiz/quiz-1")).await;
    assert_eq!(quiz.status, StatusCode::OK);
    assert!(quiz.body.contains("Quelle fraction vaut"));
    // No right answer, fraction or feedback reaches the browser before submission.
    for secret in ["Oui !", "fraction\"", "Paris", "Non : 3"] {
        assert!(!quiz.body.contains(secret), "{secret} leaked into the quiz page");
    }
    assert!(
        quiz.headers.get(header::CONTENT_SECURITY_POLICY).unwrap().to_str().unwrap().contains("script-src 'nonce-")
    );
    let url = format!("/packs/{DEMO}/_quiz/quiz-1");
    let r = p
        .post(
            &url,
            &[
                ("n", "0"),
                ("q0", "1"),
                ("q1", "true"),
                ("q2", " paris "),
                ("q3", "12.3"),
                ("q4", "Une part d'un tout."),
            ],
        )
        .await;
    let attempt_url = r.location.clone().expect("redirect to the attempt");
    assert!(attempt_url.starts_with("/pupil/attempt/"));
    let shown = p.get(&attempt_url).await;
    assert!(shown.body.contains(r#"<strong id="score">4 / 6</strong>"#), "{}", shown.body);
    assert!(shown.body.contains("Oui !"), "feedback shown after submission");
    assert!(shown.body.contains("à corriger"));
    // The same form sent twice is not a second attempt.
    let again = p.post(&url, &[("n", "0"), ("q0", "0")]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(f.app.store().attempts_of(bob, DEMO, "quiz-1").unwrap().len(), 1);
    // A wrong second attempt does not give the right answer away while attempts are left
    // (the demo quiz has no limit; issue 14 M1).
    let r = p.post(&url, &[("n", "1"), ("q0", "0"), ("q2", "Lyon")]).await;
    let second = p.get(&r.location.unwrap()).await;
    assert!(!second.body.contains("Bonne réponse"), "{}", second.body);
    assert!(!second.body.contains("Paris"));

    // Alice cannot open Bob's attempt.
    let mut a = pupil(&f, alice, None).await;
    assert_eq!(a.get(&attempt_url).await.status, StatusCode::NOT_FOUND);

    // The teacher sees the score, per pupil and per question, and in the CSV.
    let results = t.get("/teacher/results").await;
    assert!(results.body.contains("Bob"));
    assert!(results.body.contains(">4 / 6</a>"), "{}", results.body);
    assert!(results.body.contains("Trois quarts"), "questions are named");
    let csv = t.get("/teacher/results.csv").await;
    assert!(csv.headers.get(header::CONTENT_DISPOSITION).unwrap().to_str().unwrap().contains("attachment"));
    // Titles, never internal ids (the course outline's quiz title, the pack's title).
    assert!(csv.body.contains("CM2;Bob;Fractions — CM2;Quiz;4;6;1;"), "{}", csv.body);
    // (The quiz settings forms name the quiz in their addresses only.)
    let shown = results.body.split("<h2>Réglages des quiz").next().unwrap();
    assert!(!shown.contains("quiz-1") && !shown.contains("maths-cm2"), "{}", results.body);
    // Marking the essay completes the score.
    let pending = f.app.store().pending_answers().unwrap();
    let r = t
        .post(
            &format!("/teacher/answer/{}/mark", pending[0].answer_id),
            &[("score", "1,5"), ("feedback", "Bien <b>vu</b>")],
        )
        .await;
    assert_eq!(r.location.as_deref(), Some("/teacher/marking"));
    let shown = p.get(&attempt_url).await;
    assert!(shown.body.contains(r#"<strong id="score">5,5 / 6</strong>"#), "{}", shown.body);
    assert!(shown.body.contains("Bien &lt;b&gt;vu&lt;/b&gt;"), "teacher feedback is escaped");
    // Progress page: lesson opened, quiz completed.
    let progress = p.get("/pupil/").await;
    // The lesson counts as read: the pupil went on to the quiz after it.
    assert!(progress.body.contains("Activités terminées : 2 / 3"), "{}", progress.body);
}

#[tokio::test]
async fn assignment_text_and_file_are_stored_and_bounded() {
    let f = fixture();
    let mut t = teacher(&f).await;
    let (_c, alice, _bob) = class_with_pupils(&mut t, &f).await;
    let mut p = pupil(&f, alice, None).await;
    let page = p.get(&format!("/packs/{DEMO}/_assign/devoir-1")).await;
    assert!(page.body.contains("Rends ta fiche"));
    let token = p.cookies["preau_csrf"].clone();
    let multipart = |file_name: &str, content: &str| {
        let b = "XBOUNDARYX";
        let body = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{token}\r\n--{b}\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nMon travail\r\n--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: text/plain\r\n\r\n{content}\r\n--{b}--\r\n"
        );
        (
            Request::post(format!("/packs/{DEMO}/_assign/devoir-1"))
                .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={b}")),
            Body::from(body),
        )
    };
    let (req, body) = multipart("fiche.exe", "x");
    let r = p.send(req, body).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("Type de fichier refusé"));
    let (req, body) = multipart("fiche.txt", &"x".repeat(100_001));
    let r = p.send(req, body).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("Fichier trop gros"));
    let (req, body) = multipart("fiche.txt", "1/2 = 2/4");
    let r = p.send(req, body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("Travail rendu et enregistré"));
    let subs = f.app.store().submissions(Some(alice)).unwrap();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].text, "Mon travail");
    let file = t.get(&format!("/teacher/submission/{}/file", subs[0].id)).await;
    assert_eq!(file.body, "1/2 = 2/4");
    assert!(file.headers.get(header::CONTENT_DISPOSITION).unwrap().to_str().unwrap().starts_with("attachment"));
    let marking = t.get("/teacher/marking").await;
    assert!(marking.body.contains("Fractions — CM2 / Devoir"), "{}", marking.body);
    assert!(!marking.body.contains("devoir-1</p>") && !marking.body.contains("/ devoir-1"), "{}", marking.body);
    let r = t.post(&format!("/teacher/submission/{}/mark", subs[0].id), &[("mark", "15"), ("comment", "Bien")]).await;
    assert_eq!(r.location.as_deref(), Some("/teacher/marking"));
    assert_eq!(f.app.store().submissions(Some(alice)).unwrap()[0].mark, Some(15.0));
    // The pupil's home: the assignment is handed in with its mark, and counts as done;
    // the forum (needs the Moodle server) is shown as such and not counted.
    let progress = p.get("/pupil/").await;
    assert!(progress.body.contains("rendu, noté 15"), "{}", progress.body);
    assert!(progress.body.contains("Activités terminées : 1 / 3"), "{}", progress.body);
    assert!(
        progress.body.contains("non disponible hors ligne : les messages d&#39;un forum")
            || progress.body.contains("non disponible hors ligne : les messages d'un forum"),
        "{}",
        progress.body
    );
    assert!(!progress.body.contains("Forum</a> <small>(à faire)"), "{}", progress.body);
}

#[tokio::test]
async fn class_list_import_and_pupil_deletion() {
    let f = fixture();
    let mut t = teacher(&f).await;
    let (class, alice, _bob) = class_with_pupils(&mut t, &f).await;
    let token = t.cookies["preau_csrf"].clone();
    let b = "BND";
    let body = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{token}\r\n--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"classe.csv\"\r\nContent-Type: text/csv\r\n\r\nNom;Prénom\r\nMARTIN;Léa\r\nDUPONT;Hugo\r\n--{b}--\r\n"
    );
    let req = Request::post(format!("/teacher/class/{class}/import"))
        .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={b}"));
    let r = t.send(req, Body::from(body)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let names: Vec<String> = f.app.store().pupils(class).unwrap().into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["Alice", "Bob", "Hugo D.", "Léa M."]);
    // An unreadable pasted list: the class page again, the list still in its box, the
    // error in French and the box marked (preau.js focuses it).
    let long = "x".repeat(61);
    let body = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{token}\r\n--{b}\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nZoé\r\n{long}\r\n--{b}--\r\n"
    );
    let req = Request::post(format!("/teacher/class/{class}/import"))
        .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={b}"));
    let r = t.send(req, Body::from(body)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("Liste illisible : ligne 2 : nom de plus de 60 caractères"), "{}", r.body);
    assert!(!r.body.contains("longer than"), "no English on the French page");
    assert!(
        r.body.contains(r#"<textarea name="text" aria-invalid="true" aria-describedby="form-error">Zoé"#)
            && r.body.contains(&format!("{long}</textarea>")),
        "{}",
        r.body
    );
    // A pupil's name already in the class: the name stays in its field.
    let r = t.post(&format!("/teacher/class/{class}/pupils"), &[("name", "Alice")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body.contains("Ce nom existe déjà.") && r.body.contains(r#"value="Alice" aria-invalid="true""#),
        "{}",
        r.body
    );
    // Deleting needs the confirmation box, then removes the pupil's records.
    let mut p = pupil(&f, alice, None).await;
    p.get(&format!("/pupil/open/{DEMO}/index.html")).await;
    let r = t.post(&format!("/teacher/pupil/{alice}/delete"), &[]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = t.post(&format!("/teacher/pupil/{alice}/delete"), &[("confirm", "yes")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(f.app.store().pupil(alice).unwrap(), None);
    assert!(f.app.store().outbox_pending(100).unwrap().is_empty());
    // The deleted pupil's session is gone too.
    assert_eq!(p.get("/pupil/").await.location.as_deref(), Some("/login?next=%2Fpupil%2F"));
}

#[tokio::test]
async fn opening_hours_close_the_box_to_pupils_only() {
    let f = fixture();
    let mut t = teacher(&f).await;
    let (_c, alice, _) = class_with_pupils(&mut t, &f).await;
    let mut p = pupil(&f, alice, None).await;
    // A range that excludes the current minute, every day.
    let now = f.app.now() + f.app.tz_minutes() * 60;
    let minute = (now.rem_euclid(86_400) / 60) as u32;
    let (a, b) = ((minute + 60) % 1380, (minute + 60) % 1380 + 30);
    let range = format!("{:02}:{:02}-{:02}:{:02}", a / 60, a % 60, b / 60, b % 60);
    let days: Vec<(&str, &str)> = ["1", "2", "3", "4", "5", "6", "7"].iter().map(|d| ("day", *d)).collect();
    let mut fields = days.clone();
    fields.push(("ranges", &range));
    let r = t.post("/admin/hours", &fields).await;
    assert_eq!(r.location.as_deref(), Some("/admin/"), "{}", r.body);
    assert!(!f.app.is_open());
    assert_eq!(p.get("/").await.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(p.get(&format!("/packs/{DEMO}/_quiz/quiz-1")).await.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(t.get("/").await.status, StatusCode::OK, "teachers still get in");
    assert_eq!(t.get("/teacher/").await.status, StatusCode::OK);
    // Bad hours are refused with a message.
    let mut bad = days;
    bad.push(("ranges", "9h-10h"));
    let r = t.post("/admin/hours", &bad).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // The admin page again, with the hours typed and the field marked.
    assert!(r.body.contains(r#"name="ranges" value="9h-10h" placeholder"#), "{}", r.body);
    assert!(r.body.contains(r#"maxlength="200" aria-invalid="true""#), "{}", r.body);
    // Empty ranges: open again.
    t.post("/admin/hours", &[("ranges", "")]).await;
    assert_eq!(p.get("/").await.status, StatusCode::OK);
}

#[tokio::test]
async fn clock_offset_from_the_teachers_browser() {
    let f = fixture();
    let mut t = teacher(&f).await;
    let ahead = (web::system_now() + 3 * 86_400).to_string();
    let r = t.post("/admin/clock", &[("browser_time", &ahead), ("tz_minutes", "120")]).await;
    assert_eq!(r.location.as_deref(), Some("/admin/"));
    assert!((f.app.clock_offset() - 3 * 86_400).abs() < 60);
    assert_eq!(f.app.tz_minutes(), 120);
    assert_eq!(t.post("/admin/clock", &[("browser_time", "12")]).await.status, StatusCode::BAD_REQUEST);
    let admin = t.get("/admin/").await;
    assert!(admin.body.contains("8 à 10 appareils"));
    assert!(admin.body.contains(r#"id="clock-form""#));
}

#[tokio::test]
async fn admin_page_shows_the_background_sync_and_removes_packs() {
    // Without a national repository: says so.
    let f = fixture();
    let mut t = teacher(&f).await;
    let admin = t.get("/admin/").await;
    assert!(admin.body.contains("aucun dépôt national n'est configuré"), "{}", admin.body);

    // With one: state, last result, last error, stale packs.
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = demo_context(dir.path());
    let status = Arc::new(std::sync::Mutex::new(preau_sync::auto::AutoStatus {
        state: "unreachable".into(),
        source: Some("https://depot.example/preau/".into()),
        last_success: Some(1_700_000_000),
        last_error: Some("connection refused <b>".into()),
        stale: vec!["maths-cm2".into()],
        next_check_secs: 120,
        ..Default::default()
    }));
    ctx.sync_status = Some(status.clone());
    let store = open_store(&ctx).unwrap();
    let app = Arc::new(App::new(ctx, store));
    let f2 = Fixture { router: routes(app.clone()), app, _dir: dir };
    let mut t2 = teacher(&f2).await;
    let body = t2.get("/admin/").await.body;
    assert!(body.contains("aucune source joignable"), "{body}");
    assert!(body.contains("https://depot.example/preau/"));
    assert!(body.contains("connection refused &lt;b&gt;"), "errors are escaped");
    assert!(body.contains("Pas à jour") && body.contains("maths-cm2"));
    status.lock().unwrap().state = "pulling".into();
    status.lock().unwrap().bytes_in_progress = 3_000_000;
    let body = t2.get("/admin/").await.body;
    assert!(body.contains("téléchargement en cours"), "{body}");

    // Removing a pack needs the confirmation box, then it is gone from the catalog.
    let r = t.post("/admin/packs/remove", &[("pack", DEMO)]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = t.post("/admin/packs/remove", &[("pack", DEMO), ("confirm", "yes")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(f.app.ctx.packs.list().is_empty());
    let r = t.post("/admin/packs/remove", &[("pack", DEMO), ("confirm", "yes")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn colleagues_passwords_and_recovery_with_a_new_config_code() {
    let f = fixture();
    let mut t = teacher(&f).await;
    assert!(t.get("/admin/").await.body.contains("Ajouter un collègue"));
    let add = |pw2: &'static str| [("name", "M. Petit"), ("password", "provisoire1"), ("password2", pw2)];
    let r = t.post("/admin/teachers", &add("autre-chose")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // The name is kept, never the passwords; the focus goes to the password.
    assert!(r.body.contains(r#"autocomplete="off" value="M. Petit""#), "{}", r.body);
    assert!(!r.body.contains("provisoire1") && !r.body.contains("autre-chose"), "passwords are not sent back");
    assert!(
        r.body.contains(
            r#"name="password" autocomplete="new-password" required minlength="8" maxlength="200" aria-invalid="true""#
        ),
        "{}",
        r.body
    );
    assert_eq!(t.post("/admin/teachers", &add("provisoire1")).await.location.as_deref(), Some("/admin/#teachers"));
    assert_eq!(t.post("/admin/teachers", &add("provisoire1")).await.status, StatusCode::BAD_REQUEST, "name taken");
    assert_eq!(f.app.store().teacher_count().unwrap(), 2);

    // The colleague signs in and changes the temporary password.
    let login = |pw: &'static str| [("name", "M. Petit"), ("password", pw)];
    let mut c = Client::new(f.router.clone());
    assert_eq!(c.post("/teacher/login", &login("provisoire1")).await.location.as_deref(), Some("/teacher/"));
    let change =
        |current: &'static str| [("current", current), ("password", "le-mien-2026"), ("password2", "le-mien-2026")];
    let r = c.post("/admin/password", &change("mauvais!!")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("Mot de passe actuel incorrect."), "{}", r.body);
    assert!(r.body.contains(r#"name="current" autocomplete="current-password" required minlength="8" maxlength="200" aria-invalid="true""#), "{}", r.body);
    assert!(!r.body.contains("mauvais!!") && !r.body.contains("le-mien-2026"), "passwords are not sent back");
    assert_eq!(c.post("/admin/password", &change("provisoire1")).await.status, StatusCode::OK);
    assert_eq!(c.get("/teacher/").await.status, StatusCode::OK, "the session that changed it stays");
    let mut c2 = Client::new(f.router.clone());
    assert_eq!(
        c2.post("/teacher/login", &login("provisoire1")).await.location.as_deref(),
        Some("/teacher/login?name=M.+Petit&error=1")
    );
    assert_eq!(c2.post("/teacher/login", &login("le-mien-2026")).await.location.as_deref(), Some("/teacher/"));

    // Deleting: confirmed, never oneself; the colleague's sessions end with the account.
    let petit = f.app.store().teacher_by_name("M. Petit").unwrap().unwrap().0;
    let durand = f.app.store().teacher_by_name("Mme Durand").unwrap().unwrap().0;
    let del = |id: i64| format!("/admin/teacher/{id}/delete");
    assert_eq!(t.post(&del(petit), &[]).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(t.post(&del(durand), &[("confirm", "yes")]).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(t.post(&del(petit), &[("confirm", "yes")]).await.location.as_deref(), Some("/admin/#teachers"));
    assert_eq!(c.get("/teacher/").await.location.as_deref(), Some("/teacher/login?next=%2Fteacher%2F"));

    // Forgotten password: the config's first code is spent; a new one opens setup once.
    let mut anyone = Client::new(f.router.clone());
    assert_eq!(anyone.get("/teacher/setup").await.location.as_deref(), Some("/teacher/login"));
    let mut ctx = demo_context(f._dir.path());
    ctx.setup_code = Some("nouveau-code-777".into());
    let store = open_store(&ctx).unwrap();
    let app = Arc::new(App::new(ctx, store));
    let router = routes(app.clone());
    let mut r = Client::new(router.clone());
    assert!(r.get("/teacher/setup").await.body.contains("Récupération"));
    let reset =
        [("code", "nouveau-code-777"), ("name", "Mme Durand"), ("password", "retrouve-1"), ("password2", "retrouve-1")];
    assert_eq!(r.post("/teacher/setup", &reset).await.location.as_deref(), Some("/teacher/"));
    assert_eq!(app.store().teacher_count().unwrap(), 1, "the existing account got a new password");
    let mut again = Client::new(router.clone());
    assert_eq!(again.post("/teacher/setup", &reset).await.location.as_deref(), Some("/teacher/login"), "once");
    let new_login = [("name", "Mme Durand"), ("password", "retrouve-1")];
    assert_eq!(again.post("/teacher/login", &new_login).await.location.as_deref(), Some("/teacher/"));
}

/// The demo pack plus `timed`: the demo quiz with a one-minute limit and shuffled questions.
fn timed_fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = demo_context(dir.path());
    let packs = super::testkit::MemPacks::default();
    let (info, mut files) = super::testkit::demo_pack();
    let mut q: serde_json::Value = serde_json::from_slice(&files["_preau/quiz/quiz-1.json"]).unwrap();
    q["id"] = "timed".into();
    q["time_limit_secs"] = 60.into();
    q["shuffle_questions"] = true.into();
    files.insert("_preau/quiz/timed.json".into(), serde_json::to_vec(&q).unwrap());
    packs.add(info, files);
    ctx.packs = Arc::new(packs);
    let store = open_store(&ctx).unwrap();
    let app = Arc::new(App::new(ctx, store));
    Fixture { router: routes(app.clone()), app, _dir: dir }
}

#[test]
fn shuffled_questions_are_a_fixed_permutation_per_pupil_and_attempt() {
    let (_, files) = super::testkit::demo_pack();
    let mut quiz: preau_pack::quiz::Quiz = serde_json::from_slice(&files["_preau/quiz/quiz-1.json"]).unwrap();
    let n = quiz.questions.len();
    assert_eq!(super::player::question_order(&quiz, "p1", 0), (0..n).collect::<Vec<_>>(), "no shuffle: author's order");
    quiz.shuffle_questions = true;
    let orders: Vec<Vec<usize>> = (0..20).map(|k| super::player::question_order(&quiz, &format!("p{k}"), 0)).collect();
    for o in &orders {
        let mut sorted = o.clone();
        sorted.sort();
        assert_eq!(sorted, (0..n).collect::<Vec<_>>(), "a permutation");
    }
    assert!(orders.iter().any(|o| *o != orders[0]), "pupils get different orders");
    assert_eq!(orders[3], super::player::question_order(&quiz, "p3", 0), "a reload shows the same order");
    assert_ne!(super::player::question_order(&quiz, "p3", 0), super::player::question_order(&quiz, "p3", 1));
}

#[tokio::test]
async fn timed_quiz_counts_down_from_the_first_view_and_flags_late_answers() {
    let f = timed_fixture();
    let mut t = teacher(&f).await;
    let (_class, alice, _bob) = class_with_pupils(&mut t, &f).await;
    let mut p = pupil(&f, alice, None).await;
    let page = p.get(&format!("/packs/{DEMO}/_quiz/timed")).await.body;
    let left: i64 = page.split(r#"data-remaining=""#).nth(1).unwrap().split('"').next().unwrap().parse().unwrap();
    assert!((55..=60).contains(&left), "{left}");
    // Questions in this pupil's order, numbered as shown; fields keep the author's ids.
    let uuid = f.app.store().pupil(alice).unwrap().unwrap().uuid;
    let quiz = super::player::load_quiz(&f.app, DEMO, "timed").unwrap();
    let order = super::player::question_order(&quiz, &uuid, 0);
    let positions: Vec<usize> = order.iter().map(|i| page.find(&format!(r#"id="q{i}""#)).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "shown in the shuffled order {order:?}");
    // A reload does not restart the clock.
    let again = p.get(&format!("/packs/{DEMO}/_quiz/timed")).await.body;
    assert!(again.contains("data-remaining="));
    let r = p.post(&format!("/packs/{DEMO}/_quiz/timed"), &[("n", "0"), ("q0", "1")]).await;
    let on_time = p.get(r.location.as_deref().unwrap()).await.body;
    assert!(!on_time.contains(r#"id="over-time""#));

    // Attempt 2 starts now; the answers arrive three days later (by the box's clock).
    p.get(&format!("/packs/{DEMO}/_quiz/timed")).await;
    let ahead = (web::system_now() + 3 * 86_400).to_string();
    t.post("/admin/clock", &[("browser_time", &ahead), ("tz_minutes", "60")]).await;
    let r = p.post(&format!("/packs/{DEMO}/_quiz/timed"), &[("n", "1"), ("q0", "1")]).await;
    let late = p.get(r.location.as_deref().unwrap()).await.body;
    assert!(late.contains(r#"id="over-time""#), "the late attempt is kept and flagged: {late}");
}

/// Every teacher and admin route, with a method and a path.
const TEACHER_ROUTES: &[(&str, &str)] = &[
    ("GET", "/teacher/"),
    ("POST", "/teacher/classes"),
    ("GET", "/teacher/class/1"),
    ("POST", "/teacher/class/1/rename"),
    ("POST", "/teacher/class/1/delete"),
    ("POST", "/teacher/class/1/pupils"),
    ("POST", "/teacher/class/1/import"),
    ("POST", "/teacher/pupil/1/rename"),
    ("POST", "/teacher/pupil/1/delete"),
    ("POST", "/teacher/pupil/1/code"),
    ("GET", "/teacher/pupil/1/export"),
    ("GET", "/teacher/results"),
    ("GET", "/teacher/results.csv"),
    ("GET", "/teacher/attempt/1"),
    ("GET", "/teacher/marking"),
    ("POST", "/teacher/answer/1/mark"),
    ("POST", "/teacher/quiz/maths-cm2/quiz-1/settings"),
    ("POST", "/teacher/submission/1/mark"),
    ("GET", "/teacher/submission/1/file"),
    ("GET", "/admin/"),
    ("POST", "/admin/hours"),
    ("POST", "/admin/clock"),
    ("POST", "/admin/packs/remove"),
    ("POST", "/admin/packs/add"),
    ("POST", "/admin/stick/wants"),
    ("POST", "/admin/stick/fill"),
    ("POST", "/admin/teachers"),
    ("POST", "/admin/password"),
    ("POST", "/admin/teacher/1/delete"),
];

#[tokio::test]
async fn authorisation_matrix() {
    let f = fixture();
    let mut t = teacher(&f).await;
    let (class, alice, _) = class_with_pupils(&mut t, &f).await;
    assert_eq!(class, 1, "the routes above name class 1");
    let mut p = pupil(&f, alice, None).await;
    // Give the pupil some data a leak would show.
    p.post(&format!("/packs/{DEMO}/_quiz/quiz-1"), &[("n", "0"), ("q0", "1")]).await;
    let mut anon = Client::new(f.router.clone());
    anon.get("/logout").await; // a CSRF cookie, so refusals are not just CSRF failures
    // A sandboxed pack page, in the teacher's browser: cookies would be sent on a
    // navigation, but the Origin says null.
    let mut sandboxed = Client::new(f.router.clone());
    sandboxed.cookies = t.cookies.clone();
    sandboxed.origin = Some("null");
    let mut foreign = Client::new(f.router.clone());
    foreign.cookies = t.cookies.clone();
    foreign.origin = Some("http://evil.example");

    let routes: Vec<(&str, String)> = TEACHER_ROUTES.iter().map(|(m, r)| (*m, r.to_string())).collect();
    // Sanity: the teacher gets through every GET.
    for (m, route) in &routes {
        if *m == "GET" {
            let r = t.get(route).await;
            assert!(r.status == StatusCode::OK || r.status == StatusCode::NOT_FOUND, "{route}: {}", r.status);
        }
    }
    for (who, client) in [
        ("anonymous", &mut anon),
        ("pupil", &mut p),
        ("sandboxed pack page", &mut sandboxed),
        ("foreign site", &mut foreign),
    ] {
        for (m, route) in &routes {
            let r = if *m == "GET" {
                client.get(route).await
            } else {
                client.post(route, &[("name", "x"), ("confirm", "yes"), ("pack", DEMO)]).await
            };
            let refused = match r.status {
                StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => true,
                StatusCode::SEE_OTHER => r.location.as_deref().is_some_and(|l| l.starts_with("/teacher/login")),
                _ => false,
            };
            assert!(refused, "{who} got {} on {m} {route}", r.status);
            assert!(!r.body.contains("Alice"), "{who} saw a pupil's name on {route}");
        }
    }
    // Nothing changed: the class, the pupil and the pack are all there.
    assert_eq!(f.app.store().pupils(class).unwrap().len(), 2);
    assert_eq!(f.app.ctx.packs.list().len(), 1);
    // Pupil routes are refused to anonymous visitors and to the teacher's session.
    for route in
        ["/pupil/".to_string(), format!("/packs/{DEMO}/_quiz/quiz-1"), format!("/packs/{DEMO}/_assign/devoir-1")]
    {
        let r = anon.get(&route).await;
        let to_login = r.location.as_deref().is_some_and(|l| l.starts_with("/login?next=%2F"));
        assert!(to_login, "{route}: {:?}", r.location);
        assert_eq!(t.get(&route).await.status, StatusCode::FORBIDDEN, "{route}");
    }
    // A pupil's form post from a sandboxed page is refused even with the pupil's cookies.
    let mut sandboxed_pupil = Client::new(f.router.clone());
    sandboxed_pupil.cookies = p.cookies.clone();
    sandboxed_pupil.origin = Some("null");
    let r = sandboxed_pupil.post(&format!("/packs/{DEMO}/_quiz/quiz-1"), &[("n", "1")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Session cookies: HttpOnly; the teacher's is SameSite=Strict.
    let mut c = Client::new(f.router.clone());
    let r = c.post("/teacher/login", &[("name", "Mme Durand"), ("password", "motdepasse1")]).await;
    let set = r
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("preau_session="))
        .unwrap();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"), "{set}");
}

#[tokio::test]
async fn state_changes_need_the_csrf_token() {
    let f = fixture();
    let mut t = teacher(&f).await;
    let req = Request::post("/teacher/classes").header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    let r = t.send(req, Body::from("name=Sans+jeton")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let req = Request::post("/teacher/classes").header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    let r = t.send(req, Body::from("csrf=00000000000000000000000000000000&name=Faux+jeton")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(f.app.store().classes().unwrap().is_empty());
    // Oversized bodies are refused before any handler runs.
    let big = format!("csrf=x&name={}", "a".repeat(FORM_LIMIT + 1));
    let req = Request::post("/teacher/classes").header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    assert_eq!(t.send(req, Body::from(big)).await.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn pages_follow_accept_language_and_escape_names() {
    let f = fixture();
    let mut t = teacher(&f).await;
    t.post("/teacher/classes", &[("name", "<script>alert(1)</script>")]).await;
    let mut c = Client::new(f.router.clone());
    let fr = c.get("/login").await;
    assert!(fr.body.contains("Choisis ta classe"));
    assert!(fr.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!fr.body.contains("<script>alert(1)"));
    let req = Request::get("/login").header(header::ACCEPT_LANGUAGE, "en-US,en;q=0.9");
    let en = c.send(req, Body::empty()).await;
    assert!(en.body.contains("Choose your class"));
    assert!(en.body.contains(r#"<html lang="en">"#));
    let css = c.get("/static/katex/katex.min.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(c.get("/static/nope.js").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn admin_page_shows_what_goes_upstream_without_names_or_free_text() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = demo_context(dir.path());
    ctx.upstream = Some(super::context::UpstreamInfo {
        lrs: "https://lrs.example.org/".into(),
        publish: preau_sync::upstream::PublishOptions {
            box_id: "test-box".into(),
            home_page: "https://preau.example.org/".into(),
            send_responses: false,
        },
        keep_days: 30,
        max_outbox: 200_000,
    });
    let store = open_store(&ctx).unwrap();
    let app = Arc::new(App::new(ctx, store));
    let f = Fixture { router: routes(app.clone()), app, _dir: dir };
    let mut t = teacher(&f).await;
    let (_class, alice, _bob) = class_with_pupils(&mut t, &f).await;
    let mut p = pupil(&f, alice, None).await;
    let url = format!("/packs/{DEMO}/_quiz/quiz-1");
    p.get(&url).await;
    let answers =
        [("n", "0"), ("q0", "1"), ("q1", "true"), ("q2", "Lyon-secret"), ("q3", "12"), ("q4", "Essai-secret")];
    let r = p.post(&url, &answers).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    // One statement quarantined by a past push, with the LRS's reason.
    let db = f.app.ctx.data_dir.join("preau.sqlite");
    let mut outbox = preau_sync::upstream::SqliteOutbox::open(&db).unwrap();
    let last = f.app.store().outbox_pending(100).unwrap().pop().unwrap().0;
    outbox.quarantine(&last, "422 refused by the LRS: <bad>", 1_767_225_600).unwrap();
    outbox.set_error(1_767_225_600, "cannot reach the LRS").unwrap();

    let body = t.get("/admin/").await.body;
    assert!(body.contains("Envoi des activités des élèves"), "{body}");
    assert!(body.contains("https://lrs.example.org/"));
    let waiting = f.app.store().outbox_pending(100).unwrap().len();
    assert!(body.contains(&format!("<th>En attente</th><td>{waiting}</td>")), "{body}");
    assert!(body.contains("<td>1</td>"), "one quarantined");
    assert!(body.contains("422 refused by the LRS: &lt;bad&gt;"), "the reason, escaped");
    assert!(body.contains("cannot reach the LRS"));
    let example = body.split(r#"<details id="upstream-example">"#).nth(1).expect("an example statement");
    let example = example.split("</details>").next().unwrap();
    assert!(example.contains("https://preau.example.org/box/test-box"), "{example}");
    for secret in ["Alice", "CM2", "Lyon-secret", "Essai-secret"] {
        assert!(!example.contains(secret), "{secret} in the example statement");
    }
    // English second.
    let en = t.send(Request::get("/admin/").header(header::ACCEPT_LANGUAGE, "en"), Body::empty()).await.body;
    assert!(en.contains("Sending pupils' activity"), "{en}");
}

#[tokio::test]
async fn admin_page_shows_the_hotspot_to_join_only_to_a_teacher() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = demo_context(dir.path());
    ctx.hotspot = Some(("Classe <3>".into(), "k7m2-p9xw-3hq4".into()));
    let store = open_store(&ctx).unwrap();
    let app = Arc::new(App::new(ctx, store));
    let f = Fixture { router: routes(app.clone()), app, _dir: dir };
    let mut anonymous = Client::new(f.router.clone());
    let page = anonymous.get("/admin/").await;
    assert!(!page.body.contains("k7m2-p9xw-3hq4"), "{}", page.body);
    let mut t = teacher(&f).await;
    let body = t.get("/admin/").await.body;
    assert!(body.contains("Réseau des élèves") && body.contains("Classe &lt;3&gt;"), "{body}");
    assert!(body.contains("<code>k7m2-p9xw-3hq4</code>"), "{body}");
    // Without a hotspot (Ethernet mode, or no image), nothing is said.
    let plain = fixture();
    let mut t = teacher(&plain).await;
    assert!(!t.get("/admin/").await.body.contains(r#"id="hotspot""#));
}
