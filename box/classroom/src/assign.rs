//! Assignment submission: `/packs/{id}/_assign/{assign}`. A text and/or one file,
//! bounded, stored in the learner records (one transaction: it survives a power cut).

use axum::extract::{Extension, Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use preau_pack::course::{Assignment, assign_path};

use maud::{PreEscaped, html};

use super::html::{Lang, Page, url_seg};
use super::web::{Csrf, MultipartPost, PupilId, Shared, internal, off_worker};

/// Largest assignment file the box accepts when the assignment names no smaller limit.
pub const UPLOAD_LIMIT: usize = 8 * 1024 * 1024;

const MAX_TEXT_CHARS: usize = 50_000;

fn load(app: &Shared, pack: &str, id: &str) -> Option<Assignment> {
    if id.is_empty() || id.len() > 128 || id.contains('/') || pack.contains('/') {
        return None;
    }
    let bytes = app.ctx.packs.read(pack, &assign_path(id))?;
    if bytes.len() > 1024 * 1024 {
        return None;
    }
    super::packtext::parse(&bytes)
}

/// The file size limit of this assignment, never above the box's.
fn max_bytes(a: &Assignment) -> usize {
    match a.max_bytes {
        0 => UPLOAD_LIMIT,
        n => (n as usize).min(UPLOAD_LIMIT),
    }
}

/// Whether `len` more bytes fit the pupil's and the class's quotas and the free-space
/// floor; otherwise the message to show.
fn within_quotas(app: &Shared, lang: Lang, pupil: i64, len: u64) -> Result<(), String> {
    let q = app.quotas;
    let (mine, class) = app.store().upload_bytes(pupil).map_err(|e| {
        tracing::error!("upload quota: {e}");
        lang.t("Erreur, réessaie.", "Error, try again.").to_string()
    })?;
    if mine + len > q.pupil_bytes {
        return Err(lang
            .t(
                "Tu as déjà rendu trop de fichiers sur cette boîte : demande à ton enseignant d'en supprimer.",
                "You have already handed in too many files on this box: ask your teacher to remove some.",
            )
            .to_string());
    }
    if class + len > q.class_bytes {
        return Err(lang
            .t(
                "Ta classe a déjà rendu trop de fichiers sur cette boîte : préviens ton enseignant.",
                "Your class has already handed in too many files on this box: tell your teacher.",
            )
            .to_string());
    }
    let free = rustix::fs::statvfs(&app.ctx.data_dir).map(|s| s.f_bavail.saturating_mul(s.f_frsize)).unwrap_or(0);
    if free.saturating_sub(len) < q.free_floor_bytes {
        return Err(lang
            .t(
                "La carte de la boîte est presque pleine : l'envoi est refusé. Préviens ton enseignant.",
                "The box's card is almost full: the upload is refused. Tell your teacher.",
            )
            .to_string());
    }
    Ok(())
}

fn not_found(lang: Lang) -> Response {
    super::html::not_found(lang, "Ce devoir", "This assignment")
}

/// `GET /packs/{id}/_assign/{assign}`
pub async fn page(
    State(app): State<Shared>,
    lang: Lang,
    csrf: Csrf,
    Extension(PupilId(pupil)): Extension<PupilId>,
    Path((pack, id)): Path<(String, String)>,
) -> Response {
    let Some(a) = load(&app, &pack, &id) else { return not_found(lang) };
    render(&app, lang, &csrf, pupil, &pack, &a, None, StatusCode::OK)
}

#[allow(clippy::too_many_arguments)]
fn render(
    app: &Shared,
    lang: Lang,
    csrf: &Csrf,
    pupil: i64,
    pack: &str,
    a: &Assignment,
    note: Option<(bool, String)>,
    status: StatusCode,
) -> Response {
    let (previous, name) = {
        let store = app.store();
        let subs = store.submissions(Some(pupil)).unwrap_or_default();
        let name = store.pupil(pupil).ok().flatten().map(|p| p.name);
        (subs.into_iter().filter(|s| s.pack == pack && s.assign == a.id).collect::<Vec<_>>(), name)
    };
    let accept = a.allowed_extensions.iter().map(|e| format!(".{e}")).collect::<Vec<_>>().join(",");
    let tz = app.tz_minutes();
    let body = html! {
        @if let Some((ok, text)) = &note {
            p class=(if *ok { "msg ok" } else { "error" }) role="status" { (text) }
        }
        @if !a.intro_html.is_empty() {
            // Safe HTML: sanitised by `packtext::parse` when read from the pack.
            div.card { (PreEscaped(&a.intro_html)) }
        }
        form method="post" enctype="multipart/form-data" action={ "/packs/" (url_seg(pack)) "/_assign/" (url_seg(&a.id)) } {
            (csrf.input())
            @if a.accepts_text {
                label { (lang.t("Ton texte :", "Your text:")) " " textarea name="text" maxlength=(MAX_TEXT_CHARS) {} }
            }
            @if a.accepts_file {
                label { (lang.t("Ton fichier :", "Your file:")) " " input type="file" name="file" accept=(accept); }
                p { small { (lang.t("Taille maximale :", "Largest size:")) " " (lang.size(max_bytes(a) as u64)) } }
            }
            button { (lang.t("Rendre mon travail", "Hand in my work")) }
        }
        @if !previous.is_empty() {
            h2 { (lang.t("Déjà rendu", "Already handed in")) }
            ul {
                @for s in &previous {
                    li {
                        (lang.date(s.at, tz))
                        @if let Some(f) = &s.file_name { " — " (f) }
                        @if let Some(m) = s.mark { " — " (lang.t("note", "mark")) " " (m) }
                        @if !s.comment.is_empty() { " — " (s.comment) }
                    }
                }
            }
        }
        p { a href="/pupil/" { (lang.t("← Ma progression", "← My progress")) } }
    };
    let mut page = Page::new(lang, a.title.clone(), body).status(status);
    page.user = name;
    page.into_response()
}

/// What a pupil sent: the text, the file (name, type, bytes).
type Upload = (String, Option<(String, String, Vec<u8>)>);

/// `POST /packs/{id}/_assign/{assign}` (multipart: `csrf` first, `text`, `file`). The
/// body is read on the async worker (it streams); the checks and the store run on the
/// blocking pool.
pub async fn submit(
    State(app): State<Shared>,
    lang: Lang,
    csrf: Csrf,
    Path((pack, id)): Path<(String, String)>,
    post: MultipartPost<PupilId>,
) -> Response {
    let PupilId(pupil) = post.who;
    let a = {
        let (app, pack, id) = (app.clone(), pack.clone(), id.clone());
        off_worker(move || load(&app, &pack, &id)).await
    };
    let Some(a) = a else { return not_found(lang) };
    let mut multipart = match post.fields().await {
        Ok(m) => m,
        Err(refused) => return refused,
    };
    let upload = read_upload(&mut multipart, &a, lang).await;
    off_worker(move || match upload {
        Ok(upload) => store_upload(&app, lang, &csrf, pupil, &pack, &a, upload),
        Err(msg) => render(&app, lang, &csrf, pupil, &pack, &a, Some((false, msg)), StatusCode::BAD_REQUEST),
    })
    .await
}

/// Reads the multipart body within the assignment's bounds; the error is the message
/// to show the pupil.
async fn read_upload(multipart: &mut Multipart, a: &Assignment, lang: Lang) -> Result<Upload, String> {
    let limit = max_bytes(a);
    let mut text = String::new();
    let mut file: Option<(String, String, Vec<u8>)> = None;
    let mut fields = 0;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) => {
                return Err(lang.t("Envoi trop gros ou interrompu.", "Upload too large or interrupted.").to_string());
            }
        };
        fields += 1;
        if fields > 10 {
            return Err("too many fields".into());
        }
        match field.name() {
            Some("text") if a.accepts_text => {
                text = field.text().await.unwrap_or_default();
                if text.chars().count() > MAX_TEXT_CHARS {
                    return Err(format!(
                        "{} {MAX_TEXT_CHARS}",
                        lang.t("Texte trop long : au plus", "Text too long: at most")
                    ));
                }
            }
            Some("file") if a.accepts_file => {
                let name: String = field.file_name().unwrap_or("fichier").chars().take(200).collect();
                let ty = field.content_type().unwrap_or("application/octet-stream").chars().take(100).collect();
                let mut bytes = Vec::new();
                let mut field = field;
                loop {
                    match field.chunk().await {
                        Ok(Some(c)) => {
                            if bytes.len() + c.len() > limit {
                                return Err(format!(
                                    "{} {}",
                                    lang.t("Fichier trop gros : au plus", "File too large: at most"),
                                    lang.size(limit as u64)
                                ));
                            }
                            bytes.extend_from_slice(&c);
                        }
                        Ok(None) => break,
                        Err(_) => return Err(lang.t("Envoi interrompu.", "Upload interrupted.").to_string()),
                    }
                }
                if !bytes.is_empty() {
                    file = Some((name, ty, bytes));
                }
            }
            _ => {}
        }
    }
    Ok((text, file))
}

