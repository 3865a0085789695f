//! `GET /packs/{id}/{path}` and `GET /api/packs`: installed packs to browsers.
//!
//! - Strong ETag from the file's BLAKE3 (one per representation: `"h"`, `"h.gz"`,
//!   `"h.md"`), `If-None-Match` → 304.
//! - `Range` → 206, reading only the chunks that hold the range (video seeking).
//! - gzip for compressible types when the browser asks for it, computed once per file
//!   and kept in the [`Cache`]; files too large for the cache are sent as they are.
//! - Pack content is untrusted HTML: every response carries
//!   `Content-Security-Policy: sandbox …` without `allow-same-origin`, so its scripts run
//!   in an opaque origin and cannot read or use a teacher's session.
//! - `_preau/…` is never served; `.md` files are rendered to HTML (`?raw` for the bytes).

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use preau_pack::FileEntry;

use super::cache::{Cache, Form};
use super::range::{self, RangeAnswer};
use super::{Library, Pack, is_private};
use crate::metrics::Metrics;
use crate::respond::plain;

/// The sandbox for pack content: scripts, forms, pop-ups and downloads work, but the
/// page gets an opaque origin (no `allow-same-origin`): no cookies, no storage of the
/// box's origin, and its requests to the box are cross-origin.
pub const PACK_CSP: &str = "sandbox allow-scripts allow-forms allow-popups allow-downloads";

/// Bytes per read when streaming a large file or range (a chunk is at most 256 KiB).
pub const PIECE_BYTES: u64 = 256 * 1024;
/// Files smaller than this are not worth compressing.
const MIN_GZIP_BYTES: u64 = 256;
/// Most entries shown in a generated file index.
const MAX_INDEX_ENTRIES: usize = 5000;

/// Called for each page (HTML or Markdown) of a pack served with status 200 to a request
/// that carries a `Cookie` header, with the request headers, the pack id and the path: the
/// app records signed-in pupils' progress with it (a request without cookies has no
/// session, so it is not worth the hand-off to a blocking thread).
pub type OpenHook = Arc<dyn Fn(&HeaderMap, &str, &str) + Send + Sync>;

/// What the pack handlers share.
pub struct Serving {
    pub packs: Arc<Library>,
    pub cache: Cache,
    pub metrics: Arc<Metrics>,
    pub on_open: Option<OpenHook>,
    /// The key derived from `[sync] peer_token`: private objects leave `/repo/` only
    /// sealed under it (`/repo/private/<hash>`), never in clear.
    pub school_key: Option<preau_sync::private::SchoolKey>,
}

impl Serving {
    pub fn new(packs: Arc<Library>, cache: Cache, metrics: Arc<Metrics>) -> Serving {
        Serving { packs, cache, metrics, on_open: None, school_key: None }
    }

    /// Runs the open hook off the request path (it may write to SQLite).
    fn opened(&self, resp: &Resp, headers: &HeaderMap, id: &str, path: &str) {
        let Some(hook) = &self.on_open else { return };
        // A page the browser revalidated (304) was opened too: on a shared tablet the
        // next pupil gets the cached copy, and their progress must still count it.
        let is_page = headers.contains_key(header::COOKIE)
            && match resp.status() {
                StatusCode::OK => {
                    resp.headers().get(header::CONTENT_TYPE).is_some_and(|t| t.as_bytes().starts_with(b"text/html"))
                }
                StatusCode::NOT_MODIFIED => is_page_path(path),
                _ => false,
            };
        if is_page {
            let (hook, headers, id, path) = (hook.clone(), headers.clone(), id.to_string(), path.to_string());
            tokio::task::spawn_blocking(move || hook(&headers, &id, &path));
        }
    }
}

/// Whether a pack path names a page (what a 304 answer, which has no Content-Type, was
/// for): HTML, Markdown (served rendered), or the pack's entry.
fn is_page_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    path.is_empty()
        || path.ends_with('/')
        || [".html", ".htm", ".xhtml"].iter().any(|e| lower.ends_with(e))
        || is_markdown(path)
}

/// A pack file named by a request path, found before any routing (see [`Serving::direct`]).
pub struct Direct {
    pack: Arc<Pack>,
    index: usize,
}

