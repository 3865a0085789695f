//! The visible text of pack files, as a pupil reads it: what the index is built from and
//! what snippets are cut from (the index stores no text). Pure functions over bytes.
//!
//! - HTML: the text outside tags, without `script`, `style`, `template`, `svg`,
//!   navigation (`nav`, `header`, `footer`, `aside`: a MkDocs site repeats its whole
//!   menu on every page) and the box's own "Retour à l'accueil" link; `<title>` (else
//!   the first `<h1>`) is the title.
//! - Markdown: the text of the rendered events; the first heading is the title.
//! - Quizzes: the title, the introduction and the question stems of the *public view*
//!   (`preau_pack::quiz::public_view`), never choices, answers or feedback.
//! - Course outlines and assignments: titles, summaries, instructions.

use preau_pack::course::{Assignment, CourseOutline};
use preau_pack::quiz::{self, Quiz};

/// Text kept per document: enough for any lesson page; a bigger page is cut (and a
/// 300-page book in one HTML file is still found by its first 512 KiB).
pub const MAX_TEXT_BYTES: usize = 512 * 1024;

/// A document's title and visible text.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Extracted {
    pub title: String,
    pub text: String,
}

/// Elements whose content is never visible text.
const SKIP: &[&str] = &["script", "style", "template", "svg", "noscript", "nav", "header", "footer", "aside", "head"];

/// Elements that separate words even without spaces around them.
const BLOCK: &[&str] = &[
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "td",
    "th",
    "tr",
    "table",
    "section",
    "article",
    "main",
    "pre",
    "blockquote",
    "dt",
    "dd",
    "hr",
    "figure",
    "figcaption",
    "summary",
    "details",
    "option",
];

/// The class of the box's own link back to its home, added to every site page by the
/// importer (`preau_import::site::BACK_LINK_CLASS`): the same on every page, not content.
const BACK_LINK_CLASS: &str = "preau-retour";

/// The visible text and title of an HTML page.
pub fn html(page: &str) -> Extracted {
    html_upto(page, MAX_TEXT_BYTES)
}

/// The title and at most `max` bytes of the visible text of an HTML page: a snippet
/// needs only the start of a page, not its 512 KiB.
pub fn html_upto(page: &str, max: usize) -> Extracted {
    let max = max.min(MAX_TEXT_BYTES);
    let mut out = Extracted::default();
    let mut h1: Option<String> = None;
    let mut capture: Option<(&str, String)> = None; // title or h1 being read
    let bytes = page.as_bytes();
    let mut i = 0;
    let mut text_start = 0;
    while i < bytes.len() {
        if bytes[i] != b'<' {
            i += 1;
            continue;
        }
        push_text(&mut out.text, &mut capture, &page[text_start..i], max);
        if page[i..].starts_with("<!--") {
            i = page[i..].find("-->").map_or(bytes.len(), |e| i + e + 3);
            text_start = i;
            continue;
        }
        let end = tag_end(bytes, i);
        let tag = &page[i + 1..end.saturating_sub(1).max(i + 1)];
        i = end;
        text_start = i;
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if name.is_empty() {
            continue;
        }
        let self_closing = tag.ends_with('/');
        if !closing && !self_closing && (SKIP.contains(&name.as_str()) || is_back_link(&name, tag)) {
            // `<head>` holds the title: read it before skipping the rest.
            let close = skip_to_close(page, i, &name);
            if name == "head" {
                let head = &page[i..close.0];
                if out.title.is_empty() {
                    out.title = title_in(head);
                }
            }
            i = close.1;
            text_start = i;
            continue;
        }
        match (name.as_str(), closing) {
            ("title", false) => capture = Some(("title", String::new())),
            ("h1", false) if h1.is_none() && capture.is_none() => capture = Some(("h1", String::new())),
            ("title" | "h1", true) => {
                if let Some((what, t)) = capture.take() {
                    let t = squash(&t);
                    if what == "title" && out.title.is_empty() {
                        out.title = t;
                    } else if what == "h1" {
                        h1 = Some(t);
                    }
                }
            }
            _ => {}
        }
        if BLOCK.contains(&name.as_str()) || name == "title" {
            out.text.push('\n');
        }
        if out.text.len() >= max {
            break;
        }
    }
    if i >= bytes.len() {
        push_text(&mut out.text, &mut capture, &page[text_start.min(page.len())..], max);
    }
    if out.title.is_empty() {
        out.title = h1.unwrap_or_default();
    }
    out.text = squash(&out.text);
    cut(&mut out.text, max);
    out.title = squash(&out.title);
    cut(&mut out.title, 1024);
    out
}

