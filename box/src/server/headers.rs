//! Security headers added to every response that does not set its own.
//!
//! Pack content sets its own `Content-Security-Policy: sandbox …` (see `packs::serve`);
//! the box's own pages get a policy that forbids framing by other origins.

use axum::body::Body;
use http::{HeaderValue, Response, header};

pub async fn add_security_headers(mut resp: Response<Body>) -> Response<Body> {
    let h = resp.headers_mut();
    h.entry(header::X_CONTENT_TYPE_OPTIONS).or_insert(HeaderValue::from_static("nosniff"));
    h.entry(header::REFERRER_POLICY).or_insert(HeaderValue::from_static("same-origin"));
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        // Only for the box's own pages: pack pages may frame each other inside their sandbox.
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("SAMEORIGIN"));
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("frame-ancestors 'self'; base-uri 'self'; object-src 'none'"),
        );
    }
    resp
}
