#!/usr/bin/env bash
# Bytes on the wire and requests for the pupil's home, a lesson and a quiz page of the
# embedded demo pack, first visit and revisit, against `gzip -9` of the same files
# (BENCHMARKS.md, "Classroom pages"). Runs a real `preau serve` (target/debug/preau) on
# loopback; curl sends what a browser on plain HTTP sends (Accept-Encoding: gzip, deflate).
# A revisit asks again only for the page (personal, no-store) and the lesson (ETag); the
# box's own assets are under content-hashed names with a year of immutable caching, so a
# browser does not ask for them at all (counted as 0 requests).
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PREAU="$ROOT/target/debug/preau"
TMP="$(mktemp -d)"
PORT=$((20000 + RANDOM % 20000))
BASE="http://127.0.0.1:$PORT"
"$PREAU" serve --data "$TMP/data" --listen "127.0.0.1:$PORT" >"$TMP/log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 100); do curl -fs "$BASE/healthz" >/dev/null && break; sleep 0.1; done
CODE=$(grep -o "setup code: [0-9]*" "$TMP/log" | awk "{print \$3}")
T="$TMP/teacher"; P="$TMP/pupil"
csrf() { grep preau_csrf "$1" | awk '{print $7}'; }
curl -fs -c "$T" -b "$T" "$BASE/teacher/setup" >/dev/null
curl -fs -c "$T" -b "$T" -o /dev/null -d "csrf=$(csrf "$T")&code=$CODE&name=Mme&password=motdepasse1&password2=motdepasse1" "$BASE/teacher/setup"
CLASS=$(curl -fs -c "$T" -b "$T" -o /dev/null -w '%{redirect_url}' -d "csrf=$(csrf "$T")&name=CM2" "$BASE/teacher/classes" | grep -o '[0-9]*$')
curl -fs -c "$T" -b "$T" -o /dev/null -d "csrf=$(csrf "$T")&name=Lea" "$BASE/teacher/class/$CLASS/pupils"
PUPIL=$(curl -fs -c "$P" -b "$P" "$BASE/login/class/$CLASS" | grep -o 'pupil=[0-9]*' | head -1 | cut -d= -f2)
curl -fs -c "$P" -b "$P" -o /dev/null -d "csrf=$(csrf "$P")&pupil=$PUPIL" "$BASE/login"
PACK=$(curl -fs "$BASE/api/packs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["packs"][0]["id"])')
QUIZ=$(python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); print(next(a["path"] for s in c["sections"] for a in s["activities"] if a["path"].startswith("_quiz/")))' "$ROOT/box/demo/_preau/course.json")
LESSON=$(python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); print(next(a["path"] for s in c["sections"] for a in s["activities"] if not a["path"].startswith("_")))' "$ROOT/box/demo/_preau/course.json")
# One URL: bytes received (headers + body), and the gzip -9 size of the same body.
fetch() { # url [etag]
    local extra=()
    [ -n "${2:-}" ] && extra=(-H "If-None-Match: $2")
    : >"$TMP/b"; curl -s -b "$P" -H "Accept-Encoding: gzip, deflate" "${extra[@]}" -D "$TMP/h" -o "$TMP/b" "$BASE$1"
    local head body plain etag
    head=$(wc -c <"$TMP/h"); body=$(wc -c <"$TMP/b")
    if grep -qi '^content-encoding: gzip' "$TMP/h"; then gunzip -c "$TMP/b" >"$TMP/plain"; else cp "$TMP/b" "$TMP/plain"; fi
    plain=$(gzip -9 -c "$TMP/plain" | wc -c)
    [ "$body" -eq 0 ] && plain=0
    etag=$(grep -i '^etag:' "$TMP/h" | tr -d '\r' | cut -d' ' -f2-)
    echo "$1 $head $body $plain $etag"
}
page() { # name path
    local name=$1 path=$2 total=0 bodies=0 gz9=0 n=0 assets
    curl -s -b "$P" -H 'Accept-Encoding: gzip' "$BASE$path" | gunzip -c 2>/dev/null >"$TMP/page" || curl -s -b "$P" "$BASE$path" >"$TMP/page"
    assets=$(grep -o '\(href\|src\)="/static/[^"]*"' "$TMP/page" | cut -d'"' -f2 | sort -u)
    for u in "$path" $assets; do
        read -r _ h b z _ < <(fetch "$u"); total=$((total + h + b)); bodies=$((bodies + b)); gz9=$((gz9 + z)); n=$((n + 1))
    done
    # Revisit: the page again (no-store) and, for a pack page, a conditional request.
    read -r _ h b _ etag < <(fetch "$path")
    local rt=$((h + b)) rb=$b rn=1
    if [ -n "$etag" ]; then read -r _ h b _ _ < <(fetch "$path" "$etag"); rt=$((h + b)); rb=$b; fi
    printf '%-7s first: %2d requests, %7d bytes (bodies %7d; gzip -9 of the same %7d; ratio %.3f) | revisit: %d request, %6d bytes (body %d; assets 0 requests)\n' \
        "$name" "$n" "$total" "$bodies" "$gz9" "$(python3 -c "print($bodies/$gz9)")" "$rn" "$rt" "$rb"
}
page home "/"
page lesson "/packs/$PACK/$LESSON"
page quiz "/packs/$PACK/$QUIZ"
