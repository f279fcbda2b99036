"""POST /-/darksocial/collect and the tracker assets, over real HTTP: Datasette under uvicorn on a loopback port."""

from __future__ import annotations

import json
import sqlite3
import time

import httpx
import pytest

from darksocial import events, inject, privacy, store
from reporting import server

ORIGIN = "https://example.com"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
CLIENT_IP = "203.0.113.77"  # forwarded by a "proxy" on loopback, as behind nginx
HEADERS = {"origin": ORIGIN, "user-agent": FIREFOX, "content-type": "text/plain;charset=UTF-8",
           "x-forwarded-for": CLIENT_IP}


@pytest.fixture(scope="module")
def site(tmp_path_factory, request):
    path = tmp_path_factory.mktemp("collect") / "reports.db"
    db = store.open_db(path)
    store.register_site(db, "blog", [ORIGIN])
    store.register_site(db, "private", [ORIGIN], respect_dnt=True)
    db.close()
    port = request.getfixturevalue("port")
    # Every request here comes from one forwarded address: lift the rate limit (test_slow_clients checks it).
    lifted = {"plugins": {"darksocial": {"rate_limit": 10_000, "rate_burst": 10_000}}}
    datasette = server.make_datasette(path, attribute_every=None, metadata=lifted)
    with server.running(datasette, port=port) as url:
        with httpx.Client(base_url=url, timeout=30) as client:
            yield client, path


@pytest.fixture(scope="module")
def port(free_port):
    return free_port()


@pytest.fixture
def client(site):
    return site[0]


@pytest.fixture
def db_path(site):
    return site[1]


def count(path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]


def post(client, payload, **headers):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    merged = {k: v for k, v in {**HEADERS, **headers}.items() if v is not None}
    return client.post("/-/darksocial/collect", content=body, headers=merged)


def view(**fields) -> dict:
    return {"k": "view", "s": "blog", "u": f"{ORIGIN}/post", "t": "AAAAAAAAAA", **fields}


def test_valid_events_are_stored_and_answered_204(client, db_path):
    before = count(db_path)
    response = post(client, view(v="visitor0001", n="A post"))
    assert response.status_code == 204 and response.content == b""
    assert response.headers["access-control-allow-origin"] == ORIGIN  # fetch() in cors mode may read the answer
    beacon = post(client, view(v="visitor0001", t="ZZZZZZZZZZ"), **{"sec-fetch-mode": "no-cors"})
    assert beacon.status_code == 204 and "access-control-allow-origin" not in beacon.headers
    batch = [view(v="visitor0001", t=f"B{i:09d}") for i in range(events.MAX_EVENTS_PER_REQUEST)]
    assert post(client, batch, **{"content-type": "application/json"}).status_code == 204
    assert count(db_path) == before + 2 + events.MAX_EVENTS_PER_REQUEST
    with sqlite3.connect(db_path) as conn:
        conn.row_factory = sqlite3.Row
        stored = conn.execute("SELECT * FROM events WHERE token = 'AAAAAAAAAA' AND visitor = 'visitor0001'").fetchone()
    assert (stored["site"], stored["url"], stored["title"], stored["browser"]) == ("blog", f"{ORIGIN}/post",
                                                                                   "A post", "Firefox")


def test_a_long_title_is_cut_and_the_view_kept(client, db_path):
    response = post(client, view(v="visitor0001", t="LLLLLLLLLL", n="x" * 10_000))
    assert response.status_code == 204
    with sqlite3.connect(db_path) as conn:
        title = conn.execute("SELECT title FROM events WHERE token = 'LLLLLLLLLL'").fetchone()[0]
    assert title == "x" * events.MAX_TITLE


BAD = [
    (b"{" * (events.MAX_BODY_BYTES + 10), {}, 413),
    (view(), {"content-type": "application/x-www-form-urlencoded"}, 415),
    (view(), {"content-type": "multipart/form-data; boundary=x"}, 415),
    (b"not json at all", {}, 400),
    (b"\xc3\x28\xa0\xa1", {}, 400),
    (b"", {}, 400),
    (b"null", {}, 400),
    (b'"a string"', {}, 400),
    ([view()] * (events.MAX_EVENTS_PER_REQUEST + 1), {}, 400),
    ([[view()]], {}, 400),
    (view(u=12345), {}, 400),
    (view(t=None, u=None), {}, 400),
    (view(u="https://example.com/" + "a" * 3000), {}, 400),
    (view(n=12345), {}, 400),
    (view(u="data:text/html,hi"), {}, 400),
    (view(u="https:///no-host"), {}, 400),
    (view(r="not a url"), {}, 400),
    (view(t="AAAAAAAAA!"), {}, 400),
    (view(i="AAAAAAAAAAA"), {}, 400),
    (view(v="x"), {}, 400),
    (view(extra={"nested": True}), {}, 400),
    ({"k": "explode", "s": "blog"}, {}, 400),
    (b'{"k": "goal", "s": "blog", "g": "x", "gv": 1e999}', {}, 400),
    (view(s="nope"), {}, 403),
    (view(), {"origin": "https://attacker.example"}, 403),
    (view(), {"origin": None}, 403),
]


