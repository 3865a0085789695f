//! xAPI statements for the outbox. The actor is pseudonymous: an account whose name is
//! the pupil's random UUID — never the pupil's name. The statement is written when the
//! event happens (its id and timestamp are fixed then) and kept as is; what leaves the
//! box is rendered from it by `preau_sync::upstream::publish` (actor home page URL,
//! free-text responses replaced by a digest unless the school turned them on).

use serde_json::{Value, json};

/// A time before which the box's clock cannot be right (2026-01-01): a Pi without a
/// real-time clock boots in 1970 until something sets the time.
pub const CLOCK_FLOOR: i64 = 1_767_225_600;

/// Context extension marking a statement made while the box's clock had never been set:
/// its timestamp is the box's best guess, not the time of the event.
pub const EXT_CLOCK_UNSET: &str = "urn:preau:xapi:ext:clock-unset";
/// Activity definition extension naming the pack and its version.
pub const EXT_PACK: &str = "urn:preau:xapi:ext:pack";
/// Activity definition extension with the Moodle source's own identifiers (site, course,
/// activity, question), for content imported from a Moodle backup.
pub const EXT_MOODLE: &str = "urn:preau:xapi:ext:moodle-source";

/// What the box knows of an installed pack when a statement is written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PackRef {
    pub version: u64,
    /// The importer that made it (`moodle`, `git`, `folder`…).
    pub kind: String,
    /// Where it came from (for a Moodle backup, the site's `wwwroot`).
    pub source_url: String,
    /// The source's own id of the course (Moodle's `original_course_id`), if known.
    pub source_id: String,
}

/// Verbs the box emits, with their ADL identifiers.
fn verb_iri(verb: &str) -> String {
    match verb {
        "opened" => "http://activitystrea.ms/schema/1.0/open".into(),
        "completed" => "http://adlnet.gov/expapi/verbs/completed".into(),
        "answered" => "http://adlnet.gov/expapi/verbs/answered".into(),
        "submitted" => "http://adlnet.gov/expapi/verbs/submitted".into(),
        other => format!("urn:preau:verb:{}", iri_escape(other)),
    }
}

