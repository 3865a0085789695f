//! The teachers' side: first-run setup, sign-in, classes and pupils, results, marking and
//! exports. Every route here except `login` and `setup` sits behind `web::teacher_guard`.

use std::collections::HashMap;

use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::accounts;
use super::csv;
use super::html::{Lang, Page, Sticky, date, message, not_found, url_seg};
use super::passwords::{self, Attempts, Client, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
use super::player::{Shown, load_quiz, quiz_grade, render_attempt};
use super::pupil::{PICTURES, start_session};
use super::store::{self, MAX_NAME_CHARS, Store, Who};
use super::web::{Csrf, Form, MultipartPost, Post, Shared, TeacherId, internal, local_path, off_worker};

/// The one-time setup code, created on first call while no teacher exists.
pub fn setup_code(store: &Store) -> store::Result<Option<String>> {
    if store.teacher_count()? > 0 {
        return Ok(None);
    }
    if let Some(code) = store.setting("setup_code")? {
        return Ok(Some(code));
    }
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("the OS random source works");
    let code = format!("{:08}", u64::from_le_bytes(b) % 100_000_000);
    store.set_setting("setup_code", Some(&code))?;
    Ok(Some(code))
}

fn teacher_page(app: &Shared, lang: Lang, teacher: i64, title: &str, body: Markup) -> Page {
    let mut page = Page::new(lang, title, body);
    page.user = app.store().teacher_name(teacher).ok().flatten();
    page
}

fn nav(lang: Lang) -> Markup {
    super::html::teacher_nav(lang)
}

/// `aria-invalid` of a field of a refused form.
fn invalid(sticky: &Sticky, name: &str) -> Option<&'static str> {
    sticky.is_invalid(name).then_some("true")
}

/// `aria-describedby` of a field of a refused form: its error paragraph.
fn described(sticky: &Sticky, name: &str) -> Option<&'static str> {
    sticky.is_invalid(name).then_some("form-error")
}

fn back_to(to: &str) -> Response {
    Redirect::to(to).into_response()
}

fn bad(lang: Lang, text: &str) -> Response {
    message(lang, StatusCode::BAD_REQUEST, lang.t("Saisie refusée", "Input refused"), text)
}

// ---- sign-in and setup ----

#[derive(Deserialize)]
pub struct LoginQuery {
    error: Option<String>,
    /// What was typed, given back after an error (never a password or a code).
    name: Option<String>,
    /// The page that asked for sign-in.
    next: Option<String>,
}

/// Where a refused sign-in or setup form goes back to: the error, the name typed and the
/// page that asked, so that nothing typed but the secrets has to be typed again.
fn form_again(page: &str, error: &str, name: &str, next: Option<&str>) -> Response {
    let enc = |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    let mut to = format!("{page}?");
    if !name.is_empty() {
        to.push_str(&format!("name={}&", enc(&name.chars().take(MAX_NAME_CHARS).collect::<String>())));
    }
    if let Some(n) = next.and_then(local_path) {
        to.push_str(&format!("next={}&", enc(n)));
    }
    back_to(&format!("{to}error={error}"))
}

pub async fn login_page(State(app): State<Shared>, lang: Lang, csrf: Csrf, Query(q): Query<LoginQuery>) -> Response {
    match app.store().teacher_count() {
        Ok(0) => return back_to("/teacher/setup"),
        Ok(_) => {}
        Err(e) => return internal(lang, e),
    }
    let error = match q.error.as_deref() {
        Some("locked") => lang.t(
            "Trop d'essais : attendez quelques minutes avant de réessayer.",
            "Too many attempts: wait a few minutes before trying again.",
        ),
        Some(_) => lang.t("Nom ou mot de passe incorrect.", "Wrong name or password."),
        None => "",
    };
    let name = q.name.as_deref().unwrap_or("");
    // After an error the name is kept and the focus goes to the password.
    let body = html! {
        @if !error.is_empty() { p.error role="alert" { (error) } }
        form method="post" action="/teacher/login" {
            (csrf.input())
            input type="hidden" name="next" value=(q.next.as_deref().and_then(local_path).unwrap_or(""));
            "\n"
            label {
                (lang.t("Nom", "Name")) " "
                input name="name" value=(name) autocomplete="username" required maxlength=(MAX_NAME_CHARS) autofocus[name.is_empty()];
            }
            "\n"
            label {
                (lang.t("Mot de passe", "Password")) " "
                input type="password" name="password" autocomplete="current-password" required maxlength=(MAX_PASSWORD_CHARS) autofocus[!name.is_empty()];
            }
            "\n"
            button { (lang.t("Se connecter", "Sign in")) }
        }
    };
    Page::new(lang, lang.t("Espace enseignant", "Teachers"), body).into_response()
}

pub async fn login(
    State(app): State<Shared>,
    headers: HeaderMap,
    lang: Lang,
    client: Client,
    Post { form, .. }: Post,
) -> Response {
    let name = form.get("name").unwrap_or("").trim().to_string();
    let password = form.get("password").unwrap_or("").to_string();
    let next = form.get("next").and_then(local_path).map(str::to_string);
    let again = |error: &str| form_again("/teacher/login", error, &name, next.as_deref());
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || password.chars().count() > MAX_PASSWORD_CHARS {
        return again("1");
    }
    // Per (name, client) and per client across names: random names from one client are
    // limited too, and guesses from a pupil's laptop do not lock the teacher's computer.
    // The try is reserved before the slow check, so a burst gets at most the free tries.
    let keys = passwords::keys("t", &name.to_lowercase(), client);
    let keys = passwords::borrow(&keys);
    if app.attempts().begin(&keys).is_err() {
        return again("locked");
    }
    let found = match app.store().teacher_by_name(&name) {
        Ok(f) => f,
        Err(e) => {
            app.attempts().release(&keys);
            return internal(lang, e);
        }
    };
    // An unknown name is checked against a dummy hash at the same cost, so neither the
    // answer time nor the memory tells names apart.
    let checked = app.passwords.verify(password, found.as_ref().map(|(_, h)| h.clone())).await;
    app.attempts().settle(&keys, &checked);
    match (found, checked) {
        (Some((id, _)), Ok(true)) => {
            start_session(&app, lang, Who::Teacher(id), &headers, next.as_deref().unwrap_or("/teacher/"))
        }
        (_, Err(busy)) => busy.into_response(),
        _ => again("1"),
    }
}

/// Constant-time comparison of two codes.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `/teacher/setup` is open: `Some(false)` on first run, `Some(true)` for a
/// recovery with an unused `preau.toml` code, `None` when closed.
fn setup_mode(app: &Shared) -> store::Result<Option<bool>> {
    let store = app.store();
    if store.teacher_count()? == 0 {
        return Ok(Some(false));
    }
    Ok(accounts::unused_config_code(&store, app.ctx.setup_code.as_deref()).map(|_| true))
}

