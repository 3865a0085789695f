//! The application's shared state and the request plumbing every page uses: sessions,
//! CSRF tokens, the Origin check, form parsing, the role guards, and the extractors that
//! make them hard to forget: [`Post`] (a checked form post), [`Csrf`] (its cookie is
//! added by [`csrf_cookie`]) and [`Lang`]. Handlers run on the blocking pool
//! ([`on_blocking_pool`], [`off_worker`]): they call SQLite and read pack files.

use std::cell::Cell;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use cookie::{Cookie, SameSite};

use super::context::AppEnv;
pub use super::form::Form;
use super::hours;
use super::html::{Lang, message};
use super::passwords::{Attempts, Passwords};
use super::store::{Store, Who};

/// Minutes east of UTC until a teacher's browser says otherwise: France in winter.
pub const DEFAULT_TZ_MINUTES: i64 = 60;

pub const SESSION_COOKIE: &str = "preau_session";
pub const CSRF_COOKIE: &str = "preau_csrf";
/// Sessions last a school day at most (checked on the server, not only by the cookie's
/// Max-Age).
pub const SESSION_SECS: i64 = 14 * 3600;
/// A teacher's session ends after this long without a request (a computer left signed in
/// in a classroom).
pub const TEACHER_IDLE_SECS: i64 = 2 * 3600;

pub struct App {
    pub ctx: AppEnv,
    store: Mutex<Store>,
    /// Failed sign-in tries (teachers, pupils, setup code).
    pub attempts: Mutex<Attempts>,
    /// The argon2 slots every password check goes through.
    pub passwords: Arc<Passwords>,
    /// Last request time of each teacher session, for the idle bound. In memory: after a
    /// restart the idle clock starts again (the absolute bound still holds).
    teacher_seen: Mutex<HashMap<String, i64>>,
    /// Upload quotas and the free-space floor.
    pub quotas: Quotas,
    /// Seconds added to the system clock (set by a teacher when the box booted without
    /// the time: it has no real-time clock).
    clock_offset: AtomicI64,
}

pub type Shared = Arc<App>;

/// What pupils may store on the card: a curious pupil must not fill it (issue 14: 20
/// uploads of 8 MiB in 5 s were accepted).
#[derive(Debug, Clone, Copy)]
pub struct Quotas {
    /// Bytes of handed-in files per pupil.
    pub pupil_bytes: u64,
    /// Bytes of handed-in files per class.
    pub class_bytes: u64,
    /// Uploads are refused when the data folder's file system would keep less free space.
    pub free_floor_bytes: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        // 64 MiB is eight full-size photos of pages per pupil; 30 pupils fill at most
        // 1 GiB per class; 512 MiB free keeps room for the records and the system.
        Quotas { pupil_bytes: 64 << 20, class_bytes: 1 << 30, free_floor_bytes: 512 << 20 }
    }
}

impl App {
    pub fn new(ctx: AppEnv, mut store: Store) -> App {
        let packs = ctx.packs.clone();
        store.set_pack_versions(Box::new(move |id| packs.xapi_ref(id)));
        let offset = store.setting("clock_offset").ok().flatten().and_then(|v| v.parse().ok()).unwrap_or(0);
        App {
            ctx,
            store: Mutex::new(store),
            attempts: Mutex::new(Attempts::default()),
            passwords: Arc::new(Passwords::default()),
            teacher_seen: Mutex::new(HashMap::new()),
            quotas: Quotas::default(),
            clock_offset: offset.into(),
        }
    }

    /// The store. A panic while holding the lock leaves SQLite consistent (transactions
    /// roll back), so a poisoned lock is simply taken over.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        // A tripwire for debug builds (the integration tests run one): on an async worker
        // this lock and the commit's fsync would stall every connection of a one-core box.
        #[cfg(not(test))]
        debug_assert!(
            is_off_worker() || tokio::runtime::Handle::try_current().is_err(),
            "the learner store was called on an async worker"
        );
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Unix time in seconds, corrected by the offset a teacher may have recorded.
    pub fn now(&self) -> i64 {
        system_now() + self.clock_offset.load(Ordering::Relaxed)
    }

