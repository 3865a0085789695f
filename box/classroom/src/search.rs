//! `GET /search` (the results page) and `GET /api/search` (JSON, for other tools): the
//! box's full-text search (`preau-search`) over its installed packs.
//!
//! Who sees what: the same as the home page. Outside opening hours only a teacher gets
//! results (pupils get the "box is resting" page, the API a 503). Results are files of
//! packs installed *now* (the search crate checks each), never a `_preau/` file: a quiz
//! is found by its title and question stems and links to the quiz player.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use preau_search::{Hit, Request, Search, SearchError};

use maud::{Markup, PreEscaped, html};

use super::html::{Lang, Page, search_box, url_path, url_seg};
use super::pupil::user_label;
use super::store::Who;
use super::web::{Shared, closed_page, off_worker};

/// The raw query string at most (bytes): `q` (200 characters, each up to 12 bytes
/// percent-encoded), `pack` and `limit`.
const MAX_QUERY_STRING: usize = 4096;

/// The parameters of a search, from the query string.
struct Params {
    q: String,
    pack: Option<String>,
    limit: usize,
}

/// A refusal: HTTP status, stable code, French and English message.
struct Refusal(StatusCode, &'static str, &'static str, &'static str);

fn params(raw: Option<&str>, default_limit: usize) -> Result<Params, Refusal> {
    let raw = raw.unwrap_or_default();
    if raw.len() > MAX_QUERY_STRING {
        let e = preau_search::QueryError::TooLong;
        return Err(Refusal(StatusCode::BAD_REQUEST, e.code(), e.french(), e.english()));
    }
    let mut p = Params { q: String::new(), pack: None, limit: default_limit };
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        match k.as_ref() {
            "q" => p.q = v.into_owned(),
            "pack" if !v.is_empty() => {
                if v.len() > 200 || !super::pupil::valid_pack_path(&v) || v.contains('/') {
                    return Err(Refusal(
                        StatusCode::BAD_REQUEST,
                        "bad_pack",
                        "Le paramètre pack n'est pas un identifiant de contenu.",
                        "The pack parameter is not a pack id.",
                    ));
                }
                p.pack = Some(v.into_owned());
            }
            "limit" => {
                p.limit =
                    v.parse::<usize>().ok().filter(|n| (1..=preau_search::MAX_LIMIT).contains(n)).ok_or(Refusal(
                        StatusCode::BAD_REQUEST,
                        "bad_limit",
                        "Le paramètre limit doit être un nombre de 1 à 50.",
                        "The limit parameter must be a number from 1 to 50.",
                    ))?
            }
            _ => {}
        }
    }
    Ok(p)
}

/// Runs the search off the async workers (it reads pack files for the snippets).
async fn run(search: Arc<Search>, p: &Params) -> Result<Vec<Hit>, SearchError> {
    let (q, pack, limit) = (p.q.clone(), p.pack.clone(), p.limit);
    off_worker(move || search.search(&Request { q: &q, pack: pack.as_deref(), limit, allowed: None })).await
}

/// Where a result links to. A signed-in pupil's pages go through `/pupil/open/` so the
/// opening counts as progress, as from the home page; quizzes and assignments are the
/// box's own pages.
fn href(hit: &Hit, pupil: bool) -> String {
    let page = matches!(hit.kind, "html" | "markdown" | "course");
    if pupil && page {
        format!("/pupil/open/{}/{}", url_seg(&hit.pack), url_path(&hit.path))
    } else {
        format!("/packs/{}/{}", url_seg(&hit.pack), url_path(&hit.path))
    }
}

fn unavailable() -> Refusal {
    Refusal(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "La recherche n'est pas disponible sur cette boîte (voir le journal).",
        "Search is not available on this box (see the log).",
    )
}

