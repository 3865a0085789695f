//! Teacher accounts after the first one: colleagues, password changes, and getting back
//! in when the password is forgotten.
//!
//! Recovery needs physical access, like the first setup: whoever can edit `preau.toml`
//! on the card's boot partition can write a new `[box] setup_code`; `/teacher/setup`
//! then accepts it once (its hash is remembered) to create an account or to give an
//! existing name a new password. No records belong to a teacher account, so nothing is
//! lost by either.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::html::{Lang, Sticky, message, not_found};
use super::passwords::{self, Client, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
use super::store::{MAX_NAME_CHARS, Store};
use super::web::{Csrf, Form, Post, SESSION_COOKIE, Shared, TeacherId, cookie, internal};

/// The setting that remembers which `preau.toml` setup code was used last.
const USED_CONFIG_CODE: &str = "used_config_setup_code";

/// The `[box] setup_code` of the config file, if set and not used yet: it opens
/// `/teacher/setup` even when teachers exist (recovery).
pub fn unused_config_code(store: &Store, configured: Option<&str>) -> Option<String> {
    let code = configured.map(str::trim).filter(|c| !c.is_empty())?;
    let used = store.setting(USED_CONFIG_CODE).ok().flatten();
    (used.as_deref() != Some(&fingerprint(code))).then(|| code.to_string())
}

/// Remembers that the config code was used, so that it works once.
pub fn mark_config_code_used(store: &Store, code: &str) {
    let _ = store.set_setting(USED_CONFIG_CODE, Some(&fingerprint(code)));
}

fn fingerprint(code: &str) -> String {
    preau_pack::Hash::of(format!("preau setup code\0{code}").as_bytes()).to_string()
}

fn refused(lang: Lang, text: &str) -> Response {
    message(lang, StatusCode::BAD_REQUEST, lang.t("Saisie refusée", "Input refused"), text)
}

fn password_rule(lang: Lang) -> &'static str {
    lang.t(
        "Le mot de passe doit avoir au moins 8 caractères, et les deux saisies être identiques.",
        "The password needs at least 8 characters, and both entries must match.",
    )
}

