//! Untrusted HTML (Moodle fields, question texts) goes through one allowlist before it
//! reaches a pack. Scripts, event handlers, styles, iframes and forms are dropped; text
//! is kept as it is, so TeX (`$$…$$`, `\(…\)`) survives for the box to render offline.

use std::sync::OnceLock;

fn builder() -> &'static ammonia::Builder<'static> {
    static B: OnceLock<ammonia::Builder<'static>> = OnceLock::new();
    B.get_or_init(|| {
        let mut b = ammonia::Builder::default();
        b.add_tags(["video", "audio", "source", "track", "figure", "figcaption", "details", "summary"])
            .add_tag_attributes("video", ["src", "controls", "width", "height", "poster"])
            .add_tag_attributes("audio", ["src", "controls"])
            .add_tag_attributes("source", ["src", "type"])
            .add_tag_attributes("track", ["src", "kind", "srclang", "label"])
            .add_generic_attributes(["class", "id", "dir"])
            // Links leave the sandboxed pack origin without a referrer.
            .link_rel(Some("noopener noreferrer"))
            .url_relative(ammonia::UrlRelative::PassThrough);
        b
    })
}

/// Cleans one HTML fragment.
pub fn clean(html: &str) -> String {
    builder().clean(html).to_string()
}

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a pack path for use in an `href` (each component, keeping `/`).
pub fn url_path(path: &str) -> String {
    let mut out = String::new();
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes; invalid escapes stay as they are.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(v) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_active_content_and_keeps_tex() {
        let dirty = r#"<p onclick="x()">Aire : \(\pi r^2\) et $$E=mc^2$$</p><script>alert(1)</script><iframe src="https://evil"></iframe><a href="javascript:alert(1)">l</a><img src="../files/a.png" style="x">"#;
        let clean = clean(dirty);
        assert!(clean.contains(r"\(\pi r^2\)") && clean.contains("$$E=mc^2$$"), "{clean}");
        for bad in ["onclick", "<script", "<iframe", "javascript:", "style="] {
            assert!(!clean.contains(bad), "{bad} kept in {clean}");
        }
        assert!(clean.contains(r#"src="../files/a.png""#), "{clean}");
    }

    #[test]
    fn url_helpers() {
        assert_eq!(url_path("files/a b/é.png"), "files/a%20b/%C3%A9.png");
        assert_eq!(percent_decode("a%20b%E2%80%AF"), "a b\u{202f}");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