impl Serving {
    /// The pack file that `GET {uri_path}` names, when the server may answer it without
    /// the router: `/packs/{id}/{path}` where `path` is a public file of the installed
    /// pack `id` whose first segment does not start with `_` (`_quiz/…` and `_assign/…`
    /// are the classroom app's routes, `_preau/…` is never served). Everything else
    /// (`None`: directories, redirects, 404s, the app's routes, odd encodings) goes
    /// through the router, whose `pack_file` answers a file exactly as
    /// [`Serving::serve_direct`] does. This skips, for the bulk of a class's requests,
    /// the router's per-request work: route lookup, a boxed clone of the route's
    /// service, a boxed handler future, path parameters copied into the extensions and
    /// deserialised again.
    pub fn direct(&self, uri_path: &str) -> Option<Direct> {
        let rest = uri_path.strip_prefix("/packs/")?;
        let (id, path) = rest.split_once('/')?;
        if path.is_empty() || path.starts_with('_') || path.ends_with('/') {
            return None;
        }
        let pack = self.packs.get(&percent_decode(id)?)?;
        let path = percent_decode(path)?;
        if path.starts_with('_') {
            return None;
        }
        let index = pack.manifest.files.binary_search_by(|f| f.path.as_str().cmp(&path)).ok()?;
        Some(Direct { pack, index })
    }

    /// Answers a request for a file found by [`Serving::direct`].
    pub async fn serve_direct(&self, d: Direct, headers: &HeaderMap, query: Option<&str>) -> Resp {
        let entry = &d.pack.manifest.files[d.index];
        let resp = serve_entry(self, entry, &d.pack.manifest.meta.language, headers, query).await;
        self.opened(&resp, headers, &d.pack.id, &entry.path);
        resp
    }
}

/// Decodes `%XX` escapes of one URL path part (borrowed when there are none); `None` for
/// a bad escape or bytes that are not UTF-8 (the router then answers, as before).
use preau_pack::text::percent_decode_strict as percent_decode;

type Resp = Response<Body>;

/// `GET /packs/{id}`: the pack's root needs the trailing slash for relative links.
pub async fn pack_root_redirect(Path(id): Path<String>) -> Resp {
    redirect(&format!("/packs/{}/", encode_path(&id)))
}

/// `GET /packs/{id}/`: the entry page, `index.html`, or a generated index.
pub async fn pack_root(State(s): State<Arc<Serving>>, Path(id): Path<String>, req: Request) -> Resp {
    let headers = req.headers();
    let Some(pack) = s.packs.get(&id) else { return not_found() };
    let entry = pack.manifest.meta.entry.trim_start_matches('/');
    if !entry.is_empty() && entry != "index.html" && pack.public_file(entry).is_some() {
        return redirect(&format!("/packs/{}/{}", encode_path(&id), encode_path(entry)));
    }
    let resp = dir_or_index(&s, &pack, "", headers, None).await;
    s.opened(&resp, headers, &id, "");
    resp
}

/// `GET /packs/{id}/{*path}`. Takes the request itself (not a copy of its headers) and
/// reads its headers and query in place.
pub async fn pack_file(State(s): State<Arc<Serving>>, Path((id, path)): Path<(String, String)>, req: Request) -> Resp {
    let (headers, query) = (req.headers(), req.uri().query());
    let Some(pack) = s.packs.get(&id) else { return not_found() };
    if is_private(&path) {
        return not_found();
    }
    let resp = if path.ends_with('/') {
        dir_or_index(&s, &pack, &path, headers, query).await
    } else {
        match pack.public_file(&path) {
            Some(entry) => serve_entry(&s, entry, &pack.manifest.meta.language, headers, query).await,
            None if has_dir(&pack, &format!("{path}/")) => {
                redirect(&format!("/packs/{}/{}/", encode_path(&id), encode_path(&path)))
            }
            None => not_found(),
        }
    };
    s.opened(&resp, headers, &id, &path);
    resp
}