/// The admin page again, the form `which` refused with `(text, field in error)`.
fn again(
    app: &Shared,
    lang: Lang,
    csrf: &Csrf,
    me: i64,
    which: &str,
    form: &Form,
    error: (&str, &'static str),
) -> Response {
    let (text, field) = error;
    // Passwords are not sent back into the page: only the other fields are kept.
    let kept = Form(
        form.0.iter().filter(|(k, _)| !matches!(k.as_str(), "current" | "password" | "password2")).cloned().collect(),
    );
    super::admin::admin_view(app, lang, &csrf.input(), me, which, &Sticky::new(&kept, text, field))
}

/// The new password of a form (`password` and `password2`), if acceptable.
fn new_password(form: &super::web::Form) -> Option<String> {
    let p = form.get("password")?;
    let n = p.chars().count();
    ((MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n) && form.get("password2") == Some(p)).then(|| p.to_string())
}

/// A new password's hash, through the argon2 slots (429 when they are all taken).
async fn hashed(app: &Shared, lang: Lang, password: String) -> Result<String, Response> {
    match app.passwords.hash(password).await {
        Ok(Ok(h)) => Ok(h),
        Ok(Err(e)) => Err(internal(lang, e)),
        Err(busy) => Err(busy.into_response()),
    }
}

fn done() -> Response {
    Redirect::to("/admin/#teachers").into_response()
}

pub async fn add_teacher(
    State(app): State<Shared>,
    lang: Lang,
    csrf: Csrf,
    Post { who: TeacherId(me), form }: Post<TeacherId>,
) -> Response {
    let refused = |text: &str, field| again(&app, lang, &csrf, me, "teachers", &form, (text, field));
    let Some(name) = form.text("name", MAX_NAME_CHARS) else {
        return refused(lang.t("Nom manquant ou trop long.", "Name missing or too long."), "name");
    };
    let Some(password) = new_password(&form) else { return refused(password_rule(lang), "password") };
    let hash = match hashed(&app, lang, password).await {
        Ok(h) => h,
        Err(r) => return r,
    };
    let taken = app.store().teacher_by_name(&name);
    match taken {
        Ok(Some(_)) => return refused(lang.t("Ce nom est déjà pris.", "That name is taken."), "name"),
        Ok(None) => {}
        Err(e) => return internal(lang, e),
    }
    let store = app.store();
    match store.create_teacher(&name, &hash) {
        Ok(_) => done(),
        Err(e) => internal(lang, e),
    }
}

pub async fn change_password(
    State(app): State<Shared>,
    headers: HeaderMap,
    lang: Lang,
    client: Client,
    csrf: Csrf,
    Post { who: TeacherId(me), form }: Post<TeacherId>,
) -> Response {
    let refused = |text: &str, field| again(&app, lang, &csrf, me, "password", &form, (text, field));
    let Some(password) = new_password(&form) else { return refused(password_rule(lang), "password") };
    let current = form.get("current").unwrap_or("").to_string();
    let name = match app.store().teacher_name(me) {
        Ok(Some(n)) => n,
        Ok(None) => return not_found(lang, "Ce compte", "This account"),
        Err(e) => return internal(lang, e),
    };
    let old_hash = match app.store().teacher_by_name(&name) {
        Ok(Some((_, h))) => h,
        Ok(None) => return not_found(lang, "Ce compte", "This account"),
        Err(e) => return internal(lang, e),
    };
    let keys = passwords::keys("t", &name.to_lowercase(), client);
    let keys = passwords::borrow(&keys);
    if app.attempts().begin(&keys).is_err() {
        return refused(
            lang.t("Trop d'essais : attendez quelques minutes.", "Too many attempts: wait a few minutes."),
            "",
        );
    }
    let checked = app.passwords.verify(current, Some(old_hash)).await;
    app.attempts().settle(&keys, &checked);
    match checked {
        Ok(true) => {}
        Ok(false) => return refused(lang.t("Mot de passe actuel incorrect.", "Wrong current password."), "current"),
        Err(busy) => return busy.into_response(),
    }
    let hash = match hashed(&app, lang, password).await {
        Ok(h) => h,
        Err(r) => return r,
    };
    let keep = cookie(&headers, SESSION_COOKIE);
    match app.store().set_teacher_password(me, &hash, keep) {
        Ok(_) => message(
            lang,
            StatusCode::OK,
            lang.t("Mot de passe changé", "Password changed"),
            lang.t("Vos autres sessions ont été fermées.", "Your other sessions have been signed out."),
        ),
        Err(e) => internal(lang, e),
    }
}

/// `POST /admin/sessions/end`: ends every session but the teacher's own.
pub async fn end_sessions(
    State(app): State<Shared>,
    headers: HeaderMap,
    lang: Lang,
    Post { form, .. }: Post<TeacherId>,
) -> Response {
    if form.get("confirm") != Some("yes") {
        return refused(lang, lang.t("Cochez la case pour confirmer.", "Tick the box to confirm."));
    }
    match app.store().delete_sessions_except(cookie(&headers, SESSION_COOKIE)) {
        Ok(n) => message(
            lang,
            StatusCode::OK,
            lang.t("Sessions fermées", "Sessions ended"),
            &format!("{n} {}", lang.t("session(s) fermée(s).", "session(s) ended.")),
        ),
        Err(e) => internal(lang, e),
    }
}

pub async fn delete_teacher(
    State(app): State<Shared>,
    lang: Lang,
    Path(id): Path<i64>,
    Post { who: TeacherId(me), form }: Post<TeacherId>,
) -> Response {
    if form.get("confirm") != Some("yes") {
        return refused(lang, lang.t("Cochez la case pour confirmer.", "Tick the box to confirm."));
    }
    if id == me {
        return refused(
            lang,
            lang.t("Vous ne pouvez pas supprimer votre propre compte.", "You cannot delete your own account."),
        );
    }
    match app.store().delete_teacher(id) {
        Ok(true) => done(),
        Ok(false) => not_found(lang, "Ce compte", "This account"),
        Err(e) => internal(lang, e),
    }
}
