//! Server-rendered HTML: escaping, the page frame, French/English choice.
//!
//! Every page is built with `maud`: compile-checked templates that escape every value
//! (as `preau_pack::text::escape_html` does, less `'`, which needs no escaping in text
//! and double-quoted attributes). A page body is a `Markup`, so a string cannot be one. Quiz and course texts are HTML that the importer sanitised; they
//! are inserted as HTML but the page's CSP only runs scripts carrying this response's
//! nonce, so a script hidden in a pack cannot run with the box's origin.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

/// A form sent back after an error (its own module).
pub use super::sticky::Sticky;
/// Escapes one path segment for a URL inside an attribute.
pub use preau_pack::text::encode_segment as url_seg;

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

    /// A number with at most `decimals` decimals, rounded half away from zero as a
    /// person rounds (6.25 → 6,3), trailing zeros dropped, with a decimal comma in French.
    pub fn num(self, x: f64, decimals: u32) -> String {
        let p = 10f64.powi(decimals as i32);
        // The nudge makes 6.25 (stored as 6.2499999…) and 2.675 round up, as on paper.
        let scaled = x * p;
        let r = (scaled + scaled.signum() * 1e-7).round() / p;
        let mut s = format!("{r:.*}", decimals as usize);
        if s.contains('.') {
            s = s.trim_end_matches('0').trim_end_matches('.').to_string();
        }
        if s == "-0" {
            s = "0".into();
        }
        match self {
            Lang::Fr => s.replace('.', ","),
            Lang::En => s,
        }
    }

    /// A size in bytes as people read it: o/Ko/Mo/Go in French, B/KB/MB/GB in English
    /// (powers of 1024, one decimal from Ko up).
    pub fn size(self, bytes: u64) -> String {
        let units = match self {
            Lang::Fr => ["o", "Ko", "Mo", "Go", "To"],
            Lang::En => ["B", "KB", "MB", "GB", "TB"],
        };
        let mut v = bytes as f64;
        let mut u = 0;
        while v >= 1024.0 && u < units.len() - 1 {
            v /= 1024.0;
            u += 1;
        }
        let n = if u == 0 { self.num(v, 0) } else { self.num(v, 1) };
        // A non-breaking space keeps the number with its unit.
        format!("{n}\u{a0}{}", units[u])
    }

    /// A date and time: `vendredi 5 décembre 2026 à 14:30` / `Friday 5 December 2026, 14:30`.
    pub fn date(self, t: i64, offset_minutes: i64) -> String {
        let Ok(d) = time::OffsetDateTime::from_unix_timestamp(t + offset_minutes * 60) else { return "?".into() };
        format!("{}, {:02}:{:02}", self.day(t, offset_minutes), d.hour(), d.minute()).replacen(
            ", ",
            self.t(" à ", ", "),
            1,
        )
    }

    /// A day: `vendredi 5 décembre 2026` / `Friday 5 December 2026`.
    pub fn day(self, t: i64, offset_minutes: i64) -> String {
        const DAYS_FR: [&str; 7] = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"];
        const DAYS_EN: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
        const MONTHS_FR: [&str; 12] = [
            "janvier",
            "février",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "août",
            "septembre",
            "octobre",
            "novembre",
            "décembre",
        ];
        const MONTHS_EN: [&str; 12] = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ];
        let Ok(d) = time::OffsetDateTime::from_unix_timestamp(t + offset_minutes * 60) else { return "?".into() };
        let wd = d.weekday().number_days_from_monday() as usize;
        let m = d.month() as usize - 1;
        match self {
            Lang::Fr => format!("{} {} {} {}", DAYS_FR[wd], d.day(), MONTHS_FR[m], d.year()),
            Lang::En => format!("{} {} {} {}", DAYS_EN[wd], d.day(), MONTHS_EN[m], d.year()),
        }
    }
}

/// A page ready to send: the frame around `body`, security headers, no caching (pages
/// hold personal data).
pub struct Page {
    pub lang: Lang,
    pub title: String,
    pub body: Markup,
    /// Shown at the top right: who is signed in.
    pub user: Option<String>,
    pub status: StatusCode,
    pub katex: bool,
}

impl Page {
    pub fn new(lang: Lang, title: impl Into<String>, body: Markup) -> Page {
        Page { lang, title: title.into(), body, user: None, status: StatusCode::OK, katex: false }
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
        let html = html! {
            (DOCTYPE)
            html lang=(lang.code()) {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (self.title) " · Préau" }
                    link rel="icon" href=(super::assets::url("favicon.svg")) type="image/svg+xml";
                    link rel="stylesheet" href=(super::assets::url("preau.css"));
                    @if self.katex {
                        link rel="stylesheet" href=(super::assets::url("katex/katex.min.css"));
                        script nonce=(nonce) defer src=(super::assets::url("katex/katex.min.js")) {}
                        script nonce=(nonce) defer src=(super::assets::url("katex/auto-render.min.js")) {}
                    }
                    script nonce=(nonce) defer src=(super::assets::url("preau.js")) {}
                }
                body {
                    a.skip href="#main" { (lang.t("Aller au contenu", "Skip to content")) }
                    header {
                        a.home href="/" { "Préau" }
                        (search_box(lang, ""))
                        nav aria-label=(lang.t("Compte", "Account")) {
                            @if let Some(u) = &self.user {
                                span.who { (u) }
                                " "
                                a href="/logout" { (lang.t("Se déconnecter", "Sign out")) }
                            }
                        }
                    }
                    main #main tabindex="-1" {
                        h1 { (self.title) }
                        (self.body)
                    }
                }
            }
        };
        let csp = format!(
            "default-src 'self'; script-src 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data:; font-src 'self'; media-src 'self'; object-src 'none'; base-uri 'none'; \
             form-action 'self'; frame-ancestors 'self'"
        );
        let mut resp = (self.status, html.into_string()).into_response();
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
pub fn search_box(lang: Lang, q: &str) -> Markup {
    // Named, as the home page's title search is: two search landmarks must differ.
    let label = lang.t("Chercher dans les contenus", "Search the content");
    html! {
        form.search method="get" action="/search" role="search" aria-label=(label) {
            input type="search" name="q" value=(q) maxlength="200"
                placeholder=(lang.t("Chercher dans les contenus…", "Search the content…")) aria-label=(label);
            button { (lang.t("Chercher", "Search")) }
        }
    }
}

