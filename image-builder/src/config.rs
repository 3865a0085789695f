//! `preau.toml`, the one file a technician edits on the card's boot partition.
//!
//! The schema and every check are the `preau-config` crate, the same the box reads with:
//! the image tool validates the file before it goes on a card (`build`, `personalize`,
//! `check-config`) with exactly the box's rules and messages, and, on the box at every
//! boot, turns it into the network configuration (`firstboot`). What is the image's own
//! is here: where things are on the image, the defaults of its hotspot, and writing the
//! effective file back.

use std::path::{Path, PathBuf};

pub use preau_config::{Config as BoxConfig, ConfigError, WifiMode};

/// Where the image mounts the FAT boot partition (on both boards).
pub const BOOT_MOUNT: &str = "/boot/firmware";
/// The box's data area on the image: the data partition.
pub const DATA_DIR: &str = "/var/lib/preau";
/// Where `--packs` goes in the root filesystem; the box installs it at start.
pub const PRELOAD_DIR: &str = "/usr/share/preau/preload";

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

/// What the image does with a checked config.
pub trait ImageConfig {
    /// The config the box runs with on an image: the technician's file, with the image's
    /// data folder and preload folder filled in where the file leaves them out.
    fn effective(&self, preload: bool) -> BoxConfig;
    fn to_toml(&self) -> String;
    /// The network settings for hostapd and dnsmasq, defaults filled in (the values
    /// were checked when the file was parsed).
    fn network(&self) -> Network;
}

/// `preau-image check-config FILE`: the file checked with exactly the box's rules (the
/// same loader as `preau serve --config FILE`, same messages), and what the image makes
/// of it, for the technician.
pub fn check_config(path: &Path) -> Result<String, ConfigError> {
    let n = BoxConfig::load(path)?.network();
    Ok(format!(
        "{}: valid. hostname {}, {:?} mode, SSID \"{}\" ({}), channel {}, country {}",
        path.display(),
        n.hostname,
        n.mode,
        n.ssid,
        if n.passphrase.is_some() { "WPA2" } else { "open" },
        n.channel,
        n.country
    ))
}

impl ImageConfig for BoxConfig {
    fn effective(&self, preload: bool) -> BoxConfig {
        let mut c = self.clone();
        c.box_.data.get_or_insert_with(|| PathBuf::from(DATA_DIR));
        c.box_.listen.get_or_insert_with(|| ([0, 0, 0, 0], 80).into());
        if preload {
            c.sync.preload.get_or_insert_with(|| PathBuf::from(PRELOAD_DIR));
        }
        c
    }

    fn to_toml(&self) -> String {
        toml::to_string(self).expect("config serializes")
    }

    fn network(&self) -> Network {
        let w = &self.wifi;
        Network {
            hostname: self.hostname().to_string(),
            mode: w.mode.unwrap_or_default(),
            ssid: w.ssid.clone().unwrap_or_else(|| "Preau".into()),
            passphrase: w.passphrase.clone(),
            // Checked to be 1 to 13 by preau-config.
            channel: w.channel.map_or(6, |c| u8::try_from(c).unwrap_or(6)),
            country: w.country.clone().unwrap_or_else(|| "FR".into()),
        }
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
        let n = c.network();
        assert_eq!(n.ssid, "Preau-Ecole");
        assert_eq!(n.mode, WifiMode::Hotspot);
        let again = BoxConfig::parse(&c.to_toml()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn empty_config_is_valid_and_open() {
        let c = BoxConfig::parse("").unwrap();
        let n = c.network();
        assert_eq!((n.hostname.as_str(), n.ssid.as_str(), n.channel), ("preau", "Preau", 6));
        assert_eq!(n.passphrase, None, "no default password");
        let e = c.effective(true);
        assert_eq!(e.box_.data.as_deref(), Some(Path::new(DATA_DIR)));
        assert_eq!(e.sync.preload.as_deref(), Some(Path::new(PRELOAD_DIR)));
        assert!(c.effective(false).sync.preload.is_none());
    }

    #[test]
    fn effective_keeps_what_the_technician_wrote() {
        let c = BoxConfig::parse("[box]\ndata = \"/srv/x\"\n[sync]\npreload = \"/p\"").unwrap();
        let e = c.effective(true);
        assert_eq!(e.box_.data.as_deref(), Some(Path::new("/srv/x")));
        assert_eq!(e.sync.preload.as_deref(), Some(Path::new("/p")));
    }

    #[test]
    fn server_section_passes_through() {
        let c = BoxConfig::parse("[server]\nmax_connections = 64\nmdns = false").unwrap();
        let again = BoxConfig::parse(&c.effective(false).to_toml()).unwrap();
        assert_eq!(again.server.max_connections, Some(64));
        assert_eq!(again.server.mdns, Some(false));
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
