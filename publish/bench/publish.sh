#!/usr/bin/env bash
# Publish time of the fixture course to an S3 API (moto on loopback) against a folder,
# side by side in one run: v1 into an empty repository, then v2 on top (deltas and an
# update bundle; the S3 side reads its mirror up to date first).
# Usage: bash publish/bench/publish.sh [RUNS]   (from the repository root)
# Needs: a built preau (PREAU, default target/debug/preau), the moto venv of
# .ci/install.d/80-s3.sh, GNU time.
set -euo pipefail
runs=${1:-3}
preau=${PREAU:-target/debug/preau}
fixtures=${FIXTURES:-/work/shared/fixtures}
moto=${PREAU_MOTO_VENV:-/opt/preau-ci/moto}/bin/moto_server
v1=$fixtures/sites/cours-python_2024-11-14_d996c94.tar
v2=$fixtures/sites/cours-python_2025-09-29_366b8c0.tar
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
setsid "$moto" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
trap 'kill -- -$moto_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done
curl -s -X PUT -o /dev/null "http://127.0.0.1:$port/preau"
"$preau" keygen --out "$work/key" >/dev/null
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1

reqs() { grep -c 'HTTP/1.1"' "$work/moto.log" || true; }
declare -A sent
wall() { # prints the wall seconds of a command
    /usr/bin/time -f '%e' -o "$work/t" "$@" >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
    cat "$work/t"
}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
f1=(); f2=(); s1=(); s2=(); w2=()
for i in $(seq "$runs"); do
    # --offline: no download at build time (outside references are removed, not fetched).
    common=(--key "$work/key" --id cours-python --no-generator --offline)
    f1+=("$(wall "$preau" pack build "$v1" --repo "$work/folder-$i" "${common[@]}")")
    f2+=("$(wall "$preau" pack build "$v2" --repo "$work/folder-$i" "${common[@]}")")
    s3=(--repo "s3://preau/run-$i" --s3-endpoint "http://127.0.0.1:$port" --s3-cache "$work/cache-$i")
    r0=$(reqs); s1+=("$(wall "$preau" pack build "$v1" "${s3[@]}" "${common[@]}")"); sent[v1]+="$(( $(reqs) - r0 )) "
    # v2 from another publisher's empty mirror: everything it needs is read from the store.
    s3[5]="$work/cache2-$i"
    r0=$(reqs); s2+=("$(wall "$preau" pack build "$v2" "${s3[@]}" "${common[@]}")"); sent[v2e]+="$(( $(reqs) - r0 )) "
    # v2 by the publisher of v1 (its mirror is warm: only the metadata is read again).
    w=(--repo "s3://preau/warm-$i" --s3-endpoint "http://127.0.0.1:$port" --s3-cache "$work/warm-$i")
    wall "$preau" pack build "$v1" "${w[@]}" "${common[@]}" >/dev/null
    r0=$(reqs); w2+=("$(wall "$preau" pack build "$v2" "${w[@]}" "${common[@]}")"); sent[v2w]+="$(( $(reqs) - r0 )) "
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'v1, empty repository: folder %s s, S3 (moto) %s s  (runs: %s | %s)\n' "$(median "${f1[@]}")" "$(median "${s1[@]}")" "${f1[*]}" "${s1[*]}"
printf 'v2 on top:            folder %s s, S3 (moto) warm mirror %s s, S3 empty mirror %s s  (runs: %s | %s | %s)\n' \
    "$(median "${f2[@]}")" "$(median "${w2[@]}")" "$(median "${s2[@]}")" "${f2[*]}" "${w2[*]}" "${s2[*]}"
echo "S3 requests per publish (moto's log): v1 ${sent[v1]}| v2 warm mirror ${sent[v2w]}| v2 empty mirror ${sent[v2e]}"
echo "packs in s3://preau/run-1: $("$preau" pack list --repo "$work/cache2-1" | tail -n +2 | cut -c1-40 | xargs)"
echo "objects in the second mirror of run-1: $(find "$work/cache2-1/objects" -type f | wc -l)"
