//! The admin page's records backup (issue 18): `GET /admin/records/export` downloads the
//! learner records as one file (`records`), `POST /admin/records/import` adds such a file
//! to a fresh box. Both behind the teacher guard of `/admin/`; the form is on the admin
//! page (`admin::records_section`).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::admin::receive_upload;
use super::html::{Lang, message};
use super::records;
use super::web::{MultipartPost, Shared, TeacherId, internal, off_worker};

/// `GET /admin/records/export`: the file, streamed from a snapshot removed afterwards.
pub async fn export(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let lang = Lang::from_headers(&headers);
    let dir = app.ctx.data_dir.join("exports");
    let mut token = [0u8; 8];
    if getrandom::fill(&mut token).is_err() {
        return internal(lang, "no randomness");
    }
    let file = dir.join(format!("{}.preau-records", hex::encode(token)));
    let (data, id, path) = (app.ctx.data_dir.clone(), app.ctx.box_id.clone(), file.clone());
    let made = off_worker(move || {
        let dir = path.parent().expect("in exports/");
        // A snapshot left by a download cut by a power cut holds pupils' data: none is
        // kept. Removing the name does not disturb a download under way (its file is open).
        if let Ok(old) = std::fs::read_dir(dir) {
            old.flatten().for_each(|e| drop(std::fs::remove_file(e.path())));
        }
        std::fs::create_dir_all(dir)?;
        records::export(&data, &id, env!("CARGO_PKG_VERSION"), &path)
    })
    .await;
    let summary = match made {
        Ok(s) => s,
        Err(e) => return internal(lang, format!("{e:#}")),
    };
    let opened = match tokio::fs::File::open(&file).await {
        Ok(f) => f,
        Err(e) => return internal(lang, e),
    };
    // The snapshot goes when the download ends, finished or not.
    struct Remove(std::path::PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let state = (opened, Remove(file), vec![0u8; 256 * 1024]);
    let stream = futures_util::stream::unfold(state, |(mut f, guard, mut buf)| async move {
        use tokio::io::AsyncReadExt;
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => Some((Ok::<_, std::io::Error>(axum::body::Bytes::copy_from_slice(&buf[..n])), (f, guard, buf))),
            Err(e) => Some((Err(e), (f, guard, buf))),
        }
    });
    (
        [
            (header::CONTENT_TYPE, "application/vnd.sqlite3".to_string()),
            (header::CONTENT_LENGTH, summary.bytes.to_string()),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"preau-eleves.preau-records\"".to_string()),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// `POST /admin/records/import` (multipart: `csrf` first, then `file`).
pub async fn import(
    State(app): State<Shared>,
    headers: HeaderMap,
    lang: Lang,
    post: MultipartPost<TeacherId>,
) -> Response {
    let upload = match receive_upload(&app, &headers, lang, post).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let (data, id) = (app.ctx.data_dir.clone(), app.ctx.box_id.clone());
    let done = off_worker(move || {
        let r = records::import(&data, &id, &upload.path);
        drop(upload);
        r
    })
    .await;
    match done {
        Ok(s) => message(
            lang,
            StatusCode::OK,
            lang.t("Données importées", "Records imported"),
            &format!(
                "{} {}, {} {}, {} {}. {}",
                s.classes,
                lang.t("classe(s)", "class(es)"),
                s.pupils,
                lang.t("élève(s)", "pupil(s)"),
                s.teachers,
                lang.t("enseignant(s)", "teacher(s)"),
                lang.t("Vous pouvez effacer le fichier.", "You may delete the file now.")
            ),
        ),
        Err(e) => message(
            lang,
            StatusCode::BAD_REQUEST,
            lang.t("Import refusé", "Import refused"),
            &format!("{} {e:#}", lang.t("Ce fichier ne peut pas être importé :", "This file cannot be imported:")),
        ),
    }
}