async fn dir_or_index(s: &Serving, pack: &Pack, dir: &str, headers: &HeaderMap, query: Option<&str>) -> Resp {
    if let Some(entry) = pack.public_file(&format!("{dir}index.html")) {
        return serve_entry(s, entry, &pack.manifest.meta.language, headers, query).await;
    }
    if !dir.is_empty() && !has_dir(pack, dir) {
        return not_found();
    }
    let html = file_index(pack, dir);
    let mut resp = Response::new(Body::from(html));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PACK_CSP));
    resp
}

fn has_dir(pack: &Pack, dir: &str) -> bool {
    let files = &pack.manifest.files;
    let i = files.partition_point(|f| f.path.as_str() < dir);
    files.get(i).is_some_and(|f| f.path.starts_with(dir) && !is_private(&f.path))
}

/// An HTML list of the files and folders directly inside `dir` (`""` for the root).
fn file_index(pack: &Pack, dir: &str) -> String {
    let files = &pack.manifest.files;
    let start = files.partition_point(|f| f.path.as_str() < dir);
    let mut names: Vec<(String, u64, bool)> = Vec::new();
    for f in files[start..].iter().take_while(|f| f.path.starts_with(dir)) {
        if is_private(&f.path) {
            continue;
        }
        let rest = &f.path[dir.len()..];
        let (name, is_dir) = match rest.split_once('/') {
            Some((d, _)) => (format!("{d}/"), true),
            None => (rest.to_string(), false),
        };
        if names.last().is_some_and(|(n, _, _)| *n == name) {
            continue;
        }
        if names.len() == MAX_INDEX_ENTRIES {
            break;
        }
        names.push((name, f.size, is_dir));
    }
    let title = html_escape(&pack.manifest.meta.title);
    let mut out = format!(
        "<!doctype html><html lang=fr><meta charset=utf-8><meta name=viewport content=\"width=device-width,initial-scale=1\">\
         <title>{title}</title><style>body{{font-family:sans-serif;max-width:50em;margin:1em auto;padding:0 1em;line-height:1.5}}\
         a{{color:#0645ad}}li{{padding:.2em 0}}small{{color:#555}}</style><h1>{title}</h1><p>Fichiers / Files: <b>/{}</b></p><ul>",
        html_escape(dir)
    );
    if !dir.is_empty() {
        out.push_str("<li><a href=\"../\">../</a></li>");
    }
    for (name, size, is_dir) in &names {
        let size = if *is_dir { String::new() } else { format!(" <small>{}</small>", human_size(*size)) };
        out.push_str(&format!(
            "<li><a href=\"{}\">{}</a>{size}</li>",
            html_escape(&encode_path(name)),
            html_escape(name)
        ));
    }
    if names.len() == MAX_INDEX_ENTRIES {
        out.push_str("<li>…</li>");
    }
    out.push_str("</ul></html>\n");
    out
}

