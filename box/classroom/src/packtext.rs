//! Everything a pack gives the box's own pages (quiz questions and feedback, assignment
//! instructions, the course outline) is cleaned here, when it is loaded, with the
//! importers' allowlist (`preau_import::sanitize`), whoever built the pack: a folder pack
//! with hand-written `_preau/` files never went through an importer (issue 14: a
//! `<meta http-equiv=refresh>`, a fixed overlay and a form aimed at `/admin/teachers`
//! reached the box's pages). Every HTML field of the pack formats is named `…_html`;
//! other text is escaped when a page is built.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Cleans every `…_html` string of a JSON document, at any depth (serde_json's parser
/// bounds the depth to 128).
pub fn clean_html_fields(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, x) in map.iter_mut() {
                match x {
                    Value::String(s) if k.ends_with("_html") => *s = preau_import::sanitize::clean(s),
                    _ => clean_html_fields(x),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(clean_html_fields),
        _ => {}
    }
}

/// Parses a pack's JSON file with its HTML fields cleaned.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    let mut v: Value = serde_json::from_slice(bytes).ok()?;
    clean_html_fields(&mut v);
    serde_json::from_value(v).ok()
}

/// The JSON bytes of a pack's file with its HTML fields cleaned (for parsers that take
/// bytes and check more than the shape, like `quiz::from_json`).
pub fn cleaned_bytes(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut v: Value = serde_json::from_slice(bytes).ok()?;
    clean_html_fields(&mut v);
    serde_json::to_vec(&v).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_fields_are_cleaned_at_any_depth_and_other_text_is_left() {
        let mut v = serde_json::json!({
            "title": "<b>kept: escaped when shown</b>",
            "intro_html": "<meta http-equiv=\"refresh\" content=\"0;url=http://evil.example\"><p>Bonjour</p>",
            "questions": [{"text_html": "<div style=\"position:fixed;inset:0\">x</div><form action=\"/admin/teachers\"><input name=name></form><script>alert(1)</script>$$x^2$$"}]
        });
        clean_html_fields(&mut v);
        let intro = v["intro_html"].as_str().unwrap();
        assert_eq!(intro, "<p>Bonjour</p>");
        let q = v["questions"][0]["text_html"].as_str().unwrap();
        for bad in ["style", "position", "<form", "/admin/teachers", "<input", "<script", "alert"] {
            assert!(!q.contains(bad), "{bad} in {q}");
        }
        assert!(q.contains("$$x^2$$"), "TeX survives: {q}");
        assert_eq!(v["title"], "<b>kept: escaped when shown</b>");
    }
}
