#!/usr/bin/env python3
"""Pupils for box/bench/blocking.sh: sets a box up and has pupils take a quiz in a loop.

  pupils.py setup ADDR CODE N        first teacher (setup code), a class of N pupils,
                                     unlimited attempts for every quiz; prints the quiz
                                     URL and the pupil ids, one per line
  pupils.py run ADDR SECS URL ID...  one thread per pupil: sign in, then for SECS seconds
                                     open the quiz and submit it; prints "submissions
                                     per second, errors"

Plain http.client with keep-alive, as a browser would; CSRF tokens come from the
`preau_csrf` cookie the box sets (it MACs them, a made-up one is refused).
"""
import http.client
import re
import sys
import threading
import time
import urllib.parse


class Browser:
    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        self.addr = addr
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60)
        self.cookies = {}

    def request(self, method, path, fields=None):
        headers = {"Host": self.addr, "Accept-Language": "fr"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if fields is not None:
            fields = [("csrf", self.cookies.get("preau_csrf", ""))] + list(fields)
            body = urllib.parse.urlencode(fields)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = f"http://{self.addr}"
        self.conn.request(method, path, body=body, headers=headers)
        resp = self.conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        for k, v in resp.getheaders():
            if k.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                value = rest.split(";", 1)[0]
                if value:
                    self.cookies[name] = value
                else:
                    self.cookies.pop(name, None)
        return resp.status, resp.getheader("Location"), text

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, fields):
        if "preau_csrf" not in self.cookies:
            self.get("/logout")
        return self.request("POST", path, fields)


def setup(addr, code, n):
    t = Browser(addr)
    t.get("/teacher/setup")
    status, loc, _ = t.post(
        "/teacher/setup",
        [("code", code), ("name", "Bench"), ("password", "motdepasse1"), ("password2", "motdepasse1")],
    )
    assert status == 303 and loc == "/teacher/", (status, loc)
    status, loc, _ = t.post("/teacher/classes", [("name", "CM2")])
    assert status == 303, status
    class_path = loc
    for i in range(n):
        status, _, _ = t.post(class_path + "/pupils", [("name", f"Eleve {i:02}")])
        assert status == 303, status
    _, _, page = t.get(class_path)
    ids = sorted(set(re.findall(r"/teacher/pupil/(\d+)/", page)), key=int)
    assert len(ids) == n, ids
    # The quiz: the first `_quiz/` link of the `quiz` pack's entry page.
    _, _, catalog = t.get("/")
    entry = re.search(r'href="(/packs/quiz/[^"]*)"', catalog).group(1)
    _, _, index = t.get(entry)
    rel = re.search(r'href="([^"]*_quiz/[^"]+)"', index).group(1)
    quiz = urllib.parse.urljoin(entry, rel)
    pack, quiz_id = re.match(r"/packs/([^/]+)/_quiz/(.+)", quiz).groups()
    status, _, _ = t.post(f"/teacher/quiz/{pack}/{quiz_id}/settings", [("attempts", "0")])
    assert status in (200, 303), status
    print(quiz)
    for i in ids:
        print(i)


def pupil(addr, secs, quiz, pid, counts, lock):
    b = Browser(addr)
    status, _, _ = b.post("/login", [("pupil", pid)])
    assert status == 303, status
    done = errors = 0
    end = time.monotonic() + secs
    while time.monotonic() < end:
        try:
            status, _, page = b.get(quiz)
            m = re.search(r'name="n" value="(\d+)"', page)
            if status != 200 or not m:
                errors += 1
                continue
            fields = [("n", m.group(1))]
            # Every question gets an answer; the mark does not matter here.
            for q in sorted(set(re.findall(r'name="(q\d+)"', page))):
                fields.append((q, "1"))
            status, _, _ = b.post(quiz, fields)
            if status == 303:
                done += 1
            else:
                errors += 1
        except (OSError, http.client.HTTPException):
            errors += 1
            b = Browser(addr)
            b.post("/login", [("pupil", pid)])
    with lock:
        counts[0] += done
        counts[1] += errors


def run(addr, secs, quiz, ids):
    counts, lock = [0, 0], threading.Lock()
    threads = [threading.Thread(target=pupil, args=(addr, secs, quiz, i, counts, lock)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"{counts[0] / secs:.1f} {counts[1]}")


if __name__ == "__main__":
    if sys.argv[1] == "setup":
        setup(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        run(sys.argv[2], float(sys.argv[3]), sys.argv[4], sys.argv[5:])
