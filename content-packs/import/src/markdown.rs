//! A tree of files (from a git commit) becomes a browsable site:
//! - a prebuilt static site (`public/index.html` or `site/index.html`) is served as it is;
//! - an MkDocs project (`mkdocs.yml`) renders `docs_dir` with its `nav`, admonitions
//!   (`!!! note "Titre"`) and code blocks;
//! - otherwise every Markdown file is rendered, with a generated navigation.
//!
//! Markdown is rendered with pulldown-cmark and then sanitised like any untrusted HTML.
//! TeX (`$$…$$`, `$…$`, `\(…\)`, `\[…\]`) is kept as text for the box to render.
//! Links between Markdown files become links between the rendered pages; every link
//! is relative, because a pack is served under `/packs/{id}/`.

use std::collections::{BTreeMap, BTreeSet};

use pulldown_cmark::{Event, Options, Parser, html};

use crate::render::page;
use crate::sanitize::{clean, escape, url_path};

/// The text of an HTML fragment, tags dropped, at most `max` characters (descriptions).
pub fn plain_text(html: &str, max: usize) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let words: Vec<&str> = out.split_whitespace().collect();
    let joined = words.join(" ").replace("&nbsp;", " ").replace("&amp;", "&");
    joined.chars().take(max).collect()
}

/// Markdown to (unsanitised) HTML, TeX kept verbatim.
pub fn to_html(md: &str) -> String {
    to_html_with(md, |_| None)
}

/// The one Markdown renderer: used when a pack is built from Markdown and when the box
/// serves a pack's `.md` file as a page. TeX spans are kept verbatim (the box's MathJax
/// renders them). `raw_html` sees every block of raw HTML whole (pulldown-cmark hands a
/// block over line by line: an `<iframe` on one line and its `src=` on the next must be
/// judged together) and every inline tag, and returns what to write instead, if anything.
pub fn to_html_with(md: &str, mut raw_html: impl FnMut(&str) -> Option<String>) -> String {
    let (protected, maths) = protect_math(md);
    let mut opts = Options::empty();
    opts.insert(Options::ENABLE_TABLES);
    opts.insert(Options::ENABLE_STRIKETHROUGH);
    opts.insert(Options::ENABLE_TASKLISTS);
    opts.insert(Options::ENABLE_FOOTNOTES);
    let mut events: Vec<Event> = Vec::new();
    let mut block = String::new();
    let flush = |block: &mut String, events: &mut Vec<Event>, raw_html: &mut dyn FnMut(&str) -> Option<String>| {
        if !block.is_empty() {
            let text = std::mem::take(block);
            events.push(Event::Html(raw_html(&text).unwrap_or(text).into()));
        }
    };
    for event in Parser::new_ext(&protected, opts) {
        match event {
            Event::Html(h) => block.push_str(&h),
            Event::InlineHtml(h) => {
                flush(&mut block, &mut events, &mut raw_html);
                let replaced = raw_html(&h);
                events.push(Event::InlineHtml(replaced.map(Into::into).unwrap_or(h)));
            }
            other => {
                flush(&mut block, &mut events, &mut raw_html);
                events.push(other);
            }
        }
    }
    flush(&mut block, &mut events, &mut raw_html);
    let mut out = String::new();
    html::push_html(&mut out, events.into_iter());
    restore_math(&out, &maths)
}

const MATH_MARK: &str = "PREAUMATH";

/// Replaces TeX spans by placeholders so that Markdown does not eat `\(` or `_`.
fn protect_math(md: &str) -> (String, Vec<String>) {
    let mut out = String::with_capacity(md.len());
    let mut maths = Vec::new();
    let mut rest = md;
    'outer: while !rest.is_empty() {
        for (open, close) in [("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$")] {
            if let Some(body) = rest.strip_prefix(open)
                && let Some(end) = body.find(close)
            {
                let inner = &body[..end];
                // A lone `$` is math only around a short, single-line, non-blank span.
                let plausible = open != "$"
                    || (!inner.is_empty() && !inner.starts_with(' ') && !inner.contains('\n') && inner.len() < 300);
                if plausible && end < 20_000 {
                    let whole = &rest[..open.len() + end + close.len()];
                    out.push_str(&format!("{MATH_MARK}{}X", maths.len()));
                    maths.push(whole.to_string());
                    rest = &rest[whole.len()..];
                    continue 'outer;
                }
            }
        }
        let c = rest.chars().next().expect("non-empty");
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    (out, maths)
}

