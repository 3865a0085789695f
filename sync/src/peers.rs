//! Finding other boxes on the LAN: mDNS service `_preau._tcp`.
//!
//! [`Advert`] is the one description of that service: the box builds its record from it
//! (`box/src/mdns.rs`) and every reader (`preau sync peers`, the background sync) parses
//! adverts back with it, so the name, the TXT keys and the repository path cannot drift
//! apart. A peer is only a *source*: what it serves is verified like anything else, and
//! a box recognises itself by its box id (not by a name several boxes may share).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mdns_sd::{ServiceDaemon, ServiceEvent, ServiceInfo};
use preau_pack::{Error, Result};
use serde::Serialize;

pub const SERVICE_TYPE: &str = "_preau._tcp.local.";
/// The service laptops browse for ("Préau" in a file manager or a browser).
pub const HTTP_SERVICE_TYPE: &str = "_http._tcp.local.";
/// The version of the box-to-box HTTP API (`/repo/` and `/repo/private/…`); a reader
/// skips boxes that speak another one.
pub const API_VERSION: &str = "2";
/// Where a box serves its repository.
pub const REPO_PATH: &str = "/repo/";

/// TXT keys of `_preau._tcp`.
pub const TXT_ID: &str = "id";
pub const TXT_PATH: &str = "path";
pub const TXT_CATALOG: &str = "catalog";
pub const TXT_API: &str = "api";

/// What a box says about itself on the LAN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Advert {
    /// The box id (hex, from `DATA/box-id`): how a box recognises itself.
    pub box_id: String,
    /// The installed catalog version (0: nothing installed).
    pub catalog_version: u64,
    /// The repository path, `/repo/`.
    pub path: String,
    pub api: String,
}

impl Advert {
    pub fn new(box_id: &str, catalog_version: u64) -> Advert {
        Advert {
            box_id: box_id.to_string(),
            catalog_version,
            path: REPO_PATH.to_string(),
            api: API_VERSION.to_string(),
        }
    }

    /// The instance name: unique per box even when every box keeps the host name `preau`.
    pub fn instance(&self) -> String {
        format!("Préau {}", &self.box_id[..self.box_id.len().min(8)])
    }

    /// The TXT key/value pairs.
    pub fn txt(&self) -> Vec<(&'static str, String)> {
        vec![
            (TXT_ID, self.box_id.clone()),
            (TXT_PATH, self.path.clone()),
            (TXT_CATALOG, self.catalog_version.to_string()),
            (TXT_API, self.api.clone()),
        ]
    }

