//! An HTTP(S) repository: the national server, a CDN, or another box's `/repo/`.
//!
//! reqwest's blocking client over rustls with the *ring* provider (it cross-compiles for
//! the Pi with a plain C cross compiler). Keep-alive connections are pooled and shared by
//! the parallel fetch workers. Every response is bounded; a connection cut in the middle
//! of an object is resumed with a Range request from what was already received, and a
//! server that ignores Range is detected (status 200 instead of 206) and the object is
//! restarted from byte 0. Retries are bounded, and reset whenever bytes arrive, so a
//! link that drops every few minutes still completes while a dead one fails quickly.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use preau_pack::Hash;
use preau_pack::catalog_tree::HINTS_DIR;
use preau_pack::repo::{CATALOG_FILE, object_rel_path};
use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use reqwest::header::{CONTENT_RANGE, ETAG, IF_NONE_MATCH, RANGE};

use super::{Source, SourceKind, SourceStats};
use crate::error::{Error, Result};
use crate::private::{OVERHEAD, SchoolKey, private_rel_path};

#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Bytes per second for all connections together; `None` is unlimited.
    pub max_rate: Option<u64>,
    /// Online (national server) or a peer box (changes the expiry policy only).
    pub kind: SourceKind,
    /// Stall timeout: a connection that sends nothing for this long is dropped and retried.
    pub timeout: Duration,
    /// Consecutive failed attempts without receiving a byte before giving up.
    pub max_retries: u32,
    /// The school's shared `[sync] peer_token`. It never leaves the box: a peer box
    /// gives the objects of its private `_preau/` files (quiz answers) only sealed under
    /// a key derived from it (see [`crate::private`]), which this source opens.
    pub peer_token: Option<String>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            max_rate: None,
            kind: SourceKind::Online,
            timeout: Duration::from_secs(30),
            max_retries: 8,
            peer_token: None,
        }
    }
}

pub struct HttpSource {
    base: String,
    client: Client,
    opts: HttpOptions,
    school_key: Option<SchoolKey>,
    limiter: Option<RateLimit>,
    bytes: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
    warnings: Mutex<Vec<String>>,
    /// Where the catalog's last answer and its ETag are kept (`Source::keep_validators`).
    validators: Mutex<Option<PathBuf>>,
    /// Lengths of files learnt from `Content-Range` answers, by URL (bounded).
    lengths: Mutex<std::collections::HashMap<String, u64>>,
}

