//! Security headers added to every response that does not set its own.
//!
//! Pack content sets its own `Content-Security-Policy: sandbox …` (see `packs::serve`);
//! the box's own pages get a policy that forbids framing by other origins. Applied by the
//! connection service (`server::ConnService`) to every response of the router, rather
//! than as a router middleware, which would box a future per request.

use http::{HeaderMap, HeaderValue, header};

pub fn add_security_headers(h: &mut HeaderMap) {
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
}
