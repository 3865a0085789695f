//! Work a teacher gives to a class (Kolibri's class "lessons" and "quizzes"): an ordered
//! list of pages, activities and quizzes of installed packs, for the whole class or some
//! of its pupils, with an optional due date and a visibility switch. What a pupil has done
//! of it is read from their events and submissions, never stored twice.

use rusqlite::{OptionalExtension, params};

use super::{MAX_NAME_CHARS, Result, Store};

/// Bounds: items in one piece of work, and pieces of work per class.
pub const MAX_WORK_ITEMS: usize = 50;
pub const MAX_WORKS_PER_CLASS: i64 = 200;

#[derive(Debug, Clone, PartialEq)]
pub struct WorkItem {
    pub pack: String,
    pub path: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Work {
    pub id: i64,
    pub class_id: i64,
    pub title: String,
    pub due: Option<i64>,
    pub visible: bool,
    pub items: Vec<WorkItem>,
    /// Empty: the whole class.
    pub pupils: Vec<i64>,
}

/// What the teacher's form gives (checked by the caller, bounded here again).
pub struct NewWork<'a> {
    pub class_id: i64,
    pub title: &'a str,
    pub due: Option<i64>,
    pub visible: bool,
    pub items: &'a [WorkItem],
    pub pupils: &'a [i64],
}

impl Store {
    /// Creates a piece of work in one transaction; `Ok(None)` when the class has reached
    /// its bound or a pupil is not of that class.
    pub fn create_work(&mut self, w: &NewWork<'_>, now: i64) -> Result<Option<i64>> {
        let tx = self.conn.transaction()?;
        let count: i64 = tx.query_row("SELECT count(*) FROM work WHERE class_id = ?1", [w.class_id], |r| r.get(0))?;
        if count >= MAX_WORKS_PER_CLASS || w.items.is_empty() || w.items.len() > MAX_WORK_ITEMS {
            return Ok(None);
        }
        let title: String = w.title.chars().take(MAX_NAME_CHARS * 2).collect();
        tx.execute(
            "INSERT INTO work(class_id, title, due, visible, created) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![w.class_id, title, w.due, w.visible as i64, now],
        )?;
        let id = tx.last_insert_rowid();
        for (pos, item) in w.items.iter().enumerate() {
            tx.execute(
                "INSERT INTO work_items(work_id, pos, pack, path, title) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, pos as i64, item.pack, item.path, item.title],
            )?;
        }
        for p in w.pupils {
            let n = tx.execute(
                "INSERT INTO work_pupils(work_id, pupil_id) SELECT ?1, id FROM pupils WHERE id = ?2 AND class_id = ?3",
                params![id, p, w.class_id],
            )?;
            if n == 0 {
                return Ok(None);
            }
        }
        tx.commit()?;
        Ok(Some(id))
    }

    pub fn work(&self, id: i64) -> Result<Option<Work>> {
        let head = self
            .conn
            .query_row("SELECT id, class_id, title, due, visible FROM work WHERE id = ?1", [id], |r| {
                Ok(Work {
                    id: r.get(0)?,
                    class_id: r.get(1)?,
                    title: r.get(2)?,
                    due: r.get(3)?,
                    visible: r.get::<_, i64>(4)? != 0,
                    items: Vec::new(),
                    pupils: Vec::new(),
                })
            })
            .optional()?;
        let Some(mut w) = head else { return Ok(None) };
        let mut st = self.conn.prepare("SELECT pack, path, title FROM work_items WHERE work_id = ?1 ORDER BY pos")?;
        w.items = st
            .query_map([id], |r| Ok(WorkItem { pack: r.get(0)?, path: r.get(1)?, title: r.get(2)? }))?
            .collect::<Result<_>>()?;
        let mut st = self.conn.prepare("SELECT pupil_id FROM work_pupils WHERE work_id = ?1 ORDER BY pupil_id")?;
        w.pupils = st.query_map([id], |r| r.get(0))?.collect::<Result<_>>()?;
        Ok(Some(w))
    }

    /// A class's work, soonest due first (no due date last), then newest.
    pub fn works_of_class(&self, class_id: i64) -> Result<Vec<Work>> {
        let mut st = self.conn.prepare(
            "SELECT id FROM work WHERE class_id = ?1 ORDER BY due IS NULL, due, created DESC, id DESC LIMIT 200",
        )?;
        let ids: Vec<i64> = st.query_map([class_id], |r| r.get(0))?.collect::<Result<_>>()?;
        ids.into_iter().filter_map(|id| self.work(id).transpose()).collect()
    }

    /// The visible work given to a pupil (their class's, for everyone or for them).
    pub fn works_for_pupil(&self, pupil_id: i64) -> Result<Vec<Work>> {
        let Some(class_id) = self
            .conn
            .query_row("SELECT class_id FROM pupils WHERE id = ?1", [pupil_id], |r| r.get::<_, i64>(0))
            .optional()?
        else {
            return Ok(Vec::new());
        };
        Ok(self
            .works_of_class(class_id)?
            .into_iter()
            .filter(|w| w.visible && (w.pupils.is_empty() || w.pupils.contains(&pupil_id)))
            .collect())
    }

    /// Shows or hides a piece of work; `false` when there is none.
    pub fn set_work_visible(&self, id: i64, visible: bool) -> Result<bool> {
        Ok(self.conn.execute("UPDATE work SET visible = ?2 WHERE id = ?1", params![id, visible as i64])? == 1)
    }

    pub fn delete_work(&self, id: i64) -> Result<bool> {
        Ok(self.conn.execute("DELETE FROM work WHERE id = ?1", [id])? == 1)
    }
}
