# The toolchain and the tools the pack tests and benchmarks compare against.
set -euo pipefail
SUDO="${SUDO:-}"
# A C compiler and libc headers: zstd, SQLite, ring and BLAKE3 build C code.
$SUDO apt-get install -y -qq --no-install-recommends zstd tar ca-certificates gcc libc6-dev make >/dev/null
if ! command -v cargo >/dev/null; then
    echo "cargo is missing: install Rust 1.95 or newer (https://rustup.rs), then run this again" >&2
    exit 1
fi
# fmt and clippy are part of the test command.
if command -v rustup >/dev/null; then
    rustup component add rustfmt clippy >/dev/null
fi
