"""End to end: real Chromium, the real tracker on an injected page, the real collector, `darksocial attribute`,
and the Datasette JSON API.

Visitor A (browser context 1) shares the page on WhatsApp; B (context 2) opens that link and re-shares it on
Telegram; C (context 3) opens B's link. After `darksocial attribute`, the reports show A as an influencer with an
amplified reach of 2 (B and C) and B's share at depth 2. The share services (wa.me, t.me) are answered locally:
nothing leaves the machine.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import httpx
import pytest
from click.testing import CliRunner
from datasette_auth_passwords.utils import hash_password

from darksocial import store, tokens
from darksocial.cli import cli
from darksocial.inject import TrackerConfig, inject

SITE = "e2e"
PASSWORD = "analyst password for the end-to-end test"
USER_AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
              "Safari/537.36")
SHARE_SERVICES = ("wa.me", "t.me")
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>The story</title></head>
<body><main><article><h1>The story</h1><p>Worth sharing.</p></article></main></body></html>"""


@pytest.fixture(scope="module")
def servers(tmp_path_factory, free_port):
    """The site (one page with the share bar injected) and the reporting server (the Datasette app with the
    darksocial plugin under uvicorn on a free loopback port, whose collector the page's tracker posts to).

    The site is registered before the reporting server starts: a beacon is sent once, so the collector must
    know the site from the first page view on. Yields (page URL, reporting server URL, database path).
    """
    from reporting import auth, server

    path = tmp_path_factory.mktemp("e2e") / "darksocial.db"
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), None)
    origin = f"http://127.0.0.1:{httpd.server_address[1]}"
    db = store.open_db(path)
    store.register_site(db, SITE, [origin])
    db.close()

    previous = os.environ.get(auth.PASSWORD_HASH_ENV)
    os.environ[auth.PASSWORD_HASH_ENV] = hash_password(PASSWORD, iterations=1000)
    try:
        with server.running(server.make_datasette(path, attribute_every=None), port=free_port()) as base:
            config = TrackerConfig(collector=f"{base}/-/darksocial/collect", site=SITE,
                                   script_url=f"{base}/-/darksocial/darksocial.js",
                                   css_url=f"{base}/-/darksocial/darksocial.css", channels=("wa", "tg", "cl"))
            httpd.RequestHandlerClass = page_handler(config, origin)
            thread = threading.Thread(target=httpd.serve_forever, daemon=True)
            thread.start()
            yield origin + "/story/", base, path
            httpd.shutdown()
    finally:
        httpd.server_close()
        if previous is None:
            os.environ.pop(auth.PASSWORD_HASH_ENV, None)
        else:
            os.environ[auth.PASSWORD_HASH_ENV] = previous


def page_handler(config: TrackerConfig, origin: str):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            path = urlsplit(self.path).path
            if path != "/story/":
                self.send_response(404)
                self.end_headers()
                return
            body = inject(PAGE, config, origin + path, "The story").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def new_context(browser, hosts: list):
    """A browser context (one visitor) that records the host of every request it makes."""
    # Headless Chromium says "HeadlessChrome" in its user agent, and the collector drops bots: browse as people do.
    context = browser.new_context(user_agent=USER_AGENT)
    context.on("request", lambda request: hosts.append(urlsplit(request.url).hostname))
    return context


