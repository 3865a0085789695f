//! The classroom application: the pages pupils and teachers use, and the learner
//! records behind them. It reads packs through [`PackSource`] and never imports the
//! box's HTTP core; the box's wiring (`preau_box::wiring`) builds it with [`router`] and
//! merges its routes with the core's, which serves pack files.
//!
//! | module | job |
//! |---|---|
//! | `store` | SQLite records, migrations, outbox |
//! | `web` | shared state, sessions, CSRF, Origin check, role guards |
//! | `passwords` | argon2 slots, sign-in limiter, client address |
//! | `packtext` | pack HTML cleaned at load time (importers' allowlist) |
//! | `html` | escaping, page frame, French/English |
//! | `pupil` | catalog, pupil sign-in, progress page |
//! | `progress` | what a pupil has done (one rule), course outlines |
//! | `player` | quiz player (`/packs/{id}/_quiz/{quiz}`) |
//! | `assign` | assignment submission (`/packs/{id}/_assign/{assign}`) |
//! | `teacher` | teacher sign-in, classes, results, marking, exports |
//! | `work` | work given to a class (« À faire ») and its progress per pupil |
//! | `bank` | quizzes a teacher builds from the installed packs' question banks |
//! | `admin` | packs, opening hours, clock, Wi-Fi |
//! | `hours`, `csv`, `xapi`, `wifi` | pure helpers |

mod accounts;
mod admin;
mod assets;
mod assign;
mod bank;
pub mod context;
mod csv;
mod form;
mod hours;
pub mod html;
mod packtext;
mod passwords;
mod player;
mod progress;
mod pupil;
pub mod records;
mod records_web;
mod search;
mod sticky;
pub mod store;
mod teacher;
pub mod testkit;
mod todo;
mod web;
mod wifi;
mod work;
mod xapi;

/// The argon2id cost of a password check (the `argon2_check` example times it).
pub use passwords::{M_COST_KIB as ARGON2_M_COST_KIB, T_COST as ARGON2_T_COST};

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};

pub use assign::UPLOAD_LIMIT;
pub use context::{
    AppEnv, ConfigNotice, ImportSummary, InstallError, PackInfo, PackSource, StickError, UpstreamInfo, WANTS_FILE,
};
use store::Store;
pub use web::{App, DEFAULT_TZ_MINUTES};
pub use xapi::PackRef;

/// Form bodies are small; only assignment uploads are larger.
pub const FORM_LIMIT: usize = 64 * 1024;

/// Opens the learner records in the data folder.
pub fn open_store(ctx: &AppEnv) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&ctx.data_dir)?;
    let path = ctx.data_dir.join("preau.sqlite");
    Store::open(&path, &ctx.box_id).map_err(|e| anyhow::anyhow!("opening {}: {e}", path.display()))
}

/// The one-time code that lets the first teacher create their account, or `None` once a
/// teacher exists. Created at first call and kept in the records, so `preau serve` can
/// print the same code at every start until it is used. The config's `[box] setup_code`
/// is accepted too.
pub fn setup_code(ctx: &AppEnv) -> anyhow::Result<Option<String>> {
    let store = open_store(ctx)?;
    teacher::setup_code(&store).map_err(|e| anyhow::anyhow!("setup code: {e}"))
}

/// The school's time zone (minutes east of UTC) as a teacher's browser last sent it,
/// France's winter offset until then. The background sync reads it at start for
/// `[sync] hours`.
pub fn saved_tz_minutes(data_dir: &std::path::Path) -> i32 {
    let path = data_dir.join("preau.sqlite");
    if !path.exists() {
        return DEFAULT_TZ_MINUTES as i32;
    }
    Store::open(&path, "")
        .ok()
        .and_then(|s| s.setting("tz_minutes").ok().flatten())
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_TZ_MINUTES as i32)
}

