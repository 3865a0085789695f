//! How many devices are on the box's network, when the box can tell. Pure parsers plus
//! the file paths they read; the admin page shows the count and the Wi-Fi warning.

/// The Pi's built-in radio in access-point mode serves about this many devices.
pub const BUILTIN_AP_DEVICES: usize = 10;

/// Counts reachable neighbours in `/proc/net/arp` (flags 0x2 = complete entry), on
/// `iface` when given.
pub fn count_arp(text: &str, iface: Option<&str>) -> usize {
    text.lines()
        .skip(1)
        .filter(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.len() >= 6 && cols[2] == "0x2" && iface.is_none_or(|i| cols[5] == i)
        })
        .count()
}

/// Counts unexpired dnsmasq leases (`expiry mac ip name id`; expiry 0 = infinite).
pub fn count_leases(text: &str, now: i64) -> usize {
    text.lines()
        .filter_map(|l| l.split_whitespace().next()?.parse::<i64>().ok())
        .filter(|&expiry| expiry == 0 || expiry > now)
        .count()
}

/// The number of connected devices and how it was found, or `None` when the box cannot
/// tell (not a Linux box, no access point of its own).
pub fn connected_devices(now: i64) -> Option<(usize, &'static str)> {
    for path in ["/var/lib/misc/dnsmasq.leases", "/var/lib/dnsmasq/dnsmasq.leases"] {
        if let Ok(text) = std::fs::read_to_string(path) {
            return Some((count_leases(&text, now), "dnsmasq"));
        }
    }
    let arp = std::fs::read_to_string("/proc/net/arp").ok()?;
    if arp.contains("wlan0") {
        return Some((count_arp(&arp, Some("wlan0")), "wlan0"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arp_table() {
        let t = "IP address       HW type     Flags       HW address            Mask     Device\n\
                 192.168.4.10     0x1         0x2         aa:bb:cc:dd:ee:01     *        wlan0\n\
                 192.168.4.11     0x1         0x0         00:00:00:00:00:00     *        wlan0\n\
                 192.168.4.12     0x1         0x2         aa:bb:cc:dd:ee:03     *        wlan0\n\
                 10.0.0.1         0x1         0x2         aa:bb:cc:dd:ee:04     *        eth0\n";
        assert_eq!(count_arp(t, Some("wlan0")), 2);
        assert_eq!(count_arp(t, None), 3);
    }

    #[test]
    fn leases() {
        let t = "1700000100 aa:bb:cc:dd:ee:01 192.168.4.10 tablette-1 *\n\
                 1600000000 aa:bb:cc:dd:ee:02 192.168.4.11 * *\n\
                 0 aa:bb:cc:dd:ee:03 192.168.4.12 pc *\n";
        assert_eq!(count_leases(t, 1_700_000_000), 2);
    }
}
