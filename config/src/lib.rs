//! `preau.toml`: the one file a technician edits (on images, on the FAT boot partition).
//!
//! One schema for the two programs that read it: the box (`preau serve`) and the image
//! builder (`preau-image check-config`, `build`, `personalize`, and `firstboot` on the
//! box at every boot). Both accept and refuse the same files with the same messages
//! (`tests/tests/config_agreement.rs`), so a file `preau-image check-config` passes never
//! stops the box on that card.
//!
//! Every key is optional and the box runs with none. Unknown keys are errors, so that a
//! typo (`scool = …`) is reported instead of silently ignored. Every value is checked
//! here, once, with an error that names the key; the rest of the box trusts `Config`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub mod clock;
mod diagnostic;
pub use diagnostic::{Diagnostic, data_dir_hint};

/// Largest config file read (it is a handful of lines; anything bigger is a mistake).
pub const MAX_CONFIG_BYTES: u64 = 64 * 1024;

/// Why a config file was refused. The message names the file (when there is one), the
/// key and the rule it breaks.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {error}")]
    Read { path: PathBuf, error: std::io::Error },
    #[error("config file {path} is {len} bytes, more than the limit of {MAX_CONFIG_BYTES}")]
    TooBig { path: PathBuf, len: u64 },
    /// TOML syntax, an unknown key or a value of the wrong type (serde's message).
    #[error("{0}")]
    Syntax(String),
    /// A value outside its rule.
    #[error("{0}")]
    Invalid(String),
    /// One of the two above, in a named file.
    #[error("config file {path}: {inner}")]
    InFile { path: PathBuf, inner: Box<ConfigError> },
}

impl ConfigError {
    /// The problem itself, without the file name: the same text whichever program read it.
    pub fn problem(&self) -> String {
        match self {
            ConfigError::InFile { inner, .. } => inner.problem(),
            other => other.to_string(),
        }
    }
}

type Result<T> = std::result::Result<T, ConfigError>;

fn invalid(message: String) -> ConfigError {
    ConfigError::Invalid(message)
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    #[serde(rename = "box", skip_serializing_if = "is_default")]
    pub box_: BoxSection,
    #[serde(skip_serializing_if = "is_default")]
    pub wifi: WifiSection,
    #[serde(skip_serializing_if = "is_default")]
    pub sync: SyncSection,
    #[serde(skip_serializing_if = "is_default")]
    pub server: ServerSection,
    #[serde(skip_serializing_if = "is_default")]
    pub upstream: UpstreamSection,
}

/// `box.listen` with a message that says what is expected (serde's alone says "invalid
/// socket address syntax").
fn listen_addr<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<SocketAddr>, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map(Some).map_err(|_| {
        serde::de::Error::custom(format!("box.listen: {s:?} is not an address and port such as \"0.0.0.0:80\""))
    })
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BoxSection {
    /// School name shown on pages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub school: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "listen_addr")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<PathBuf>,
    /// One-time teacher setup code (read by the app).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setup_code: Option<String>,
    /// DNS and mDNS host name (without `.local`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WifiMode {
    /// The built-in radio is an access point (about 8–10 devices).
    #[default]
    Hotspot,
    /// The box is on Ethernet behind an external access point (a full class).
    Ethernet,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WifiSection {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<WifiMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<String>,
    /// A 2.4 GHz channel: the image's hostapd runs `hw_mode=g`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncSection {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trusted_keys: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preload: Option<PathBuf>,
    /// `HH:MM-HH:MM`, may wrap past midnight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hours: Option<String>,
    /// Bytes per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_rate: Option<u64>,
    /// A secret shared by the boxes of one school (at least 16 characters): `/repo/`
    /// gives the objects of private `_preau/` files (quiz answers) only to requests
    /// that carry it, and the background sync sends it to peers. Without it, peers get
    /// everything but quiz answers, and pupils cannot fetch answers through `/repo/`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_token: Option<String>,
}

/// Limits of the HTTP server. The defaults suit a Pi serving one class (30 pupils, each
/// browser opening up to 6 connections) and leave room for idle or hostile clients.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// Open connections at once; more are answered 503 and closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<usize>,
    /// Open connections at once from one client address, below `max_connections` so that
    /// one machine (idle sockets, a slowloris) cannot take them all; more get a 503.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections_per_client: Option<usize>,
    /// Time a client has to send a request's headers (also the keep-alive idle time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header_read_timeout_secs: Option<u64>,
    /// Time a handler has to produce a response head (it includes reading the body).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_timeout_secs: Option<u64>,
    /// Largest request body accepted on any route.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_body_bytes: Option<u64>,
    /// Requests served on one keep-alive connection before it is closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_alive_max_requests: Option<u32>,
    /// Advertise the box with mDNS (default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mdns: Option<bool>,
    /// Memory for cached small files and their gzip forms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_bytes: Option<u64>,
}

