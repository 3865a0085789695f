//! Finding other boxes on the LAN: mDNS service `_preau._tcp`.
//!
//! A box advertises itself (see [`advertise`]) with a TXT record `path=/repo/`; `preau
//! sync peers` browses for a few seconds and lists what answered. A peer is only a
//! *source*: what it serves is verified like anything else.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mdns_sd::{ServiceDaemon, ServiceEvent, ServiceInfo};
use preau_pack::{Error, Result};
use serde::Serialize;

pub const SERVICE_TYPE: &str = "_preau._tcp.local.";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Peer {
    /// The instance name (the box's hostname or school).
    pub name: String,
    pub host: String,
    pub addresses: Vec<String>,
    pub port: u16,
    /// The repository URL to pull from (`http://ADDR:PORT/repo/`).
    pub url: String,
}

/// The repository URL of a peer at `addr:port` with TXT `path` (default `/repo/`).
pub fn repo_url(addr: &str, port: u16, path: Option<&str>) -> String {
    let host = if addr.contains(':') { format!("[{addr}]") } else { addr.to_string() };
    let mut path = path.unwrap_or("/repo/").to_string();
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    format!("http://{host}:{port}{path}")
}

/// Browses for `wait` and returns the boxes that answered (not this one, if `own_name`).
pub fn discover(wait: Duration, own_name: Option<&str>) -> Result<Vec<Peer>> {
    let mdns = ServiceDaemon::new().map_err(|e| Error::Other(format!("mDNS is not available: {e}")))?;
    let rx = mdns.browse(SERVICE_TYPE).map_err(|e| Error::Other(format!("mDNS browse failed: {e}")))?;
    let deadline = Instant::now() + wait;
    let mut found: BTreeMap<String, Peer> = BTreeMap::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Ok(ev) = rx.recv_timeout(left) else { break };
        if let ServiceEvent::ServiceResolved(info) = ev {
            let name = info.fullname.trim_end_matches(SERVICE_TYPE).trim_end_matches('.').to_string();
            if own_name.is_some_and(|o| o == name) {
                continue;
            }
            let mut addresses: Vec<String> = info.get_addresses_v4().iter().map(|a| a.to_string()).collect();
            addresses.sort();
            let Some(first) = addresses.first() else {
                continue;
            };
            let url = repo_url(first, info.port, info.get_property_val_str("path"));
            found.insert(name.clone(), Peer { name, host: info.host.clone(), addresses, port: info.port, url });
        }
    }
    let _ = mdns.shutdown();
    Ok(found.into_values().collect())
}

/// Advertises this box as `_preau._tcp` on `port`; keep the returned daemon alive.
pub fn advertise(instance: &str, hostname: &str, port: u16) -> Result<ServiceDaemon> {
    let mdns = ServiceDaemon::new().map_err(|e| Error::Other(format!("mDNS is not available: {e}")))?;
    let host = if hostname.ends_with(".local.") { hostname.to_string() } else { format!("{hostname}.local.") };
    let info = ServiceInfo::new(SERVICE_TYPE, instance, &host, "", port, &[("path", "/repo/")][..])
        .map_err(|e| Error::Other(format!("bad mDNS service: {e}")))?
        .enable_addr_auto();
    mdns.register(info).map_err(|e| Error::Other(format!("mDNS register failed: {e}")))?;
    Ok(mdns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_of_peers() {
        assert_eq!(repo_url("192.168.1.20", 80, None), "http://192.168.1.20:80/repo/");
        assert_eq!(repo_url("fe80::1", 8080, Some("repo/")), "http://[fe80::1]:8080/repo/");
    }
}
