use super::*;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("preau.sqlite"), "box-1").unwrap();
    (dir, s)
}

fn essay(q: &str) -> AnswerRecord {
    AnswerRecord { question: q.into(), response: "text".into(), score: None, max: 2.0, feedback: String::new() }
}

fn right(q: &str) -> AnswerRecord {
    AnswerRecord { question: q.into(), response: "b".into(), score: Some(1.0), max: 1.0, feedback: "ok".into() }
}

#[test]
fn migrations_run_once_and_set_wal_and_full_sync() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("preau.sqlite");
    let s = Store::open(&path, "b").unwrap();
    assert_eq!(s.schema_version().unwrap(), schema::MIGRATIONS.len() as i64);
    let mode: String = s.conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    let sync: i64 = s.conn.pragma_query_value(None, "synchronous", |r| r.get(0)).unwrap();
    assert_eq!(sync, 2, "synchronous=FULL");
    s.create_class("CM1").unwrap();
    drop(s);
    // Re-opening does not re-run migration 1 (it would fail on CREATE TABLE).
    let s = Store::open(&path, "b").unwrap();
    assert_eq!(s.classes().unwrap().len(), 1);
}

#[test]
fn deleting_a_pupil_deletes_all_their_records_and_unsent_statements() {
    let (_d, mut s) = store();
    let c = s.create_class("CM1").unwrap();
    let alice = s.create_pupil(c, "Alice").unwrap();
    let bob = s.create_pupil(c, "Bob").unwrap();
    for p in [alice, bob] {
        s.create_session(Who::Pupil(p), &format!("tok{p}"), 1).unwrap();
        s.record_event(p, "opened", "maths", "index.html", 10).unwrap();
        s.save_attempt(p, "maths", "q1", &[right("a"), essay("b")], 11).unwrap();
        s.save_submission(p, "maths", "a1", "my text", Some(("f.txt", "text/plain", b"hi")), 12).unwrap();
    }
    let before = s.outbox_pending(1000).unwrap().len();
    assert!(s.delete_pupil(alice).unwrap());
    let count = |table: &str, col: &str| -> i64 {
        s.conn.query_row(&format!("SELECT count(*) FROM {table} WHERE {col} = ?1"), [alice], |r| r.get(0)).unwrap()
    };
    for (table, col) in [
        ("sessions", "pupil_id"),
        ("events", "pupil_id"),
        ("attempts", "pupil_id"),
        ("submissions", "pupil_id"),
        ("outbox", "pupil_id"),
    ] {
        assert_eq!(count(table, col), 0, "{table} still holds the deleted pupil");
    }
    let orphan_answers: i64 = s
        .conn
        .query_row("SELECT count(*) FROM answers WHERE attempt_id NOT IN (SELECT id FROM attempts)", [], |r| r.get(0))
        .unwrap();
    assert_eq!(orphan_answers, 0);
    // Bob's records are untouched: half the statements remain.
    let after = s.outbox_pending(1000).unwrap().len();
    assert_eq!(after * 2, before);
    assert_eq!(s.session("tok1").unwrap(), None);
    assert_eq!(s.session(&format!("tok{bob}")).unwrap(), Some(Who::Pupil(bob)));
    // Deleting a class takes its pupils with it.
    assert!(s.delete_class(c).unwrap());
    assert_eq!(s.outbox_pending(1000).unwrap().len(), 0);
    assert_eq!(s.pupil(bob).unwrap(), None);
}

#[test]
fn every_event_writes_a_pseudonymous_statement() {
    let (_d, mut s) = store();
    let c = s.create_class("CE2").unwrap();
    let p = s.create_pupil(c, "Zoé Martin").unwrap();
    let uuid = s.pupil(p).unwrap().unwrap().uuid;
    s.record_event(p, "opened", "sci", "a.html", 100).unwrap();
    s.record_event(p, "opened", "sci", "a.html", 101).unwrap(); // progress, not a click log
    s.save_attempt(p, "sci", "q", &[right("x"), right("y")], 102).unwrap();
    s.save_submission(p, "sci", "as", "t", None, 103).unwrap();
    let out = s.outbox_pending(100).unwrap();
    let verbs: Vec<&str> = out.iter().map(|(_, st)| st["verb"]["display"]["en-US"].as_str().unwrap()).collect();
    assert_eq!(verbs, ["opened", "answered", "answered", "completed", "submitted"]);
    for (id, st) in &out {
        assert_eq!(st["id"].as_str().unwrap(), id);
        assert!(uuid::Uuid::parse_str(id).is_ok());
        assert_eq!(st["actor"]["account"]["name"], uuid.as_str());
        assert_eq!(st["actor"]["account"]["homePage"], "urn:preau:box:box-1");
        assert!(!st.to_string().contains("Zoé"), "a name left in a statement: {st}");
    }
    assert_eq!(out[3].1["result"]["score"]["raw"], 2.0);
    let ids: Vec<String> = out.iter().take(2).map(|(id, _)| id.clone()).collect();
    s.mark_sent(&ids, 200).unwrap();
    assert_eq!(s.outbox_pending(100).unwrap().len(), 3);
}