    pub fn clock_offset(&self) -> i64 {
        self.clock_offset.load(Ordering::Relaxed)
    }

    /// Sets the clock offset. Sessions are dated by the box's clock, so their times move
    /// by the same amount: correcting a box that booted without the time must not end
    /// (or prolong) every session.
    pub fn set_clock_offset(&self, secs: i64) -> Result<(), super::store::Error> {
        let delta = secs - self.clock_offset();
        {
            let store = self.store();
            store.set_setting("clock_offset", Some(&secs.to_string()))?;
            store.shift_sessions(delta)?;
        }
        self.teacher_seen.lock().unwrap_or_else(|e| e.into_inner()).values_mut().for_each(|t| *t += delta);
        self.clock_offset.store(secs, Ordering::Relaxed);
        Ok(())
    }

    /// Minutes east of UTC for displayed times and opening hours (the box has no time
    /// zone database; the teacher's browser sets it).
    pub fn tz_minutes(&self) -> i64 {
        self.store().setting("tz_minutes").ok().flatten().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_TZ_MINUTES)
    }

    /// Whether pupils may use the box now.
    pub fn is_open(&self) -> bool {
        let spec = self.store().setting("hours").ok().flatten().unwrap_or_default();
        match hours::Hours::parse(&spec) {
            Ok(h) => h.is_open(self.now(), self.tz_minutes()),
            Err(_) => true,
        }
    }

    /// The sign-in limiter. A panic while holding it leaves counts that only err on the
    /// safe side, so a poisoned lock is taken over.
    pub fn attempts(&self) -> MutexGuard<'_, Attempts> {
        self.attempts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tests: moves a teacher session's last request `secs` into the past.
    #[cfg(test)]
    pub fn backdate_teacher_activity(&self, token: &str, secs: i64) {
        if let Some(t) = self.teacher_seen.lock().unwrap().get_mut(token) {
            *t -= secs;
        }
    }

    /// Who is signed in on this request, if anyone.
    pub fn who(&self, headers: &HeaderMap) -> Option<Who> {
        let token = cookie(headers, SESSION_COOKIE)?;
        if !is_token(token) {
            return None;
        }
        let now = self.now();
        let who = self.store().live_session(token, now, SESSION_SECS).ok().flatten()?;
        if let Who::Teacher(_) = who {
            let mut seen = self.teacher_seen.lock().unwrap_or_else(|e| e.into_inner());
            let last = *seen.get(token).unwrap_or(&now);
            if now - last >= TEACHER_IDLE_SECS {
                seen.remove(token);
                drop(seen);
                let _ = self.store().delete_session(token);
                return None;
            }
            if seen.len() >= 10_000 && !seen.contains_key(token) {
                // Entries of sessions that ended without a request: idle long enough.
                seen.retain(|_, t| now - *t < TEACHER_IDLE_SECS);
            }
            seen.insert(token.to_string(), now);
        }
        Some(who)
    }
}

pub fn system_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// 128 random bits as 32 hex digits.
pub fn random_token() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the OS random source works");
    hex::encode(b)
}

fn is_token(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The value of one cookie (the first of that name), as the browser sent it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .and_then(|c| c.value_raw())
}

/// A `Set-Cookie` value, always HttpOnly (no script reads it).
///
/// SameSite: a teacher's session is `Strict`, so a request started by any other site or
/// by a sandboxed pack page (an opaque origin, hence cross-site) never carries it. A
/// pupil's session and the CSRF cookie are `Lax`: a link in a pack page to its quiz
/// (`_quiz/…`) is a top-level navigation from that opaque origin, and the pupil must
/// arrive signed in. `Lax` cookies are never sent with cross-site POSTs, and every state
/// change is a POST checked for its Origin and CSRF token.
pub fn set_cookie(name: &str, value: &str, max_age: i64, same_site: SameSite) -> String {
    Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(same_site)
        .max_age(time::Duration::seconds(max_age))
        .build()
        .to_string()
}

