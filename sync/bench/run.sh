#!/usr/bin/env bash
# Sync benchmark: bytes on the wire (loopback) and wall time on a shaped long link.
#   bash sync/bench/run.sh [PREAU_BINARY [BASELINE_BINARY]]
# Prints the figures for BENCHMARKS.md ("Sync"). Needs root (network namespace, tc tbf),
# nginx, rsync, casync, zstd, python3 (.ci/install.d/20-sync.sh).
#
# Three cases, each pulled from the same publisher repositories:
#   delta    the fixture course v1 -> v2 (../shared/fixtures/sites), box holds v1;
#   full     first install of v2 of that course on an empty box (several MB);
#   moodle   two different Moodle backups of ../shared/fixtures/moodle published as
#            consecutive versions of one pack (most of the content changes), box holds v1.
# With BASELINE_BINARY, every shaped pull is also run with it (same repositories, same
# link), for before/after figures. Environment: RUNS (shaped runs per case, default 3;
# the median is reported), MODES ("tcp plain" by default, see delay_proxy.py), CASES
# (shaped cases, "delta full moodle" by default), PREAU_FIXTURES (the fixtures' root,
# ../shared/fixtures by default).
set -euo pipefail
cd "$(dirname "$0")/../.."
PREAU=${1:-target/release/preau}
[ -x "$PREAU" ] || cargo build --release -p preau-box
PREAU=$(realpath "$PREAU")
BASE=${2:-}
[ -z "$BASE" ] || BASE=$(realpath "$BASE")
RUNS=${RUNS:-3}
MODES=${MODES:-tcp plain}
CASES=${CASES:-delta full moodle}
FIX=$(realpath "${PREAU_FIXTURES:-../shared/fixtures}")
V1=$FIX/sites/cours-python_2024-11-14_d996c94.tar
V2=$FIX/sites/cours-python_2025-09-29_366b8c0.tar
M1=$FIX/moodle/stack-demo-moodle27-zipformat.mbz
M2=$FIX/moodle/teluq-inf6450-fr-moodle41.mbz
W=$(mktemp -d /tmp/preau-bench.XXXXXX)
chmod 755 "$W"
NS=preau-bench-$$
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  ip netns del "$NS" 2>/dev/null || true
  ip link del "pb$$a" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT

nginx_conf() { # dir root addr port
  mkdir -p "$1"
  cat > "$1/nginx.conf" <<CONF
daemon off; worker_processes 1; pid $1/nginx.pid; error_log $1/error.log; user root;
events { worker_connections 256; }
http {
  access_log off;
  log_format bytes '\$request_method \$uri \$status \$bytes_sent';
  client_body_temp_path $1/b; proxy_temp_path $1/p; fastcgi_temp_path $1/f; uwsgi_temp_path $1/u; scgi_temp_path $1/s;
  keepalive_requests 100000; keepalive_timeout 60s; sendfile on; tcp_nodelay on;
  default_type application/octet-stream;
  server { listen $3:$4; access_log $1/access.log bytes; root $2; location / { } }
}
CONF
}
start_nginx() { nginx_conf "$@"; nginx -c "$1/nginx.conf" -e "$1/error.log" & PIDS+=($!); sleep 0.5; }
traffic() { awk '{n++; b+=$NF} END {printf "%d %d\n", n, b}' "$1/access.log"; }
gets() { awk '$1 == "GET" {n++} END {print n+0}' "$1/access.log"; }

echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== binary: $PREAU${BASE:+ (baseline: $BASE)}"

echo "== publishers (preau pack build): cours-python v1, v2; cours-moodle v1 (STACK demo), v2 (TELUQ INF 6450)"
"$PREAU" keygen --out "$W/key" >/dev/null
mkdir -p "$W/srv"
"$PREAU" pack build "$V1" --repo "$W/srv/a" --key "$W/key" --id cours-python >/dev/null
"$PREAU" pack build "$M1" --repo "$W/srv/m" --key "$W/key" --id cours-moodle >/dev/null
"$PREAU" sync pull --from "$W/srv/a" --data "$W/box-a1" --trust "$W/key.pub" --json > /dev/null
"$PREAU" sync pull --from "$W/srv/m" --data "$W/box-m1" --trust "$W/key.pub" --json > /dev/null
"$PREAU" pack build "$V2" --repo "$W/srv/a" --key "$W/key" --id cours-python >/dev/null
"$PREAU" pack build "$M2" --repo "$W/srv/m" --key "$W/key" --id cours-moodle >/dev/null