/// Makes ring the process's TLS provider (reqwest is built without one). Idempotent.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl HttpSource {
    pub fn new(url: &str, opts: HttpOptions) -> Result<HttpSource> {
        install_tls_provider();
        let client = Client::builder()
            .user_agent(concat!("preau-sync/", env!("CARGO_PKG_VERSION")))
            .timeout(opts.timeout)
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(16)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| Error::Other(format!("cannot set up the HTTP client: {e}")))?;
        let mut base = url.to_string();
        if !base.ends_with('/') {
            base.push('/');
        }
        let limiter = opts.max_rate.filter(|r| *r > 0).map(RateLimit::new);
        let school_key = opts.peer_token.as_deref().map(SchoolKey::derive);
        Ok(HttpSource {
            base,
            client,
            opts,
            school_key,
            limiter,
            bytes: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            warnings: Mutex::new(Vec::new()),
            validators: Mutex::new(None),
            lengths: Mutex::new(std::collections::HashMap::new()),
        })
    }

    fn send(&self, url: &str, range: Option<String>) -> reqwest::Result<Response> {
        self.send_if(url, range, None)
    }

    /// `send`, with `If-None-Match: etag` when given.
    fn send_if(&self, url: &str, range: Option<String>, etag: Option<&str>) -> reqwest::Result<Response> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut req = self.client.get(url);
        if let Some(r) = range {
            req = req.header(RANGE, r);
        }
        if let Some(e) = etag {
            req = req.header(IF_NONE_MATCH, e);
        }
        req.send()
    }

    /// The kept answer for `url` (ETag, body) when there is one, it is intact and within
    /// `max` bytes. A damaged copy is forgotten (the next GET is unconditional).
    fn kept(&self, url: &str, max: u64) -> Option<(String, Vec<u8>)> {
        let (tag_path, body_path) = self.kept_paths(url)?;
        let tag = crate::source::read_small(&tag_path, 512)?;
        let body = crate::source::read_small(&body_path, max)?;
        let tag = String::from_utf8(tag).ok()?;
        let (etag, hash) = tag.split_once('\n')?;
        if blake3::hash(&body).to_hex().as_str() != hash.trim() || etag.is_empty() || !etag.is_ascii() {
            let _ = fs::remove_file(&tag_path);
            return None;
        }
        Some((etag.to_string(), body))
    }

    /// Keeps `body` and its `etag` for the next conditional GET of `url` (best effort:
    /// a failure costs one unconditional GET later).
    fn keep(&self, url: &str, etag: &str, body: &[u8]) {
        let Some((tag_path, body_path)) = self.kept_paths(url) else { return };
        if etag.len() > 256 || !etag.is_ascii() || etag.contains('\n') {
            return;
        }
        let _ = fs::remove_file(&tag_path);
        if preau_pack::fsutil::atomic_write(&body_path, body).is_ok() {
            let tag = format!("{etag}\n{}", blake3::hash(body).to_hex());
            let _ = preau_pack::fsutil::atomic_write(&tag_path, tag.as_bytes());
        }
    }

    fn kept_paths(&self, url: &str) -> Option<(PathBuf, PathBuf)> {
        let dir = self.validators.lock().unwrap_or_else(|e| e.into_inner()).clone()?;
        let name = blake3::hash(url.as_bytes()).to_hex();
        let name = &name.as_str()[..32];
        Some((dir.join(format!("{name}.etag")), dir.join(format!("{name}.body"))))
    }

    /// Downloads `url` into `partial` and returns its bytes, resuming from what `partial`
    /// already holds. `range` is `None` for a whole object (Range only to resume), or the
    /// part `start..end` of the object (`end` `None`: to its end), which then must be
    /// answered with 206: a server that ignores Range is an error here, so that the
    /// caller falls back to whole objects instead of receiving the whole file per part.
    /// Gives up after `max_retries` failed attempts in a row.
    fn download_with(
        &self,
        url: &str,
        range: Option<(u64, Option<u64>)>,
        max: u64,
        partial: &Path,
        max_retries: u32,
    ) -> Result<Option<Vec<u8>>> {
        match self.fetch(url, range, max, partial, max_retries)? {
            Fetched::Bytes(b) => Ok(Some(b)),
            Fetched::Absent => Ok(None),
            Fetched::Private => {
                self.warn(format!(
                    "{}: this box keeps its quiz answers private; give both boxes the same [sync] peer_token to share them",
                    self.base
                ));
                Ok(None)
            }
        }
    }

    /// [`Self::download_with`], telling a refused private object from an absent one.
    fn fetch(
        &self,
        url: &str,
        range: Option<(u64, Option<u64>)>,
        max: u64,
        partial: &Path,
        max_retries: u32,
    ) -> Result<Fetched> {
        let url = url.to_string();
        let (base, end) = range.unwrap_or((0, None));
        let mut failures = 0u32;
        loop {
            let mut have = fs::metadata(partial).map(|m| m.len()).unwrap_or(0);
            if have > max {
                let _ = fs::remove_file(partial);
                have = 0;
            }
            if let Some(e) = end
                && base + have >= e
            {
                return read_partial(partial).map(Fetched::Bytes);
            }
            let fail = |failures: &mut u32, why: String| -> Result<()> {
                *failures += 1;
                if *failures > max_retries {
                    return Err(Error::Other(format!("GET {url}: {why} (gave up after {} attempts)", *failures)));
                }
                self.backoff(*failures);
                Ok(())
            };
            let from = base + have;
            let header = match (range.is_some() || have > 0, end) {
                (false, _) => None,
                (true, Some(e)) => Some(format!("bytes={from}-{}", e - 1)),
                (true, None) => Some(format!("bytes={from}-")),
            };
            let mut resp = match self.send(&url, header) {
                Ok(r) => r,
                Err(e) => {
                    fail(&mut failures, error_chain(&e))?;
                    continue;
                }
            };
            let status = resp.status();
            match status {
                StatusCode::NOT_FOUND | StatusCode::GONE => {
                    let _ = fs::remove_file(partial);
                    return Ok(Fetched::Absent);
                }
                StatusCode::FORBIDDEN if self.opts.kind == SourceKind::Peer => {
                    // A peer box never gives quiz answers in clear: the caller may ask
                    // for them sealed, or another source (the national server) may have them.
                    let _ = fs::remove_file(partial);
                    return Ok(Fetched::Private);
                }
                StatusCode::RANGE_NOT_SATISFIABLE if have > 0 => {
                    // Everything was already received; the caller verifies it.
                    return read_partial(partial).map(Fetched::Bytes);
                }
                StatusCode::RANGE_NOT_SATISFIABLE if range.is_some() => {
                    // The file ends before this part: nothing of it is there.
                    let _ = fs::remove_file(partial);
                    return Ok(Fetched::Bytes(Vec::new()));
                }
                StatusCode::PARTIAL_CONTENT => {
                    let expected = format!("bytes {from}-");
                    let ok = resp
                        .headers()
                        .get(CONTENT_RANGE)
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| v.starts_with(&expected));
                    if !ok || (range.is_none() && have == 0) {
                        self.warn(format!(
                            "{}: wrong Content-Range in a partial response; restarting the object",
                            self.base
                        ));
                        let _ = fs::remove_file(partial);
                        fail(&mut failures, "wrong Content-Range".into())?;
                        continue;
                    }
                    // "bytes a-b/total": the file's length, for `Source::known_length`.
                    let total = resp
                        .headers()
                        .get(CONTENT_RANGE)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.rsplit_once('/').and_then(|(_, t)| t.parse::<u64>().ok()));
                    if let Some(t) = total {
                        let mut lengths = self.lengths.lock().unwrap_or_else(|e| e.into_inner());
                        if lengths.len() < 4096 {
                            lengths.insert(url.clone(), t);
                        }
                    }
                }
                StatusCode::OK if range.is_some() => {
                    // Dropping the response closes the connection: the rest is not read.
                    return Err(Error::Other(format!("GET {url}: the server ignores Range requests")));
                }
                StatusCode::OK => {
                    if have > 0 {
                        self.warn(format!(
                            "{}: the server ignores Range requests; interrupted objects are downloaded again from the start",
                            self.base
                        ));
                        have = 0;
                    }
                }
                s if s.is_server_error() => {
                    fail(&mut failures, format!("the server answered {s}"))?;
                    continue;
                }
                s => return Err(status_error(&url, s)),
            }
            let mut file = OpenOptions::new()
                .create(true)
                .write(true)
                .append(have > 0)
                .truncate(have == 0)
                .open(partial)
                .map_err(|e| Error::Io { context: format!("writing {}", partial.display()), source: e })?;
            let before = have;
            let complete = match self.read_body(&mut resp, &url, have, max, &mut file) {
                Ok(c) => c,
                Err(e) => {
                    drop(file);
                    let _ = fs::remove_file(partial);
                    return Err(e);
                }
            };
            drop(file);
            if complete {
                return read_partial(partial).map(Fetched::Bytes);
            }
            let now = fs::metadata(partial).map(|m| m.len()).unwrap_or(0);
            if now > before {
                // Progress: this link works, it just drops. Resume at once.
                failures = 0;
                self.retries.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            fail(&mut failures, "connection cut".into())?;
        }
    }

    /// Waits before retry `n` (1, 2, …): 0.2 s doubling up to 5 s.
    fn backoff(&self, n: u32) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis((200u64 << n.min(5)).min(5000)));
    }

    fn warn(&self, w: String) {
        let mut ws = self.warnings.lock().unwrap_or_else(|e| e.into_inner());
        if ws.len() < 100 && !ws.contains(&w) {
            ws.push(w);
        }
    }

    /// Streams the body into `out`, refusing more than `max` bytes in total (`already`
    /// counts what `out` held before). Returns whether the body ended normally.
    fn read_body(&self, resp: &mut Response, url: &str, already: u64, max: u64, out: &mut dyn Write) -> Result<bool> {
        if let Some(len) = resp.content_length()
            && already + len > max
        {
            return Err(too_large(url, max));
        }
        let copied = copy_bounded(resp, out, already, max, |n| {
            self.bytes.fetch_add(n as u64, Ordering::Relaxed);
            if let Some(l) = &self.limiter {
                l.take(n as u64);
            }
        })
        .map_err(|e| Error::Io { context: format!("saving {url}"), source: e })?;
        match copied {
            Copied::Ended { .. } => Ok(true),
            Copied::Cut { .. } => Ok(false),
            Copied::TooLarge => Err(too_large(url, max)),
        }
    }
}

