//! mDNS: the box as `_http._tcp` (for laptops: "Préau" shows in browsers and file
//! managers) and `_preau._tcp` (for other boxes and `preau sync`: TXT carries the box id,
//! the installed catalog version and the API version), answering for `{hostname}.local`.
//!
//! Android resolves `.local` poorly, so pupils are sent here by DNS, QR code or the
//! captive portal instead; mDNS is for laptops and box-to-box discovery.

use anyhow::{Context, Result};
use mdns_sd::{ServiceDaemon, ServiceInfo};

/// The HTTP API version other boxes read from the TXT record.
pub const API_VERSION: &str = "1";

/// What the box advertises.
#[derive(Debug, Clone)]
pub struct Advert {
    pub hostname: String,
    pub box_id: String,
    pub catalog_version: u64,
    pub port: u16,
}

impl Advert {
    /// The TXT key/value pairs of `_preau._tcp`.
    pub fn txt(&self) -> Vec<(&'static str, String)> {
        vec![
            ("id", self.box_id.clone()),
            ("catalog", self.catalog_version.to_string()),
            ("api", API_VERSION.to_string()),
            ("path", "/".to_string()),
        ]
    }

    /// The instance name: unique per box even when every box keeps the host name `preau`.
    pub fn instance(&self) -> String {
        format!("Préau {}", &self.box_id[..self.box_id.len().min(8)])
    }

    fn host(&self) -> String {
        format!("{}.local.", self.hostname)
    }

    pub fn services(&self) -> Result<Vec<ServiceInfo>> {
        let txt = self.txt();
        let mut out = Vec::new();
        for ty in ["_http._tcp.local.", "_preau._tcp.local."] {
            let info = ServiceInfo::new(ty, &self.instance(), &self.host(), "", self.port, &txt[..])
                .with_context(|| format!("bad mDNS service {ty}"))?
                .enable_addr_auto();
            out.push(info);
        }
        Ok(out)
    }
}

/// A running advertisement; dropped (or `stop`ped) at shutdown.
pub struct Advertiser {
    daemon: ServiceDaemon,
}

impl Advertiser {
    pub fn start(advert: &Advert) -> Result<Advertiser> {
        let daemon = ServiceDaemon::new().context("cannot start mDNS")?;
        for info in advert.services()? {
            daemon.register(info).context("cannot register the mDNS service")?;
        }
        Ok(Advertiser { daemon })
    }

    /// Says goodbye on the network so peers forget the box at once.
    pub fn stop(self) {
        let _ = self.daemon.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txt_records_and_names() {
        let a = Advert {
            hostname: "preau".into(),
            box_id: "0123456789abcdef0123456789abcdef".into(),
            catalog_version: 7,
            port: 8080,
        };
        let services = a.services().unwrap();
        assert_eq!(services.len(), 2);
        let p = &services[1];
        assert_eq!(p.get_fullname(), "Préau 01234567._preau._tcp.local.");
        assert_eq!(p.get_hostname(), "preau.local.");
        assert_eq!(p.get_port(), 8080);
        assert_eq!(p.get_property_val_str("id"), Some("0123456789abcdef0123456789abcdef"));
        assert_eq!(p.get_property_val_str("catalog"), Some("7"));
        assert_eq!(p.get_property_val_str("api"), Some(API_VERSION));
        assert!(p.is_addr_auto());
    }
}
