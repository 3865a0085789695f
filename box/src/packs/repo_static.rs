//! `GET /repo/…`: the box's installed packs as a static repository (root.json,
//! catalog.json and its nodes, installed.json, objects/…), so another box or `preau sync pull` can pull
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
/// Largest private object sealed in one response (chunks are at most 256 KiB; a delta
/// of a big private file is bounded like a manifest).
const MAX_PRIVATE_OBJECT_BYTES: u64 = preau_pack::limits::MAX_MANIFEST_BYTES;

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

/// Whether `rel` may be served in clear. Deny by default: an object only when the
/// server knows it is public (a manifest, or used by a public file of an installed or
/// kept version), so the objects of a version installed after the last reload are
/// refused until the server has classified them; a kept update bundle only when its pack
/// has no private files. Quiz answers never leave in clear, whoever asks: boxes of the
/// school get them sealed from `private/<hash>` ([`private_object`]).
fn may_read(s: &Serving, rel: &str) -> bool {
    let name = || rel.rsplit('/').next().and_then(|n| n.parse::<preau_pack::Hash>().ok());
    if rel.starts_with("objects/") {
        name().is_some_and(|h| s.packs.is_public_object(&h))
    } else if rel.starts_with("updates/") {
        name().is_some_and(|h| s.packs.is_public_update(&h))
    } else {
        // Signed metadata: root, catalog, installed.json.
        !rel.starts_with(preau_sync::private::PRIVATE_DIR)
    }
}

fn forbidden() -> Response<Body> {
    let mut r = Response::new(Body::from(
        "Objet privé (réponses de quiz) ou pas encore classé : jamais servi en clair. Les boîtes qui ont le même \
         [sync] peer_token le reçoivent chiffré.\n\
         Private object (quiz answers) or not classified yet: never served in clear. Boxes with the same \
         [sync] peer_token receive it encrypted.\n",
    ));
    *r.status_mut() = StatusCode::FORBIDDEN;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// `GET /repo/private/<hash>`: a private object sealed under the school's key (see
/// `preau_sync::private`). 404 when the box has no `peer_token` or the object is not a
/// private one of its installed or kept versions. Anyone may ask; only a box that knows
/// the secret can open the answer.
async fn private_object(s: Arc<Serving>, hex: &str) -> Response<Body> {
    let Ok(hash) = hex.parse::<preau_pack::Hash>() else { return not_found() };
    if s.school_key.is_none() || !s.packs.is_private_object(&hash) {
        return not_found();
    }
    let sealed = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<u8>> {
        let path = s.packs.repo_dir().join(preau_pack::repo::object_rel_path(&hash));
        let stored = preau_pack::repo::read_bounded(&path, MAX_PRIVATE_OBJECT_BYTES)?;
        let key = s.school_key.as_ref().expect("checked above");
        Ok(key.seal(&hash, &stored)?)
    })
    .await;
    match sealed {
        Ok(Ok(body)) => {
            let mut r = Response::new(Body::from(body));
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        _ => not_found(),
    }
}

pub async fn repo_file(State(s): State<Arc<Serving>>, Path(path): Path<String>, headers: HeaderMap) -> Response<Body> {
    let Some(rel) = checked_path(&path) else { return not_found() };
    if let Some(hex) = rel.strip_prefix(preau_sync::private::PRIVATE_DIR).and_then(|r| r.strip_prefix('/')) {
        return private_object(s, hex).await;
    }
    if !may_read(&s, rel) {
        return forbidden();
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
    let immutable = rel.starts_with("objects/") || rel.starts_with("catalog/");
    // Objects and catalog nodes are named by their content; other files change in place (by rename), so
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
