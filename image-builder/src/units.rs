//! The files the image adds to Debian's root filesystem: systemd units, fstab, the
//! wired network, the first-boot helpers. Static text, chosen here in one place.

use crate::config::{BOOT_MOUNT, DATA_DIR};

pub const BOOT_LABEL: &str = "PREAU-BOOT";
pub const ROOT_LABEL: &str = "preau-root";
pub const DATA_LABEL: &str = "preau-data";

/// Where the image tool itself lives on the box (it runs `firstboot`).
pub const TOOL_PATH: &str = "/usr/lib/preau/preau-image";
pub const BOX_PATH: &str = "/usr/bin/preau";

/// The root is checked (fsck, pass 1) at every boot; the boot partition may be missing
/// or damaged without stopping the box; the data partition grows online when mounted.
/// Both wait up to 5 minutes for their device instead of systemd's 90 s: a slow card (or
/// an emulated board on a busy machine) is seen late, and giving up on the data
/// partition means a box that does not start (emergency mode) until someone comes.
pub fn fstab() -> String {
    format!(
        "# <file system>\t<mount point>\t<type>\t<options>\t<dump>\t<pass>\n\
         LABEL={ROOT_LABEL}\t/\text4\tdefaults,errors=remount-ro,commit=5\t0\t1\n\
         LABEL={BOOT_LABEL}\t{BOOT_MOUNT}\tvfat\tdefaults,flush,umask=0077,nofail,x-systemd.device-timeout=5min\t0\t2\n\
         LABEL={DATA_LABEL}\t{DATA_DIR}\text4\tdefaults,nosuid,nodev,commit=5,x-systemd.growfs,x-systemd.device-timeout=5min\t0\t2\n"
    )
}

/// The box itself, hardened: its own system user, a read-only view of the system but
/// for its data folder, only the capability to bind port 80.
pub fn preau_service() -> String {
    format!(
        "[Unit]\n\
         Description=Préau classroom box\n\
         Documentation=file:///usr/share/doc/preau/README.md\n\
         After=network.target preau-config.service\n\
         Requires=preau-config.service\n\
         RequiresMountsFor={DATA_DIR}\n\
         \n\
         [Service]\n\
         Type=simple\n\
         User=preau\n\
         Group=preau\n\
         # The update supervisor runs `preau serve` from DATA/system/current (A/B binaries\n\
         # from the signed system pack) or this image's binary, and rolls a new one back\n\
         # when it fails /healthz after a restart (box/src/system/).\n\
         ExecStart={BOX_PATH} system supervise --config /run/preau/preau.toml\n\
         Restart=on-failure\n\
         RestartSec=3\n\
         # Start-up errors also reach the console (HDMI, serial): a technician sees them.\n\
         StandardOutput=journal+console\n\
         StandardError=journal+console\n\
         # The data partition is mounted on {DATA_DIR}; systemd gives it to the preau user.\n\
         StateDirectory=preau\n\
         StateDirectoryMode=0750\n\
         WorkingDirectory={DATA_DIR}\n\
         AmbientCapabilities=CAP_NET_BIND_SERVICE\n\
         CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n\
         NoNewPrivileges=yes\n\
         ProtectSystem=strict\n\
         ProtectHome=yes\n\
         PrivateTmp=yes\n\
         PrivateDevices=yes\n\
         ProtectKernelTunables=yes\n\
         ProtectKernelModules=yes\n\
         ProtectKernelLogs=yes\n\
         ProtectControlGroups=yes\n\
         ProtectClock=yes\n\
         ProtectHostname=yes\n\
         ProtectProc=invisible\n\
         RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK\n\
         RestrictNamespaces=yes\n\
         RestrictRealtime=yes\n\
         RestrictSUIDSGID=yes\n\
         LockPersonality=yes\n\
         MemoryDenyWriteExecute=yes\n\
         SystemCallArchitectures=native\n\
         SystemCallFilter=@system-service\n\
         SystemCallFilter=~@privileged\n\
         # A filtered call fails with EPERM instead of killing the box.\n\
         SystemCallErrorNumber=EPERM\n\
         UMask=0027\n\
         LimitNOFILE=4096\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n"
    )
}

/// Applies preau.toml at every boot, before the network and the box start.
pub fn config_service() -> String {
    format!(
        "[Unit]\n\
         Description=Apply preau.toml from the boot partition\n\
         DefaultDependencies=no\n\
         After=local-fs.target systemd-remount-fs.service\n\
         Before=network-pre.target systemd-networkd.service preau.service preau-hostapd.service preau-dnsmasq.service\n\
         Wants=network-pre.target\n\
         # Without the boot partition the box still starts, with the default settings.\n\
         Wants=boot-firmware.mount\n\
         After=boot-firmware.mount\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         RemainAfterExit=yes\n\
         ExecStart={TOOL_PATH} firstboot --config {BOOT_MOUNT}/preau.toml --run-dir /run/preau\n\
         ExecStartPost=/usr/bin/hostname -F /etc/hostname\n\
         StandardOutput=journal+console\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n"
    )
}

/// Grows the data partition to the end of the card (every boot; a no-op once done).
/// The file system follows when mounted, through fstab's x-systemd.growfs.
pub fn grow_service() -> String {
    format!(
        "[Unit]\n\
         Description=Grow the Préau data partition to fill the card\n\
         DefaultDependencies=no\n\
         After=dev-disk-by\\x2dlabel-{dl}.device\n\
         Requires=dev-disk-by\\x2dlabel-{dl}.device\n\
         Before=var-lib-preau.mount\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         RemainAfterExit=yes\n\
         ExecStart=/usr/lib/preau/grow-data\n\
         StandardOutput=journal+console\n\
         \n\
         [Install]\n\
         WantedBy=var-lib-preau.mount\n",
        dl = DATA_LABEL.replace('-', "\\x2d")
    )
}

