//! The one place that downloads (the npm registry, outside resources of pages): bounded in
//! bytes per file, in bytes per build and in time, `http`/`https` only, with a resolver
//! override (`--resolve HOST=ADDR`) so that tests serve "outside" hosts from 127.0.0.1.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use url::Url;

/// Bounds on what a build downloads.
#[derive(Debug, Clone)]
pub struct FetchLimits {
    /// One outside resource (npm tarballs have their own bound, [`MAX_TARBALL_BYTES`]).
    pub max_file_bytes: u64,
    /// Everything one build downloads, tarballs included.
    pub max_total_bytes: u64,
    /// One request, from connection to the last byte.
    pub request_timeout: Duration,
    /// All the downloads of one build: after it, the rest is treated as unreachable.
    pub total_time: Duration,
}

impl Default for FetchLimits {
    fn default() -> Self {
        FetchLimits {
            max_file_bytes: 16 * 1024 * 1024,
            max_total_bytes: 512 * 1024 * 1024,
            request_timeout: Duration::from_secs(60),
            total_time: Duration::from_secs(600),
        }
    }
}

/// The largest npm tarball taken (Pyodide's core is about 10 MB compressed).
pub const MAX_TARBALL_BYTES: u64 = 64 * 1024 * 1024;

/// A bounded HTTP client.
pub struct Fetcher {
    client: reqwest::blocking::Client,
    limits: FetchLimits,
    started: Instant,
    spent: Cell<u64>,
    /// Servers (scheme, host, port) that could not be reached (DNS, connection, TLS,
    /// timeout): not tried again in this build, so that a page with fifty images from a
    /// dead host costs one timeout.
    unreachable: RefCell<HashSet<String>>,
}

#[derive(Debug)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    /// The `Content-Type` without parameters, lowercased.
    pub content_type: String,
    /// Where the bytes came from after redirects.
    pub final_url: Url,
}

impl Fetcher {
    /// `resolve`: host names answered with these addresses instead of DNS.
    pub fn new(limits: FetchLimits, resolve: &[(String, SocketAddr)]) -> Result<Fetcher, String> {
        // The ring provider, as preau-sync: no aws-lc in the project.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut b = reqwest::blocking::Client::builder()
            .user_agent(concat!("preau-offline/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(15))
            .timeout(limits.request_timeout)
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                if attempt.previous().len() >= 5 {
                    attempt.error("more than 5 redirects")
                } else if !matches!(attempt.url().scheme(), "http" | "https") {
                    attempt.error("a redirect to something else than http(s)")
                } else {
                    attempt.follow()
                }
            }));
        for (host, addr) in resolve {
            b = b.resolve(host, *addr);
        }
        let client = b.build().map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Fetcher { client, limits, started: Instant::now(), spent: Cell::new(0), unreachable: RefCell::default() })
    }

    pub fn limits(&self) -> &FetchLimits {
        &self.limits
    }

    /// GETs `url`, refusing anything over `max` bytes, over the build's byte or time
    /// budget, or not `http(s)`; the error says which.
    pub fn get(&self, url: &Url, max: u64, accept: Option<&str>) -> Result<Fetched, String> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("seuls http et https sont téléchargés, pas {}", url.scheme()));
        }
        let elapsed = self.started.elapsed();
        if elapsed >= self.limits.total_time {
            return Err(format!("temps total de téléchargement dépassé ({} s)", self.limits.total_time.as_secs()));
        }
        let left = self.limits.max_total_bytes.saturating_sub(self.spent.get());
        let max = max.min(left);
        let mut req =
            self.client.get(url.clone()).timeout(self.limits.request_timeout.min(self.limits.total_time - elapsed));
        if let Some(a) = accept {
            req = req.header(reqwest::header::ACCEPT, a);
        }
        // Per scheme, host and port: `https://h` failing says nothing of `http://h`.
        let host = format!("{}://{}", url.scheme(), url.authority());
        if self.unreachable.borrow().contains(&host) {
            return Err(format!("{host} inaccessible (déjà constaté pendant cette construction)"));
        }
        let mut resp = req.send().map_err(|e| {
            if e.is_connect() || e.is_timeout() {
                self.unreachable.borrow_mut().insert(host.clone());
            }
            format!("inaccessible : {}", error_chain(&e))
        })?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!("réponse HTTP {status}"));
        }
        if let Some(len) = resp.content_length()
            && len > max
        {
            return Err(too_big(len, max, left));
        }
        let final_url = resp.url().clone();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
            .unwrap_or_default();
        let mut bytes = Vec::new();
        let copied = copy_bounded(&mut resp, &mut bytes, 0, max, |_| {}).map_err(|e| format!("lecture : {e}"));
        self.spent.set(self.spent.get() + bytes.len() as u64);
        match copied? {
            Copied::Ended { .. } => {}
            Copied::Cut { total } => return Err(format!("lecture interrompue après {total} octets")),
            Copied::TooLarge => return Err(too_big(max + 1, max, left)),
        }
        Ok(Fetched { bytes, content_type, final_url })
    }
}

fn too_big(len: u64, max: u64, left: u64) -> String {
    if max == left {
        format!("le budget total de téléchargement est épuisé ({len} octets de plus que les {left} restants)")
    } else {
        format!("fichier trop gros ({len} octets, plus que la limite de {max})")
    }
}

use preau_pack::limits::{Copied, copy_bounded};
use preau_pack::text::error_chain;

/// `HOST=IP:PORT`, as curl's `--resolve`: HOST is reached at IP, on PORT unless the URL
/// names its own port.
pub fn parse_resolve(s: &str) -> Result<(String, SocketAddr), String> {
    let (host, addr) = s.split_once('=').ok_or_else(|| format!("--resolve {s:?}: expected HOST=IP:PORT"))?;
    let addr: SocketAddr = addr.parse().map_err(|e| format!("--resolve {s:?}: {addr:?} is not IP:PORT ({e})"))?;
    if host.is_empty() {
        return Err(format!("--resolve {s:?}: empty host name"));
    }
    Ok((host.to_ascii_lowercase(), addr))
}