/// The key of the CSRF tokens' MAC, drawn at each start: tokens issued before a restart
/// stop working (the page offers a fresh one, the form is sent again).
fn csrf_key() -> &'static [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    KEY.get_or_init(|| {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k).expect("the OS random source works");
        k
    })
}

fn csrf_mac(nonce: &str) -> String {
    hex::encode(&blake3::keyed_hash(csrf_key(), nonce.as_bytes()).as_bytes()[..16])
}

/// A CSRF token this box issued: 32 random hex digits and their MAC (32 hex digits).
pub fn new_csrf_token() -> String {
    let nonce = random_token();
    let mac = csrf_mac(&nonce);
    nonce + &mac
}

/// Whether `s` is a token this box issued (since its last start).
fn is_csrf_token(s: &str) -> bool {
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return false;
    }
    let mac = csrf_mac(&s[..32]);
    mac.bytes().zip(s[32..].bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// Double-submit CSRF token: a cookie that forms repeat in a hidden field. A page from
/// another origin can neither read the cookie nor make the browser send it; and since the
/// token carries the box's MAC, a visitor cannot make one up (any 32 hex digits sent as
/// both cookie and field used to pass, so a script could post anonymous forms at will).
pub struct Csrf {
    pub token: String,
    new: bool,
}

impl Csrf {
    pub fn from_headers(headers: &HeaderMap) -> Csrf {
        match cookie(headers, CSRF_COOKIE).filter(|t| is_csrf_token(t)) {
            Some(t) => Csrf { token: t.to_string(), new: false },
            None => Csrf { token: new_csrf_token(), new: true },
        }
    }

    /// The hidden form field, for pages built with maud.
    pub fn input(&self) -> maud::Markup {
        super::html::csrf_input(&self.token)
    }

    /// The cookie to set when the visitor had none.
    pub fn cookie(&self) -> Option<String> {
        self.new.then(|| set_cookie(CSRF_COOKIE, &self.token, SESSION_SECS, SameSite::Lax))
    }
}

/// A token made for a visitor without one during this request, set as a cookie on the
/// response by [`csrf_cookie`].
#[derive(Clone, Default)]
struct NewCsrf(Arc<Mutex<Option<String>>>);

/// A page's CSRF token: the visitor's, or a new one whose cookie [`csrf_cookie`] adds to
/// the response. A page never attaches the cookie itself.
impl<S: Send + Sync> FromRequestParts<S> for Csrf {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Csrf, Response> {
        let csrf = Csrf::from_headers(&parts.headers);
        if !csrf.new {
            return Ok(csrf);
        }
        let Some(slot) = parts.extensions.get::<NewCsrf>() else {
            return Err(internal(Lang::from_headers(&parts.headers), "Csrf used on a route without csrf_cookie"));
        };
        let mut slot = slot.0.lock().unwrap_or_else(|e| e.into_inner());
        let token = slot.get_or_insert(csrf.token).clone();
        Ok(Csrf { token, new: true })
    }
}

/// The layer around every classroom route: if a handler took a new [`Csrf`], the
/// response carries its cookie.
pub async fn csrf_cookie(mut req: Request, next: Next) -> Response {
    let slot = NewCsrf::default();
    req.extensions_mut().insert(slot.clone());
    let mut resp = next.run(req).await;
    let issued = slot.0.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(token) = issued {
        let c = Csrf { token, new: true };
        if let Some(v) = c.cookie().and_then(|v| HeaderValue::from_str(&v).ok()) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

/// The page language, from Accept-Language.
impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Lang, Infallible> {
        Ok(Lang::from_headers(&parts.headers))
    }
}

/// False when the request comes from another origin: a foreign `Origin`, a sandboxed
/// page's `Origin: null`, or `Sec-Fetch-Site: cross-site`. Browsers from 2018 may send
/// neither header on a same-origin form post; that is accepted.
pub fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN) else { return true };
    let Ok(origin) = origin.to_str() else { return false };
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else { return false };
    origin == format!("http://{host}") || origin == format!("https://{host}")
}

