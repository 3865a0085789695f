//! Learner records: one SQLite file (`DATA/preau.sqlite`) in WAL mode with
//! `synchronous=FULL`, so every transaction that returned is on the card when the plug is
//! pulled. Every function that records a pupil action commits before returning; the
//! HTTP layer answers with success only after that.
//!
//! Each learning event also writes an xAPI statement into `outbox` in the *same*
//! transaction: the record and its statement exist together or not at all.

mod review;
pub(crate) mod schema;
#[cfg(test)]
mod tests;
mod work;

pub use review::{AnswerRow, MAX_OWN_QUIZZES, SubmissionRow, TeacherMark};
pub use work::{MAX_WORK_ITEMS, MAX_WORKS_PER_CLASS, NewWork, Work, WorkItem};

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde_json::{Value, json};

pub use rusqlite::Error;
pub type Result<T> = rusqlite::Result<T>;

use super::xapi;

/// Bounds on what the store accepts (names shown on pages, CSV imports).
pub const MAX_NAME_CHARS: usize = 60;
pub const MAX_CLASSES: i64 = 200;
pub const MAX_PUPILS_PER_CLASS: i64 = 100;

#[derive(Debug, Clone, PartialEq)]
pub struct Class {
    pub id: i64,
    pub name: String,
    pub pupils: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pupil {
    pub id: i64,
    pub uuid: String,
    pub class_id: i64,
    pub name: String,
    pub code: Option<String>,
    pub code_kind: String,
}

/// Who a session belongs to. The two roles never mix: a session is one or the other.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Who {
    Pupil(i64),
    Teacher(i64),
}

/// One scored answer, as the quiz player hands it to the store.
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerRecord {
    pub question: String,
    pub response: String,
    /// `None` when a teacher must mark it (essay).
    pub score: Option<f64>,
    pub max: f64,
    pub feedback: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub id: i64,
    pub pupil_id: i64,
    pub pack: String,
    pub quiz: String,
    pub at: i64,
    /// Seconds the answers arrived after a timed quiz's limit (and its grace); 0 if on time.
    pub over_time: i64,
    pub answers: Vec<(i64, AnswerRecord)>,
    /// Teachers' marks, by answer id.
    pub marks: std::collections::HashMap<i64, TeacherMark>,
}

impl Attempt {
    /// Points so far and the maximum; answers waiting for marking count as 0.
    pub fn score(&self) -> (f64, f64) {
        let got = self.answers.iter().map(|(_, a)| a.score.unwrap_or(0.0)).sum();
        let max = self.answers.iter().map(|(_, a)| a.max).sum();
        (got, max)
    }
    pub fn pending(&self) -> bool {
        self.answers.iter().any(|(_, a)| a.score.is_none())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    pub id: i64,
    pub pupil_id: i64,
    pub pack: String,
    pub assign: String,
    pub text: String,
    pub file_name: Option<String>,
    pub file_size: i64,
    pub at: i64,
    pub mark: Option<f64>,
    pub comment: String,
}

/// A file a pupil handed in.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmittedFile {
    pub pupil_id: i64,
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// One line of the results table (dashboard and CSV export).
#[derive(Debug, Clone, PartialEq)]
pub struct ResultRow {
    pub class: String,
    pub pupil_id: i64,
    pub pupil: String,
    pub pack: String,
    pub quiz: String,
    pub attempt_id: i64,
    pub at: i64,
    pub score: f64,
    pub max: f64,
    pub pending: bool,
}

/// A teacher's choices for one quiz on this box.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuizSettings {
    /// Pupils see the right answers of their attempts, whatever the pack says.
    pub release_answers: bool,
    /// `None`: the pack's attempt limit; `Some(0)`: unlimited; `Some(n)`: n attempts.
    pub attempts_allowed: Option<u32>,
}

/// Per question: how many answers, how many fully right, mean score ratio.
#[derive(Debug, Clone, PartialEq)]
pub struct QuestionStat {
    pub pack: String,
    pub quiz: String,
    pub question: String,
    pub answers: i64,
    pub right: i64,
    pub mean: f64,
}

/// An essay answer waiting for the teacher.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingAnswer {
    pub answer_id: i64,
    pub pupil: String,
    pub pack: String,
    pub quiz: String,
    pub question: String,
    pub response: String,
    pub max: f64,
}

