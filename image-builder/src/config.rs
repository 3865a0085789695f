//! `preau.toml`, the one file a technician edits on the card's boot partition.
//!
//! These types mirror the box's config (ARCHITECTURE.md) without depending on the box
//! crate: the image tool validates the file before it goes on a card (`build`,
//! `personalize`, `check-config`) and, on the box at every boot, turns it into the
//! network configuration (`firstboot`). Unknown keys are errors, as in the box.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Where the image mounts the FAT boot partition (on both boards).
pub const BOOT_MOUNT: &str = "/boot/firmware";
/// The box's data area on the image: the data partition.
pub const DATA_DIR: &str = "/var/lib/preau";
/// Where `--packs` goes in the root filesystem; the box installs it at start.
pub const PRELOAD_DIR: &str = "/usr/share/preau/preload";

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BoxConfig {
    #[serde(default, rename = "box", skip_serializing_if = "BoxSection::is_empty")]
    pub box_: BoxSection,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wifi: Option<Wifi>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<Sync>,
    /// The box's HTTP server limits: passed through as written, the box checks them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<toml::Table>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BoxSection {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub school: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setup_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}

impl BoxSection {
    fn is_empty(&self) -> bool {
        *self == BoxSection::default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum WifiMode {
    /// The built-in radio is an access point (about 8–10 devices).
    #[default]
    Hotspot,
    /// The box is on Ethernet behind an external access point (a full class).
    Ethernet,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Wifi {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<WifiMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sync {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trusted_keys: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preload: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hours: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_rate: Option<u64>,
    /// Shared by the boxes of one school: peers with it get each other's quiz answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_token: Option<String>,
}

/// The network settings the image derives from the config, with defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    pub hostname: String,
    pub mode: WifiMode,
    pub ssid: String,
    /// `None`: an open network (there is no default password).
    pub passphrase: Option<String>,
    pub channel: u8,
    pub country: String,
}

impl BoxConfig {
    pub fn parse(text: &str) -> Result<BoxConfig> {
        let config: BoxConfig = toml::from_str(text)?;
        config.network()?;
        config.validate_rest()?;
        Ok(config)
    }

    pub fn load(path: &Path) -> Result<BoxConfig> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read the config {}", path.display()))?;
        BoxConfig::parse(&text)
            .with_context(|| format!("invalid config {} (see image-builder/README.md for the keys)", path.display()))
    }

    /// The config the box runs with on an image: the technician's file, with the image's
    /// data folder and preload folder filled in where the file leaves them out.
    pub fn effective(&self, preload: bool) -> BoxConfig {
        let mut c = self.clone();
        c.box_.data.get_or_insert_with(|| DATA_DIR.to_string());
        c.box_.listen.get_or_insert_with(|| "0.0.0.0:80".to_string());
        if preload {
            let sync = c.sync.get_or_insert_with(Sync::default);
            sync.preload.get_or_insert_with(|| PRELOAD_DIR.to_string());
        }
        c
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("config serializes")
    }

    /// The network settings, checked: anything hostapd or dnsmasq would refuse (or
    /// misread) is refused here with the rule it breaks.
    pub fn network(&self) -> Result<Network> {
        let wifi = self.wifi.clone().unwrap_or_default();
        let hostname = self.box_.hostname.clone().unwrap_or_else(|| "preau".into());
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if !label_ok(&hostname) {
            bail!("box.hostname {hostname:?}: use 1-63 letters, digits or '-' (not at either end)");
        }
        let ssid = wifi.ssid.unwrap_or_else(|| "Preau".into());
        if ssid.is_empty() || ssid.len() > 32 || ssid.chars().any(|c| c.is_control()) {
            bail!("wifi.ssid {ssid:?}: use 1 to 32 bytes, no control characters");
        }
        if let Some(p) = &wifi.passphrase
            && (p.len() < 8 || p.len() > 63 || !p.chars().all(|c| (' '..='~').contains(&c)))
        {
            bail!("wifi.passphrase: use 8 to 63 printable ASCII characters (WPA2 rule)");
        }
        let channel = wifi.channel.unwrap_or(6);
        if !(1..=13).contains(&channel) {
            bail!("wifi.channel = {channel}: use a 2.4 GHz channel from 1 to 13");
        }
        let country = wifi.country.unwrap_or_else(|| "FR".into());
        if country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()) {
            bail!("wifi.country {country:?}: use a two-letter upper-case country code such as \"FR\"");
        }
        Ok(Network {
            hostname,
            mode: wifi.mode.unwrap_or_default(),
            ssid,
            passphrase: wifi.passphrase,
            channel,
            country,
        })
    }

    fn validate_rest(&self) -> Result<()> {
        if let Some(listen) = &self.box_.listen
            && listen.parse::<std::net::SocketAddr>().is_err()
        {
            bail!("box.listen {listen:?}: use an address and port such as \"0.0.0.0:80\"");
        }
        if let Some(code) = &self.box_.setup_code
            && code.len() < 6
        {
            bail!("box.setup_code: use at least 6 characters");
        }
        if let Some(sync) = &self.sync {
            for key in sync.trusted_keys.iter().flatten() {
                if key.len() != 64 || !key.chars().all(|c| c.is_ascii_hexdigit()) {
                    bail!("sync.trusted_keys: {key:?} is not a hex ed25519 public key (64 hex digits)");
                }
            }
            if let Some(url) = &sync.repository
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                bail!("sync.repository {url:?}: use an http:// or https:// URL");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
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
trusted_keys = ["0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"]
preload = "/usr/share/preau/preload"
hours = "22:00-06:00"
max_rate = 250000
"#;

    #[test]
    fn the_architecture_example_parses_and_round_trips() {
        let c = BoxConfig::parse(FULL).unwrap();
        assert_eq!(c.box_.school.as_deref(), Some("École de Saint-Martin"));
        let n = c.network().unwrap();
        assert_eq!(n.ssid, "Preau-Ecole");
        assert_eq!(n.mode, WifiMode::Hotspot);
        let again = BoxConfig::parse(&c.to_toml()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn empty_config_is_valid_and_open() {
        let c = BoxConfig::parse("").unwrap();
        let n = c.network().unwrap();
        assert_eq!((n.hostname.as_str(), n.ssid.as_str(), n.channel), ("preau", "Preau", 6));
        assert_eq!(n.passphrase, None, "no default password");
        let e = c.effective(true);
        assert_eq!(e.box_.data.as_deref(), Some(DATA_DIR));
        assert_eq!(e.sync.unwrap().preload.as_deref(), Some(PRELOAD_DIR));
        assert!(c.effective(false).sync.is_none());
    }

    #[test]
    fn effective_keeps_what_the_technician_wrote() {
        let c = BoxConfig::parse("[box]\ndata = \"/srv/x\"\n[sync]\npreload = \"/p\"").unwrap();
        let e = c.effective(true);
        assert_eq!(e.box_.data.as_deref(), Some("/srv/x"));
        assert_eq!(e.sync.unwrap().preload.as_deref(), Some("/p"));
    }

    #[test]
    fn server_section_passes_through() {
        let c = BoxConfig::parse("[server]\nmax_connections = 64\nmdns = false").unwrap();
        let again = BoxConfig::parse(&c.effective(false).to_toml()).unwrap();
        assert_eq!(again.server.unwrap()["max_connections"].as_integer(), Some(64));
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = BoxConfig::parse("[wifi]\nssdi = \"x\"").unwrap_err();
        assert!(format!("{err:#}").contains("ssdi"), "{err:#}");
        assert!(BoxConfig::parse("[radio]\nx = 1").is_err());
    }

    #[test]
    fn bad_values_name_the_rule() {
        let cases = [
            ("[wifi]\npassphrase = \"short\"", "8 to 63"),
            ("[wifi]\nchannel = 14", "1 to 13"),
            ("[wifi]\ncountry = \"fr\"", "two-letter"),
            ("[wifi]\nssid = \"\"", "1 to 32"),
            ("[box]\nhostname = \"my box\"", "box.hostname"),
            ("[box]\nlisten = \"80\"", "box.listen"),
            ("[sync]\ntrusted_keys = [\"abc\"]", "64 hex"),
            ("[sync]\nrepository = \"ftp://x\"", "http"),
            ("[wifi]\nmode = \"mesh\"", "hotspot"),
        ];
        for (text, want) in cases {
            let err = format!("{:#}", BoxConfig::parse(text).unwrap_err());
            assert!(err.contains(want), "{text}: {err}");
        }
    }
}
