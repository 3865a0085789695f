#!/usr/bin/env bash
# Serving benchmark: `preau serve` against nginx (Debian package) with wrk, side by side
# in one run on the same files. Loopback only. Servers are pinned to CPU 0 (one core
# each, run one after the other), wrk to CPU 1, so req/s are per core.
#
# On a shared machine a server pinned to a busy core gets only part of it, so req/s
# also measure the neighbours. Each run therefore also reports the server's own CPU time
# (user + system, all its threads, from /proc/PID/stat) per request: its inverse,
# requests per CPU-second, is the per-core rate that does not depend on the share the
# scheduler gave. `share` is the part of CPU 0 the server got during the run.
#
#   apt-get install nginx wrk        # once
#   cargo build --release -p preau-box
#   bash box/bench/serve.sh [SECONDS]
#   PREAU_BASE=/tmp/preau-old bash box/bench/serve.sh 15   # also an older build, same run
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-20}
PREAU=${PREAU:-target/release/preau}
PREAU_BASE=${PREAU_BASE:-}
[ -x "$PREAU" ] || { echo "build first: cargo build --release -p preau-box" >&2; exit 1; }
command -v nginx >/dev/null && command -v wrk >/dev/null || { echo "needs: apt-get install nginx wrk" >&2; exit 1; }

W=$(mktemp -d /tmp/preau-bench.XXXXXX)
cleanup() { [ -n "${P_PID:-}" ] && kill "$P_PID" 2>/dev/null; [ -f "$W/nginx.pid" ] && kill "$(cat "$W/nginx.pid")" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT

# The same files for both: a 4 KiB page, a 20 KiB stylesheet, a 64 MiB "video".
mkdir -p "$W/src"
chmod 755 "$W"   # nginx workers run as www-data
python3 - "$W/src" <<'PY'
import os, sys
d = sys.argv[1]
open(os.path.join(d, "page.html"), "w").write("<!doctype html><title>Leçon</title>" + "<p>Le groupe nominal. " * 180)
open(os.path.join(d, "style.css"), "w").write("body { color: #222; margin: 0 auto; }\n" * 520)
with open(os.path.join(d, "video.mp4"), "wb") as f:
    f.write(os.urandom(64 * 1024 * 1024))
PY
chmod -R a+rX "$W/src"
"$PREAU" keygen --out "$W/key" >/dev/null
"$PREAU" pack build "$W/src" --repo "$W/repo" --key "$W/key" --id bench --level 3 >/dev/null
"$PREAU" sync pull --from "$W/repo" --data "$W/data" --trust "$W/key.pub" >/dev/null
printf '[server]\nmdns = false\n' > "$W/preau.toml"

cat > "$W/nginx.conf" <<NGX
worker_processes 1;
pid $W/nginx.pid;
error_log $W/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_requests 1000;
  types { text/html html; text/css css; video/mp4 mp4; }
  client_body_temp_path $W/nginx-tmp; proxy_temp_path $W/nginx-tmp; fastcgi_temp_path $W/nginx-tmp;
  uwsgi_temp_path $W/nginx-tmp; scgi_temp_path $W/nginx-tmp;
  server { listen 127.0.0.1:18081; root $W/src; }
}
NGX
mkdir -p "$W/nginx-tmp"

rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # user + system, all threads
TCK=$(getconf CLK_TCK)
run_wrk() { # PID URL CONNECTIONS -> "req/s transfer/s p50 p99 cpu-us/req req/cpu-s share"
  local c0 c1; c0=$(ticks "$1")
  taskset -c 1 wrk -t1 -c"$3" -d"${SECS}s" --latency "$2" > "$W/wrk.out"
  c1=$(ticks "$1")
  local rps tput p50 p99 n
  rps=$(awk '/^Requests\/sec/ {print $2}' "$W/wrk.out")
  tput=$(awk '/^Transfer\/sec/ {print $2}' "$W/wrk.out")
  p50=$(awk '$1=="50%" {print $2}' "$W/wrk.out")
  p99=$(awk '$1=="99%" {print $2}' "$W/wrk.out")
  n=$(awk '/requests in/ {print $1}' "$W/wrk.out")
  local cpu; cpu=$(awk -v t=$((c1 - c0)) -v hz="$TCK" -v n="$n" -v s="$SECS" \
    'BEGIN { us = t * 1e6 / hz / n; printf "%.1fus/req %.0freq/cpu-s share=%.2f", us, 1e6 / us, t / hz / s }')
  local errs; errs=$(grep -E "Non-2xx|Socket errors" "$W/wrk.out" | tr '\n' ' ' || true)
  echo "$rps $tput $p50 $p99 $cpu ${errs:-}"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "nginx: $(nginx -v 2>&1 | cut -d/ -f2)   wrk: $(wrk -v 2>&1 | head -1 | cut -d' ' -f2)   seconds per run: $SECS"

# preau serve, one core. PREAU_BASE (an older build) runs first, on a fresh copy of the data.
bench_preau() { # BINARY -> sets SMALL CSS BIG IDLE PEAK
  rm -rf "$W/data-run"; cp -r "$W/data" "$W/data-run"
  taskset -c 0 "$1" serve --data "$W/data-run" --listen 127.0.0.1:18080 --config "$W/preau.toml" > "$W/preau.out" 2> "$W/preau.err" &
  P_PID=$!
  for _ in $(seq 50); do curl -sf http://127.0.0.1:18080/healthz >/dev/null 2>&1 && break; sleep 0.1; done
  curl -sf -o /dev/null http://127.0.0.1:18080/packs/bench/page.html
  sleep 1
  IDLE=$(rss $P_PID)
  SMALL=$(run_wrk $P_PID http://127.0.0.1:18080/packs/bench/page.html 40)
  CSS=$(run_wrk $P_PID http://127.0.0.1:18080/packs/bench/style.css 40)
  BIG=$(run_wrk $P_PID http://127.0.0.1:18080/packs/bench/video.mp4 4)
  PEAK=$(hwm $P_PID)
  kill -TERM $P_PID; wait $P_PID 2>/dev/null || true; P_PID=
}
if [ -n "$PREAU_BASE" ]; then
  bench_preau "$PREAU_BASE"
  B_SMALL=$SMALL B_CSS=$CSS B_BIG=$BIG B_IDLE=$IDLE B_PEAK=$PEAK
fi
bench_preau "$PREAU"
P_SMALL=$SMALL P_CSS=$CSS P_BIG=$BIG P_IDLE=$IDLE P_PEAK=$PEAK

# nginx, one worker on the same core.
taskset -c 0 nginx -c "$W/nginx.conf" -p "$W"
sleep 0.5
N_PID=$(pgrep -P "$(cat "$W/nginx.pid")" | head -1)
N_SMALL=$(run_wrk "$N_PID" http://127.0.0.1:18081/page.html 40)
N_CSS=$(run_wrk "$N_PID" http://127.0.0.1:18081/style.css 40)
N_BIG=$(run_wrk "$N_PID" http://127.0.0.1:18081/video.mp4 4)
N_PEAK=$(hwm "$N_PID")
kill "$(cat "$W/nginx.pid")"; rm -f "$W/nginx.pid"

echo
echo "load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "columns: req/s, transfer/s, p50, p99, server CPU per request, requests per CPU-second, share of CPU 0"
echo
echo "| test | preau serve | nginx |"
echo "|---|---|---|"
echo "| 4 KiB page, 40 connections | $P_SMALL | $N_SMALL |"
echo "| 20 KiB stylesheet, 40 connections | $P_CSS | $N_CSS |"
echo "| 64 MiB file, 4 connections | $P_BIG | $N_BIG |"
echo
echo "preau serve RSS: idle ${P_IDLE} KiB, peak ${P_PEAK} KiB   (nginx worker peak ${N_PEAK} KiB)"
if [ -n "$PREAU_BASE" ]; then
  echo
  echo "older build $PREAU_BASE, same run:"
  echo "| 4 KiB page, 40 connections | $B_SMALL |"
  echo "| 20 KiB stylesheet, 40 connections | $B_CSS |"
  echo "| 64 MiB file, 4 connections | $B_BIG |"
  echo "RSS: idle ${B_IDLE} KiB, peak ${B_PEAK} KiB"
fi