/// What the box knows of an installed pack, looked up when a statement is written.
pub type PackVersions = Box<dyn Fn(&str) -> Option<xapi::PackRef> + Send>;

pub struct Store {
    conn: Connection,
    box_id: String,
    pack_versions: Option<PackVersions>,
}

impl Store {
    /// Opens (creating if needed) the database and brings its schema up to date.
    pub fn open(path: &Path, box_id: &str) -> Result<Store> {
        let conn = Connection::open(path)?;
        // WAL: readers don't block the writer. FULL: the WAL is fsynced at each commit,
        // which is what makes a committed pupil action survive a power cut.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let mut store = Store { conn, box_id: box_id.to_string(), pack_versions: None };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<()> {
        let version: i64 = self.conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(())
    }

    pub fn schema_version(&self) -> Result<i64> {
        self.conn.pragma_query_value(None, "user_version", |r| r.get(0))
    }

    pub fn box_id(&self) -> &str {
        &self.box_id
    }

    /// How statements learn the version (and source) of the pack they are about.
    pub fn set_pack_versions(&mut self, f: PackVersions) {
        self.pack_versions = Some(f);
    }

    /// The facts a statement carries besides the event: the box, the pack's version, and
    /// whether the clock was ever set (a teacher recorded an offset, or the time is past
    /// [`xapi::CLOCK_FLOOR`]).
    fn origin(&self, pack: &str, now: i64) -> Result<xapi::Origin> {
        let clock_set = now >= xapi::CLOCK_FLOOR || self.setting("clock_offset")?.is_some();
        Ok(xapi::Origin {
            box_id: self.box_id.clone(),
            pack: self.pack_versions.as_ref().and_then(|f| f(pack)),
            clock_set,
        })
    }

    // ---- per-quiz settings ----

    /// The teacher's choices for one quiz (defaults when none was made).
    pub fn quiz_settings(&self, pack: &str, quiz: &str) -> Result<QuizSettings> {
        Ok(self
            .conn
            .query_row(
                "SELECT release_answers, attempts_allowed FROM quiz_settings WHERE pack = ?1 AND quiz = ?2",
                params![pack, quiz],
                |r| Ok(QuizSettings { release_answers: r.get::<_, i64>(0)? != 0, attempts_allowed: r.get(1)? }),
            )
            .optional()?
            .unwrap_or_default())
    }

    pub fn set_quiz_settings(&self, pack: &str, quiz: &str, s: &QuizSettings) -> Result<()> {
        self.conn.execute(
            "INSERT INTO quiz_settings(pack, quiz, release_answers, attempts_allowed) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(pack, quiz) DO UPDATE SET release_answers = excluded.release_answers,
                                                   attempts_allowed = excluded.attempts_allowed",
            params![pack, quiz, s.release_answers as i64, s.attempts_allowed],
        )?;
        Ok(())
    }

