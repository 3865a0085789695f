//! What the box does with `preau.toml` at every boot (`preau-image firstboot`, run by
//! `preau-config.service` before the network and the box start): check the file, then
//! write the effective box config, hostapd.conf and dnsmasq.conf under /run/preau and
//! set the hostname. Everything written lives in /run, so a config edited on another
//! computer takes effect at the next boot and nothing stale survives.
//!
//! The same generators run at build time, so the files can be read back from an image.

use crate::config::{BoxConfig, ImageConfig, Network, WifiMode};
use crate::passphrase;
use crate::tools::write_file;
use anyhow::{Context, Result};
use std::path::Path;

/// The box's address on its own Wi-Fi network.
pub const HOTSPOT_ADDR: &str = "10.42.0.1";
pub const WLAN: &str = "wlan0";

/// Host names that phones and laptops probe to detect a captive portal; the box's DNS
/// answers them (and every other name) with its own address so the portal opens.
const CAPTIVE_PROBES: [&str; 6] = [
    "connectivitycheck.gstatic.com",
    "clients3.google.com",
    "captive.apple.com",
    "www.msftconnecttest.com",
    "detectportal.firefox.com",
    "nmcheck.gnome.org",
];

pub fn hostapd_conf(n: &Network) -> String {
    let mut s = format!(
        "# Generated from preau.toml at boot by preau-image firstboot; edit preau.toml instead.\n\
         interface={WLAN}\n\
         driver=nl80211\n\
         ssid2=\"{}\"\n\
         utf8_ssid=1\n\
         country_code={}\n\
         ieee80211d=1\n\
         hw_mode=g\n\
         channel={}\n\
         ieee80211n=1\n\
         wmm_enabled=1\n\
         # The built-in radio serves about 8-10 devices; a full class needs an external access point.\n\
         max_num_sta=10\n\
         auth_algs=1\n",
        n.ssid, n.country, n.channel
    );
    match &n.passphrase {
        Some(p) => s.push_str(&format!("wpa=2\nwpa_key_mgmt=WPA-PSK\nrsn_pairwise=CCMP\nwpa_passphrase={p}\n")),
        None => s.push_str("# No passphrase in preau.toml: an open network.\nwpa=0\n"),
    }
    s
}

pub fn dnsmasq_conf(n: &Network) -> String {
    let mut s = format!(
        "# Generated from preau.toml at boot by preau-image firstboot; edit preau.toml instead.\n\
         interface={WLAN}\n\
         # Listens on wlan0's address when networkd sets it, even after dnsmasq started.\n\
         bind-dynamic\n\
         except-interface=lo\n\
         no-resolv\n\
         no-hosts\n\
         domain-needed\n\
         dhcp-authoritative\n\
         dhcp-range=10.42.0.10,10.42.0.250,255.255.255.0,12h\n\
         dhcp-option=option:router,{HOTSPOT_ADDR}\n\
         dhcp-option=option:dns-server,{HOTSPOT_ADDR}\n\
         # RFC 8910: tell clients where the captive portal is.\n\
         dhcp-option=114,\"http://{host}/\"\n\
         domain=lan\n\
         host-record={host},{host}.lan,{HOTSPOT_ADDR}\n",
        host = n.hostname
    );
    for probe in CAPTIVE_PROBES {
        s.push_str(&format!("address=/{probe}/{HOTSPOT_ADDR}\n"));
    }
    s.push_str(&format!(
        "# Every other name too: there is no internet behind this network.\naddress=/#/{HOTSPOT_ADDR}\n"
    ));
    s
}

/// systemd-networkd: the box's fixed address on its own Wi-Fi network.
pub fn wlan_network(_n: &Network) -> String {
    format!(
        "[Match]\nName={WLAN}\n\n[Network]\nAddress={HOTSPOT_ADDR}/24\nConfigureWithoutCarrier=yes\nIPv6AcceptRA=no\n"
    )
}