/// Text of an HTML fragment (quiz stems, summaries), without a title.
pub fn html_text(fragment: &str) -> String {
    html(fragment).text
}

fn push_text(text: &mut String, capture: &mut Option<(&str, String)>, raw: &str, max: usize) {
    if raw.is_empty() || text.len() >= max {
        return;
    }
    let decoded = decode_entities(raw);
    if let Some((what, t)) = capture {
        t.push_str(&decoded);
        if *what == "title" {
            return; // the title is indexed on its own field
        }
    }
    text.push_str(&decoded);
}

/// The byte after the `>` that closes the tag starting at `start` (quotes respected).
fn tag_end(bytes: &[u8], start: usize) -> usize {
    let mut quote = None;
    for (k, &b) in bytes.iter().enumerate().skip(start + 1) {
        match (quote, b) {
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), _) if b == q => quote = None,
            (None, b'>') => return k + 1,
            _ => {}
        }
    }
    bytes.len()
}

/// Where the content of `<name>` that started before `from` ends: (start of `</name`,
/// byte after its `>`). Nesting of the same element is counted (`<nav>` in `<nav>`).
fn skip_to_close(page: &str, from: usize, name: &str) -> (usize, usize) {
    let lower_open = format!("<{name}");
    let lower_close = format!("</{name}");
    let mut depth = 1;
    let mut k = from;
    let hay = page.as_bytes();
    while k < hay.len() {
        let Some(off) = hay[k..].iter().position(|&b| b == b'<') else { break };
        k += off;
        let rest = &hay[k..];
        let is = |p: &str| {
            rest.len() > p.len()
                && rest[..p.len()].eq_ignore_ascii_case(p.as_bytes())
                && !rest[p.len()].is_ascii_alphanumeric()
        };
        // Inside raw text (script, style) only the matching end tag counts.
        if is(&lower_close) {
            depth -= 1;
            if depth == 0 {
                return (k, tag_end(hay, k));
            }
        } else if !matches!(name, "script" | "style") && is(&lower_open) {
            depth += 1;
        }
        k += 1;
    }
    (hay.len(), hay.len())
}

fn title_in(head: &str) -> String {
    let lower = head.to_ascii_lowercase();
    let Some(open) = lower.find("<title") else { return String::new() };
    let Some(gt) = lower[open..].find('>') else { return String::new() };
    let start = open + gt + 1;
    let end = lower[start..].find("</title").map_or(head.len(), |e| start + e);
    squash(&decode_entities(&head[start..end]))
}

fn is_back_link(name: &str, tag: &str) -> bool {
    name == "a" && tag.contains(BACK_LINK_CLASS)
}

