#!/usr/bin/env bash
# The upstream push tests run against a real learning record store: Ralph 5.1.0 (FUN's
# LRS) on its MongoDB backend, with nx-27017 (a MongoDB wire-protocol server storing in
# SQLite) standing in for MongoDB itself. Both come from PyPI, pinned, in a venv that is
# reused when present (tests find it at /opt/preau-ci/ralph or $PREAU_RALPH_VENV).
set -euo pipefail
SUDO="${SUDO:-}"
VENV=/opt/preau-ci/ralph
PY=/usr/bin/python3
if ! "$PY" -m venv --help >/dev/null 2>&1; then
    $SUDO apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi
if [ -x "$VENV/bin/ralph" ] && [ -x "$VENV/bin/nx-27017" ] && [ -f "$VENV/.preau-5.1.0" ]; then
    exit 0
fi
$SUDO mkdir -p "$(dirname "$VENV")"
$SUDO "$PY" -m venv "$VENV"
$SUDO "$VENV/bin/pip" install -q --disable-pip-version-check \
    "ralph-malph[lrs,cli,backend-mongo]==5.1.0" "nx-27017==0.8.1" "requests==2.34.2" >/dev/null
$SUDO touch "$VENV/.preau-5.1.0"