/// Lines `preau serve` prints at start: the setup code while no teacher exists. Also
/// opens (and migrates) the learner records, so a broken database shows at start.
pub fn startup_lines(env: &AppEnv) -> anyhow::Result<Vec<String>> {
    Ok(match setup_code(env)? {
        Some(code) => vec![
            format!("Code d'installation enseignant / teacher setup code: {code}"),
            "Ouvrez /teacher/setup pour créer le compte enseignant. Open /teacher/setup to create the teacher account."
                .into(),
        ],
        None if accounts::unused_config_code(&open_store(env)?, env.setup_code.as_deref()).is_some() => vec![
            "Un nouveau setup_code de preau.toml ouvre /teacher/setup une fois (mot de passe oublié). A new setup_code in preau.toml opens /teacher/setup once (forgotten password).".into(),
        ],
        None => Vec::new(),
    })
}

/// The classroom application's routes over `env`, and the hook the pack file server
/// calls for progress tracking. If the learner records cannot be opened, the routes
/// answer 503 with a message (the pack files stay served) and there is no hook.
pub fn router(env: AppEnv) -> (Router, Option<ProgressHook>) {
    match open_store(&env) {
        Ok(store) => {
            let app = Arc::new(App::new(env, store));
            (routes(app.clone()), Some(ProgressHook(app)))
        }
        Err(e) => {
            tracing::error!("classroom application unavailable: {e:#}");
            let unavailable = Router::new().fallback(|| async {
                (axum::http::StatusCode::SERVICE_UNAVAILABLE, "Préau : le registre des élèves est illisible (voir le journal). Learner records unavailable (see the log).")
            });
            (unavailable, None)
        }
    }
}

/// Lets the pack file server record that a signed-in pupil opened a page of a pack (so
/// progress counts pages reached by links inside the pack too).
#[derive(Clone)]
pub struct ProgressHook(Arc<App>);

impl ProgressHook {
    /// Called by the pack file server for each page (HTML, or Markdown shown as HTML)
    /// served with status 200. Only pages opened by a signed-in pupil are recorded, once
    /// per pupil and page. Never fails the request.
    pub fn record_open(&self, headers: &axum::http::HeaderMap, pack: &str, path: &str) {
        if !pupil::valid_pack_path(pack) {
            return;
        }
        let path = if path.is_empty() || path.ends_with('/') { format!("{path}index.html") } else { path.to_string() };
        if !pupil::valid_pack_path(&path) {
            return;
        }
        // The pack server calls this on its blocking pool.
        web::already_off_worker(|| {
            if let Some(store::Who::Pupil(id)) = self.0.who(headers) {
                let now = self.0.now();
                if let Err(e) = self.0.store().record_event(id, "opened", pack, &path, now) {
                    tracing::warn!("progress not recorded: {e}");
                }
            }
        })
    }
}

