# The school mesh end-to-end test (box/tests/mesh.rs): network namespaces joined by a
# bridge (iproute2), real Avahi inside one of them (avahi-daemon, avahi-utils) on a
# private D-Bus (dbus-daemon), and python3 for the fake peer. The test runs its own
# avahi-daemon with its own config; a daemon the package may have started system-wide is
# stopped so that it cannot answer for it.
$SUDO apt-get install -y -qq --no-install-recommends avahi-daemon avahi-utils dbus-daemon iproute2 python3 >/dev/null
$SUDO avahi-daemon --kill >/dev/null 2>&1 || true