/// Sends one file of a pack, in the form the request asks for. Headers go straight into
/// the response's map, with values that need no formatting where they can.
/// `lang` is the pack's language, for the pages the box renders itself (Markdown).
async fn serve_entry(s: &Serving, entry: &FileEntry, lang: &str, headers: &HeaderMap, query: Option<&str>) -> Resp {
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let markdown =
        is_markdown(&entry.path) && !query.is_some_and(|q| q.split('&').any(|p| p == "raw" || p.starts_with("raw=")));
    let compressible = is_compressible(&entry.media_type, &entry.path);
    let form = if markdown {
        Form::Markdown
    } else if range_header.is_none()
        && compressible
        && entry.size >= MIN_GZIP_BYTES
        && s.cache.fits(entry.size)
        && accepts_gzip(headers)
    {
        Form::Gzip
    } else {
        Form::Identity
    };
    let etag = etag(entry, form);
    let mut h = HeaderMap::with_capacity(16);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control(&entry.media_type, form)));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PACK_CSP));
    // Pack pages run in an opaque origin (the sandbox CSP), so their fonts and module
    // scripts, which browsers fetch in CORS mode, would be refused without this. Pack
    // files are public and sent without credentials; `_preau/` is never served.
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    if compressible {
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if form == Form::Identity {
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    }
    if if_none_match(headers, etag.as_bytes()) {
        h.insert(header::ETAG, etag);
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        *resp.headers_mut() = h;
        return resp;
    }
    h.insert(
        header::CONTENT_TYPE,
        match form {
            Form::Markdown => HeaderValue::from_static("text/html; charset=utf-8"),
            _ => content_type(&entry.media_type),
        },
    );
    let if_range_ok = match headers.get(header::IF_RANGE) {
        Some(v) => v.as_bytes().trim_ascii() == etag.as_bytes(),
        None => true,
    };
    h.insert(header::ETAG, etag);

    let answer =
        if form == Form::Identity && if_range_ok { range::parse(range_header, entry.size) } else { RangeAnswer::Whole };
    let (status, body) = match answer {
        RangeAnswer::Unsatisfiable => {
            h.insert(header::CONTENT_RANGE, HeaderValue::from_str(&format!("bytes */{}", entry.size)).expect("ascii"));
            (StatusCode::RANGE_NOT_SATISFIABLE, Body::empty())
        }
        RangeAnswer::Part { start, len } => {
            let cr = format!("bytes {start}-{}/{}", start + len - 1, entry.size);
            h.insert(header::CONTENT_RANGE, HeaderValue::from_str(&cr).expect("ascii"));
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            (StatusCode::PARTIAL_CONTENT, stream_range(s, entry, start, len))
        }
        RangeAnswer::Whole => match whole_body(s, entry, form, lang).await {
            Ok((body, len)) => {
                h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
                if form == Form::Gzip {
                    h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                    s.metrics.gzip_responses.fetch_add(1, Relaxed);
                }
                (StatusCode::OK, body)
            }
            Err(e) => {
                tracing::error!(path = %entry.path, error = %format!("{e:#}"), "cannot read pack file");
                return plain(StatusCode::INTERNAL_SERVER_ERROR, "Fichier illisible. Cannot read this file.\n");
            }
        },
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    *resp.headers_mut() = h;
    resp
}

/// The strong ETag of one representation of a file: its BLAKE3 in hex, quoted, with
/// `.gz` or `.md` for the gzip and rendered-Markdown forms. Made without formatting.
fn etag(entry: &FileEntry, form: Form) -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 2 + 64 + 3];
    buf[0] = b'"';
    for (i, b) in entry.hash.0.iter().enumerate() {
        buf[1 + 2 * i] = HEX[usize::from(b >> 4)];
        buf[2 + 2 * i] = HEX[usize::from(b & 15)];
    }
    let suffix: &[u8] = match form {
        Form::Identity => b"",
        Form::Gzip => b".gz",
        Form::Markdown => b".md",
    };
    let end = 65 + suffix.len();
    buf[65..end].copy_from_slice(suffix);
    buf[end] = b'"';
    HeaderValue::from_bytes(&buf[..=end]).expect("hex is a valid header value")
}

/// The whole file in the requested form, and its length: from the cache (the cached
/// bytes themselves, no copy), read and cached, or streamed.
async fn whole_body(s: &Serving, entry: &FileEntry, form: Form, lang: &str) -> anyhow::Result<(Body, u64)> {
    if form == Form::Identity && !s.cache.fits(entry.size) {
        return Ok((stream_range(s, entry, 0, entry.size), entry.size));
    }
    let body = match s.cache.get(&entry.hash, form) {
        Some(b) => {
            s.metrics.cache_hits.fetch_add(1, Relaxed);
            b
        }
        None => {
            s.metrics.cache_misses.fetch_add(1, Relaxed);
            let raw = match s.cache.get(&entry.hash, Form::Identity) {
                Some(b) => b,
                None => {
                    let lib = s.packs.clone();
                    let e = entry.clone();
                    let b = Bytes::from(tokio::task::spawn_blocking(move || lib.read_file(&e)).await??);
                    s.cache.insert(entry.hash, Form::Identity, b.clone());
                    b
                }
            };
            let body = match form {
                Form::Identity => raw,
                Form::Gzip => Bytes::from(tokio::task::spawn_blocking(move || gzip(&raw)).await??),
                Form::Markdown => Bytes::from(render_markdown(&entry.path, &raw, lang)),
            };
            s.cache.insert(entry.hash, form, body.clone());
            body
        }
    };
    let len = body.len() as u64;
    s.metrics.pack_bytes_sent.fetch_add(len, Relaxed);
    Ok((Body::from(body), len))
}