    /// Reads an advert back from its TXT record; every value is checked and bounded
    /// (anything on the LAN can advertise).
    pub fn from_txt<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Advert> {
        let bad = |what: &str| Error::Other(format!("bad _preau._tcp TXT record: {what}"));
        let box_id = get(TXT_ID).ok_or_else(|| bad("no id"))?;
        if box_id.is_empty() || box_id.len() > 64 || !box_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(bad("id is not 1-64 letters and digits"));
        }
        let path = get(TXT_PATH).unwrap_or(REPO_PATH);
        if !path.starts_with('/')
            || path.len() > 100
            || path.contains("..")
            || !path.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b))
        {
            return Err(bad("path is not an absolute URL path"));
        }
        let catalog_version = match get(TXT_CATALOG) {
            Some(c) => c.parse().map_err(|_| bad("catalog is not a number"))?,
            None => 0,
        };
        let api = get(TXT_API).unwrap_or("1");
        if api.len() > 16 {
            return Err(bad("api is too long"));
        }
        Ok(Advert { box_id: box_id.to_string(), catalog_version, path: path.to_string(), api: api.to_string() })
    }

    /// The repository URL of this box at `addr:port`.
    pub fn url(&self, addr: &str, port: u16) -> String {
        let host = if addr.contains(':') { format!("[{addr}]") } else { addr.to_string() };
        let mut path = self.path.clone();
        if !path.ends_with('/') {
            path.push('/');
        }
        format!("http://{host}:{port}{path}")
    }

    /// The mDNS records: `_preau._tcp` for boxes and `_http._tcp` for laptops, both
    /// answering for `{hostname}.local` on every interface's addresses.
    pub fn services(&self, hostname: &str, port: u16) -> Result<Vec<ServiceInfo>> {
        let host = if hostname.ends_with(".local.") { hostname.to_string() } else { format!("{hostname}.local.") };
        let txt = self.txt();
        let mut out = Vec::new();
        for ty in [HTTP_SERVICE_TYPE, SERVICE_TYPE] {
            let info = ServiceInfo::new(ty, &self.instance(), &host, "", port, &txt[..])
                .map_err(|e| Error::Other(format!("bad mDNS service {ty}: {e}")))?
                .enable_addr_auto();
            out.push(info);
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Peer {
    /// The instance name (`Préau 0123abcd`).
    pub name: String,
    pub box_id: String,
    pub host: String,
    pub addresses: Vec<String>,
    pub port: u16,
    pub catalog_version: u64,
    /// The repository URL to pull from (`http://ADDR:PORT/repo/`).
    pub url: String,
}

/// Browses for `wait` and returns the boxes that answered, except the box `own_id`.
/// Adverts that are malformed, of another API version or of this box are skipped, and
/// the reason is logged.
pub fn discover(wait: Duration, own_id: Option<&str>) -> Result<Vec<Peer>> {
    let mdns = ServiceDaemon::new().map_err(|e| Error::Other(format!("mDNS is not available: {e}")))?;
    let rx = mdns.browse(SERVICE_TYPE).map_err(|e| Error::Other(format!("mDNS browse failed: {e}")))?;
    let deadline = Instant::now() + wait;
    let mut found: BTreeMap<String, Peer> = BTreeMap::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Ok(ev) = rx.recv_timeout(left) else { break };
        if let ServiceEvent::ServiceResolved(info) = ev {
            let name = info.fullname.trim_end_matches(SERVICE_TYPE).trim_end_matches('.').to_string();
            let advert = match Advert::from_txt(|k| info.get_property_val_str(k)) {
                Ok(a) => a,
                Err(e) => {
                    tracing::info!(peer = %name, "mDNS: skipped: {e}");
                    continue;
                }
            };
            if own_id.is_some_and(|o| o == advert.box_id) {
                continue;
            }
            if advert.api != API_VERSION {
                tracing::info!(peer = %name, api = %advert.api, "mDNS: skipped: it speaks API {}, this box {API_VERSION}", advert.api);
                continue;
            }
            let mut addresses: Vec<String> = info.get_addresses_v4().iter().map(|a| a.to_string()).collect();
            addresses.sort();
            let Some(first) = addresses.first() else {
                tracing::info!(peer = %name, "mDNS: skipped: no IPv4 address");
                continue;
            };
            let url = advert.url(first, info.port);
            found.insert(
                advert.box_id.clone(),
                Peer {
                    name,
                    box_id: advert.box_id,
                    host: info.host.clone(),
                    addresses,
                    port: info.port,
                    catalog_version: advert.catalog_version,
                    url,
                },
            );
        }
    }
    let _ = mdns.shutdown();
    Ok(found.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn an_advert_reads_back_as_written() {
        let a = Advert::new(ID, 7);
        let txt = a.txt();
        let get = |k: &str| txt.iter().find(|(key, _)| *key == k).map(|(_, v)| v.as_str());
        let back = Advert::from_txt(get).unwrap();
        assert_eq!(back, a);
        assert_eq!(back.url("192.168.1.20", 80), "http://192.168.1.20:80/repo/");
        assert_eq!(back.url("fe80::1", 8080), "http://[fe80::1]:8080/repo/");
        assert_eq!(a.instance(), "Préau 01234567");
    }

    #[test]
    fn bad_adverts_are_refused() {
        let with = |pairs: &'static [(&'static str, &'static str)]| {
            Advert::from_txt(move |k| pairs.iter().find(|(key, _)| *key == k).map(|(_, v)| *v))
        };
        assert!(with(&[]).is_err(), "no id");
        assert!(with(&[("id", "../x")]).is_err());
        assert!(with(&[("id", "ab"), ("path", "repo/")]).is_err());
        assert!(with(&[("id", "ab"), ("path", "/../etc/")]).is_err());
        assert!(with(&[("id", "ab"), ("catalog", "many")]).is_err());
        // An old box (no path, API 1) still parses; the reader skips it by API version.
        let old = with(&[("id", "ab")]).unwrap();
        assert_eq!((old.path.as_str(), old.api.as_str()), (REPO_PATH, "1"));
    }

    #[test]
    fn the_services_carry_the_txt_record() {
        let services = Advert::new(ID, 3).services("preau", 8080).unwrap();
        assert_eq!(services.len(), 2);
        let p = &services[1];
        assert_eq!(p.get_fullname(), "Préau 01234567._preau._tcp.local.");
        assert_eq!(services[0].get_fullname(), "Préau 01234567._http._tcp.local.");
        assert_eq!(p.get_hostname(), "preau.local.");
        assert_eq!(p.get_port(), 8080);
        assert_eq!(p.get_property_val_str("id"), Some(ID));
        assert_eq!(p.get_property_val_str("path"), Some("/repo/"));
        assert_eq!(p.get_property_val_str("catalog"), Some("3"));
        assert_eq!(p.get_property_val_str("api"), Some(API_VERSION));
        assert!(p.is_addr_auto());
    }
}