echo "== delta: preau sync pull v1 -> v2 over nginx on loopback"
start_nginx "$W/ng" "$W/srv" 127.0.0.1 18931
cp -a "$W/box-a1" "$W/box"
"$PREAU" sync pull --from http://127.0.0.1:18931/a/ --data "$W/box" --json > "$W/pull-loop.json"
sleep 0.2
read -r PREQ PBYTES < <(traffic "$W/ng")
echo "preau: $PBYTES bytes in $PREQ requests, $(gets "$W/ng") of them GET (client: $(grep -o '"bytes_downloaded": [0-9]*' "$W/pull-loop.json"), $(grep -o '"deltas_used": [0-9]*' "$W/pull-loop.json"))"

echo "== rsync -az against an rsync daemon on loopback"
mkdir -p "$W/t1" "$W/t2"
tar -xf "$V1" -C "$W/t1"; tar -xf "$V2" -C "$W/t2"
cat > "$W/rsyncd.conf" <<CONF
use chroot = no
[v2]
path = $W/t2/cours-python
read only = yes
uid = root
gid = root
CONF
rsync --daemon --no-detach --config="$W/rsyncd.conf" --port=18973 --address=127.0.0.1 & PIDS+=($!)
sleep 0.5
cp -a "$W/t1/cours-python" "$W/rsync-dst"
RSYNC=$(rsync -az --stats rsync://127.0.0.1:18973/v2/ "$W/rsync-dst/" | awk -F': ' '/Total bytes received/ {gsub(",","",$2); print $2+0}')
diff -r "$W/rsync-dst" "$W/t2/cours-python" >/dev/null && echo "rsync: $RSYNC bytes received (tree identical)"

echo "== casync with the v1 tree as seed"
mkdir -p "$W/cas"
casync make --store="$W/cas/store.castr" "$W/cas/v2.caidx" "$W/t2/cours-python" >/dev/null
start_nginx "$W/ngc" "$W/cas" 127.0.0.1 18932
casync extract --store=http://127.0.0.1:18932/store.castr --seed="$W/t1/cours-python" \
  http://127.0.0.1:18932/v2.caidx "$W/cas-out" >/dev/null 2>&1 || echo "casync extract failed"
read -r CREQ CBYTES < <(traffic "$W/ngc")
echo "casync: $CBYTES bytes in $CREQ requests"

echo "== physical limit: zstd -19 --long=31 --patch-from=v1.tar v2.tar"
LIMIT=$(zstd -q -19 --long=31 --patch-from="$V1" "$V2" -c 2>/dev/null | wc -c)
echo "limit: $LIMIT bytes"
awk -v p="$PBYTES" -v l="$LIMIT" -v r="$RSYNC" 'BEGIN {printf "preau/limit = %.3f, preau/rsync = %.3f\n", p/l, p/r}'

echo "== shaped link: 2 Mbit/s (tbf on a veth into network namespace $NS) + 400 ms RTT (delay_proxy.py)"
# This kernel has no netem ("Specified qdisc kind is unknown"): the rate is shaped by the
# kernel (tbf, both directions) and the round trip is added by delay_proxy.py (200 ms each
# way) in front of nginx. Mode "tcp": the proxy also charges a round trip per new
# connection and models slow start (see delay_proxy.py); mode "plain": delay only.
ip netns add "$NS"
ip link add "pb$$a" type veth peer name "pb$$b"
ip link set "pb$$b" netns "$NS"
ip addr add 10.231.0.1/24 dev "pb$$a"; ip link set "pb$$a" up
ip netns exec "$NS" ip addr add 10.231.0.2/24 dev "pb$$b"
ip netns exec "$NS" ip link set "pb$$b" up
ip netns exec "$NS" ip link set lo up
tc qdisc add dev "pb$$a" root tbf rate 2mbit burst 4kb latency 2s
ip netns exec "$NS" tc qdisc add dev "pb$$b" root tbf rate 2mbit burst 4kb latency 2s
head -c 4000000 /dev/urandom > "$W/srv/cal.bin"
start_nginx "$W/ngs" "$W/srv" 127.0.0.1 18933

# shaped BINARY CASE MODE RUN: one pull, prints "wall bytes requests gets seconds-in-pull timings…"
shaped() {
  local bin=$1 case=$2 url box trust=()
  case $case in
    delta) url=a; rm -rf "$W/box"; cp -a "$W/box-a1" "$W/box" ;;
    full) url=a; rm -rf "$W/box"; trust=(--trust "$W/key.pub") ;;
    moodle) url=m; rm -rf "$W/box"; cp -a "$W/box-m1" "$W/box" ;;
  esac
  : > "$W/ngs/access.log"
  local start end
  start=$(date +%s.%N)
  ip netns exec "$NS" "$bin" sync pull --from "http://10.231.0.1:$PPORT/$url/" --data "$W/box" "${trust[@]}" --json > "$W/shaped.json"
  end=$(date +%s.%N)
  sleep 0.3 # nginx logs a request after its response is sent
  read -r n b < <(traffic "$W/ngs")
  python3 - "$start" "$end" "$b" "$n" "$(gets "$W/ngs")" "$W/shaped.json" <<'PY'
