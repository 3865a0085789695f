//! The HTML shell of every page an importer generates: simple, readable on a phone,
//! French UI words, a small embedded stylesheet, and only relative links (a pack is
//! served under `/packs/{id}/`, so nothing may start with `/`).

use crate::sanitize::escape;

const CSS: &str = "body{font-family:system-ui,sans-serif;max-width:48rem;margin:0 auto;padding:1rem;line-height:1.5;color:#1a1a1a}\
img,video{max-width:100%;height:auto}pre{overflow-x:auto;background:#f4f4f4;padding:.5rem}\
nav.fil{font-size:.9rem;margin-bottom:1rem}nav.fil a{margin-right:1rem}\
.section{border-top:1px solid #ccc;margin-top:1.5rem}.activites{list-style:none;padding:0}\
.activites li{margin:.4rem 0}.type{font-size:.8rem;color:#555;margin-left:.4rem}\
.horsligne{background:#fff4e5;border-left:4px solid #e69500;padding:.5rem 1rem}\
.admonition{border-left:4px solid #2a6ebb;background:#eef4fb;padding:.5rem 1rem;margin:1rem 0}\
.admonition.warning,.admonition.danger{border-color:#c0392b;background:#fbeeee}\
.admonition-title{font-weight:bold;margin:0}\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .4rem}";

/// A link shown in the navigation bar: (relative href, label).
pub type NavLink = (String, String);

/// A complete page. `body` must already be safe HTML.
pub fn page(title: &str, lang: &str, nav: &[NavLink], body: &str) -> String {
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"");
    out.push_str(&escape(if lang.is_empty() { "fr" } else { lang }));
    out.push_str("\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
    out.push_str(&escape(title));
    out.push_str("</title>\n<style>");
    out.push_str(CSS);
    out.push_str("</style>\n</head>\n<body>\n");
    if !nav.is_empty() {
        out.push_str("<nav class=\"fil\">");
        for (href, label) in nav {
            out.push_str(&format!("<a href=\"{}\">{}</a>", escape(href), escape(label)));
        }
        out.push_str("</nav>\n");
    }
    out.push_str(&format!("<h1>{}</h1>\n", escape(title)));
    out.push_str(body);
    out.push_str("\n</body>\n</html>\n");
    out
}

/// The body of a page for an activity that needs a server.
pub fn offline_notice(kind_label: &str, reason: &str, intro_html: &str) -> String {
    format!(
        "<p class=\"horsligne\"><strong>Non disponible hors ligne.</strong> Cette activité ({}) ne peut pas fonctionner sur la boîte : {}.</p>\n{}",
        escape(kind_label),
        escape(reason),
        intro_html
    )
}