pub async fn setup_page(State(app): State<Shared>, lang: Lang, csrf: Csrf, Query(q): Query<LoginQuery>) -> Response {
    let recovery = match setup_mode(&app) {
        Ok(Some(r)) => r,
        Ok(None) => return back_to("/teacher/login"),
        Err(e) => return internal(lang, e),
    };
    let error = match q.error.as_deref() {
        Some("code") => lang.t("Code d'installation incorrect.", "Wrong setup code."),
        Some("locked") => {
            lang.t("Trop d'essais : attendez quelques minutes.", "Too many attempts: wait a few minutes.")
        }
        Some("password") => lang.t(
            "Le mot de passe doit avoir au moins 8 caractères, et les deux saisies être identiques.",
            "The password needs at least 8 characters, and both entries must match.",
        ),
        Some(_) => lang.t("Nom manquant ou trop long.", "Name missing or too long."),
        None => "",
    };
    let intro = if recovery {
        lang.t(
            "Récupération : saisissez le nouveau code écrit dans preau.toml. Si le nom existe déjà, son mot de passe est remplacé ; sinon un compte est créé. Le code ne sert qu'une fois.",
            "Recovery: enter the new code written in preau.toml. If the name exists, its password is replaced; otherwise an account is created. The code works once."
        )
    } else {
        lang.t(
            "Première mise en route : saisissez le code d'installation affiché au démarrage de la boîte (ou écrit dans preau.toml), puis choisissez votre nom et votre mot de passe.",
            "First start: enter the setup code the box printed when it started (or the one in preau.toml), then choose your name and password."
        )
    };
    let body = html! {
        p { (intro) }
        @if !error.is_empty() { p.error role="alert" { (error) } }
        form method="post" action="/teacher/setup" {
            (csrf.input())
            "\n"
            label { (lang.t("Code d'installation", "Setup code")) " " input name="code" inputmode="numeric" autocomplete="off" required maxlength="32"; }
            "\n"
            label {
                (lang.t("Votre nom", "Your name")) " "
                input name="name" value=(q.name.as_deref().unwrap_or("")) autocomplete="username" required maxlength=(MAX_NAME_CHARS);
            }
            "\n"
            label {
                (lang.t("Mot de passe", "Password")) " "
                input type="password" name="password" autocomplete="new-password" required minlength=(MIN_PASSWORD_CHARS) maxlength=(MAX_PASSWORD_CHARS);
            }
            "\n"
            label {
                (lang.t("Mot de passe (encore)", "Password (again)")) " "
                input type="password" name="password2" autocomplete="new-password" required maxlength=(MAX_PASSWORD_CHARS);
            }
            "\n"
            button { (lang.t("Créer mon compte", "Create my account")) }
        }
    };
    Page::new(lang, lang.t("Installation", "Setup"), body).into_response()
}

pub async fn setup(
    State(app): State<Shared>,
    headers: HeaderMap,
    lang: Lang,
    client: Client,
    Post { form, .. }: Post,
) -> Response {
    let recovery = match setup_mode(&app) {
        Ok(Some(r)) => r,
        Ok(None) => return back_to("/teacher/login"),
        Err(e) => return internal(lang, e),
    };
    // First run: the printed code or the config's; recovery: only an unused config code.
    let (expected, from_config) = {
        let store = app.store();
        let printed = if recovery {
            None
        } else {
            match setup_code(&store) {
                Ok(c) => c,
                Err(e) => return internal(lang, e),
            }
        };
        (printed, accounts::unused_config_code(&store, app.ctx.setup_code.as_deref()))
    };
    let code = form.get("code").unwrap_or("").trim();
    let typed = form.get("name").unwrap_or("").trim().to_string();
    let again = |error: &str| form_again("/teacher/setup", error, &typed, None);
    // The code written in preau.toml proves physical access to the card: it always
    // works, even while this client is locked out of guessing the printed code. The
    // printed code's limiter is per client, so nobody can lock the others out.
    let physical = !code.is_empty() && from_config.as_deref().is_some_and(|c| same(c, code));
    if !physical {
        let key = format!("setup|{}", client.0);
        let keys = [(key.as_str(), Attempts::FREE_FAILURES)];
        if app.attempts().begin(&keys).is_err() {
            return again("locked");
        }
        let ok = !code.is_empty() && expected.as_deref().is_some_and(|c| same(c, code));
        app.attempts().end(&keys, ok);
        if !ok {
            return again("code");
        }
    }
    let Some(name) = form.text("name", MAX_NAME_CHARS) else { return again("name") };
    let password = form.get("password").unwrap_or("").to_string();
    let n = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n) || form.get("password2") != Some(password.as_str()) {
        return again("password");
    }
    let hash = match app.passwords.hash(password).await {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => return internal(lang, e),
        Err(busy) => return busy.into_response(),
    };
    let id = {
        let store = app.store();
        // Re-check under the lock: two first-run forms must not both create a teacher,
        // and a recovery code works once.
        let still_open = if recovery {
            accounts::unused_config_code(&store, app.ctx.setup_code.as_deref()).is_some()
        } else {
            store.teacher_count().unwrap_or(1) == 0
        };
        if !still_open {
            return back_to("/teacher/login");
        }
        let existing = if recovery { store.teacher_by_name(&name).ok().flatten() } else { None };
        let id = match existing {
            Some((id, _)) => match store.set_teacher_password(id, &hash, None) {
                Ok(_) => id,
                Err(e) => return internal(lang, e),
            },
            None => match store.create_teacher(&name, &hash) {
                Ok(id) => id,
                Err(e) => return internal(lang, e),
            },
        };
        let _ = store.set_setting("setup_code", None);
        // The config's code has done its job (first run or recovery): a new one is
        // needed for the next recovery.
        if let Some(c) = app.ctx.setup_code.as_deref() {
            accounts::mark_config_code_used(&store, c.trim());
        }
        id
    };
    start_session(&app, lang, Who::Teacher(id), &headers, "/teacher/")
}

// ---- classes and pupils ----

pub async fn dashboard(
    State(app): State<Shared>,
    lang: Lang,
    csrf: Csrf,
    Extension(TeacherId(t)): Extension<TeacherId>,
) -> Response {
    dashboard_view(&app, lang, &csrf.input(), t, &Sticky::default())
}

/// The dashboard, its new-class form filled with `sticky` (a refused form).
fn dashboard_view(app: &Shared, lang: Lang, f: &Markup, t: i64, sticky: &Sticky) -> Response {
    let (classes, pending, subs) = {
        let store = app.store();
        match (store.classes(), store.pending_answers(), store.submissions(None)) {
            (Ok(c), Ok(p), Ok(s)) => (c, p.len(), s.iter().filter(|s| s.mark.is_none()).count()),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return internal(lang, e),
        }
    };
    let body = html! {
        (nav(lang))
        @if pending + subs > 0 {
            p.warn { a href="/teacher/marking" { (pending + subs) " " (lang.t("travaux à corriger", "pieces of work to mark")) } }
        }
        h2 { (lang.t("Classes", "Classes")) }
        @if classes.is_empty() {
            p { (lang.t("Aucune classe : créez-en une.", "No class yet: create one.")) }
        }
        ul {
            @for c in &classes {
                li { a href={ "/teacher/class/" (c.id) } { (c.name) } " (" (c.pupils) " " (lang.t("élèves", "pupils")) ")" }
            }
        }
        form method="post" action="/teacher/classes" {
            // Safe HTML: the CSRF field, made by `html::csrf_input`.
            (f)
            (sticky.error())
            label {
                (lang.t("Nouvelle classe :", "New class:")) " "
                input name="name" required maxlength=(MAX_NAME_CHARS) value=[sticky.get("name")]
                    aria-invalid=[invalid(sticky, "name")] aria-describedby=[described(sticky, "name")];
            }
            button { (lang.t("Créer", "Create")) }
        }
    };
    let mut page = teacher_page(app, lang, t, lang.t("Tableau de bord", "Dashboard"), body);
    if sticky.is_error() {
        page = page.status(StatusCode::BAD_REQUEST);
    }
    page.into_response()
}