#[test]
fn attempts_score_marking_and_results() {
    let (_d, mut s) = store();
    let c = s.create_class("6e A").unwrap();
    let p = s.create_pupil(c, "Léa").unwrap();
    let a = s.save_attempt(p, "m", "q", &[right("1"), essay("2")], 5).unwrap();
    let att = s.attempt(a).unwrap().unwrap();
    assert_eq!(att.score(), (1.0, 3.0));
    assert!(att.pending());
    let pending = s.pending_answers().unwrap();
    assert_eq!(pending.len(), 1);
    // Marks are clamped to the question's maximum.
    assert!(s.mark_answer(pending[0].answer_id, 5.0, "bien").unwrap());
    let att = s.attempt(a).unwrap().unwrap();
    assert_eq!(att.score(), (3.0, 3.0));
    assert!(!att.pending());
    let rows = s.results(None).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].score, rows[0].max, rows[0].pending), (3.0, 3.0, false));
    assert_eq!(rows[0].pupil, "Léa");
    let stats = s.question_stats(Some(c)).unwrap();
    assert_eq!(stats.len(), 2);
    assert_eq!(stats[0].right, 1);
    assert_eq!(s.attempts_of(p, "m", "q").unwrap(), vec![a]);
}

#[test]
fn limits_and_unique_names() {
    let (_d, s) = store();
    let c = s.create_class("A").unwrap();
    assert!(s.create_class("A").is_err(), "duplicate class name");
    s.create_pupil(c, "Jo").unwrap();
    assert!(s.create_pupil(c, "Jo").is_err(), "duplicate pupil in a class");
    for i in 1..MAX_PUPILS_PER_CLASS {
        s.create_pupil(c, &format!("p{i}")).unwrap();
    }
    let err = s.create_pupil(c, "one too many").unwrap_err();
    assert!(err.to_string().contains("limit"), "{err}");
}

#[test]
fn sessions_keep_roles_apart() {
    let (_d, s) = store();
    let c = s.create_class("A").unwrap();
    let p = s.create_pupil(c, "Jo").unwrap();
    let t = s.create_teacher("prof", "hash").unwrap();
    s.create_session(Who::Pupil(p), "a", 1).unwrap();
    s.create_session(Who::Teacher(t), "b", 100).unwrap();
    assert_eq!(s.session("a").unwrap(), Some(Who::Pupil(p)));
    assert_eq!(s.session("b").unwrap(), Some(Who::Teacher(t)));
    assert_eq!(s.session("c").unwrap(), None);
    assert_eq!(s.expire_sessions(50).unwrap(), 1);
    assert_eq!(s.session("a").unwrap(), None);
}

#[test]
fn old_sessions_are_refused_and_deleted() {
    let (_d, s) = store();
    let c = s.create_class("A").unwrap();
    let p = s.create_pupil(c, "Jo").unwrap();
    let day = 24 * 3600;
    // A pupil session dated 30 days back (issue 14: it still worked).
    s.create_session(Who::Pupil(p), "old", 1_000_000).unwrap();
    s.create_session(Who::Pupil(p), "new", 1_000_000 + 30 * day - 60).unwrap();
    assert_eq!(s.live_session("old", 1_000_000 + 30 * day, 14 * 3600).unwrap(), None);
    assert_eq!(s.session("old").unwrap(), None, "deleted, not just refused");
    assert_eq!(s.live_session("new", 1_000_000 + 30 * day, 14 * 3600).unwrap(), Some(Who::Pupil(p)));
    assert_eq!(s.delete_sessions_except(Some("new")).unwrap(), 0);
    s.create_session(Who::Pupil(p), "other", 1).unwrap();
    assert_eq!(s.delete_sessions_except(Some("new")).unwrap(), 1);
    assert_eq!(s.delete_sessions_except(None).unwrap(), 1);
}

#[test]
fn export_contains_the_pupils_work() {
    let (_d, mut s) = store();
    let c = s.create_class("A").unwrap();
    let p = s.create_pupil(c, "Jo").unwrap();
    s.save_attempt(p, "m", "q", &[right("1")], 5).unwrap();
    s.save_submission(p, "m", "a", "essai", None, 6).unwrap();
    let v = s.export_pupil(p).unwrap().unwrap();
    assert_eq!(v["pupil"]["name"], "Jo");
    assert_eq!(v["attempts"][0]["answers"][0]["response"], "b");
    assert_eq!(v["submissions"][0]["text"], "essai");
    assert_eq!(v["events"][0]["verb"], "completed");
}

#[test]
fn quiz_settings_default_then_stick_per_quiz() {
    let (_d, s) = store();
    assert_eq!(s.quiz_settings("p", "q").unwrap(), QuizSettings::default());
    let set = QuizSettings { release_answers: true, attempts_allowed: Some(3) };
    s.set_quiz_settings("p", "q", &set).unwrap();
    assert_eq!(s.quiz_settings("p", "q").unwrap(), set);
    assert_eq!(s.quiz_settings("p", "other").unwrap(), QuizSettings::default(), "per quiz");
    let back = QuizSettings { release_answers: false, attempts_allowed: None };
    s.set_quiz_settings("p", "q", &back).unwrap();
    assert_eq!(s.quiz_settings("p", "q").unwrap(), back, "an update replaces both");
}
