//! What leaves the box (pure): a statement of the outbox rewritten as it is sent.
//!
//! The outbox keeps statements as the box wrote them when the event happened (id,
//! timestamp, verb, object, result). Before they leave, this module:
//! - rebuilds the actor from the pupil's random UUID alone, under an `account.homePage`
//!   URL that names the box (`<home_page>box/<box id>`): whatever else an actor might
//!   carry (a name, an mbox) never leaves;
//! - replaces a free-text `result.response` by its hash and length, unless the school
//!   turned responses on (`[upstream] send_responses`);
//! - keeps only the xAPI properties the box writes, so a field added locally later does
//!   not leak by accident;
//! - drops a score the teacher has not given yet (an essay: `raw` is null), which an
//!   LRS would refuse.
//!
//! The same function renders the example statement on the teacher's admin page, so the
//! page shows exactly what goes up.

use serde_json::{Map, Value, json};

/// Extension of `result` holding the hash and length of a response that stays on the box.
pub const EXT_RESPONSE: &str = "urn:preau:xapi:ext:response-digest";

/// How statements are rendered for the LRS.
#[derive(Debug, Clone)]
pub struct PublishOptions {
    /// The box's own id (it names the box, not a pupil).
    pub box_id: String,
    /// Base URL of `account.homePage`, ending with `/`.
    pub home_page: String,
    /// Send free-text responses as they are.
    pub send_responses: bool,
}

impl PublishOptions {
    pub fn home_page_url(&self) -> String {
        format!("{}box/{}", self.home_page, self.box_id)
    }
}

/// The statement as sent, or why it cannot be (the push quarantines it).
pub fn publish(stored: &Value, opts: &PublishOptions) -> Result<Value, String> {
    let s = stored.as_object().ok_or("the stored statement is not a JSON object")?;
    let id = s.get("id").and_then(Value::as_str).ok_or("the stored statement has no id")?;
    let name = s
        .get("actor")
        .and_then(|a| a.get("account"))
        .and_then(|a| a.get("name"))
        .and_then(Value::as_str)
        .ok_or("the stored statement's actor has no account name")?;
    // The pupil's random UUID, and nothing else, identifies the actor: refuse anything
    // that could be a name typed by someone.
    if !is_uuid(name) {
        return Err("the actor's account name is not a UUID".into());
    }
    let mut out = Map::new();
    out.insert("id".into(), json!(id));
    out.insert(
        "actor".into(),
        json!({"objectType": "Agent", "account": {"homePage": opts.home_page_url(), "name": name}}),
    );
    for key in ["verb", "object", "timestamp", "context"] {
        if let Some(v) = s.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    if let Some(r) = s.get("result").and_then(Value::as_object) {
        let mut result = r.clone();
        if let Some(score) = result.get("score")
            && score.get("raw").is_none_or(Value::is_null)
        {
            result.remove("score");
        }
        if !opts.send_responses
            && let Some(resp) = result.remove("response")
        {
            let text = match &resp {
                Value::String(t) => t.clone(),
                other => other.to_string(),
            };
            let ext = result.entry("extensions").or_insert_with(|| json!({}));
            if let Some(ext) = ext.as_object_mut() {
                ext.insert(
                    EXT_RESPONSE.into(),
                    json!({"blake3": blake3::hash(text.as_bytes()).to_hex().to_string(),
                           "length": text.chars().count()}),
                );
            }
        }
        if !result.is_empty() {
            out.insert("result".into(), Value::Object(result));
        }
    }
    Ok(Value::Object(out))
}

/// `8-4-4-4-12` lowercase or uppercase hex digits.
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(send: bool) -> PublishOptions {
        PublishOptions { box_id: "b0x".into(), home_page: "https://lrs.example/".into(), send_responses: send }
    }

    fn stored() -> Value {
        json!({
            "id": "6d1f1d0e-4a8b-4c8e-9a53-2f4a3c1f0b11",
            "actor": {"objectType": "Agent", "name": "Alice Martin", "mbox": "mailto:a@b.c",
                      "account": {"homePage": "urn:preau:box:b0x", "name": "0f8fad5b-d9cb-469f-a165-70867728950e"}},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/answered"},
            "object": {"objectType": "Activity", "id": "urn:preau:pack:p/_quiz/q#1"},
            "result": {"score": {"raw": 1.0, "max": 2.0}, "response": "Le chat de Alice est roux"},
            "timestamp": "2026-01-01T10:00:00Z",
            "local_note": "never sent",
        })
    }

    #[test]
    fn the_actor_is_rebuilt_from_the_uuid_and_the_box_url() {
        let p = publish(&stored(), &opts(false)).unwrap();
        assert_eq!(
            p["actor"],
            json!({"objectType": "Agent", "account": {"homePage": "https://lrs.example/box/b0x",
                   "name": "0f8fad5b-d9cb-469f-a165-70867728950e"}})
        );
        let text = p.to_string();
        assert!(!text.contains("Alice") && !text.contains("mailto") && !text.contains("local_note"), "{text}");
        assert_eq!(p["timestamp"], "2026-01-01T10:00:00Z");
        let mut bad = stored();
        bad["actor"]["account"]["name"] = json!("Alice");
        assert!(publish(&bad, &opts(false)).unwrap_err().contains("UUID"));
    }

    #[test]
    fn responses_stay_home_unless_turned_on() {
        let p = publish(&stored(), &opts(false)).unwrap();
        assert!(p["result"].get("response").is_none());
        let d = &p["result"]["extensions"][EXT_RESPONSE];
        assert_eq!(d["length"], 25);
        assert_eq!(d["blake3"].as_str().unwrap().len(), 64);
        assert!(!p.to_string().contains("roux"));
        // Deterministic: a resend is the same statement (no 409 at the LRS).
        assert_eq!(publish(&stored(), &opts(false)).unwrap(), p);
        let p = publish(&stored(), &opts(true)).unwrap();
        assert_eq!(p["result"]["response"], "Le chat de Alice est roux");
    }

    #[test]
    fn an_unmarked_score_is_left_out() {
        let mut s = stored();
        s["result"] = json!({"score": {"raw": null, "max": 5.0}});
        let p = publish(&s, &opts(true)).unwrap();
        assert!(p.get("result").is_none(), "{p}");
    }
}