fn too_large(url: &str, max: u64) -> Error {
    Error::TooLarge { what: format!("response to GET {url} (endless or wrong data, refused)"), limit: max }
}

fn status_error(url: &str, status: StatusCode) -> Error {
    Error::Http { url: url.to_string(), status: status.as_u16() }
}

impl Source for HttpSource {
    fn describe(&self) -> String {
        self.base.clone()
    }

    fn kind(&self) -> SourceKind {
        self.opts.kind
    }

    fn get(&self, rel: &str, max: u64) -> Result<Option<Vec<u8>>> {
        let url = format!("{}{rel}", self.base);
        // The catalog (and the leaf hints, also mutable) are asked for conditionally:
        // when one has not changed the server answers 304 with no body, and the kept copy
        // is verified as if it had come.
        let conditional = rel == CATALOG_FILE || rel.starts_with(&format!("{HINTS_DIR}/"));
        let kept = if conditional { self.kept(&url, max) } else { None };
        let mut failures = 0u32;
        loop {
            let fail = |failures: &mut u32, why: String| -> Result<()> {
                *failures += 1;
                if *failures > self.opts.max_retries {
                    return Err(Error::Other(format!("GET {url}: {why} (gave up after {} attempts)", *failures)));
                }
                self.backoff(*failures);
                Ok(())
            };
            let mut resp = match self.send_if(&url, None, kept.as_ref().map(|k| k.0.as_str())) {
                Ok(r) => r,
                Err(e) => {
                    fail(&mut failures, error_chain(&e))?;
                    continue;
                }
            };
            let status = resp.status();
            if status == StatusCode::NOT_MODIFIED
                && let Some((_, body)) = &kept
            {
                return Ok(Some(body.clone()));
            }
            if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
                return Ok(None);
            }
            if status.is_server_error() {
                fail(&mut failures, format!("the server answered {status}"))?;
                continue;
            }
            if !status.is_success() {
                return Err(status_error(&url, status));
            }
            let etag = resp.headers().get(ETAG).and_then(|v| v.to_str().ok()).map(str::to_string);
            let mut body = Vec::new();
            if self.read_body(&mut resp, &url, 0, max, &mut body)? {
                if conditional && let Some(e) = etag {
                    self.keep(&url, &e, &body);
                }
                return Ok(Some(body));
            }
            fail(&mut failures, "connection cut".into())?;
        }
    }

    fn known_length(&self, rel: &str) -> Option<u64> {
        self.lengths.lock().unwrap_or_else(|e| e.into_inner()).get(&format!("{}{rel}", self.base)).copied()
    }

    fn keep_validators(&self, dir: &Path) {
        if preau_pack::fsutil::create_dir_all_durable(dir).is_ok() {
            *self.validators.lock().unwrap_or_else(|e| e.into_inner()) = Some(dir.to_path_buf());
        }
    }

    fn get_object(&self, hash: &Hash, max: u64, partial: &Path) -> Result<Option<Vec<u8>>> {
        let url = format!("{}{}", self.base, object_rel_path(hash));
        match self.fetch(&url, None, max, partial, self.opts.max_retries)? {
            Fetched::Bytes(b) => Ok(Some(b)),
            Fetched::Absent => Ok(None),
            Fetched::Private => self.get_sealed(hash, max),
        }
    }

    fn get_range(
        &self,
        rel: &str,
        start: u64,
        end: u64,
        max: u64,
        partial: &Path,
        retry: bool,
    ) -> Result<Option<Vec<u8>>> {
        let max_retries = if retry { self.opts.max_retries } else { 0 };
        self.download_with(&format!("{}{rel}", self.base), Some((start, Some(end))), max, partial, max_retries)
    }

    fn warm(&self, n: usize) {
        // A HEAD request is the cheapest way to make reqwest open (and keep) a connection:
        // about 250 bytes of response headers each.
        let url = format!("{}{CATALOG_FILE}", self.base);
        std::thread::scope(|s| {
            for _ in 0..n {
                s.spawn(|| {
                    self.requests.fetch_add(1, Ordering::Relaxed);
                    let _ = self.client.head(&url).timeout(self.opts.timeout.min(Duration::from_secs(10))).send();
                });
            }
        });
    }

    fn stats(&self) -> SourceStats {
        SourceStats {
            bytes_downloaded: self.bytes.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
        }
    }

    fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl HttpSource {
    /// A private object of a peer box, sealed for the boxes of its school: opened with
    /// this box's key (the caller then checks its hash). `None` without a key, or when
    /// the peer is of another school.
    fn get_sealed(&self, hash: &Hash, max: u64) -> Result<Option<Vec<u8>>> {
        let Some(key) = &self.school_key else {
            self.warn(format!(
                "{}: this box keeps its quiz answers private; give both boxes the same [sync] peer_token to share them",
                self.base
            ));
            return Ok(None);
        };
        let Some(sealed) = self.get(&private_rel_path(hash), max.saturating_add(OVERHEAD))? else {
            return Ok(None);
        };
        match key.open(hash, &sealed) {
            Ok(stored) => Ok(Some(stored)),
            Err(e) => {
                self.warn(format!("{}: {e}", self.base));
                Ok(None)
            }
        }
    }
}

