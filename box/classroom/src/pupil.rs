//! The pupils' side: the catalog page, sign-in without e-mail (class, then name, then an
//! optional code), sign-out, and the progress page.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::html::{Lang, Page, esc, message, url_path, url_seg};
use super::passwords::{self, Client};
use super::store::Who;
use super::web::{
    Csrf, PupilId, SESSION_COOKIE, SESSION_SECS, Shared, check_post, closed_page, cookie, internal, random_token,
    set_cookie,
};
use preau_pack::course::CourseOutline;

/// The pictures of a picture code, standing for the digits 1 to 9.
pub const PICTURES: [&str; 9] = ["🐱", "🐶", "🐟", "🌳", "🌞", "⭐", "🍎", "🚗", "🏠"];
const PICTURE_NAMES_FR: [&str; 9] =
    ["chat", "chien", "poisson", "arbre", "soleil", "étoile", "pomme", "voiture", "maison"];
const PICTURE_NAMES_EN: [&str; 9] = ["cat", "dog", "fish", "tree", "sun", "star", "apple", "car", "house"];

/// The name shown in the header for whoever is signed in.
pub fn user_label(app: &Shared, who: Option<Who>) -> Option<String> {
    let store = app.store();
    match who? {
        Who::Pupil(id) => store.pupil(id).ok().flatten().map(|p| p.name),
        Who::Teacher(id) => store.teacher_name(id).ok().flatten(),
    }
}

/// A pack id or a path inside a pack that a pupil may open: relative, no `..`, not the
/// box-only `_preau/` folder.
pub fn valid_pack_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 1024
        && !path.starts_with('/')
        && !path.starts_with("_preau/")
        && path.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
}

#[derive(Deserialize)]
pub struct CatalogQuery {
    #[serde(default)]
    q: String,
}

