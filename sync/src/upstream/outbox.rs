//! The box's outbox, read and marked directly in its SQLite file (`DATA/preau.sqlite`),
//! so that `preau-sync` needs nothing of the box's crates. The contract with the box's
//! schema (ARCHITECTURE.md, "Upstream push") is small and checked on open:
//!
//! - `outbox(id TEXT PRIMARY KEY, pupil_id, statement TEXT, created INTEGER,
//!   sent INTEGER NULL, quarantined TEXT NULL, quarantined_at INTEGER NULL)`, schema
//!   version ([`MIN_SCHEMA`]) or later; the box inserts, this module marks and deletes;
//! - `settings(key, value)`: this module owns the keys starting with `upstream.`, and
//!   reads the box's `clock_offset` (seconds added to the system clock).
//!
//! Every query is bounded (`LIMIT`), and every change is one transaction: a statement is
//! marked sent in the same transaction as the counters, only after the LRS acknowledged
//! it, so a power cut leaves it either unsent (sent again: harmless, same id) or sent.

use std::path::Path;

use preau_pack::{Error, Result};
use rusqlite::{Connection, OptionalExtension, params};

/// The box schema version that added `quarantined` to the outbox.
pub const MIN_SCHEMA: i64 = 3;
/// Longest reason kept for a quarantined statement.
const MAX_REASON_CHARS: usize = 500;

fn db(e: rusqlite::Error) -> Error {
    Error::Other(format!("outbox database: {e}"))
}

/// One statement waiting to go, as the box stored it.
#[derive(Debug, Clone)]
pub struct Pending {
    pub rowid: i64,
    pub id: String,
    pub statement: String,
}

/// What the outbox holds, for the admin page and the push's summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Not yet acknowledged by the LRS (quarantined ones excepted).
    pub waiting: u64,
    /// Acknowledged since the box started counting (kept rows are deleted after
    /// `keep_days`; this counter is not).
    pub sent_total: u64,
    pub quarantined: u64,
    /// Waiting statements dropped because the outbox was full (`max_outbox`).
    pub dropped: u64,
}

/// Last outcome of a push, for the admin page.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PushStatus {
    /// Unix time of the last batch the LRS acknowledged.
    pub last_success: Option<i64>,
    /// Unix time and text of the last failure.
    pub last_error: Option<(i64, String)>,
}

pub struct SqliteOutbox {
    conn: Connection,
}

impl SqliteOutbox {
    /// Opens the box's database. It must exist and carry the outbox schema: the push
    /// never creates or migrates the box's tables.
    pub fn open(path: &Path) -> Result<SqliteOutbox> {
        if !path.is_file() {
            return Err(Error::Other(format!("no learner database at {} (start the box once)", path.display())));
        }
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(db)?;
        // Same durability as the box: a commit is on the card when it returns.
        conn.pragma_update(None, "synchronous", "FULL").map_err(db)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(db)?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(db)?;
        if version < MIN_SCHEMA {
            return Err(Error::Other(format!(
                "the learner database {} is at schema version {version}; start this version of the box once to update it (needs {MIN_SCHEMA})",
                path.display()
            )));
        }
        Ok(SqliteOutbox { conn })
    }

