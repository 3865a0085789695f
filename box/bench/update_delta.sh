#!/usr/bin/env bash
# Bytes a box downloads for a software update (issue 18): two builds of `preau` published
# one after the other as the system pack (`preau system publish`, level 19, as operators
# publish), pulled over HTTP (python3 http.server on loopback) by a box that holds the
# first one. Compared with the whole binary, the whole binary compressed, and the limit
# (`zstd -19 --long --patch-from`).
#
#   [LEVEL=19] bash box/bench/update_delta.sh OLD_PREAU NEW_PREAU [PREAU_TO_RUN]
set -euo pipefail
old=$(realpath "$1"); new=$(realpath "$2"); preau=$(realpath "${3:-$2}")
work=$(mktemp -d); trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
arch=$(uname -m)
"$preau" keygen --out "$work/k" >/dev/null
"$preau" system publish --repo "$work/repo" --key "$work/k" --serial 1 --version old --level "${LEVEL:-19}" --bin "$arch=$old" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 "$port" --directory "$work/repo" >/dev/null 2>&1 & server=$!
sleep 1
pull() { "$preau" sync pull --from "http://127.0.0.1:$port/" --data "$work/box" --trust "$work/k.pub" --json; }
first=$(pull)
t0=$(date +%s.%N)
"$preau" system publish --repo "$work/repo" --key "$work/k" --serial 2 --version new --level "${LEVEL:-19}" --bin "$arch=$new" >/dev/null
t1=$(date +%s.%N)
second=$(pull)
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
full_z=$(zstd -19 --long=27 -c -q "$new" 2>/dev/null | wc -c)
limit=$(zstd -19 --long=31 --patch-from="$old" -c -q "$new" 2>/dev/null | wc -c)
echo "old binary:            $(stat -c %s "$old") bytes"
echo "new binary:            $(stat -c %s "$new") bytes"
echo "new binary, zstd -19:  $full_z bytes"
echo "first install pull:    $(echo "$first" | field bytes_downloaded) bytes, $(echo "$first" | field requests) requests"
echo "update pull:           $(echo "$second" | field bytes_downloaded) bytes, $(echo "$second" | field requests) requests"
echo "limit (patch-from):    $limit bytes"
echo "publish of the update: $(python3 -c "print(round($t1-$t0,1))") s"
