//! The box's router: the HTTP core's routes, and the one place where an application's
//! routes (the classroom app's, handed in by `wiring`) are merged with them. The core
//! never imports the application. The box's security headers are added to its responses
//! by `server::ConnService`.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::get;
use http::{HeaderValue, Response, StatusCode, header};

use super::captive;
use crate::packs::repo_static::repo_file;
use crate::packs::serve::{Serving, api_packs, not_found, pack_file, pack_root, pack_root_redirect};

/// Default limit for bodies read by axum extractors (forms, JSON). A route that takes
/// uploads sets its own `DefaultBodyLimit`, up to the server's hard `max_body_bytes`.
pub const DEFAULT_BODY_LIMIT: usize = 256 * 1024;

/// Builds the whole router: the core's routes around `serving`, and `app` (the
/// classroom application's routes, with the default body limit).
pub fn router(serving: Arc<Serving>, app: Router) -> Router {
    let core = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/packs", get(api_packs))
        .route("/packs/{id}", get(pack_root_redirect))
        .route("/packs/{id}/", get(pack_root))
        .route("/packs/{id}/{*path}", get(pack_file))
        .route("/repo/{*path}", get(repo_file))
        .with_state(serving)
        .merge(captive::router());
    // The body limit wraps the application's routes only: the core routes read no body,
    // and each layer is one more service call per request. The security headers are
    // added by the connection service (`server::ConnService`), for every response.
    core.merge(app.layer(DefaultBodyLimit::max(DEFAULT_BODY_LIMIT))).fallback(|| async { not_found() })
}

async fn healthz(State(s): State<Arc<Serving>>) -> Response<Body> {
    let body = serde_json::json!({
        "status": "ok",
        "packs": s.packs.len(),
        "catalog_version": s.packs.catalog_version(),
        "version": env!("CARGO_PKG_VERSION"),
    });
    let mut r = Response::new(Body::from(body.to_string()));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn metrics(State(s): State<Arc<Serving>>) -> Response<Body> {
    let text = s.metrics.render(s.packs.len(), s.cache.bytes());
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = StatusCode::OK;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
