#!/usr/bin/env bash
# Catalog cost: N small packs (default 200) in one repository, a box that follows 10 of
# them; bytes at the server (nginx on 127.0.0.1, headers included) of a pull when nothing
# changed, when another pack changed, and when one of the box's packs changed.
#   bash sync/bench/catalog.sh PREAU_BINARY     (N=… to change the number of packs)
# Needs nginx (.ci/install.d/20-sync.sh). Building N packs takes about N × 0.2 s.
set -euo pipefail
PREAU=$(realpath "${1:?usage: catalog.sh PREAU_BINARY}"); N=${N:-200}
W=$(mktemp -d /tmp/preau-cat.XXXXXX); chmod 755 $W
NG=
USER_LINE=
[ "$(id -u)" != 0 ] || USER_LINE="user root;"
trap '[ -z "$NG" ] || kill $NG 2>/dev/null; rm -rf $W' EXIT
$PREAU keygen --out $W/key >/dev/null
for i in $(seq 1 $N); do mkdir -p $W/src/p$i; echo "# Pack $i" > $W/src/p$i/index.md; head -c 2000 /dev/urandom | base64 > $W/src/p$i/notes.txt; $PREAU pack build $W/src/p$i --repo $W/repo --key $W/key --id pack-$i --verbatim >/dev/null; done
PORT=$((20000 + RANDOM % 20000)); mkdir $W/ng
cat > $W/ng/nginx.conf <<CONF
daemon off; worker_processes 1; pid $W/ng/nginx.pid; error_log $W/ng/error.log; $USER_LINE
events { worker_connections 256; }
http { access_log off; log_format bytes '\$request_method \$uri \$status \$bytes_sent';
  client_body_temp_path $W/ng/b; proxy_temp_path $W/ng/p; fastcgi_temp_path $W/ng/f; uwsgi_temp_path $W/ng/u; scgi_temp_path $W/ng/s;
  server { listen 127.0.0.1:$PORT; access_log $W/ng/access.log bytes; root $W/repo; location / { } } }
CONF
nginx -c $W/ng/nginx.conf -e $W/ng/error.log & NG=$!; sleep 0.5
P=(); for i in $(seq 1 10); do P+=(--pack pack-$i); done
$PREAU sync pull --from http://127.0.0.1:$PORT/ --data $W/box --trust $W/key.pub "${P[@]}" --json >/dev/null
m() { : > $W/ng/access.log; $PREAU sync pull --from http://127.0.0.1:$PORT/ --data $W/box "${P[@]}" --json > /dev/null; sleep 0.3; echo "$1: $(awk '{n++; b+=$NF} END {printf "%d requests, %d bytes", n, b}' $W/ng/access.log); catalog $(awk '$2=="/catalog.json" {print $3, $4}' $W/ng/access.log)"; }
echo "catalog.json: $(stat -c %s $W/repo/catalog.json) bytes for $N packs"
m "nothing changed"
echo "# changed" >> $W/src/p$N/index.md; $PREAU pack build $W/src/p$N --repo $W/repo --key $W/key --id pack-$N --verbatim >/dev/null
m "another pack changed"
echo "# changed" >> $W/src/p3/index.md; $PREAU pack build $W/src/p3 --repo $W/repo --key $W/key --id pack-3 --verbatim >/dev/null
m "one of its packs changed"
