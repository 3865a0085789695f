#!/usr/bin/env bash
# preau-sitegen builds MkDocs and Sphinx sites with MkDocs and Sphinx themselves, in a Python virtual environment
# (python3-venv) that it makes and caches per set of packages, confined with bubblewrap
# (prlimit comes with util-linux). Its tests install the versions pinned in
# content-packs/sitegen/constraints.txt (MkDocs) and constraints-sphinx.txt (Sphinx) from
# PyPI into a cache under target/; nothing
# is pre-installed here and nothing of it is committed.
set -euo pipefail
SUDO="${SUDO:-}"
$SUDO apt-get install -y -qq --no-install-recommends python3 python3-venv bubblewrap util-linux >/dev/null
