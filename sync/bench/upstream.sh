#!/usr/bin/env bash
# Upstream push benchmark: an outbox of N statements (default 100000) written straight
# into a box's SQLite, pushed by `preau upstream push` to a real Ralph 5.1.0 on nx-27017
# (the venv of .ci/install.d/75-lrs.sh) on 127.0.0.1. Prints the push's JSON summary,
# statements/second, bytes per statement on the wire (and what gzip would make of a
# batch), and the push's peak memory (GNU time's maximum resident set size).
#
#   bash sync/bench/upstream.sh target/debug/preau [N]
set -euo pipefail
PREAU=$(realpath "${1:?usage: upstream.sh PREAU_BINARY [N]}")
N=${2:-100000}
VENV=${PREAU_RALPH_VENV:-/opt/preau-ci/ralph}
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -KILL -- "-$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
MPORT=$(port); PORT=$(port)
export RALPH_AUTH_FILE=$WORK/auth.json RALPH_APP_DIR=$WORK/ralph RALPH_RUNSERVER_BACKEND=mongo
export RALPH_BACKENDS__LRS__MONGO__CONNECTION_URI=mongodb://127.0.0.1:$MPORT/
setsid "$VENV/bin/nx-27017" --db "$WORK/nx.sqlite" --host 127.0.0.1 -p "$MPORT" \
  --log-file "$WORK/nx.log" --pid-file "$WORK/nx.pid" >"$WORK/nx.out" 2>&1 & PIDS+=($!)
"$VENV/bin/ralph" auth -u bench -p bench-password -s statements/write -s statements/read \
  -A bench https://lrs.test/ -w >/dev/null 2>&1
setsid "$VENV/bin/uvicorn" ralph.api:app --host 127.0.0.1 --port "$PORT" --log-level warning \
  >"$WORK/ralph.out" 2>&1 & PIDS+=($!)

# A box data folder: start the box once so it makes its database, then fill the outbox.
mkdir -p "$WORK/data"
printf '[server]\nmdns = false\n' >"$WORK/serve.toml"
"$PREAU" serve --data "$WORK/data" --listen 127.0.0.1:0 --config "$WORK/serve.toml" >"$WORK/serve.out" 2>&1 & SERVE=$!
for _ in $(seq 100); do grep -q "listening on" "$WORK/serve.out" && break; sleep 0.2; done
kill "$SERVE"; wait "$SERVE" || true
python3 - "$WORK/data/preau.sqlite" "$N" <<'PY'
import json, sqlite3, sys, uuid
db, n = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(db)
c.execute("INSERT INTO classes(name) VALUES ('bench')")
pupils = []
for i in range(30):
    u = str(uuid.uuid4())
    c.execute("INSERT INTO pupils(uuid, class_id, name) VALUES (?, 1, ?)", (u, f"pupil {i}"))
    pupils.append((c.execute("SELECT last_insert_rowid()").fetchone()[0], u))
rows = []
for i in range(n):
    pid, u = pupils[i % 30]
    sid = str(uuid.uuid4())
    # What the box writes for a quiz answer (xapi.rs), with a short free-text response.
    s = {"id": sid,
         "actor": {"objectType": "Agent", "account": {"homePage": "urn:preau:box:bench", "name": u}},
         "verb": {"id": "http://adlnet.gov/expapi/verbs/answered", "display": {"en-US": "answered"}},
         "object": {"objectType": "Activity", "id": f"urn:preau:pack:fractions-cm2/_quiz/quiz-{i % 40}#q{i % 7}",
                    "definition": {"extensions": {"urn:preau:xapi:ext:pack": {"id": "fractions-cm2", "version": 3}}}},
         "timestamp": "2026-03-02T09:%02d:%02dZ" % (i // 60 % 60, i % 60),
         "result": {"score": {"raw": 1.0, "max": 1.0}, "response": f"réponse {i}"}}
    rows.append((sid, pid, json.dumps(s, ensure_ascii=False), 1772442000 + i))
c.executemany("INSERT INTO outbox(id, pupil_id, statement, created) VALUES (?, ?, ?, ?)", rows)
c.commit()
PY
for _ in $(seq 300); do
  curl -sf -u bench:bench-password -H 'X-Experience-API-Version: 1.0.3' \
    "http://127.0.0.1:$PORT/xAPI/statements?limit=1" >/dev/null && break; sleep 0.2
done
printf '[upstream]\nlrs = "http://127.0.0.1:%s/"\nusername = "bench"\npassword = "bench-password"\nhome_page = "https://preau.example.org/"\n' \
  "$PORT" >"$WORK/preau.toml"
/usr/bin/time -v "$PREAU" upstream push --data "$WORK/data" --config "$WORK/preau.toml" --json \
  >"$WORK/summary.json" 2>"$WORK/time.txt"
cat "$WORK/summary.json"
python3 - "$WORK/summary.json" "$WORK/time.txt" "$N" <<'PY'
import gzip, json, re, sys
s = json.load(open(sys.argv[1])); t = open(sys.argv[2]).read(); n = int(sys.argv[3])
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
print(f"statements/s: {s['sent'] / s['seconds']:.0f}")
print(f"bytes/statement on the wire: {s['bytes'] / max(s['sent'], 1):.0f} (gzip: {s['gzip']})")
print(f"peak RSS of the push: {rss / 1024:.1f} MiB")
PY
# What gzip would make of one 500-statement batch as the LRS received it (500 distinct
# statements read back through the LRS's own query API, five pages of 100).
python3 - "$PORT" <<'PY'
import base64, gzip, json, sys, urllib.request
port = sys.argv[1]
auth = "Basic " + base64.b64encode(b"bench:bench-password").decode()
st, path = [], "/xAPI/statements?limit=100"
while path and len(st) < 500:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                 headers={"Authorization": auth, "X-Experience-API-Version": "1.0.3"})
    page = json.load(urllib.request.urlopen(req))
    st += [s for s in page["statements"] if "reported-health" not in s["verb"]["id"]]
    path = page.get("more") or ""
for s in st:
    s.pop("stored", None); s.pop("authority", None)
st = st[:500]
body = json.dumps(st, separators=(",", ":"), ensure_ascii=False).encode()
print(f"a {len(st)}-statement body: {len(body) / len(st):.0f} bytes/statement plain, "
      f"{len(gzip.compress(body)) / len(st):.0f} gzipped (if an LRS accepted gzip)")
PY