/// What a store refusal means to the teacher (a name taken, a bound reached), or the
/// error itself when it is not the teacher's doing.
fn store_refusal(lang: Lang, e: store::Error) -> Result<&'static str, store::Error> {
    let text = e.to_string();
    if text.contains("UNIQUE") {
        Ok(lang.t("Ce nom existe déjà.", "This name already exists."))
    } else if text.contains("too many classes") {
        Ok(lang.t("Trop de classes sur cette boîte.", "Too many classes on this box."))
    } else if text.contains("too many pupils") {
        Ok(lang.t("Trop d'élèves dans cette classe.", "Too many pupils in this class."))
    } else {
        Err(e)
    }
}

fn store_error(lang: Lang, e: store::Error) -> Response {
    match store_refusal(lang, e) {
        Ok(text) => bad(lang, text),
        Err(e) => internal(lang, e),
    }
}

pub async fn create_class(
    State(app): State<Shared>,
    lang: Lang,
    csrf: Csrf,
    Post { who: TeacherId(t), form }: Post<TeacherId>,
) -> Response {
    let refused = |error: &str| dashboard_view(&app, lang, &csrf.input(), t, &Sticky::new(&form, error, "name"));
    let Some(name) = form.text("name", MAX_NAME_CHARS) else {
        return refused(lang.t(
            "Nom de classe manquant ou trop long (60 caractères au plus).",
            "Class name missing or too long (at most 60 characters).",
        ));
    };
    let created = app.store().create_class(&name);
    match created {
        Ok(id) => back_to(&format!("/teacher/class/{id}")),
        Err(e) => match store_refusal(lang, e) {
            Ok(text) => refused(text),
            Err(e) => internal(lang, e),
        },
    }
}

pub async fn class_page(
    State(app): State<Shared>,
    lang: Lang,
    csrf: Csrf,
    Extension(TeacherId(t)): Extension<TeacherId>,
    Path(id): Path<i64>,
) -> Response {
    class_view(&app, lang, &csrf.input(), t, id, "", &Sticky::default())
}

/// `POST /teacher/class/{id}/work`: work given to the class (`work::create`); a refusal
/// sends the class page back with that form open and as it was filled in.
pub async fn create_work(
    State(app): State<Shared>,
    lang: Lang,
    csrf: Csrf,
    Path(class_id): Path<i64>,
    Post { who: TeacherId(t), form }: Post<TeacherId>,
) -> Response {
    let class = app.store().class(class_id);
    match class {
        Ok(Some(_)) => {}
        Ok(None) => return not_found(lang, "Cette classe", "This class"),
        Err(e) => return internal(lang, e),
    }
    match super::work::create(&app, lang, class_id, &form) {
        Ok(page) => page,
        Err((text, field)) => {
            class_view(&app, lang, &csrf.input(), t, class_id, "work", &Sticky::new(&form, text, field))
        }
    }
}

/// The class page; the form named `which` ("pupils", "import", "work") filled with
/// `sticky`, a refused form, and its error shown.
pub fn class_view(app: &Shared, lang: Lang, f: &Markup, t: i64, id: i64, which: &str, sticky: &Sticky) -> Response {
    let fresh = Sticky::default();
    let form = |name: &str| if name == which { sticky } else { &fresh };
    let (class, pupils) = {
        let store = app.store();
        match (store.class(id), store.pupils(id)) {
            (Ok(Some(c)), Ok(p)) => (c, p),
            (Ok(None), _) => {
                return not_found(lang, "Cette classe", "This class");
            }
            (Err(e), _) | (_, Err(e)) => return internal(lang, e),
        }
    };
    let (add, import) = (form("pupils"), form("import"));
    let body = html! {
        (nav(lang))
        p { a href={ "/teacher/results?class=" (id) } { (lang.t("Résultats de cette classe", "Results of this class")) } }
        h2 { (lang.t("Élèves", "Pupils")) }
        div.table-wrap {
            table {
                tr {
                    th { (lang.t("Nom", "Name")) } th { (lang.t("Code", "Code")) }
                    th { (lang.t("Renommer", "Rename")) } th { (lang.t("Retirer", "Remove")) }
                }
                @for p in &pupils {
                    @let code: String = match (p.code_kind.as_str(), &p.code) {
                        ("pictures", Some(c)) => c
                            .chars()
                            .filter_map(|d| d.to_digit(10))
                            .filter_map(|d| PICTURES.get((d as usize).checked_sub(1)?))
                            .copied()
                            .collect(),
                        (_, Some(c)) => c.clone(),
                        _ => "—".to_string(),
                    };
                    tr {
                        td { (p.name) }
                        td {
                            (code) "\n"
                            form method="post" action={ "/teacher/pupil/" (p.id) "/code" } {
                                // Safe HTML: the CSRF field, made by `html::csrf_input`.
                                (f)
                                select name="kind" aria-label=(lang.t("Type de code", "Code type")) {
                                    option value="none" { (lang.t("sans code", "no code")) }
                                    option value="digits" { (lang.t("4 chiffres", "4 digits")) }
                                    option value="pictures" { (lang.t("4 images", "4 pictures")) }
                                }
                                " "
                                input name="code" size="4" maxlength="4" inputmode="numeric" placeholder=(lang.t("auto", "auto"))
                                    aria-label=(lang.t("Code (vide : tiré au hasard)", "Code (empty: random)"));
                                " "
                                button.secondary { (lang.t("Définir", "Set")) }
                            }
                        }
                        "\n"
                        td {
                            form method="post" action={ "/teacher/pupil/" (p.id) "/rename" } {
                                (f)
                                input name="name" value=(p.name) required maxlength=(MAX_NAME_CHARS) aria-label=(lang.t("Nouveau nom", "New name"));
                                " "
                                button.secondary { "OK" }
                            }
                        }
                        "\n"
                        td {
                            a href={ "/teacher/pupil/" (p.id) "/export" } { (lang.t("Exporter ses données", "Export their data")) }
                            "\n"
                            form method="post" action={ "/teacher/pupil/" (p.id) "/delete" } {
                                (f)
                                label { input type="checkbox" name="confirm" value="yes" required; " " (lang.t("sûr ?", "sure?")) }
                                button.danger { (lang.t("Supprimer (avec tout son travail)", "Delete (with all their work)")) }
                            }
                        }
                    }
                }
            }
        }
        form method="post" action={ "/teacher/class/" (id) "/pupils" } {
            (f)
            (add.error())
            label {
                (lang.t("Ajouter un élève :", "Add a pupil:")) " "
                input name="name" required maxlength=(MAX_NAME_CHARS) value=[add.get("name")]
                    aria-invalid=[invalid(add, "name")] aria-describedby=[described(add, "name")];
            }
            button { (lang.t("Ajouter", "Add")) }
        }
        h2 { (lang.t("Importer une liste (CSV)", "Import a list (CSV)")) }
        p { (lang.t(
            "Un nom par ligne, ou un export ONDE/Pronote avec les colonnes Nom et Prénom : la boîte ne garde que le prénom et l'initiale du nom.",
            "One name per line, or an ONDE/Pronote export with Nom and Prénom columns: the box keeps only the first name and the last name's initial."
        )) }
        form method="post" enctype="multipart/form-data" action={ "/teacher/class/" (id) "/import" } {
            (f)
            (import.error())
            label { (lang.t("Fichier :", "File:")) " " input type="file" name="file" accept=".csv,.txt,text/csv,text/plain"; }
            label {
                (lang.t("ou collez la liste :", "or paste the list:")) " "
                textarea name="text" aria-invalid=[invalid(import, "text")] aria-describedby=[described(import, "text")] {
                    (import.get("text").unwrap_or(""))
                }
            }
            button { (lang.t("Importer", "Import")) }
        }
        (super::work::class_section(app, lang, f, id, &pupils, form("work")))
        h2 { (lang.t("La classe", "The class")) }
        form method="post" action={ "/teacher/class/" (id) "/rename" } {
            (f)
            input name="name" value=(class.name) required maxlength=(MAX_NAME_CHARS) aria-label=(lang.t("Nom de la classe", "Class name"));
            " "
            button.secondary { (lang.t("Renommer", "Rename")) }
        }
        "\n"
        form method="post" action={ "/teacher/class/" (id) "/delete" } {
            (f)
            label {
                input type="checkbox" name="confirm" value="yes" required;
                " " (lang.t("Je supprime la classe, ses élèves et tout leur travail", "I delete the class, its pupils and all their work"))
            }
            button.danger { (lang.t("Supprimer la classe", "Delete the class")) }
        }
    };
    let mut page = teacher_page(app, lang, t, &class.name, body);
    if sticky.is_error() {
        page = page.status(StatusCode::BAD_REQUEST);
    }
    page.into_response()
}

