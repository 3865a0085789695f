//! TEMPORARY copy of `preau_pack::course` (branch `import`); goes when it is merged.
#![allow(dead_code)]
//! Course outlines and assignments: what importers write to `_preau/course.json` and
//! `_preau/assign/<id>.json`, and what the box reads to track progress and to collect
//! pupils' work offline. Also the import report stored at `_preau/import-report.json`
//! is described by the importer crate; its path is here so both sides agree.

use serde::{Deserialize, Serialize};

/// Where the box-only files live inside a pack (never served under `/packs/{id}/`).
pub const COURSE_PATH: &str = "_preau/course.json";
pub const IMPORT_REPORT_PATH: &str = "_preau/import-report.json";

/// `_preau/quiz/<id>.json`
pub fn quiz_path(id: &str) -> String {
    format!("_preau/quiz/{id}.json")
}

/// `_preau/assign/<id>.json`
pub fn assign_path(id: &str) -> String {
    format!("_preau/assign/{id}.json")
}

/// The course as a pupil walks through it: sections in order, activities in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CourseOutline {
    pub title: String,
    #[serde(default)]
    pub summary_html: String,
    pub sections: Vec<Section>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    pub title: String,
    #[serde(default)]
    pub summary_html: String,
    pub activities: Vec<Activity>,
}

/// One activity of a section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    /// Unique within the pack, for example `page-12` (the Moodle module id keeps it stable
    /// across re-imports of the same course).
    pub id: String,
    /// Moodle's module name: `page`, `quiz`, `assign`, `url`, `resource`, `forum`…
    pub kind: String,
    pub title: String,
    /// A page inside the pack (`activities/page-12.html`), or `_quiz/<id>` /
    /// `_assign/<id>` for the box's quiz player and submission form.
    pub path: String,
    /// False when the activity needs a server (forum, H5P, unknown plugins): its page
    /// only says so.
    pub available_offline: bool,
}

/// What a pupil hands in for an assignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub id: String,
    pub title: String,
    /// Sanitised HTML instructions.
    #[serde(default)]
    pub intro_html: String,
    pub accepts_text: bool,
    pub accepts_file: bool,
    /// Largest accepted file, in bytes (0: the box's own default).
    #[serde(default)]
    pub max_bytes: u64,
    /// How many files one submission may hold.
    #[serde(default = "one")]
    pub max_files: u32,
    /// Lowercase extensions without the dot, for example `pdf`; empty means any.
    #[serde(default)]
    pub allowed_extensions: Vec<String>,
    /// Word limit for text submissions, if any.
    #[serde(default)]
    pub word_limit: Option<u32>,
}

fn one() -> u32 {
    1
}

impl CourseOutline {
    /// Every activity in course order.
    pub fn activities(&self) -> impl Iterator<Item = &Activity> {
        self.sections.iter().flat_map(|s| s.activities.iter())
    }
}