@pytest.mark.parametrize("payload, headers, status", BAD)
def test_bad_input_gets_the_right_4xx_with_a_reason_and_stores_nothing(client, db_path, payload, headers, status):
    before = count(db_path)
    response = post(client, payload, **headers)
    assert response.status_code == status
    assert response.text.strip()  # a reason a developer can act on
    assert count(db_path) == before


def test_other_methods_are_refused_and_preflight_is_answered(client):
    response = client.get("/-/darksocial/collect")
    assert response.status_code == 405 and "POST" in response.headers["allow"]
    assert response.text.startswith("method: ")  # like every refusal, it names what is wrong first
    preflight = client.options("/-/darksocial/collect", headers={"origin": ORIGIN,
                                                                 "access-control-request-method": "POST"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-methods"] == "POST"


@pytest.mark.parametrize("ua", [
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
    "python-requests/2.32.3",
    None,
])
def test_bots_are_answered_202_and_not_stored(client, db_path, ua):
    before = count(db_path)
    response = post(client, view(), **{"user-agent": ua})
    assert response.status_code == 202
    assert count(db_path) == before


def test_do_not_track_is_honoured_where_the_site_asks(client, db_path):
    before = count(db_path)
    assert post(client, view(s="private"), dnt="1").status_code == 202
    assert post(client, view(s="private"), **{"sec-gpc": "1"}).status_code == 202
    assert count(db_path) == before
    assert post(client, view(s="blog"), dnt="1").status_code == 204
    assert count(db_path) == before + 1


def test_cookieless_ids_derive_from_the_client_address_and_no_ip_or_agent_is_stored(client, db_path):
    other_ip = "198.51.100.201"
    for token, ip in (("CCCCCCCCC1", CLIENT_IP), ("CCCCCCCCC2", CLIENT_IP), ("CCCCCCCCC3", other_ip)):
        assert post(client, view(t=token), **{"x-forwarded-for": ip}).status_code == 204
    with sqlite3.connect(db_path) as conn:
        ids = dict(conn.execute("SELECT token, visitor FROM events WHERE token LIKE 'CCCCCCCCC_'").fetchall())
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'salts'").fetchone()[0] == 0
    with sqlite3.connect(store.salts_path(db_path)) as conn:
        day, salt = conn.execute("SELECT day, salt FROM salts ORDER BY day DESC").fetchone()
    assert ids["CCCCCCCCC1"] == ids["CCCCCCCCC2"] == privacy.pseudonym(salt, "blog", CLIENT_IP, FIREFOX)
    assert ids["CCCCCCCCC3"] == privacy.pseudonym(salt, "blog", other_ip, FIREFOX) != ids["CCCCCCCCC1"]

    data = b"".join(p.read_bytes() for p in db_path.parent.glob("reports.db*"))  # the database, its WAL and shm
    assert count(db_path) > 0
    for secret in (CLIENT_IP, other_ip, "127.0.0.1", FIREFOX, "rv:132.0"):
        assert secret.encode() not in data


@pytest.mark.parametrize("name, content_type", [("darksocial.js", "text/javascript"), ("darksocial.css", "text/css")])
def test_tracker_assets_are_served_from_the_package(client, name, content_type):
    response = client.get(f"/-/darksocial/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(content_type)
    assert response.content == (inject.STATIC_DIR / name).read_bytes()
    again = client.get(f"/-/darksocial/{name}", headers={"if-none-match": response.headers["etag"]})
    assert again.status_code == 304


def test_the_server_attributes_collected_events_in_the_background(tmp_path, free_port):
    path = tmp_path / "background.db"
    db = store.open_db(path)
    store.register_site(db, "blog", [ORIGIN])
    db.close()
    with server.running(server.make_datasette(path, attribute_every=0.2), port=free_port()) as url:
        with httpx.Client(base_url=url, timeout=30) as http:
            assert post(http, view(v="visitor0001", t="VVVVVVVVVV")).status_code == 204
            deadline = time.monotonic() + 30
            while True:
                with sqlite3.connect(path) as conn:
                    visits = conn.execute("SELECT token, visitor FROM visits").fetchall()
                if visits or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
    assert visits == [("VVVVVVVVVV", "visitor0001")]


def test_the_server_purges_old_salts_on_a_timer_without_traffic(tmp_path, free_port):
    path = tmp_path / "quiet.db"
    store.open_db(path).close()
    with store.SaltStore(store.salts_path(path)) as salts:
        salts.adopt([("2020-01-01", "0ld5a17" * 8)])  # long past 48 hours
    with server.running(server.make_datasette(path, attribute_every=None), port=free_port()):
        deadline = time.monotonic() + 30
        while True:  # no request at all: the timer does it
            with store.SaltStore(store.salts_path(path)) as salts:
                days = salts.days()
            if not days or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert days == []
    assert b"0ld5a17" not in store.salts_path(path).read_bytes()
