#!/bin/sh
# A pupil's tablet joins the box's hotspot, simulated inside the booted box: the image
# tests put this script on the boot partition and run it through systemd.run= on the
# kernel command line (handed to a transient unit, see TABLET_ARGS in image.rs), with
# mac80211_hwsim's two radios loaded at boot (modules-load=).
# wlan0 is the box's radio (its own hostapd, dnsmasq, networkd); wlan1 is moved into a
# network namespace, "tablet", where wpa_supplicant joins with the SSID and passphrase
# shown on the box's screen (/run/preau/issue), busybox's udhcpc asks the box's DHCP,
# busybox's nslookup asks the box's DNS and curl loads the pages.
#
# Every step prints one "TABLET: <step> ..." line on the console (the test reads the
# serial port); the first failure prints "TABLET FAIL: <why>" and stops; the end is
# "TABLET DONE <seconds since power-on>".
exec >/dev/console 2>&1
set -u
run=/run/tablet
mkdir -p "$run"
ns() { ip netns exec tablet "$@"; }
say() { echo "TABLET: $*"; }
fail() {
    echo "TABLET FAIL: $*"
    ns wpa_cli -p "$run/ctrl" -i wlan1 status 2>/dev/null | sed 's/^/TABLET-DEBUG: /'
    journalctl -b --no-pager -u preau-hostapd -u preau-dnsmasq -u preau-config -n 40 | sed 's/^/TABLET-DEBUG: /'
    exit 1
}
# Waits up to $1 seconds for the command that follows to succeed.
within() {
    n=$1
    shift
    while ! "$@" >/dev/null 2>&1; do
        n=$((n - 1))
        [ "$n" -gt 0 ] || return 1
        sleep 1
    done
}
uptime_s() { cut -d' ' -f1 /proc/uptime; }

# The box itself (boards without a network port in QEMU, such as raspi4b, are only
# seen from inside).
if ! within 240 curl -sf -o /dev/null http://127.0.0.1/healthz; then
    systemctl status preau.service --no-pager -n 20 2>&1 | sed 's/^/TABLET-DEBUG: /'
    systemctl list-jobs --no-pager 2>&1 | sed 's/^/TABLET-DEBUG: /'
    within 1200 curl -sf -o /dev/null http://127.0.0.1/healthz || fail "the box never answered /healthz"
fi
say "box answers /healthz at $(uptime_s)s"
within 60 test -e /sys/class/net/wlan1 || fail "no second radio (mac80211_hwsim radios=2 not loaded)"
within 300 systemctl is-active -q preau-hostapd.service || fail "preau-hostapd.service is not running"
within 60 sh -c 'iw dev wlan0 info | grep -q "type AP"' || fail "wlan0 is not an access point"
within 60 systemctl is-active -q preau-dnsmasq.service || fail "preau-dnsmasq.service is not running"
say "hotspot up at $(uptime_s)s: $(iw dev wlan0 info | grep -m1 ssid | sed 's/^[[:space:]]*//')"

# What the screen shows: the network's name and passphrase.
ssid=$(sed -n 's/^Préau — Wi-Fi : //p' /run/preau/issue)
pass=$(sed -n 's/^  mot de passe \/ passphrase : //p' /run/preau/issue)
[ -n "$ssid" ] && [ -n "$pass" ] || fail "no network on the screen: $(cat /run/preau/issue)"
say "screen shows ssid=$ssid passphrase=$pass"

ip netns add tablet || fail "cannot make the tablet's network namespace"
phy=$(basename "$(readlink -f /sys/class/net/wlan1/phy80211)")
iw phy "$phy" set netns name tablet || fail "cannot move $phy into the tablet's namespace"
ns ip link set lo up
ns ip link set wlan1 up || fail "wlan1 does not come up in the namespace"

