#!/usr/bin/env bash
# The classroom's browser tests inject axe-core (Deque's accessibility engine, from its
# npm package, pinned) into every box page and fail on any violation. Installed once at
# /opt/preau-ci/axe (tests find it there or at $PREAU_AXE_JS).
set -euo pipefail
SUDO="${SUDO:-}"
VERSION=4.14.1
DIR=/opt/preau-ci/axe
if [ -f "$DIR/.preau-$VERSION" ] && [ -f "$DIR/node_modules/axe-core/axe.min.js" ]; then
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
$SUDO mkdir -p "$DIR"
$SUDO npm install --prefix "$DIR" --no-save --no-audit --no-fund --silent "axe-core@$VERSION" >/dev/null
$SUDO touch "$DIR/.preau-$VERSION"