/// Checks the Origin and the CSRF token of a state-changing request; returns its form.
/// The error is the ready refusal page (a large value, but only on the refusal path).
#[allow(clippy::result_large_err)]
fn check_post(headers: &HeaderMap, body: &[u8]) -> Result<Form, Response> {
    let lang = Lang::from_headers(headers);
    let refused = || refused_post(lang);
    if !same_origin(headers) {
        return Err(refused());
    }
    let form = Form::parse(body);
    check_token(headers, form.get("csrf")).map_err(|_| refused())?;
    Ok(form)
}

/// Who may send a [`Post`]: the role a guard put in the request.
pub trait Role: Sized + Send {
    fn from_extensions(ext: &Extensions) -> Option<Self>;
}

/// Any visitor (sign-in forms, sign-out).
pub struct Anyone;

impl Role for Anyone {
    fn from_extensions(_: &Extensions) -> Option<Self> {
        Some(Anyone)
    }
}

impl Role for TeacherId {
    fn from_extensions(ext: &Extensions) -> Option<Self> {
        ext.get::<TeacherId>().copied()
    }
}

impl Role for PupilId {
    fn from_extensions(ext: &Extensions) -> Option<Self> {
        ext.get::<PupilId>().copied()
    }
}

/// A state-changing form post that passed its checks before the handler runs: the
/// Origin ([`same_origin`]), the CSRF token the box issued ([`check_post`]) and the role
/// `R` its guard put in the request (`Post<TeacherId>` behind [`teacher_guard`],
/// `Post<PupilId>` behind [`pupil_guard`]). A POST handler takes one instead of the raw
/// body, so it cannot forget a check; on a route without the guard it answers 500.
pub struct Post<R: Role = Anyone> {
    pub who: R,
    pub form: Form,
}

impl<S: Send + Sync, R: Role> FromRequest<S> for Post<R> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let lang = Lang::from_headers(req.headers());
        let Some(who) = R::from_extensions(req.extensions()) else {
            return Err(internal(lang, "a Post with a role on a route without its guard"));
        };
        let headers = req.headers().clone();
        let body = Bytes::from_request(req, state).await.map_err(IntoResponse::into_response)?;
        let form = check_post(&headers, &body)?;
        Ok(Post { who, form })
    }
}

/// A multipart post (an upload) whose Origin and role `R` were checked before the handler
/// runs. Its fields come only through [`MultipartPost::fields`], which checks that the
/// first one is the box-issued CSRF token: no byte of a forged upload is read further.
/// The handler may refuse first on the headers alone (a declared size too large).
pub struct MultipartPost<R: Role = Anyone> {
    pub who: R,
    headers: HeaderMap,
    multipart: axum::extract::Multipart,
}

impl<S: Send + Sync, R: Role> FromRequest<S> for MultipartPost<R> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let lang = Lang::from_headers(req.headers());
        let Some(who) = R::from_extensions(req.extensions()) else {
            return Err(internal(lang, "a MultipartPost with a role on a route without its guard"));
        };
        if !same_origin(req.headers()) {
            return Err(refused_post(lang));
        }
        let headers = req.headers().clone();
        let multipart =
            axum::extract::Multipart::from_request(req, state).await.map_err(IntoResponse::into_response)?;
        Ok(MultipartPost { who, headers, multipart })
    }
}

impl<R: Role> MultipartPost<R> {
    /// The remaining fields, once the first one proved to be this visitor's CSRF token.
    #[allow(clippy::result_large_err)]
    pub async fn fields(mut self) -> Result<axum::extract::Multipart, Response> {
        let lang = Lang::from_headers(&self.headers);
        let token = match self.multipart.next_field().await {
            Ok(Some(field)) if field.name() == Some("csrf") => field.text().await.ok(),
            _ => None,
        };
        check_token(&self.headers, token.as_deref()).map_err(|_| refused_post(lang))?;
        Ok(self.multipart)
    }
}

