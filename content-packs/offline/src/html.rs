//! References in HTML pages (pure), found and rewritten by `lol_html`'s streaming
//! rewriter: a real HTML tokenizer, and everything it is not told to change is copied
//! byte for byte.

use std::cell::RefCell;

use lol_html::html_content::{ContentType, Element};
use lol_html::{HtmlRewriter, Settings, element, text};

use crate::{css, js};

/// How a page uses a reference: it decides what a removal looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Use {
    Script,
    Stylesheet,
    /// `<link rel=icon|preload|modulepreload|prefetch|manifest|apple-touch-icon>`.
    LinkResource,
    /// `<link rel=preconnect|dns-prefetch>`: no file, only a connection that cannot happen.
    Connection,
    Image,
    /// `<video>`, `<audio>`, `<source>`, `<track>` and `poster`.
    Media,
    Frame,
    /// `<object data>`, `<embed src>`.
    Object,
    /// `url()` in a `style` attribute, a `<style>` element or a CSS file; `@import`.
    Css,
    /// `<a href>` / `<area href>`: followed only when the pupil clicks.
    Link,
    /// A URL string literal in a script (inline or a `.js` file): only a well-known
    /// library file is replaced; anything else is left as it is.
    ScriptLiteral,
}

/// One reference, as the decision sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// As written in the page (attribute value, CSS URL).
    pub url: String,
    pub kind: Use,
}

/// What to do with a reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Keep,
    /// Load this instead (a path relative to the page, or `/packs/…`).
    Replace(String),
    /// Remove it; the element shows what was lost (alt text, a link needing internet).
    Remove,
    /// An outside link: kept, marked as needing the internet.
    MarkOutside,
}

/// The decision, asked once per reference.
pub type Decide<'a> = dyn FnMut(&Found) -> Action + 'a;

/// Every reference of a page, in document order.
pub fn references(html: &[u8]) -> Result<Vec<Found>, String> {
    let mut found = Vec::new();
    rewrite(html, &mut |f| {
        found.push(f.clone());
        Action::Keep
    })?;
    Ok(found)
}

/// The page with every reference replaced as `decide` says.
pub fn rewrite(html: &[u8], decide: &mut Decide<'_>) -> Result<Vec<u8>, String> {
    let decide = RefCell::new(decide);
    let style_text = RefCell::new(String::new());
    let script_text = RefCell::new(String::new());
    let mut out = Vec::with_capacity(html.len() + html.len() / 16);
    {
        let mut rewriter = HtmlRewriter::new(
            Settings {
                element_content_handlers: vec![
                    element!("*", |el| {
                        on_element(el, &mut **decide.borrow_mut());
                        Ok(())
                    }),
                    text!("script", |t| {
                        script_text.borrow_mut().push_str(t.as_str());
                        if t.last_in_text_node() {
                            let whole = std::mem::take(&mut *script_text.borrow_mut());
                            let new = js::rewrite(&whole, &mut |u| script_decision(u, &mut **decide.borrow_mut()));
                            t.replace(&new, ContentType::Html);
                        } else {
                            t.remove();
                        }
                        Ok(())
                    }),
                    // A <style> element's text arrives in chunks: gather it, rewrite it whole.
                    text!("style", |t| {
                        style_text.borrow_mut().push_str(t.as_str());
                        if t.last_in_text_node() {
                            let whole = std::mem::take(&mut *style_text.borrow_mut());
                            let new = css::rewrite(&whole, &mut |u| css_decision(u, &mut **decide.borrow_mut()));
                            t.replace(&new, ContentType::Html);
                        } else {
                            t.remove();
                        }
                        Ok(())
                    }),
                ],
                ..Settings::new()
            },
            |c: &[u8]| out.extend_from_slice(c),
        );
        rewriter.write(html).map_err(|e| format!("HTML could not be rewritten: {e}"))?;
        rewriter.end().map_err(|e| format!("HTML could not be rewritten: {e}"))?;
    }
    Ok(out)
}

/// A script literal's new URL: only a replacement changes it.
pub(crate) fn script_decision(url: &str, decide: &mut Decide<'_>) -> Option<String> {
    match decide(&Found { url: url.to_string(), kind: Use::ScriptLiteral }) {
        Action::Replace(new) => Some(new),
        _ => None,
    }
}

/// A CSS reference's new URL, or `data:,` (loads nothing) for a removal.
pub(crate) fn css_decision(url: &str, decide: &mut Decide<'_>) -> Option<String> {
    match decide(&Found { url: url.to_string(), kind: Use::Css }) {
        Action::Keep | Action::MarkOutside => None,
        Action::Replace(new) => Some(new),
        Action::Remove => Some("data:,".into()),
    }
}

