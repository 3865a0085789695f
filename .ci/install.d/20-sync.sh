# Sync tests and benchmark: a real HTTP server (nginx), rsync and casync to compare
# against, zstd for the physical limit, iproute2 for the shaped-link benchmark.
$SUDO apt-get install -y -qq --no-install-recommends nginx-light rsync casync zstd iproute2 >/dev/null \
  || $SUDO apt-get install -y -qq --no-install-recommends nginx rsync casync zstd iproute2 >/dev/null
