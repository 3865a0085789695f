//! Server-rendered HTML: escaping, the page frame, French/English choice.
//!
//! Pages are plain `format!` strings: every value that comes from a person or a pack
//! goes through [`esc`]. Quiz and course texts are HTML that the importer sanitised; they
//! are inserted as HTML but the page's CSP only runs scripts carrying this response's
//! nonce, so a script hidden in a pack cannot run with the box's origin.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Escapes one path segment for a URL inside an attribute.
pub use preau_pack::text::encode_segment as url_seg;
/// Escapes text for HTML element content and quoted attribute values (the one escaper
/// of the workspace).
pub use preau_pack::text::escape_html as esc;

/// Escapes a relative path, keeping its slashes.
pub use preau_pack::text::encode_path as url_path;

/// The page language: French unless the browser prefers English.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lang {
    Fr,
    En,
}

impl Lang {
    /// Picks the first of `fr`/`en` listed in Accept-Language (weights respected).
    pub fn from_headers(h: &HeaderMap) -> Lang {
        let Some(v) = h.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()) else {
            return Lang::Fr;
        };
        let mut best: Option<(f32, Lang)> = None;
        for part in v.split(',').take(20) {
            let mut it = part.split(';');
            let tag = it.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = it.find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).unwrap_or(1.0);
            let lang = if tag == "fr" || tag.starts_with("fr-") {
                Lang::Fr
            } else if tag == "en" || tag.starts_with("en-") {
                Lang::En
            } else {
                continue;
            };
            if best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l).unwrap_or(Lang::Fr)
    }

    /// The French or English text.
    pub fn t<'a>(self, fr: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Fr => fr,
            Lang::En => en,
        }
    }

    pub fn code(self) -> &'static str {
        self.t("fr", "en")
    }
}

/// A page ready to send: the frame around `body`, security headers, no caching (pages
/// hold personal data).
pub struct Page {
    pub lang: Lang,
    pub title: String,
    pub body: String,
    /// Shown at the top right: who is signed in.
    pub user: Option<String>,
    pub status: StatusCode,
    pub katex: bool,
}

impl Page {
    pub fn new(lang: Lang, title: impl Into<String>, body: impl Into<String>) -> Page {
        Page { lang, title: title.into(), body: body.into(), user: None, status: StatusCode::OK, katex: false }
    }

    pub fn status(mut self, s: StatusCode) -> Page {
        self.status = s;
        self
    }
}

fn nonce() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the OS random source works");
    hex::encode(b)
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let nonce = nonce();
        let lang = self.lang;
        let katex = if self.katex {
            format!(
                r#"<link rel="stylesheet" href="/static/katex/katex.min.css">
<script nonce="{nonce}" defer src="/static/katex/katex.min.js"></script>
<script nonce="{nonce}" defer src="/static/katex/auto-render.min.js"></script>"#
            )
        } else {
            String::new()
        };
        let user = match &self.user {
            Some(u) => format!(
                r#"<span class="who">{}</span> <a href="/logout">{}</a>"#,
                esc(u),
                lang.t("Se déconnecter", "Sign out")
            ),
            None => String::new(),
        };
        let html = format!(
            r#"<!DOCTYPE html>
<html lang="{code}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Préau</title>
<link rel="stylesheet" href="/static/preau.css">
{katex}
<script nonce="{nonce}" defer src="/static/preau.js"></script>
</head>
<body>
<header><a class="home" href="/">Préau</a>{search}<nav>{user}</nav></header>
<main>
<h1>{title}</h1>
{body}
</main>
</body>
</html>
"#,
            code = lang.code(),
            search = search_box(lang, ""),
            title = esc(&self.title),
            body = self.body,
        );
        let csp = format!(
            "default-src 'self'; script-src 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data:; font-src 'self'; media-src 'self'; object-src 'none'; base-uri 'none'; \
             form-action 'self'; frame-ancestors 'self'"
        );
        let mut resp = (self.status, html).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("SAMEORIGIN"));
        h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
        if let Ok(v) = HeaderValue::from_str(&csp) {
            h.insert(header::CONTENT_SECURITY_POLICY, v);
        }
        resp
    }
}

/// The search form of every page's header (and, filled in, of the results page).
pub fn search_box(lang: Lang, q: &str) -> String {
    format!(
        r#"<form class="search" method="get" action="/search" role="search"><input type="search" name="q" value="{}" maxlength="200" placeholder="{}" aria-label="{}"><button>{}</button></form>"#,
        esc(q),
        lang.t("Chercher dans les contenus…", "Search the content…"),
        lang.t("Chercher dans les contenus", "Search the content"),
        lang.t("Chercher", "Search")
    )
}

/// A short message page (errors, refusals, confirmations).
pub fn message(lang: Lang, status: StatusCode, title: &str, text: &str) -> Response {
    let body = format!(r#"<p class="msg">{}</p><p><a href="/">{}</a></p>"#, esc(text), lang.t("Accueil", "Home"));
    Page::new(lang, title, body).status(status).into_response()
}

/// Formats a Unix time as `YYYY-MM-DD HH:MM` (UTC plus the box's configured offset).
pub fn date(t: i64, offset_minutes: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(t + offset_minutes * 60) {
        Ok(d) => format!("{:04}-{:02}-{:02} {:02}:{:02}", d.year(), d.month() as u8, d.day(), d.hour(), d.minute()),
        Err(_) => "?".into(),
    }
}

/// Plain text of an HTML fragment (tags dropped, common entities decoded), for short
/// summaries such as a chosen answer.
pub fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(esc(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        assert_eq!(url_path("a b/é.html"), "a%20b/%C3%A9.html");
    }

    #[test]
    fn language_from_accept_language() {
        let mut h = HeaderMap::new();
        assert_eq!(Lang::from_headers(&h), Lang::Fr);
        h.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("en-GB,en;q=0.9,fr;q=0.8"));
        assert_eq!(Lang::from_headers(&h), Lang::En);
        h.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("de-DE,fr;q=0.5,en;q=0.4"));
        assert_eq!(Lang::from_headers(&h), Lang::Fr);
        h.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("de, es"));
        assert_eq!(Lang::from_headers(&h), Lang::Fr);
    }
}
