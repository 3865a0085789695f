#!/usr/bin/env bash
# Search benchmark (issue 16): every fixture pack built with the real `preau pack build`
# (no site generator, no downloads), installed with `preau sync pull`, then
#  1. the index build alone: `preau search --data` under /usr/bin/time (wall time, peak
#     RSS of the whole process), index size against the text it indexed;
#  2. query latency of `GET /api/search` on a real `preau serve`, with wrk: 1-, 2- and
#     3-word queries from real French course words, 10 connections, while a second wrk
#     fetches pack pages over 10 more connections; then 60 concurrent searches.
#
# Several binaries are measured one after the other in the same run, on the same packs
# (the first one builds them), each from an empty index:
#
#   apt-get install wrk                      # once
#   cargo build -p preau-box                 # debug build: dependencies at opt-level 2
#   cargo build --release -p preau-box --bin preau
#   bash box/bench/search.sh [SECONDS] [PREAU…]   # default: target/debug/preau
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-10}
shift || true
BINS=("$@")
[ ${#BINS[@]} -gt 0 ] || BINS=("${PREAU:-target/debug/preau}")
for b in "${BINS[@]}"; do
  [ -x "$b" ] || { echo "no binary $b: build first (cargo build -p preau-box)" >&2; exit 1; }
done
PREAU=${BINS[0]}
FIX=${PREAU_FIXTURES:-../shared/fixtures}
command -v wrk >/dev/null || { echo "needs: apt-get install wrk" >&2; exit 1; }
W=$(mktemp -d /tmp/preau-search-bench.XXXXXX)
cleanup() { [ -n "${S_PID:-}" ] && kill "$S_PID" 2>/dev/null; [ -n "${P_PID:-}" ] && kill "$P_PID" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT

"$PREAU" keygen --out "$W/k" >/dev/null
for f in "$FIX"/sites/*.tar "$FIX"/moodle/*.mbz "$FIX"/questions/gift/*.gift "$FIX"/zim/*.zim; do
  id=$(basename "$f" | sed 's/\.[a-z]*$//; s/[^a-zA-Z0-9-]/-/g' | tr 'A-Z' 'a-z' | cut -c1-60)
  "$PREAU" pack build "$f" --repo "$W/repo" --key "$W/k" --id "$id" --level 3 --no-generator --offline >/dev/null 2>&1 \
    || echo "skipped $f (build failed)"
done
"$PREAU" sync pull --from "$W/repo" --data "$W/data" --trust "$W/k.pub" >/dev/null
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "packs: $(ls "$W/repo/manifests" 2>/dev/null | wc -l) manifests, $(du -sb "$W/data/repo" | cut -f1) bytes installed"

for PREAU in "${BINS[@]}"; do
echo
echo "== $PREAU ($(du -b "$PREAU" | cut -f1) bytes), load $(cut -d' ' -f1-3 /proc/loadavg)"
rm -rf "$W/data/search"

# 1. Build.
PREAU_LOG=warn /usr/bin/time -f "%e %M" -o "$W/time" "$PREAU" search --data "$W/data" --json >"$W/build.json"
read -r secs kib <"$W/time"
python3 - "$W/build.json" "$secs" "$kib" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
print(f"build: {b['built']} packs, {b['docs']} documents, {b['text_bytes']} bytes of text, "
      f"index {b['index_bytes']} bytes = {b['index_bytes']/max(b['text_bytes'],1):.3f}x the text; "
      f"{float(sys.argv[2]):.2f} s wall, peak RSS {int(sys.argv[3])/1024:.1f} MiB")
PY

# 2. Queries while serving.
# All clients come from 127.0.0.1: the per-client connection cap (64) would turn the
# 60 searches + 10 page fetches into quick 503s.
printf '[server]\nmdns = false\nmax_connections_per_client = 256\n' >"$W/preau.toml"
"$PREAU" serve --data "$W/data" --config "$W/preau.toml" --listen 127.0.0.1:0 >"$W/serve.out" 2>/dev/null &
S_PID=$!
for _ in $(seq 100); do grep -q listening "$W/serve.out" 2>/dev/null && break; sleep 0.1; done
BASE=$(sed -n 's#^listening on \(http://[^/]*\)/#\1#p' "$W/serve.out" | head -1)
for _ in $(seq 600); do curl -s "$BASE/api/search?q=index" | grep -q '"ready":true' && break; sleep 0.5; done
PAGE=$(curl -s "$BASE/api/search?q=python&limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["results"][0]["url"])')
one="fonction boucle variable réseau fichier liste classe élément chaîne document balise schéma attribut nombre auteur"
two="boucle_for liste_python fichier_XML réseaux_sociaux droit_auteur nombre_entier chaîne_caractères valeur_attribut"
three="boucle_for_python espace_noms_XML lecture_fichier_texte droit_auteur_internet élément_racine_document"
lua() {
  cat <<LUA
local qs = {}
for w in string.gmatch("$1", "%S+") do
  local e = w:gsub("[^%w_]", function(c) return string.format("%%%02X", string.byte(c)) end)
  qs[#qs + 1] = (e:gsub("_", "%%20"))
end
local i = 0
request = function() i = i + 1; return wrk.format("GET", "/api/search?q=" .. qs[(i % #qs) + 1] .. "${2:-}") end
done = function(s, lat, req)
  io.write(string.format("%d requests, %.0f/s, p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, errors %d\n",
    s.requests, s.requests / (s.duration / 1e6), lat:percentile(50) / 1000, lat:percentile(95) / 1000,
    lat:percentile(99) / 1000, s.errors.status + s.errors.connect + s.errors.read + s.errors.timeout))
end
LUA
}
# Cold: each query once, one at a time, right after the start (nothing cached yet).
for q in $one $two $three; do
  e=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1].replace("_", " ")))' "$q")
  curl -s -o /dev/null -w '%{time_total}\n' "$BASE/api/search?q=$e"
done | sort -n | awk '{ t[NR] = $1 * 1000 } END { printf "cold, each query once, 1 client: %d queries, median %.1f ms, max %.1f ms\n", NR, t[int((NR + 1) / 2)], t[NR] }'
lua "$one $two $three" >"$W/all.lua"
lua "$one $two $three" "&limit=20" >"$W/all20.lua"
printf 'alone, mixed words, 10 clients: '
wrk -t1 -c10 -d${SECS}s --timeout 10s -s "$W/all.lua" "$BASE" | tail -1
printf 'alone, mixed words, 10 clients, 20 results: '
wrk -t1 -c10 -d${SECS}s --timeout 10s -s "$W/all20.lua" "$BASE" | tail -1
# Pages served at the same time (10 connections).
wrk -t1 -c10 -d$((SECS * 5 + 10))s "$BASE$PAGE" >"$W/pages.txt" 2>&1 &
P_PID=$!
for kind in one two three; do
  lua "${!kind}" >"$W/$kind.lua"
  printf '%-6s words, 10 clients: ' "$kind"
  wrk -t1 -c10 -d${SECS}s --timeout 10s -s "$W/$kind.lua" "$BASE" | tail -1
done
printf 'mixed, 60 clients: '
wrk -t2 -c60 -d${SECS}s --timeout 10s -s "$W/all.lua" "$BASE" | tail -1
wait "$P_PID" || true
P_PID=
echo "pages served meanwhile: $(grep -E 'Requests/sec' "$W/pages.txt")"
kill "$S_PID" 2>/dev/null || true
wait "$S_PID" 2>/dev/null || true
S_PID=
done
