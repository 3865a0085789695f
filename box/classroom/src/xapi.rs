//! xAPI statements for the outbox. The actor is pseudonymous: an account whose home page
//! names the box and whose name is the pupil's random UUID — never the pupil's name.

use serde_json::{Value, json};

/// Verbs the box emits, with their ADL identifiers.
fn verb_iri(verb: &str) -> String {
    match verb {
        "opened" => "http://activitystrea.ms/schema/1.0/open".into(),
        "completed" => "http://adlnet.gov/expapi/verbs/completed".into(),
        "answered" => "http://adlnet.gov/expapi/verbs/answered".into(),
        "submitted" => "http://adlnet.gov/expapi/verbs/submitted".into(),
        other => format!("urn:preau:verb:{other}"),
    }
}

/// Builds a statement. `now` is a Unix time in seconds.
#[allow(clippy::too_many_arguments)]
pub fn statement(
    id: &str,
    box_id: &str,
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
    let mut s = json!({
        "id": id,
        "actor": {
            "objectType": "Agent",
            "account": {"homePage": format!("urn:preau:box:{box_id}"), "name": pupil_uuid},
        },
        "verb": {"id": verb_iri(verb), "display": {"en-US": verb}},
        "object": {"objectType": "Activity", "id": format!("urn:preau:pack:{pack}/{path}")},
        "timestamp": timestamp,
    });
    if let Some(r) = result {
        s["result"] = r;
    }
    s
}
