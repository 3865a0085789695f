//! The pupils' side: the catalog page, sign-in without e-mail (class, then name, then an
//! optional code), sign-out, and the progress page.

use std::collections::BTreeMap;

use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use cookie::SameSite;
use serde::Deserialize;

use maud::html;

use super::html::{Lang, Page, not_found, url_path, url_seg};
use super::passwords::{self, Client};
pub use super::progress::{Done, outline, valid_pack_path};
use super::store::Who;
use super::web::{
    Csrf, Post, PupilId, SESSION_COOKIE, SESSION_SECS, Shared, closed_page, cookie, internal, local_path, random_token,
    set_cookie,
};

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

#[derive(Deserialize)]
pub struct CatalogQuery {
    #[serde(default)]
    q: String,
}

/// `GET /`: the packs by subject and level, with a search by title.
pub async fn catalog(
    State(app): State<Shared>,
    headers: HeaderMap,
    lang: Lang,
    Query(query): Query<CatalogQuery>,
) -> Response {
    let who = app.who(&headers);
    if !matches!(who, Some(Who::Teacher(_))) && !app.is_open() {
        return closed_page(&app, lang);
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
    let pupil = matches!(who, Some(Who::Pupil(_)));
    // A pupil sees each course's progress as on their progress page (same rule).
    let (events, submissions) = match who {
        Some(Who::Pupil(id)) => {
            let store = app.store();
            (store.events(id).unwrap_or_default(), store.submissions(Some(id)).unwrap_or_default())
        }
        _ => (Vec::new(), Vec::new()),
    };
    let done = Done { events: &events, submissions: &submissions };
    let search_label = lang.t("Chercher un titre", "Search a title");
    let body = html! {
        // A refused preau.toml is for the teacher (and whoever sets the box up), not pupils.
        @if let (Some(n), false) = (&app.ctx.config_problem, pupil) {
            (super::html::config_notice(n, lang))
        }
        @if !app.ctx.school.is_empty() {
            p { (app.ctx.school) }
        }
        @match who {
            Some(Who::Pupil(_)) => p { a.button href="/pupil/" { (lang.t("Ma progression", "My progress")) } },
            Some(Who::Teacher(_)) => p { a.button href="/teacher/" { (lang.t("Tableau de bord", "Dashboard")) } },
            None => p {
                a.button href="/login" { (lang.t("Je suis élève : entrer", "I am a pupil: sign in")) }
                " "
                a.button.secondary href="/teacher/login" { (lang.t("Espace enseignant", "Teachers")) }
            },
        }
        form method="get" action="/" role="search" aria-label=(search_label) {
            label { (search_label) " " input type="search" name="q" value=(q) maxlength="100"; }
            " "
            button { (lang.t("Chercher", "Search")) }
        }
        @if by_subject.is_empty() {
            p { (lang.t("Aucun contenu trouvé.", "No content found.")) }
        }
        @if let Some(Who::Pupil(id)) = who {
            (super::todo::todo_section(&app, lang, id, &done))
        }
        @for (subject, levels) in &by_subject {
            h2 { (subject) }
            @for (level, packs) in levels {
                @if !level.is_empty() {
                    h3 { (level) }
                }
                ul.grid {
                    @for p in packs {
                        li {
                            // Signed-in pupils go through /pupil/open so the opening counts as progress.
                            @let href = if pupil {
                                format!("/pupil/open/{}/{}", url_seg(&p.id), url_path(&p.entry))
                            } else {
                                format!("/packs/{}/{}", url_seg(&p.id), url_path(&p.entry))
                            };
                            a href=(href) { (p.title) }
                            @if let (true, Some(o)) = (pupil, outline(&app, &p.id)) {
                                @let (d, t) = done.course(&p.id, &o);
                                small.course-progress { (d) " / " (t) " " (lang.t("terminées", "done")) }
                            }
                        }
                    }
                }
            }
        }
    };
    let mut page = Page::new(lang, lang.t("Bienvenue", "Welcome"), body);
    page.user = user_label(&app, who);
    page.into_response()
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// `&next=…` (or `?next=…`) carrying the page that asked for sign-in through the steps.
fn next_param(next: Option<&str>, sep: char) -> String {
    match next.and_then(local_path) {
        Some(n) => format!("{sep}next={}", form_urlencoded::byte_serialize(n.as_bytes()).collect::<String>()),
        None => String::new(),
    }
}

/// `GET /login`: choose your class.
pub async fn login_classes(State(app): State<Shared>, lang: Lang, Query(q): Query<NextQuery>) -> Response {
    if !app.is_open() {
        return closed_page(&app, lang);
    }
    let classes = match app.store().classes() {
        Ok(c) => c,
        Err(e) => return internal(lang, e),
    };
    let next = next_param(q.next.as_deref(), '?');
    let body = html! {
        p {
            @if classes.is_empty() {
                (lang.t(
                    "Aucune classe pour l'instant : ton enseignant doit d'abord la créer.",
                    "No class yet: your teacher must create it first."
                ))
            } @else {
                (lang.t("Choisis ta classe :", "Choose your class:"))
            }
        }
        ul.grid {
            @for c in &classes {
                li { a href={ "/login/class/" (c.id) (next) } { (c.name) } }
            }
        }
    };
    Page::new(lang, lang.t("Entrer", "Sign in"), body).into_response()
}

#[derive(Deserialize)]
pub struct NamesQuery {
    pupil: Option<i64>,
    error: Option<String>,
    next: Option<String>,
}

/// `GET /login/class/{id}`: choose your name; then, if the teacher set one, your code.
pub async fn login_names(
    State(app): State<Shared>,
    lang: Lang,
    csrf: Csrf,
    Path(class_id): Path<i64>,
    Query(query): Query<NamesQuery>,
) -> Response {
    if !app.is_open() {
        return closed_page(&app, lang);
    }
    let (class, pupils) = {
        let store = app.store();
        match (store.class(class_id), store.pupils(class_id)) {
            (Ok(Some(c)), Ok(p)) => (c, p),
            (Ok(None), _) => {
                return not_found(lang, "Cette classe", "This class");
            }
            (Err(e), _) | (_, Err(e)) => return internal(lang, e),
        }
    };
    let chosen = query.pupil.and_then(|id| pupils.iter().find(|p| p.id == id));
    let next = next_param(query.next.as_deref(), '&');
    let next_q = next_param(query.next.as_deref(), '?');
    let body = match chosen {
        None => html! {
            p { (lang.t("Choisis ton prénom :", "Choose your name:")) }
            ul.grid {
                @for p in &pupils {
                    li { a href={ "/login/class/" (class.id) "?pupil=" (p.id) (next) } { (p.name) } }
                }
            }
            p { a href={ "/login" (next_q) } { (lang.t("← Autre classe", "← Another class")) } }
        },
        Some(p) => {
            let error = query.error.as_deref().map(|err| match err {
                "locked" => lang.t(
                    "Trop d'essais : attends quelques minutes ou demande à ton enseignant.",
                    "Too many tries: wait a few minutes or ask your teacher.",
                ),
                _ => lang.t("Ce n'est pas le bon code. Réessaie.", "That is not the right code. Try again."),
            });
            let names = if lang == Lang::Fr { PICTURE_NAMES_FR } else { PICTURE_NAMES_EN };
            html! {
                @if let Some(text) = error {
                    p.error role="alert" { (text) }
                }
                form method="post" action="/login" {
                    (csrf.input())
                    input type="hidden" name="pupil" value=(p.id);
                    input type="hidden" name="next" value=(query.next.as_deref().and_then(local_path).unwrap_or(""));
                    p { (lang.t("Tu es", "Are you")) " " strong { (p.name) } " ?" }
                    @match p.code_kind.as_str() {
                        "digits" => label {
                            (lang.t("Ton code à 4 chiffres :", "Your 4-digit code:")) " "
                            input name="code" inputmode="numeric" pattern="[0-9]{4}" maxlength="4" autocomplete="off" required autofocus;
                        },
                        "pictures" => fieldset.pics {
                            legend { (lang.t("Ton code en images :", "Your picture code:")) }
                            @for i in 1..=4 {
                                label {
                                    (lang.t("Image", "Picture")) " " (i) " "
                                    select name={ "pic" (i) } required {
                                        option value="" {}
                                        @for (d, (pic, name)) in PICTURES.iter().zip(names).enumerate() {
                                            option value=(d + 1) { (pic) " " (name) }
                                        }
                                    }
                                }
                            }
                        },
                        _ => {}
                    }
                    button { (lang.t("Entrer", "Enter")) }
                }
                p { a href={ "/login/class/" (class.id) (next_q) } { (lang.t("← Ce n'est pas moi", "← That's not me")) } }
            }
        }
    };
    Page::new(lang, class.name.clone(), body).into_response()
}

/// `POST /login`: a pupil signs in.
pub async fn login(
    State(app): State<Shared>,
    headers: HeaderMap,
    lang: Lang,
    client: Client,
    Post { form, .. }: Post,
) -> Response {
    if !app.is_open() {
        return closed_page(&app, lang);
    }
    let Some(pupil_id) = form.get("pupil").and_then(|v| v.parse::<i64>().ok()) else {
        return not_found(lang, "Cet élève", "This pupil");
    };
    let pupil = match app.store().pupil(pupil_id) {
        Ok(Some(p)) => p,
        Ok(None) => return not_found(lang, "Cet élève", "This pupil"),
        Err(e) => return internal(lang, e),
    };
    let next = form.get("next").and_then(local_path).map(str::to_string);
    let back = |err: &str| {
        Redirect::to(&format!(
            "/login/class/{}?pupil={}&error={err}{}",
            pupil.class_id,
            pupil.id,
            next_param(next.as_deref(), '&')
        ))
        .into_response()
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
    start_session(&app, lang, Who::Pupil(pupil.id), &headers, next.as_deref().unwrap_or("/"))
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
        Who::Pupil(_) => SameSite::Lax,
        Who::Teacher(_) => SameSite::Strict,
    };
    let mut resp = Redirect::to(to).into_response();
    if let Ok(v) = set_cookie(SESSION_COOKIE, &token, SESSION_SECS, same_site).parse() {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// `GET /logout`: a button (signing out changes state, so it is a form).
pub async fn logout_page(lang: Lang, csrf: Csrf) -> Response {
    let body = html! {
        form method="post" action="/logout" { (csrf.input()) button { (lang.t("Se déconnecter", "Sign out")) } }
    };
    Page::new(lang, lang.t("Se déconnecter", "Sign out"), body).into_response()
}

pub async fn logout(State(app): State<Shared>, headers: HeaderMap, _: Post) -> Response {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        let _ = app.store().delete_session(token);
    }
    let mut resp = Redirect::to("/").into_response();
    if let Ok(v) = set_cookie(SESSION_COOKIE, "", 0, SameSite::Lax).parse() {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// `GET /pupil/open/{pack}/{path}`: records that the pupil opened a page, then sends
/// them to it. Links on the box's own pages go through here.
pub async fn open(
    State(app): State<Shared>,
    lang: Lang,
    Extension(PupilId(pupil)): Extension<PupilId>,
    Path((pack, path)): Path<(String, String)>,
) -> Response {
    if !valid_pack_path(&pack) || !valid_pack_path(&path) || !app.ctx.packs.list().iter().any(|p| p.id == pack) {
        return not_found(lang, "Cette page", "This page");
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
    lang: Lang,
    Path((pack, path)): Path<(String, String)>,
    Post { who: PupilId(pupil), .. }: Post<PupilId>,
) -> Response {
    // Only pages of the pack: invented paths would each store an event and an outbox row.
    if !valid_pack_path(&pack) || !valid_pack_path(&path) || !page_exists(&app, &pack, &path) {
        return not_found(lang, "Cette page", "This page");
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

/// `GET /pupil/`: what the pupil opened and completed, course by course, and quiz scores.
pub async fn progress(
    State(app): State<Shared>,
    lang: Lang,
    csrf: Csrf,
    Extension(PupilId(pupil)): Extension<PupilId>,
) -> Response {
    let (events, name) = {
        let store = app.store();
        match (store.events(pupil), store.pupil(pupil)) {
            (Ok(e), Ok(Some(p))) => (e, p.name),
            (Err(e), _) | (_, Err(e)) => return internal(lang, e),
            (_, Ok(None)) => return internal(lang, "pupil vanished"),
        }
    };
    let submissions = match app.store().submissions(Some(pupil)) {
        Ok(s) => s,
        Err(e) => return internal(lang, e),
    };
    let done = Done { events: &events, submissions: &submissions };
    let has = |verb: &str, pack: &str, path: &str| done.has(verb, pack, path);
    let handed_in = |pack: &str, path: &str| done.handed_in(pack, path);
    // As Éléa shows it: work handed in is "rendu", with its mark once marked; what needs
    // the Moodle server is neither to do nor counted.
    let state = |pack: &str,
                 outline: &preau_pack::course::CourseOutline,
                 a: &preau_pack::course::Activity|
     -> (&'static str, String) {
        if !a.available_offline {
            let text = match lang {
                Lang::Fr => format!("non disponible hors ligne : {}", preau_pack::course::offline_reason_fr(&a.kind)),
                Lang::En => "not available offline: needs the Moodle server".to_string(),
            };
            ("⊘", text)
        } else if let Some(marked) = handed_in(pack, &a.path) {
            let text = match marked {
                Some(m) => format!("{} {}", lang.t("rendu, noté", "handed in, marked"), lang.num(m, 2)),
                None => lang.t("rendu", "handed in").to_string(),
            };
            ("✔", text)
        } else if done.finished(pack, outline, &a.path) {
            ("✔", lang.t("terminé", "done").to_string())
        } else if has("opened", pack, &a.path) {
            ("◐", lang.t("commencé", "started").to_string())
        } else {
            ("○", lang.t("à faire", "to do").to_string())
        }
    };
    let packs = app.ctx.packs.list();
    let cards = html! {
        @for pack in &packs {
            @if let Some(outline) = outline(&app, &pack.id) {
                @let (done_count, total) = done.course(&pack.id, &outline);
                @let online_only = outline.activities().filter(|a| !a.available_offline).count();
                div.card {
                    h2 { (outline.title) }
                    p.course-progress {
                        (lang.t("Activités terminées :", "Activities completed:")) " " (done_count) " / " (total)
                        @if online_only > 0 {
                            " "
                            small { "(" (online_only) " " (lang.t(
                                "activité(s) nécessitant internet, non comptée(s)",
                                "activity(ies) needing the internet, not counted"
                            )) ")" }
                        }
                    }
                    @for section in &outline.sections {
                        @if !section.activities.is_empty() {
                            h3 { (section.title) }
                            ul {
                                @for a in section.activities.iter().filter(|a| valid_pack_path(&a.path)) {
                                    @let (mark, state) = state(&pack.id, &outline, a);
                                    @let is_page = !a.path.starts_with("_quiz/") && !a.path.starts_with("_assign/");
                                    @let href = if is_page {
                                        format!("/pupil/open/{}/{}", url_seg(&pack.id), url_path(&a.path))
                                    } else {
                                        format!("/packs/{}/{}", url_seg(&pack.id), url_path(&a.path))
                                    };
                                    li {
                                        span aria-hidden="true" { (mark) }
                                        " "
                                        a href=(href) { (a.title) }
                                        " "
                                        small { "(" (state) ")" }
                                        @if is_page && a.available_offline && !done.finished(&pack.id, &outline, &a.path) {
                                            " "
                                            form.inline method="post" action={ "/pupil/done/" (url_seg(&pack.id)) "/" (url_path(&a.path)) } {
                                                (csrf.input())
                                                button.secondary { (lang.t("J'ai fini", "I'm done")) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            } @else {
                @let opened = events.iter().filter(|(v, k, _)| v == "opened" && *k == pack.id).count();
                @if opened > 0 {
                    div.card {
                        h2 { (pack.title) }
                        p { (lang.t("Pages ouvertes :", "Pages opened:")) " " (opened) }
                    }
                }
            }
        }
    };
    let body = html! {
        (cards)
        @if cards.0.is_empty() {
            p { (lang.t(
                "Tu n'as encore rien ouvert. Choisis un contenu sur l'accueil.",
                "Nothing opened yet. Pick something on the home page."
            )) }
        }
        p { a href="/" { (lang.t("← Accueil", "← Home")) } }
    };
    let mut page = Page::new(lang, lang.t("Ma progression", "My progress"), body);
    page.user = Some(name);
    page.into_response()
}