/// Percent-encodes what may not stand in an IRI (spaces, quotes, brackets, controls),
/// keeping `/` and `#` so the path still reads.
pub fn iri_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let keep =
            c.is_alphanumeric() && !c.is_ascii() || c.is_ascii_alphanumeric() || "-._~/#:@!$&'()*+,;=".contains(c);
        if keep {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// Where the event happened: the box's id, the pack's installed version, whether the
/// clock was ever set.
#[derive(Debug, Clone)]
pub struct Origin {
    pub box_id: String,
    pub pack: Option<PackRef>,
    pub clock_set: bool,
}

/// The Moodle identifiers behind a path of a Moodle import: the importer names quizzes
/// `quiz-<cmid>`, assignments `assign-<cmid>`, and keeps Moodle's question ids.
fn moodle_source(pack: &str, path: &str, r: &PackRef) -> Option<Value> {
    if r.kind != "moodle" {
        return None;
    }
    // The course as the source names it; the pack id (from the course's short name) for
    // packs built before the importer kept Moodle's course id.
    let course = if r.source_id.is_empty() { pack } else { r.source_id.as_str() };
    let mut v = json!({"site": r.source_url, "course": course});
    let (activity, question) = match path.split_once('#') {
        Some((a, q)) => (a, Some(q)),
        None => (path, None),
    };
    let name = activity.rsplit('/').next().unwrap_or("");
    if let Some((_, cmid)) = name.split_once('-')
        && !cmid.is_empty()
        && cmid.bytes().all(|b| b.is_ascii_digit())
    {
        v["activity"] = json!(cmid);
    }
    if let Some(q) = question {
        v["question"] = json!(q);
    }
    Some(v)
}

/// Builds a statement. `now` is a Unix time in seconds (the box's corrected time).
#[allow(clippy::too_many_arguments)]
pub fn statement(
    id: &str,
    origin: &Origin,
    pupil_uuid: &str,
    verb: &str,
    pack: &str,
    path: &str,
    result: Option<Value>,
    now: i64,
) -> Value {
    let timestamp = time::OffsetDateTime::from_unix_timestamp(now)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into());
    let mut pack_ref = json!({"id": pack});
    let mut extensions = serde_json::Map::new();
    if let Some(r) = &origin.pack {
        pack_ref["version"] = json!(r.version);
        if let Some(m) = moodle_source(pack, path, r) {
            extensions.insert(EXT_MOODLE.into(), m);
        }
    }
    extensions.insert(EXT_PACK.into(), pack_ref);
    let mut s = json!({
        "id": id,
        "actor": {
            "objectType": "Agent",
            "account": {"homePage": format!("urn:preau:box:{}", origin.box_id), "name": pupil_uuid},
        },
        "verb": {"id": verb_iri(verb), "display": {"en-US": verb}},
        "object": {
            "objectType": "Activity",
            "id": format!("urn:preau:pack:{}/{}", iri_escape(pack), iri_escape(path)),
            "definition": {"extensions": extensions},
        },
        "timestamp": timestamp,
    });
    if !origin.clock_set {
        s["context"] = json!({"extensions": {EXT_CLOCK_UNSET: true}});
    }
    if let Some(r) = result {
        s["result"] = r;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_name_content_and_mark_an_unset_clock() {
        let r = PackRef { version: 4, kind: "folder".into(), ..Default::default() };
        let o = Origin { box_id: "b".into(), pack: Some(r), clock_set: false };
        let s = statement("i", &o, "u", "opened", "maths", "cours 1/index.html", None, 0);
        assert_eq!(s["object"]["id"], "urn:preau:pack:maths/cours%201/index.html");
        assert_eq!(s["object"]["definition"]["extensions"][EXT_PACK], json!({"id": "maths", "version": 4}));
        assert_eq!(s["context"]["extensions"][EXT_CLOCK_UNSET], true);
        let o = Origin { clock_set: true, ..o };
        let s = statement("i", &o, "u", "opened", "maths", "é\"<", None, CLOCK_FLOOR);
        assert!(s.get("context").is_none());
        assert_eq!(s["object"]["id"], "urn:preau:pack:maths/é%22%3C");
        assert_eq!(s["timestamp"], "2026-01-01T00:00:00Z");
        assert!(s["object"]["definition"]["extensions"].get(EXT_MOODLE).is_none());
    }

    #[test]
    fn moodle_imports_carry_the_sources_identifiers() {
        let r = PackRef {
            version: 2,
            kind: "moodle".into(),
            source_url: "https://elea.example/".into(),
            source_id: String::new(),
        };
        let o = Origin { box_id: "b".into(), pack: Some(r.clone()), clock_set: true };
        let s = statement("i", &o, "u", "answered", "fractions-cm2", "_quiz/quiz-812#4471", None, CLOCK_FLOOR);
        assert_eq!(
            s["object"]["definition"]["extensions"][EXT_MOODLE],
            json!({"site": "https://elea.example/", "course": "fractions-cm2", "activity": "812", "question": "4471"})
        );
        let s = statement("i", &o, "u", "opened", "fractions-cm2", "section-1/index.html", None, CLOCK_FLOOR);
        assert_eq!(s["object"]["definition"]["extensions"][EXT_MOODLE].get("activity"), None);
        // With Moodle's own course id, the course is named by it.
        let r = PackRef { source_id: "2798".into(), ..r };
        let o = Origin { box_id: "b".into(), pack: Some(r), clock_set: true };
        let s = statement("i", &o, "u", "opened", "fractions-cm2", "index.html", None, CLOCK_FLOOR);
        assert_eq!(s["object"]["definition"]["extensions"][EXT_MOODLE]["course"], "2798");
    }
}
