//! The push against a real SQLite outbox and a scripted transport (no sockets): order,
//! marking, quarantine, retries, stops and retention. The real LRS is in the box's
//! end-to-end test (`box/tests/upstream.rs`).

use std::cell::RefCell;
use std::collections::VecDeque;

use rusqlite::Connection;
use serde_json::{Value, json};

use super::*;

/// The part of the box's schema the push relies on (ARCHITECTURE.md, "Upstream push").
fn make_db(dir: &std::path::Path, n: usize, opened_every: usize) -> std::path::PathBuf {
    let path = dir.join("preau.sqlite");
    let c = Connection::open(&path).unwrap();
    c.execute_batch(
        "CREATE TABLE outbox (id TEXT PRIMARY KEY, pupil_id INTEGER, statement TEXT NOT NULL,
           created INTEGER NOT NULL, sent INTEGER, quarantined TEXT, quarantined_at INTEGER);
         CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
         PRAGMA user_version = 3;",
    )
    .unwrap();
    for i in 0..n {
        let verb = if opened_every > 0 && i % opened_every == 0 {
            "http://activitystrea.ms/schema/1.0/open"
        } else {
            "http://adlnet.gov/expapi/verbs/answered"
        };
        c.execute(
            "INSERT INTO outbox(id, statement, created) VALUES (?1, ?2, ?3)",
            rusqlite::params![uid(i), statement(i, verb).to_string(), i as i64],
        )
        .unwrap();
    }
    path
}

fn uid(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

fn statement(i: usize, verb: &str) -> Value {
    json!({"id": uid(i),
           "actor": {"objectType": "Agent", "account": {"homePage": "urn:preau:box:b", "name": "0f8fad5b-d9cb-469f-a165-70867728950e"}},
           "verb": {"id": verb}, "object": {"objectType": "Activity", "id": format!("urn:preau:pack:p/{i}")},
           "result": {"response": format!("secret answer {i}")},
           "timestamp": "2026-01-01T10:00:00Z"})
}

/// An LRS in a script: each call takes the next canned answer (or `Stored`), and a
/// statement whose object ends with a bad number is refused like a 400 would.
struct Scripted {
    script: VecDeque<Reply>,
    bad: Vec<String>,
    seen: Vec<Vec<Value>>,
    stored: Vec<String>,
}

impl Scripted {
    fn new(script: Vec<Reply>, bad: &[usize]) -> Scripted {
        Scripted { script: script.into(), bad: bad.iter().map(|i| uid(*i)).collect(), seen: vec![], stored: vec![] }
    }
}

impl Transport for Scripted {
    fn post(&mut self, body: &[u8]) -> Reply {
        let batch: Vec<Value> = serde_json::from_slice(body).unwrap();
        self.seen.push(batch.clone());
        if let Some(r) = self.script.pop_front() {
            return r;
        }
        if batch.iter().any(|s| self.bad.iter().any(|b| s["id"] == b.as_str())) {
            return Reply::Rejected("400 bad".into());
        }
        self.stored.extend(batch.iter().map(|s| s["id"].as_str().unwrap().to_string()));
        Reply::Stored
    }
    fn bytes(&self) -> u64 {
        0
    }
    fn requests(&self) -> u64 {
        self.seen.len() as u64
    }
    fn gzip(&self) -> bool {
        false
    }
}

fn opts(send: bool) -> PushOptions {
    let mut o = PushOptions::new(PublishOptions {
        box_id: "b".into(),
        home_page: "https://lrs.example/".into(),
        send_responses: send,
    });
    o.max_batch = 10;
    o
}

fn run(outbox: &mut SqliteOutbox, t: &mut Scripted, o: &PushOptions) -> (PushSummary, Vec<Duration>) {
    let waits = RefCell::new(vec![]);
    let s = push(outbox, t, o, &|| 1_000_000, &|_, _| {}, &|d| {
        waits.borrow_mut().push(d);
        false
    })
    .unwrap();
    (s, waits.into_inner())
}

#[test]
fn everything_goes_once_in_order_without_free_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = make_db(dir.path(), 25, 0);
    let mut ob = SqliteOutbox::open(&path).unwrap();
    let mut t = Scripted::new(vec![], &[]);
    let (s, _) = run(&mut ob, &mut t, &opts(false));
    assert_eq!((s.sent, s.remaining, s.quarantined, s.requests), (25, 0, 0, 3));
    assert_eq!(t.stored, (0..25).map(uid).collect::<Vec<_>>());
    let all = serde_json::to_string(&t.seen).unwrap();
    assert!(!all.contains("secret answer"), "free text left the box");
    assert!(all.contains("https://lrs.example/box/b"));
    assert_eq!(ob.counts().unwrap(), Counts { waiting: 0, sent_total: 25, quarantined: 0, dropped: 0 });
    assert_eq!(ob.status().unwrap().last_success, Some(1_000_000));
    // A second push has nothing to send.
    let mut t2 = Scripted::new(vec![], &[]);
    let (s, _) = run(&mut ob, &mut t2, &opts(false));
    assert_eq!((s.sent, s.requests), (0, 0));
}

