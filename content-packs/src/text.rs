//! Text for HTML pages and URLs, shared by every crate that writes them (the importers,
//! the offline pass, the box's pack server and the classroom app): one HTML escaper, and
//! percent-encoding of pack paths through the `percent-encoding` crate; an error with its
//! sources on one line.

use std::borrow::Cow;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What stays as it is in a path segment: RFC 3986's unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
/// The same, keeping the slashes between segments.
const PATH: &AsciiSet = &SEGMENT.remove(b'/');

/// Percent-encodes one path segment (a `/` is encoded too).
pub fn encode_segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// Percent-encodes a relative path for a URL, keeping its slashes.
pub fn encode_path(s: &str) -> String {
    utf8_percent_encode(s, PATH).to_string()
}

/// Decodes `%XX` escapes; a `%` without two hex digits stays as it is, and bytes that
/// are not UTF-8 become U+FFFD (for links found in imported pages).
pub fn percent_decode_lossy(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Decodes `%XX` escapes of a request path (borrowed when there are none); `None` for a
/// `%` without two hex digits or bytes that are not UTF-8.
pub fn percent_decode_strict(s: &str) -> Option<Cow<'_, str>> {
    if !s.contains('%') {
        return Some(Cow::Borrowed(s));
    }
    let b = s.as_bytes();
    let escapes_ok = b
        .iter()
        .enumerate()
        .filter(|(_, c)| **c == b'%')
        .all(|(i, _)| b.get(i + 1..i + 3).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)));
    if !escapes_ok {
        return None;
    }
    percent_decode_str(s).decode_utf8().ok()
}

/// An error and its sources, `: `-joined (what a transport library puts in its chain
/// is what a teacher or operator needs to read).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(escape_html(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }

    #[test]
    fn encodes_paths_and_segments() {
        assert_eq!(encode_path("files/a b/é.png"), "files/a%20b/%C3%A9.png");
        assert_eq!(encode_path("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(encode_segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn decodes_lossy_and_strict() {
        assert_eq!(percent_decode_lossy("a%20b%E2%80%AF"), "a b\u{202f}");
        assert_eq!(percent_decode_lossy("100%"), "100%");
        assert_eq!(percent_decode_strict("cours/%C3%A9t%C3%A9%201.html").unwrap(), "cours/été 1.html");
        assert!(matches!(percent_decode_strict("plain.css"), Some(Cow::Borrowed("plain.css"))));
        for bad in ["%", "%2", "%zz", "%FF", "a%C3"] {
            assert!(percent_decode_strict(bad).is_none(), "{bad}");
        }
    }
}