/// Where the box sends its xAPI statements when it can reach the academy's Learning
/// Record Store (issue 12). Pupils appear there only as `urn:preau:box:<id>` + a random
/// UUID, never by name; free-text answers are sent only with `send_responses = true`.
#[derive(Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamSection {
    /// The LRS endpoint (`http(s)://…/`, ending with `/`); statements go to
    /// `{lrs}statements`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lrs: Option<String>,
    /// HTTP Basic user name for the LRS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// HTTP Basic password for the LRS; never printed (`Debug` redacts it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Push when an LRS is configured (default true): `false` pauses the push and keeps
    /// statements in the outbox.
    pub enabled: bool,
    /// Days a statement the LRS accepted is kept on the box (1 to 3650, default 30).
    pub keep_days: u32,
    /// Send free-text answers (default false: they never leave the box).
    pub send_responses: bool,
    /// Statements kept while the LRS cannot be reached (default 200000); the oldest
    /// unsent go first beyond it.
    pub max_outbox: u64,
    /// The base of the xAPI `account.homePage` (a URL), if the academy wants its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub home_page: Option<String>,
}

impl Default for UpstreamSection {
    fn default() -> UpstreamSection {
        UpstreamSection {
            lrs: None,
            username: None,
            password: None,
            enabled: true,
            keep_days: 30,
            send_responses: false,
            max_outbox: 200_000,
            home_page: None,
        }
    }
}

impl std::fmt::Debug for UpstreamSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password sits in memory for the push; it must not reach a log line.
        f.debug_struct("UpstreamSection")
            .field("lrs", &self.lrs)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("enabled", &self.enabled)
            .field("keep_days", &self.keep_days)
            .field("send_responses", &self.send_responses)
            .field("max_outbox", &self.max_outbox)
            .field("home_page", &self.home_page)
            .finish()
    }
}

/// The effective server limits, with defaults filled in.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_connections: usize,
    /// At most `max_connections`.
    pub max_connections_per_client: usize,
    pub header_read_timeout: Duration,
    pub request_timeout: Duration,
    pub max_body_bytes: u64,
    pub keep_alive_max_requests: u32,
    pub cache_bytes: u64,
    /// How long shutdown waits for requests in flight before closing them.
    pub shutdown_grace: Duration,
    /// The box's host name (`[box] hostname`): state-changing requests are answered only
    /// for it, `NAME.local`, `localhost` and the box's addresses.
    pub hostname: String,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 512,
            // A browser opens up to 6 connections; a classroom behind one address (a
            // proxy, a NAT'ed cart of tablets) fits in 64, and 8 such clients still leave
            // room under 512.
            max_connections_per_client: 64,
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            // Assignment uploads (a photo of a page, a short video) are the largest bodies.
            max_body_bytes: 32 * 1024 * 1024,
            keep_alive_max_requests: 1000,
            cache_bytes: 16 * 1024 * 1024,
            shutdown_grace: Duration::from_secs(10),
            hostname: "preau".into(),
        }
    }
}