pub async fn rename_class(
    State(app): State<Shared>,
    lang: Lang,
    Path(id): Path<i64>,
    Post { form, .. }: Post<TeacherId>,
) -> Response {
    let Some(name) = form.text("name", MAX_NAME_CHARS) else {
        return bad(lang, lang.t("Nom manquant ou trop long.", "Name missing or too long."));
    };
    match app.store().rename_class(id, &name) {
        Ok(_) => back_to(&format!("/teacher/class/{id}")),
        Err(e) => store_error(lang, e),
    }
}

fn confirmed(form: &Form) -> bool {
    form.get("confirm") == Some("yes")
}

pub async fn delete_class(
    State(app): State<Shared>,
    lang: Lang,
    Path(id): Path<i64>,
    Post { form, .. }: Post<TeacherId>,
) -> Response {
    if !confirmed(&form) {
        return bad(lang, lang.t("Cochez la case pour confirmer.", "Tick the box to confirm."));
    }
    match app.store().delete_class(id) {
        Ok(_) => back_to("/teacher/"),
        Err(e) => internal(lang, e),
    }
}

pub async fn add_pupil(
    State(app): State<Shared>,
    lang: Lang,
    csrf: Csrf,
    Path(id): Path<i64>,
    Post { who: TeacherId(t), form }: Post<TeacherId>,
) -> Response {
    let Some(name) = form.text("name", MAX_NAME_CHARS) else {
        let error = lang.t(
            "Nom manquant ou trop long (60 caractères au plus).",
            "Name missing or too long (at most 60 characters).",
        );
        return class_view(&app, lang, &csrf.input(), t, id, "pupils", &Sticky::new(&form, error, "name"));
    };
    let created = app.store().create_pupil(id, &name);
    match created {
        Ok(_) => back_to(&format!("/teacher/class/{id}")),
        Err(e) => match store_refusal(lang, e) {
            Ok(text) => class_view(&app, lang, &csrf.input(), t, id, "pupils", &Sticky::new(&form, text, "name")),
            Err(e) => internal(lang, e),
        },
    }
}

/// `POST /teacher/class/{id}/import` (multipart: `csrf` first, then `file` or `text`).
pub async fn import_csv(
    State(app): State<Shared>,
    lang: Lang,
    csrf: Csrf,
    Path(id): Path<i64>,
    post: MultipartPost<TeacherId>,
) -> Response {
    let t = post.who.0;
    let mut multipart = match post.fields().await {
        Ok(m) => m,
        Err(refused) => return refused,
    };
    let (mut text, mut pasted) = (String::new(), String::new());
    let mut fields = 0;
    while let Ok(Some(field)) = multipart.next_field().await {
        fields += 1;
        if fields > 5 {
            break;
        }
        let name = field.name().map(str::to_string);
        if let Some("file" | "text") = name.as_deref() {
            let bytes = field.bytes().await.unwrap_or_default();
            // School software often exports Windows-1252: keep what decodes.
            let t = String::from_utf8(bytes.to_vec())
                .unwrap_or_else(|e| e.into_bytes().iter().map(|&b| b as char).collect());
            if name.as_deref() == Some("text") {
                pasted = t.clone();
            }
            if !t.trim().is_empty() {
                text = t;
            }
        }
    }
    let names = match csv::parse_class_list(&text) {
        Ok(n) => n,
        Err(e) => {
            // The class page again, with the list pasted still in its box.
            let error = format!("{} {}", lang.t("Liste illisible :", "Unreadable list:"), super::html::half(lang, &e));
            let sticky = Sticky::new(&Form(vec![("text".into(), pasted)]), error, "text");
            let f = csrf.input();
            return off_worker(move || class_view(&app, lang, &f, t, id, "import", &sticky)).await;
        }
    };
    off_worker(move || add_pupils(&app, lang, id, &names)).await
}

/// Adds the pupils of an imported list that the class does not have yet.
fn add_pupils(app: &Shared, lang: Lang, id: i64, names: &[String]) -> Response {
    let store = app.store();
    if store.class(id).ok().flatten().is_none() {
        return not_found(lang, "Cette classe", "This class");
    }
    let existing: Vec<String> = store.pupils(id).unwrap_or_default().into_iter().map(|p| p.name).collect();
    let mut added = 0;
    for name in names.iter().filter(|n| !existing.contains(n)) {
        match store.create_pupil(id, name) {
            Ok(_) => added += 1,
            Err(e) => {
                drop(store);
                return store_error(lang, e);
            }
        }
    }
    drop(store);
    tracing::info!(class = id, added, "class list imported");
    back_to(&format!("/teacher/class/{id}"))
}

fn pupil_class(app: &Shared, id: i64) -> Option<i64> {
    app.store().pupil(id).ok().flatten().map(|p| p.class_id)
}

pub async fn rename_pupil(
    State(app): State<Shared>,
    lang: Lang,
    Path(id): Path<i64>,
    Post { form, .. }: Post<TeacherId>,
) -> Response {
    let Some(name) = form.text("name", MAX_NAME_CHARS) else {
        return bad(lang, lang.t("Nom manquant ou trop long.", "Name missing or too long."));
    };
    let Some(class) = pupil_class(&app, id) else {
        return not_found(lang, "Cet élève", "This pupil");
    };
    match app.store().rename_pupil(id, &name) {
        Ok(_) => back_to(&format!("/teacher/class/{class}")),
        Err(e) => store_error(lang, e),
    }
}