# Joins with the given network block; returns whether it completed within $2 seconds.
join() {
    printf 'ctrl_interface=%s/ctrl\nnetwork={\n\tssid="%s"\n\tscan_ssid=1\n%s\n}\n' "$run" "$ssid" "$1" >"$run/wpa.conf"
    ns wpa_supplicant -B -i wlan1 -c "$run/wpa.conf" -P "$run/wpa.pid" >/dev/null || fail "wpa_supplicant did not start"
    within "$2" sh -c "ip netns exec tablet wpa_cli -p $run/ctrl -i wlan1 status | grep -q '^wpa_state=COMPLETED'"
}
leave() {
    kill "$(cat "$run/wpa.pid")" 2>/dev/null
    within 10 sh -c "! test -e $run/wpa.pid"
    sleep 1
}

# Not an open network: a tablet without the passphrase stays out.
if join "	key_mgmt=NONE" 20; then
    fail "a tablet joined without a passphrase: the hotspot is open"
fi
leave
say "without the passphrase: not associated"
if join "	key_mgmt=WPA-PSK
	psk=\"wrong-pass-phrase\"" 20; then
    fail "a tablet joined with a wrong passphrase"
fi
leave
say "with a wrong passphrase: not associated"

join "	key_mgmt=WPA-PSK
	psk=\"$pass\"" 60 || fail "the tablet did not join \"$ssid\" with the screen's passphrase"
say "associated with \"$ssid\" (WPA2) at $(uptime_s)s"

# udhcpc executes its event script: on the root file system, not /run (noexec).
hook=/root/tablet-udhcpc.sh
cat >"$hook" <<'EOF'
#!/bin/sh
# busybox udhcpc's event script: keep the lease's address, router and DNS server.
case "$1" in
bound | renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    [ -n "${router:-}" ] && ip route replace default via "${router%% *}" dev "$interface"
    echo "$ip ${router:-none} ${dns%% *}" >/run/tablet/lease
    ;;
esac
EOF
chmod +x "$hook"
ns busybox udhcpc -i wlan1 -f -q -n -t 10 -T 2 -s "$hook" >"$run/udhcpc.log" 2>&1 ||
    fail "no DHCP lease from the box: $(tr '\n' ' ' <"$run/udhcpc.log")"
[ -s "$run/lease" ] || fail "udhcpc got no lease through its script: $(tr '\n' ' ' <"$run/udhcpc.log")"
read -r addr router dns <"$run/lease"
say "dhcp address $addr router $router dns $dns"

# The box's DNS answers every name, outside names and captive-portal probes included.
lookup() { ns busybox nslookup "$1" "$dns" 2>/dev/null | sed -n '/^Name:/,$ s/^Address: *//p' | head -n1; }
for name in preau example.org connectivitycheck.gstatic.com captive.apple.com; do
    a=$(lookup "$name")
    [ -n "$a" ] || fail "the box's DNS did not answer $name"
    say "dns $name -> $a"
done
box=$(lookup preau)

# Android's probe gets the portal: a redirect to the box's page.
probe=$(ns curl -s -o /dev/null -w '%{http_code} %{redirect_url}' --max-time 20 \
    --resolve "connectivitycheck.gstatic.com:80:$(lookup connectivitycheck.gstatic.com)" \
    http://connectivitycheck.gstatic.com/generate_204) || fail "the captive-portal probe got no answer"
say "probe http://connectivitycheck.gstatic.com/generate_204 -> $probe"

# The pupil's home page, by the box's name, over the simulated Wi-Fi.
code=$(ns curl -s -o "$run/home.html" -w '%{http_code}' --max-time 30 --resolve "preau:80:$box" http://preau/) ||
    fail "the pupil home page did not load"
title=$(sed -n 's/.*<title>\([^<]*\)<\/title>.*/\1/p' "$run/home.html" | head -n1)
say "home http://preau/ -> $code $(wc -c <"$run/home.html") bytes, title: $title"
done_at=$(uptime_s)
# The pack preloaded on the image, over the same network.
page=$(ns curl -s --max-time 30 --resolve "preau:80:$box" http://preau/packs/e2e-demo/index.html)
case "$page" in
*"Bonjour la classe de Préau"*) say "pack page http://preau/packs/e2e-demo/index.html served" ;;
*) fail "the preloaded pack's page was not served: $page" ;;
esac
echo "TABLET DONE $done_at"