/// `GET /`: the packs by subject and level, with a search by title.
pub async fn catalog(State(app): State<Shared>, headers: HeaderMap, Query(query): Query<CatalogQuery>) -> Response {
    let lang = Lang::from_headers(&headers);
    let who = app.who(&headers);
    if !matches!(who, Some(Who::Teacher(_))) && !app.is_open() {
        return closed_page(lang);
    }
    let q: String = query.q.trim().chars().take(100).collect();
    let needle = q.to_lowercase();
    let mut by_subject: BTreeMap<String, BTreeMap<String, Vec<_>>> = BTreeMap::new();
    for p in app.ctx.packs.list() {
        if !needle.is_empty() && !p.title.to_lowercase().contains(&needle) {
            continue;
        }
        let subject = if p.subject.is_empty() { lang.t("Autres", "Other").to_string() } else { p.subject.clone() };
        by_subject.entry(subject).or_default().entry(p.level.clone()).or_default().push(p);
    }
    let mut body = String::new();
    // A refused preau.toml is for the teacher (and whoever sets the box up), not pupils.
    if let (Some(n), false) = (&app.ctx.config_problem, matches!(who, Some(Who::Pupil(_)))) {
        body.push_str(&n.html(lang));
    }
    if !app.ctx.school.is_empty() {
        body.push_str(&format!("<p>{}</p>", esc(&app.ctx.school)));
    }
    match who {
        Some(Who::Pupil(_)) => body.push_str(&format!(
            r#"<p><a class="button" href="/pupil/">{}</a></p>"#,
            lang.t("Ma progression", "My progress")
        )),
        Some(Who::Teacher(_)) => body.push_str(&format!(
            r#"<p><a class="button" href="/teacher/">{}</a></p>"#,
            lang.t("Tableau de bord", "Dashboard")
        )),
        None => body.push_str(&format!(
            r#"<p><a class="button" href="/login">{}</a> <a class="button secondary" href="/teacher/login">{}</a></p>"#,
            lang.t("Je suis élève : entrer", "I am a pupil: sign in"),
            lang.t("Espace enseignant", "Teachers")
        )),
    }
    body.push_str(&format!(
        r#"<form method="get" action="/" role="search"><label>{} <input type="search" name="q" value="{}" maxlength="100"></label> <button>{}</button></form>"#,
        lang.t("Chercher un titre", "Search a title"),
        esc(&q),
        lang.t("Chercher", "Search")
    ));
    if by_subject.is_empty() {
        body.push_str(&format!("<p>{}</p>", lang.t("Aucun contenu trouvé.", "No content found.")));
    }
    let pupil = matches!(who, Some(Who::Pupil(_)));
    for (subject, levels) in by_subject {
        body.push_str(&format!("<h2>{}</h2>", esc(&subject)));
        for (level, packs) in levels {
            if !level.is_empty() {
                body.push_str(&format!("<h3>{}</h3>", esc(&level)));
            }
            body.push_str(r#"<ul class="grid">"#);
            for p in packs {
                // Signed-in pupils go through /pupil/open so the opening counts as progress.
                let href = if pupil {
                    format!("/pupil/open/{}/{}", url_seg(&p.id), url_path(&p.entry))
                } else {
                    format!("/packs/{}/{}", url_seg(&p.id), url_path(&p.entry))
                };
                body.push_str(&format!(r#"<li><a href="{}">{}</a></li>"#, esc(&href), esc(&p.title)));
            }
            body.push_str("</ul>");
        }
    }
    let mut page = Page::new(lang, lang.t("Bienvenue", "Welcome"), body);
    page.user = user_label(&app, who);
    page.into_response()
}

/// `GET /login`: choose your class.
pub async fn login_classes(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let lang = Lang::from_headers(&headers);
    if !app.is_open() {
        return closed_page(lang);
    }
    let classes = match app.store().classes() {
        Ok(c) => c,
        Err(e) => return internal(lang, e),
    };
    let mut body = format!("<p>{}</p>", lang.t("Choisis ta classe :", "Choose your class:"));
    if classes.is_empty() {
        body = format!(
            "<p>{}</p>",
            lang.t(
                "Aucune classe pour l'instant : ton enseignant doit d'abord la créer.",
                "No class yet: your teacher must create it first."
            )
        );
    }
    body.push_str(r#"<ul class="grid">"#);
    for c in classes {
        body.push_str(&format!(r#"<li><a href="/login/class/{}">{}</a></li>"#, c.id, esc(&c.name)));
    }
    body.push_str("</ul>");
    Page::new(lang, lang.t("Entrer", "Sign in"), body).into_response()
}

#[derive(Deserialize)]
pub struct NamesQuery {
    pupil: Option<i64>,
    error: Option<String>,
}

/// `GET /login/class/{id}`: choose your name; then, if the teacher set one, your code.
pub async fn login_names(
    State(app): State<Shared>,
    headers: HeaderMap,
    Path(class_id): Path<i64>,
    Query(query): Query<NamesQuery>,
) -> Response {
    let lang = Lang::from_headers(&headers);
    if !app.is_open() {
        return closed_page(lang);
    }
    let (class, pupils) = {
        let store = app.store();
        match (store.class(class_id), store.pupils(class_id)) {
            (Ok(Some(c)), Ok(p)) => (c, p),
            (Ok(None), _) => {
                return message(lang, StatusCode::NOT_FOUND, lang.t("Introuvable", "Not found"), "no such class");
            }
            (Err(e), _) | (_, Err(e)) => return internal(lang, e),
        }
    };
    let csrf = Csrf::from_headers(&headers);
    let mut body = String::new();
    let chosen = query.pupil.and_then(|id| pupils.iter().find(|p| p.id == id));
    match chosen {
        None => {
            body.push_str(&format!(
                "<p>{}</p><ul class=\"grid\">",
                lang.t("Choisis ton prénom :", "Choose your name:")
            ));
            for p in &pupils {
                body.push_str(&format!(
                    r#"<li><a href="/login/class/{}?pupil={}">{}</a></li>"#,
                    class.id,
                    p.id,
                    esc(&p.name)
                ));
            }
            body.push_str("</ul>");
            body.push_str(&format!(r#"<p><a href="/login">{}</a></p>"#, lang.t("← Autre classe", "← Another class")));
        }
        Some(p) => {
            if let Some(err) = &query.error {
                let text = match err.as_str() {
                    "locked" => lang.t(
                        "Trop d'essais : attends quelques minutes ou demande à ton enseignant.",
                        "Too many tries: wait a few minutes or ask your teacher.",
                    ),
                    _ => lang.t("Ce n'est pas le bon code. Réessaie.", "That is not the right code. Try again."),
                };
                body.push_str(&format!(r#"<p class="error" role="alert">{text}</p>"#));
            }
            body.push_str(&format!(
                r#"<form method="post" action="/login">{}<input type="hidden" name="pupil" value="{}"><p>{} <strong>{}</strong> ?</p>"#,
                csrf.field(),
                p.id,
                lang.t("Tu es", "Are you"),
                esc(&p.name)
            ));
            match p.code_kind.as_str() {
                "digits" => body.push_str(&format!(
                    r#"<label>{} <input name="code" inputmode="numeric" pattern="[0-9]{{4}}" maxlength="4" autocomplete="off" required autofocus></label>"#,
                    lang.t("Ton code à 4 chiffres :", "Your 4-digit code:")
                )),
                "pictures" => {
                    body.push_str(&format!(
                        r#"<fieldset class="pics"><legend>{}</legend>"#,
                        lang.t("Ton code en images :", "Your picture code:")
                    ));
                    let names = if lang == Lang::Fr { PICTURE_NAMES_FR } else { PICTURE_NAMES_EN };
                    for i in 1..=4 {
                        body.push_str(&format!(
                            r#"<label>{} {i} <select name="pic{i}" required><option value=""></option>"#,
                            lang.t("Image", "Picture")
                        ));
                        for (d, (pic, name)) in PICTURES.iter().zip(names).enumerate() {
                            body.push_str(&format!(r#"<option value="{}">{pic} {name}</option>"#, d + 1));
                        }
                        body.push_str("</select></label>");
                    }
                    body.push_str("</fieldset>");
                }
                _ => {}
            }
            body.push_str(&format!(
                r#"<button>{}</button></form><p><a href="/login/class/{}">{}</a></p>"#,
                lang.t("Entrer", "Enter"),
                class.id,
                lang.t("← Ce n'est pas moi", "← That's not me")
            ));
        }
    }
    let mut page = Page::new(lang, class.name.clone(), body);
    page.set_cookies.extend(csrf.cookie());
    page.into_response()
}

/// `POST /login`: a pupil signs in.
pub async fn login(State(app): State<Shared>, headers: HeaderMap, client: Client, body: Bytes) -> Response {
    let lang = Lang::from_headers(&headers);
    if !app.is_open() {
        return closed_page(lang);
    }
    let form = match check_post(&headers, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let Some(pupil_id) = form.get("pupil").and_then(|v| v.parse::<i64>().ok()) else {
        return message(lang, StatusCode::BAD_REQUEST, lang.t("Erreur", "Error"), "missing pupil");
    };
    let pupil = match app.store().pupil(pupil_id) {
        Ok(Some(p)) => p,
        Ok(None) => return message(lang, StatusCode::NOT_FOUND, lang.t("Introuvable", "Not found"), "no such pupil"),
        Err(e) => return internal(lang, e),
    };
    let back = |err: &str| {
        Redirect::to(&format!("/login/class/{}?pupil={}&error={err}", pupil.class_id, pupil.id)).into_response()
    };
    if let Some(expected) = &pupil.code {
        // Per (pupil, device) and per device across pupils, like teachers' passwords.
        let keys = passwords::keys("p", &pupil.id.to_string(), client);
        let keys = passwords::borrow(&keys);
        if app.attempts().begin(&keys).is_err() {
            return back("locked");
        }
        let given: String = match pupil.code_kind.as_str() {
            "pictures" => (1..=4).filter_map(|i| form.get(&format!("pic{i}"))).collect(),
            _ => form.get("code").unwrap_or("").trim().to_string(),
        };
        let ok = given == *expected;
        app.attempts().end(&keys, ok);
        if !ok {
            return back("code");
        }
    }
    start_session(&app, lang, Who::Pupil(pupil.id), &headers, "/")
}

/// Creates a session, replacing any previous one of this browser, and redirects.
pub fn start_session(app: &Shared, lang: Lang, who: Who, headers: &HeaderMap, to: &str) -> Response {
    let token = random_token();
    let now = app.now();
    {
        let store = app.store();
        if let Some(old) = cookie(headers, SESSION_COOKIE) {
            let _ = store.delete_session(old);
        }
        let _ = store.expire_sessions(now - SESSION_SECS);
        if let Err(e) = store.create_session(who, &token, now) {
            return internal(lang, e);
        }
    }
    let same_site = match who {
        Who::Pupil(_) => "Lax",
        Who::Teacher(_) => "Strict",
    };
    let mut resp = Redirect::to(to).into_response();
    if let Ok(v) = set_cookie(SESSION_COOKIE, &token, SESSION_SECS, same_site).parse() {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// `GET /logout`: a button (signing out changes state, so it is a form).
pub async fn logout_page(headers: HeaderMap) -> Response {
    let lang = Lang::from_headers(&headers);
    let csrf = Csrf::from_headers(&headers);
    let body = format!(
        r#"<form method="post" action="/logout">{}<button>{}</button></form>"#,
        csrf.field(),
        lang.t("Se déconnecter", "Sign out")
    );
    let mut page = Page::new(lang, lang.t("Se déconnecter", "Sign out"), body);
    page.set_cookies.extend(csrf.cookie());
    page.into_response()
}

pub async fn logout(State(app): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = check_post(&headers, &body) {
        return r;
    }
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        let _ = app.store().delete_session(token);
    }
    let mut resp = Redirect::to("/").into_response();
    if let Ok(v) = set_cookie(SESSION_COOKIE, "", 0, "Lax").parse() {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// `GET /pupil/open/{pack}/{path}`: records that the pupil opened a page, then sends
/// them to it. Links on the box's own pages go through here.
pub async fn open(
    State(app): State<Shared>,
    headers: HeaderMap,
    Extension(PupilId(pupil)): Extension<PupilId>,
    Path((pack, path)): Path<(String, String)>,
) -> Response {
    let lang = Lang::from_headers(&headers);
    if !valid_pack_path(&pack) || !valid_pack_path(&path) || !app.ctx.packs.list().iter().any(|p| p.id == pack) {
        return message(lang, StatusCode::NOT_FOUND, lang.t("Introuvable", "Not found"), "no such page");
    }
    // A page that is not in the pack is not progress (the pack server answers 404).
    if page_exists(&app, &pack, &path) {
        let now = app.now();
        if let Err(e) = app.store().record_event(pupil, "opened", &pack, &path, now) {
            return internal(lang, e);
        }
    }
    Redirect::to(&format!("/packs/{}/{}", url_seg(&pack), url_path(&path))).into_response()
}

/// `POST /pupil/done/{pack}/{path}`: the pupil says they finished a page.
pub async fn done(
    State(app): State<Shared>,
    headers: HeaderMap,
    Extension(PupilId(pupil)): Extension<PupilId>,
    Path((pack, path)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let lang = Lang::from_headers(&headers);
    if let Err(r) = check_post(&headers, &body) {
        return r;
    }
    // Only pages of the pack: invented paths would each store an event and an outbox row.
    if !valid_pack_path(&pack) || !valid_pack_path(&path) || !page_exists(&app, &pack, &path) {
        return message(lang, StatusCode::NOT_FOUND, lang.t("Introuvable", "Not found"), "no such page");
    }
    let now = app.now();
    if let Err(e) = app.store().record_event(pupil, "completed", &pack, &path, now) {
        return internal(lang, e);
    }
    Redirect::to("/pupil/").into_response()
}

/// Whether `path` is a public file of an installed pack (a folder path means its
/// `index.html`, as the pack server serves it).
fn page_exists(app: &Shared, pack: &str, path: &str) -> bool {
    if path.starts_with('_') || !app.ctx.packs.list().iter().any(|p| p.id == pack) {
        return false;
    }
    let file = if path.is_empty() || path.ends_with('/') { format!("{path}index.html") } else { path.to_string() };
    app.ctx.packs.has_file(pack, &file)
}

/// A mark as teachers enter it: `15`, `12.5`.
fn fmt_mark(m: f64) -> String {
    if m.fract() == 0.0 { format!("{m:.0}") } else { format!("{m:.1}") }
}

/// Reads a pack's course outline, if it has one.
pub fn outline(app: &Shared, pack: &str) -> Option<CourseOutline> {
    let bytes = app.ctx.packs.read(pack, preau_pack::course::COURSE_PATH)?;
    if bytes.len() > 4 * 1024 * 1024 {
        return None;
    }
    super::packtext::parse(&bytes)
}

/// `GET /pupil/`: what the pupil opened and completed, course by course, and quiz scores.
pub async fn progress(
    State(app): State<Shared>,
    headers: HeaderMap,
    Extension(PupilId(pupil)): Extension<PupilId>,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let csrf = Csrf::from_headers(&headers);
    let (events, name) = {
        let store = app.store();
        match (store.events(pupil), store.pupil(pupil)) {
            (Ok(e), Ok(Some(p))) => (e, p.name),
            (Err(e), _) | (_, Err(e)) => return internal(lang, e),
            (_, Ok(None)) => return internal(lang, "pupil vanished"),
        }
    };
    let has = |verb: &str, pack: &str, path: &str| events.iter().any(|(v, k, p)| v == verb && k == pack && p == path);
    // Handed-in work: (pack, assignment) -> the best mark so far, if marked.
    let submissions = match app.store().submissions(Some(pupil)) {
        Ok(s) => s,
        Err(e) => return internal(lang, e),
    };
    let handed_in = |pack: &str, path: &str| -> Option<Option<f64>> {
        let id = path.strip_prefix("_assign/")?;
        let mut found = submissions.iter().filter(|s| s.pack == pack && s.assign == id).peekable();
        found.peek()?;
        Some(found.filter_map(|s| s.mark).fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x)))))
    };
    let finished = |pack: &str, path: &str| has("completed", pack, path) || handed_in(pack, path).is_some();
    let mut body = String::new();
    for pack in app.ctx.packs.list() {
        let Some(outline) = outline(&app, &pack.id) else {
            let opened = events.iter().filter(|(v, k, _)| v == "opened" && *k == pack.id).count();
            if opened > 0 {
                body.push_str(&format!(
                    r#"<div class="card"><h2>{}</h2><p>{} {opened}</p></div>"#,
                    esc(&pack.title),
                    lang.t("Pages ouvertes :", "Pages opened:")
                ));
            }
            continue;
        };
        let total = outline.activities().filter(|a| a.available_offline).count();
        let done_count = outline.activities().filter(|a| a.available_offline && finished(&pack.id, &a.path)).count();
        body.push_str(&format!(
            r#"<div class="card"><h2>{}</h2><p>{} {done_count} / {total}</p>"#,
            esc(&outline.title),
            lang.t("Activités terminées :", "Activities completed:")
        ));
        for section in &outline.sections {
            if section.activities.is_empty() {
                continue;
            }
            body.push_str(&format!("<h3>{}</h3><ul>", esc(&section.title)));
            for a in &section.activities {
                if !valid_pack_path(&a.path) {
                    continue;
                }
                // As Éléa shows it: work handed in is "rendu", with its mark once marked;
                // what needs the Moodle server is neither to do nor counted.
                let state_text;
                let (mark, state) = if !a.available_offline {
                    state_text = match lang {
                        Lang::Fr => {
                            format!("non disponible hors ligne : {}", preau_pack::course::offline_reason_fr(&a.kind))
                        }
                        Lang::En => "not available offline: needs the Moodle server".to_string(),
                    };
                    ("⊘", state_text.as_str())
                } else if let Some(marked) = handed_in(&pack.id, &a.path) {
                    state_text = match marked {
                        Some(m) => format!("{} {}", lang.t("rendu, noté", "handed in, marked"), fmt_mark(m)),
                        None => lang.t("rendu", "handed in").to_string(),
                    };
                    ("✔", state_text.as_str())
                } else if has("completed", &pack.id, &a.path) {
                    ("✔", lang.t("terminé", "done"))
                } else if has("opened", &pack.id, &a.path) {
                    ("◐", lang.t("commencé", "started"))
                } else {
                    ("○", lang.t("à faire", "to do"))
                };
                let is_page = !a.path.starts_with("_quiz/") && !a.path.starts_with("_assign/");
                let href = if is_page {
                    format!("/pupil/open/{}/{}", url_seg(&pack.id), url_path(&a.path))
                } else {
                    format!("/packs/{}/{}", url_seg(&pack.id), url_path(&a.path))
                };
                body.push_str(&format!(
                    r#"<li><span aria-hidden="true">{mark}</span> <a href="{}">{}</a> <small>({state})</small>"#,
                    esc(&href),
                    esc(&a.title)
                ));
                if is_page && a.available_offline && !has("completed", &pack.id, &a.path) {
                    body.push_str(&format!(
                        r#" <form class="inline" method="post" action="/pupil/done/{}/{}">{}<button class="secondary">{}</button></form>"#,
                        url_seg(&pack.id),
                        esc(&url_path(&a.path)),
                        csrf.field(),
                        lang.t("J'ai fini", "I'm done")
                    ));
                }
                body.push_str("</li>");
            }
            body.push_str("</ul>");
        }
        body.push_str("</div>");
    }
    if body.is_empty() {
        body.push_str(&format!(
            "<p>{}</p>",
            lang.t(
                "Tu n'as encore rien ouvert. Choisis un contenu sur l'accueil.",
                "Nothing opened yet. Pick something on the home page."
            )
        ));
    }
    body.push_str(&format!(r#"<p><a href="/">{}</a></p>"#, lang.t("← Accueil", "← Home")));
    let mut page = Page::new(lang, lang.t("Ma progression", "My progress"), body);
    page.user = Some(name);
    page.set_cookies.extend(csrf.cookie());
    page.into_response()
}
