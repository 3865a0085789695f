//! A small, bounded XML tree. Moodle's backup files and question exports are small
//! enough to hold in memory once their size is checked, and a tree keeps the readers
//! simple (`q.text("name")` instead of a state machine per file).
//!
//! Bounds: the input size (checked by the caller against `xml_bytes`), the nesting depth
//! and the number of elements. DTDs are refused: no entity expansion ("billion laughs").

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::error::{ImportError, Result};

/// Moodle writes this for SQL NULL.
const MOODLE_NULL: &str = "$@NULL@$";

/// Most elements one XML document may have.
pub const MAX_ELEMENTS: usize = 2_000_000;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    /// All text directly inside this element, unescaped and concatenated.
    pub text: String,
}

impl Element {
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Follows a `/`-separated path of child names.
    pub fn at(&self, path: &str) -> Option<&Element> {
        path.split('/').try_fold(self, |e, name| e.child(name))
    }

    /// Every element reached by a path whose last step may repeat:
    /// `all("answers/answer")`.
    pub fn all<'a>(&'a self, path: &'a str) -> Vec<&'a Element> {
        let mut current = vec![self];
        for name in path.split('/') {
            current = current.into_iter().flat_map(|e| e.children_named(name)).collect();
        }
        current
    }

    /// The text of the element at `path`, empty when missing or NULL.
    pub fn text(&self, path: &str) -> String {
        self.at(path).map(|e| e.value()).unwrap_or_default()
    }

    /// This element's own text, empty for Moodle's NULL marker.
    pub fn value(&self) -> String {
        if self.text == MOODLE_NULL { String::new() } else { self.text.clone() }
    }

    pub fn num(&self, path: &str) -> Option<f64> {
        self.text(path).trim().parse::<f64>().ok().filter(|v| v.is_finite())
    }

    pub fn int(&self, path: &str) -> Option<i64> {
        self.text(path).trim().parse::<i64>().ok()
    }

    pub fn flag(&self, path: &str) -> bool {
        matches!(self.text(path).trim(), "1" | "true")
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Parses a whole document; `what` names it in errors (an archive member, a file).
pub fn parse(bytes: &[u8], what: &str, max_depth: usize) -> Result<Element> {
    let bad = |detail: String| ImportError::Xml { what: what.to_string(), detail };
    let text = std::str::from_utf8(bytes).map_err(|e| bad(format!("not UTF-8: {e}")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = vec![Element::default()];
    let mut elements = 0usize;
    loop {
        let pos = reader.buffer_position();
        let event = reader.read_event().map_err(|e| bad(format!("{e} (near byte {pos})")))?;
        match event {
            Event::Start(e) | Event::Empty(e) if stack.len() > max_depth => {
                let _ = e;
                return Err(ImportError::limit(
                    format!("XML nesting in {what}"),
                    format!("deeper than {max_depth} levels"),
                ));
            }
            Event::Start(e) => {
                stack.push(start_element(&e).map_err(bad)?);
                elements += 1;
            }
            Event::Empty(e) => {
                let el = start_element(&e).map_err(bad)?;
                stack.last_mut().expect("root").children.push(el);
                elements += 1;
            }
            Event::End(_) => {
                let el = stack.pop().expect("quick-xml checks end tags");
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => return Err(bad("unbalanced end tag".into())),
                }
            }
            Event::Text(t) => stack.last_mut().expect("root").text.push_str(&t.xml10_content()),
            Event::CData(t) => stack.last_mut().expect("root").text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref().map_err(|e| bad(e.to_string()))? {
                    Some(c) => c,
                    None => match r.xml10_content().as_ref() {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "quot" => '"',
                        "apos" => '\'',
                        other => return Err(bad(format!("unknown entity &{other};"))),
                    },
                };
                stack.last_mut().expect("root").text.push(c);
            }
            Event::DocType(_) => return Err(bad("document type declarations are not accepted".into())),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
        if elements > MAX_ELEMENTS {
            return Err(ImportError::limit(format!("elements in {what}"), format!("more than {MAX_ELEMENTS}")));
        }
    }
    if stack.len() != 1 {
        return Err(bad(format!("truncated: {} element(s) not closed", stack.len() - 1)));
    }
    let mut root = stack.pop().expect("root");
    let mut elements = root.children.into_iter().filter(|c| !c.name.is_empty());
    let first = elements.next().ok_or_else(|| bad("no root element".into()))?;
    if elements.next().is_some() {
        return Err(bad("more than one root element".into()));
    }
    root.children = Vec::new();
    Ok(first)
}

fn start_element(e: &quick_xml::events::BytesStart<'_>) -> std::result::Result<Element, String> {
    let name = e.name().as_ref().to_string();
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|err| format!("bad attribute in <{name}>: {err}"))?;
        let key = a.key.as_ref().to_string();
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|err| format!("bad attribute value in <{name}>: {err}"))?;
        attrs.push((key, value.into_owned()));
    }
    Ok(Element { name, attrs, children: Vec::new(), text: String::new() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_text_entities_and_cdata() {
        let doc = parse(
            b"<?xml version=\"1.0\"?><a x=\"1&amp;2\"><b>&lt;p&gt;caf&#233;</b><c><![CDATA[<i>x</i>]]></c><d>$@NULL@$</d></a>",
            "t",
            10,
        )
        .unwrap();
        assert_eq!(doc.attr("x"), Some("1&2"));
        assert_eq!(doc.text("b"), "<p>café");
        assert_eq!(doc.text("c"), "<i>x</i>");
        assert_eq!(doc.text("d"), "");
        assert_eq!(doc.text("missing"), "");
    }

    #[test]
    fn refuses_bad_documents() {
        for (bad, needle) in [
            (&b"<a><b></a>"[..], "malformed XML"),
            (b"<a><b>", "truncated"),
            (b"", "no root"),
            (b"<!DOCTYPE x [<!ENTITY a \"b\">]><a>&a;</a>", "document type"),
            (b"<a>&bogus;</a>", "unknown entity"),
            (b"\xff\xfe<a/>", "UTF-8"),
        ] {
            let err = parse(bad, "t", 10).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
        let deep = "<a>".repeat(50) + &"</a>".repeat(50);
        assert!(parse(deep.as_bytes(), "t", 20).unwrap_err().to_string().contains("nesting"));
    }
}