pub async fn delete_pupil(
    State(app): State<Shared>,
    lang: Lang,
    Path(id): Path<i64>,
    Post { form, .. }: Post<TeacherId>,
) -> Response {
    if !confirmed(&form) {
        return bad(lang, lang.t("Cochez la case pour confirmer.", "Tick the box to confirm."));
    }
    let Some(class) = pupil_class(&app, id) else {
        return not_found(lang, "Cet élève", "This pupil");
    };
    match app.store().delete_pupil(id) {
        Ok(_) => back_to(&format!("/teacher/class/{class}")),
        Err(e) => internal(lang, e),
    }
}

/// Sets a pupil's code: `kind` none, digits (0-9) or pictures (digits 1-9, one per
/// picture). An empty code draws one at random.
pub async fn set_code(
    State(app): State<Shared>,
    lang: Lang,
    Path(id): Path<i64>,
    Post { form, .. }: Post<TeacherId>,
) -> Response {
    let kind = form.get("kind").unwrap_or("none");
    let lowest = match kind {
        "none" => 0,
        "digits" => b'0',
        "pictures" => b'1',
        _ => return bad(lang, "unknown code type"),
    };
    let given = form.get("code").unwrap_or("").trim();
    let code = if kind == "none" {
        None
    } else if given.is_empty() {
        let mut b = [0u8; 4];
        getrandom::fill(&mut b).expect("the OS random source works");
        let span = b'9' - lowest + 1;
        Some(b.iter().map(|x| (lowest + x % span) as char).collect::<String>())
    } else if given.len() == 4 && given.bytes().all(|b| (lowest..=b'9').contains(&b)) {
        Some(given.to_string())
    } else {
        return bad(
            lang,
            lang.t(
                "Le code a 4 chiffres (de 1 à 9 pour un code en images).",
                "The code has 4 digits (1 to 9 for a picture code).",
            ),
        );
    };
    let Some(class) = pupil_class(&app, id) else {
        return not_found(lang, "Cet élève", "This pupil");
    };
    match app.store().set_pupil_code(id, code.as_deref(), kind) {
        Ok(_) => back_to(&format!("/teacher/class/{class}")),
        Err(e) => internal(lang, e),
    }
}

/// `GET /teacher/pupil/{id}/export`: everything the box holds about one pupil (RGPD).
pub async fn export_pupil(State(app): State<Shared>, lang: Lang, Path(id): Path<i64>) -> Response {
    let data = match app.store().export_pupil(id) {
        Ok(Some(d)) => d,
        Ok(None) => return not_found(lang, "Cet élève", "This pupil"),
        Err(e) => return internal(lang, e),
    };
    let body = serde_json::to_string_pretty(&data).unwrap_or_default();
    download(body.into_bytes(), "application/json", &format!("eleve-{id}.json"))
}

/// A file to download, never shown inline (a submitted file could be HTML).
fn download(bytes: Vec<u8>, content_type: &str, file_name: &str) -> Response {
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    if let Ok(v) = HeaderValue::from_str(&super::html::attachment(file_name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox"));
    resp
}

// ---- results ----

#[derive(Deserialize)]
pub struct ClassFilter {
    class: Option<i64>,
}

pub async fn results(
    State(app): State<Shared>,
    lang: Lang,
    csrf: Csrf,
    Extension(TeacherId(t)): Extension<TeacherId>,
    Query(filter): Query<ClassFilter>,
) -> Response {
    let tz = app.tz_minutes();
    let outlines: Vec<(String, preau_pack::course::CourseOutline)> = app
        .ctx
        .packs
        .list()
        .into_iter()
        .filter_map(|p| super::pupil::outline(&app, &p.id).map(|o| (p.id, o)))
        .collect();
    let (rows, stats, classes, progress) = {
        let store = app.store();
        let progress = progress_counts(&store, &outlines, filter.class);
        match (store.results(filter.class), store.question_stats(filter.class), store.classes()) {
            (Ok(r), Ok(s), Ok(c)) => (r, s, c, progress),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return internal(lang, e),
        }
    };
    let csv_link = match filter.class {
        Some(c) => format!("/teacher/results.csv?class={c}"),
        None => "/teacher/results.csv".into(),
    };
    let answers_link = csv_link.replace("/results.csv", "/answers.csv");
    let titles = Titles::new(&app, lang);
    let grades = quiz_grades(&app, &rows);
    // Handed-in assignments and their marks.
    let subs = app.store().submission_rows(filter.class).unwrap_or_default();
    let body = html! {
        (nav(lang))
        form method="get" action="/teacher/results" {
            label {
                (lang.t("Classe :", "Class:")) " "
                select name="class" {
                    option value="" { (lang.t("toutes", "all")) }
                    @for c in &classes {
                        option value=(c.id) selected[filter.class == Some(c.id)] { (c.name) }
                    }
                }
            }
            " "
            button.secondary { (lang.t("Afficher", "Show")) }
        }
        p {
            a.button href=(csv_link) { (lang.t("Exporter en CSV", "Export as CSV")) }
            " "
            a.button.secondary href=(answers_link) { (lang.t("Réponses par question (CSV)", "Answers per question (CSV)")) }
        }
        h2 { (lang.t("Progression", "Progress")) }
        div.table-wrap {
            table {
                tr {
                    th { (lang.t("Élève", "Pupil")) }
                    th { (lang.t("Pages ouvertes", "Pages opened")) }
                    th { (lang.t("Activités terminées", "Activities completed")) }
                }
                @for (name, opened, completed) in &progress {
                    tr { td { (name) } td { (opened) } td { (completed) } }
                }
            }
        }
        h2 { (lang.t("Quiz, par élève", "Quizzes, per pupil")) }
        div.table-wrap {
            table #results {
                tr {
                    th { (lang.t("Élève", "Pupil")) } th { (lang.t("Contenu", "Content")) } th { (lang.t("Quiz", "Quiz")) }
                    th { (lang.t("Score", "Score")) } th { (lang.t("Date", "Date")) } th { (lang.t("Note du quiz", "Quiz grade")) }
                }
                @for r in &rows {
                    tr {
                        td { (r.pupil) }
                        td { (titles.pack(&r.pack)) }
                        td { (titles.activity(&r.pack, "quiz", &r.quiz)) }
                        td {
                            a href={ "/teacher/attempt/" (r.attempt_id) } { (lang.num(r.score, 2)) " / " (lang.num(r.max, 2)) }
                            @if r.pending { (lang.t(" (à corriger)", " (to mark)")) }
                        }
                        td { (lang.date(r.at, tz)) }
                        td.grade {
                            @if let Some(g) = grades.get(&(r.pupil_id, r.pack.clone(), r.quiz.clone())) { (lang.num(*g, 2)) }
                        }
                    }
                }
            }
        }
        h2 { (lang.t("Quiz, par question", "Quizzes, per question")) }
        div.table-wrap {
            table {
                tr {
                    th { (lang.t("Quiz", "Quiz")) } th { (lang.t("Question", "Question")) } th { (lang.t("Réponses", "Answers")) }
                    th { (lang.t("Justes", "Right")) } th { (lang.t("Réussite moyenne", "Mean success")) }
                }
                @for s in &stats {
                    tr {
                        td { (titles.pack(&s.pack)) " / " (titles.activity(&s.pack, "quiz", &s.quiz)) }
                        td { (question_label(&app, &s.pack, &s.quiz, &s.question)) }
                        td { (s.answers) }
                        td { (s.right) }
                        td { (lang.num(s.mean * 100.0, 0)) "\u{a0}%" }
                    }
                }
            }
        }
        h2 { (lang.t("Devoirs rendus", "Handed-in assignments")) }
        div.table-wrap {
            table #assignments {
                tr {
                    th { (lang.t("Élève", "Pupil")) } th { (lang.t("Contenu", "Content")) } th { (lang.t("Devoir", "Assignment")) }
                    th { (lang.t("Date", "Date")) } th { (lang.t("Note", "Mark")) }
                }
                @for r in &subs {
                    tr {
                        td { (r.pupil) }
                        td { (titles.pack(&r.pack)) }
                        td { (titles.activity(&r.pack, "assign", &r.assign)) }
                        td { (lang.date(r.at, tz)) }
                        td {
                            @match r.mark {
                                Some(m) => (lang.num(m, 2)),
                                None => (lang.t("à corriger", "to mark")),
                            }
                        }
                    }
                }
            }
        }
        (quiz_settings_forms(&app, lang, &rows, &csrf))
    };
    let page = teacher_page(&app, lang, t, lang.t("Résultats", "Results"), body);
    page.into_response()
}