/// The page a post that failed its Origin or CSRF check gets.
fn refused_post(lang: Lang) -> Response {
    message(
        lang,
        StatusCode::FORBIDDEN,
        lang.t("Demande refusée", "Request refused"),
        lang.t(
            "Ce formulaire a expiré ou ne vient pas de cette boîte. Rechargez la page et recommencez.",
            "This form has expired or does not come from this box. Reload the page and try again.",
        ),
    )
}

/// Compares the submitted token with the cookie.
fn check_token(headers: &HeaderMap, submitted: Option<&str>) -> Result<(), ()> {
    match (cookie(headers, CSRF_COOKIE), submitted) {
        (Some(c), Some(s)) if is_csrf_token(c) && c.len() == s.len() => {
            // Constant-time comparison: no early exit on the first differing byte.
            let diff = c.bytes().zip(s.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 { Ok(()) } else { Err(()) }
        }
        _ => Err(()),
    }
}

/// The signed-in teacher, put in the request by [`teacher_guard`].
#[derive(Clone, Copy)]
pub struct TeacherId(pub i64);

/// The signed-in pupil, put in the request by [`pupil_guard`].
#[derive(Clone, Copy)]
pub struct PupilId(pub i64);

/// Lets through only a teacher session from the box's own pages. Anonymous visitors go
/// to the login page; a pupil session or a request from another origin (a sandboxed
/// pack page sends `Origin: null`) is refused.
pub async fn teacher_guard(State(app): State<Shared>, mut req: Request, next: Next) -> Response {
    let lang = Lang::from_headers(req.headers());
    if !same_origin(req.headers()) {
        return message(
            lang,
            StatusCode::FORBIDDEN,
            lang.t("Refusé", "Refused"),
            lang.t(
                "Cette demande ne vient pas d'une page de la boîte.",
                "This request does not come from a page of the box.",
            ),
        );
    }
    let who = {
        let (app, headers) = (app.clone(), req.headers().clone());
        off_worker(move || app.who(&headers)).await
    };
    match who {
        Some(Who::Teacher(id)) => {
            req.extensions_mut().insert(TeacherId(id));
            next.run(req).await
        }
        Some(Who::Pupil(_)) => message(
            lang,
            StatusCode::FORBIDDEN,
            lang.t("Réservé aux enseignants", "Teachers only"),
            lang.t("Cette page est réservée aux enseignants.", "This page is for teachers only."),
        ),
        None if req.method() == axum::http::Method::GET => {
            Redirect::to(&with_next("/teacher/login", req.uri())).into_response()
        }
        None => sign_in_first(lang),
    }
}

/// Lets through only a pupil session, and only within opening hours.
pub async fn pupil_guard(State(app): State<Shared>, mut req: Request, next: Next) -> Response {
    let lang = Lang::from_headers(req.headers());
    let (who, open) = {
        let (app, headers) = (app.clone(), req.headers().clone());
        off_worker(move || (app.who(&headers), app.is_open())).await
    };
    match who {
        Some(Who::Pupil(id)) => {
            if !open {
                let app = app.clone();
                return off_worker(move || closed_page(&app, lang)).await;
            }
            if req.method() != axum::http::Method::GET && !same_origin(req.headers()) {
                return message(
                    lang,
                    StatusCode::FORBIDDEN,
                    lang.t("Refusé", "Refused"),
                    lang.t(
                        "Cette demande ne vient pas d'une page de la boîte.",
                        "This request does not come from a page of the box.",
                    ),
                );
            }
            req.extensions_mut().insert(PupilId(id));
            next.run(req).await
        }
        Some(Who::Teacher(_)) => message(
            lang,
            StatusCode::FORBIDDEN,
            lang.t("Espace élève", "Pupil area"),
            lang.t(
                "Vous êtes connecté comme enseignant. Déconnectez-vous pour entrer comme élève.",
                "You are signed in as a teacher. Sign out to enter as a pupil.",
            ),
        ),
        None if req.method() == axum::http::Method::GET => {
            Redirect::to(&with_next("/login", req.uri())).into_response()
        }
        None => sign_in_first(lang),
    }
}

thread_local! {
    /// Set on a blocking-pool thread while it runs a handler's work for [`off_worker`].
    static OFF_WORKER: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is running work for [`off_worker`] (blocking is fine here).
pub fn is_off_worker() -> bool {
    OFF_WORKER.get()
}

/// Runs `f` inline, for callers that are already on the blocking pool without
/// [`off_worker`] (the pack server's page-open hook).
pub fn already_off_worker<T>(f: impl FnOnce() -> T) -> T {
    let was = OFF_WORKER.replace(true);
    let out = f();
    OFF_WORKER.set(was);
    out
}

/// Runs `f` on tokio's blocking pool (inline when already there) and returns its value.
/// Store calls (a mutex, an fsync on commit) and pack-file reads go through here, so a
/// one-core box keeps serving files while a quiz is committed. A panic in `f` goes on
/// in the caller, as if `f` had run inline.
pub async fn off_worker<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    if OFF_WORKER.get() {
        return f();
    }
    let done = tokio::task::spawn_blocking(move || {
        OFF_WORKER.set(true);
        let out = f();
        OFF_WORKER.set(false);
        out
    })
    .await;
    match done {
        Ok(v) => v,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("blocking task cancelled: {e}"),
        },
    }
}

