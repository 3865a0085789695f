# Tools the pack tests and benchmarks compare against.
$SUDO apt-get install -y -qq --no-install-recommends zstd tar ca-certificates >/dev/null
