//! `GET /repo/…`: the box's installed packs as a static repository (root.json,
//! catalog.json, installed.json, objects/…), so another box or `preau sync pull` can pull
//! from this one. Read-only; Range for resuming; objects are content-addressed and so
//! cached forever, the rest revalidates.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::UNIX_EPOCH;

use axum::body::Body;
use axum::extract::{Path, State};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};

use super::range::{self, RangeAnswer};
use super::serve::{PIECE_BYTES, Serving, if_none_match, not_found};

/// Deepest path served (`objects/ab/abcd…` is 3).
const MAX_DEPTH: usize = 6;

/// Checks a repository path: plain names of `[A-Za-z0-9._-]`, none starting with `.`
/// (no `..`, no temporary files of an apply in progress).
fn checked_path(path: &str) -> Option<&str> {
    let parts: Vec<&str> = path.split('/').collect();
    let ok = !path.is_empty()
        && path.len() <= 512
        && parts.len() <= MAX_DEPTH
        && parts.iter().all(|p| {
            !p.is_empty() && !p.starts_with('.') && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        });
    ok.then_some(path)
}

/// Whether a request for `objects/…` may have that object: the objects of private
/// `_preau/` files (quiz answers) go only to peer boxes that send the school's
/// `[sync] peer_token`, never to a pupil's browser on the same network.
/// The update bundles the box kept (`updates/…`) may hold such objects too: they go
/// only to peers with the token.
fn may_read(s: &Serving, rel: &str, headers: &HeaderMap) -> bool {
    if !rel.starts_with("updates/") {
        let Some(name) = rel.strip_prefix("objects/").and_then(|r| r.rsplit('/').next()) else { return true };
        let Ok(hash) = name.parse::<preau_pack::Hash>() else { return true };
        if !s.packs.is_private_object(&hash) {
            return true;
        }
    }
    let Some(token) = &s.peer_token else { return false };
    let sent = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    sent.is_some_and(|t| constant_time_eq(t.as_bytes(), token.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub async fn repo_file(State(s): State<Arc<Serving>>, Path(path): Path<String>, headers: HeaderMap) -> Response<Body> {
    let Some(rel) = checked_path(&path) else { return not_found() };
    if !may_read(&s, rel, &headers) {
        let mut r = Response::new(Body::from(
            "Objet privé (réponses de quiz) : réservé aux boîtes qui ont le même [sync] peer_token.\n\
             Private object (quiz answers): only for boxes with the same [sync] peer_token.\n",
        ));
        *r.status_mut() = StatusCode::FORBIDDEN;
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        return r;
    }
    let full: PathBuf = s.packs.repo_dir().join(rel);
    let opened = tokio::task::spawn_blocking(move || -> std::io::Result<(File, std::fs::Metadata)> {
        let f = File::open(&full)?;
        let m = f.metadata()?;
        Ok((f, m))
    })
    .await;
    let (file, meta) = match opened {
        Ok(Ok((f, m))) if m.is_file() => (f, m),
        _ => return not_found(),
    };
    let size = meta.len();
    let immutable = rel.starts_with("objects/");
    // Objects are named by their content; other files change in place (by rename), so
    // their tag is made of size and modification time.
    let etag = if immutable {
        format!("\"{}\"", rel.rsplit('/').next().unwrap_or(rel))
    } else {
        let mtime =
            meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_nanos()).unwrap_or(0);
        format!("\"{size:x}-{mtime:x}\"")
    };
    let mut common = HeaderMap::new();
    common.insert(header::ETAG, HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"x\"")));
    common.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    common.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if immutable { "public, max-age=31536000, immutable" } else { "no-cache" }),
    );
    if if_none_match(&headers, etag.as_bytes()) {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r.headers_mut().extend(common);
        return r;
    }
    let content_type = if rel.ends_with(".json") { "application/json" } else { "application/octet-stream" };
    common.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let (status, start, len) = match range::parse(headers.get(header::RANGE).and_then(|v| v.to_str().ok()), size) {
        RangeAnswer::Whole => (StatusCode::OK, 0, size),
        RangeAnswer::Part { start, len } => (StatusCode::PARTIAL_CONTENT, start, len),
        RangeAnswer::Unsatisfiable => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            r.headers_mut()
                .insert(header::CONTENT_RANGE, HeaderValue::from_str(&format!("bytes */{size}")).expect("ascii"));
            r.headers_mut().extend(common);
            return r;
        }
    };
    let metrics = s.metrics.clone();
    let file = Arc::new(std::sync::Mutex::new(file));
    let stream = futures_util::stream::unfold((start, start + len), move |(pos, end)| {
        let file = file.clone();
        let metrics = metrics.clone();
        async move {
            if pos >= end {
                return None;
            }
            let n = (end - pos).min(PIECE_BYTES);
            let read = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
                let mut f = file.lock().unwrap_or_else(|e| e.into_inner());
                f.seek(SeekFrom::Start(pos))?;
                let mut buf = vec![0u8; n as usize];
                f.read_exact(&mut buf)?;
                Ok(buf)
            })
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
            match read {
                Ok(buf) => {
                    metrics.pack_bytes_sent.fetch_add(n, Relaxed);
                    Some((Ok::<Bytes, std::io::Error>(Bytes::from(buf)), (pos + n, end)))
                }
                // A file cut short under us (it cannot be, objects are immutable): end the body.
                Err(e) => Some((Err(e), (end, end))),
            }
        }
    });
    let mut r = Response::new(Body::from_stream(stream));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if status == StatusCode::PARTIAL_CONTENT {
        let cr = format!("bytes {start}-{}/{size}", start + len - 1);
        r.headers_mut().insert(header::CONTENT_RANGE, HeaderValue::from_str(&cr).expect("ascii"));
    }
    r.headers_mut().extend(common);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_paths() {
        assert!(checked_path("catalog.json").is_some());
        assert!(checked_path("objects/ab/abcdef").is_some());
        for bad in
            ["", "../x", "objects/../../etc/passwd", ".tmp-catalog", "a//b", "/etc/passwd", "a\\b", "objects/ab/.x"]
        {
            assert!(checked_path(bad).is_none(), "{bad}");
        }
    }
}