#[test]
fn a_refused_statement_is_quarantined_and_the_rest_goes() {
    let dir = tempfile::tempdir().unwrap();
    let path = make_db(dir.path(), 30, 0);
    // One row that is not even JSON is quarantined without being sent.
    Connection::open(&path)
        .unwrap()
        .execute("UPDATE outbox SET statement = 'garbage' WHERE id = ?1", [uid(29)])
        .unwrap();
    let mut ob = SqliteOutbox::open(&path).unwrap();
    let mut t = Scripted::new(vec![Reply::Conflict("409 dup".into())], &[13]);
    let (s, _) = run(&mut ob, &mut t, &opts(true));
    // The 409 on the first batch of 10 halves it; both halves then go (nothing bad in
    // them). The batch holding the bad statement is halved down to it.
    assert_eq!(s.quarantined, 2, "{s:?}");
    assert_eq!(s.sent, 28);
    let q = ob.quarantined(10).unwrap();
    let ids: Vec<&str> = q.iter().map(|(id, _, _)| id.as_str()).collect();
    assert!(ids.contains(&uid(13).as_str()) && ids.contains(&uid(29).as_str()), "{q:?}");
    assert!(q.iter().any(|(_, why, _)| why.contains("400")));
    assert!(q.iter().any(|(_, why, _)| why.contains("not JSON")));
    // With responses on, the text goes as is.
    assert!(serde_json::to_string(&t.seen).unwrap().contains("secret answer 1"));
    // Quarantined statements are never sent again.
    let mut t2 = Scripted::new(vec![], &[]);
    assert_eq!(run(&mut ob, &mut t2, &opts(true)).0.requests, 0);
}

#[test]
fn cuts_back_off_and_resume_where_they_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let path = make_db(dir.path(), 20, 0);
    let mut ob = SqliteOutbox::open(&path).unwrap();
    let cut = || Reply::Retry("cut".into());
    let mut t = Scripted::new(vec![cut(), cut(), cut(), Reply::Stored, cut()], &[]);
    let (s, waits) = run(&mut ob, &mut t, &opts(false));
    assert_eq!((s.sent, s.retries, s.remaining), (20, 4, 0), "{s:?}");
    assert_eq!(waits.len(), 4);
    // Doubling (with jitter 0.5-1): the third wait is longer than the first.
    assert!(waits[2] > waits[0] && waits[2] <= Duration::from_secs(4), "{waits:?}");
    // The scripted `Stored` acknowledged the first batch without the transport storing
    // it; what matters here is that each statement was marked once.
    assert_eq!(ob.counts().unwrap().sent_total, 20);

    // Too many failures in a row: the push gives up, keeps everything waiting, and says why.
    let path2 = make_db(&dir.path().join("x").tap_mkdir(), 5, 0);
    let mut ob2 = SqliteOutbox::open(&path2).unwrap();
    let mut o = opts(false);
    o.max_retries = 2;
    let mut t = Scripted::new(vec![cut(), cut(), cut()], &[]);
    let (s, _) = run(&mut ob2, &mut t, &o);
    assert_eq!((s.sent, s.remaining), (0, 5));
    assert_eq!(s.error.as_deref(), Some("cut"));
    assert_eq!(ob2.status().unwrap().last_error, Some((1_000_000, "cut".into())));
}

#[test]
fn a_configuration_error_stops_without_marking() {
    let dir = tempfile::tempdir().unwrap();
    let path = make_db(dir.path(), 5, 0);
    let mut ob = SqliteOutbox::open(&path).unwrap();
    let mut t = Scripted::new(vec![Reply::Fatal("401 bad credentials".into())], &[]);
    let (s, waits) = run(&mut ob, &mut t, &opts(false));
    assert_eq!((s.sent, s.quarantined, s.remaining, s.requests), (0, 0, 5, 1));
    assert!(waits.is_empty());
    assert!(s.error.unwrap().contains("401"));
}

#[test]
fn retention_deletes_old_sent_and_bounds_a_full_outbox_opened_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = make_db(dir.path(), 100, 4);
    let c = Connection::open(&path).unwrap();
    // 10 sent 40 days ago, 10 sent yesterday.
    c.execute("UPDATE outbox SET sent = ?1 WHERE rowid <= 10", [1_000_000 - 40 * 86_400]).unwrap();
    c.execute("UPDATE outbox SET sent = ?1 WHERE rowid > 10 AND rowid <= 20", [1_000_000 - 86_400]).unwrap();
    let mut ob = SqliteOutbox::open(&path).unwrap();
    let (deleted, dropped) = ob.retain(1_000_000, 30, 60).unwrap();
    assert_eq!(deleted, 10);
    // 90 rows left for a bound of 60: 30 dropped, all of them `opened` (20 such waiting).
    assert_eq!(dropped, 30);
    let left_opened: i64 = c
        .query_row("SELECT count(*) FROM outbox WHERE statement LIKE '%schema/1.0/open%' AND sent IS NULL", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(left_opened, 0, "opened events go first");
    let total: i64 = c.query_row("SELECT count(*) FROM outbox", [], |r| r.get(0)).unwrap();
    assert_eq!(total, 60);
    assert_eq!(ob.counts().unwrap().dropped, 30);
}

#[test]
fn an_old_database_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("preau.sqlite");
    Connection::open(&path).unwrap().execute_batch("PRAGMA user_version = 2; CREATE TABLE t(x);").unwrap();
    let e = SqliteOutbox::open(&path).err().unwrap().to_string();
    assert!(e.contains("schema version 2"), "{e}");
    let e = SqliteOutbox::open(&dir.path().join("none.sqlite")).err().unwrap().to_string();
    assert!(e.contains("no learner database"), "{e}");
}

trait TapMkdir {
    fn tap_mkdir(self) -> Self;
}
impl TapMkdir for std::path::PathBuf {
    fn tap_mkdir(self) -> Self {
        std::fs::create_dir_all(&self).unwrap();
        self
    }
}
