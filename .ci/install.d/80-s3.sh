#!/usr/bin/env bash
# The object-store publishing tests run against a real S3 API on loopback: moto's server
# (moto[server] from PyPI, pinned) in a venv reused when present (tests find it at
# /opt/preau-ci/moto or $PREAU_MOTO_VENV). moto 5.2 answers conditional writes as S3 does:
# If-None-Match: * and If-Match on an ETag, 412 when the precondition fails.
set -euo pipefail
SUDO="${SUDO:-}"
VENV=/opt/preau-ci/moto
PY=/usr/bin/python3
MOTO=5.2.6
if ! "$PY" -m venv --help >/dev/null 2>&1; then
    $SUDO apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi
if [ -x "$VENV/bin/moto_server" ] && [ -f "$VENV/.preau-$MOTO" ]; then
    exit 0
fi
$SUDO mkdir -p "$(dirname "$VENV")"
$SUDO "$PY" -m venv "$VENV"
$SUDO "$VENV/bin/pip" install -q --disable-pip-version-check "moto[server]==$MOTO" >/dev/null
$SUDO touch "$VENV/.preau-$MOTO"
