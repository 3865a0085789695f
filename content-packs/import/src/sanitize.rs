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
pub use preau_pack::text::escape_html as escape;

/// Percent-encodes a pack path for use in an `href` (each component, keeping `/`).
pub use preau_pack::text::encode_path as url_path;

/// Decodes `%XX` escapes; invalid escapes stay as they are.
pub use preau_pack::text::percent_decode_lossy as percent_decode;

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
