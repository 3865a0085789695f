//! Learner records in one file, for the same school's box after a reflash (issue 18).
//!
//! The file is an SQLite database (`VACUUM INTO` of `preau.sqlite`, one consistent
//! snapshot) with a `preau_export` table naming its format and records schema. It holds
//! pupils' personal data: class and pupil names, their optional sign-in codes and
//! pseudonymous UUIDs, what they opened, quiz attempts and answers, handed-in work
//! (text and files), marks and comments, the xAPI outbox, the teachers' names and
//! password hashes, and the teachers' settings (opening hours, time zone, per-quiz
//! choices). It holds no session, no `preau.toml` (no Wi-Fi passphrase, no LRS password)
//! and no packs. It is meant to be kept by the school and deleted after the import.
//!
//! An import goes into the live database in one transaction (all or nothing, even on a
//! power cut), only on a box with no class and no pupil yet, and only from a file of the
//! same records schema version.

use std::path::Path;

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OpenFlags};

use crate::store::schema::MIGRATIONS;

pub const FORMAT: &str = "preau-records/1";
/// Largest file imported (handed-in files are up to 1 GiB per class).
pub const MAX_IMPORT_BYTES: u64 = 16 * 1024 * 1024 * 1024;
/// The tables copied, parents before children (foreign keys). Teachers and settings are
/// merged apart; sessions never travel.
const TABLES: [&str; 13] = [
    "classes",
    "pupils",
    "events",
    "attempts",
    "answers",
    "submissions",
    "outbox",
    "quiz_starts",
    "quiz_settings",
    "work",
    "work_items",
    "work_pupils",
    "own_quizzes",
];
/// The tables of the records schema that are not copied as they are (see `import`).
#[cfg(test)]
const NOT_COPIED: [&str; 3] = ["teachers", "settings", "sessions"];

#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub classes: i64,
    pub pupils: i64,
    pub attempts: i64,
    pub submissions: i64,
    pub teachers: i64,
    pub bytes: u64,
}

fn db(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("preau.sqlite")
}

