//! mDNS: the box as `_http._tcp` (for laptops: "Préau" shows in browsers and file
//! managers) and `_preau._tcp` (for other boxes and `preau sync`), answering for
//! `{hostname}.local`. The records come from `preau_sync::peers::Advert`, the one
//! description of the service that every reader parses back.
//!
//! Android resolves `.local` poorly, so pupils are sent here by DNS, QR code or the
//! captive portal instead; mDNS is for laptops and box-to-box discovery.

use anyhow::{Context, Result};
use mdns_sd::ServiceDaemon;
use preau_sync::peers::Advert;

/// A running advertisement; dropped (or `stop`ped) at shutdown.
pub struct Advertiser {
    daemon: ServiceDaemon,
}

impl Advertiser {
    pub fn start(advert: &Advert, hostname: &str, port: u16) -> Result<Advertiser> {
        let daemon = ServiceDaemon::new().context("cannot start mDNS")?;
        for info in advert.services(hostname, port)? {
            daemon.register(info).context("cannot register the mDNS service")?;
        }
        tracing::info!(
            "mDNS: advertising {:?} as _preau._tcp and _http._tcp on port {port} (box id {}, catalog v{})",
            advert.instance(),
            advert.box_id,
            advert.catalog_version
        );
        Ok(Advertiser { daemon })
    }

    /// Says goodbye on the network so peers forget the box at once.
    pub fn stop(self) {
        let _ = self.daemon.shutdown();
    }
}