impl Config {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Config> {
        let read_err = |error| ConfigError::Read { path: path.to_owned(), error };
        let meta = std::fs::metadata(path).map_err(read_err)?;
        if meta.len() > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooBig { path: path.to_owned(), len: meta.len() });
        }
        let text = std::fs::read_to_string(path).map_err(read_err)?;
        Config::parse(&text).map_err(|inner| ConfigError::InFile { path: path.to_owned(), inner: Box::new(inner) })
    }

    /// Parses and checks config text.
    pub fn parse(text: &str) -> Result<Config> {
        if text.len() as u64 > MAX_CONFIG_BYTES {
            return Err(invalid(format!("{} bytes, more than the limit of {MAX_CONFIG_BYTES}", text.len())));
        }
        let config: Config =
            toml::from_str(text).map_err(|e| ConfigError::Syntax(redact_secrets(e.to_string().trim_end())))?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<()> {
        let b = &self.box_;
        if let Some(s) = &b.school {
            check_len("box.school", s, 1, 200)?;
        }
        if let Some(code) = &b.setup_code {
            check_len("box.setup_code", code, 6, 64)?;
        }
        if let Some(h) = &b.hostname {
            check_hostname(h)?;
        }
        let w = &self.wifi;
        if let Some(s) = &w.ssid {
            // hostapd's limit is 32 bytes, not characters ("é" is two).
            check_len("wifi.ssid", s, 1, 32)?;
            if s.len() > 32 {
                return Err(invalid(format!("wifi.ssid: {} bytes in UTF-8, more than 32", s.len())));
            }
        }
        if let Some(p) = &w.passphrase {
            // WPA2 personal: 8 to 63 printable ASCII characters.
            check_len("wifi.passphrase", p, 8, 63)?;
            if !p.bytes().all(|c| (0x20..0x7f).contains(&c)) {
                return Err(invalid("wifi.passphrase: use printable ASCII characters only".into()));
            }
        }
        if let Some(c) = w.channel
            && !(1..=13).contains(&c)
        {
            return Err(invalid(format!("wifi.channel: {c} is not a 2.4 GHz Wi-Fi channel (1 to 13)")));
        }
        if let Some(c) = &w.country
            && (c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()))
        {
            return Err(invalid(format!("wifi.country: {c:?} is not a two-letter country code such as \"FR\"")));
        }
        let s = &self.sync;
        if let Some(r) = &s.repository {
            check_len("sync.repository", r, 1, 2000)?;
            check_http_url("sync.repository", r)?;
        }
        if s.trusted_keys.len() > 32 {
            return Err(invalid(format!(
                "sync.trusted_keys: {} keys, more than the limit of 32",
                s.trusted_keys.len()
            )));
        }
        for k in &s.trusted_keys {
            if k.len() != 64 || !k.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid(format!("sync.trusted_keys: {k:?} is not an ed25519 public key (64 hex digits)")));
            }
        }
        if let Some(h) = &s.hours {
            clock::DailyWindow::parse(h).map_err(|e| invalid(format!("sync.hours: {h:?}: {e}")))?;
        }
        if s.max_rate == Some(0) {
            return Err(invalid("sync.max_rate: must be more than 0 bytes per second".into()));
        }
        if let Some(t) = &s.peer_token {
            // Sent in an HTTP header: printable ASCII, and long enough not to be guessed.
            check_len("sync.peer_token", t, 16, 200)?;
            if !t.bytes().all(|c| c.is_ascii_graphic()) {
                return Err(invalid("sync.peer_token: use printable ASCII characters without spaces".into()));
            }
        }
        let v = &self.server;
        check_range("server.max_connections", v.max_connections.map(|x| x as u64), 1, 100_000)?;
        check_range("server.max_connections_per_client", v.max_connections_per_client.map(|x| x as u64), 1, 100_000)?;
        if let (Some(per), Some(all)) = (v.max_connections_per_client, v.max_connections)
            && per > all
        {
            return Err(invalid(format!(
                "server.max_connections_per_client: {per} is more than server.max_connections ({all})"
            )));
        }
        check_range("server.header_read_timeout_secs", v.header_read_timeout_secs, 1, 600)?;
        check_range("server.request_timeout_secs", v.request_timeout_secs, 1, 3600)?;
        check_range("server.max_body_bytes", v.max_body_bytes, 1024, 4 * 1024 * 1024 * 1024)?;
        check_range("server.keep_alive_max_requests", v.keep_alive_max_requests.map(u64::from), 1, 1_000_000)?;
        check_range("server.cache_bytes", v.cache_bytes, 0, 1024 * 1024 * 1024)?;
        self.upstream.check()
    }

    /// The server limits, defaults filled in.
    pub fn limits(&self) -> Limits {
        let d = Limits::default();
        let v = &self.server;
        Limits {
            max_connections: v.max_connections.unwrap_or(d.max_connections),
            max_connections_per_client: v
                .max_connections_per_client
                .unwrap_or(d.max_connections_per_client)
                .min(v.max_connections.unwrap_or(d.max_connections)),
            header_read_timeout: v.header_read_timeout_secs.map(Duration::from_secs).unwrap_or(d.header_read_timeout),
            request_timeout: v.request_timeout_secs.map(Duration::from_secs).unwrap_or(d.request_timeout),
            max_body_bytes: v.max_body_bytes.unwrap_or(d.max_body_bytes),
            keep_alive_max_requests: v.keep_alive_max_requests.unwrap_or(d.keep_alive_max_requests),
            cache_bytes: v.cache_bytes.unwrap_or(d.cache_bytes),
            shutdown_grace: d.shutdown_grace,
            hostname: self.hostname().to_string(),
        }
    }

    /// The host name for DNS and mDNS (`preau` unless configured).
    pub fn hostname(&self) -> &str {
        self.box_.hostname.as_deref().unwrap_or("preau")
    }
}