pub fn grow_script() -> String {
    format!(
        r#"#!/bin/sh
# Grows the partition labelled {DATA_LABEL} (the last one) to the end of its disk.
# The kernel is told with resizepart (BLKPG resize), which changes the partition in
# place: a full re-read would remove and re-add the device under systemd's feet while
# its fsck and mount wait for it. Idempotent: prints NOCHANGE once done.
set -eu
part=$(readlink -f /dev/disk/by-label/{DATA_LABEL})
name=$(basename "$part")
disk=/dev/$(basename "$(readlink -f "/sys/class/block/$name/..")")
num=$(cat "/sys/class/block/$name/partition")
start=$(cat "/sys/class/block/$name/start")
size=$(cat "/sys/class/block/$name/size")
total=$(cat "/sys/class/block/$(basename "$disk")/size")
# Room left after the partition, less 1 MiB (GPT's backup header and alignment).
if [ $((total - start - size)) -le 4096 ]; then
    echo "preau-grow-data: NOCHANGE: $disk partition $num already fills the disk"
    exit 0
fi
if sfdisk --dump "$disk" | grep -q '^label: gpt'; then
    sfdisk --no-reread --no-tell-kernel --relocate gpt-bak-std "$disk"
fi
echo ', +' | sfdisk --no-reread --no-tell-kernel --quiet -N "$num" "$disk"
new=$(partx --show --noheadings --output SECTORS --nr "$num" "$disk" | tr -d ' ')
# resizepart (util-linux-extra on Debian 13): an in-place BLKPG resize. Not partx
# --update: it removes and re-adds the partition, and systemd then unmounts
# /var/lib/preau under the box (seen on Debian 13: the box never started).
resizepart "$disk" "$num" "$new"
echo "preau-grow-data: CHANGED: $disk partition $num from $size to $new sectors"
"#
    )
}

pub fn hostapd_service() -> String {
    "[Unit]\n\
     Description=Préau Wi-Fi hotspot (hostapd)\n\
     After=preau-config.service sys-subsystem-net-devices-wlan0.device\n\
     BindsTo=sys-subsystem-net-devices-wlan0.device\n\
     ConditionPathExists=/run/preau/hostapd.conf\n\
     \n\
     [Service]\n\
     ExecStart=/usr/sbin/hostapd /run/preau/hostapd.conf\n\
     Restart=on-failure\n\
     RestartSec=5\n\
     \n\
     [Install]\n\
     WantedBy=sys-subsystem-net-devices-wlan0.device\n"
        .to_string()
}

pub fn dnsmasq_service() -> String {
    "[Unit]\n\
     Description=Préau DHCP and DNS for the hotspot (dnsmasq)\n\
     After=preau-config.service preau-hostapd.service systemd-networkd.service\n\
     BindsTo=sys-subsystem-net-devices-wlan0.device\n\
     ConditionPathExists=/run/preau/dnsmasq.conf\n\
     \n\
     [Service]\n\
     ExecStart=/usr/sbin/dnsmasq --keep-in-foreground --conf-file=/run/preau/dnsmasq.conf --user=dnsmasq --pid-file\n\
     Restart=on-failure\n\
     RestartSec=5\n\
     \n\
     [Install]\n\
     WantedBy=sys-subsystem-net-devices-wlan0.device\n"
        .to_string()
}

/// Any wired interface takes an address by DHCP (the uplink, or the school network in
/// Ethernet mode). `net.ifnames=0` on the kernel command line keeps the names eth*/wlan*.
/// USB network adapters whose address is locally administered (CDC Ethernet adapters, a
/// phone's USB tethering, QEMU's `usb-net` on the raspi3b board) are named usb* by the
/// kernel: they are wired links too.
pub fn wired_network() -> String {
    "[Match]\nName=eth* en* usb*\n\n[Network]\nDHCP=yes\nMulticastDNS=no\n\n[DHCPv4]\nUseDomains=yes\n".to_string()
}

/// Makes SSH host keys at first boot (only on images with SSH enabled).
pub fn ssh_keygen_service() -> String {
    "[Unit]\n\
     Description=Create this box's own SSH host keys\n\
     Before=ssh.service\n\
     ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key\n\
     \n\
     [Service]\n\
     Type=oneshot\n\
     ExecStart=/usr/bin/ssh-keygen -A\n\
     \n\
     [Install]\n\
     WantedBy=ssh.service\n"
        .to_string()
}

pub fn sshd_config() -> String {
    "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fstab_checks_root_and_grows_data() {
        let f = fstab();
        assert!(f.contains("LABEL=preau-root\t/\text4\tdefaults,errors=remount-ro,commit=5\t0\t1"));
        assert!(f.contains("x-systemd.growfs"));
        assert_eq!(f.matches("x-systemd.device-timeout=5min").count(), 2, "{f}");
        assert!(f.contains("/boot/firmware\tvfat"));
    }

    #[test]
    fn box_unit_is_hardened() {
        let u = preau_service();
        for want in
            ["User=preau", "ProtectSystem=strict", "NoNewPrivileges=yes", "Restart=on-failure", "StateDirectory=preau"]
        {
            assert!(u.contains(want), "{want}");
        }
        assert!(grow_service().contains("dev-disk-by\\x2dlabel-preau\\x2ddata.device"));
    }

    #[test]
    fn every_wired_interface_takes_dhcp() {
        let n = wired_network();
        assert!(n.contains("Name=eth* en* usb*\n") && n.contains("DHCP=yes"), "{n}");
        assert!(!n.contains("wlan"), "the hotspot interface is configured by firstboot: {n}");
    }
}
