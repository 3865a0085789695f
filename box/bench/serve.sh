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
#   bash box/bench/serve.sh [SECONDS]          # ROUNDS=3 by default
#   PREAU_BASE=/tmp/preau-old bash box/bench/serve.sh 15   # also an older build, same run
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-20}
ROUNDS=${ROUNDS:-3}
PREAU=${PREAU:-target/release/preau}
PREAU_BASE=${PREAU_BASE:-}
[ -x "$PREAU" ] || { echo "build first: cargo build --release -p preau-box" >&2; exit 1; }
command -v nginx >/dev/null && command -v wrk >/dev/null || { echo "needs: apt-get install nginx wrk" >&2; exit 1; }

W=$(mktemp -d /tmp/preau-bench.XXXXXX)
cleanup() { for p in ${P_PID:-} ${B_PID:-}; do kill "$p" 2>/dev/null || true; done; [ -f "$W/nginx.pid" ] && kill "$(cat "$W/nginx.pid")" 2>/dev/null; rm -rf "$W"; }
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
echo "nginx: $(nginx -v 2>&1 | cut -d/ -f2)   wrk: $(wrk -v 2>&1 | head -1 | cut -d' ' -f2)   seconds per run: $SECS   rounds: $ROUNDS"

# All servers run at once, each pinned to CPU 0 and idle while another is measured. The
# small-file tests alternate between them, round after round: a neighbour that slows the
# machine for a minute then weighs on both sides of a ratio, not on one server's figure.
start_preau() { # BINARY PORT DATA -> pid
  rm -rf "$3"; cp -r "$W/data" "$3"
  taskset -c 0 "$1" serve --data "$3" --listen "127.0.0.1:$2" --config "$W/preau.toml" > "$3.out" 2> "$3.err" &
  local pid=$!
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$2/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -sf -o /dev/null "http://127.0.0.1:$2/packs/bench/page.html"
  echo "$pid"
}
P_PID=$(start_preau "$PREAU" 18080 "$W/data-now")
B_PID=
[ -n "$PREAU_BASE" ] && B_PID=$(start_preau "$PREAU_BASE" 18082 "$W/data-base")
taskset -c 0 nginx -c "$W/nginx.conf" -p "$W"
sleep 1
N_PID=$(pgrep -P "$(cat "$W/nginx.pid")" | head -1)
P_IDLE=$(rss "$P_PID")
[ -n "$B_PID" ] && B_IDLE=$(rss "$B_PID")

# One line per measurement: round test server req/s transfer/s p50 p99 us/req req/cpu-s share
: > "$W/results"
for round in $(seq "$ROUNDS"); do
  for test in page css; do
    case $test in page) file=page.html ;; css) file=style.css ;; esac
    echo "$round $test preau $(run_wrk "$P_PID" "http://127.0.0.1:18080/packs/bench/$file" 40)" >> "$W/results"
    echo "$round $test nginx $(run_wrk "$N_PID" "http://127.0.0.1:18081/$file" 40)" >> "$W/results"
    [ -n "$B_PID" ] && echo "$round $test base $(run_wrk "$B_PID" "http://127.0.0.1:18082/packs/bench/$file" 40)" >> "$W/results"
  done
done
P_BIG=$(run_wrk "$P_PID" http://127.0.0.1:18080/packs/bench/video.mp4 4)
N_BIG=$(run_wrk "$N_PID" http://127.0.0.1:18081/video.mp4 4)
[ -n "$B_PID" ] && B_BIG=$(run_wrk "$B_PID" http://127.0.0.1:18082/packs/bench/video.mp4 4)
P_PEAK=$(hwm "$P_PID"); N_PEAK=$(hwm "$N_PID")
[ -n "$B_PID" ] && B_PEAK=$(hwm "$B_PID")

echo
echo "load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "columns: round, test, server, req/s, transfer/s, p50, p99, server CPU per request, requests per CPU-second, share of CPU 0"
echo
sed 's/^/  /' "$W/results"
echo
# Ratios within each round (preau ÷ nginx), then their median over the rounds.
python3 - "$W/results" <<'PY'
import re, statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
def num(v):
    return float(re.sub(r"[^0-9.]", "", v))
def get(r, t, s, col):
    for row in rows:
        if row[0] == r and row[1] == t and row[2] == s:
            return row[col]
rounds = sorted({row[0] for row in rows}, key=int)
for t, name in (("page", "4 KiB page"), ("css", "20 KiB stylesheet")):
    for s in ("preau", "base"):
        if get(rounds[0], t, s, 3) is None:
            continue
        cpu = [num(get(r, t, s, 8).replace("req/cpu-s", "")) / num(get(r, t, "nginx", 8).replace("req/cpu-s", "")) for r in rounds]
        rps = [num(get(r, t, s, 3)) / num(get(r, t, "nginx", 3)) for r in rounds]
        label = "preau serve" if s == "preau" else "older build"
        print(f"{name}, {label} / nginx: requests per CPU-second {', '.join(f'{x:.2f}' for x in cpu)} "
              f"(median {statistics.median(cpu):.2f}); wrk req/s {', '.join(f'{x:.2f}' for x in rps)} (median {statistics.median(rps):.2f})")
PY
echo
echo "| 64 MiB file, 4 connections | preau serve: $P_BIG |"
echo "| 64 MiB file, 4 connections | nginx: $N_BIG |"
[ -n "$B_PID" ] && echo "| 64 MiB file, 4 connections | older build: $B_BIG |"
echo
echo "preau serve RSS: idle ${P_IDLE} KiB, peak ${P_PEAK} KiB   (nginx worker peak ${N_PEAK} KiB)"
[ -n "$B_PID" ] && echo "older build RSS: idle ${B_IDLE} KiB, peak ${B_PEAK} KiB"
kill -TERM "$P_PID" ${B_PID:+"$B_PID"} 2>/dev/null || true
