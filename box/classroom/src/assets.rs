//! Static assets (style sheet, the little JavaScript, KaTeX, the icon) embedded in the
//! binary, served light: each gzipped at level 9 when the crate is built (`build.rs`, as
//! pack files are compressed when a pack is built), under a name carrying its content
//! hash (`preau.3f2a9c1e.css`) with a year of immutable caching, so that a revisit sends
//! no body at all; the plain name stays valid (a day's caching) for pages cached before
//! an update. ETags answer conditional requests with 304.

use std::collections::HashMap;
use std::io::Write;
use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// `(path under assets/, plain bytes, gzip bytes when smaller, content hash)`, written by
/// `build.rs`.
type Entry = (&'static str, &'static [u8], Option<&'static [u8]>, &'static str);
const EMBEDDED: &[Entry] = include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// One asset, ready to send.
struct Asset {
    raw: &'static [u8],
    /// Made at build time; `None` when gzip does not make it smaller (fonts).
    gz: Option<&'static [u8]>,
    /// The first 8 hex digits of its BLAKE3: in its hashed name and its ETag.
    hash: &'static str,
    mime: String,
}

static ASSETS: LazyLock<HashMap<&'static str, Asset>> = LazyLock::new(|| {
    EMBEDDED
        .iter()
        .map(|&(path, raw, gz, hash)| {
            let mime = mime_guess::from_path(path).first_or_octet_stream().to_string();
            (path, Asset { raw, gz, hash, mime })
        })
        .collect()
});

/// `name.ext` → `name.<hash>.ext`; the name itself when unknown.
fn hashed(path: &str, hash: &str) -> String {
    match path.rsplit_once('.') {
        Some((stem, ext)) if !stem.ends_with('/') => format!("{stem}.{hash}.{ext}"),
        _ => format!("{path}.{hash}"),
    }
}

/// The URL pages use for an asset: its content-hashed name under `/static/`.
pub fn url(path: &str) -> String {
    match ASSETS.get(path) {
        Some(a) => format!("/static/{}", hashed(path, a.hash)),
        None => format!("/static/{path}"),
    }
}

/// The asset a requested name means, and whether the name carried its current hash.
fn lookup(path: &str) -> Option<(&'static Asset, bool)> {
    if let Some(a) = ASSETS.get(path) {
        return Some((a, false));
    }
    let (stem, ext) = path.rsplit_once('.')?;
    let (base, hash) = stem.rsplit_once('.')?;
    let plain = format!("{base}.{ext}");
    let a = ASSETS.get(plain.as_str())?;
    (a.hash == hash).then_some((a, true))
}

pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |e| {
            let mut it = e.split(';');
            let name = it.next().unwrap_or("").trim();
            let refused = it.any(|p| p.trim().replace(' ', "") == "q=0");
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        },
    )
}

/// `GET /static/{*path}`
pub async fn serve(headers: HeaderMap, Path(path): Path<String>) -> Response {
    respond(&headers, &path)
}

/// `GET /favicon.ico`: the box's icon (SVG; browsers read it by its type).
pub async fn favicon(headers: HeaderMap) -> Response {
    respond(&headers, "favicon.svg")
}

fn respond(headers: &HeaderMap, path: &str) -> Response {
    let Some((asset, immutable)) = lookup(path) else {
        return (StatusCode::NOT_FOUND, "introuvable / not found").into_response();
    };
    let gz = if accepts_gzip(headers) { asset.gz } else { None };
    let gzip = gz.is_some();
    let etag = format!("\"{}{}\"", asset.hash, if gzip { ".gz" } else { "" });
    let matched = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim().trim_start_matches("W/") == etag));
    let mut resp = if matched {
        StatusCode::NOT_MODIFIED.into_response()
    } else if let Some(gz) = gz {
        gz.into_response()
    } else {
        asset.raw.into_response()
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&asset.mime) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if gzip && !matched {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    // A hashed name never changes content: cache it for a year. A plain name may change
    // with the binary: a day.
    let cache = if immutable { "public, max-age=31536000, immutable" } else { "public, max-age=86400" };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}

/// Largest page the box compresses (its pages are a few kilobytes).
const MAX_PAGE_BYTES: usize = 2 * 1024 * 1024;

/// The layer around the classroom's routes: HTML pages go out gzipped to browsers that
/// ask (every browser does, even on plain HTTP). Pages are personal and `no-store`, so
/// each is compressed as it is made; at a few kilobytes that costs well under a
/// millisecond.
pub async fn gzip_pages(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let gzip = accepts_gzip(req.headers());
    let resp = next.run(req).await;
    let html = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !gzip || !html || resp.headers().contains_key(header::CONTENT_ENCODING) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_PAGE_BYTES).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "page too large").into_response();
    };
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    let Ok(gz) = enc.write_all(&bytes).and_then(|_| enc.finish()) else {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    parts.headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    parts.headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(gz))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names_resolve_and_stale_hashes_do_not() {
        let u = url("preau.css");
        let name = u.strip_prefix("/static/").unwrap();
        assert!(
            name.starts_with("preau.") && name.ends_with(".css") && name.len() == "preau.12345678.css".len(),
            "{u}"
        );
        assert!(matches!(lookup(name), Some((_, true))));
        assert!(matches!(lookup("preau.css"), Some((_, false))));
        assert!(lookup("preau.00000000.css").is_none());
        assert!(url("katex/katex.min.js").starts_with("/static/katex/katex.min."));
        assert!(lookup("../Cargo.toml").is_none());
    }

    #[test]
    fn gzip_forms_are_made_at_build_time_and_match() {
        for name in ["preau.css", "preau.js", "katex/katex.min.js", "katex/katex.min.css", "favicon.svg"] {
            let a = ASSETS.get(name).unwrap_or_else(|| panic!("{name} is embedded"));
            let gz = a.gz.unwrap_or_else(|| panic!("{name} has its gzip form"));
            let mut plain = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz), &mut plain).unwrap();
            assert_eq!(plain, a.raw, "{name}");
            assert!(gz.len() < a.raw.len() / 2 || name == "favicon.svg", "{name}: {} of {}", gz.len(), a.raw.len());
            assert_eq!(a.hash, &blake3::hash(a.raw).to_hex()[..8]);
        }
        // Fonts are already compressed: sent as they are.
        assert!(ASSETS.get("katex/fonts/KaTeX_Main-Regular.woff2").unwrap().gz.is_none());
    }

    #[test]
    fn gzip_is_offered_only_to_who_asks() {
        let mut h = HeaderMap::new();
        assert!(!accepts_gzip(&h));
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip, deflate"));
        assert!(accepts_gzip(&h));
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("br, gzip;q=0"));
        assert!(!accepts_gzip(&h));
    }
}
