//! Captive-portal probes: answered so that a phone joining the box's Wi-Fi opens the box.
//!
//! When the box's DNS sends every name to the box, each system's connectivity check
//! lands here. Answering anything but the expected "internet is fine" reply (204 for
//! Android, `Success` for Apple, `Microsoft Connect Test` for Windows, `success` for
//! Firefox) makes the device show its "sign in to network" sheet; we answer with a
//! redirect to the box's own page, which that sheet then opens.

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::routing::get;
use http::{HeaderValue, Response, StatusCode, header};

use crate::server::ConnInfo;

/// The probe paths of Android, ChromeOS, Apple, Windows and Firefox.
pub const PROBE_PATHS: &[&str] = &[
    "/generate_204",
    "/gen_204",
    "/hotspot-detect.html",
    "/library/test/success.html",
    "/connecttest.txt",
    "/ncsi.txt",
    "/redirect",
    "/canonical.html",
    "/success.txt",
];

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut r = Router::new();
    for p in PROBE_PATHS {
        r = r.route(p, get(probe));
    }
    r
}

/// Redirects to the box's root page on the address the device actually reached.
async fn probe(req: Request) -> Response<Body> {
    let target = match req.extensions().get::<ConnInfo>() {
        Some(info) => format!("http://{}/", info.local),
        None => "/".to_string(),
    };
    let html = format!(
        "<!doctype html><meta charset=utf-8><title>Préau</title><a href=\"{target}\">Ouvrir Préau — Open Préau</a>\n"
    );
    let mut resp = Response::new(Body::from(html));
    *resp.status_mut() = StatusCode::FOUND;
    let h = resp.headers_mut();
    h.insert(header::LOCATION, HeaderValue::from_str(&target).unwrap_or(HeaderValue::from_static("/")));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    // Probes must never be cached, or the device stops asking after the first answer.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