/// Applies the config: writes the run-time files into `run_dir`, and the hostname into
/// `hostname_file` when it differs. Returns what it did, for the console.
pub fn apply(
    config_path: &Path,
    run_dir: &Path,
    hostname_file: &Path,
    data_dir: &Path,
    preload: bool,
) -> Result<String> {
    let mut config = if config_path.exists() { BoxConfig::load(config_path)? } else { BoxConfig::default() };
    // No open hotspot: without a passphrase in preau.toml the box uses the one it made
    // at its first boot. Both land in the effective config, so the teacher's admin page
    // can show the network to join.
    let mut made = None;
    if config.network().mode == WifiMode::Hotspot {
        config.wifi.ssid = Some(config.network().ssid);
        if config.wifi.passphrase.is_none() {
            let (p, new) = passphrase::kept_or_new(data_dir).or_else(|e| {
                // Still not open: a passphrase for this boot only, said on the console.
                eprintln!("preau: cannot keep a Wi-Fi passphrase ({e:#}); this one lasts until the next boot");
                passphrase::generate().map(|p| (p, true))
            })?;
            config.wifi.passphrase = Some(p);
            made = Some(new);
        }
    }
    let n = config.network();
    std::fs::create_dir_all(run_dir).with_context(|| format!("cannot create {}", run_dir.display()))?;
    // The effective config holds the setup code and the Wi-Fi passphrase: readable by
    // root and the box's group only.
    let effective = run_dir.join("preau.toml");
    write_file(&effective, config.effective(preload).to_toml())?;
    restrict(&effective, 0o640, group_id(Path::new("/etc/group"), "preau"))?;
    let hostapd = run_dir.join("hostapd.conf");
    let dnsmasq = run_dir.join("dnsmasq.conf");
    let network = run_dir.join("network/10-preau-wlan.network");
    let mut summary = format!("preau: hostname {}, ", n.hostname);
    match n.mode {
        WifiMode::Hotspot => {
            write_file(&hostapd, hostapd_conf(&n))?;
            restrict(&hostapd, 0o600, None)?;
            write_file(&dnsmasq, dnsmasq_conf(&n))?;
            write_file(&network, wlan_network(&n))?;
            let pass = n.passphrase.as_deref().unwrap_or_default();
            let said_pass = match made {
                Some(true) => format!("passphrase {pass}, made by this box now"),
                Some(false) => format!("passphrase {pass}, made by this box at its first boot"),
                None => "passphrase from preau.toml".to_string(),
            };
            summary.push_str(&format!(
                "Wi-Fi hotspot \"{}\" (WPA2, {said_pass}) on channel {}, box at http://{}/ ({HOTSPOT_ADDR})",
                n.ssid, n.channel, n.hostname
            ));
            write_file(&run_dir.join("issue"), issue(&n, made.is_some()))?;
        }
        WifiMode::Ethernet => {
            // Stale files from an earlier hotspot boot cannot exist in /run, but a
            // run_dir elsewhere (tests) may hold them.
            for f in [&hostapd, &dnsmasq, &network] {
                let _ = std::fs::remove_file(f);
            }
            summary.push_str("Ethernet mode (external access point), address from DHCP");
            write_file(&run_dir.join("issue"), format!("Préau: http://{}/ (Ethernet)\n\n", escape_issue(&n.hostname)))?;
        }
    }
    let current = std::fs::read_to_string(hostname_file).unwrap_or_default();
    if current.trim() != n.hostname {
        write_file(hostname_file, format!("{}\n", n.hostname))?;
    }
    Ok(summary)
}

/// What the screen (HDMI) and the serial console show above the login prompt, through
/// agetty's `/etc/issue.d/preau.issue` → `/run/preau/issue`: the network to join, with
/// the passphrase when the box made it (else it is the one written in preau.toml).
pub fn issue(n: &Network, show_passphrase: bool) -> String {
    let pass = match (&n.passphrase, show_passphrase) {
        (Some(p), true) => escape_issue(p),
        _ => "(preau.toml)".to_string(),
    };
    format!(
        "Préau — Wi-Fi : {ssid}\n  mot de passe / passphrase : {pass}\n  puis / then : http://{host}/\n\n",
        ssid = escape_issue(&n.ssid),
        host = escape_issue(&n.hostname)
    )
}

/// agetty reads backslash sequences in issue files; a literal backslash is doubled.
fn escape_issue(s: &str) -> String {
    s.replace('\\', "\\\\")
}

fn restrict(path: &Path, mode: u32, group: Option<u32>) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    if let Some(gid) = group {
        std::os::unix::fs::chown(path, None, Some(gid))
            .with_context(|| format!("cannot give {} to group {gid}", path.display()))?;
    }
    Ok(())
}

