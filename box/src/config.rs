//! `preau.toml`: the one file a technician edits (on images, on the FAT boot partition).
//!
//! Every key is optional and the box runs with none. Unknown keys are errors, so that a
//! typo (`scool = …`) is reported instead of silently ignored. Every value is checked
//! here, once, with an error that names the key; the rest of the box trusts `Config`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// Largest config file read (it is a handful of lines; anything bigger is a mistake).
pub const MAX_CONFIG_BYTES: u64 = 64 * 1024;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    #[serde(rename = "box")]
    pub box_: BoxSection,
    pub wifi: WifiSection,
    pub sync: SyncSection,
    pub server: ServerSection,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BoxSection {
    /// School name shown on pages.
    pub school: Option<String>,
    pub listen: Option<SocketAddr>,
    pub data: Option<PathBuf>,
    /// One-time teacher setup code (read by the app).
    pub setup_code: Option<String>,
    /// DNS and mDNS host name (without `.local`).
    pub hostname: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WifiMode {
    Hotspot,
    Ethernet,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WifiSection {
    pub mode: Option<WifiMode>,
    pub ssid: Option<String>,
    pub passphrase: Option<String>,
    pub channel: Option<u32>,
    pub country: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncSection {
    pub repository: Option<String>,
    pub trusted_keys: Vec<String>,
    pub preload: Option<PathBuf>,
    /// `HH:MM-HH:MM`, may wrap past midnight.
    pub hours: Option<String>,
    /// Bytes per second.
    pub max_rate: Option<u64>,
    /// A secret shared by the boxes of one school (at least 16 characters): `/repo/`
    /// gives the objects of private `_preau/` files (quiz answers) only to requests
    /// that carry it, and the background sync sends it to peers. Without it, peers get
    /// everything but quiz answers, and pupils cannot fetch answers through `/repo/`.
    pub peer_token: Option<String>,
}

/// Limits of the HTTP server. The defaults suit a Pi serving one class (30 pupils, each
/// browser opening up to 6 connections) and leave room for idle or hostile clients.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// Open connections at once; more are answered 503 and closed.
    pub max_connections: Option<usize>,
    /// Open connections at once from one client address, below `max_connections` so that
    /// one machine (idle sockets, a slowloris) cannot take them all; more get a 503.
    pub max_connections_per_client: Option<usize>,
    /// Time a client has to send a request's headers (also the keep-alive idle time).
    pub header_read_timeout_secs: Option<u64>,
    /// Time a handler has to produce a response head (it includes reading the body).
    pub request_timeout_secs: Option<u64>,
    /// Largest request body accepted on any route.
    pub max_body_bytes: Option<u64>,
    /// Requests served on one keep-alive connection before it is closed.
    pub keep_alive_max_requests: Option<u32>,
    /// Advertise the box with mDNS (default true).
    pub mdns: Option<bool>,
    /// Memory for cached small files and their gzip forms.
    pub cache_bytes: Option<u64>,
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
        let meta = std::fs::metadata(path).with_context(|| format!("cannot read config file {}", path.display()))?;
        if meta.len() > MAX_CONFIG_BYTES {
            bail!("config file {} is {} bytes, more than the limit of {MAX_CONFIG_BYTES}", path.display(), meta.len());
        }
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
        Config::parse(&text).with_context(|| format!("config file {}", path.display()))
    }

    /// Parses and checks config text.
    pub fn parse(text: &str) -> Result<Config> {
        let config: Config = toml::from_str(text).map_err(|e| anyhow::anyhow!("{}", e.to_string().trim_end()))?;
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
            check_len("wifi.ssid", s, 1, 32)?;
        }
        if let Some(p) = &w.passphrase {
            // WPA2 personal: 8 to 63 printable ASCII characters.
            check_len("wifi.passphrase", p, 8, 63)?;
            if !p.bytes().all(|c| (0x20..0x7f).contains(&c)) {
                bail!("wifi.passphrase: use printable ASCII characters only");
            }
        }
        if let Some(c) = w.channel
            && !(1..=196).contains(&c)
        {
            bail!("wifi.channel: {c} is not a Wi-Fi channel (1 to 196)");
        }
        if let Some(c) = &w.country
            && (c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()))
        {
            bail!("wifi.country: {c:?} is not a two-letter country code such as \"FR\"");
        }
        let s = &self.sync;
        if let Some(r) = &s.repository {
            check_len("sync.repository", r, 1, 2000)?;
        }
        if s.trusted_keys.len() > 32 {
            bail!("sync.trusted_keys: {} keys, more than the limit of 32", s.trusted_keys.len());
        }
        for k in &s.trusted_keys {
            if k.len() != 64 || !k.bytes().all(|b| b.is_ascii_hexdigit()) {
                bail!("sync.trusted_keys: {k:?} is not an ed25519 public key (64 hex digits)");
            }
        }
        if let Some(h) = &s.hours {
            parse_hours(h).with_context(|| format!("sync.hours: {h:?}"))?;
        }
        if s.max_rate == Some(0) {
            bail!("sync.max_rate: must be more than 0 bytes per second");
        }
        if let Some(t) = &s.peer_token {
            // Sent in an HTTP header: printable ASCII, and long enough not to be guessed.
            check_len("sync.peer_token", t, 16, 200)?;
            if !t.bytes().all(|c| c.is_ascii_graphic()) {
                bail!("sync.peer_token: use printable ASCII characters without spaces");
            }
        }
        let v = &self.server;
        check_range("server.max_connections", v.max_connections.map(|x| x as u64), 1, 100_000)?;
        check_range("server.max_connections_per_client", v.max_connections_per_client.map(|x| x as u64), 1, 100_000)?;
        if let (Some(per), Some(all)) = (v.max_connections_per_client, v.max_connections)
            && per > all
        {
            bail!("server.max_connections_per_client: {per} is more than server.max_connections ({all})");
        }
        check_range("server.header_read_timeout_secs", v.header_read_timeout_secs, 1, 600)?;
        check_range("server.request_timeout_secs", v.request_timeout_secs, 1, 3600)?;
        check_range("server.max_body_bytes", v.max_body_bytes, 1024, 4 * 1024 * 1024 * 1024)?;
        check_range("server.keep_alive_max_requests", v.keep_alive_max_requests.map(u64::from), 1, 1_000_000)?;
        check_range("server.cache_bytes", v.cache_bytes, 0, 1024 * 1024 * 1024)?;
        Ok(())
    }

    /// The server limits, defaults filled in.
    pub fn limits(&self) -> Limits {
        let d = Limits::default();
        let v = &self.server;
        let max_connections = v.max_connections.unwrap_or(d.max_connections);
        Limits {
            max_connections,
            max_connections_per_client: v
                .max_connections_per_client
                .unwrap_or(d.max_connections_per_client)
                .min(max_connections),
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

fn check_len(key: &str, value: &str, min: usize, max: usize) -> Result<()> {
    let n = value.chars().count();
    if n < min || n > max {
        bail!("{key}: {n} characters, expected {min} to {max}");
    }
    if value.chars().any(char::is_control) {
        bail!("{key}: control characters are not allowed");
    }
    Ok(())
}

fn check_range(key: &str, value: Option<u64>, min: u64, max: u64) -> Result<()> {
    match value {
        Some(v) if v < min || v > max => bail!("{key}: {v} is outside {min} to {max}"),
        _ => Ok(()),
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
        bail!("box.hostname: {h:?} is not a host name (1 to 63 lowercase letters, digits or '-')");
    }
    Ok(())
}

/// Parses `HH:MM-HH:MM` into minutes since midnight (start, end).
pub fn parse_hours(s: &str) -> Result<(u32, u32)> {
    let (a, b) = s.split_once('-').context("expected HH:MM-HH:MM")?;
    let minutes = |t: &str| -> Result<u32> {
        let (h, m) = t.trim().split_once(':').context("expected HH:MM")?;
        let (h, m): (u32, u32) = (h.parse().context("bad hour")?, m.parse().context("bad minute")?);
        if h > 23 || m > 59 {
            bail!("{t:?} is not a time of day");
        }
        Ok(h * 60 + m)
    };
    Ok((minutes(a)?, minutes(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_valid() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.hostname(), "preau");
        assert_eq!(c.limits().max_connections, 512);
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
"#,
        )
        .unwrap();
        assert_eq!(c.box_.listen.unwrap().port(), 80);
        assert_eq!(c.wifi.mode, Some(WifiMode::Hotspot));
        assert_eq!(c.limits().max_connections, 64);
        assert_eq!(parse_hours("22:00-06:00").unwrap(), (22 * 60, 6 * 60));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let e = format!("{:#}", Config::parse("[box]\nscool = \"x\"\n").unwrap_err());
        assert!(e.contains("scool"), "{e}");
        let e = format!("{:#}", Config::parse("[boxx]\n").unwrap_err());
        assert!(e.contains("boxx"), "{e}");
        let e = format!("{:#}", Config::parse("[wifi]\npassphrase = \"short\"\n").unwrap_err());
        assert!(e.contains("wifi.passphrase"), "{e}");
        let e = format!("{:#}", Config::parse("[sync]\ntrusted_keys = [\"zz\"]\n").unwrap_err());
        assert!(e.contains("sync.trusted_keys"), "{e}");
        let e = format!("{:#}", Config::parse("[sync]\nhours = \"25:00-06:00\"\n").unwrap_err());
        assert!(e.contains("sync.hours"), "{e}");
        let e = format!("{:#}", Config::parse("[box]\nhostname = \"Préau\"\n").unwrap_err());
        assert!(e.contains("box.hostname"), "{e}");
        let e = format!("{:#}", Config::parse("[server]\nmax_connections = 0\n").unwrap_err());
        assert!(e.contains("server.max_connections"), "{e}");
        let e = format!(
            "{:#}",
            Config::parse("[server]\nmax_connections = 10\nmax_connections_per_client = 20\n").unwrap_err()
        );
        assert!(e.contains("max_connections_per_client: 20 is more than"), "{e}");
        let small = Config::parse("[server]\nmax_connections = 10\n").unwrap();
        assert_eq!(small.limits().max_connections_per_client, 10, "never above the global cap");
        assert_eq!(Config::default().limits().max_connections_per_client, 64);
        let e = format!("{:#}", Config::parse("[box]\nlisten = \"nowhere\"\n").unwrap_err());
        assert!(e.contains("listen"), "{e}");
    }
}
