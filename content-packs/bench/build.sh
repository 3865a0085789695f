#!/usr/bin/env bash
# Pack build throughput and repository size against `zstd -19` of the same tar.
# Usage: bash content-packs/bench/build.sh [RUNS]   (from the repository root)
# Needs: a release build (cargo build --release -p preau-box), zstd, GNU time.
set -euo pipefail
runs=${1:-5}
preau=${PREAU:-target/release/preau}
fixtures=${FIXTURES:-../shared/fixtures}
v1=$fixtures/sites/cours-python_2024-11-14_d996c94.tar
v2=$fixtures/sites/cours-python_2025-09-29_366b8c0.tar
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$preau" keygen --out "$work/key" >/dev/null

cpu() { # prints user+sys CPU seconds of a command
    /usr/bin/time -f '%U %S' -o "$work/t" "$@" >/dev/null 2>&1
    awk '{printf "%.3f\n", $1 + $2}' "$work/t"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
tar_bytes=$(stat -c %s "$v1")
files_bytes=$(tar -tvf "$v1" | awk '{s += $3} END {print s}')
echo "input: $(basename "$v1"): tar $tar_bytes bytes, files $files_bytes bytes"
preau_cpu=(); zstd_cpu=()
for i in $(seq "$runs"); do
    rm -rf "$work/repo"
    preau_cpu+=("$(cpu "$preau" pack build "$v1" --repo "$work/repo" --key "$work/key" --id cours-python)")
    zstd_cpu+=("$(cpu zstd -19 -q -f -T1 "$v1" -o "$work/v1.tar.zst")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
pm=$(median "${preau_cpu[@]}"); zm=$(median "${zstd_cpu[@]}")
repo_bytes=$(find "$work/repo/objects" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
meta_bytes=$(stat -c %s "$work/repo/catalog.json" "$work/repo/root.json" | awk '{s += $1} END {print s}')
zstd_bytes=$(stat -c %s "$work/v1.tar.zst")
echo "preau pack build (level 19, 1 thread): median CPU ${pm}s over $runs runs => $(awk -v b="$files_bytes" -v t="$pm" 'BEGIN {printf "%.2f", b / t / 1e6}') MB/s per core"
echo "zstd -19 -T1 of the tar:               median CPU ${zm}s => $(awk -v b="$tar_bytes" -v t="$zm" 'BEGIN {printf "%.2f", b / t / 1e6}') MB/s per core"
echo "repository size: objects $repo_bytes + signed metadata $meta_bytes bytes; zstd -19 tar: $zstd_bytes bytes; ratio $(awk -v a="$repo_bytes" -v m="$meta_bytes" -v z="$zstd_bytes" 'BEGIN {printf "%.3f", (a + m) / z}')"
before=$repo_bytes
"$preau" pack build "$v2" --repo "$work/repo" --key "$work/key" --id cours-python >/dev/null
after=$(find "$work/repo/objects" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
zstd -19 -q -f -T1 "$v2" -o "$work/v2.tar.zst"
echo "second version (v2): +$((after - before)) bytes in the repository; a full zstd -19 copy of v2 is $(stat -c %s "$work/v2.tar.zst") bytes"