    /// Up to `limit` waiting statements after `after_rowid`, oldest first.
    pub fn pending(&self, after_rowid: i64, limit: usize) -> Result<Vec<Pending>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT rowid, id, statement FROM outbox
                 WHERE rowid > ?1 AND sent IS NULL AND quarantined IS NULL ORDER BY rowid LIMIT ?2",
            )
            .map_err(db)?;
        let rows = st
            .query_map(params![after_rowid, limit as i64], |r| {
                Ok(Pending { rowid: r.get(0)?, id: r.get(1)?, statement: r.get(2)? })
            })
            .map_err(db)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db)
    }

    /// Marks acknowledged statements sent, with the counters, in one transaction.
    pub fn mark_sent(&mut self, ids: &[String], now: i64) -> Result<()> {
        let tx = self.conn.transaction().map_err(db)?;
        let mut n = 0u64;
        {
            let mut st = tx.prepare_cached("UPDATE outbox SET sent = ?2 WHERE id = ?1 AND sent IS NULL").map_err(db)?;
            for id in ids {
                n += st.execute(params![id, now]).map_err(db)? as u64;
            }
        }
        add_counter(&tx, "upstream.sent_total", n)?;
        put(&tx, "upstream.last_success", &now.to_string())?;
        tx.commit().map_err(db)
    }

    /// Sets a statement aside for good, with the reason the LRS gave.
    pub fn quarantine(&mut self, id: &str, why: &str, now: i64) -> Result<()> {
        let why: String = why.chars().take(MAX_REASON_CHARS).collect();
        self.conn
            .execute(
                "UPDATE outbox SET quarantined = ?2, quarantined_at = ?3 WHERE id = ?1 AND sent IS NULL",
                params![id, why, now],
            )
            .map_err(db)?;
        Ok(())
    }

    pub fn counts(&self) -> Result<Counts> {
        let (waiting, quarantined): (i64, i64) = self
            .conn
            .query_row(
                "SELECT count(*) FILTER (WHERE sent IS NULL AND quarantined IS NULL),
                        count(*) FILTER (WHERE quarantined IS NOT NULL) FROM outbox",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(db)?;
        Ok(Counts {
            waiting: waiting as u64,
            quarantined: quarantined as u64,
            sent_total: get(&self.conn, "upstream.sent_total")?.and_then(|v| v.parse().ok()).unwrap_or(0),
            dropped: get(&self.conn, "upstream.dropped")?.and_then(|v| v.parse().ok()).unwrap_or(0),
        })
    }

    /// The most recent quarantined statements: (id, reason, unix time).
    pub fn quarantined(&self, limit: usize) -> Result<Vec<(String, String, i64)>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id, quarantined, coalesce(quarantined_at, 0) FROM outbox
                 WHERE quarantined IS NOT NULL ORDER BY quarantined_at DESC, rowid DESC LIMIT ?1",
            )
            .map_err(db)?;
        let rows = st.query_map([limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(db)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db)
    }

    /// The oldest waiting statement as stored (the admin page renders it as it will go).
    pub fn first_waiting(&self) -> Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT statement FROM outbox WHERE sent IS NULL AND quarantined IS NULL ORDER BY rowid LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)
    }

    pub fn status(&self) -> Result<PushStatus> {
        let last_success = get(&self.conn, "upstream.last_success")?.and_then(|v| v.parse().ok());
        let last_error = get(&self.conn, "upstream.last_error")?.and_then(|v| {
            let (t, msg) = v.split_once('|')?;
            Some((t.parse().ok()?, msg.to_string()))
        });
        Ok(PushStatus { last_success, last_error })
    }

    /// Seconds the box adds to its system clock (the box's `clock_offset` setting).
    pub fn clock_offset(&self) -> Result<i64> {
        Ok(get(&self.conn, "clock_offset")?.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    pub fn set_error(&self, now: i64, why: &str) -> Result<()> {
        let why: String = why.chars().filter(|c| !c.is_control()).take(MAX_REASON_CHARS).collect();
        put(&self.conn, "upstream.last_error", &format!("{now}|{why}"))
    }

    /// Retention: deletes statements acknowledged (or quarantined) more than `keep_days`
    /// ago; then, if more than `max_outbox` rows remain, drops the oldest waiting ones,
    /// `opened` events first (their record stays in the box's own progress tables, which
    /// the teacher's results summarise), then the oldest of any verb. Returns (deleted,
    /// dropped).
    pub fn retain(&mut self, now: i64, keep_days: u32, max_outbox: u64) -> Result<(u64, u64)> {
        let before = now - i64::from(keep_days) * 86_400;
        let tx = self.conn.transaction().map_err(db)?;
        let deleted = tx
            .execute(
                "DELETE FROM outbox WHERE (sent IS NOT NULL AND sent < ?1)
                    OR (quarantined IS NOT NULL AND quarantined_at < ?1)",
                [before],
            )
            .map_err(db)? as u64;
        let total: i64 = tx.query_row("SELECT count(*) FROM outbox", [], |r| r.get(0)).map_err(db)?;
        let mut dropped = 0u64;
        let mut excess = total - max_outbox.min(i64::MAX as u64) as i64;
        for only_opened in [true, false] {
            if excess <= 0 {
                break;
            }
            let verb_filter =
                if only_opened { "AND statement LIKE '%\"http://activitystrea.ms/schema/1.0/open\"%'" } else { "" };
            let sql = format!(
                "DELETE FROM outbox WHERE rowid IN (SELECT rowid FROM outbox
                   WHERE sent IS NULL AND quarantined IS NULL {verb_filter} ORDER BY rowid LIMIT ?1)"
            );
            let n = tx.execute(&sql, [excess]).map_err(db)? as u64;
            dropped += n;
            excess -= n as i64;
        }
        add_counter(&tx, "upstream.dropped", dropped)?;
        tx.commit().map_err(db)?;
        Ok((deleted, dropped))
    }
}

fn get(conn: &Connection, key: &str) -> Result<Option<String>> {
    conn.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0)).optional().map_err(db)
}

fn put(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO settings(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )
    .map_err(db)?;
    Ok(())
}

fn add_counter(conn: &Connection, key: &str, n: u64) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    let old: u64 = get(conn, key)?.and_then(|v| v.parse().ok()).unwrap_or(0);
    put(conn, key, &(old + n).to_string())
}
