#!/usr/bin/env bash
# Host tools for the image builder (preau-image) and its boot tests.
# QEMU comes from bookworm-backports: bookworm's own qemu-system would replace the
# machine's newer qemu-utils (10.x from backports) with an older one.
# binfmt-support gives update-binfmts, which preau-image (as root) uses to enable the
# qemu-aarch64 entry before a Pi build; it writes the entry itself when that is missing.
set -euo pipefail
SUDO="${SUDO:-}"

if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    # The same Debian mirror the machine already uses, with the backports suite.
    mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    [ -n "$mirror" ] || mirror=$(grep -m1 -oE 'https?://[^ ]+' /etc/apt/sources.list)
    echo "deb $mirror bookworm-backports main" |
        $SUDO tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
    $SUDO apt-get update -qq
fi

$SUDO apt-get install -y -qq --no-install-recommends \
    mmdebstrap arch-test mtools dosfstools fdisk e2fsprogs bmap-tools xz-utils zstd \
    debian-archive-keyring ca-certificates binfmt-support device-tree-compiler >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports \
    qemu-system-x86 qemu-system-arm qemu-user-static qemu-utils ovmf >/dev/null