/// Checks the upload, then stores it (one transaction).
fn store_upload(
    app: &Shared,
    lang: Lang,
    csrf: &Csrf,
    pupil: i64,
    pack: &str,
    a: &Assignment,
    (text, file): Upload,
) -> Response {
    let bad = |msg: String| render(app, lang, csrf, pupil, pack, a, Some((false, msg)), StatusCode::BAD_REQUEST);
    if let Some((name, _, _)) = &file
        && !a.allowed_extensions.is_empty()
    {
        let ext = name.rsplit_once('.').map(|(_, e)| e.to_lowercase()).unwrap_or_default();
        if !a.allowed_extensions.iter().any(|e| e.to_lowercase() == ext) {
            return bad(format!(
                "{} {}",
                lang.t("Type de fichier refusé. Acceptés :", "File type refused. Accepted:"),
                a.allowed_extensions.join(", ")
            ));
        }
    }
    if let Some(limit) = a.word_limit
        && text.split_whitespace().count() > limit as usize
    {
        return bad(format!("{} {limit}", lang.t("Trop de mots : au plus", "Too many words: at most")));
    }
    if text.trim().is_empty() && file.is_none() {
        return bad(lang.t("Écris un texte ou choisis un fichier.", "Write a text or choose a file.").to_string());
    }
    if let Some((_, _, bytes)) = &file
        && let Err(msg) = within_quotas(app, lang, pupil, bytes.len() as u64)
    {
        return render(app, lang, csrf, pupil, pack, a, Some((false, msg)), StatusCode::INSUFFICIENT_STORAGE);
    }
    let now = app.now();
    let saved = app.store().save_submission(
        pupil,
        pack,
        &a.id,
        text.trim(),
        file.as_ref().map(|(n, t, b)| (n.as_str(), t.as_str(), b.as_slice())),
        now,
    );
    match saved {
        Ok(_) => render(
            app,
            lang,
            csrf,
            pupil,
            pack,
            a,
            Some((true, lang.t("Travail rendu et enregistré.", "Work handed in and saved.").to_string())),
            StatusCode::OK,
        ),
        Err(e) => internal(lang, e),
    }
}
