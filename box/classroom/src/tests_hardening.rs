//! Issue 14: what an outside attacker on the LAN could do to sign-ins, as tests.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};

use super::passwords::Attempts;
use super::store::Who;
use super::testkit::Client;
use super::tests::{class_with_pupils, fixture, pupil, teacher};

/// A client at `ip` with a CSRF cookie the box issued (from the login page).
async fn client_at(router: &axum::Router, ip: &str) -> Client {
    let mut c = Client::at(router.clone(), ip);
    c.get("/teacher/login").await;
    assert!(c.cookies.contains_key("preau_csrf"));
    c
}

/// `n` guesses sent at once from one client (each task a copy of its cookie jar); returns
/// the redirect targets.
async fn burst(c: &Client, n: usize, guess: impl Fn(usize) -> (String, String)) -> Vec<String> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let mut c = Client { router: c.router.clone(), cookies: c.cookies.clone(), origin: None, peer: c.peer };
            let (name, password) = guess(i);
            tokio::spawn(async move {
                let r = c.post("/teacher/login", &[("name", &name), ("password", &password)]).await;
                r.location.unwrap_or_else(|| format!("status {}", r.status))
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_guesses_evaluates_at_most_the_limit_and_the_teacher_still_signs_in() {
    let f = fixture();
    let _ = teacher(&f).await;
    let attacker = client_at(&f.router, "10.0.0.66").await;
    let before = f.app.passwords.evaluations();
    let answers = burst(&attacker, 200, |_| ("Mme Durand".into(), "devine".into())).await;
    assert!(
        answers.iter().all(
            |a| a == "/teacher/login?name=Mme+Durand&error=1" || a == "/teacher/login?name=Mme+Durand&error=locked"
        ),
        "{answers:?}"
    );
    assert!(answers.iter().filter(|a| a.ends_with("locked")).count() >= 195);
    // Then guesses one after the other, until the lock.
    let mut a = attacker;
    for _ in 0..10 {
        a.post("/teacher/login", &[("name", "Mme Durand"), ("password", "devine")]).await;
    }
    let evaluated = f.app.passwords.evaluations() - before;
    assert!(evaluated <= Attempts::FREE_FAILURES as u64, "{evaluated} passwords checked for a limit of 5");

    // The attacker's client is locked, even with the right password...
    let r = a.post("/teacher/login", &[("name", "Mme Durand"), ("password", "motdepasse1")]).await;
    assert_eq!(r.location.as_deref(), Some("/teacher/login?name=Mme+Durand&error=locked"));
    // ...while the teacher, from her own computer, signs in during a second wave.
    let attack = {
        let a = Client { router: a.router.clone(), cookies: a.cookies.clone(), origin: None, peer: a.peer };
        tokio::spawn(async move { burst(&a, 100, |_| ("Mme Durand".into(), "devine".into())).await })
    };
    let mut t = client_at(&f.router, "10.0.0.5").await;
    let r = t.post("/teacher/login", &[("name", "Mme Durand"), ("password", "motdepasse1")]).await;
    assert_eq!(r.location.as_deref(), Some("/teacher/"), "{}", r.body);
    assert!(t.get("/teacher/").await.body.contains("Mme Durand"));
    attack.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_names_from_one_client_are_limited_too() {
    let f = fixture();
    let _ = teacher(&f).await;
    let attacker = client_at(&f.router, "10.0.0.66").await;
    let before = f.app.passwords.evaluations();
    // 300 distinct names, 16 at a time: the old per-name lockout never triggered.
    for wave in 0..300 / 16 + 1 {
        burst(&attacker, 16, |i| (format!("nom-{wave}-{i}"), "devine".into())).await;
    }
    let evaluated = f.app.passwords.evaluations() - before;
    assert!(evaluated <= Attempts::FREE_PER_CLIENT as u64, "{evaluated} checks for one client");
    // Unknown names still cost a real check while the client is allowed to try.
    assert!(evaluated >= Attempts::FREE_FAILURES as u64, "{evaluated}");
}

#[tokio::test]
async fn the_setup_code_limiter_is_per_client_and_the_card_code_always_works() {
    let f = fixture();
    let wrong = [("code", "00000000"), ("name", "X"), ("password", "motdepasse1"), ("password2", "motdepasse1")];
    let mut a = Client::at(f.router.clone(), "10.0.0.66");
    for _ in 0..10 {
        a.post("/teacher/setup", &wrong).await;
    }
    assert_eq!(a.post("/teacher/setup", &wrong).await.location.as_deref(), Some("/teacher/setup?name=X&error=locked"));
    // Another client is not locked by the first one's guesses.
    let mut b = Client::at(f.router.clone(), "10.0.0.5");
    assert_eq!(b.post("/teacher/setup", &wrong).await.location.as_deref(), Some("/teacher/setup?name=X&error=code"));
    // The code written in preau.toml (physical access) works even for the locked client.
    let card =
        [("code", "24681357"), ("name", "Mme Durand"), ("password", "motdepasse1"), ("password2", "motdepasse1")];
    assert_eq!(a.post("/teacher/setup", &card).await.location.as_deref(), Some("/teacher/"));
}

#[tokio::test]
async fn a_csrf_token_the_box_did_not_issue_is_refused() {
    let f = fixture();
    let _ = teacher(&f).await;
    let made_up = "0123456789abcdef0123456789abcdef";
    let req = Request::post("/teacher/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, format!("preau_csrf={made_up}"));
    let before = f.app.passwords.evaluations();
    let mut c = Client::new(f.router.clone());
    c.cookies.clear();
    let r = c.send(req, Body::from(format!("csrf={made_up}&name=Mme+Durand&password=devine"))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.location);
    assert_eq!(f.app.passwords.evaluations(), before, "no password check for a forged form");
}

#[tokio::test]
async fn sessions_expire_on_the_server() {
    let f = fixture();
    let mut t = teacher(&f).await;
    let (_class, alice, _bob) = class_with_pupils(&mut t, &f).await;
    // A pupil session dated 30 days back, its cookie still in a browser.
    let old = "0123456789abcdef0123456789abcdef";
    f.app.store().create_session(Who::Pupil(alice), old, f.app.now() - 30 * 24 * 3600).unwrap();
    let mut p = Client::new(f.router.clone());
    p.cookies.insert("preau_session".into(), old.into());
    assert_eq!(
        p.get("/pupil/").await.location.as_deref(),
        Some("/login?next=%2Fpupil%2F"),
        "an expired session is refused"
    );
    assert_eq!(f.app.store().session(old).unwrap(), None, "and deleted");
    // Correcting the box's clock moves sessions with it: nobody is signed out by it.
    assert_eq!(t.get("/teacher/").await.status, StatusCode::OK);
    f.app.set_clock_offset(3 * 86_400).unwrap();
    assert_eq!(t.get("/teacher/").await.status, StatusCode::OK);
    // A teacher idle for three hours is signed out: the session's last request is moved
    // back in time (as if the teacher had left the computer signed in).
    let token = t.cookies["preau_session"].clone();
    f.app.backdate_teacher_activity(&token, 3 * 3600);
    assert_eq!(t.get("/teacher/").await.location.as_deref(), Some("/teacher/login?next=%2Fteacher%2F"));
    assert_eq!(f.app.store().session(&token).unwrap(), None, "and deleted");
}

#[tokio::test]
async fn a_teacher_ends_all_sessions() {
    let f = fixture();
    let mut t = teacher(&f).await;
    let (_class, alice, _bob) = class_with_pupils(&mut t, &f).await;
    let mut p = pupil(&f, alice, None).await;
    assert_eq!(p.get("/pupil/").await.status, StatusCode::OK);
    let admin = t.get("/admin/").await;
    assert!(admin.body.contains("/admin/sessions/end"), "the button is on the admin page");
    let r = t.post("/admin/sessions/end", &[]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "needs the confirmation box");
    let r = t.post("/admin/sessions/end", &[("confirm", "yes")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(p.get("/pupil/").await.location.as_deref(), Some("/login?next=%2Fpupil%2F"), "the pupil is signed out");
    assert_eq!(t.get("/teacher/").await.status, StatusCode::OK, "the teacher keeps this session");
}

/// The demo fixture with `quotas`.
fn fixture_with(quotas: super::web::Quotas) -> super::tests::Fixture {
    let dir = tempfile::tempdir().unwrap();
    let ctx = super::testkit::demo_context(dir.path());
    let store = super::open_store(&ctx).unwrap();
    let mut app = super::App::new(ctx, store);
    app.quotas = quotas;
    let app = std::sync::Arc::new(app);
    super::tests::Fixture { router: super::routes(app.clone()), app, _dir: dir }
}

/// Hands in `bytes` bytes as a file for the demo assignment.
async fn hand_in(p: &mut Client, bytes: usize) -> super::testkit::Resp {
    let token = p.cookies["preau_csrf"].clone();
    let b = "XBOUNDARYX";
    let body = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{token}\r\n--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"fiche.txt\"\r\nContent-Type: text/plain\r\n\r\n{}\r\n--{b}--\r\n",
        "x".repeat(bytes)
    );
    let req = Request::post(format!("/packs/{}/_assign/devoir-1", super::testkit::DEMO))
        .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={b}"));
    p.send(req, Body::from(body)).await
}

#[tokio::test]
async fn upload_quotas_per_pupil_and_class_and_the_free_space_floor_hold() {
    let quotas = super::web::Quotas { pupil_bytes: 250_000, class_bytes: 300_000, free_floor_bytes: 0 };
    let f = fixture_with(quotas);
    let mut t = teacher(&f).await;
    let (_class, alice, bob) = class_with_pupils(&mut t, &f).await;
    let mut a = pupil(&f, alice, None).await;
    a.get(&format!("/packs/{}/_assign/devoir-1", super::testkit::DEMO)).await;
    assert_eq!(hand_in(&mut a, 90_000).await.status, StatusCode::OK);
    assert_eq!(hand_in(&mut a, 90_000).await.status, StatusCode::OK);
    let r = hand_in(&mut a, 90_000).await;
    assert_eq!(r.status, StatusCode::INSUFFICIENT_STORAGE, "the pupil's quota");
    assert!(r.body.contains("trop de fichiers"), "{}", r.body);
    // Bob, same class: 180 kB used by the class, 300 kB allowed.
    let mut b = pupil(&f, bob, Some("4321")).await;
    b.get(&format!("/packs/{}/_assign/devoir-1", super::testkit::DEMO)).await;
    assert_eq!(hand_in(&mut b, 90_000).await.status, StatusCode::OK);
    let r = hand_in(&mut b, 90_000).await;
    assert_eq!(r.status, StatusCode::INSUFFICIENT_STORAGE, "the class's quota");
    assert!(r.body.contains("Ta classe"), "{}", r.body);
    assert_eq!(f.app.store().upload_bytes(alice).unwrap(), (180_000, 270_000));

    // The free-space floor, against the real file system of the data folder.
    let f = fixture_with(super::web::Quotas { free_floor_bytes: u64::MAX, ..super::web::Quotas::default() });
    let mut t = teacher(&f).await;
    let (_class, alice, _bob) = class_with_pupils(&mut t, &f).await;
    let mut a = pupil(&f, alice, None).await;
    a.get(&format!("/packs/{}/_assign/devoir-1", super::testkit::DEMO)).await;
    let r = hand_in(&mut a, 10).await;
    assert_eq!(r.status, StatusCode::INSUFFICIENT_STORAGE);
    assert!(r.body.contains("presque pleine"), "{}", r.body);
}

#[tokio::test]
async fn progress_only_for_pages_of_the_pack() {
    let f = fixture();
    let mut t = teacher(&f).await;
    let (_class, alice, _bob) = class_with_pupils(&mut t, &f).await;
    let mut p = pupil(&f, alice, None).await;
    let demo = super::testkit::DEMO;
    let invented = format!("/pupil/done/{demo}/{}", "x".repeat(900));
    assert_eq!(p.post(&invented, &[]).await.status, StatusCode::NOT_FOUND);
    p.get(&format!("/pupil/open/{demo}/nulle-part.html")).await;
    let outbox_before = f.app.store().events(alice).unwrap().len();
    assert_eq!(outbox_before, 0, "no event for invented paths");
    assert_eq!(p.post(&format!("/pupil/done/{demo}/index.html"), &[]).await.status, StatusCode::SEE_OTHER);
    assert_eq!(f.app.store().events(alice).unwrap().len(), 1);
}

#[tokio::test]
async fn a_hand_written_folder_quiz_cannot_inject_into_the_box_pages() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = super::testkit::demo_context(dir.path());
    let packs = super::testkit::MemPacks::default();
    let (info, mut files) = super::testkit::demo_pack();
    let mut q: serde_json::Value = serde_json::from_slice(&files["_preau/quiz/quiz-1.json"]).unwrap();
    q["id"] = "x".into();
    q["intro_html"] = r#"<meta http-equiv="refresh" content="0;url=http://evil.example/">Intro"#.into();
    q["questions"][0]["text_html"] = r#"<div style="position:fixed;top:0;left:0;width:100%;height:100%;z-index:9999">Voile</div><form action="/admin/teachers" method="post"><input name="name" value="intrus"><button>OK</button></form><script>document.title='pwned'</script>Question ?"#.into();
    files.insert("_preau/quiz/x.json".into(), serde_json::to_vec(&q).unwrap());
    packs.add(info, files);
    ctx.packs = std::sync::Arc::new(packs);
    let store = super::open_store(&ctx).unwrap();
    let app = std::sync::Arc::new(super::App::new(ctx, store));
    let f = super::tests::Fixture { router: super::routes(app.clone()), app, _dir: dir };
    let mut t = teacher(&f).await;
    let (_class, alice, _bob) = class_with_pupils(&mut t, &f).await;
    let mut p = pupil(&f, alice, None).await;
    let page = p.get(&format!("/packs/{}/_quiz/x", super::testkit::DEMO)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Question ?") && page.body.contains("Voile"), "the text is kept");
    for bad in ["http-equiv", "evil.example", "position:fixed", "z-index", "/admin/teachers", "intrus", "pwned"] {
        assert!(!page.body.contains(bad), "{bad} reached the page");
    }
}

#[tokio::test]
async fn a_blank_submission_does_not_reveal_right_answers() {
    let f = super::tests::fixture_with_quiz("deux", |q| q["attempts_allowed"] = 2.into());
    let mut t = teacher(&f).await;
    let (_class, alice, _bob) = class_with_pupils(&mut t, &f).await;
    let mut p = pupil(&f, alice, None).await;
    let demo = super::testkit::DEMO;
    // A blank submission is not an attempt at all (issue 15): the form comes back.
    let r = p.post(&format!("/packs/{demo}/_quiz/deux"), &[("n", "0"), ("step", "finish")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("aucune question") && !r.body.contains("Paris"), "{}", r.body);
    assert_eq!(f.app.store().attempt_count(alice, demo, "deux").unwrap(), 0);
    // Nearly blank ones (one wrong answer) do not reveal the others' right answers.
    for (quiz, n) in [("quiz-1", "0"), ("quiz-1", "1"), ("deux", "0")] {
        let r = p.post(&format!("/packs/{demo}/_quiz/{quiz}"), &[("n", n), ("q2", "Lyon")]).await;
        let shown = p.get(&r.location.expect("an attempt")).await;
        assert!(!shown.body.contains("Bonne réponse"), "{quiz} attempt {n}: {}", shown.body);
        assert!(!shown.body.contains("Paris"), "{quiz} attempt {n}");
    }
    // The last allowed attempt shows them.
    let r = p.post(&format!("/packs/{demo}/_quiz/deux"), &[("n", "1"), ("q2", "Lyon")]).await;
    let last = p.get(&r.location.expect("an attempt")).await;
    assert!(last.body.contains("Bonne réponse") && last.body.contains("Paris"), "{}", last.body);
}

/// The demo pack with two copies of its quiz carrying Moodle review options.
async fn review_fixture() -> (super::tests::Fixture, Client, Client) {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = super::testkit::demo_context(dir.path());
    let packs = super::testkit::MemPacks::default();
    let (info, mut files) = super::testkit::demo_pack();
    let base: serde_json::Value = serde_json::from_slice(&files["_preau/quiz/quiz-1.json"]).unwrap();
    // `rev`: right answers and general feedback immediately after, no specific feedback;
    // no attempt limit (today's rule would never show right answers).
    // `rev1`: right answers only later while open, specific feedback immediately after,
    // no general feedback; one attempt (today's rule would show right answers).
    for (id, limit, review) in [
        ("rev", None, serde_json::json!({"right_answer": 0x1000, "specific_feedback": 0, "general_feedback": 0x1000})),
        (
            "rev1",
            Some(1),
            serde_json::json!({"right_answer": 0x100, "specific_feedback": 0x1000, "general_feedback": 0}),
        ),
    ] {
        let mut q = base.clone();
        q["id"] = id.into();
        q["questions"][2]["general_feedback_html"] = "<p>GENERALE</p>".into();
        if let Some(l) = limit {
            q["attempts_allowed"] = l.into();
        }
        q["review"] = review;
        files.insert(format!("_preau/quiz/{id}.json"), serde_json::to_vec(&q).unwrap());
    }
    // `notes`: marks immediately after only, correctness never.
    let mut q = base.clone();
    q["id"] = "notes".into();
    q["review"] = serde_json::json!({"marks": 0x1000, "correctness": 0});
    files.insert("_preau/quiz/notes.json".into(), serde_json::to_vec(&q).unwrap());
    // `premier`: graded on the first attempt, without review options.
    let mut q = base.clone();
    q["id"] = "premier".into();
    q["grade_method"] = "first".into();
    files.insert("_preau/quiz/premier.json".into(), serde_json::to_vec(&q).unwrap());
    packs.add(info, files);
    ctx.packs = std::sync::Arc::new(packs);
    let store = super::open_store(&ctx).unwrap();
    let app = std::sync::Arc::new(super::App::new(ctx, store));
    let f = super::tests::Fixture { router: super::routes(app.clone()), app, _dir: dir };
    let mut t = teacher(&f).await;
    let (_class, alice, _bob) = class_with_pupils(&mut t, &f).await;
    let p = pupil(&f, alice, None).await;
    (f, t, p)
}

#[tokio::test]
async fn review_options_decide_what_a_pupil_sees_after_an_attempt() {
    let (f, _t, mut p) = review_fixture().await;
    let demo = super::testkit::DEMO;
    // A wrong choice (specific feedback "Non : 3 divisé par 4.") and a wrong capital.
    let wrong = |n: &'static str| [("n", n), ("q0", "0"), ("q2", "Lyon")];
    let r = p.post(&format!("/packs/{demo}/_quiz/rev"), &wrong("0")).await;
    let rev = r.location.expect("an attempt");
    let a = p.get(&rev).await;
    assert!(a.body.contains(r#"id="right-answers""#) && a.body.contains("Paris"), "right answers allowed: {}", a.body);
    assert!(a.body.contains("GENERALE"), "general feedback allowed");
    assert!(!a.body.contains("3 divisé par 4"), "specific feedback not allowed");

    let r = p.post(&format!("/packs/{demo}/_quiz/rev1"), &wrong("0")).await;
    let rev1 = r.location.expect("an attempt");
    let a = p.get(&rev1).await;
    assert!(!a.body.contains("Bonne réponse") && !a.body.contains("Paris"), "only later: {}", a.body);
    assert!(!a.body.contains("GENERALE"), "general feedback not allowed");
    assert!(a.body.contains("3 divisé par 4"), "specific feedback allowed");
    // The attempt limit still holds with review options.
    let r = p.post(&format!("/packs/{demo}/_quiz/rev1"), &wrong("1")).await;
    assert!(r.location.is_none(), "no second attempt");
    assert!(r.body.contains("Tu as utilisé tous tes essais"), "{}", r.body);
    // Three minutes later, the quiz still open: `rev1` shows right answers, `rev` no longer.
    f.app.set_clock_offset(f.app.clock_offset() + 180).unwrap();
    let a = p.get(&rev1).await;
    assert!(a.body.contains(r#"id="right-answers""#) && a.body.contains("Paris"), "later while open: {}", a.body);
    let a = p.get(&rev).await;
    assert!(!a.body.contains("Paris"), "not later: {}", a.body);
}

#[tokio::test]
async fn the_quiz_grade_follows_the_grading_method() {
    let (_f, mut t, mut p) = review_fixture().await;
    let demo = super::testkit::DEMO;
    // First attempt 0 / 6, second 4 / 6 (the essay waits for the teacher); the quiz is on 20.
    p.post(&format!("/packs/{demo}/_quiz/premier"), &[("n", "0"), ("q0", "0"), ("q2", "Lyon")]).await;
    let right = [("n", "1"), ("q0", "1"), ("q1", "true"), ("q2", "Paris"), ("q3", "12")];
    p.post(&format!("/packs/{demo}/_quiz/premier"), &right).await;
    let results = t.get("/teacher/results").await;
    assert!(results.body.contains(">4 / 6</a>") && results.body.contains(">0 / 6</a>"), "{}", results.body);
    // Graded on the first attempt: 0, not the best (13.33).
    assert_eq!(results.body.matches(r#"<td class="grade">0</td>"#).count(), 2, "{}", results.body);
    assert!(!results.body.contains("13.33") && !results.body.contains("13,33"), "{}", results.body);
    let csv = t.get("/teacher/results.csv").await;
    assert!(csv.body.contains("quiz grade") || csv.body.contains("note du quiz"), "{}", csv.body);
    let rows: Vec<&str> = csv.body.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{}", csv.body);
    assert!(rows.iter().all(|r| r.trim_end().ends_with(";0")), "{}", csv.body);
}

#[tokio::test]
async fn the_teacher_releases_right_answers_and_sets_the_attempt_limit() {
    let (_f, mut t, mut p) = review_fixture().await;
    let demo = super::testkit::DEMO;
    let quiz = format!("/packs/{demo}/_quiz/quiz-1");
    let r = p.post(&quiz, &[("n", "0"), ("q2", "Lyon")]).await;
    let first = r.location.expect("an attempt");
    let a = p.get(&first).await;
    assert!(!a.body.contains("Bonne réponse") && !a.body.contains("Paris"), "not released, no limit: {}", a.body);
    let results = t.get("/teacher/results").await;
    assert!(results.body.contains("Montrer les bonnes réponses"), "{}", results.body);
    let settings = format!("/teacher/quiz/{demo}/quiz-1/settings");
    let r = t.post(&settings, &[("attempts", "deux")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("essais invalide"), "{}", r.body);
    assert_eq!(t.post(&format!("/teacher/quiz/{demo}/absent/settings"), &[]).await.status, StatusCode::NOT_FOUND);
    let r = t.post(&settings, &[("release", "1"), ("attempts", "2")]).await;
    assert_eq!(r.location.as_deref(), Some("/teacher/results"), "{}", r.body);
    let a = p.get(&first).await;
    assert!(a.body.contains("publiées par l") && a.body.contains("Paris"), "released on a past attempt: {}", a.body);
    let r = p.post(&quiz, &[("n", "1"), ("q2", "Lyon")]).await;
    let a = p.get(&r.location.expect("a second attempt")).await;
    assert!(a.body.contains("Bonne réponse") && a.body.contains("Paris"), "released: {}", a.body);
    assert!(!a.body.contains("publiées par l"), "shown once, inline: {}", a.body);
    let r = p.post(&quiz, &[("n", "2")]).await;
    assert!(r.location.is_none() && r.body.contains("Tu as utilisé tous tes essais"), "limit 2: {}", r.body);
    // 0 lifts the limit; the pack itself is untouched.
    t.post(&settings, &[("attempts", "0")]).await;
    assert!(p.post(&quiz, &[("n", "2"), ("q2", "Lyon")]).await.location.is_some(), "unlimited");
    let q = super::player::load_quiz(&_f.app, demo, "quiz-1").unwrap();
    assert_eq!(q.attempts_allowed, None);
}

#[tokio::test]
async fn marks_and_correctness_follow_the_review_options_over_time() {
    let (f, _t, mut p) = review_fixture().await;
    let demo = super::testkit::DEMO;
    let r = p.post(&format!("/packs/{demo}/_quiz/notes"), &[("n", "0"), ("q0", "1"), ("q2", "Lyon")]).await;
    let at = r.location.expect("an attempt");
    let a = p.get(&at).await;
    assert!(a.body.contains(r#"id="score""#) && a.body.contains("1 / 1"), "marks immediately after: {}", a.body);
    assert!(!a.body.contains("question right") && !a.body.contains("question wrong"), "no correctness: {}", a.body);
    assert!(a.body.contains("question answered"), "{}", a.body);
    // Three minutes later, still open: marks are no longer shown.
    f.app.set_clock_offset(f.app.clock_offset() + 180).unwrap();
    let a = p.get(&at).await;
    assert!(!a.body.contains(r#"id="score""#) && !a.body.contains("1 / 1"), "no marks later: {}", a.body);
    // Without review options (the demo quiz), everything as before.
    let r = p.post(&format!("/packs/{demo}/_quiz/quiz-1"), &[("n", "0"), ("q0", "1")]).await;
    let a = p.get(&r.location.expect("an attempt")).await;
    assert!(a.body.contains(r#"id="score""#) && a.body.contains("question right"), "{}", a.body);
}