/// The layer around every classroom route whose body is a small form (or none): reads
/// the body on the async worker (at most `limit` bytes; more is 413), then runs the
/// guard and handler on the blocking pool, where their SQLite calls and pack-file reads
/// belong. A new route under it cannot block a worker by mistake. Multipart uploads stay
/// on the worker to stream and call [`off_worker`] for their store work.
pub async fn on_blocking_pool(State(limit): State<usize>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response(),
    };
    let req = Request::from_parts(parts, Body::from(body));
    let runtime = tokio::runtime::Handle::current();
    // `block_on` on a blocking-pool thread: the handler's awaits (an argon2 slot, a
    // spawned install) still complete; the runtime's own threads drive I/O and timers.
    off_worker(move || runtime.block_on(next.run(req))).await
}

/// A form sent after the session ended (a GET is sent to the sign-in page instead).
fn sign_in_first(lang: Lang) -> Response {
    message(
        lang,
        StatusCode::UNAUTHORIZED,
        lang.t("Connexion nécessaire", "Sign in first"),
        lang.t(
            "Ta session a pris fin : reconnecte-toi, puis recommence.",
            "Your session has ended: sign in again, then try again.",
        ),
    )
}

/// `login?next=<the page asked for>`, so that signing in returns there.
fn with_next(login: &str, uri: &axum::http::Uri) -> String {
    let asked = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    match local_path(asked) {
        Some(p) => format!("{login}?next={}", form_urlencoded::byte_serialize(p.as_bytes()).collect::<String>()),
        None => login.to_string(),
    }
}

/// `next` when it is a path on this box (never another site: `//host`, `/\host`,
/// `https:`), bounded, without control characters.
pub fn local_path(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= 1000
        && !next.chars().any(|c| c.is_control());
    ok.then_some(next)
}