/// What a GET of an object brought.
enum Fetched {
    Bytes(Vec<u8>),
    /// 404: the source does not have it.
    Absent,
    /// 403 from a peer box: a private object, never served in clear.
    Private,
}

fn read_partial(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| Error::Io { context: format!("reading {}", path.display()), source: e })
}

use preau_pack::limits::{Copied, copy_bounded};
use preau_pack::text::error_chain;

/// A token bucket shared by all connections: at most `rate` bytes per second on average,
/// with bursts of at most one second's worth.
pub struct RateLimit {
    rate: f64,
    state: Mutex<(Instant, f64)>,
}

impl RateLimit {
    pub fn new(rate: u64) -> RateLimit {
        RateLimit { rate: rate as f64, state: Mutex::new((Instant::now(), rate as f64)) }
    }

    /// Accounts for `n` bytes received and sleeps as long as the budget is overdrawn.
    pub fn take(&self, n: u64) {
        let wait = {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let refill = now.duration_since(s.0).as_secs_f64() * self.rate;
            s.0 = now;
            s.1 = (s.1 + refill).min(self.rate) - n as f64;
            if s.1 < 0.0 { -s.1 / self.rate } else { 0.0 }
        };
        if wait > 0.0 {
            std::thread::sleep(Duration::from_secs_f64(wait));
        }
    }
}
