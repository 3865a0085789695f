//! The thin HTTP side of the push: one `POST <lrs>xAPI/statements` per batch, with HTTP
//! basic auth and `X-Experience-API-Version: 1.0.3`, over reqwest + rustls (ring).
//!
//! Compression: the first request of a push is sent gzipped; if the LRS does not answer
//! it with a success or a 409, the same batch is sent again uncompressed and the rest
//! of the push stays uncompressed (Ralph 5.1.0 answers 500 to a gzipped body: measured,
//! BENCHMARKS.md). Which answer a gzip probe got is never taken as a statement's fault.

use std::io::Write;
use std::time::Duration;

use preau_pack::{Error, Result};
use reqwest::blocking::Client;

use super::plan::{Reply, classify};
use crate::source::http::{RateLimit, install_tls_provider};

/// Where and how to send.
#[derive(Clone)]
pub struct LrsEndpoint {
    /// `<lrs>xAPI/statements`.
    pub statements_url: String,
    pub username: String,
    pub password: String,
    pub timeout: Duration,
    /// Bytes per second, shared with nothing else (`[sync] max_rate`).
    pub max_rate: Option<u64>,
    /// Try gzip on the first request.
    pub try_gzip: bool,
}

impl std::fmt::Debug for LrsEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LrsEndpoint")
            .field("statements_url", &self.statements_url)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Sends one batch body and says what the answer means.
pub trait Transport {
    fn post(&mut self, body: &[u8]) -> Reply;
    /// Bytes put on the wire so far (bodies, compressed when they were).
    fn bytes(&self) -> u64;
    fn requests(&self) -> u64;
    /// Whether bodies are being compressed.
    fn gzip(&self) -> bool;
}

/// Largest response body read (an error message; statements ids on success).
const MAX_REPLY_BYTES: u64 = 64 * 1024;

pub struct HttpTransport {
    ep: LrsEndpoint,
    client: Client,
    limiter: Option<RateLimit>,
    /// `None`: not probed yet; then whether the LRS took a gzipped body.
    gzip: Option<bool>,
    bytes: u64,
    requests: u64,
}

impl HttpTransport {
    pub fn new(ep: LrsEndpoint) -> Result<HttpTransport> {
        install_tls_provider();
        let client = Client::builder()
            .user_agent(concat!("preau-sync/", env!("CARGO_PKG_VERSION")))
            .timeout(ep.timeout)
            .connect_timeout(Duration::from_secs(10).min(ep.timeout))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| Error::Other(format!("cannot set up the HTTP client: {e}")))?;
        let limiter = ep.max_rate.filter(|r| *r > 0).map(RateLimit::new);
        let gzip = if ep.try_gzip { None } else { Some(false) };
        Ok(HttpTransport { ep, client, limiter, gzip, bytes: 0, requests: 0 })
    }

    fn send(&mut self, body: &[u8], gzip: bool) -> Reply {
        let payload = if gzip {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            match enc.write_all(body).and_then(|_| enc.finish()) {
                Ok(z) => z,
                Err(e) => return Reply::Fatal(format!("gzip: {e}")),
            }
        } else {
            body.to_vec()
        };
        if let Some(l) = &self.limiter {
            l.take(payload.len() as u64);
        }
        self.requests += 1;
        self.bytes += payload.len() as u64;
        let mut req = self
            .client
            .post(&self.ep.statements_url)
            .basic_auth(&self.ep.username, Some(&self.ep.password))
            .header("X-Experience-API-Version", "1.0.3")
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if gzip {
            req = req.header(reqwest::header::CONTENT_ENCODING, "gzip");
        }
        match req.body(payload).send() {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let mut text = Vec::new();
                use std::io::Read;
                if let Err(e) = resp.take(MAX_REPLY_BYTES).read_to_end(&mut text) {
                    // A cut while reading the answer: nothing is known.
                    return Reply::Retry(format!("answer cut ({status}): {e}"));
                }
                classify(status, &String::from_utf8_lossy(&text))
            }
            Err(e) if e.is_timeout() => Reply::Retry(format!("no answer within {:?}", self.ep.timeout)),
            Err(e) => Reply::Retry(format!("cannot reach the LRS: {}", error_chain(&e))),
        }
    }
}

impl Transport for HttpTransport {
    fn post(&mut self, body: &[u8]) -> Reply {
        match self.gzip {
            Some(g) => self.send(body, g),
            None => {
                let r = self.send(body, true);
                match r {
                    Reply::Stored | Reply::Conflict(_) => {
                        self.gzip = Some(true);
                        r
                    }
                    // A cut says nothing about gzip: probe again with the next request.
                    Reply::Retry(ref why) if why.starts_with("cannot reach") || why.starts_with("no answer") => r,
                    _ => {
                        self.gzip = Some(false);
                        self.send(body, false)
                    }
                }
            }
        }
    }
    fn bytes(&self) -> u64 {
        self.bytes
    }
    fn requests(&self) -> u64 {
        self.requests
    }
    fn gzip(&self) -> bool {
        self.gzip == Some(true)
    }
}

// The error and its causes on one line (the URL has no userinfo to hide: the password
// goes in a header, never in the URL).
use preau_pack::text::error_chain;
