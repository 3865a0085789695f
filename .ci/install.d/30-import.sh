#!/usr/bin/env bash
# preau-import's git tests create repositories with the git command.
set -euo pipefail
command -v git >/dev/null || $SUDO apt-get install -y -qq --no-install-recommends git >/dev/null