/// The friendly page pupils see outside opening hours, with when the box opens again.
pub fn closed_page(app: &App, lang: Lang) -> Response {
    let spec = app.store().setting("hours").ok().flatten().unwrap_or_default();
    let tz = app.tz_minutes();
    let next = hours::Hours::parse(&spec).ok().and_then(|h| h.next_opening(app.now(), tz));
    let text = match next {
        Some(t) => format!(
            "{} {}.",
            lang.t("Préau est fermé en ce moment. Il rouvre", "Préau is closed right now. It opens again on"),
            lang.date(t, tz)
        ),
        None => lang
            .t(
                "Préau est fermé en ce moment. Reviens pendant les heures d'ouverture !",
                "Préau is closed right now. Come back during opening hours!",
            )
            .to_string(),
    };
    message(lang, StatusCode::SERVICE_UNAVAILABLE, lang.t("La boîte se repose", "The box is resting"), &text)
}

/// Internal errors: logged, never shown (no stack trace for pupils).
pub fn internal(lang: Lang, e: impl std::fmt::Display) -> Response {
    tracing::error!("classroom application error: {e}");
    message(
        lang,
        StatusCode::INTERNAL_SERVER_ERROR,
        lang.t("Erreur", "Error"),
        lang.t("Un problème est survenu. Réessayez.", "Something went wrong. Try again."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn origin_check() {
        assert!(same_origin(&headers(&[("host", "preau.lan")])));
        assert!(same_origin(&headers(&[("host", "preau.lan"), ("origin", "http://preau.lan")])));
        assert!(!same_origin(&headers(&[("host", "preau.lan"), ("origin", "null")])));
        assert!(!same_origin(&headers(&[("host", "preau.lan"), ("origin", "http://evil.example")])));
        assert!(!same_origin(&headers(&[("host", "preau.lan"), ("sec-fetch-site", "cross-site")])));
        assert!(same_origin(&headers(&[("host", "preau.lan"), ("sec-fetch-site", "same-origin")])));
    }

    #[test]
    fn csrf_token_must_match_the_cookie() {
        let tok = new_csrf_token();
        let tok = tok.as_str();
        let mut h = headers(&[("host", "b")]);
        h.append("cookie", HeaderValue::from_str(&format!("x=1; preau_csrf={tok}")).unwrap());
        assert!(check_token(&h, Some(tok)).is_ok());
        let mut other = tok.to_string();
        other.replace_range(63.., if tok.ends_with('0') { "1" } else { "0" });
        assert!(check_token(&h, Some(&other)).is_err());
        assert!(check_token(&h, None).is_err());
        assert!(check_token(&headers(&[]), Some(tok)).is_err(), "no cookie");
        let body = format!("csrf={tok}&name=a");
        assert!(check_post(&h, body.as_bytes()).is_ok());
        assert!(check_post(&h, b"name=a").is_err());
        let mut foreign = h.clone();
        foreign.insert("origin", HeaderValue::from_static("null"));
        assert!(check_post(&foreign, body.as_bytes()).is_err(), "a sandboxed page is refused");
        // A fresh visitor gets a new token and a cookie to hold it.
        let c = Csrf::from_headers(&headers(&[]));
        assert!(c.cookie().unwrap().contains("HttpOnly; SameSite=Lax"));
        assert!(Csrf::from_headers(&h).cookie().is_none());
    }

    #[test]
    fn csrf_tokens_the_box_did_not_issue_are_refused() {
        // The flood of issue 14 sent the same made-up value as cookie and field.
        for made_up in ["0123456789abcdef0123456789abcdef", &"ab".repeat(32)] {
            let mut h = headers(&[("host", "b")]);
            h.append("cookie", HeaderValue::from_str(&format!("preau_csrf={made_up}")).unwrap());
            assert!(check_token(&h, Some(made_up)).is_err(), "{made_up}");
            assert!(Csrf::from_headers(&h).cookie().is_some(), "a made-up cookie is replaced");
        }
    }

    #[test]
    fn form_keeps_repeated_fields() {
        let f = Form::parse(b"a=1&b=x+y&a=2&c=%C3%A9");
        assert_eq!(f.all("a"), ["1", "2"]);
        assert_eq!(f.get("b"), Some("x y"));
        assert_eq!(f.text("c", 5).as_deref(), Some("é"));
        assert_eq!(f.text("c", 0), None);
    }
}
