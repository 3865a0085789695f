//! Small answers shared by the HTTP core's layers: the accept loop (`server`) and pack
//! serving (`packs`) both use them, so they live below both.

use axum::body::Body;
use http::{Response, StatusCode, header};

/// A short plain-text response (French first, then English).
pub fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from(text))
        .expect("static response")
}