fn restore_math(html: &str, maths: &[String]) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = rest.find(MATH_MARK) {
        out.push_str(&rest[..at]);
        let after = &rest[at + MATH_MARK.len()..];
        let digits: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
        match digits.parse::<usize>().ok().filter(|_| after[digits.len()..].starts_with('X')).and_then(|i| maths.get(i))
        {
            Some(m) => {
                out.push_str(&escape(m));
                rest = &after[digits.len() + 1..];
            }
            None => {
                out.push_str(MATH_MARK);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// MkDocs admonitions: `!!! type "Title"` (or `???` for a collapsible block) followed by
/// content indented by four spaces, turned into HTML blocks before Markdown rendering.
pub fn admonitions(md: &str) -> String {
    admonitions_at(md, 0)
}

/// Nesting is bounded: a forged file with thousands of nested blocks must not exhaust
/// the stack; deeper blocks stay as Markdown text.
const MAX_NESTING: usize = 8;

fn admonitions_at(md: &str, depth: usize) -> String {
    if depth >= MAX_NESTING {
        return md.to_string();
    }
    let lines: Vec<&str> = md.lines().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i];
        let marker = ["!!!", "???+", "???"].iter().find(|m| t.starts_with(**m));
        let Some(marker) = marker else {
            out.push_str(t);
            out.push('\n');
            i += 1;
            continue;
        };
        let head = t[marker.len()..].trim();
        let (kind, title) = match head.split_once(' ') {
            Some((k, rest)) => (k.to_string(), rest.trim().trim_matches('"').to_string()),
            None => (head.to_string(), String::new()),
        };
        let kind: String = kind.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
        let title = if title.is_empty() { admonition_title(&kind) } else { title };
        let mut inner = String::new();
        i += 1;
        while i < lines.len()
            && (lines[i].starts_with("    ") || lines[i].starts_with('\t') || lines[i].trim().is_empty())
        {
            if lines[i].trim().is_empty()
                && !lines.get(i + 1).is_some_and(|n| n.starts_with("    ") || n.starts_with('\t'))
            {
                break;
            }
            let l = lines[i].strip_prefix("    ").or_else(|| lines[i].strip_prefix('\t')).unwrap_or("");
            inner.push_str(l);
            inner.push('\n');
            i += 1;
        }
        let body = to_html(&admonitions_at(&inner, depth + 1));
        if marker.starts_with("???") {
            let open = if *marker == "???+" { " open" } else { "" };
            out.push_str(&format!(
                "\n<details class=\"admonition {kind}\"{open}><summary>{}</summary>\n{body}</details>\n\n",
                escape(&title)
            ));
        } else {
            out.push_str(&format!(
                "\n<div class=\"admonition {kind}\"><p class=\"admonition-title\">{}</p>\n{body}</div>\n\n",
                escape(&title)
            ));
        }
    }
    out
}

fn admonition_title(kind: &str) -> String {
    match kind {
        "note" => "Remarque",
        "warning" => "Attention",
        "danger" => "Danger",
        "tip" | "hint" => "Astuce",
        "info" => "Info",
        "example" => "Exemple",
        "question" => "Question",
        "success" => "Réussi",
        "abstract" | "summary" => "Résumé",
        "bug" => "Bogue",
        "quote" => "Citation",
        _ => kind,
    }
    .to_string()
}

/// One entry of a navigation tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Nav {
    Page { title: String, path: String },
    Section { title: String, children: Vec<Nav> },
    Link { title: String, url: String },
}

/// What the site builder needs from `mkdocs.yml`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct MkDocs {
    pub site_name: String,
    pub site_description: String,
    pub docs_dir: String,
    pub nav: Vec<Nav>,
}

