//! Packs held in memory, and a small French maths pack with a course outline, a quiz
//! and an assignment: what the application's tests (unit, browser, crash) run against.
//! Not used by `preau serve`, which reads installed packs from the data folder. Also a
//! browser stand-in ([`Client`]) that drives a router in process.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::json;
use tower::ServiceExt;

use super::context::{AppEnv, ImportSummary, InstallError, PackInfo, PackSource, StickError};

/// A pack's files by path.
pub type PackFiles = BTreeMap<String, Vec<u8>>;

#[derive(Default)]
pub struct MemPacks {
    packs: Mutex<BTreeMap<String, (PackInfo, PackFiles)>>,
}

impl MemPacks {
    pub fn add(&self, info: PackInfo, files: BTreeMap<String, Vec<u8>>) {
        self.packs.lock().unwrap().insert(info.id.clone(), (info, files));
    }
}

impl PackSource for MemPacks {
    fn list(&self) -> Vec<PackInfo> {
        self.packs.lock().unwrap().values().map(|(i, _)| i.clone()).collect()
    }
    fn read(&self, pack: &str, path: &str) -> Option<Vec<u8>> {
        self.packs.lock().unwrap().get(pack)?.1.get(path).cloned()
    }
    fn install_from_folder(&self, folder: &Path, _trust: Option<&str>) -> Result<String, InstallError> {
        Err(InstallError::Failed(format!("no installer in tests ({})", folder.display())))
    }
    fn import_file(&self, file: &Path) -> Result<ImportSummary, InstallError> {
        Err(InstallError::Failed(format!("no importer in tests ({})", file.display())))
    }
    fn remove(&self, pack: &str) -> Result<String, String> {
        self.packs.lock().unwrap().remove(pack).map(|_| "removed".to_string()).ok_or_else(|| format!("no pack {pack}"))
    }
    fn write_wants(&self, folder: &Path, _room: &dyn Fn(u64) -> Result<(), String>) -> Result<String, StickError> {
        Err(StickError::Failed(format!("no want-list in tests ({})", folder.display())))
    }
    fn fill_stick(&self, folder: &Path, _room: &dyn Fn(u64) -> Result<(), String>) -> Result<String, StickError> {
        Err(StickError::Failed(format!("no repository in tests ({})", folder.display())))
    }
}

/// The demo pack's id.
pub const DEMO: &str = "maths-cm2";

/// A pack with a page, a course outline, a five-question quiz (`quiz-1`) and an
/// assignment (`devoir-1`). The quiz's right answers: B (`3/4`), Vrai, `Paris`,
/// 12 (± 0.5), and an essay.
pub fn demo_pack() -> (PackInfo, BTreeMap<String, Vec<u8>>) {
    let info = PackInfo {
        id: DEMO.into(),
        title: "Fractions — CM2".into(),
        subject: "Mathématiques".into(),
        level: "CM2".into(),
        entry: "index.html".into(),
        size: 12_345,
    };
    let mut files = BTreeMap::new();
    files.insert(
        "index.html".into(),
        br#"<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>Fractions</title></head>
<body><h1 id="lesson">Les fractions</h1><p>Une fraction partage une unit&eacute; en parts &eacute;gales.</p>
<p><a id="to-quiz" href="_quiz/quiz-1">Faire le quiz</a></p>
<p><a href="_assign/devoir-1">Rendre le devoir</a></p></body></html>"#
            .to_vec(),
    );
    let course = json!({
        "title": "Fractions — CM2",
        "sections": [{
            "title": "Séquence 1",
            "activities": [
                {"id": "page-1", "kind": "page", "title": "Leçon", "path": "index.html", "available_offline": true},
                {"id": "quiz-1", "kind": "quiz", "title": "Quiz", "path": "_quiz/quiz-1", "available_offline": true},
                {"id": "devoir-1", "kind": "assign", "title": "Devoir", "path": "_assign/devoir-1", "available_offline": true},
                {"id": "forum-1", "kind": "forum", "title": "Forum", "path": "activities/forum-1.html", "available_offline": false}
            ]
        }]
    });
    files.insert("_preau/course.json".into(), course.to_string().into_bytes());
    let quiz = json!({
        "id": "quiz-1",
        "title": "Quiz des fractions",
        "intro_html": "<p>Réponds aux questions.</p>",
        "max_grade": 20.0,
        "questions": [
            {"id": "q1", "name": "Trois quarts", "text_html": "<p>Quelle fraction vaut $\\frac{3}{4}$ ?</p>", "type": "multichoice",
             "single": true, "shuffle": false,
             "choices": [
                {"text_html": "0,34", "fraction": 0.0, "feedback_html": "Non : 3 divisé par 4."},
                {"text_html": "0,75", "fraction": 1.0, "feedback_html": "Oui !"},
                {"text_html": "4,3", "fraction": 0.0}
             ]},
            {"id": "q2", "text_html": "<p>Un demi est égal à deux quarts.</p>", "type": "truefalse", "correct": true},
            {"id": "q3", "text_html": "<p>Capitale de la France ?</p>", "type": "shortanswer",
             "answers": [{"pattern": "Paris", "fraction": 1.0}]},
            {"id": "q4", "text_html": "<p>Combien font 3 × 4 ?</p>", "type": "numerical",
             "answers": [{"value": 12.0, "tolerance": 0.5, "fraction": 1.0}]},
            {"id": "q5", "mark": 2.0, "text_html": "<p>Explique ce qu'est une fraction.</p>", "type": "essay"}
        ]
    });
    files.insert("_preau/quiz/quiz-1.json".into(), quiz.to_string().into_bytes());
    let assign = json!({
        "id": "devoir-1", "title": "Mon devoir", "intro_html": "<p>Rends ta fiche.</p>",
        "accepts_text": true, "accepts_file": true, "max_bytes": 100000, "allowed_extensions": ["txt", "pdf"]
    });
    files.insert("_preau/assign/devoir-1.json".into(), assign.to_string().into_bytes());
    (info, files)
}