impl UpstreamSection {
    /// Whether the box pushes at all: enabled and an LRS configured.
    pub fn active(&self) -> bool {
        self.enabled && self.lrs.is_some()
    }

    /// The base of the xAPI actors' `account.homePage`: `home_page`, or the LRS URL.
    pub fn home_page_base(&self) -> Option<&str> {
        self.home_page.as_deref().or(self.lrs.as_deref())
    }

    fn check(&self) -> Result<()> {
        if let Some(lrs) = &self.lrs {
            check_len("upstream.lrs", lrs, 1, 2000)?;
            check_http_url("upstream.lrs", lrs)?;
            if !lrs.ends_with('/') {
                return Err(invalid(format!(
                    "upstream.lrs: {lrs:?} must end with '/' (statements go to <lrs>xAPI/statements)"
                )));
            }
        }
        if let Some(u) = &self.username {
            check_len("upstream.username", u, 1, 200)?;
            if u.contains(':') {
                // HTTP Basic joins user and password with ':'.
                return Err(invalid("upstream.username: ':' is not allowed".into()));
            }
        }
        if let Some(p) = &self.password {
            check_len("upstream.password", p, 1, 200)?;
        }
        if self.lrs.is_none() && (self.username.is_some() || self.password.is_some()) {
            return Err(invalid("upstream.lrs: missing, while upstream.username or upstream.password is set".into()));
        }
        if self.password.is_some() != self.username.is_some() {
            return Err(invalid("upstream: set both username and password, or neither".into()));
        }
        check_range("upstream.keep_days", Some(u64::from(self.keep_days)), 1, 3650)?;
        check_range("upstream.max_outbox", Some(self.max_outbox), 1000, 10_000_000)?;
        if let Some(h) = &self.home_page {
            check_len("upstream.home_page", h, 1, 2000)?;
            check_http_url("upstream.home_page", h)?;
        }
        Ok(())
    }
}

fn check_len(key: &str, value: &str, min: usize, max: usize) -> Result<()> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(invalid(format!("{key}: {n} characters, expected {min} to {max}")));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(format!("{key}: control characters are not allowed")));
    }
    Ok(())
}

fn check_range(key: &str, value: Option<u64>, min: u64, max: u64) -> Result<()> {
    match value {
        Some(v) if v < min || v > max => Err(invalid(format!("{key}: {v} is outside {min} to {max}"))),
        _ => Ok(()),
    }
}

/// An `http://` or `https://` URL with a host and no spaces (the sync and push clients
/// speak HTTP only; a typo such as `htps://` is caught here, not at the first pull).
fn check_http_url(key: &str, url: &str) -> Result<()> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') && !url.contains(char::is_whitespace) => Ok(()),
        _ => Err(invalid(format!("{key}: {url:?} is not an http:// or https:// URL"))),
    }
}

/// A DNS label: 1 to 63 of `a-z`, `0-9`, `-`, not starting or ending with `-`.
fn check_hostname(h: &str) -> Result<()> {
    let ok = !h.is_empty()
        && h.len() <= 63
        && !h.starts_with('-')
        && !h.ends_with('-')
        && h.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !ok {
        return Err(invalid(format!(
            "box.hostname: {h:?} is not a host name (1 to 63 lowercase letters, digits or '-')"
        )));
    }
    Ok(())
}