/// Per quiz with attempts: release the right answers, change the attempt limit (issue 14).
/// Kept in the box's SQLite, never in the signed pack.
fn quiz_settings_forms(app: &Shared, lang: Lang, rows: &[store::ResultRow], csrf: &Csrf) -> Markup {
    let mut quizzes: Vec<(&str, &str)> = rows.iter().map(|r| (r.pack.as_str(), r.quiz.as_str())).collect();
    quizzes.sort_unstable();
    quizzes.dedup();
    if quizzes.is_empty() {
        return html! {};
    }
    let titles = Titles::new(app, lang);
    html! {
        h2 { (lang.t("Réglages des quiz", "Quiz settings")) }
        @for (pack, quiz) in quizzes {
            @let s = app.store().quiz_settings(pack, quiz).unwrap_or_default();
            @let default = match load_quiz(app, pack, quiz).and_then(|q| q.attempts_allowed) {
                Some(n) => format!("{} {n}", lang.t("vide = celle du contenu :", "empty = the content's:")),
                None => lang.t("vide = celle du contenu : illimité", "empty = the content's: unlimited").to_string(),
            };
            form.card method="post" action={ "/teacher/quiz/" (url_seg(pack)) "/" (url_seg(quiz)) "/settings" } {
                (csrf.input())
                p { strong { (titles.pack(pack)) " / " (titles.activity(pack, "quiz", quiz)) } }
                label {
                    input type="checkbox" name="release" value="1" checked[s.release_answers];
                    " " (lang.t("Montrer les bonnes réponses aux élèves", "Show right answers to pupils"))
                }
                label {
                    (lang.t("Nombre d'essais :", "Attempts allowed:")) " "
                    input name="attempts" inputmode="numeric" size="4" value=(s.attempts_allowed.map(|n| n.to_string()).unwrap_or_default());
                    " "
                    small { "(" (default) ", 0 = " (lang.t("illimité", "unlimited")) ")" }
                }
                button { (lang.t("Enregistrer", "Save")) }
            }
        }
    }
}

/// `POST /teacher/quiz/{pack}/{quiz}/settings`: the form of `quiz_settings_forms`.
pub async fn set_quiz_settings(
    State(app): State<Shared>,
    lang: Lang,
    Path((pack, quiz)): Path<(String, String)>,
    Post { form, .. }: Post<TeacherId>,
) -> Response {
    if load_quiz(&app, &pack, &quiz).is_none() {
        return not_found(lang, "Ce quiz", "This quiz");
    }
    let attempts = match form.get("attempts").map(str::trim).unwrap_or("") {
        "" => None,
        n => match n.parse::<u32>() {
            Ok(n) if n <= 1000 => Some(n),
            _ => {
                return bad(
                    lang,
                    lang.t(
                        "Nombre d'essais invalide : un entier de 0 (illimité) à 1000, ou vide.",
                        "Invalid number of attempts: a whole number from 0 (unlimited) to 1000, or empty.",
                    ),
                );
            }
        },
    };
    let s = store::QuizSettings { release_answers: form.get("release") == Some("1"), attempts_allowed: attempts };
    match app.store().set_quiz_settings(&pack, &quiz, &s) {
        Ok(()) => back_to("/teacher/results"),
        Err(e) => internal(lang, e),
    }
}

/// (pupil name, pages opened, activities completed) for each pupil; completed by the
/// pupils' own rule (`pupil::Done`) over the courses' offline activities, plus pages
/// marked done outside a course.
fn progress_counts(
    store: &Store,
    outlines: &[(String, preau_pack::course::CourseOutline)],
    class: Option<i64>,
) -> Vec<(String, usize, usize)> {
    let classes = store.classes().unwrap_or_default();
    let mut out = Vec::new();
    for c in classes.iter().filter(|c| class.is_none_or(|id| id == c.id)) {
        for p in store.pupils(c.id).unwrap_or_default() {
            let events = store.events(p.id).unwrap_or_default();
            let submissions = store.submissions(Some(p.id)).unwrap_or_default();
            let done = super::pupil::Done { events: &events, submissions: &submissions };
            let opened = events.iter().filter(|(v, _, _)| v == "opened").count();
            let in_course: usize = outlines.iter().map(|(id, o)| done.course(id, o).0).sum();
            let elsewhere =
                events.iter().filter(|(v, k, _)| v == "completed" && !outlines.iter().any(|(id, _)| id == k)).count();
            let completed = in_course + elsewhere;
            out.push((format!("{} ({})", p.name, c.name), opened, completed));
        }
    }
    out
}

/// The titles teachers read instead of internal ids: a pack's title, and a quiz's or
/// an assignment's title from the course outline (or the quiz itself). Looked up once
/// per pack for a page.
/// Each pupil's grade per quiz, by the quiz's grading method, keyed by (pupil, pack, quiz).
/// `rows` are in attempt order within a pupil and quiz (as `Store::results` gives them).
fn quiz_grades(app: &Shared, rows: &[store::ResultRow]) -> HashMap<(i64, String, String), f64> {
    let mut attempts: HashMap<(i64, String, String), Vec<(f64, f64)>> = HashMap::new();
    for r in rows {
        attempts.entry((r.pupil_id, r.pack.clone(), r.quiz.clone())).or_default().push((r.score, r.max));
    }
    let mut quizzes: HashMap<(String, String), Option<preau_pack::quiz::Quiz>> = HashMap::new();
    attempts
        .into_iter()
        .filter_map(|(k, list)| {
            let quiz = quizzes.entry((k.1.clone(), k.2.clone())).or_insert_with(|| load_quiz(app, &k.1, &k.2));
            // A quiz no longer on the box: the best attempt, on the attempts' own scale.
            let (method, max) = match quiz {
                Some(q) => (q.grade_method, q.max_grade),
                None => (Default::default(), list.last().map(|a| a.1).unwrap_or(0.0)),
            };
            quiz_grade(method, max, &list).map(|g| (k, g))
        })
        .collect()
}