fn on_element(el: &mut Element<'_, '_>, decide: &mut Decide<'_>) {
    let tag = el.tag_name();
    if let Some(style) = el.get_attribute("style")
        && style.to_ascii_lowercase().contains("url(")
    {
        let new = css::rewrite(&style, &mut |u| css_decision(u, decide));
        if new != style {
            let _ = el.set_attribute("style", &new);
        }
    }
    match tag.as_str() {
        "script" => single(el, "src", Use::Script, decide),
        "link" => {
            let rel = el.get_attribute("rel").unwrap_or_default().to_ascii_lowercase();
            let rels: Vec<&str> = rel.split_ascii_whitespace().collect();
            let kind = if rels.contains(&"stylesheet") {
                Use::Stylesheet
            } else if rels.iter().any(|r| ["preconnect", "dns-prefetch"].contains(r)) {
                Use::Connection
            } else if rels.iter().any(|r| {
                ["icon", "preload", "modulepreload", "prefetch", "manifest", "apple-touch-icon", "mask-icon"]
                    .contains(r)
            }) {
                Use::LinkResource
            } else {
                return;
            };
            single(el, "href", kind, decide);
        }
        "img" => {
            single(el, "src", Use::Image, decide);
            if !el.removed() {
                srcset(el, Use::Image, decide);
            }
        }
        "input" if el.get_attribute("type").is_some_and(|t| t.eq_ignore_ascii_case("image")) => {
            single(el, "src", Use::Image, decide)
        }
        "source" => {
            single(el, "src", Use::Media, decide);
            if !el.removed() {
                srcset(el, Use::Image, decide);
            }
        }
        "video" | "audio" | "track" => {
            single(el, "src", Use::Media, decide);
            if !el.removed() {
                single(el, "poster", Use::Image, decide);
            }
        }
        "iframe" | "frame" => single(el, "src", Use::Frame, decide),
        "object" => single(el, "data", Use::Object, decide),
        "embed" => single(el, "src", Use::Object, decide),
        "a" | "area" => single(el, "href", Use::Link, decide),
        _ => {}
    }
}

fn single(el: &mut Element<'_, '_>, attr: &str, kind: Use, decide: &mut Decide<'_>) {
    let Some(url) = el.get_attribute(attr) else { return };
    let url = url.trim().to_string();
    if url.is_empty() {
        return;
    }
    match decide(&Found { url: url.clone(), kind }) {
        Action::Keep => {}
        Action::Replace(new) => {
            let _ = el.set_attribute(attr, &new);
            // The integrity hash and CORS mode were for the CDN's copy and origin.
            el.remove_attribute("integrity");
            el.remove_attribute("crossorigin");
        }
        Action::MarkOutside => {
            let _ = el.set_attribute("data-preau-internet", "");
            let mut rel: Vec<String> =
                el.get_attribute("rel").unwrap_or_default().split_ascii_whitespace().map(String::from).collect();
            for r in ["noopener", "noreferrer"] {
                if !rel.iter().any(|x| x.eq_ignore_ascii_case(r)) {
                    rel.push(r.into());
                }
            }
            let _ = el.set_attribute("rel", &rel.join(" "));
            if el.tag_name() == "a" {
                el.after(
                    r#"<small class="preau-internet" title="Ce lien nécessite internet / needs the internet"> (internet)</small>"#,
                    ContentType::Html,
                );
            }
        }
        Action::Remove => removed(el, attr, kind, &url),
    }
}

/// What a removed reference leaves behind, so that the pupil sees what is missing.
fn removed(el: &mut Element<'_, '_>, attr: &str, kind: Use, url: &str) {
    match kind {
        Use::Image if attr == "poster" => el.remove_attribute(attr),
        Use::Image => {
            let alt = el.get_attribute("alt").unwrap_or_default();
            let label = if alt.trim().is_empty() { "image".to_string() } else { alt };
            el.replace(
                &format!(
                    r#"<span class="preau-offline-missing" role="img" aria-label="{a}" title="Image non disponible hors ligne / image not available offline">[{t}]</span>"#,
                    a = esc(&label),
                    t = esc(&label),
                ),
                ContentType::Html,
            );
        }
        Use::Frame | Use::Object | Use::Media if el.tag_name() != "source" && el.tag_name() != "track" => {
            let title = el
                .get_attribute("title")
                .or_else(|| el.get_attribute("aria-label"))
                .filter(|t| !t.trim().is_empty())
                .unwrap_or_else(|| if is_video(url) { "Vidéo".into() } else { "Contenu externe".into() });
            el.replace(
                &format!(
                    r#"<p class="preau-offline-missing"><a href="{u}" target="_blank" rel="noopener noreferrer" data-preau-internet>{t}</a> — nécessite internet</p>"#,
                    u = esc(url),
                    t = esc(&title),
                ),
                ContentType::Html,
            );
        }
        _ => el.remove(),
    }
}

