//! The teacher's review: marks set or changed by a teacher (kept with who and when), and
//! the rows of the per-question and assignment exports.

use std::collections::HashMap;

use rusqlite::params;

use super::{Result, Store};

/// A mark a teacher gave an answer.
#[derive(Debug, Clone, PartialEq)]
pub struct TeacherMark {
    pub by: String,
    pub at: i64,
    /// Plain text, as typed.
    pub comment: String,
}

/// One pupil's answer to one question, for the per-question CSV.
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerRow {
    pub class: String,
    pub pupil: String,
    pub pack: String,
    pub quiz: String,
    pub attempt_id: i64,
    pub at: i64,
    pub question: String,
    pub response: String,
    pub score: Option<f64>,
    pub max: f64,
}

/// One handed-in assignment, for the results page and CSV.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmissionRow {
    pub class: String,
    pub pupil: String,
    pub pack: String,
    pub assign: String,
    pub at: i64,
    pub mark: Option<f64>,
}

/// Rows an export reads at most (a year of a few classes).
const MAX_ROWS: i64 = 200_000;

/// Quizzes a teacher may build on one box.
pub const MAX_OWN_QUIZZES: i64 = 500;

impl Store {
    /// Stores a teacher's quiz (`preau_pack::quiz` JSON); returns its id, `None` past the
    /// bound. The id is made here: `q1`, `q2`…
    pub fn create_own_quiz(
        &mut self,
        title: &str,
        make_json: impl FnOnce(&str) -> String,
        now: i64,
    ) -> Result<Option<String>> {
        let tx = self.conn.transaction()?;
        let n: i64 = tx.query_row("SELECT count(*) FROM own_quizzes", [], |r| r.get(0))?;
        if n >= MAX_OWN_QUIZZES {
            return Ok(None);
        }
        let next: i64 =
            tx.query_row("SELECT coalesce(max(CAST(substr(id, 2) AS INTEGER)), 0) + 1 FROM own_quizzes", [], |r| {
                r.get(0)
            })?;
        let id = format!("q{next}");
        tx.execute(
            "INSERT INTO own_quizzes(id, title, quiz, created) VALUES (?1, ?2, ?3, ?4)",
            params![id, title, make_json(&id), now],
        )?;
        tx.commit()?;
        Ok(Some(id))
    }

    /// A teacher's quiz, as JSON.
    pub fn own_quiz(&self, id: &str) -> Result<Option<String>> {
        use rusqlite::OptionalExtension;
        self.conn.query_row("SELECT quiz FROM own_quizzes WHERE id = ?1", [id], |r| r.get(0)).optional()
    }

    /// (id, title) of the teacher's quizzes, newest first.
    pub fn own_quizzes(&self) -> Result<Vec<(String, String)>> {
        let mut st = self.conn.prepare("SELECT id, title FROM own_quizzes ORDER BY created DESC, id DESC LIMIT ?1")?;
        let rows = st.query_map([MAX_OWN_QUIZZES], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect()
    }

    pub(super) fn teacher_marks(&self, attempt_id: i64) -> Result<HashMap<i64, TeacherMark>> {
        let mut st = self.conn.prepare(
            "SELECT id, marked_by, marked_at, teacher_comment FROM answers
             WHERE attempt_id = ?1 AND marked_by IS NOT NULL",
        )?;
        let rows = st.query_map([attempt_id], |r| {
            Ok((r.get(0)?, TeacherMark { by: r.get(1)?, at: r.get(2)?, comment: r.get(3)? }))
        })?;
        rows.collect()
    }

    /// A teacher sets an answer's mark (within 0 and its maximum) with a comment. Returns
    /// the attempt it belongs to, `None` when there is no such answer.
    pub fn set_answer_mark(
        &self,
        answer_id: i64,
        score: f64,
        comment: &str,
        by: &str,
        now: i64,
    ) -> Result<Option<i64>> {
        let n = self.conn.execute(
            "UPDATE answers SET score = max(0, min(?2, max)), teacher_comment = ?3, marked_by = ?4, marked_at = ?5
             WHERE id = ?1",
            params![answer_id, score, comment, by, now],
        )?;
        if n == 0 {
            return Ok(None);
        }
        self.conn.query_row("SELECT attempt_id FROM answers WHERE id = ?1", [answer_id], |r| r.get(0)).map(Some)
    }

    /// Every answer of every attempt (of one class), in class, pupil, quiz, attempt order.
    pub fn answer_rows(&self, class_id: Option<i64>) -> Result<Vec<AnswerRow>> {
        let mut st = self.conn.prepare(
            "SELECT c.name, p.name, a.pack, a.quiz, a.id, a.at, n.question, n.response, n.score, n.max
             FROM answers n JOIN attempts a ON a.id = n.attempt_id JOIN pupils p ON p.id = a.pupil_id
             JOIN classes c ON c.id = p.class_id
             WHERE ?1 IS NULL OR c.id = ?1
             ORDER BY c.name, p.name COLLATE NOCASE, a.pack, a.quiz, a.id, n.id LIMIT ?2",
        )?;
        let rows = st.query_map(params![class_id, MAX_ROWS], |r| {
            Ok(AnswerRow {
                class: r.get(0)?,
                pupil: r.get(1)?,
                pack: r.get(2)?,
                quiz: r.get(3)?,
                attempt_id: r.get(4)?,
                at: r.get(5)?,
                question: r.get(6)?,
                response: r.get(7)?,
                score: r.get(8)?,
                max: r.get(9)?,
            })
        })?;
        rows.collect()
    }

    /// Every handed-in assignment (of one class), with its mark.
    pub fn submission_rows(&self, class_id: Option<i64>) -> Result<Vec<SubmissionRow>> {
        let mut st = self.conn.prepare(
            "SELECT c.name, p.name, s.pack, s.assign, s.at, s.mark
             FROM submissions s JOIN pupils p ON p.id = s.pupil_id JOIN classes c ON c.id = p.class_id
             WHERE ?1 IS NULL OR c.id = ?1
             ORDER BY c.name, p.name COLLATE NOCASE, s.pack, s.assign, s.id LIMIT ?2",
        )?;
        let rows = st.query_map(params![class_id, MAX_ROWS], |r| {
            Ok(SubmissionRow {
                class: r.get(0)?,
                pupil: r.get(1)?,
                pack: r.get(2)?,
                assign: r.get(3)?,
                at: r.get(4)?,
                mark: r.get(5)?,
            })
        })?;
        rows.collect()
    }
}