struct Titles<'a> {
    app: &'a Shared,
    packs: std::collections::HashMap<String, String>,
    outlines: std::cell::RefCell<std::collections::HashMap<String, Option<preau_pack::course::CourseOutline>>>,
}

impl<'a> Titles<'a> {
    fn new(app: &'a Shared, lang: Lang) -> Titles<'a> {
        let mut packs: std::collections::HashMap<String, String> =
            app.ctx.packs.list().into_iter().map(|p| (p.id, p.title)).collect();
        // The teacher's own quizzes sit under a pseudo-pack whose id is no title.
        packs.insert(super::player::OWN_PACK.to_string(), lang.t("Quiz de l'enseignant", "Teacher's quizzes").into());
        Titles { app, packs, outlines: Default::default() }
    }

    fn pack(&self, id: &str) -> String {
        self.packs.get(id).cloned().unwrap_or_else(|| id.to_string())
    }

    /// `kind` is `quiz` or `assign`.
    fn activity(&self, pack: &str, kind: &str, id: &str) -> String {
        let path = format!("_{kind}/{id}");
        let mut outlines = self.outlines.borrow_mut();
        let outline = outlines.entry(pack.to_string()).or_insert_with(|| super::pupil::outline(self.app, pack));
        if let Some(a) = outline.as_ref().and_then(|o| o.activities().find(|a| a.path == path).cloned())
            && !a.title.is_empty()
        {
            return a.title;
        }
        if kind == "quiz"
            && let Some(q) = load_quiz(self.app, pack, id)
            && !q.title.is_empty()
        {
            return q.title;
        }
        id.to_string()
    }
}

/// A short label for a question: its name, or the start of its text.
fn question_label(app: &Shared, pack: &str, quiz: &str, qid: &str) -> String {
    let Some(q) = load_quiz(app, pack, quiz) else { return qid.to_string() };
    match q.questions.iter().find(|q| q.id == qid) {
        Some(q) if !q.name.is_empty() => q.name.clone(),
        Some(q) => super::html::strip_tags(&q.text_html).chars().take(80).collect(),
        None => qid.to_string(),
    }
}

/// A CSV export's start: the byte-order mark (spreadsheets then read UTF-8) and the header
/// line, the four columns every export starts with, then `rest`.
fn csv_start(lang: Lang, rest: &[&str]) -> String {
    let mut head: Vec<String> = vec![
        lang.t("classe", "class").into(),
        lang.t("élève", "pupil").into(),
        lang.t("contenu", "content").into(),
        "quiz".into(),
    ];
    head.extend(rest.iter().map(|s| s.to_string()));
    format!("\u{feff}{}", csv::line(&head))
}

pub async fn results_csv(State(app): State<Shared>, lang: Lang, Query(filter): Query<ClassFilter>) -> Response {
    let rows = match app.store().results(filter.class) {
        Ok(r) => r,
        Err(e) => return internal(lang, e),
    };
    let tz = app.tz_minutes();
    let mut out = csv_start(
        lang,
        &["score", "max", lang.t("à corriger", "to mark"), "date", lang.t("note du quiz", "quiz grade")],
    );
    let titles = Titles::new(&app, lang);
    let grades = quiz_grades(&app, &rows);
    for r in rows {
        let grade =
            grades.get(&(r.pupil_id, r.pack.clone(), r.quiz.clone())).map(|g| lang.num(*g, 2)).unwrap_or_default();
        out.push_str(&csv::line(&[
            r.class,
            r.pupil,
            titles.pack(&r.pack),
            titles.activity(&r.pack, "quiz", &r.quiz),
            lang.num(r.score, 2),
            lang.num(r.max, 2),
            if r.pending { "1" } else { "0" }.into(),
            date(r.at, tz),
            grade,
        ]));
    }
    // Assignments: their mark in the score column, no maximum (a teacher's mark).
    for r in app.store().submission_rows(filter.class).unwrap_or_default() {
        out.push_str(&csv::line(&[
            r.class,
            r.pupil,
            titles.pack(&r.pack),
            titles.activity(&r.pack, "assign", &r.assign),
            r.mark.map(|m| lang.num(m, 2)).unwrap_or_default(),
            String::new(),
            if r.mark.is_none() { "1" } else { "0" }.into(),
            date(r.at, tz),
            String::new(),
        ]));
    }
    download(out.into_bytes(), "text/csv; charset=utf-8", "resultats.csv")
}

/// `GET /teacher/answers.csv`: each pupil's answer to each question of each attempt
/// (UTF-8 with BOM, `;`, CRLF, decimal commas in French, as `results.csv`).
pub async fn answers_csv(State(app): State<Shared>, lang: Lang, Query(filter): Query<ClassFilter>) -> Response {
    let rows = match app.store().answer_rows(filter.class) {
        Ok(r) => r,
        Err(e) => return internal(lang, e),
    };
    let tz = app.tz_minutes();
    let mut out =
        csv_start(lang, &[lang.t("essai", "attempt"), "date", "question", lang.t("réponse", "answer"), "score", "max"]);
    let titles = Titles::new(&app, lang);
    let mut labels: HashMap<(String, String, String), String> = HashMap::new();
    for r in rows {
        let label = labels
            .entry((r.pack.clone(), r.quiz.clone(), r.question.clone()))
            .or_insert_with(|| question_label(&app, &r.pack, &r.quiz, &r.question))
            .clone();
        out.push_str(&csv::line(&[
            r.class,
            r.pupil,
            titles.pack(&r.pack),
            titles.activity(&r.pack, "quiz", &r.quiz),
            r.attempt_id.to_string(),
            date(r.at, tz),
            label,
            r.response,
            r.score.map(|x| lang.num(x, 2)).unwrap_or_default(),
            lang.num(r.max, 2),
        ]));
    }
    download(out.into_bytes(), "text/csv; charset=utf-8", "reponses.csv")
}

// ---- marking ----

pub async fn attempt_page(
    State(app): State<Shared>,
    lang: Lang,
    csrf: Csrf,
    Extension(TeacherId(t)): Extension<TeacherId>,
    Path(id): Path<i64>,
) -> Response {
    let (attempt, pupil) = {
        let store = app.store();
        match store.attempt(id) {
            Ok(Some(a)) => {
                let p = store.pupil(a.pupil_id).ok().flatten().map(|p| p.name).unwrap_or_default();
                (a, p)
            }
            Ok(None) => {
                return not_found(lang, "Cet essai", "This attempt");
            }
            Err(e) => return internal(lang, e),
        }
    };
    let quiz = load_quiz(&app, &attempt.pack, &attempt.quiz);
    let body = html! {
        (nav(lang))
        p { strong { (pupil) } " — " (lang.date(attempt.at, app.tz_minutes())) }
        (render_attempt(&attempt, quiz.as_ref(), Shown::TEACHER, lang, app.tz_minutes(), Some(&csrf)))
        @if attempt.pending() {
            p { a.button href="/teacher/marking" { (lang.t("Corriger", "Mark")) } }
        }
    };
    let katex = quiz.as_ref().is_some_and(super::player::has_maths);
    let title = quiz.map(|q| q.title).unwrap_or(attempt.quiz);
    let mut page = teacher_page(&app, lang, t, &title, body);
    page.katex = katex;
    page.into_response()
}

pub async fn marking(
    State(app): State<Shared>,
    lang: Lang,
    csrf: Csrf,
    Extension(TeacherId(t)): Extension<TeacherId>,
) -> Response {
    let tz = app.tz_minutes();
    let (answers, subs, names) = {
        let store = app.store();
        let subs = store.submissions(None).unwrap_or_default();
        let names: std::collections::HashMap<i64, String> =
            subs.iter().filter_map(|s| store.pupil(s.pupil_id).ok().flatten().map(|p| (p.id, p.name))).collect();
        match store.pending_answers() {
            Ok(a) => (a, subs, names),
            Err(e) => return internal(lang, e),
        }
    };
    let titles = Titles::new(&app, lang);
    let body = html! {
        (nav(lang))
        h2 { (lang.t("Réponses rédigées", "Written answers")) }
        @if answers.is_empty() {
            p { (lang.t("Rien à corriger.", "Nothing to mark.")) }
        }
        @for a in &answers {
            div.question.pending {
                p {
                    strong { (a.pupil) } " — " (titles.pack(&a.pack)) " / " (titles.activity(&a.pack, "quiz", &a.quiz))
                    " — " (question_label(&app, &a.pack, &a.quiz, &a.question))
                }
                div.text { (lines(&a.response)) }
                form method="post" action={ "/teacher/answer/" (a.answer_id) "/mark" } {
                    (csrf.input())
                    label { (lang.t("Note :", "Mark:")) " " input name="score" inputmode="decimal" required size="5"; " / " (lang.num(a.max, 2)) }
                    label { (lang.t("Commentaire :", "Comment:")) " " textarea name="feedback" maxlength="5000" {} }
                    button { (lang.t("Enregistrer", "Save")) }
                }
            }
        }
        h2 { (lang.t("Devoirs rendus", "Handed-in assignments")) }
        @if subs.is_empty() {
            p { (lang.t("Aucun devoir rendu.", "No assignment handed in.")) }
        }
        @for s in &subs {
            div class={ "question " (if s.mark.is_some() { "right" } else { "pending" }) } {
                p {
                    strong { (names.get(&s.pupil_id).map(String::as_str).unwrap_or("?")) }
                    " — " (titles.pack(&s.pack)) " / " (titles.activity(&s.pack, "assign", &s.assign)) " — " (lang.date(s.at, tz))
                }
                div.text { (lines(&s.text)) }
                @if let Some(n) = &s.file_name {
                    p { a href={ "/teacher/submission/" (s.id) "/file" } { (n) } " (" (lang.size(s.file_size as u64)) ")" }
                }
                form method="post" action={ "/teacher/submission/" (s.id) "/mark" } {
                    (csrf.input())
                    label {
                        (lang.t("Note :", "Mark:")) " "
                        input name="mark" inputmode="decimal" required size="5" value=(s.mark.map(|m| lang.num(m, 2)).unwrap_or_default());
                    }
                    label { (lang.t("Commentaire :", "Comment:")) " " textarea name="comment" maxlength="5000" { (s.comment) } }
                    button { (lang.t("Enregistrer", "Save")) }
                }
            }
        }
    };
    let page = teacher_page(&app, lang, t, lang.t("À corriger", "Marking"), body);
    page.into_response()
}

/// A pupil's text with its line breaks kept.
fn lines(text: &str) -> Markup {
    html! {
        @for (k, line) in text.split('\n').enumerate() {
            @if k > 0 { br; }
            (line)
        }
    }
}

fn parse_mark(form: &Form, name: &str) -> Option<f64> {
    form.get(name)?.trim().replace(',', ".").parse::<f64>().ok().filter(|x| x.is_finite() && (0.0..=1000.0).contains(x))
}

pub async fn mark_answer(
    State(app): State<Shared>,
    lang: Lang,
    Path(id): Path<i64>,
    Post { who: TeacherId(t), form }: Post<TeacherId>,
) -> Response {
    let Some(score) = parse_mark(&form, "score") else {
        return bad(lang, lang.t("Note invalide.", "Invalid mark."));
    };
    let comment: String = form.get("feedback").unwrap_or("").chars().take(5000).collect();
    set_mark(&app, lang, t, id, score, &comment, false)
}

/// `POST /teacher/answer/{id}/override`: the teacher changes an answer's mark, with a
/// comment the pupil sees; kept with the teacher's name and the time.
pub async fn override_mark(
    State(app): State<Shared>,
    lang: Lang,
    Path(id): Path<i64>,
    Post { who: TeacherId(t), form }: Post<TeacherId>,
) -> Response {
    let Some(score) = parse_mark(&form, "score") else {
        return bad(
            lang,
            lang.t("Note invalide : un nombre, par exemple 1,5.", "Invalid mark: a number, for example 1.5."),
        );
    };
    let comment: String = form.get("comment").unwrap_or("").chars().take(5000).collect();
    set_mark(&app, lang, t, id, score, &comment, true)
}

/// Records a teacher's mark, then goes back to the attempt (`to_attempt`) or to marking.
fn set_mark(app: &Shared, lang: Lang, teacher: i64, id: i64, score: f64, comment: &str, to_attempt: bool) -> Response {
    let store = app.store();
    let by = store.teacher_name(teacher).ok().flatten().unwrap_or_default();
    match store.set_answer_mark(id, score, comment, &by, app.now()) {
        Ok(Some(attempt)) if to_attempt => back_to(&format!("/teacher/attempt/{attempt}")),
        Ok(Some(_)) => back_to("/teacher/marking"),
        Ok(None) => not_found(lang, "Cette réponse", "This answer"),
        Err(e) => internal(lang, e),
    }
}

pub async fn mark_submission(
    State(app): State<Shared>,
    lang: Lang,
    Path(id): Path<i64>,
    Post { form, .. }: Post<TeacherId>,
) -> Response {
    let Some(mark) = parse_mark(&form, "mark") else {
        return bad(lang, lang.t("Note invalide.", "Invalid mark."));
    };
    let comment: String = form.get("comment").unwrap_or("").chars().take(5000).collect();
    match app.store().mark_submission(id, mark, &comment) {
        Ok(true) => back_to("/teacher/marking"),
        Ok(false) => not_found(lang, "Ce rendu", "This submission"),
        Err(e) => internal(lang, e),
    }
}

pub async fn submission_file(State(app): State<Shared>, lang: Lang, Path(id): Path<i64>) -> Response {
    match app.store().submission_file(id) {
        Ok(Some(f)) => download(f.bytes, "application/octet-stream", &f.name),
        Ok(None) => not_found(lang, "Ce fichier", "This file"),
        Err(e) => internal(lang, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_code_exists_until_a_teacher_does() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), "b").unwrap();
        let code = setup_code(&store).unwrap().unwrap();
        assert_eq!(code.len(), 8);
        assert_eq!(setup_code(&store).unwrap().as_deref(), Some(code.as_str()), "stable across calls");
        store.create_teacher("prof", "h").unwrap();
        assert_eq!(setup_code(&store).unwrap(), None);
    }
}