/// A group's id from a group file (`None` when absent, as on a build machine).
fn group_id(group_file: &Path, name: &str) -> Option<u32> {
    let text = std::fs::read_to_string(group_file).ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name).then(|| f.nth(1)?.parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> Network {
        BoxConfig::parse(text).unwrap().network()
    }

    #[test]
    fn hostapd_from_config() {
        let n = net("[wifi]\nssid = \"École 2\"\npassphrase = \"correct horse\"\nchannel = 11\ncountry = \"BE\"");
        let c = hostapd_conf(&n);
        assert!(c.contains("ssid2=\"École 2\"\n"), "{c}");
        assert!(c.contains("channel=11\n") && c.contains("country_code=BE\n"));
        assert!(c.contains("wpa=2\n") && c.contains("wpa_passphrase=correct horse\n"));
        let open = hostapd_conf(&net(""));
        assert!(open.contains("wpa=0\n") && !open.contains("wpa_passphrase"), "{open}");
        assert!(open.contains("country_code=FR\n"));
    }

    #[test]
    fn dnsmasq_answers_the_box_name_and_portal_probes() {
        let c = dnsmasq_conf(&net("[box]\nhostname = \"ecole\""));
        assert!(c.contains("host-record=ecole,ecole.lan,10.42.0.1\n"), "{c}");
        assert!(c.contains("address=/captive.apple.com/10.42.0.1\n"));
        assert!(c.contains("address=/connectivitycheck.gstatic.com/10.42.0.1\n"));
        assert!(c.contains("dhcp-option=114,\"http://ecole/\"\n"));
        assert!(c.contains("interface=wlan0\n"));
    }

    #[test]
    fn apply_writes_hotspot_files_then_removes_them_in_ethernet_mode() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("preau.toml");
        let run = dir.path().join("run");
        let hostname = dir.path().join("hostname");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(&cfg, "[box]\nhostname = \"salle-3\"\n[wifi]\nssid = \"Classe\"").unwrap();
        let said = apply(&cfg, &run, &hostname, &data, true).unwrap();
        assert!(said.contains("Classe") && said.contains("WPA2") && said.contains("made by this box now"), "{said}");
        // No open network: the passphrase made at first boot is in hostapd's config,
        // the effective config (the admin page), the console line and the issue file.
        let made = std::fs::read_to_string(data.join(passphrase::FILE)).unwrap().trim().to_string();
        assert!(passphrase::well_formed(&made), "{made}");
        assert!(said.contains(&made), "{said}");
        let hostapd = std::fs::read_to_string(run.join("hostapd.conf")).unwrap();
        assert!(hostapd.contains("wpa=2\n") && hostapd.contains(&format!("wpa_passphrase={made}\n")));
        let issue = std::fs::read_to_string(run.join("issue")).unwrap();
        assert!(issue.contains("Classe") && issue.contains(&made) && issue.contains("http://salle-3/"), "{issue}");
        let again = apply(&cfg, &run, &hostname, &data, true).unwrap();
        assert!(again.contains(&made) && again.contains("at its first boot"), "{again}");
        assert!(run.join("hostapd.conf").exists() && run.join("dnsmasq.conf").exists());
        assert!(run.join("network/10-preau-wlan.network").exists());
        assert_eq!(std::fs::read_to_string(&hostname).unwrap(), "salle-3\n");
        let eff = BoxConfig::parse(&std::fs::read_to_string(run.join("preau.toml")).unwrap()).unwrap();
        assert_eq!(eff.box_.data.as_deref(), Some(Path::new("/var/lib/preau")));
        assert_eq!(eff.sync.preload.as_deref(), Some(Path::new("/usr/share/preau/preload")));
        assert_eq!(eff.wifi.passphrase.as_deref(), Some(made.as_str()));
        assert_eq!(eff.wifi.ssid.as_deref(), Some("Classe"));

        // A passphrase in preau.toml wins, and is not shown on the screen.
        std::fs::write(&cfg, "[wifi]\npassphrase = \"from the card\"").unwrap();
        let said = apply(&cfg, &run, &hostname, &data, true).unwrap();
        assert!(said.contains("passphrase from preau.toml") && !said.contains(&made), "{said}");
        let issue = std::fs::read_to_string(run.join("issue")).unwrap();
        assert!(!issue.contains("from the card") && issue.contains("Preau"), "{issue}");

        std::fs::write(&cfg, "[wifi]\nmode = \"ethernet\"").unwrap();
        let said = apply(&cfg, &run, &hostname, &data, false).unwrap();
        assert!(said.contains("Ethernet"), "{said}");
        assert!(!run.join("hostapd.conf").exists() && !run.join("dnsmasq.conf").exists());
        assert_eq!(std::fs::read_to_string(&hostname).unwrap(), "preau\n");
    }

    #[test]
    fn secrets_are_not_world_readable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("preau.toml");
        std::fs::write(&cfg, "[wifi]\npassphrase = \"secret pass\"").unwrap();
        let run = dir.path().join("run");
        apply(&cfg, &run, &dir.path().join("h"), dir.path(), false).unwrap();
        let mode = |f: &str| std::fs::metadata(run.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("hostapd.conf"), 0o600);
        assert_eq!(mode("preau.toml"), 0o640);
        let groups = dir.path().join("group");
        std::fs::write(&groups, "root:x:0:\npreau:x:998:\n").unwrap();
        assert_eq!(group_id(&groups, "preau"), Some(998));
        assert_eq!(group_id(&groups, "nobody"), None);
    }

    #[test]
    fn apply_refuses_a_bad_config() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("preau.toml");
        std::fs::write(&cfg, "[wifi]\npassword = \"x\"").unwrap();
        let err =
            format!("{:#}", apply(&cfg, &dir.path().join("run"), &dir.path().join("h"), dir.path(), true).unwrap_err());
        assert!(err.contains("password"), "{err}");
    }
}
