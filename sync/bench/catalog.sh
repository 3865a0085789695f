#!/usr/bin/env bash
# Catalog cost (issue 17, part 2): N small packs (default 10,000) in one repository, a box
# that follows 10 of them (pack-1 … pack-10); bytes at the server (nginx on 127.0.0.1,
# headers included), requests and round trips of a pull when nothing changed, when
# another pack changed (one under a branch none of the box's packs uses, then one
# beside a box's pack), and when one of the box's packs changed (nodes under catalog/,
# leaf hints under hints/ counted apart).
#   bash sync/bench/catalog.sh PREAU_BINARY MANY_PACKS_BINARY     (N=… to change the size)
# MANY_PACKS_BINARY: `cargo build -p preau-pack --example many_packs`
# (target/debug/examples/many_packs): builds the N packs with one catalog publication.
# Round trips: the pull goes through delay_proxy.py (plain mode, 200 ms each way, so a
# request costs 400 ms and a new connection nothing); each request's round is counted
# from the time nginx logged it (1 + (t - t_first) / 400 ms, rounded).
# Needs nginx (.ci/install.d/20-sync.sh) and python3. The repository lives in /dev/shm
# when there is one (bytes are measured, not disks).
set -euo pipefail
PREAU=$(realpath "${1:?usage: catalog.sh PREAU_BINARY MANY_PACKS_BINARY}")
MANY=$(realpath "${2:?usage: catalog.sh PREAU_BINARY MANY_PACKS_BINARY}")
N=${N:-10000}
HERE=$(dirname "$(realpath "$0")")
TMP=/tmp; [ -d /dev/shm ] && TMP=/dev/shm
W=$(mktemp -d $TMP/preau-cat.XXXXXX); chmod 755 $W
NG=; PROXY=
USER_LINE=
[ "$(id -u)" != 0 ] || USER_LINE="user root;"
trap '[ -z "$NG" ] || kill $NG 2>/dev/null; [ -z "$PROXY" ] || kill $PROXY 2>/dev/null; rm -rf $W' EXIT
$PREAU keygen --out $W/key >/dev/null
/usr/bin/time -f "generating $N packs: %e s" $MANY $W/repo $W/key $N 2>&1 | tail -1
PORT=$((20000 + RANDOM % 20000)); PPORT=$((PORT + 1)); mkdir $W/ng
cat > $W/ng/nginx.conf <<CONF
daemon off; worker_processes 1; pid $W/ng/nginx.pid; error_log $W/ng/error.log; $USER_LINE
events { worker_connections 256; }
http { access_log off; log_format bytes '\$msec \$request_method \$uri \$status \$bytes_sent';
  client_body_temp_path $W/ng/b; proxy_temp_path $W/ng/p; fastcgi_temp_path $W/ng/f; uwsgi_temp_path $W/ng/u; scgi_temp_path $W/ng/s;
  server { listen 127.0.0.1:$PORT; access_log $W/ng/access.log bytes; root $W/repo; location / { } } }
CONF
nginx -c $W/ng/nginx.conf -e $W/ng/error.log & NG=$!
python3 $HERE/delay_proxy.py 127.0.0.1 $PPORT 127.0.0.1 $PORT 0.2 & PROXY=$!
sleep 0.5
URL=http://127.0.0.1:$PPORT/
P=(); for i in $(seq 1 10); do P+=(--pack pack-$i); done
$PREAU sync pull --from $URL --data $W/box --trust $W/key.pub "${P[@]}" --json >/dev/null
leaves=$(grep -l '"type":"preau-catalog-leaf"' $W/repo/catalog/* | wc -l)
echo "catalog.json (signed top): $(stat -c %s $W/repo/catalog.json) bytes for $N packs; nodes: $(ls $W/repo/catalog | wc -l) ($leaves leaves, $(cat $W/repo/catalog/* | wc -c) bytes in all: what an unsplit catalog would weigh)"
echo "box after its first pull: $(ls $W/box/repo/catalog | wc -l) nodes kept"
m() {
  : > $W/ng/access.log
  local t0 t1; t0=$(date +%s.%N)
  $PREAU sync pull --from $URL --data $W/box "${P[@]}" --json > $W/out.json
  t1=$(date +%s.%N); sleep 0.3
  local up; up=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(",".join(u["id"] for u in s["updated"]) or "-")' $W/out.json)
  awk -v name="$1" -v wall="$(echo "$t1 - $t0" | bc)" -v up="$up" '
    NR == 1 {t0 = $1}
    {n++; b += $NF; r = int(($1 - t0) / 0.4 + 0.5) + 1; if (r > rounds) rounds = r
     if ($3 ~ /^\/updates\// && !first_upd) first_upd = r
     if ($3 ~ /^\/catalog\//) {nodes++; nb += $NF}
     if ($3 ~ /^\/hints\//) {hints++; hb += $NF; hs = hs " " $4}
     if ($3 == "/catalog.json") {top = $4 " " $NF}}
    END {printf "%s: %d requests, %d bytes at the server; catalog.json %s; %d nodes (%d bytes); %d leaf hints (%d bytes, status%s); rounds %d; first bundle request in round %s; updated %s; wall %.2f s\n",
         name, n, b, top, nodes, nb, hints, hb, (hs ? hs : " -"), rounds, (first_upd ? first_upd : "-"), up, wall}' $W/ng/access.log
}
m "nothing changed"
# Another pack under a branch none of the box's packs uses (FAR), then one under the
# branch of a box's pack but in another leaf (NEAR).
$MANY --bins $(seq -f 'pack-%g' 1 200) > $W/bins
FAR=$(awk 'NR <= 10 {t[$2] = 1; l[$2 " " $3] = 1; next} !($2 in t) {print $1; exit}' $W/bins)
NEAR=$(awk 'NR <= 10 {t[$2] = 1; l[$2 " " $3] = 1; next} ($2 in t) && !(($2 " " $3) in l) {print $1; exit}' $W/bins)
mkdir -p $W/src/x; echo "# changed" > $W/src/x/index.md
/usr/bin/time -f "publishing one pack into the $N-pack repository: %e s" $PREAU pack build $W/src/x --repo $W/repo --key $W/key --id $FAR --verbatim 2>&1 >/dev/null | tail -1
m "another pack changed, under another branch ($FAR)"
$PREAU pack build $W/src/x --repo $W/repo --key $W/key --id $NEAR --verbatim >/dev/null
m "another pack changed, beside a box's pack ($NEAR)"
$PREAU pack build $W/src/x --repo $W/repo --key $W/key --id pack-3 --verbatim >/dev/null
m "one of its packs changed (pack-3)"
m "nothing changed, again"
echo "box: $(ls $W/box/repo/catalog | wc -l) nodes kept"