/// A body that reads `start..start+len` piece by piece, each piece inside one chunk, so
/// a seek into a video decompresses only the chunks it needs and memory stays small.
fn stream_range(s: &Serving, entry: &FileEntry, start: u64, len: u64) -> Body {
    let pieces = chunk_pieces(entry, start, len);
    let lib = s.packs.clone();
    let metrics = s.metrics.clone();
    let entry = Arc::new(entry.clone());
    let stream = futures_util::stream::unfold(
        (pieces.into_iter(), lib, entry, metrics),
        |(mut it, lib, entry, metrics)| async move {
            let (off, n) = it.next()?;
            let (l, e) = (lib.clone(), entry.clone());
            let got = match tokio::task::spawn_blocking(move || l.read_range(&e, off, n)).await {
                Ok(Ok(b)) => Ok(Bytes::from(b)),
                Ok(Err(err)) => Err(std::io::Error::other(format!("{err:#}"))),
                Err(join) => Err(std::io::Error::other(join.to_string())),
            };
            if let Err(err) = &got {
                tracing::error!(path = %entry.path, error = %err, "cannot read pack file while streaming");
            } else {
                metrics.pack_bytes_sent.fetch_add(n, Relaxed);
            }
            Some((got, (it, lib, entry, metrics)))
        },
    );
    Body::from_stream(stream)
}

/// Splits `start..start+len` into reads of at most `PIECE_BYTES`, cut at chunk
/// boundaries (or the range's ends): each read decodes a few whole chunks, so a chunk is
/// decoded once, and a 64 KiB-average chunking does not cost one hand-off to a blocking
/// thread per 64 KiB. A chunk larger than `PIECE_BYTES` is read in several pieces.
pub fn chunk_pieces(entry: &FileEntry, start: u64, len: u64) -> Vec<(u64, u64)> {
    let end = start + len;
    let mut out: Vec<(u64, u64)> = Vec::new();
    let mut chunk_start = 0u64;
    for c in entry.chunk_list() {
        let chunk_end = chunk_start + c.1;
        let (a, b) = (start.max(chunk_start), end.min(chunk_end));
        let mut pos = a;
        while pos < b {
            let n = (b - pos).min(PIECE_BYTES);
            match out.last_mut() {
                // Pieces are contiguous: join this one to the previous read if it fits.
                Some(last) if pos == a && last.1 + n <= PIECE_BYTES => last.1 += n,
                _ => out.push((pos, n)),
            }
            pos += n;
        }
        if chunk_end >= end {
            break;
        }
        chunk_start = chunk_end;
    }
    out
}

fn gzip(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(raw.len() / 3 + 64), flate2::Compression::new(6));
    enc.write_all(raw)?;
    enc.finish()
}

/// `lang`: the pack's language (`fr` when it gives none, the box's first language).
fn render_markdown(path: &str, raw: &[u8], lang: &str) -> String {
    let text = String::from_utf8_lossy(raw);
    // The first level-1 heading names the page; else the file name.
    let heading = text.lines().find_map(|l| l.strip_prefix("# ")).map(str::trim);
    let title = html_escape(heading.unwrap_or(path.rsplit('/').next().unwrap_or(path)));
    let lang = if lang.is_empty() { "fr".to_string() } else { html_escape(lang) };
    let mut out = format!(
        "<!doctype html><html lang=\"{lang}\"><meta charset=utf-8><meta name=viewport content=\"width=device-width,initial-scale=1\"><title>{title}</title>\
         <style>body{{font-family:sans-serif;max-width:46em;margin:1em auto;padding:0 1em;line-height:1.55}}img{{max-width:100%}}\
         pre{{overflow:auto;background:#f4f4f4;padding:.5em}}table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:.2em .4em}}</style>\n"
    );
    // Raw HTML in the Markdown passes through, except what would load from outside the
    // box (an `<iframe src="https://…">`, a remote `<script>` or image): a pack page loads
    // nothing from outside, and packs are checked for that only in their HTML files.
    out.push_str(&preau_import::markdown::to_html_with(&text, |raw| {
        loads_from_outside(raw).then(|| OUTSIDE_NOTE.to_string())
    }));
    out.push_str("</html>\n");
    out
}