def wait_row(db_path, sql: str, params=(), timeout: float = 20.0) -> dict:
    """The first row of ``sql`` once the collector has committed it."""
    deadline = time.monotonic() + timeout
    while True:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            rows = [dict(row) for row in conn.execute(sql, params)]
        finally:
            conn.close()
        if rows:
            return rows[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing matched {sql} {params} within {timeout}s")
        time.sleep(0.1)


def test_whatsapp_then_telegram_cascade_reaches_the_reports(browser, servers, share_via):
    page_server, base, db_path = servers
    hosts: list = []

    a_page = new_context(browser, hosts).new_page()
    a_page.goto(page_server)
    a_view = wait_row(db_path, "SELECT * FROM events WHERE kind = 'view' AND in_token IS NULL")
    wa_url = share_via(a_page, "wa")
    wa = tokens.from_url(wa_url)
    assert wa.channel == "wa"
    wait_row(db_path, "SELECT * FROM events WHERE kind = 'share' AND token = ?", [wa.token])

    b_page = new_context(browser, hosts).new_page()
    b_page.goto(wa_url)
    b_view = wait_row(db_path, "SELECT * FROM events WHERE kind = 'view' AND in_token = ?", [wa.token])
    tg_url = share_via(b_page, "tg")
    tg = tokens.from_url(tg_url)
    assert tg.channel == "tg"
    b_share = wait_row(db_path, "SELECT * FROM events WHERE kind = 'share' AND token = ?", [tg.token])
    assert b_share["parent"] == b_view["token"] and b_share["visitor"] == b_view["visitor"]

    c_page = new_context(browser, hosts).new_page()
    c_page.goto(tg_url)
    c_view = wait_row(db_path, "SELECT * FROM events WHERE kind = 'view' AND in_token = ?", [tg.token])
    assert len({a_view["visitor"], b_view["visitor"], c_view["visitor"]}) == 3
    assert set(hosts) <= {"127.0.0.1", *SHARE_SERVICES}, hosts  # nothing else was even asked for

    result = CliRunner().invoke(cli, ["attribute", str(db_path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output

    with httpx.Client(base_url=base) as client:
        login = client.get("/-/login")
        csrf = login.cookies["ds_csrftoken"]
        signed_in = client.post("/-/login", data={"username": "analyst", "password": PASSWORD, "csrftoken": csrf})
        assert signed_in.status_code == 302, signed_in.text
        assert "ds_actor" in client.cookies  # the client sends it from now on

        influencers = client.get("/darksocial/influencers.json", params={"_shape": "array"})
        assert influencers.status_code == 200, influencers.text
        by_person = {row["person"]: row for row in influencers.json()}
        a = by_person["v:" + a_view["visitor"]]
        assert (a["amplified_reach"], a["reach"], a["reshares"], a["top_channel"]) == (2, 1, 1, "wa")

        shares = client.get("/darksocial/shares.json", params={"_shape": "array"})
        assert shares.status_code == 200, shares.text
        by_token = {row["token"]: row for row in shares.json()}
        assert (by_token[tg.token]["depth"], by_token[tg.token]["parent"]) == (2, wa.token)
        assert by_token[tg.token]["sharer"] == "v:" + b_view["visitor"]
        assert by_token[wa.token]["depth"] == 1


def test_a_reload_before_resharing_keeps_the_reshare_in_the_cascade(browser, servers, share_via):
    """B reloads the page A's link brought them to, then re-shares it: the reload is no share and no click, it is
    credited as B's arrival was, and B's share stays a re-share of A's (issue 9: reloads are not shares)."""
    page_server, _, db_path = servers
    hosts: list = []
    a_page = new_context(browser, hosts).new_page()
    a_page.goto(page_server)
    wa = tokens.from_url(share_via(a_page, "wa"))
    a_share = wait_row(db_path, "SELECT * FROM events WHERE kind = 'share' AND token = ?", [wa.token])

    b_page = new_context(browser, hosts).new_page()
    b_page.goto(share_url := page_server + f"#ds={wa.token}.wa")
    arrival = wait_row(db_path, "SELECT * FROM events WHERE kind = 'view' AND in_token = ?", [wa.token])
    assert b_page.url == share_url.split("#")[0] + "#ds=" + arrival["token"]
    b_page.reload()
    reload = wait_row(db_path, "SELECT * FROM events WHERE kind = 'view' AND reloaded = 1 AND in_token = ?",
                      [arrival["token"]])
    tg = tokens.from_url(share_via(b_page, "tg"))
    b_share = wait_row(db_path, "SELECT * FROM events WHERE kind = 'share' AND token = ?", [tg.token])
    assert b_share["parent"] == reload["token"]

    c_page = new_context(browser, hosts).new_page()
    c_page.goto(page_server + f"#ds={tg.token}.tg")
    click = wait_row(db_path, "SELECT * FROM events WHERE kind = 'view' AND in_token = ?", [tg.token])

    result = CliRunner().invoke(cli, ["attribute", str(db_path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    conn = sqlite3.connect(db_path)
    try:
        shares = {row[0]: row[1:] for row in conn.execute(
            "SELECT token, parent, root, depth, clicks FROM shares WHERE root = ?", [wa.token])}
        assert shares == {wa.token: (None, wa.token, 1, 1), tg.token: (wa.token, wa.token, 2, 1)}
        assert conn.execute("SELECT count(*) FROM shares WHERE token = ?", [arrival["token"]]).fetchone()[0] == 0
        credit = "SELECT source, channel, click, sharer, root FROM visits WHERE token = ?"
        sharer_a = "v:" + a_share["visitor"]
        assert conn.execute(credit, [reload["token"]]).fetchone() == ("share", "wa", 0, sharer_a, wa.token)
        assert conn.execute(credit, [click["token"]]).fetchone() == ("share", "tg", 1, "v:" + arrival["visitor"],
                                                                      wa.token)
    finally:
        conn.close()