/// Reads the few keys of `mkdocs.yml` a site needs. Only the YAML subset MkDocs
/// configurations use for these keys is understood; other keys (themes, plugins with
/// `!!python` tags) are ignored rather than refused.
pub fn parse_mkdocs(yml: &str) -> MkDocs {
    let mut cfg = MkDocs { docs_dir: "docs".into(), ..Default::default() };
    let lines: Vec<&str> = yml.lines().collect();
    let scalar = |v: &str| v.trim().trim_matches('"').trim_matches('\'').to_string();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if let Some(v) = l.strip_prefix("site_name:") {
            cfg.site_name = scalar(v);
        } else if let Some(v) = l.strip_prefix("site_description:") {
            cfg.site_description = scalar(v);
        } else if let Some(v) = l.strip_prefix("docs_dir:") {
            cfg.docs_dir = scalar(v).trim_matches('/').to_string();
        } else if l.trim_end() == "nav:" {
            let mut items = Vec::new();
            i += 1;
            while i < lines.len()
                && (lines[i].starts_with(' ') || lines[i].starts_with('-') || lines[i].trim().is_empty())
            {
                if !lines[i].trim().is_empty() && !lines[i].trim().starts_with('#') {
                    items.push(lines[i]);
                }
                i += 1;
            }
            cfg.nav = nav_items(&items, &mut 0, None, 0);
            continue;
        }
        i += 1;
    }
    cfg
}

fn indent(l: &str) -> usize {
    l.len() - l.trim_start().len()
}

/// Parses `- Title: path`, `- path` and `- Section:` + nested items at one indentation.
fn nav_items(lines: &[&str], pos: &mut usize, level: Option<usize>, depth: usize) -> Vec<Nav> {
    let mut out = Vec::new();
    let level = level.unwrap_or_else(|| lines.first().map(|l| indent(l)).unwrap_or(0));
    while *pos < lines.len() {
        let l = lines[*pos];
        let ind = indent(l);
        if ind < level {
            break;
        }
        let Some(item) = l.trim_start().strip_prefix("- ").or_else(|| l.trim_start().strip_prefix('-')) else {
            *pos += 1;
            continue;
        };
        let item = item.trim();
        *pos += 1;
        let unquote = |s: &str| s.trim().trim_matches('"').trim_matches('\'').to_string();
        match item.split_once(": ").map(|(a, b)| (a, b.trim())).or_else(|| item.strip_suffix(':').map(|a| (a, ""))) {
            Some((title, "")) => {
                let child_level = lines.get(*pos).map(|n| indent(n)).filter(|n| *n > ind);
                let children = match child_level {
                    Some(cl) if depth < MAX_NESTING => nav_items(lines, pos, Some(cl), depth + 1),
                    Some(_) => Vec::new(),
                    None => Vec::new(),
                };
                out.push(Nav::Section { title: unquote(title), children });
            }
            Some((title, target)) => {
                let target = unquote(target);
                if target.contains("://") {
                    out.push(Nav::Link { title: unquote(title), url: target });
                } else {
                    out.push(Nav::Page { title: unquote(title), path: target });
                }
            }
            None => {
                let p = unquote(item);
                out.push(Nav::Page { title: String::new(), path: p });
            }
        }
    }
    out
}

/// The pack path of the page rendered from a Markdown file: `a/README.md` and
/// `a/index.md` → `a/index.html`, `a/b.md` → `a/b.html`.
pub fn page_path(md_path: &str) -> String {
    let (dir, file) = md_path.rsplit_once('/').map(|(d, f)| (format!("{d}/"), f)).unwrap_or((String::new(), md_path));
    let stem = file.rsplit_once('.').map(|(s, _)| s).unwrap_or(file);
    if stem.eq_ignore_ascii_case("readme") || stem == "index" {
        format!("{dir}index.html")
    } else {
        format!("{dir}{stem}.html")
    }
}

fn is_markdown(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.ends_with(".md") || lower.ends_with(".markdown")
}

/// A relative link from the page at `from` to the pack path `to`.
pub fn relative(from: &str, to: &str) -> String {
    let depth = from.matches('/').count();
    format!("{}{}", "../".repeat(depth), url_path(to))
}

