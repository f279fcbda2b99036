"""After traffic with distinctive IP addresses and user agents, none of them is anywhere: not in any column of any
table, not in the database file, its WAL or the salts file, not in what the server printed."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time

import httpx

from darksocial import store

ORIGIN = "https://example.com"
IPS = ["203.0.113.197", "198.51.100.233", "2001:db8:7a3:1c::42", "192.0.2.148", "198.51.100.77"]
AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) QuuxBrowser/9.8.7 Zebrafinch-3141",
    "Mozilla/5.0 (Linux; Android 14; SM-Q9876Z Build/UP1A; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 "
    "Chrome/131.0.0.0 Mobile Safari/537.36 [FBAN/EMA;FBLC/en_US;FBAV/440.0.0.0;Kestrel-2718]",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 "
    "Instagram 357.0.0.0 (iPhone15,3; iOS 18_1; en_US; scale=3.00; 1290x2796; Tanager-1618)",
    "Mozilla/5.0 (compatible; Crawly-Marmoset-1414/1.0; +http://bots.example/)",  # a bot: answered 202
    # ua-parser's family for this one is the agent's first 43 characters; it is a person (WhatsApp's browser)
    "Mozilla/5.0 (iPhone) Pelican-2236%20Reader/1234 CFNetwork/1494 Darwin/23.4.0 (WhatsApp)",
]
# What must not appear anywhere: the addresses (and their /64) and the parts of the agents that are not a family.
SECRETS = [*IPS, "2001:db8:7a3:1c", "QuuxBrowser", "Zebrafinch-3141", "SM-Q9876Z", "Kestrel-2718", "Tanager-1618",
           "Crawly-Marmoset-1414", "Pelican-2236", "iPhone15,3", "1290x2796", *AGENTS]


def test_no_ip_address_or_user_agent_is_kept_anywhere(tmp_path, free_port, wait_until_serving):
    path = tmp_path / "private.db"
    db = store.open_db(path)
    store.register_site(db, "blog", [ORIGIN])
    db.close()
    port = free_port()
    output = tmp_path / "server-output.txt"
    with output.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "darksocial.cli", "serve", str(path), "--port", str(port),
                                 "--attribute-every", "0.5", "--rate-burst", "15", "--rate-limit", "0.001"],
                                stdout=sink, stderr=sink)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_serving(url, proc)
            answers = set()
            with httpx.Client(base_url=url, timeout=30) as http:
                for n in range(8):
                    for i, (ip, agent) in enumerate(zip(IPS, AGENTS, strict=True)):
                        headers = {"origin": ORIGIN, "content-type": "text/plain", "user-agent": agent,
                                   "x-forwarded-for": ip}
                        token = f"P{i}{n:08d}"
                        cookieless = {"k": "view", "s": "blog", "u": f"{ORIGIN}/story?n={n}", "t": token,
                                      "i": "AAAAAAAAAA.wa", "r": "https://chat.example/"}
                        share = {"k": "share", "s": "blog", "v": f"visitor{i}0000", "u": f"{ORIGIN}/story",
                                 "t": f"S{i}{n:08d}", "p": token, "c": "wa"}
                        for body in ([cookieless, share], {"k": "view", "s": "blog", "u": "bad"}, b"{{{"):
                            content = body if isinstance(body, bytes) else json.dumps(body).encode()
                            answers.add(http.post("/-/darksocial/collect", content=content,
                                                  headers=headers).status_code)
                        http.get(f"/private/events?ip={ip}", headers={"user-agent": agent})  # a page, refused
            # Each address may post 15 times (5 rounds), then is refused: buckets that refill once in 1,000 s make
            # the 429s certain (at 4/s, rounds slower than 0.75 s, on a loaded machine, would never empty one).
            assert {204, 202, 400, 429} <= answers
            deadline = time.monotonic() + 30
            while True:  # the background attribution run fills the analyst tables
                with sqlite3.connect(path) as conn:
                    if conn.execute("SELECT count(*) FROM visits").fetchone()[0] or time.monotonic() > deadline:
                        break
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGKILL)  # no clean shutdown: the WAL stays as it was while serving
            proc.wait(30)

    files = {p.name: p.read_bytes() for p in tmp_path.glob("private.db*")}
    assert {"private.db", "private.db-wal", "private.db-salts", "private.db-inbox"} <= set(files)
    files["server output"] = output.read_bytes()
    with sqlite3.connect(path) as conn:
        tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] > 0
        assert conn.execute("SELECT count(*) FROM visits").fetchone()[0] > 0
        cells = [str(value) for table in tables for row in conn.execute(f"SELECT * FROM [{table}]")
                 for value in row if value is not None]
    text = "\n".join(cells)
    for secret in SECRETS:
        assert secret not in text, secret
        for name, data in files.items():
            assert secret.encode() not in data, (secret, name)
