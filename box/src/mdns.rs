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

fn register(daemon: &ServiceDaemon, advert: &Advert, hostname: &str, port: u16) -> Result<()> {
    for info in advert.services(hostname, port)? {
        daemon.register(info).context("cannot register the mDNS service")?;
    }
    Ok(())
}

/// A running advertisement; dropped (or `stop`ped) at shutdown.
pub struct Advertiser {
    daemon: ServiceDaemon,
}

impl Advertiser {
    /// Advertises `advert`; `catalog` gives the installed catalog version, checked every
    /// few seconds: a new version is announced at once, so that peer boxes (whose sync
    /// loop watches adverts) pull it without waiting for their next round.
    pub fn start(
        advert: &Advert,
        hostname: &str,
        port: u16,
        catalog: impl Fn() -> u64 + Send + 'static,
    ) -> Result<Advertiser> {
        let daemon = ServiceDaemon::new().context("cannot start mDNS")?;
        register(&daemon, advert, hostname, port)?;
        tracing::info!(
            "mDNS: advertising {:?} as _preau._tcp and _http._tcp on port {port} (box id {}, catalog v{})",
            advert.instance(),
            advert.box_id,
            advert.catalog_version
        );
        let (d, mut advert, hostname) = (daemon.clone(), advert.clone(), hostname.to_string());
        let spawned = std::thread::Builder::new().name("preau-mdns-refresh".into()).spawn(move || {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3));
                let now = catalog();
                if now == advert.catalog_version {
                    continue;
                }
                advert.catalog_version = now;
                // Fails once the daemon is shut down: the box is stopping.
                if register(&d, &advert, &hostname, port).is_err() {
                    return;
                }
                tracing::info!("mDNS: now advertising catalog v{now}");
            }
        });
        if let Err(e) = spawned {
            tracing::warn!("mDNS: the advert will not follow new catalog versions: {e}");
        }
        Ok(Advertiser { daemon })
    }

    /// Says goodbye on the network so peers forget the box at once.
    pub fn stop(self) {
        let _ = self.daemon.shutdown();
    }
}