fn routes(app: Arc<App>) -> Router {
    let teacher = Router::new()
        .route("/teacher/", get(teacher::dashboard))
        .route("/teacher/classes", post(teacher::create_class))
        .route("/teacher/class/{id}", get(teacher::class_page))
        .route("/teacher/class/{id}/rename", post(teacher::rename_class))
        .route("/teacher/class/{id}/delete", post(teacher::delete_class))
        .route("/teacher/class/{id}/pupils", post(teacher::add_pupil))
        .route("/teacher/pupil/{id}/rename", post(teacher::rename_pupil))
        .route("/teacher/pupil/{id}/delete", post(teacher::delete_pupil))
        .route("/teacher/pupil/{id}/code", post(teacher::set_code))
        .route("/teacher/pupil/{id}/export", get(teacher::export_pupil))
        .route("/teacher/results", get(teacher::results))
        .route("/teacher/results.csv", get(teacher::results_csv))
        .route("/teacher/attempt/{id}", get(teacher::attempt_page))
        .route("/teacher/marking", get(teacher::marking))
        .route("/teacher/answer/{id}/mark", post(teacher::mark_answer))
        .route("/teacher/answer/{id}/override", post(teacher::override_mark))
        .route("/teacher/answers.csv", get(teacher::answers_csv))
        .route("/teacher/quiz/{pack}/{quiz}/settings", post(teacher::set_quiz_settings))
        .route("/teacher/submission/{id}/mark", post(teacher::mark_submission))
        .route("/teacher/submission/{id}/file", get(teacher::submission_file))
        .route("/teacher/quizzes", get(bank::page).post(bank::create))
        .route("/teacher/class/{id}/work", post(teacher::create_work))
        .route("/teacher/work/{id}", get(work::page))
        .route("/teacher/work/{id}/visible", post(work::set_visible))
        .route("/teacher/work/{id}/delete", post(work::delete))
        .route("/admin/", get(admin::page))
        .route("/admin/hours", post(admin::set_hours))
        .route("/admin/clock", post(admin::set_clock))
        .route("/admin/packs/remove", post(admin::remove_pack))
        .route("/admin/packs/add", post(admin::add_packs))
        .route("/admin/stick/wants", post(admin::stick_wants))
        .route("/admin/stick/fill", post(admin::stick_fill))
        .route("/admin/teachers", post(accounts::add_teacher))
        .route("/admin/password", post(accounts::change_password))
        .route("/admin/teacher/{id}/delete", post(accounts::delete_teacher))
        .route("/admin/sessions/end", post(accounts::end_sessions))
        .route_layer(from_fn_with_state(app.clone(), web::teacher_guard));

    let pupil = Router::new()
        .route("/pupil/", get(pupil::progress))
        .route("/pupil/open/{pack}/{*path}", get(pupil::open))
        .route("/pupil/done/{pack}/{*path}", post(pupil::done))
        .route("/pupil/attempt/{id}", get(player::attempt_page))
        .route("/packs/{id}/_quiz/{quiz}", get(player::quiz_page).post(player::submit))
        .route("/packs/{id}/_assign/{assign}", get(assign::page))
        .route_layer(from_fn_with_state(app.clone(), web::pupil_guard));

    let open = Router::new()
        .route("/", get(pupil::catalog))
        .route("/search", get(search::page))
        .route("/api/search", get(search::api))
        .route("/login", get(pupil::login_classes).post(pupil::login))
        .route("/login/class/{id}", get(pupil::login_names))
        .route("/logout", get(pupil::logout_page).post(pupil::logout))
        .route("/teacher/login", get(teacher::login_page).post(teacher::login))
        .route("/teacher/setup", get(teacher::setup_page).post(teacher::setup))
        .route("/static/{*path}", get(assets::serve))
        .route("/favicon.ico", get(assets::favicon));

    // Every route above runs on the blocking pool (`web::on_blocking_pool`): its body
    // is a small form, read first. The uploads below stream their multipart body on the
    // async worker and call `web::off_worker` for their store work.
    let on_pool = Router::new()
        .merge(teacher)
        .merge(pupil)
        .merge(open)
        .layer(from_fn_with_state(FORM_LIMIT, web::on_blocking_pool));

    let uploads = Router::new()
        .route("/teacher/class/{id}/import", post(teacher::import_csv))
        .route("/admin/packs/upload", post(admin::upload).layer(DefaultBodyLimit::max(admin::IMPORT_LIMIT)))
        // The export streams a file it writes off the workers itself.
        .route("/admin/records/export", get(records_web::export))
        .route("/admin/records/import", post(records_web::import).layer(DefaultBodyLimit::max(admin::IMPORT_LIMIT)))
        .route_layer(from_fn_with_state(app.clone(), web::teacher_guard))
        .merge(
            Router::new()
                .route(
                    "/packs/{id}/_assign/{assign}",
                    post(assign::submit).layer(DefaultBodyLimit::max(UPLOAD_LIMIT + FORM_LIMIT)),
                )
                .route_layer(from_fn_with_state(app.clone(), web::pupil_guard)),
        );

    Router::new()
        .merge(on_pool)
        .merge(uploads)
        .layer(DefaultBodyLimit::max(FORM_LIMIT))
        .layer(axum::middleware::from_fn(web::csrf_cookie))
        .layer(axum::middleware::from_fn(assets::gzip_pages))
        .with_state(app)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_classroom;
#[cfg(test)]
mod tests_hardening;