/// The teachers' menu, on every teacher and admin page.
pub fn teacher_nav(lang: Lang) -> Markup {
    html! {
        nav.card aria-label=(lang.t("Menu enseignant", "Teacher menu")) {
            a href="/teacher/" { (lang.t("Classes", "Classes")) } " · "
            a href="/teacher/results" { (lang.t("Résultats", "Results")) } " · "
            a href="/teacher/marking" { (lang.t("À corriger", "Marking")) } " · "
            a href="/teacher/quizzes" { (lang.t("Mes quiz", "My quizzes")) } " · "
            a href="/admin/" { (lang.t("Boîte", "Box")) }
        }
    }
}

/// The hidden CSRF field of every form that posts (`web::Csrf` holds the token).
pub fn csrf_input(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

/// A short message page (errors, refusals, confirmations). Never a dead end: it offers
/// the previous page (by script, when there is one) and the home page.
pub fn message(lang: Lang, status: StatusCode, title: &str, text: &str) -> Response {
    let role = if status.is_success() { "status" } else { "alert" };
    let body = html! {
        p.msg role=(role) { (text) }
        p {
            a href="/" data-back { (lang.t("← Page précédente", "← Previous page")) }
            " "
            a href="/" { (lang.t("Accueil", "Home")) }
        }
    };
    Page::new(lang, title, body).status(status).into_response()
}

/// The half of a "French / English" text (the seam's summaries, `PackSource`) in the
/// page's language; a text without the separator is shown whole.
pub fn half(lang: Lang, s: &str) -> &str {
    match s.split_once(" / ") {
        Some((fr, en)) => lang.t(fr.trim(), en.trim()),
        None => s,
    }
}

/// The "not found" page for a thing a link or form named (`what_fr`/`what_en`: "Cette
/// classe"…), in the page's language.
pub fn not_found(lang: Lang, what_fr: &str, what_en: &str) -> Response {
    message(
        lang,
        StatusCode::NOT_FOUND,
        lang.t("Introuvable", "Not found"),
        &format!("{} {}", lang.t(what_fr, what_en), lang.t("n'existe pas ou plus.", "does not exist (any more).")),
    )
}

/// `Content-Disposition: attachment` for a file name with any characters (RFC 6266): an
/// ASCII fallback and the UTF-8 name in `filename*`, so `Ébauche_Léa.txt` keeps its accents.
pub fn attachment(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ') { c } else { '_' })
        .collect();
    let mut enc = String::new();
    for b in name.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' => enc.push(b as char),
            _ => enc.push_str(&format!("%{b:02X}")),
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{enc}")
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

/// A refused `preau.toml` as a warning paragraph, in the page's language.
pub fn config_notice(n: &crate::context::ConfigNotice, lang: Lang) -> Markup {
    html! { p.warn #config-problem { (lang.t(&n.fr, &n.en)) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            preau_pack::text::escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(url_path("a b/é.html"), "a%20b/%C3%A9.html");
    }

    #[test]
    fn numbers_sizes_and_dates_read_right() {
        assert_eq!(Lang::Fr.num(6.25, 1), "6,3");
        assert_eq!(Lang::En.num(6.25, 1), "6.3");
        assert_eq!(Lang::Fr.num(2.5, 2), "2,5");
        assert_eq!(Lang::Fr.num(4.0, 2), "4");
        assert_eq!(Lang::Fr.num(2.675, 2), "2,68");
        assert_eq!(Lang::Fr.num(-0.004, 2), "0");
        assert_eq!(Lang::Fr.num(-1.25, 1), "-1,3");
        assert_eq!(Lang::Fr.size(3 * 1024), "3\u{a0}Ko");
        assert_eq!(Lang::Fr.size(512), "512\u{a0}o");
        assert_eq!(Lang::Fr.size(80_207_000_000), "74,7\u{a0}Go");
        assert_eq!(Lang::En.size(80_207_000_000), "74.7\u{a0}GB");
        // 2026-12-04 13:30 UTC, shown at UTC+1.
        let t = 1_796_391_000;
        assert_eq!(Lang::Fr.date(t, 60), "vendredi 4 décembre 2026 à 14:30");
        assert_eq!(Lang::En.date(t, 60), "Friday 4 December 2026, 14:30");
    }

    #[test]
    fn attachment_names_keep_their_accents() {
        assert_eq!(
            attachment("Ébauche_Léa.txt"),
            "attachment; filename=\"_bauche_L_a.txt\"; filename*=UTF-8''%C3%89bauche_L%C3%A9a.txt"
        );
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
