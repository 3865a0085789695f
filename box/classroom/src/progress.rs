//! What a pupil has done, by one rule for every page that shows it (the pupil's home and
//! progress page, the teacher's table, work given to a class), and the course outlines it
//! is read against.

use preau_pack::course::CourseOutline;

use super::web::Shared;

/// A pack id or a path inside a pack that a pupil may open: relative, no `..`, not the
/// box-only `_preau/` folder.
pub fn valid_pack_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 1024
        && !path.starts_with('/')
        && !path.starts_with("_preau/")
        && path.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
}

/// What a pupil has done, read from their events and submissions: one rule for the
/// progress page, the home page and the teacher's view.
pub struct Done<'a> {
    /// (verb, pack, path)
    pub events: &'a [(String, String, String)],
    pub submissions: &'a [super::store::Submission],
}

impl Done<'_> {
    pub fn has(&self, verb: &str, pack: &str, path: &str) -> bool {
        self.events.iter().any(|(v, k, p)| v == verb && k == pack && p == path)
    }

    /// Work handed in for `_assign/<id>`: `Some(best mark so far, if marked)`.
    pub fn handed_in(&self, pack: &str, path: &str) -> Option<Option<f64>> {
        let id = path.strip_prefix("_assign/")?;
        let mut found = self.submissions.iter().filter(|s| s.pack == pack && s.assign == id).peekable();
        found.peek()?;
        Some(found.filter_map(|s| s.mark).fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x)))))
    }

    /// Whether an activity of `outline` is done: marked done, handed in, a quiz
    /// attempted, or (a lesson page) the pupil went on to a later activity of the course
    /// (reaching the next page means this one was read to its end).
    pub fn finished(&self, pack: &str, outline: &CourseOutline, path: &str) -> bool {
        // A submitted quiz attempt writes `completed` for `_quiz/<id>`.
        if self.has("completed", pack, path) || self.handed_in(pack, path).is_some() {
            return true;
        }
        if path.starts_with('_') {
            return false;
        }
        let offline: Vec<&str> =
            outline.activities().filter(|a| a.available_offline).map(|a| a.path.as_str()).collect();
        let Some(i) = offline.iter().position(|p| *p == path) else { return false };
        self.has("opened", pack, path)
            && offline[i + 1..]
                .iter()
                .any(|later| self.has("opened", pack, later) || self.has("completed", pack, later))
    }

    /// (done, total) over the course's activities a pupil can do offline.
    pub fn course(&self, pack: &str, outline: &CourseOutline) -> (usize, usize) {
        let offline: Vec<&str> =
            outline.activities().filter(|a| a.available_offline).map(|a| a.path.as_str()).collect();
        let done = offline.iter().filter(|p| self.finished(pack, outline, p)).count();
        (done, offline.len())
    }
}

/// Reads a pack's course outline, if it has one.
pub fn outline(app: &Shared, pack: &str) -> Option<CourseOutline> {
    let bytes = app.ctx.packs.read(pack, preau_pack::course::COURSE_PATH)?;
    if bytes.len() > 4 * 1024 * 1024 {
        return None;
    }
    super::packtext::parse(&bytes)
}
