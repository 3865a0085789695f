#!/usr/bin/env bash
# Blocking benchmark (issue 10): latency of small pack-file requests from 40 connections
# while 30 pupils submit a quiz in a loop, the box on ONE core. Each quiz submission
# commits an SQLite transaction (WAL, synchronous=FULL: an fsync); a handler that does it
# on the async worker stops every other connection of a one-core box meanwhile.
#
# The box is pinned to CPU 0 (`taskset -c 0`: `preau serve` then runs tokio's
# single-threaded scheduler, one worker); wrk and the pupils (box/bench/pupils.py, one
# thread each, keep-alive) run on CPU 1. Each round measures every build, one after the
# other, idle (wrk alone) and loaded (wrk + pupils); medians over the rounds are printed.
# The data folder is on disk (BENCH_DIR, /var/tmp by default), not tmpfs: fsync is real.
#
#   apt-get install wrk              # once
#   cargo build --release -p preau-box
#   bash box/bench/blocking.sh [SECONDS]                   # ROUNDS=3 by default
#   PREAU_BASE=/tmp/preau-old bash box/bench/blocking.sh 10 # an older build too, same run
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-10}
ROUNDS=${ROUNDS:-3}
PUPILS=${PUPILS:-30}
PREAU=${PREAU:-target/release/preau}
PREAU_BASE=${PREAU_BASE:-}
BENCH_DIR=${BENCH_DIR:-/var/tmp}
[ -x "$PREAU" ] || { echo "build first: cargo build --release -p preau-box" >&2; exit 1; }
command -v wrk >/dev/null || { echo "needs: apt-get install wrk" >&2; exit 1; }
HERE=box/bench

W=$(mktemp -d "$BENCH_DIR/preau-blocking.XXXXXX")
cleanup() { [ -n "${S_PID:-}" ] && kill "$S_PID" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT

# One pack: a quiz (GIFT, three questions) and 2 KiB stylesheets, the small files wrk asks for.
mkdir -p "$W/src"
cat > "$W/quiz.gift" <<'GIFT'
::Q1:: 2 + 2 = {#4}
::Q2:: La capitale de la France ? {=Paris ~Lyon ~Marseille}
::Q3:: La Terre tourne autour du Soleil. {T}
GIFT
"$PREAU" keygen --out "$W/key" >/dev/null
"$PREAU" pack build "$W/quiz.gift" --repo "$W/repo" --key "$W/key" --id quiz --title "Quiz" >/dev/null
python3 -c 'import sys; open(sys.argv[1], "w").write("p { margin: 0 auto; }\n" * 93)' "$W/src/style.css"
"$PREAU" pack build "$W/src" --repo "$W/repo" --key "$W/key" --id files >/dev/null
"$PREAU" sync pull --from "$W/repo" --data "$W/data0" --trust "$W/key.pub" >/dev/null
printf '[box]\nsetup_code = "12345678"\n[server]\nmdns = false\n' > "$W/preau.toml"

PORT=18090
# start BINARY: a fresh copy of the installed data, the box on CPU 0, waits for /healthz.
start() {
  rm -rf "$W/data"; cp -a "$W/data0" "$W/data"
  taskset -c 0 "$1" serve --data "$W/data" --listen "127.0.0.1:$PORT" --config "$W/preau.toml" \
    > "$W/serve.log" 2>&1 &
  S_PID=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "server did not start:" >&2; cat "$W/serve.log" >&2; exit 1
}
stop() { kill "$S_PID"; wait "$S_PID" 2>/dev/null || true; S_PID=; }

# measure LABEL BINARY -> lines "LABEL idle|loaded p50 p99 req/s submissions/s errors"
measure() {
  start "$2"
  local addr="127.0.0.1:$PORT" setup quiz ids
  taskset -c 1 python3 "$HERE/pupils.py" setup "$addr" 12345678 "$PUPILS" > "$W/setup.out"
  setup=$(cat "$W/setup.out")
  quiz=$(echo "$setup" | head -1); ids=$(echo "$setup" | tail -n +2 | tr '\n' ' ')
  local url="http://$addr/packs/files/style.css"
  curl -sf "$url" -o /dev/null
  taskset -c 1 wrk -t1 -c40 -d"${SECS}s" --latency "$url" > "$W/wrk.out"
  echo "$1 idle $(wrk_line) - -"
  # shellcheck disable=SC2086
  taskset -c 1 python3 "$HERE/pupils.py" run "$addr" "$((SECS + 2))" "$quiz" $ids > "$W/pupils.out" &
  local p=$!
  sleep 1   # the pupils sign in first
  taskset -c 1 wrk -t1 -c40 -d"${SECS}s" --latency "$url" > "$W/wrk.out"
  wait "$p"
  echo "$1 loaded $(wrk_line) $(cat "$W/pupils.out")"
  stop
}
# p50 and p99 in ms, requests/s.
wrk_line() {
  awk 'function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
       $1=="50%" {p50=ms($2)} $1=="99%" {p99=ms($2)} /^Requests\/sec/ {rps=$2}
       END {printf "%.2f %.2f %.0f", p50, p99, rps}' "$W/wrk.out"
}

echo "# label state p50_ms p99_ms wrk_req/s submissions/s pupil_errors (one core, $SECS s, $PUPILS pupils)"
for r in $(seq "$ROUNDS"); do
  echo "# round $r"
  # Not in a pipeline: `start` sets S_PID for the cleanup trap in this shell.
  if [ -n "$PREAU_BASE" ]; then measure base "$PREAU_BASE" > "$W/round"; cat "$W/round" | tee -a "$W/all"; fi
  measure new "$PREAU" > "$W/round"; cat "$W/round" | tee -a "$W/all"
done
echo "# medians over $ROUNDS rounds: label state p50_ms p99_ms wrk_req/s submissions/s"
for label in base new; do
  for state in idle loaded; do
    grep "^$label $state " "$W/all" > "$W/sel" 2>/dev/null || continue
    med() { cut -d' ' -f"$1" "$W/sel" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
    echo "$label $state $(med 3) $(med 4) $(med 5) $(med 6)"
  done
done