/// Resolves `target` (as written in the page at `from`) against the page's folder.
fn resolve(from: &str, target: &str) -> Option<String> {
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for seg in target.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

/// Rewrites `href="x.md#a"` links between Markdown files to the rendered pages.
fn rewrite_md_links(html: &str, from_md: &str, md_files: &BTreeSet<String>) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = rest.find("href=\"") {
        out.push_str(&rest[..at + 6]);
        let after = &rest[at + 6..];
        let end = after.find('"').unwrap_or(after.len());
        let href = &after[..end];
        let (target, anchor) = href.split_once('#').map(|(t, a)| (t, format!("#{a}"))).unwrap_or((href, String::new()));
        let rewritten = if !target.contains(':') && is_markdown(target) {
            let decoded = crate::sanitize::percent_decode(target);
            resolve(from_md, &decoded).filter(|p| md_files.contains(p)).map(|p| {
                let from_page = page_path(from_md);
                format!("{}{anchor}", relative(&from_page, &page_path(&p)))
            })
        } else {
            None
        };
        out.push_str(rewritten.as_deref().unwrap_or(href));
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// The first `# Heading` of a Markdown text.
pub fn first_heading(md: &str) -> Option<String> {
    md.lines().find_map(|l| l.strip_prefix("# ")).map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
}

/// The rendered site: pack path → bytes, plus the title found.
pub struct Site {
    pub files: BTreeMap<String, Vec<u8>>,
    pub title: String,
    pub description: String,
    pub pages: u32,
    /// `static` (a built site in `public/` or `site/`), `html` (a hand-written site at
    /// the top, no Markdown page), `mkdocs` or `markdown`.
    pub layout: String,
}

/// Builds the site from the files of a tree (path → bytes). `fallback_title` names it
/// when nothing better is found. A built site in `public/` or `site/` is taken as it is;
/// otherwise every Markdown file becomes a page, except where the author wrote that page
/// in HTML: an `index.html` (or any `X.html` beside `X.md`) is kept byte for byte and no
/// start page is generated over it. A hand-written site with no Markdown page is thus
/// served as it is (layout `html`).
pub fn build_site(files: &BTreeMap<String, Vec<u8>>, fallback_title: &str) -> Site {
    for dir in ["public", "site"] {
        if files.contains_key(&format!("{dir}/index.html")) {
            let prefix = format!("{dir}/");
            let out: BTreeMap<String, Vec<u8>> =
                files.iter().filter_map(|(p, b)| p.strip_prefix(&prefix).map(|s| (s.to_string(), b.clone()))).collect();
            let title = files
                .get(&format!("{dir}/index.html"))
                .and_then(|b| html_title(&String::from_utf8_lossy(b)))
                .unwrap_or_else(|| fallback_title.to_string());
            return Site { files: out, title, description: String::new(), pages: 0, layout: "static".into() };
        }
    }
    let (root, mkdocs) = match files.get("mkdocs.yml").or_else(|| files.get("mkdocs.yaml")) {
        Some(y) => {
            let cfg = parse_mkdocs(&String::from_utf8_lossy(y));
            (format!("{}/", cfg.docs_dir), Some(cfg))
        }
        None => (String::new(), None),
    };
    // The files of the site, relative to its root.
    let tree: BTreeMap<String, &Vec<u8>> = files
        .iter()
        .filter_map(|(p, b)| p.strip_prefix(root.as_str()).map(|s| (s.to_string(), b)))
        .filter(|(p, _)| !p.split('/').any(|c| c.starts_with('.')))
        .collect();
    let md_files: BTreeSet<String> = tree.keys().filter(|p| is_markdown(p)).cloned().collect();
    let mut out = BTreeMap::new();
    let mut titles: BTreeMap<String, String> = BTreeMap::new();
    let mut bodies: BTreeMap<String, String> = BTreeMap::new();
    for p in &md_files {
        let md = String::from_utf8_lossy(tree[p]).into_owned();
        let title = first_heading(&md).unwrap_or_else(|| {
            p.rsplit('/').next().unwrap_or(p).rsplit_once('.').map(|x| x.0).unwrap_or(p).replace(['-', '_'], " ")
        });
        let page = page_path(p);
        // A page the author wrote in HTML is never replaced by one made here: a
        // hand-written site's index.html stays, its README.md (the repository's
        // description) is then not rendered.
        if tree.contains_key(&page) {
            continue;
        }
        let html = rewrite_md_links(&to_html(&admonitions(&md)), p, &md_files);
        // README.md and index.md in one folder: index.md wins, as in MkDocs.
        if bodies.contains_key(&page) && !p.ends_with("index.md") {
            continue;
        }
        titles.insert(page.clone(), title);
        bodies.insert(page, clean(&html));
    }
    for (p, b) in &tree {
        if !is_markdown(p) && !bodies.contains_key(p) {
            out.insert(p.clone(), (*b).clone());
        }
    }
    let nav = match &mkdocs {
        Some(cfg) if !cfg.nav.is_empty() => resolve_nav(&cfg.nav, &titles),
        _ => generated_nav(&titles),
    };
    let site_title = mkdocs
        .as_ref()
        .map(|c| c.site_name.clone())
        .filter(|s| !s.is_empty())
        .or_else(|| titles.get("index.html").cloned())
        .or_else(|| tree.get("index.html").and_then(|b| html_title(&String::from_utf8_lossy(b))))
        .unwrap_or_else(|| fallback_title.to_string());
    let order = flatten(&nav);
    // The generated start page, unless the author wrote one.
    if !bodies.contains_key("index.html") && !tree.contains_key("index.html") {
        let mut body = String::from("<p>Sommaire du cours :</p>\n");
        body.push_str(&nav_html(&nav, "index.html"));
        titles.insert("index.html".into(), site_title.clone());
        bodies.insert("index.html".into(), body);
    }
    let pages = bodies.len() as u32;
    let description = mkdocs
        .as_ref()
        .map(|c| c.site_description.clone())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| bodies.get("index.html").map(|b| plain_text(b, 300)).unwrap_or_default());
    for (path, body) in &bodies {
        let title = &titles[path];
        let mut links = Vec::new();
        if path != "index.html" {
            links.push((relative(path, "index.html"), format!("⌂ {site_title}")));
        }
        if let Some(pos) = order.iter().position(|p| p == path) {
            if pos > 0 {
                links.push((relative(path, &order[pos - 1]), "← Précédent".into()));
            }
            if let Some(next) = order.get(pos + 1) {
                links.push((relative(path, next), "Suivant →".into()));
            }
        }
        let full = format!("{body}\n<nav class=\"sommaire\"><h2>Sommaire</h2>\n{}</nav>", nav_html(&nav, path));
        out.insert(path.clone(), page(title, "fr", &links, &full).into_bytes());
    }
    let layout = if mkdocs.is_some() {
        "mkdocs"
    } else if pages == 0 && tree.contains_key("index.html") {
        // A hand-written site (HTML, CSS, no Markdown page): every file as it is.
        "html"
    } else {
        "markdown"
    };
    Site { files: out, title: site_title, description, pages, layout: layout.into() }
}

fn html_title(html: &str) -> Option<String> {
    let start = html.find("<title>")? + 7;
    let end = html[start..].find("</title>")? + start;
    Some(html[start..end].trim().to_string()).filter(|t| !t.is_empty())
}

/// MkDocs nav entries point to Markdown files; make them point to the rendered pages.
fn resolve_nav(nav: &[Nav], titles: &BTreeMap<String, String>) -> Vec<Nav> {
    nav.iter()
        .map(|n| match n {
            Nav::Page { title, path } => {
                let p = if is_markdown(path) { page_path(path) } else { path.clone() };
                let t =
                    if title.is_empty() { titles.get(&p).cloned().unwrap_or_else(|| p.clone()) } else { title.clone() };
                Nav::Page { title: t, path: p }
            }
            Nav::Section { title, children } => {
                Nav::Section { title: title.clone(), children: resolve_nav(children, titles) }
            }
            other => other.clone(),
        })
        .collect()
}

/// A navigation following the folder tree: pages of a folder, then its subfolders.
fn generated_nav(titles: &BTreeMap<String, String>) -> Vec<Nav> {
    fn build(prefix: &str, titles: &BTreeMap<String, String>) -> Vec<Nav> {
        let mut pages = Vec::new();
        let mut dirs = BTreeSet::new();
        for (p, t) in titles {
            let Some(rest) = p.strip_prefix(prefix) else { continue };
            match rest.split_once('/') {
                Some((d, _)) => {
                    dirs.insert(d.to_string());
                }
                None => pages.push(Nav::Page { title: t.clone(), path: p.clone() }),
            }
        }
        // The folder's index page first.
        pages.sort_by_key(|n| match n {
            Nav::Page { path, .. } => (!path.ends_with("index.html"), path.clone()),
            _ => (true, String::new()),
        });
        for d in dirs {
            let children = build(&format!("{prefix}{d}/"), titles);
            let title =
                titles.get(&format!("{prefix}{d}/index.html")).cloned().unwrap_or_else(|| d.replace(['-', '_'], " "));
            pages.push(Nav::Section { title, children });
        }
        pages
    }
    build("", titles)
}

fn flatten(nav: &[Nav]) -> Vec<String> {
    let mut out = Vec::new();
    for n in nav {
        match n {
            Nav::Page { path, .. } => {
                if !out.contains(path) {
                    out.push(path.clone());
                }
            }
            Nav::Section { children, .. } => {
                for p in flatten(children) {
                    if !out.contains(&p) {
                        out.push(p);
                    }
                }
            }
            Nav::Link { .. } => {}
        }
    }
    out
}

fn nav_html(nav: &[Nav], current: &str) -> String {
    let mut out = String::from("<ul>\n");
    for n in nav {
        match n {
            Nav::Page { title, path } => {
                if path == current {
                    out.push_str(&format!("<li><strong>{}</strong></li>\n", escape(title)));
                } else {
                    out.push_str(&format!("<li><a href=\"{}\">{}</a></li>\n", relative(current, path), escape(title)));
                }
            }
            Nav::Section { title, children } => {
                out.push_str(&format!("<li>{}\n{}</li>\n", escape(title), nav_html(children, current)));
            }
            Nav::Link { title, .. } => {
                out.push_str(&format!("<li>{} <em>(lien externe)</em></li>\n", escape(title)));
            }
        }
    }
    out.push_str("</ul>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn math_survives_markdown() {
        let html = to_html("Aire \\(\\pi r_1^2\\) et $a_1 * b_2$ puis\n\n$$\\sum_{i} x_i$$\n\nCoût 5 $ et 10 $.");
        assert!(html.contains("\\(\\pi r_1^2\\)"), "{html}");
        assert!(html.contains("$a_1 * b_2$"), "{html}");
        assert!(html.contains("$$\\sum_{i} x_i$$"), "{html}");
        assert!(!html.contains(MATH_MARK));
    }

    #[test]
    fn admonition_blocks() {
        let html =
            clean(&to_html(&admonitions("Texte\n\n!!! warning \"Attention !\"\n    Ne **pas** faire.\n\nSuite")));
        assert!(html.contains("class=\"admonition warning\""), "{html}");
        assert!(html.contains("Attention !") && html.contains("<strong>pas</strong>"), "{html}");
        assert!(html.contains("Suite"));
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let mut md = String::new();
        for i in 0..300 {
            md.push_str(&" ".repeat(4 * i));
            md.push_str("!!! note\n");
        }
        let html = admonitions(&md);
        assert_eq!(html.matches("<div class=\"admonition").count(), MAX_NESTING);
        let mut yml = String::from("nav:\n");
        for i in 0..300 {
            yml.push_str(&format!("{}- S{i}:\n", " ".repeat(2 + 2 * i)));
        }
        let _ = parse_mkdocs(&yml);
    }

    #[test]
    fn mkdocs_nav() {
        let cfg = parse_mkdocs(
            "site_name: 'Mon cours'\ndocs_dir: docs\ntheme:\n  name: material\nnav:\n  - Accueil: index.md\n  - Chapitre 1:\n    - chap1/intro.md\n    - Exercices: chap1/ex.md\n  - Site: https://example.org\nmarkdown_extensions:\n  - admonition\n",
        );
        assert_eq!(cfg.site_name, "Mon cours");
        assert_eq!(cfg.nav.len(), 3);
        assert_eq!(cfg.nav[0], Nav::Page { title: "Accueil".into(), path: "index.md".into() });
        let Nav::Section { title, children } = &cfg.nav[1] else { panic!("{:?}", cfg.nav) };
        assert_eq!(title, "Chapitre 1");
        assert_eq!(children.len(), 2);
        assert!(matches!(cfg.nav[2], Nav::Link { .. }));
    }

    #[test]
    fn paths_and_links() {
        assert_eq!(page_path("a/README.md"), "a/index.html");
        assert_eq!(page_path("a/b.md"), "a/b.html");
        assert_eq!(relative("a/b/c.html", "index.html"), "../../index.html");
        let set: BTreeSet<String> = ["a/x.md".to_string(), "b.md".to_string()].into();
        let html = rewrite_md_links("<a href=\"../b.md#s\">b</a><a href=\"https://x/y.md\">", "a/x.md", &set);
        assert_eq!(html, "<a href=\"../b.html#s\">b</a><a href=\"https://x/y.md\">");
    }
}