/// `srcset`: each outside candidate decided on its own; removed ones are left out.
fn srcset(el: &mut Element<'_, '_>, kind: Use, decide: &mut Decide<'_>) {
    let Some(set) = el.get_attribute("srcset") else { return };
    let mut kept = Vec::new();
    let mut changed = false;
    for cand in set.split(',') {
        let cand = cand.trim();
        let (url, descriptor) = cand.split_once(char::is_whitespace).unwrap_or((cand, ""));
        if url.is_empty() {
            continue;
        }
        match decide(&Found { url: url.to_string(), kind }) {
            Action::Keep | Action::MarkOutside => kept.push(cand.to_string()),
            Action::Replace(new) => {
                changed = true;
                kept.push(format!("{new} {}", descriptor.trim()).trim().to_string());
            }
            Action::Remove => changed = true,
        }
    }
    if changed {
        if kept.is_empty() {
            el.remove_attribute("srcset");
        } else {
            let _ = el.set_attribute("srcset", &kept.join(", "));
        }
    }
}

/// Hosts whose iframes are videos: their replacement says "Vidéo".
pub fn is_video(url: &str) -> bool {
    let abs = if url.starts_with("//") { format!("https:{url}") } else { url.to_string() };
    let host = url::Url::parse(&abs).ok().and_then(|u| u.host_str().map(str::to_ascii_lowercase)).unwrap_or_default();
    [
        "youtube.com",
        "youtube-nocookie.com",
        "youtu.be",
        "vimeo.com",
        "dailymotion.com",
        "dai.ly",
        "peertube",
        "tube",
        "video",
    ]
    .iter()
    .any(|h| host == *h || host.ends_with(&format!(".{h}")) || (!h.contains('.') && host.contains(h)))
}