    // ---- settings ----

    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        self.conn.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0)).optional()
    }

    pub fn set_setting(&self, key: &str, value: Option<&str>) -> Result<()> {
        match value {
            Some(v) => self.conn.execute(
                "INSERT INTO settings(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, v],
            )?,
            None => self.conn.execute("DELETE FROM settings WHERE key = ?1", [key])?,
        };
        Ok(())
    }

    // ---- classes and pupils ----

    pub fn create_class(&self, name: &str) -> Result<i64> {
        let count: i64 = self.conn.query_row("SELECT count(*) FROM classes", [], |r| r.get(0))?;
        if count >= MAX_CLASSES {
            return Err(limit_error("too many classes"));
        }
        self.conn.execute("INSERT INTO classes(name) VALUES (?1)", [name])?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn rename_class(&self, id: i64, name: &str) -> Result<bool> {
        Ok(self.conn.execute("UPDATE classes SET name = ?2 WHERE id = ?1", params![id, name])? == 1)
    }

    /// Deletes the class, its pupils and everything recorded about them.
    pub fn delete_class(&self, id: i64) -> Result<bool> {
        Ok(self.conn.execute("DELETE FROM classes WHERE id = ?1", [id])? == 1)
    }

    pub fn classes(&self) -> Result<Vec<Class>> {
        let mut st = self.conn.prepare(
            "SELECT c.id, c.name, (SELECT count(*) FROM pupils p WHERE p.class_id = c.id)
             FROM classes c ORDER BY c.name COLLATE NOCASE",
        )?;
        let rows = st.query_map([], |r| Ok(Class { id: r.get(0)?, name: r.get(1)?, pupils: r.get(2)? }))?;
        rows.collect()
    }

    pub fn class(&self, id: i64) -> Result<Option<Class>> {
        self.conn
            .query_row(
                "SELECT c.id, c.name, (SELECT count(*) FROM pupils p WHERE p.class_id = c.id)
                 FROM classes c WHERE c.id = ?1",
                [id],
                |r| Ok(Class { id: r.get(0)?, name: r.get(1)?, pupils: r.get(2)? }),
            )
            .optional()
    }

    pub fn create_pupil(&self, class_id: i64, name: &str) -> Result<i64> {
        let count: i64 =
            self.conn.query_row("SELECT count(*) FROM pupils WHERE class_id = ?1", [class_id], |r| r.get(0))?;
        if count >= MAX_PUPILS_PER_CLASS {
            return Err(limit_error("too many pupils in this class"));
        }
        let uuid = uuid::Uuid::new_v4().to_string();
        self.conn
            .execute("INSERT INTO pupils(uuid, class_id, name) VALUES (?1, ?2, ?3)", params![uuid, class_id, name])?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn rename_pupil(&self, id: i64, name: &str) -> Result<bool> {
        Ok(self.conn.execute("UPDATE pupils SET name = ?2 WHERE id = ?1", params![id, name])? == 1)
    }

    /// Sets or clears the pupil's sign-in code. `kind` is `none`, `digits` or `pictures`.
    pub fn set_pupil_code(&self, id: i64, code: Option<&str>, kind: &str) -> Result<bool> {
        let kind = if code.is_none() { "none" } else { kind };
        Ok(self.conn.execute("UPDATE pupils SET code = ?2, code_kind = ?3 WHERE id = ?1", params![id, code, kind])?
            == 1)
    }

    /// Deletes the pupil and, by cascade, their sessions, events, attempts, answers,
    /// submissions and outbox statements (RGPD: delete means delete).
    pub fn delete_pupil(&self, id: i64) -> Result<bool> {
        Ok(self.conn.execute("DELETE FROM pupils WHERE id = ?1", [id])? == 1)
    }

    pub fn pupils(&self, class_id: i64) -> Result<Vec<Pupil>> {
        let mut st = self.conn.prepare(
            "SELECT id, uuid, class_id, name, code, code_kind FROM pupils
             WHERE class_id = ?1 ORDER BY name COLLATE NOCASE",
        )?;
        let rows = st.query_map([class_id], pupil_row)?;
        rows.collect()
    }

    pub fn pupil(&self, id: i64) -> Result<Option<Pupil>> {
        self.conn
            .query_row("SELECT id, uuid, class_id, name, code, code_kind FROM pupils WHERE id = ?1", [id], pupil_row)
            .optional()
    }

    // ---- teachers and sessions ----

    pub fn teacher_count(&self) -> Result<i64> {
        self.conn.query_row("SELECT count(*) FROM teachers", [], |r| r.get(0))
    }

    pub fn create_teacher(&self, name: &str, password_hash: &str) -> Result<i64> {
        self.conn.execute("INSERT INTO teachers(name, password_hash) VALUES (?1, ?2)", params![name, password_hash])?;
        Ok(self.conn.last_insert_rowid())
    }

    /// (id, password hash) of the teacher with this name.
    pub fn teacher_by_name(&self, name: &str) -> Result<Option<(i64, String)>> {
        self.conn
            .query_row("SELECT id, password_hash FROM teachers WHERE name = ?1", [name], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
    }

    /// (id, name) of every teacher, by name.
    pub fn teachers(&self) -> Result<Vec<(i64, String)>> {
        let mut st = self.conn.prepare("SELECT id, name FROM teachers ORDER BY name COLLATE NOCASE")?;
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect()
    }

    /// Replaces a teacher's password hash and ends their sessions except `keep` (the
    /// one that changed it), so a leaked session dies with the old password.
    pub fn set_teacher_password(&self, id: i64, password_hash: &str, keep: Option<&str>) -> Result<bool> {
        let n =
            self.conn.execute("UPDATE teachers SET password_hash = ?2 WHERE id = ?1", params![id, password_hash])?;
        self.conn.execute("DELETE FROM sessions WHERE teacher_id = ?1 AND token IS NOT ?2", params![id, keep])?;
        Ok(n == 1)
    }

    /// Deletes a teacher account (their sessions go with it).
    pub fn delete_teacher(&self, id: i64) -> Result<bool> {
        Ok(self.conn.execute("DELETE FROM teachers WHERE id = ?1", [id])? == 1)
    }

    pub fn teacher_name(&self, id: i64) -> Result<Option<String>> {
        self.conn.query_row("SELECT name FROM teachers WHERE id = ?1", [id], |r| r.get(0)).optional()
    }

    pub fn create_session(&self, who: Who, token: &str, now: i64) -> Result<()> {
        let (pupil, teacher) = match who {
            Who::Pupil(id) => (Some(id), None),
            Who::Teacher(id) => (None, Some(id)),
        };
        self.conn.execute(
            "INSERT INTO sessions(token, pupil_id, teacher_id, created) VALUES (?1, ?2, ?3, ?4)",
            params![token, pupil, teacher, now],
        )?;
        Ok(())
    }

    pub fn session(&self, token: &str) -> Result<Option<Who>> {
        let row: Option<(Option<i64>, Option<i64>)> = self
            .conn
            .query_row("SELECT pupil_id, teacher_id FROM sessions WHERE token = ?1", [token], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        Ok(match row {
            Some((Some(p), None)) => Some(Who::Pupil(p)),
            Some((None, Some(t))) => Some(Who::Teacher(t)),
            _ => None,
        })
    }

    /// The session of `token` if it is younger than `max_age` seconds at `now`; an older
    /// one is deleted (a stolen or forgotten cookie stops working on the server, whatever
    /// the browser keeps).
    pub fn live_session(&self, token: &str, now: i64, max_age: i64) -> Result<Option<Who>> {
        let row: Option<(Option<i64>, Option<i64>, i64)> = self
            .conn
            .query_row("SELECT pupil_id, teacher_id, created FROM sessions WHERE token = ?1", [token], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        Ok(match row {
            Some((_, _, created)) if now - created >= max_age || created > now + 300 => {
                self.delete_session(token)?;
                None
            }
            Some((Some(p), None, _)) => Some(Who::Pupil(p)),
            Some((None, Some(t), _)) => Some(Who::Teacher(t)),
            _ => None,
        })
    }

    /// Moves every session's start by `delta` seconds (the box's clock was corrected).
    pub fn shift_sessions(&self, delta: i64) -> Result<usize> {
        self.conn.execute("UPDATE sessions SET created = created + ?1", [delta])
    }

    /// Ends every session but `keep` (a teacher's "sign out every device").
    pub fn delete_sessions_except(&self, keep: Option<&str>) -> Result<usize> {
        self.conn.execute("DELETE FROM sessions WHERE token IS NOT ?1", [keep])
    }

    pub fn delete_session(&self, token: &str) -> Result<()> {
        self.conn.execute("DELETE FROM sessions WHERE token = ?1", [token])?;
        Ok(())
    }

    /// Forgets sessions older than `before` (a school day is the longest one needs).
    pub fn expire_sessions(&self, before: i64) -> Result<usize> {
        self.conn.execute("DELETE FROM sessions WHERE created < ?1", [before])
    }

    // ---- learning events ----

    /// Records `verb` (`opened`, `completed`) on a pack path, with its xAPI statement.
    /// `opened` is recorded once per pupil and path: progress, not a click log.
    pub fn record_event(&mut self, pupil_id: i64, verb: &str, pack: &str, path: &str, now: i64) -> Result<()> {
        let origin = self.origin(pack, now)?;
        let tx = self.conn.transaction()?;
        let seen: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM events WHERE pupil_id=?1 AND verb=?2 AND pack=?3 AND path=?4)",
            params![pupil_id, verb, pack, path],
            |r| r.get(0),
        )?;
        if !seen {
            tx.execute(
                "INSERT INTO events(pupil_id, verb, pack, path, at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![pupil_id, verb, pack, path, now],
            )?;
            push_statement(&tx, &origin, pupil_id, verb, pack, path, None, now)?;
        }
        tx.commit()
    }

    /// (verb, pack, path) of everything this pupil opened or completed.
    pub fn events(&self, pupil_id: i64) -> Result<Vec<(String, String, String)>> {
        let mut st = self.conn.prepare("SELECT verb, pack, path FROM events WHERE pupil_id = ?1 ORDER BY at")?;
        let rows = st.query_map([pupil_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect()
    }

    // ---- quiz attempts ----

    /// Saves a scored attempt with one `answered` statement per question and a
    /// `completed` statement for the quiz, in one transaction. Returns the attempt id.
    pub fn save_attempt(
        &mut self,
        pupil_id: i64,
        pack: &str,
        quiz: &str,
        answers: &[AnswerRecord],
        now: i64,
    ) -> Result<i64> {
        self.save_timed_attempt(pupil_id, pack, quiz, answers, now, 0)
    }

    /// When attempt `attempt_no` of a timed quiz started: the first call records `now`.
    pub fn quiz_start(&self, pupil_id: i64, pack: &str, quiz: &str, attempt_no: usize, now: i64) -> Result<i64> {
        self.conn.execute(
            "INSERT OR IGNORE INTO quiz_starts(pupil_id, pack, quiz, attempt_no, started) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![pupil_id, pack, quiz, attempt_no as i64, now],
        )?;
        self.conn.query_row(
            "SELECT started FROM quiz_starts WHERE pupil_id = ?1 AND pack = ?2 AND quiz = ?3 AND attempt_no = ?4",
            params![pupil_id, pack, quiz, attempt_no as i64],
            |r| r.get(0),
        )
    }

    /// Like [`Store::save_attempt`], for a timed quiz whose answers came `over_time`
    /// seconds late (they are kept: nothing a pupil sends is thrown away).
    pub fn save_timed_attempt(
        &mut self,
        pupil_id: i64,
        pack: &str,
        quiz: &str,
        answers: &[AnswerRecord],
        now: i64,
        over_time: i64,
    ) -> Result<i64> {
        let origin = self.origin(pack, now)?;
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO attempts(pupil_id, pack, quiz, at, over_time) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![pupil_id, pack, quiz, now, over_time.max(0)],
        )?;
        let attempt = tx.last_insert_rowid();
        let quiz_path = format!("_quiz/{quiz}");
        for a in answers {
            tx.execute(
                "INSERT INTO answers(attempt_id, question, response, score, max, feedback)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![attempt, a.question, a.response, a.score, a.max, a.feedback],
            )?;
            let result = json!({
                "score": {"raw": a.score, "max": a.max},
                "response": a.response,
            });
            let path = format!("{quiz_path}#{}", a.question);
            push_statement(&tx, &origin, pupil_id, "answered", pack, &path, Some(result), now)?;
        }
        let got: f64 = answers.iter().map(|a| a.score.unwrap_or(0.0)).sum();
        let max: f64 = answers.iter().map(|a| a.max).sum();
        let result = json!({"score": {"raw": got, "max": max}, "completion": true});
        push_statement(&tx, &origin, pupil_id, "completed", pack, &quiz_path, Some(result), now)?;
        tx.execute(
            "INSERT INTO events(pupil_id, verb, pack, path, at)
             SELECT ?1, 'completed', ?2, ?3, ?4
             WHERE NOT EXISTS(SELECT 1 FROM events WHERE pupil_id=?1 AND verb='completed' AND pack=?2 AND path=?3)",
            params![pupil_id, pack, quiz_path, now],
        )?;
        tx.commit()?;
        Ok(attempt)
    }

    pub fn attempt(&self, id: i64) -> Result<Option<Attempt>> {
        let head = self
            .conn
            .query_row("SELECT id, pupil_id, pack, quiz, at, over_time FROM attempts WHERE id = ?1", [id], |r| {
                Ok(Attempt {
                    id: r.get(0)?,
                    pupil_id: r.get(1)?,
                    pack: r.get(2)?,
                    quiz: r.get(3)?,
                    at: r.get(4)?,
                    over_time: r.get(5)?,
                    answers: Vec::new(),
                    marks: Default::default(),
                })
            })
            .optional()?;
        let Some(mut attempt) = head else { return Ok(None) };
        let mut st = self.conn.prepare(
            "SELECT id, question, response, score, max, feedback FROM answers WHERE attempt_id = ?1 ORDER BY id",
        )?;
        let rows = st.query_map([id], |r| {
            Ok((
                r.get(0)?,
                AnswerRecord {
                    question: r.get(1)?,
                    response: r.get(2)?,
                    score: r.get(3)?,
                    max: r.get(4)?,
                    feedback: r.get(5)?,
                },
            ))
        })?;
        attempt.answers = rows.collect::<Result<_>>()?;
        attempt.marks = self.teacher_marks(id)?;
        Ok(Some(attempt))
    }

    /// Attempt ids of a pupil at one quiz, newest first.
    pub fn attempts_of(&self, pupil_id: i64, pack: &str, quiz: &str) -> Result<Vec<i64>> {
        let mut st = self.conn.prepare(
            "SELECT id FROM attempts WHERE pupil_id = ?1 AND pack = ?2 AND quiz = ?3 ORDER BY id DESC LIMIT 50",
        )?;
        let rows = st.query_map(params![pupil_id, pack, quiz], |r| r.get(0))?;
        rows.collect()
    }

    /// How many attempts a pupil made at one quiz.
    pub fn attempt_count(&self, pupil_id: i64, pack: &str, quiz: &str) -> Result<usize> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM attempts WHERE pupil_id = ?1 AND pack = ?2 AND quiz = ?3",
            params![pupil_id, pack, quiz],
            |r| r.get(0),
        )?;
        Ok(n as usize)
    }

    /// Every attempt, with its pupil and class, for the dashboard and the CSV export.
    pub fn results(&self, class_id: Option<i64>) -> Result<Vec<ResultRow>> {
        let mut st = self.conn.prepare(
            "SELECT c.name, p.id, p.name, a.pack, a.quiz, a.id, a.at,
                    coalesce(sum(n.score), 0), coalesce(sum(n.max), 0),
                    sum(CASE WHEN n.id IS NOT NULL AND n.score IS NULL THEN 1 ELSE 0 END) > 0
             FROM attempts a JOIN pupils p ON p.id = a.pupil_id JOIN classes c ON c.id = p.class_id
             LEFT JOIN answers n ON n.attempt_id = a.id
             WHERE ?1 IS NULL OR c.id = ?1
             GROUP BY a.id ORDER BY c.name, p.name COLLATE NOCASE, a.pack, a.quiz, a.id",
        )?;
        let rows = st.query_map([class_id], |r| {
            Ok(ResultRow {
                class: r.get(0)?,
                pupil_id: r.get(1)?,
                pupil: r.get(2)?,
                pack: r.get(3)?,
                quiz: r.get(4)?,
                attempt_id: r.get(5)?,
                at: r.get(6)?,
                score: r.get(7)?,
                max: r.get(8)?,
                pending: r.get(9)?,
            })
        })?;
        rows.collect()
    }

    /// Per-question statistics over all marked answers.
    pub fn question_stats(&self, class_id: Option<i64>) -> Result<Vec<QuestionStat>> {
        let mut st = self.conn.prepare(
            "SELECT a.pack, a.quiz, n.question, count(*),
                    sum(CASE WHEN n.score >= n.max THEN 1 ELSE 0 END),
                    avg(CASE WHEN n.max > 0 THEN n.score / n.max ELSE 0 END)
             FROM answers n JOIN attempts a ON a.id = n.attempt_id JOIN pupils p ON p.id = a.pupil_id
             WHERE n.score IS NOT NULL AND (?1 IS NULL OR p.class_id = ?1)
             GROUP BY a.pack, a.quiz, n.question ORDER BY a.pack, a.quiz, min(n.id)",
        )?;
        let rows = st.query_map([class_id], |r| {
            Ok(QuestionStat {
                pack: r.get(0)?,
                quiz: r.get(1)?,
                question: r.get(2)?,
                answers: r.get(3)?,
                right: r.get(4)?,
                mean: r.get(5)?,
            })
        })?;
        rows.collect()
    }

    pub fn pending_answers(&self) -> Result<Vec<PendingAnswer>> {
        let mut st = self.conn.prepare(
            "SELECT n.id, p.name, a.pack, a.quiz, n.question, n.response, n.max
             FROM answers n JOIN attempts a ON a.id = n.attempt_id JOIN pupils p ON p.id = a.pupil_id
             WHERE n.score IS NULL ORDER BY n.id LIMIT 200",
        )?;
        let rows = st.query_map([], |r| {
            Ok(PendingAnswer {
                answer_id: r.get(0)?,
                pupil: r.get(1)?,
                pack: r.get(2)?,
                quiz: r.get(3)?,
                question: r.get(4)?,
                response: r.get(5)?,
                max: r.get(6)?,
            })
        })?;
        rows.collect()
    }

    /// The teacher marks an essay answer: the score is clamped to [0, max].
    pub fn mark_answer(&self, answer_id: i64, score: f64, feedback: &str) -> Result<bool> {
        Ok(self.conn.execute(
            "UPDATE answers SET score = max(0, min(?2, max)), feedback = ?3 WHERE id = ?1",
            params![answer_id, score, feedback],
        )? == 1)
    }

    // ---- assignments ----

    #[allow(clippy::too_many_arguments)]
    /// Bytes of files handed in by this pupil, and by their whole class.
    pub fn upload_bytes(&self, pupil_id: i64) -> Result<(u64, u64)> {
        let pupil: i64 = self.conn.query_row(
            "SELECT COALESCE(SUM(LENGTH(file)), 0) FROM submissions WHERE pupil_id = ?1",
            [pupil_id],
            |r| r.get(0),
        )?;
        let class: i64 = self.conn.query_row(
            "SELECT COALESCE(SUM(LENGTH(s.file)), 0) FROM submissions s JOIN pupils p ON p.id = s.pupil_id
             WHERE p.class_id = (SELECT class_id FROM pupils WHERE id = ?1)",
            [pupil_id],
            |r| r.get(0),
        )?;
        Ok((pupil.max(0) as u64, class.max(0) as u64))
    }

    pub fn save_submission(
        &mut self,
        pupil_id: i64,
        pack: &str,
        assign: &str,
        text: &str,
        file: Option<(&str, &str, &[u8])>,
        now: i64,
    ) -> Result<i64> {
        let origin = self.origin(pack, now)?;
        let tx = self.conn.transaction()?;
        let (name, ty, bytes) = match file {
            Some((n, t, b)) => (Some(n), Some(t), Some(b)),
            None => (None, None, None),
        };
        tx.execute(
            "INSERT INTO submissions(pupil_id, pack, assign, text, file_name, file_type, file, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![pupil_id, pack, assign, text, name, ty, bytes, now],
        )?;
        let id = tx.last_insert_rowid();
        let path = format!("_assign/{assign}");
        push_statement(&tx, &origin, pupil_id, "submitted", pack, &path, None, now)?;
        tx.commit()?;
        Ok(id)
    }

    /// Submissions of one pupil (`Some`) or all of them (`None`), newest first.
    pub fn submissions(&self, pupil_id: Option<i64>) -> Result<Vec<Submission>> {
        let mut st = self.conn.prepare(
            "SELECT id, pupil_id, pack, assign, text, file_name, coalesce(length(file), 0), at, mark, comment
             FROM submissions WHERE ?1 IS NULL OR pupil_id = ?1 ORDER BY id DESC LIMIT 500",
        )?;
        let rows = st.query_map([pupil_id], |r| {
            Ok(Submission {
                id: r.get(0)?,
                pupil_id: r.get(1)?,
                pack: r.get(2)?,
                assign: r.get(3)?,
                text: r.get(4)?,
                file_name: r.get(5)?,
                file_size: r.get(6)?,
                at: r.get(7)?,
                mark: r.get(8)?,
                comment: r.get(9)?,
            })
        })?;
        rows.collect()
    }

    /// A submitted file.
    pub fn submission_file(&self, id: i64) -> Result<Option<SubmittedFile>> {
        self.conn
            .query_row(
                "SELECT pupil_id, file_name, file_type, file FROM submissions WHERE id = ?1 AND file IS NOT NULL",
                [id],
                |r| {
                    Ok(SubmittedFile {
                        pupil_id: r.get(0)?,
                        name: r.get(1)?,
                        content_type: r.get(2)?,
                        bytes: r.get(3)?,
                    })
                },
            )
            .optional()
    }

    pub fn mark_submission(&self, id: i64, mark: f64, comment: &str) -> Result<bool> {
        Ok(self
            .conn
            .execute("UPDATE submissions SET mark = ?2, comment = ?3 WHERE id = ?1", params![id, mark, comment])?
            == 1)
    }

    // ---- outbox ----

    /// Statements not yet pushed upstream, oldest first.
    pub fn outbox_pending(&self, limit: usize) -> Result<Vec<(String, Value)>> {
        let mut st = self.conn.prepare(
            "SELECT id, statement FROM outbox WHERE sent IS NULL AND quarantined IS NULL ORDER BY rowid LIMIT ?1",
        )?;
        let rows = st.query_map([limit as i64], |r| {
            let text: String = r.get(1)?;
            Ok((r.get(0)?, serde_json::from_str(&text).unwrap_or(Value::Null)))
        })?;
        rows.collect()
    }

    pub fn mark_sent(&mut self, ids: &[String], now: i64) -> Result<()> {
        let tx = self.conn.transaction()?;
        for id in ids {
            tx.execute("UPDATE outbox SET sent = ?2 WHERE id = ?1", params![id, now])?;
        }
        tx.commit()
    }

    // ---- a pupil's data, for the RGPD export ----

    pub fn export_pupil(&self, pupil_id: i64) -> Result<Option<Value>> {
        let Some(p) = self.pupil(pupil_id)? else { return Ok(None) };
        let class = self.class(p.class_id)?.map(|c| c.name).unwrap_or_default();
        let events: Vec<Value> = self
            .events(pupil_id)?
            .into_iter()
            .map(|(verb, pack, path)| json!({"verb": verb, "pack": pack, "path": path}))
            .collect();
        let mut attempts = Vec::new();
        let mut st = self.conn.prepare("SELECT id FROM attempts WHERE pupil_id = ?1 ORDER BY id")?;
        let ids: Vec<i64> = st.query_map([pupil_id], |r| r.get(0))?.collect::<Result<_>>()?;
        for id in ids {
            if let Some(a) = self.attempt(id)? {
                let answers: Vec<Value> = a
                    .answers
                    .iter()
                    .map(|(_, n)| {
                        json!({"question": n.question, "response": n.response, "score": n.score,
                               "max": n.max, "feedback": n.feedback})
                    })
                    .collect();
                attempts.push(json!({"pack": a.pack, "quiz": a.quiz, "at": a.at, "answers": answers}));
            }
        }
        let submissions: Vec<Value> = self
            .submissions(Some(pupil_id))?
            .into_iter()
            .map(|s| {
                json!({"pack": s.pack, "assignment": s.assign, "text": s.text, "file": s.file_name,
                       "at": s.at, "mark": s.mark, "comment": s.comment})
            })
            .collect();
        Ok(Some(json!({
            "pupil": {"id": p.uuid, "name": p.name, "class": class},
            "events": events,
            "attempts": attempts,
            "submissions": submissions,
        })))
    }
}

fn pupil_row(r: &rusqlite::Row<'_>) -> Result<Pupil> {
    Ok(Pupil {
        id: r.get(0)?,
        uuid: r.get(1)?,
        class_id: r.get(2)?,
        name: r.get(3)?,
        code: r.get(4)?,
        code_kind: r.get(5)?,
    })
}

fn limit_error(what: &str) -> Error {
    Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT),
        Some(format!("limit reached: {what}")),
    )
}

/// Writes one xAPI statement for `pupil_id` into the outbox, inside `tx`.
#[allow(clippy::too_many_arguments)]
fn push_statement(
    tx: &Transaction<'_>,
    origin: &xapi::Origin,
    pupil_id: i64,
    verb: &str,
    pack: &str,
    path: &str,
    result: Option<Value>,
    now: i64,
) -> Result<()> {
    let pupil_uuid: String = tx.query_row("SELECT uuid FROM pupils WHERE id = ?1", [pupil_id], |r| r.get(0))?;
    let id = uuid::Uuid::new_v4().to_string();
    let statement = xapi::statement(&id, origin, &pupil_uuid, verb, pack, path, result, now);
    tx.execute(
        "INSERT INTO outbox(id, pupil_id, statement, created) VALUES (?1, ?2, ?3, ?4)",
        params![id, pupil_id, statement.to_string(), now],
    )?;
    Ok(())
}