/// `&amp;`, `&eacute;`, `&#233;`, `&#xE9;`… decoded; anything else left as written.
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let semi = rest[1..].find(';').map(|k| k + 1).filter(|&k| k <= 32);
        match semi.and_then(|k| htmlescape::decode_html(&rest[..=k]).ok().map(|d| (k, d))) {
            Some((k, decoded)) => {
                out.push_str(&decoded);
                rest = &rest[k + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Runs of white space become one space (a newline kept where a block ended).
fn squash(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending: Option<char> = None;
    for c in s.chars() {
        if c.is_whitespace() {
            if c == '\n' || pending.is_none() {
                pending = Some(if c == '\n' { '\n' } else { ' ' });
            }
        } else {
            if let Some(p) = pending.take()
                && !out.is_empty()
            {
                out.push(p);
            }
            out.push(c);
        }
    }
    out
}

/// Cuts `s` to at most `max` bytes, on a character boundary.
pub fn cut(s: &mut String, max: usize) {
    if s.len() > max {
        let mut k = max;
        while !s.is_char_boundary(k) {
            k -= 1;
        }
        s.truncate(k);
    }
}

/// The text and title of a Markdown page.
pub fn markdown(md: &str) -> Extracted {
    markdown_upto(md, MAX_TEXT_BYTES)
}

/// The title and at most `max` bytes of the text of a Markdown page.
pub fn markdown_upto(md: &str, max: usize) -> Extracted {
    let max = max.min(MAX_TEXT_BYTES);
    use pulldown_cmark::{Event, Parser, Tag, TagEnd};
    let mut out = Extracted::default();
    let mut in_heading = false;
    for event in Parser::new(md) {
        match event {
            Event::Start(Tag::Heading { .. }) => {
                in_heading = out.title.is_empty();
                out.text.push('\n');
            }
            Event::Text(t) | Event::Code(t) => {
                if in_heading {
                    out.title.push_str(&t);
                }
                out.text.push_str(&t);
            }
            Event::Html(h) | Event::InlineHtml(h) => out.text.push_str(&html_text(&h)),
            Event::SoftBreak | Event::HardBreak => out.text.push(' '),
            Event::End(end) => {
                if matches!(end, TagEnd::Heading(_)) {
                    in_heading = false;
                }
                // Blocks separate words; inline ends (emphasis, links) do not.
                if matches!(
                    end,
                    TagEnd::Heading(_)
                        | TagEnd::Paragraph
                        | TagEnd::Item
                        | TagEnd::CodeBlock
                        | TagEnd::BlockQuote(_)
                        | TagEnd::TableCell
                        | TagEnd::TableRow
                ) {
                    out.text.push('\n');
                }
            }
            _ => {}
        }
        if out.text.len() >= max {
            break;
        }
    }
    out.text = squash(&out.text);
    cut(&mut out.text, max);
    out.title = squash(&out.title);
    out
}

/// A quiz as a pupil sees it before answering: title, introduction, question stems.
pub fn quiz(json: &[u8]) -> Option<Extracted> {
    let q: Quiz = serde_json::from_slice(json).ok()?;
    // Built from the same public view the quiz player shows: nothing the browser does
    // not already get before the pupil answers.
    let public = quiz::public_view(&q);
    let mut text = html_text(&public.intro_html);
    for question in &public.questions {
        text.push('\n');
        text.push_str(&html_text(&question.text_html));
        if text.len() >= MAX_TEXT_BYTES {
            break;
        }
    }
    cut(&mut text, MAX_TEXT_BYTES);
    Some(Extracted { title: public.title, text })
}

/// A course outline: its title (the document's), summaries, section and activity titles.
pub fn course(json: &[u8]) -> Option<Extracted> {
    let c: CourseOutline = serde_json::from_slice(json).ok()?;
    let mut text = html_text(&c.summary_html);
    for s in &c.sections {
        text.push('\n');
        text.push_str(&s.title);
        text.push('\n');
        text.push_str(&html_text(&s.summary_html));
        for a in &s.activities {
            text.push('\n');
            text.push_str(&a.title);
        }
    }
    cut(&mut text, MAX_TEXT_BYTES);
    Some(Extracted { title: c.title, text })
}

/// An assignment: its title and instructions.
pub fn assignment(json: &[u8]) -> Option<Extracted> {
    let a: Assignment = serde_json::from_slice(json).ok()?;
    Some(Extracted { title: a.title, text: html_text(&a.intro_html) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_text_only() {
        let page = r#"<!doctype html><html><head><title>Les r&eacute;seaux</title><style>p{color:red}</style>
<script>var secret = "x<y";</script></head><body><a class="preau-retour" href="/">⌂ Retour à l'accueil de Préau</a>
<nav><ul><li>Menu <nav>inner</nav> item</li></ul></nav><h1>Réseaux sociaux</h1><!-- a comment --><p>Un <b>réseau</b>&nbsp;social&#33;</p>
<script type="module">if (a < b) {}</script><p>Fin</p></body></html>"#;
        let e = html(page);
        assert_eq!(e.title, "Les réseaux");
        assert!(e.text.contains("Réseaux sociaux"), "{}", e.text);
        assert!(e.text.contains("Un réseau social!"), "{}", e.text);
        assert!(e.text.contains("Fin"));
        for gone in ["secret", "color", "Menu", "inner", "item", "comment", "Retour", "Les réseaux"] {
            assert!(!e.text.contains(gone), "{gone} in {}", e.text);
        }
    }

    #[test]
    fn title_falls_back_to_h1_and_blocks_separate_words() {
        let e = html("<h1>Fractions</h1><p>un</p><p>deux</p>");
        assert_eq!(e.title, "Fractions");
        assert!(e.text.contains("un\ndeux"), "{:?}", e.text);
    }

    #[test]
    fn broken_html_does_not_loop_or_panic() {
        for page in ["<", "<p", "<script>never closed", "a & b &unknown; &#xZZ;", "<!-- open", "<a href='x>y'>t</a>"] {
            let _ = html(page);
        }
        assert_eq!(html("a & b &unknown; &lt;").text, "a & b &unknown; <");
    }

    #[test]
    fn markdown_title_and_text() {
        let e = markdown("# Les boucles\n\nUne *boucle* `for` répète.\n\n<b>gras</b>");
        assert_eq!(e.title, "Les boucles");
        assert!(e.text.contains("Une boucle for répète."), "{}", e.text);
        assert!(e.text.contains("gras"));
    }

    #[test]
    fn text_is_bounded() {
        let page = format!("<p>{}</p>", "mot ".repeat(400_000));
        assert!(html(&page).text.len() <= MAX_TEXT_BYTES);
    }
}
