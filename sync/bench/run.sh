#!/usr/bin/env bash
# Sync benchmark: v1 → v2 of ../shared/fixtures/sites, one run, same data.
#   bash sync/bench/run.sh [PREAU_BINARY]
# Prints the figures for BENCHMARKS.md ("Sync"). Needs root (network namespace, tc
# netem), nginx, rsync, casync, zstd (.ci/install.d/20-sync.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
PREAU=${1:-target/release/preau}
[ -x "$PREAU" ] || cargo build --release -p preau-box
PREAU=$(realpath "$PREAU")
FIX=$(realpath ../shared/fixtures/sites)
V1=$FIX/cours-python_2024-11-14_d996c94.tar
V2=$FIX/cours-python_2025-09-29_366b8c0.tar
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

echo "== publisher: v1 then v2 (preau pack build)"
"$PREAU" keygen --out "$W/key" >/dev/null
"$PREAU" pack build "$V1" --repo "$W/repo" --key "$W/key" --id cours-python >/dev/null
cp -a "$W/repo" "$W/repo-v1"

echo "== preau sync pull v1 → v2 over nginx on loopback"
start_nginx "$W/ng" "$W/repo" 127.0.0.1 18931
"$PREAU" sync pull --from http://127.0.0.1:18931/ --data "$W/box" --trust "$W/key.pub" --json > "$W/pull1.json"
"$PREAU" pack build "$V2" --repo "$W/repo" --key "$W/key" --id cours-python >/dev/null
: > "$W/ng/access.log"
cp -a "$W/box" "$W/box-v1"
"$PREAU" sync pull --from http://127.0.0.1:18931/ --data "$W/box" --json > "$W/pull2.json"
read -r PREQ PBYTES < <(traffic "$W/ng")
echo "preau: $PBYTES bytes in $PREQ requests (client: $(grep -o '"bytes_downloaded": [0-9]*' "$W/pull2.json"), $(grep -o '"deltas_used": [0-9]*' "$W/pull2.json"))"

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
LIMIT=$(zstd -q -19 --long=31 --patch-from="$V1" "$V2" -c | wc -c)
echo "limit: $LIMIT bytes"
awk -v p="$PBYTES" -v l="$LIMIT" -v r="$RSYNC" 'BEGIN {printf "preau/limit = %.3f, preau/rsync = %.3f\n", p/l, p/r}'

echo "== shaped link: 2 Mbit/s (tbf on a veth into network namespace $NS) + 400 ms RTT"
# This kernel has no netem ("Specified qdisc kind is unknown"): the rate is shaped by the
# kernel (tbf, both directions) and the round trip is added by delay_proxy.py (200 ms each
# way) in front of nginx. TCP's own handshake and ACKs do not see that delay, so slow start
# is kinder than on a real long link; the HTTP request/response round trips do see it.
ip netns add "$NS"
ip link add "pb$$a" type veth peer name "pb$$b"
ip link set "pb$$b" netns "$NS"
ip addr add 10.231.0.1/24 dev "pb$$a"; ip link set "pb$$a" up
ip netns exec "$NS" ip addr add 10.231.0.2/24 dev "pb$$b"
ip netns exec "$NS" ip link set "pb$$b" up
ip netns exec "$NS" ip link set lo up
tc qdisc add dev "pb$$a" root tbf rate 2mbit burst 4kb latency 2s
ip netns exec "$NS" tc qdisc add dev "pb$$b" root tbf rate 2mbit burst 4kb latency 2s
start_nginx "$W/ngs" "$W/repo" 127.0.0.1 18933
python3 sync/bench/delay_proxy.py 10.231.0.1 18934 127.0.0.1 18933 0.2 & PIDS+=($!)
sleep 0.5
rm -rf "$W/box"; cp -a "$W/box-v1" "$W/box"
START=$(date +%s.%N)
ip netns exec "$NS" "$PREAU" sync pull --from http://10.231.0.1:18934/ --data "$W/box" --json > "$W/pull3.json"
END=$(date +%s.%N)
read -r SREQ SBYTES < <(traffic "$W/ngs")
awk -v s="$START" -v e="$END" -v b="$SBYTES" -v n="$SREQ" 'BEGIN {
  t = e - s; ideal = b * 8 / 2000000;
  printf "shaped: %.2f s for %d bytes in %d requests; bytes/bandwidth = %.2f s; ratio %.2f\n", t, b, n, ideal, t / ideal }'