/// What a Markdown page shows instead of raw HTML that would load from outside the box.
const OUTSIDE_NOTE: &str = r#"<p class="outside"><em>Contenu externe retiré : il nécessite internet. (Outside content removed: it needs the internet.)</em></p>"#;

/// Whether a fragment of raw HTML has an attribute that makes a browser fetch from
/// another host: `src`, `srcset`, `data`, `poster` or a stylesheet `href` whose value
/// starts with a scheme or `//`.
fn loads_from_outside(fragment: &str) -> bool {
    // Lower case, with the spaces HTML allows around `=` taken out.
    let mut lower = String::with_capacity(fragment.len());
    for c in fragment.chars().map(|c| c.to_ascii_lowercase()) {
        if c == '=' {
            lower.truncate(lower.trim_end().len());
        } else if c.is_whitespace() && lower.ends_with('=') {
            continue;
        }
        lower.push(c);
    }
    let is_link = lower.contains("<link");
    ["src=", "srcset=", "data=", "poster=", "href="].iter().any(|attr| {
        if *attr == "href=" && !is_link {
            return false;
        }
        lower.match_indices(attr).any(|(i, _)| {
            // Only a whole attribute name (`data-src=` is not `src=` of this element).
            let before = lower[..i].chars().next_back();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return false;
            }
            let value = lower[i + attr.len()..].trim_start().trim_start_matches(['"', '\'']).trim_start();
            value.starts_with("//") || value.starts_with("http:") || value.starts_with("https:")
        })
    })
}

/// `GET /api/packs`: the installed packs as JSON.
pub async fn api_packs(State(s): State<Arc<Serving>>) -> Json<serde_json::Value> {
    let list: Vec<serde_json::Value> = s
        .packs
        .list()
        .iter()
        .map(|p| {
            let m = &p.manifest.meta;
            serde_json::json!({
                "id": p.id,
                "version": p.version,
                "manifest": p.manifest_hash.to_hex(),
                "title": m.title,
                "description": m.description,
                "language": m.language,
                "subjects": m.subjects,
                "level": m.level,
                "licence": m.licence,
                "kind": m.kind,
                "source_url": m.source_url,
                "url": format!("/packs/{}/", p.id),
                "files": p.manifest.files.len(),
                "size": p.manifest.total_size(),
            })
        })
        .collect();
    Json(serde_json::json!({ "catalog_version": s.packs.catalog_version(), "packs": list }))
}

fn is_markdown(path: &str) -> bool {
    ends_with_ignore_case(path, ".md") || ends_with_ignore_case(path, ".markdown")
}

fn ends_with_ignore_case(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len() && s.as_bytes()[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

/// Types worth gzip: text, scripts, data, SVG, WebAssembly, fonts without their own compression.
pub fn is_compressible(media_type: &str, path: &str) -> bool {
    let t = media_type.split(';').next().unwrap_or("").trim();
    (t.len() >= 5 && t.as_bytes()[..5].eq_ignore_ascii_case(b"text/"))
        || [
            "application/javascript",
            "application/json",
            "application/xml",
            "application/xhtml+xml",
            "application/wasm",
            "application/x-ipynb+json",
            "image/svg+xml",
            "font/ttf",
            "font/otf",
            "application/vnd.ms-fontobject",
        ]
        .iter()
        .any(|c| t.eq_ignore_ascii_case(c))
        || path.ends_with(".ipynb")
}

/// `Content-Type` for a pack file's media type: text gets `charset=utf-8`. The usual
/// types are static values (no formatting, no allocation).
fn content_type(media_type: &str) -> HeaderValue {
    let known = match media_type {
        "" | "application/octet-stream" => "application/octet-stream",
        "text/html" => "text/html; charset=utf-8",
        "text/css" => "text/css; charset=utf-8",
        "text/plain" => "text/plain; charset=utf-8",
        "text/markdown" => "text/markdown; charset=utf-8",
        "application/javascript" | "text/javascript" => {
            return HeaderValue::from_static(if media_type == "text/javascript" {
                "text/javascript; charset=utf-8"
            } else {
                "application/javascript; charset=utf-8"
            });
        }
        "application/json" => "application/json; charset=utf-8",
        "image/svg+xml" => "image/svg+xml; charset=utf-8",
        "image/png" => "image/png",
        "image/jpeg" => "image/jpeg",
        "image/webp" => "image/webp",
        "video/mp4" => "video/mp4",
        "application/pdf" => "application/pdf",
        _ => "",
    };
    if !known.is_empty() {
        return HeaderValue::from_static(known);
    }
    let t = media_type;
    let textual =
        t.starts_with("text/") || t == "application/javascript" || t == "application/json" || t == "image/svg+xml";
    let value = if textual && !t.contains("charset") { format!("{t}; charset=utf-8") } else { t.to_string() };
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("application/octet-stream"))
}

/// Pages revalidate every time (a pack update must show at once, and a 304 is cheap);
/// other files stay an hour. Pack URLs are not immutable: an update reuses them.
fn cache_control(media_type: &str, form: Form) -> &'static str {
    if form == Form::Markdown || media_type.starts_with("text/html") { "no-cache" } else { "public, max-age=3600" }
}

pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |item| {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                let p = p.trim();
                p.strip_prefix("q=").is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0))
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        },
    )
}

/// True when `If-None-Match` lists `etag` (weak comparison, as RFC 9110 asks) or `*`.
pub fn if_none_match(headers: &HeaderMap, etag: &[u8]) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(|t| {
            let t = t.trim_ascii();
            t.strip_prefix(b"W/").unwrap_or(t)
        })
        .any(|t| t == etag || t == b"*")
}

pub fn redirect(location: &str) -> Resp {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::FOUND;
    r.headers_mut().insert(header::LOCATION, HeaderValue::from_str(location).unwrap_or(HeaderValue::from_static("/")));
    r
}

pub fn not_found() -> Resp {
    plain(StatusCode::NOT_FOUND, "Page introuvable. Not found.\n")
}

/// Percent-encodes a pack path for a URL, keeping `/` and unreserved characters.
pub use preau_pack::text::encode_path;

/// Escapes text for HTML content and attribute values (the listing and Markdown pages).
pub use preau_pack::text::escape_html as html_escape;

fn human_size(n: u64) -> String {
    match n {
        0..1024 => format!("{n} o"),
        1024..1_048_576 => format!("{:.1} Kio", n as f64 / 1024.0),
        _ => format!("{:.1} Mio", n as f64 / 1_048_576.0),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn markdown_pages_keep_raw_html_but_nothing_that_loads_from_outside() {
        let md = "# Titre\n\n<iframe src=\"https://webtigerjython.ethz.ch/x\"></iframe>\n\n\
                  Texte <img src='//cdn.example/a.png'> et <img src=\"local.png\"> \
                  <a href=\"https://fr.wikipedia.org\">lien</a> <span data-src=\"https://x\">ok</span>\n";
        let out = render_markdown("a.md", md.as_bytes(), "fr");
        assert!(!out.contains("webtigerjython") && !out.contains("cdn.example"), "{out}");
        assert!(out.contains("Contenu externe retiré"), "{out}");
        assert!(out.contains(r#"<img src="local.png">"#), "{out}");
        assert!(out.contains(r#"href="https://fr.wikipedia.org""#), "{out}");
        assert!(out.contains("data-src"), "{out}");
        let multi =
            render_markdown("b.md", b"<iframe width=\"600\"\n  src=\"https://x.example/e\">\n</iframe>\n", "fr");
        assert!(!multi.contains("x.example") && !multi.contains("<iframe"), "{multi}");
        assert!(loads_from_outside(r#"<link rel="stylesheet" href="https://cdn.example/a.css">"#));
        assert!(!loads_from_outside(r#"<a href="http://x">"#));
        assert!(loads_from_outside(r#"<video poster = 'http://x/p.png'>"#));
    }

    use super::*;
    use preau_pack::{ChunkRef, Hash};

    #[test]
    fn pieces_join_whole_chunks_up_to_the_piece_size() {
        let h = Hash::of(b"x");
        const K: u64 = 1024;
        let sizes = [100 * K, 100 * K, 100 * K, 256 * K, 20 * K];
        let e = FileEntry {
            path: "v.mp4".into(),
            size: sizes.iter().sum(),
            media_type: "video/mp4".into(),
            hash: h,
            chunks: sizes.iter().map(|&n| ChunkRef(h, n)).collect(),
        };
        // 100+100 fit in 256 KiB, the third 100 does not; the 256 KiB chunk is alone.
        assert_eq!(
            chunk_pieces(&e, 0, e.size),
            vec![(0, 200 * K), (200 * K, 100 * K), (300 * K, 256 * K), (556 * K, 20 * K)]
        );
        assert_eq!(chunk_pieces(&e, 150 * K, 100 * K), vec![(150 * K, 100 * K)]);
        assert_eq!(chunk_pieces(&e, 99 * K, 2), vec![(99 * K, 2)]);
        assert_eq!(chunk_pieces(&e, e.size - 1, 1), vec![(e.size - 1, 1)]);
        // Every piece lies within PIECE_BYTES and they tile the range.
        for (start, len) in [(0, e.size), (1, e.size - 2), (300 * K - 1, 258 * K)] {
            let p = chunk_pieces(&e, start, len);
            assert!(p.iter().all(|&(_, n)| n > 0 && n <= PIECE_BYTES));
            assert_eq!(p[0].0, start);
            assert!(p.windows(2).all(|w| w[0].0 + w[0].1 == w[1].0));
            assert_eq!(p.iter().map(|x| x.1).sum::<u64>(), len);
        }
        // A chunk over the piece size is read in pieces.
        let big = FileEntry { size: 600 * K, chunks: vec![ChunkRef(h, 600 * K)], ..e.clone() };
        assert_eq!(chunk_pieces(&big, 0, 600 * K), vec![(0, 256 * K), (256 * K, 256 * K), (512 * K, 88 * K)]);
    }

    #[test]
    fn headers() {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip, deflate"));
        assert!(accepts_gzip(&h));
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip;q=0, br"));
        assert!(!accepts_gzip(&h));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"a\", W/\"b\""));
        assert!(if_none_match(&h, b"\"b\""));
        assert!(!if_none_match(&h, b"\"c\""));
        let e = FileEntry {
            path: "a.md".into(),
            size: 1,
            media_type: "text/markdown".into(),
            hash: Hash::of(b"x"),
            chunks: vec![],
        };
        assert_eq!(etag(&e, Form::Identity).to_str().unwrap(), format!("\"{}\"", e.hash.to_hex()));
        assert_eq!(etag(&e, Form::Gzip).to_str().unwrap(), format!("\"{}.gz\"", e.hash.to_hex()));
        assert_eq!(etag(&e, Form::Markdown).to_str().unwrap(), format!("\"{}.md\"", e.hash.to_hex()));
        assert!(is_markdown("cours/A.MD") && !is_markdown("a.mdx"));
        assert!(is_compressible("Text/HTML; charset=utf-8", "a") && is_compressible("image/SVG+xml", "a"));
        assert!(!is_compressible("image/png", "a.png") && is_compressible("", "n.ipynb"));
        assert_eq!(content_type("text/css"), "text/css; charset=utf-8");
        assert_eq!(content_type("text/x-python"), "text/x-python; charset=utf-8");
        assert_eq!(content_type("text/html; charset=iso-8859-1"), "text/html; charset=iso-8859-1");
        assert_eq!(content_type(""), "application/octet-stream");
        assert_eq!(percent_decode("cours/%C3%A9t%C3%A9%201.html").unwrap(), "cours/été 1.html");
        assert_eq!(percent_decode("plain.css").unwrap(), "plain.css");
        for bad in ["%", "a%2", "%zz", "%C3"] {
            assert!(percent_decode(bad).is_none(), "{bad}");
        }
        assert_eq!(encode_path("cours/été 1.html"), "cours/%C3%A9t%C3%A9%201.html");
        assert_eq!(html_escape("<a href='x'>&"), "&lt;a href=&#39;x&#39;&gt;&amp;");
    }
}