/// `GET /search?q=…`: results grouped by pack, best pack first, matches highlighted.
pub async fn page(State(app): State<Shared>, headers: HeaderMap, lang: Lang, RawQuery(raw): RawQuery) -> Response {
    let who = app.who(&headers);
    if !matches!(who, Some(Who::Teacher(_))) && !app.is_open() {
        return closed_page(&app, lang);
    }
    let pupil = matches!(who, Some(Who::Pupil(_)));
    let (q, outcome) = match params(raw.as_deref(), preau_search::DEFAULT_LIMIT) {
        Err(r) => (String::new(), Err(r)),
        Ok(p) => match &app.ctx.search {
            None => (p.q.clone(), Err(unavailable())),
            Some(s) => {
                let result = run(s.clone(), &p).await;
                (p.q.clone(), result.map(|h| (h, s.status())).map_err(refusal))
            }
        },
    };
    let status = match &outcome {
        Err(Refusal(status, ..)) => *status,
        Ok(_) => StatusCode::OK,
    };
    let body = html! {
        (search_box(lang, &q))
        @match &outcome {
            Err(Refusal(_, _, fr, en)) => p.msg { (lang.t(fr, en)) },
            Ok((hits, index)) => {
                @if !index.ready {
                    p.warn { (lang.t(
                        "L'index de recherche est en cours de mise à jour : des pages peuvent encore manquer.",
                        "The search index is being updated: some pages may still be missing."
                    )) }
                }
                @if hits.is_empty() {
                    p.msg { (lang.t("Aucun résultat pour", "No result for")) " « " (q) " »." }
                } @else {
                    p {
                        (hits.len()) " "
                        (if hits.len() == 1 { lang.t("résultat", "result") } else { lang.t("résultats", "results") })
                    }
                    (grouped(lang, hits, pupil))
                }
            }
        }
    };
    let mut page = Page::new(lang, lang.t("Recherche", "Search"), body).status(status);
    page.user = user_label(&app, who);
    page.into_response()
}

/// The results grouped by pack, the packs in the order of their best result.
fn grouped(lang: Lang, hits: &[Hit], pupil: bool) -> Markup {
    let mut order: Vec<&str> = Vec::new();
    for h in hits {
        if !order.contains(&h.pack.as_str()) {
            order.push(&h.pack);
        }
    }
    html! {
        @for pack in order {
            @let group: Vec<&Hit> = hits.iter().filter(|h| h.pack == pack).collect();
            section.search-pack {
                h2 { (group[0].pack_title) }
                ol {
                    @for h in group {
                        @let badge = match h.kind {
                            "quiz" => Some(lang.t("quiz", "quiz")),
                            "assign" => Some(lang.t("devoir", "assignment")),
                            "course" => Some(lang.t("sommaire du cours", "course outline")),
                            _ => None,
                        };
                        li {
                            a href=(href(h, pupil)) {
                                @if h.title_html.is_empty() {
                                    (h.path)
                                } @else {
                                    // Safe HTML: escaped by preau-search, with <mark> only.
                                    (PreEscaped(&h.title_html))
                                }
                            }
                            @if let Some(badge) = badge {
                                " "
                                small { "(" (badge) ")" }
                            }
                            // Safe HTML: escaped by preau-search, with <mark> only.
                            p.snippet { (PreEscaped(&h.snippet_html)) }
                        }
                    }
                }
            }
        }
    }
}

fn refusal(e: SearchError) -> Refusal {
    match e {
        SearchError::Query(q) => Refusal(StatusCode::BAD_REQUEST, q.code(), q.french(), q.english()),
        SearchError::Index(e) => {
            tracing::warn!("search failed: {e}");
            unavailable()
        }
    }
}

/// `GET /api/search?q=…&pack=…&limit=…`: JSON. 200 with `results` (maybe empty),
/// 400 with `error` (a code), `message` (French) and `message_en` for a bad query,
/// 503 outside opening hours (except for a teacher) or without an index.
pub async fn api(State(app): State<Shared>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let who = app.who(&headers);
    let outcome = if !matches!(who, Some(Who::Teacher(_))) && !app.is_open() {
        Err(Refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "closed",
            "Préau est fermé en ce moment (heures d'ouverture).",
            "Préau is closed right now (opening hours).",
        ))
    } else {
        match (params(raw.as_deref(), preau_search::DEFAULT_LIMIT), &app.ctx.search) {
            (Err(r), _) => Err(r),
            (Ok(_), None) => Err(unavailable()),
            (Ok(p), Some(s)) => run(s.clone(), &p).await.map(|h| (p, h, s.status())).map_err(refusal),
        }
    };
    let pupil = matches!(who, Some(Who::Pupil(_)));
    let (status, body) = match outcome {
        Ok((p, hits, index)) => {
            let results: Vec<serde_json::Value> = hits
                .iter()
                .map(|h| {
                    serde_json::json!({
                        "pack": h.pack, "pack_title": h.pack_title, "path": h.path, "url": href(h, pupil),
                        "kind": h.kind, "title": h.title, "title_html": h.title_html,
                        "snippet_html": h.snippet_html, "score": h.score,
                    })
                })
                .collect();
            (StatusCode::OK, serde_json::json!({ "q": p.q, "results": results, "index": index }))
        }
        Err(Refusal(status, code, fr, en)) => {
            (status, serde_json::json!({ "error": code, "message": fr, "message_en": en }))
        }
    };
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