/// An application context over a data folder and the demo pack.
pub fn demo_context(data_dir: &Path) -> AppEnv {
    let packs = MemPacks::default();
    let (info, files) = demo_pack();
    packs.add(info, files);
    AppEnv {
        data_dir: data_dir.to_path_buf(),
        box_id: "test-box".into(),
        school: "École de test".into(),
        setup_code: Some("24681357".into()),
        packs: Arc::new(packs),
        sync_status: None,
        upstream: None,
        search: None,
        config_problem: None,
        hotspot: None,
    }
}

/// Serves pack files at `/packs/{id}/{path}` with the CSP `sandbox` the HTTP core uses.
/// TEMPORARY stand-in for the core's pack server in the application's own tests.
pub fn pack_files(ctx: &AppEnv) -> axum::Router {
    use axum::extract::{Path as P, State};
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    let packs = ctx.packs.clone();
    axum::Router::new()
        .route(
            "/packs/{id}/{*path}",
            axum::routing::get(
                |State(packs): State<Arc<dyn PackSource>>, P((id, path)): P<(String, String)>| async move {
                    if path.starts_with("_preau/") {
                        return StatusCode::NOT_FOUND.into_response();
                    }
                    match packs.read(&id, &path) {
                        Some(bytes) => {
                            let ty = mime_guess::from_path(&path).first_or_octet_stream().to_string();
                            (
                                [
                                    (header::CONTENT_TYPE, ty),
                                    (
                                        header::CONTENT_SECURITY_POLICY,
                                        "sandbox allow-scripts allow-forms allow-popups".to_string(),
                                    ),
                                ],
                                bytes,
                            )
                                .into_response()
                        }
                        None => StatusCode::NOT_FOUND.into_response(),
                    }
                },
            ),
        )
        .with_state(packs)
}

/// A browser stand-in: keeps cookies, sends `Host`, adds the CSRF token to forms.
pub struct Client {
    pub router: Router,
    pub cookies: BTreeMap<String, String>,
    /// The `Origin` header sent with every request, if any.
    pub origin: Option<&'static str>,
    /// The TCP peer the box's server would record (`ConnectInfo`), if any.
    pub peer: Option<std::net::SocketAddr>,
}

/// A response, its body read whole.
pub struct Resp {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: String,
    pub headers: axum::http::HeaderMap,
}

impl Client {
    /// A client at `ip` (as the box's server would see it).
    pub fn at(router: Router, ip: &str) -> Client {
        Client {
            peer: Some(std::net::SocketAddr::new(ip.parse().expect("an IP address"), 40000)),
            ..Client::new(router)
        }
    }

    pub fn new(router: Router) -> Client {
        Client { router, cookies: BTreeMap::new(), origin: None, peer: None }
    }

    pub async fn send(&mut self, req: axum::http::request::Builder, body: Body) -> Resp {
        let cookie = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let mut req = req.header(header::HOST, "preau.test");
        if !cookie.is_empty() {
            req = req.header(header::COOKIE, cookie);
        }
        if let Some(o) = self.origin {
            req = req.header(header::ORIGIN, o);
        }
        if let Some(peer) = self.peer {
            req = req.extension(axum::extract::ConnectInfo(peer));
        }
        let resp = self.router.clone().oneshot(req.body(body).unwrap()).await.unwrap();
        for v in resp.headers().get_all(header::SET_COOKIE) {
            let v = v.to_str().unwrap();
            let (kv, _) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = kv.split_once('=').unwrap();
            if val.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.into(), val.into());
            }
        }
        let status = resp.status();
        let headers = resp.headers().clone();
        let location = headers.get(header::LOCATION).map(|v| v.to_str().unwrap().to_string());
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24).await.unwrap();
        Resp { status, location, body: String::from_utf8_lossy(&bytes).into_owned(), headers }
    }

    pub async fn get(&mut self, path: &str) -> Resp {
        self.send(Request::get(path), Body::empty()).await
    }

    /// Posts a form, with the CSRF token from the cookie jar (fetching a page first if
    /// this client has no token yet).
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Resp {
        if !self.cookies.contains_key("preau_csrf") {
            self.get("/logout").await;
        }
        let token = self.cookies.get("preau_csrf").cloned().unwrap_or_default();
        // The serializer is not `Send`: finish it before awaiting, so posts can be spawned.
        let body = {
            let mut ser = form_urlencoded::Serializer::new(String::new());
            ser.append_pair("csrf", &token);
            for (k, v) in fields {
                ser.append_pair(k, v);
            }
            ser.finish()
        };
        let req = Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        self.send(req, Body::from(body)).await
    }
}
