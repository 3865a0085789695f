#!/usr/bin/env bash
# Version jumps: bytes at the server for a box at version i pulling version j, for every
# i < j of a chain of versions of one pack, against the physical limit
# (`zstd -19 --long=31 --patch-from=vi.tar vj.tar`).
#   bash sync/bench/chain.sh PREAU_BINARY                      # the fixture course chain
#   bash sync/bench/chain.sh PREAU_BINARY ID A.tar B.tar [...]  # any chain of tars
# The fixture chain: v1 and v2 are ../shared/fixtures/sites/cours-python_*.tar; v3 edits
# five Markdown chapters of v2; v4 edits three others, adds a chapter and removes one.
# Every tar is rewritten the same way (sorted, mtime 0, owner 0) so that the limit
# compares contents. nginx on 127.0.0.1 serves the repository as it is after the
# publication of vj; bytes are nginx's `$bytes_sent` (headers included).
# Environment: WINDOW (the publisher's --bundle-window, default 8); DELAY (seconds each
# way, e.g. 0.2): pull through sync/bench/delay_proxy.py (plain mode) and print the
# pull's wall time, whose multiples of 2 × DELAY are the round trips it waited for.
set -euo pipefail
cd "$(dirname "$0")/../.."
PREAU=$(realpath "${1:?usage: chain.sh PREAU_BINARY [ID A.tar B.tar ...]}")
shift
WINDOW=${WINDOW:-8}
W=$(mktemp -d /tmp/preau-chain.XXXXXX)
chmod 755 "$W"
USER_LINE=
[ "$(id -u)" != 0 ] || USER_LINE="user root;"
NGINX_PID=
PROXY_PID=
cleanup() {
  [ -z "$NGINX_PID" ] || kill "$NGINX_PID" 2>/dev/null || true
  [ -z "$PROXY_PID" ] || kill "$PROXY_PID" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT

normalise() { # folder out.tar
  tar cf "$2" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$1" .
}

TARS=()
if [ $# -eq 0 ]; then
  ID=cours-python
  FIX=$(realpath ../shared/fixtures/sites)
  for v in 1 2; do mkdir -p "$W/src/v$v"; done
  tar xf "$FIX/cours-python_2024-11-14_d996c94.tar" -C "$W/src/v1"
  tar xf "$FIX/cours-python_2025-09-29_366b8c0.tar" -C "$W/src/v2"
  cp -a "$W/src/v2" "$W/src/v3"
  python3 - "$W/src/v3/cours-python/cours" <<'PY'
import pathlib, sys
d = pathlib.Path(sys.argv[1])
for name in ["02_variables.md", "04_listes.md", "06_tests.md", "10_fonctions.md", "14_conteneurs.md"]:
    p = d / name
    t = p.read_text()
    t = t.replace("Python", "Python 3", 3)
    t += "\n\n## Pour aller plus loin\n\nRelisez ce chapitre et refaites les exercices " + name + ".\n"
    p.write_text(t)
PY
  cp -a "$W/src/v3" "$W/src/v4"
  python3 - "$W/src/v4/cours-python/cours" <<'PY'
import pathlib, sys
d = pathlib.Path(sys.argv[1])
for name in ["03_affichage.md", "07_fichiers.md", "12_plus_sur_les_listes.md"]:
    p = d / name
    lines = p.read_text().split("\n")
    lines.insert(len(lines) // 2, "\n> **Remarque** : cette partie a été revue pour la rentrée.\n")
    p.write_text("\n".join(lines))
(d / "28_nouveau_chapitre.md").write_text("# Un nouveau chapitre\n\n" + "Les compréhensions de listes. " * 80 + "\n")
(d / "18_jupyter.md").unlink()
PY
  for v in 1 2 3 4; do normalise "$W/src/v$v" "$W/v$v.tar"; TARS+=("$W/v$v.tar"); done
  rm -rf "$W/src"
else
  ID=$1
  shift
  i=0
  for t in "$@"; do
    i=$((i + 1))
    mkdir -p "$W/src"
    tar xf "$t" -C "$W/src"
    normalise "$W/src" "$W/v$i.tar"
    rm -rf "$W/src"
    TARS+=("$W/v$i.tar")
  done
fi
N=${#TARS[@]}

PORT=$((20000 + RANDOM % 20000))
mkdir -p "$W/ng"
cat > "$W/ng/nginx.conf" <<CONF
daemon off; worker_processes 1; pid $W/ng/nginx.pid; error_log $W/ng/error.log; $USER_LINE
events { worker_connections 256; }
http {
  access_log off;
  log_format bytes '\$request_method \$uri \$status \$bytes_sent';
  client_body_temp_path $W/ng/b; proxy_temp_path $W/ng/p; fastcgi_temp_path $W/ng/f; uwsgi_temp_path $W/ng/u; scgi_temp_path $W/ng/s;
  keepalive_requests 100000; keepalive_timeout 60s; sendfile on; tcp_nodelay on;
  default_type application/octet-stream;
  server { listen 127.0.0.1:$PORT; access_log $W/ng/access.log bytes; root $W/repo; location / { } }
}
CONF
mkdir -p "$W/repo"
nginx -c "$W/ng/nginx.conf" -e "$W/ng/error.log" &
NGINX_PID=$!
URL_PORT=$PORT
if [ -n "${DELAY:-}" ]; then
  URL_PORT=$((PORT + 1))
  python3 sync/bench/delay_proxy.py 127.0.0.1 "$URL_PORT" 127.0.0.1 "$PORT" "$DELAY" &
  PROXY_PID=$!
fi
sleep 0.5

"$PREAU" keygen --out "$W/key" >/dev/null
echo "== $ID: $N versions, --bundle-window $WINDOW; machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %12s %9s %8s %12s %8s %s\n' jump bytes requests rounds limit ratio "what was fetched"
for j in $(seq 1 "$N"); do
  "$PREAU" pack build "${TARS[$((j - 1))]}" --repo "$W/repo" --key "$W/key" --id "$ID" --verbatim \
    --bundle-window "$WINDOW" --json > "$W/build-v$j.json"
  for i in $(seq 1 $((j - 1))); do
    rm -rf "$W/box"
    cp -a "$W/box-v$i" "$W/box"
    : > "$W/ng/access.log"
    "$PREAU" sync pull --from "http://127.0.0.1:$URL_PORT/" --data "$W/box" --json > "$W/pull.json"
    sleep 0.3 # nginx writes its log line after the answer
    read -r REQ BYTES < <(awk '{n++; b+=$NF} END {printf "%d %d\n", n, b}' "$W/ng/access.log")
    [ -z "${SHOWLOG:-}" ] || sed "s/^/    /" "$W/ng/access.log"
    KINDS=$(awk '{split($2, p, "/"); k = p[2]; if (k == "") k = $2; c[k]++} END {for (k in c) printf "%s:%d ", k, c[k]}' "$W/ng/access.log")
    # Rounds: the signed top `catalog.json` alone is the first; when it changed, the
    # second holds the catalog nodes on the pack's path (its branch, its leaf's hint)
    # with two bundle parts of 16 KiB; the window object of a box several versions
    # behind (named by the leaf) and bundle parts past the first two come in the third.
    # More objects: the pack came without a bundle ("+"). DELAY shows it in the wall time.
    ROUNDS=$(awk '$2 ~ /^\/updates\// {u++} $2 ~ /^\/objects\// {o++} $2 ~ /^\/(catalog|hints)\// {c++}
      END {r = 1 + (c > 0) + (o > 0 || u > 2); printf "%d%s\n", r, (o > 1 ? "+" : "")}' "$W/ng/access.log")
    LIMIT=$(zstd -q -19 --long=31 --patch-from="${TARS[$((i - 1))]}" "${TARS[$((j - 1))]}" -c 2>/dev/null | wc -c)
    RATIO=$(awk -v b="$BYTES" -v l="$LIMIT" 'BEGIN {printf "%.2f", b / l}')
    [ -z "${DELAY:-}" ] || KINDS="$KINDS wall $(python3 -c 'import json,sys; print("%.2f s" % json.load(open(sys.argv[1]))["seconds"])' "$W/pull.json")"
    printf '%-8s %12s %9s %8s %12s %8s %s\n' "v$i→v$j" "$BYTES" "$REQ" "$ROUNDS" "$LIMIT" "$RATIO" "$KINDS"
  done
  "$PREAU" sync pull --from "$W/repo" --data "$W/box-v$j" --trust "$W/key.pub" --json > /dev/null
done
echo "== publisher storage: $(du -sb "$W/repo/objects" | cut -f1) bytes of objects, $(du -sb "$W/repo/updates" 2>/dev/null | cut -f1) bytes of update bundles ($(find "$W/repo/updates" -type f | wc -l) files)"