/// Writes the records of `data_dir` to `out` (temp + fsync + rename).
pub fn export(data_dir: &Path, box_id: &str, box_version: &str, out: &Path) -> Result<Summary> {
    // Brings the schema up to date first, so the file says the version it holds.
    drop(crate::store::Store::open(&db(data_dir), box_id).map_err(|e| anyhow::anyhow!("opening the records: {e}"))?);
    let conn = Connection::open(db(data_dir))?;
    let tmp = out.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    conn.execute("VACUUM INTO ?1", [tmp.to_str().context("a UTF-8 path")?])
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    let snap = Connection::open(&tmp)?;
    snap.execute_batch(
        "DELETE FROM sessions;
         CREATE TABLE preau_export (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    )?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    for (k, v) in [
        ("format", FORMAT.to_string()),
        ("schema", MIGRATIONS.len().to_string()),
        ("box_version", box_version.to_string()),
        ("box_id", box_id.to_string()),
        ("exported_at", now.to_string()),
    ] {
        snap.execute("INSERT INTO preau_export(key, value) VALUES (?1, ?2)", [k, &v])?;
    }
    let summary = counts(&snap, "main")?;
    snap.execute_batch("VACUUM")?;
    drop(snap);
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, out)?;
    if let Some(dir) = out.parent() {
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(Summary { bytes: std::fs::metadata(out)?.len(), ..summary })
}

fn counts(c: &Connection, schema: &str) -> Result<Summary> {
    let n =
        |t: &str| -> Result<i64> { Ok(c.query_row(&format!("SELECT count(*) FROM {schema}.{t}"), [], |r| r.get(0))?) };
    Ok(Summary {
        classes: n("classes")?,
        pupils: n("pupils")?,
        attempts: n("attempts")?,
        submissions: n("submissions")?,
        teachers: n("teachers")?,
        bytes: 0,
    })
}

/// Checks `file` is a records export this box can take, without changing anything.
pub fn check(file: &Path) -> Result<Summary> {
    let len = std::fs::metadata(file).with_context(|| format!("cannot read {}", file.display()))?.len();
    if len > MAX_IMPORT_BYTES {
        bail!("the file is {len} bytes, more than the limit of {MAX_IMPORT_BYTES}");
    }
    let mut head = [0u8; 16];
    use std::io::Read;
    let n = std::fs::File::open(file)?.read(&mut head)?;
    if n < 16 || &head != b"SQLite format 3\0" {
        bail!("this file is not a Préau records export (not an SQLite file)");
    }
    let c = Connection::open_with_flags(file, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    let get = |k: &str| -> Option<String> {
        c.query_row("SELECT value FROM preau_export WHERE key = ?1", [k], |r| r.get(0)).ok()
    };
    match get("format") {
        Some(f) if f == FORMAT => {}
        Some(f) => bail!("this file is a records export of format {f:?}; this box reads {FORMAT:?}"),
        None => bail!("this file is not a Préau records export (no preau_export table)"),
    }
    let schema: usize = get("schema").and_then(|s| s.parse().ok()).context("the export names no records schema")?;
    if schema != MIGRATIONS.len() {
        bail!(
            "this file was exported by a box with records schema {schema} (Préau {}); this box has schema {}: \
             import it on a box of the same version",
            get("box_version").unwrap_or_default(),
            MIGRATIONS.len()
        );
    }
    let ok: String = c.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if ok != "ok" {
        bail!("the file is damaged: {ok}");
    }
    Ok(Summary { bytes: len, ..counts(&c, "main")? })
}

/// Adds the records of `file` to the box's (empty) records, in one transaction.
pub fn import(data_dir: &Path, box_id: &str, file: &Path) -> Result<Summary> {
    let summary = check(file)?;
    drop(crate::store::Store::open(&db(data_dir), box_id).map_err(|e| anyhow::anyhow!("opening the records: {e}"))?);
    let mut conn = Connection::open(db(data_dir))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    let mine = counts(&conn, "main")?;
    if mine.classes > 0 || mine.pupils > 0 {
        bail!(
            "this box already has learner records ({} classes, {} pupils): import only on a fresh box",
            mine.classes,
            mine.pupils
        );
    }
    conn.execute("ATTACH DATABASE ?1 AS imp", [file.to_str().context("a UTF-8 path")?])?;
    let tx = conn.transaction()?;
    for t in TABLES {
        tx.execute(&format!("INSERT INTO main.{t} SELECT * FROM imp.{t}"), [])?;
    }
    // The fresh box's first teacher stays; colleagues of the same name keep this box's password.
    tx.execute(
        "INSERT INTO main.teachers(name, password_hash) SELECT name, password_hash FROM imp.teachers \
         WHERE name NOT IN (SELECT name FROM main.teachers)",
        [],
    )?;
    // This box's own settings (its clock offset, its setup code) win; the school's fill the rest.
    tx.execute("INSERT OR IGNORE INTO main.settings(key, value) SELECT key, value FROM imp.settings", [])?;
    tx.commit()?;
    conn.execute("DETACH DATABASE imp", [])?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn school(dir: &Path) {
        let s = Store::open(&db(dir), "old-box").unwrap();
        let c = s.create_class("CM2 A").unwrap();
        s.create_pupil(c, "Léa").unwrap();
        s.create_pupil(c, "Noé").unwrap();
        s.create_teacher("mme.martin", "hash-1").unwrap();
        s.set_setting("hours", Some("08:00-17:00")).unwrap();
    }

    /// A table added by a later migration must be exported too, or said not to be.
    #[test]
    fn every_table_is_exported_or_named_apart() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(&db(dir.path()), "box").unwrap());
        let c = Connection::open(db(dir.path())).unwrap();
        let mut q =
            c.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").unwrap();
        let names: Vec<String> = q.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
        for n in names {
            assert!(
                TABLES.contains(&n.as_str()) || NOT_COPIED.contains(&n.as_str()),
                "table {n} is neither exported nor named in NOT_COPIED"
            );
        }
    }

    #[test]
    fn records_go_to_a_fresh_box_once() {
        let old = tempfile::tempdir().unwrap();
        school(old.path());
        let file = old.path().join("ecole.preau-records");
        let out = export(old.path(), "old-box", "0.1.0", &file).unwrap();
        assert_eq!((out.classes, out.pupils, out.teachers), (1, 2, 1));

        // A fresh box whose first teacher was just created.
        let new = tempfile::tempdir().unwrap();
        Store::open(&db(new.path()), "new-box").unwrap().create_teacher("admin", "hash-2").unwrap();
        let got = import(new.path(), "new-box", &file).unwrap();
        assert_eq!(got.pupils, 2);
        let s = Store::open(&db(new.path()), "new-box").unwrap();
        let class = s.classes().unwrap().pop().unwrap();
        assert_eq!(s.pupils(class.id).unwrap().len(), 2);
        assert_eq!(s.teachers().unwrap().len(), 2);
        assert_eq!(s.setting("hours").unwrap().as_deref(), Some("08:00-17:00"));
        drop(s);
        // Twice would duplicate pupils: refused, nothing changed.
        let e = import(new.path(), "new-box", &file).unwrap_err();
        assert!(e.to_string().contains("already has learner records"), "{e}");
    }

    #[test]
    fn other_formats_are_refused_with_a_reason() {
        let old = tempfile::tempdir().unwrap();
        school(old.path());
        let file = old.path().join("x.preau-records");
        export(old.path(), "old-box", "0.1.0", &file).unwrap();
        Connection::open(&file)
            .unwrap()
            .execute("UPDATE preau_export SET value = '99' WHERE key = 'schema'", [])
            .unwrap();
        let e = check(&file).unwrap_err().to_string();
        assert!(e.contains("records schema 99") && e.contains("same version"), "{e}");
        std::fs::write(&file, b"not a database at all, just text").unwrap();
        assert!(check(&file).unwrap_err().to_string().contains("not a Préau records export"));
        let plain = old.path().join("plain.sqlite");
        Connection::open(&plain).unwrap().execute_batch("CREATE TABLE t(x)").unwrap();
        assert!(check(&plain).unwrap_err().to_string().contains("no preau_export"));
    }
}
