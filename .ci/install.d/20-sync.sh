# Sync tests and benchmark: a real HTTP server (nginx), rsync and casync to compare
# against, zstd for the physical limit, iproute2, python3 (delay_proxy.py) and curl (link
# calibration) for the shaped-link benchmark.
$SUDO apt-get install -y -qq --no-install-recommends nginx-light rsync casync zstd iproute2 python3 curl >/dev/null \
  || $SUDO apt-get install -y -qq --no-install-recommends nginx rsync casync zstd iproute2 python3 curl >/dev/null