import json, sys
s, e, b, n, g, path = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
j = json.load(open(path))
t = j.get("timings", {})
print(f"{e - s:.3f} {b} {n} {g} {j['seconds']:.3f} " + " ".join(f"{k}={v:.2f}" for k, v in t.items()))
PY
}

PPORT=18933
for mode in $MODES; do
  flag=(); [ "$mode" = tcp ] && flag=(--tcp)
  PPORT=$((PPORT + 1)) # a fresh port per mode: the previous proxy may still hold its own
  python3 sync/bench/delay_proxy.py 10.231.0.1 "$PPORT" 127.0.0.1 18933 0.2 "${flag[@]}" & PROXY=$!
  PIDS+=($PROXY)
  sleep 0.5
  # Calibration: one curl stream of a 4 MB file, the best a single download can do on
  # this link (TCP/IP and Ethernet headers count against tbf's rate, about 4 %).
  : > "$W/ngs/access.log"
  cal=$(ip netns exec "$NS" curl -s -o /dev/null -w '%{time_total} %{size_download}' "http://10.231.0.1:$PPORT/cal.bin")
  sleep 0.3
  read -r _ cb < <(traffic "$W/ngs")
  echo "$cal" | awk -v m="$mode" -v b="$cb" '{ideal = b * 8 / 2000000; printf "shaped %s calibration (curl, one 4 MB file): %.2f s for %d bytes; bytes/bandwidth %.2f s; ratio %.2f\n", m, $1, b, ideal, $1 / ideal}'
  for case in $CASES; do
    for bin in $PREAU $BASE; do
      label=$([ "$bin" = "$PREAU" ] && echo preau || echo baseline)
      : > "$W/runs"
      for _ in $(seq "$RUNS"); do shaped "$bin" "$case" | tee -a "$W/runs" | sed "s/^/  $mode $case $label run: /"; done
      sort -n "$W/runs" | awk -v m="$mode" -v c="$case" -v l="$label" -v r="$RUNS" '
        { w[NR] = $1; b[NR] = $2; n[NR] = $3; g[NR] = $4 }
        END { i = int((NR + 1) / 2); ideal = b[i] * 8 / 2000000;
              printf "shaped %s %s %s: median wall %.2f s of %d runs, %d bytes in %d requests (%d GET); bytes/bandwidth %.2f s; ratio %.2f\n",
                     m, c, l, w[i], r, b[i], n[i], g[i], ideal, w[i] / ideal }'
    done
  done
  kill "$PROXY"; wait "$PROXY" 2>/dev/null || true
done
echo "== load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
