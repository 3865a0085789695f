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

/// Why an activity of Moodle module `kind` cannot run on the box, in French, for the
/// course page and the pupil's home (the same words on both).
pub fn offline_reason_fr(kind: &str) -> &'static str {
    match kind {
        "forum" => "les messages d'un forum s'échangent sur le serveur Moodle",
        "chat" => "une discussion en direct se tient sur le serveur Moodle",
        "lti" => "c'est un outil externe (LTI), hébergé hors de la boîte",
        "bigbluebutton" | "bigbluebuttonbn" => "c'est une classe virtuelle en direct, qui nécessite internet",
        "feedback" | "choice" | "survey" | "questionnaire" => {
            "les réponses de la classe sont rassemblées sur le serveur Moodle"
        }
        "workshop" => "l'évaluation entre élèves se fait sur le serveur Moodle",
        "wiki" | "glossary" | "data" => "ce contenu s'écrit à plusieurs sur le serveur Moodle",
        "h5pactivity" | "hvp" => "une activité H5P a besoin du lecteur H5P de Moodle",
        "scorm" | "imscp" => "ce paquet interactif a besoin du lecteur de Moodle",
        "quiz" => "aucune question de ce test ne peut être jouée hors ligne",
        _ => "cette activité a besoin du serveur Moodle",
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outline_round_trips_and_lists_activities_in_order() {
        let outline = CourseOutline {
            title: "XML".into(),
            summary_html: String::new(),
            sections: vec![
                Section {
                    title: "Généralités".into(),
                    summary_html: String::new(),
                    activities: vec![Activity {
                        id: "page-1".into(),
                        kind: "page".into(),
                        title: "Intro".into(),
                        path: "activities/page-1.html".into(),
                        available_offline: true,
                    }],
                },
                Section {
                    title: "Module 1".into(),
                    summary_html: String::new(),
                    activities: vec![Activity {
                        id: "quiz-2".into(),
                        kind: "quiz".into(),
                        title: "Test".into(),
                        path: "_quiz/quiz-2".into(),
                        available_offline: true,
                    }],
                },
            ],
        };
        let json = serde_json::to_string(&outline).unwrap();
        assert_eq!(serde_json::from_str::<CourseOutline>(&json).unwrap(), outline);
        let ids: Vec<&str> = outline.activities().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["page-1", "quiz-2"]);
        assert_eq!(quiz_path("quiz-2"), "_preau/quiz/quiz-2.json");
        let a: Assignment =
            serde_json::from_str(r#"{"id":"a","title":"t","accepts_text":true,"accepts_file":false}"#).unwrap();
        assert_eq!((a.max_files, a.max_bytes), (1, 0));
    }
}
