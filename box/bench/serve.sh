#!/usr/bin/env bash
# Serving benchmark: `preau serve` against nginx (Debian package) with wrk, side by side
# in one run on the same files. Loopback only. Servers are pinned to CPU 0 (one core
# each, run one after the other), wrk to CPU 1, so req/s are per core.
#
#   apt-get install nginx wrk        # once
#   cargo build --release -p preau-box
#   bash box/bench/serve.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-20}
PREAU=${PREAU:-target/release/preau}
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
run_wrk() { # URL CONNECTIONS -> "req/s transfer/s p50 p99"
  taskset -c 1 wrk -t1 -c"$2" -d"${SECS}s" --latency "$1" > "$W/wrk.out"
  local rps tput p50 p99
  rps=$(awk '/^Requests\/sec/ {print $2}' "$W/wrk.out")
  tput=$(awk '/^Transfer\/sec/ {print $2}' "$W/wrk.out")
  p50=$(awk '$1=="50%" {print $2}' "$W/wrk.out")
  p99=$(awk '$1=="99%" {print $2}' "$W/wrk.out")
  local errs; errs=$(grep -E "Non-2xx|Socket errors" "$W/wrk.out" | tr '\n' ' ' || true)
  echo "$rps $tput $p50 $p99 ${errs:-}"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "nginx: $(nginx -v 2>&1 | cut -d/ -f2)   wrk: $(wrk -v 2>&1 | head -1 | cut -d' ' -f2)   seconds per run: $SECS"

# preau serve, one core.
taskset -c 0 "$PREAU" serve --data "$W/data" --listen 127.0.0.1:18080 --config "$W/preau.toml" > "$W/preau.out" 2> "$W/preau.err" &
P_PID=$!
for _ in $(seq 50); do curl -sf http://127.0.0.1:18080/healthz >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf -o /dev/null http://127.0.0.1:18080/packs/bench/page.html
sleep 1
P_IDLE=$(rss $P_PID)
P_SMALL=$(run_wrk http://127.0.0.1:18080/packs/bench/page.html 40)
P_CSS=$(run_wrk http://127.0.0.1:18080/packs/bench/style.css 40)
P_BIG=$(run_wrk http://127.0.0.1:18080/packs/bench/video.mp4 4)
P_PEAK=$(hwm $P_PID)
kill -TERM $P_PID; wait $P_PID 2>/dev/null || true; P_PID=

# nginx, one worker on the same core.
taskset -c 0 nginx -c "$W/nginx.conf" -p "$W"
sleep 0.5
N_PID=$(pgrep -P "$(cat "$W/nginx.pid")" | head -1)
N_SMALL=$(run_wrk http://127.0.0.1:18081/page.html 40)
N_CSS=$(run_wrk http://127.0.0.1:18081/style.css 40)
N_BIG=$(run_wrk http://127.0.0.1:18081/video.mp4 4)
N_PEAK=$(hwm "$N_PID")
kill "$(cat "$W/nginx.pid")"; rm -f "$W/nginx.pid"

echo
echo "| test | preau serve: req/s, transfer/s, p50, p99 | nginx: req/s, transfer/s, p50, p99 |"
echo "|---|---|---|"
echo "| 4 KiB page, 40 connections | $P_SMALL | $N_SMALL |"
echo "| 20 KiB stylesheet, 40 connections | $P_CSS | $N_CSS |"
echo "| 64 MiB file, 4 connections | $P_BIG | $N_BIG |"
echo
echo "preau serve RSS: idle ${P_IDLE} KiB, peak ${P_PEAK} KiB   (nginx worker peak ${N_PEAK} KiB)"