pub(crate) use preau_pack::text::escape_html as esc;

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<!DOCTYPE html><html><head>
<link rel="preconnect" href="https://cdn.jsdelivr.net">
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/katex@0.16.9/dist/katex.min.css" integrity="sha384-x" crossorigin="anonymous">
<link rel="icon" href="https://ex.example/favicon.png">
<link rel="stylesheet" href="local.css">
<script src="https://polyfill.io/v3/polyfill.min.js?features=es6"></script>
<script src="js/local.js"></script>
<style>body { background: url("https://ex.example/bg.png") } .x { background: url(img/ok.png) }</style>
</head><body>
<p style="background-image: url('https://ex.example/p.png')">P</p>
<img src="https://ex.example/cat.png" alt="Un chat">
<img src="local.png" srcset="https://ex.example/a-2x.png 2x, local-3x.png 3x" alt="local">
<picture><source srcset="https://ex.example/b.webp" type="image/webp"><img src="b.png" alt="b"></picture>
<video src="https://ex.example/v.mp4" poster="https://ex.example/poster.jpg" title="Film"></video>
<audio controls><source src="https://ex.example/s.mp3"></audio>
<iframe src="https://www.youtube.com/embed/abc" title="La photosynthèse"></iframe>
<object data="https://ex.example/doc.pdf"></object><embed src="https://ex.example/anim.swf">
<a href="https://fr.wikipedia.org/wiki/Chat">Wikipédia</a> <a href="page2.html">suite</a>
</body></html>"#;

    fn outside(u: &str) -> bool {
        u.starts_with("https://") || u.starts_with("http://") || u.starts_with("//")
    }

    #[test]
    fn finds_every_element_kind() {
        let found = references(PAGE.as_bytes()).unwrap();
        let outside: Vec<(Use, &str)> =
            found.iter().filter(|f| outside(&f.url)).map(|f| (f.kind, f.url.as_str())).collect();
        assert_eq!(
            outside,
            vec![
                (Use::Connection, "https://cdn.jsdelivr.net"),
                (Use::Stylesheet, "https://cdn.jsdelivr.net/npm/katex@0.16.9/dist/katex.min.css"),
                (Use::LinkResource, "https://ex.example/favicon.png"),
                (Use::Script, "https://polyfill.io/v3/polyfill.min.js?features=es6"),
                (Use::Css, "https://ex.example/bg.png"),
                (Use::Css, "https://ex.example/p.png"),
                (Use::Image, "https://ex.example/cat.png"),
                (Use::Image, "https://ex.example/a-2x.png"),
                (Use::Image, "https://ex.example/b.webp"),
                (Use::Media, "https://ex.example/v.mp4"),
                (Use::Image, "https://ex.example/poster.jpg"),
                (Use::Media, "https://ex.example/s.mp3"),
                (Use::Frame, "https://www.youtube.com/embed/abc"),
                (Use::Object, "https://ex.example/doc.pdf"),
                (Use::Object, "https://ex.example/anim.swf"),
                (Use::Link, "https://fr.wikipedia.org/wiki/Chat"),
            ]
        );
        // Inside references are seen too (the caller leaves them alone).
        assert!(found.iter().any(|f| f.url == "img/ok.png" && f.kind == Use::Css));
        assert!(found.iter().any(|f| f.url == "page2.html" && f.kind == Use::Link));
    }

    #[test]
    fn removal_leaves_what_the_pupil_needs_to_know() {
        let out = rewrite(PAGE.as_bytes(), &mut |f| match f.kind {
            _ if !outside(&f.url) => Action::Keep,
            Use::Link => Action::MarkOutside,
            Use::Stylesheet => Action::Replace("/packs/preau-libs/katex@0.16.9/dist/katex.min.css".into()),
            _ => Action::Remove,
        })
        .unwrap();
        let out = String::from_utf8(out).unwrap();
        // Nothing outside is loaded any more: only the marked link and the video link
        // (both followed only on a click) name an outside host.
        for line in out.lines() {
            if line.contains("https://") {
                assert!(line.contains("data-preau-internet"), "outside reference left: {line}");
            }
        }
        assert!(
            out.contains(r#"<link rel="stylesheet" href="/packs/preau-libs/katex@0.16.9/dist/katex.min.css">"#),
            "{out}"
        );
        assert!(!out.contains("preconnect") && !out.contains("polyfill") && !out.contains("favicon"));
        assert!(out.contains(r#"<script src="js/local.js">"#));
        assert!(out.contains(r#"url("data:,")"#) && out.contains("url(img/ok.png)"));
        assert!(out.contains(r#"aria-label="Un chat""#) && out.contains("[Un chat]"));
        assert!(out.contains(r#"srcset="local-3x.png 3x""#));
        assert!(out.contains(r#"<source type="image/webp">"#), "{out}");
        assert!(out.contains(r#">Film</a> — nécessite internet"#));
        assert!(out.contains(r#"<audio controls></audio>"#));
        assert!(
            out.contains(r#"href="https://www.youtube.com/embed/abc" target="_blank" rel="noopener noreferrer" data-preau-internet>La photosynthèse</a> — nécessite internet"#)
        );
        assert!(out.contains(">Contenu externe</a> — nécessite internet"));
        assert!(out.contains(
            r#"<a href="https://fr.wikipedia.org/wiki/Chat" data-preau-internet="" rel="noopener noreferrer">Wikipédia</a><small class="preau-internet""#
        ));
        assert!(out.contains(r#"<a href="page2.html">suite</a>"#));
    }

    #[test]
    fn script_literals_are_offered_and_replaced_only_on_request() {
        let page = r#"<script type="module">import m from "https://cdn.jsdelivr.net/npm/mermaid@10/dist/mermaid.esm.min.mjs"; const api = "https://api.example/x";</script>"#;
        let found = references(page.as_bytes()).unwrap();
        assert_eq!(found.iter().filter(|f| f.kind == Use::ScriptLiteral).count(), 2);
        let out = rewrite(page.as_bytes(), &mut |f| {
            if f.url.contains("mermaid") { Action::Replace("/packs/preau-libs/m.mjs".into()) } else { Action::Remove }
        })
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"<script type="module">import m from "/packs/preau-libs/m.mjs"; const api = "https://api.example/x";</script>"#
        );
    }

    #[test]
    fn replacement_keeps_the_rest_byte_for_byte() {
        let page = "<p>  Texte   <b>gras</b> &eacute; <!-- c --></p><img src=\"https://x.example/i.png\" alt=i>";
        let out = rewrite(page.as_bytes(), &mut |_| Action::Replace("ext/i.png".into())).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<p>  Texte   <b>gras</b> &eacute; <!-- c --></p><img src=\"ext/i.png\" alt=i>"
        );
    }

    #[test]
    fn videos_are_recognised() {
        for u in [
            "https://www.youtube.com/embed/x",
            "//player.vimeo.com/video/1",
            "https://www.dailymotion.com/embed/video/x",
            "https://tube.ac-lyon.fr/videos/embed/1",
        ] {
            assert!(is_video(u), "{u}");
        }
        assert!(!is_video("https://h5p.org/h5p/embed/1"));
    }
}