/// toml's errors quote the offending line: never let them show a secret (the LRS password,
/// the peer token, the Wi-Fi passphrase).
fn redact_secrets(message: &str) -> String {
    message
        .lines()
        .map(|l| match ["password", "peer_token", "passphrase"].iter().find_map(|k| l.find(k).map(|i| (i, k))) {
            Some((i, k)) if l[i..].contains('=') => format!("{}{k} = <redacted>", &l[..i]),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_valid() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.hostname(), "preau");
        assert_eq!(c.limits().max_connections, 512);
        assert_eq!(c.upstream, UpstreamSection::default());
        assert!(c.upstream.enabled && !c.upstream.send_responses);
        assert_eq!((c.upstream.keep_days, c.upstream.max_outbox), (30, 200_000));
    }

    #[test]
    fn full_example_parses() {
        let c = Config::parse(
            r#"
[box]
school = "École de Saint-Martin"
listen = "0.0.0.0:80"
data = "/var/lib/preau"
setup_code = "483920"
hostname = "preau"

[wifi]
mode = "hotspot"
ssid = "Preau-Ecole"
passphrase = "at least 8 chars"
channel = 6
country = "FR"

[sync]
repository = "https://example.org/preau/"
trusted_keys = ["00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"]
preload = "/usr/share/preau/preload"
hours = "22:00-06:00"
max_rate = 250000

[server]
max_connections = 64
mdns = false

[upstream]
lrs = "https://lrs.example.org/xapi/"
username = "box-st-martin"
password = "s3cret-pass"
keep_days = 7
send_responses = true
max_outbox = 5000
home_page = "https://ent.example.org/"
"#,
        )
        .unwrap();
        assert_eq!(c.box_.listen.unwrap().port(), 80);
        assert_eq!(c.wifi.mode, Some(WifiMode::Hotspot));
        assert_eq!(c.limits().max_connections, 64);
        assert_eq!(
            clock::DailyWindow::parse("22:00-06:00").unwrap(),
            clock::DailyWindow { start: 22 * 60, end: 6 * 60 }
        );
        let u = &c.upstream;
        assert_eq!(u.lrs.as_deref(), Some("https://lrs.example.org/xapi/"));
        assert!(u.enabled && u.send_responses);
        assert_eq!((u.keep_days, u.max_outbox), (7, 5000));
    }

    #[test]
    fn the_upstream_password_is_never_printed() {
        let c = Config::parse(
            "[upstream]\nlrs = \"https://lrs.example.org/\"\nusername = \"u\"\npassword = \"hunter2-secret\"\n",
        )
        .unwrap();
        let shown = format!("{c:?} {:#?}", c.upstream);
        assert!(!shown.contains("hunter2-secret"), "{shown}");
        assert!(shown.contains("<redacted>") && shown.contains("lrs.example.org"), "{shown}");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let cases = [
            ("[box]\nscool = \"x\"\n", "scool"),
            ("[boxx]\n", "boxx"),
            ("[wifi]\npassphrase = \"short\"\n", "wifi.passphrase"),
            ("[wifi]\nchannel = 14\n", "1 to 13"),
            ("[sync]\ntrusted_keys = [\"zz\"]\n", "sync.trusted_keys"),
            ("[sync]\nhours = \"25:00-06:00\"\n", "sync.hours"),
            ("[sync]\nrepository = \"ftp://x/\"\n", "sync.repository"),
            ("[box]\nhostname = \"Préau\"\n", "box.hostname"),
            ("[server]\nmax_connections = 0\n", "server.max_connections"),
            ("[box]\nlisten = \"nowhere\"\n", "listen"),
            ("[upstream]\nlrs = \"https://lrs.example.org/xapi\"\n", "must end with '/'"),
            ("[upstream]\nkeep_days = 0\n", "upstream.keep_days"),
            ("[upstream]\nusername = \"u\"\npassword = \"p\"\n", "upstream.lrs: missing"),
        ];
        for (text, want) in cases {
            let e = Config::parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn a_file_error_names_the_file_and_the_problem_separately() {
        let dir = std::env::temp_dir().join(format!("preau-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("preau.toml");
        std::fs::write(&f, "[wifi]\nchannel = 99\n").unwrap();
        let e = Config::load(&f).unwrap_err();
        assert!(e.to_string().starts_with(&format!("config file {}: wifi.channel", f.display())), "{e}");
        assert!(e.problem().starts_with("wifi.channel: 99"), "{}", e.problem());
        std::fs::write(&f, "x".repeat(MAX_CONFIG_BYTES as usize + 1)).unwrap();
        assert!(matches!(Config::load(&f), Err(ConfigError::TooBig { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
