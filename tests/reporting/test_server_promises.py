"""The reporting server as an analyst meets it, checked against README.md ("Reporting server", "Attribution",
"Quick start") and DESIGN.md only: sign-in, what anonymous users can and cannot read, what each canned report shows
for a small hand-built scenario, the dashboard and people pages, exports, caching and third-party requests.

Both through ``datasette.client`` (in process) and over real HTTP (a ``darksocial serve`` child process on a free
loopback port).

The scenario (site "blog" on https://blog.example, site "news" on https://news.example; D1 = two days ago, D2 =
yesterday, UTC; TODAY is the server's today):

* D1: Alice views /story-a from Google, identifies as "Alice Liddell" (person x:alice-1) and shares it on WhatsApp
  (share sA). Bob and Carol click it. Alice opens her own link (not a click: a view like one without a token, her
  second, so neither estimated dark social nor tracked). Bob re-shares on Telegram (sB).
* D2: Dan clicks sB and signs up (goal "signup").
* D1: Erin lands on /story-b with no referrer, her first view (estimated dark social); Frank comes to /story-b from
  a forum (forum.example.net, a referral); Gina comes to /story-a from t.co without a token (open social).
* D1: Carol identifies with a display name full of markup (person x:carol-1), as anyone can send.
* D1: Zed lands on news.example/n1 with no referrer (estimated dark social, site "news").
* TODAY-29: Ivy comes to /story-b from Google (inside the default window: "the last 30 days including today").
* TODAY-30: Hank comes to /story-b from Google (outside the default window).

Hand-computed figures (default window, all sites): visits 10 (D1: 8, D2: 1, TODAY-29: 1); tracked dark social 3
(Bob, Carol, Dan); estimated 2 (Erin, Zed); shares 2 (sA, sB, both minted on D1); clicks 3 (sA: Bob and Carol; sB:
Dan); clicks per share 1.5; re-shares 1 (sB got a click); K = 1/3 = 0.33; people reached 3; conversions 1 (Dan's
signup, after his click, below Bob and Alice). Cascade sA: people Alice, Bob, Carol, Dan (n = 4, depth 2); edges
Alice-Bob (subtree 2), Alice-Carol (1), Bob-Dan (1): W = 2*2 + 1*3 + 1*3 = 10, nu = 2W/(n(n-1)) = 20/12 = 1.67.

Run the file in order: the tests that change the database (an analyst's label, a page manifest, an expired sign-in
link, an ambassador link and the collector's new events) come after the figures they would change, and the live
server's login rate limit is tripped only once everything else has signed in.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import csv
import datetime as dt
import hashlib
import io
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from darksocial import attribution, store

ORIGIN, NEWS = "https://blog.example", "https://news.example"
STORY_A, STORY_B, NEWS_1 = ORIGIN + "/story-a", ORIGIN + "/story-b", NEWS + "/n1"
PASSWORD = "tr0ub4dor & 3, but longer"
ALICE, BOB, CAROL, DAN, ERIN, FRANK, GINA, ZED, IVY, HANK = (
    "aliceAAAAAAA", "bobBBBBBBBBB", "carolCCCCCCC", "danDDDDDDDDD", "erinEEEEEEEE", "frankFFFFFFF", "ginaGGGGGGGG",
    "zedZZZZZZZZZ", "ivyIIIIIIIII", "hankHHHHHHHH",
)
SHARE_A, SHARE_B = "sAAAAAAAAA", "sBBBBBBBBB"
ALICE_PERSON, BOB_PERSON, CAROL_PERSON = "x:alice-1", f"v:{BOB}", "x:carol-1"
# a display name anyone can send with `identify`: pages must show it as text
HOSTILE_NAME = '</script><img src=x onerror="alert(1)">Carol'

NOW = dt.datetime.now(dt.timezone.utc)
TODAY = NOW.date()
D1 = dt.datetime.combine(TODAY - dt.timedelta(days=2), dt.time(10, 0), dt.timezone.utc)
D2 = dt.datetime.combine(TODAY - dt.timedelta(days=1), dt.time(10, 0), dt.timezone.utc)
IVY_DAY = dt.datetime.combine(TODAY - dt.timedelta(days=29), dt.time(12, 0), dt.timezone.utc)
HANK_DAY = dt.datetime.combine(TODAY - dt.timedelta(days=30), dt.time(12, 0), dt.timezone.utc)


def _day(when: dt.datetime) -> str:
    return when.date().isoformat()


def _events() -> list[dict]:
    minutes = iter(range(1, 1000))

    def at(day=D1) -> str:
        return store.utc_timestamp(day + dt.timedelta(minutes=next(minutes)))

    def view(site, visitor, url, token, *, came_with=None, channel=None, referrer=None, ts=None):
        return {"site": site, "kind": "view", "visitor": visitor, "url": url, "token": token, "in_token": came_with,
                "in_channel": channel, "referrer_host": referrer, "title": "Sent " + url.rsplit("/", 1)[-1],
                "ts": ts or at()}

    def share(visitor, token, parent, channel):
        return {"site": "blog", "kind": "share", "visitor": visitor, "url": STORY_A, "token": token,
                "parent": parent, "channel": channel, "ts": at()}

    return [
        view("blog", ALICE, STORY_A, "vA1xxxxxxx", referrer="www.google.com"),
        {"site": "blog", "kind": "identify", "visitor": ALICE, "external_id": "alice-1", "name": "Alice Liddell",
         "ts": at()},
        share(ALICE, SHARE_A, "vA1xxxxxxx", "wa"),
        view("blog", BOB, STORY_A, "vB1xxxxxxx", came_with=SHARE_A, channel="wa"),
        view("blog", CAROL, STORY_A, "vC1xxxxxxx", came_with=SHARE_A, channel="wa"),
        {"site": "blog", "kind": "identify", "visitor": CAROL, "external_id": "carol-1", "name": HOSTILE_NAME,
         "ts": at()},
        view("blog", ALICE, STORY_A, "vA2xxxxxxx", came_with=SHARE_A, channel="wa"),
        share(BOB, SHARE_B, "vB1xxxxxxx", "tg"),
        view("blog", ERIN, STORY_B, "vE1xxxxxxx"),
        view("blog", FRANK, STORY_B, "vF1xxxxxxx", referrer="forum.example.net"),
        view("blog", GINA, STORY_A, "vG1xxxxxxx", referrer="t.co"),
        view("news", ZED, NEWS_1, "vZ1xxxxxxx"),
        view("blog", DAN, STORY_A, "vD1xxxxxxx", came_with=SHARE_B, channel="tg", ts=at(D2)),
        {"site": "blog", "kind": "goal", "visitor": DAN, "token": "vD1xxxxxxx", "url": STORY_A, "goal": "signup",
         "ts": at(D2)},
        view("blog", IVY, STORY_B, "vI1xxxxxxx", referrer="www.google.com", ts=store.utc_timestamp(IVY_DAY)),
        view("blog", HANK, STORY_B, "vH1xxxxxxx", referrer="www.google.com", ts=store.utc_timestamp(HANK_DAY)),
    ]


def _build(path: Path, write_events) -> None:
    db = store.open_db(path)
    store.register_site(db, "blog", [ORIGIN])
    store.register_site(db, "news", [NEWS])
    write_events(path, _events())
    attribution.attribute(db)
    db.close()


def _cli(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).parent / "darksocial"), *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def _login_link(db: Path, port: int) -> str:
    out = _cli("login-link", str(db), "--port", str(port))
    assert out.returncode == 0, out.stderr
    match = re.search(rf"http://127\.0\.0\.1:{port}(/-/darksocial/sign-in\?token=[A-Za-z0-9_-]+)", out.stdout)
    assert match, out.stdout
    return match.group(1)


@pytest.fixture(scope="module")
def db_path(tmp_path_factory, event_writer) -> Path:
    path = tmp_path_factory.mktemp("promises") / "darksocial.db"
    _build(path, event_writer)
    return path


@pytest.fixture(scope="module")
def pw_hash():
    from datasette_auth_passwords.utils import hash_password

    return hash_password(PASSWORD, iterations=1000)


class Client:
    """``datasette.client`` on a loop of its own, anonymous or with the cookies given."""

    def __init__(self, ds):
        self.ds = ds
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    def get(self, path, cookies=None, **kw):
        return self.run(self.ds.client.get(path, cookies=cookies, **kw))

    def post(self, path, cookies=None, **kw):
        return self.run(self.ds.client.post(path, cookies=cookies, **kw))


@pytest.fixture(scope="module")
def inproc(db_path, pw_hash):
    from reporting import server

    previous = os.environ.get("DARKSOCIAL_ANALYST_PASSWORD_HASH")
    os.environ["DARKSOCIAL_ANALYST_PASSWORD_HASH"] = pw_hash
    client = Client(server.make_datasette(db_path, attribute_every=None))
    yield client
    client.loop.call_soon_threadsafe(client.loop.stop)
    if previous is None:
        os.environ.pop("DARKSOCIAL_ANALYST_PASSWORD_HASH", None)
    else:
        os.environ["DARKSOCIAL_ANALYST_PASSWORD_HASH"] = previous


@pytest.fixture(scope="module")
def analyst(inproc) -> dict:
    """Cookies of an analyst signed in in process with the password at /-/login."""
    page = inproc.get("/-/login")
    token = page.cookies["ds_csrftoken"]
    response = inproc.post("/-/login", data={"username": "analyst", "password": PASSWORD, "csrftoken": token},
                           cookies={"ds_csrftoken": token})
    assert response.status_code == 302, response.text
    return {"ds_actor": response.cookies["ds_actor"]}


def stop(proc: subprocess.Popen) -> None:
    """End a server started for a test: politely, then for good."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def live(db_path, pw_hash, free_port, tmp_path_factory):
    """A real ``darksocial serve DB`` on a free loopback port, with the analyst password set; yields (base URL,
    the one-time link it printed at start)."""
    port = free_port()
    out = tmp_path_factory.mktemp("serve") / "stdout"
    env = {**os.environ, "DARKSOCIAL_ANALYST_PASSWORD_HASH": pw_hash}
    with open(out, "w") as stdout:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "darksocial"), "serve", str(db_path), "--port",
                                 str(port), "--attribute-every", "0"], stdout=stdout, stderr=subprocess.STDOUT,
                                env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, out.read_text()
            match = re.search(r"(/-/darksocial/sign-in\?token=[A-Za-z0-9_-]+)", out.read_text())
            if match:
                try:
                    if httpx.get(base + "/-/darksocial/darksocial.css").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.1)
        yield base, match.group(1), out
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def live_analyst(live) -> dict:
    base, _, _ = live
    with httpx.Client(base_url=base) as client:
        page = client.get("/-/login")
        token = page.cookies["ds_csrftoken"]
        response = client.post("/-/login", data={"username": "analyst", "password": PASSWORD, "csrftoken": token})
        assert response.status_code == 302, response.text
        return {"ds_actor": response.cookies["ds_actor"]}


def report(inproc, analyst, name, **params) -> list[dict]:
    response = inproc.get(f"/darksocial/{name}.json", cookies=analyst, params={"_shape": "array", **params})
    assert response.status_code == 200, response.text
    return response.json()


# --- what anonymous users can and cannot read ------------------------------------------------------------------

PRIVATE_TABLES = ["events", "visits", "shares", "influencers", "cascades", "cascade_people", "sites", "links",
                  "person_labels", "sign_in_links", "_ds_identities", "_ds_goals", "_ds_influence"]
PRIVATE_REPORTS = ["headline", "top_influencers", "influencer", "largest_cascades", "conversions_by_sharer",
                   "cascade_tree"]
SERVER_PAGES = ["/-/threads", "/-/versions", "/-/plugins", "/-/settings", "/-/databases", "/-/metadata"]
PRIVATE_PATHS = (
    [f"/darksocial/{t}{ext}" for t in PRIVATE_TABLES for ext in ("", ".json", ".csv")]
    + [f"/darksocial/{r}{ext}" for r in PRIVATE_REPORTS for ext in ("", ".json", ".csv")]
    + SERVER_PAGES + [p + ".json" for p in SERVER_PAGES]
    + ["/darksocial.db", "/darksocial?sql=select+1", "/darksocial.json?sql=select+visitor+from+events",
       "/darksocial.csv?sql=select+visitor+from+events", "/-/darksocial/dashboard",
       f"/-/darksocial/influencer?person={ALICE_PERSON}", "/-/darksocial/cascade",
       f"/-/darksocial/cascade?share={SHARE_A}", "/darksocial/events/1.json", "/darksocial/visits/3.json",
       "/darksocial/influencers/x%3Aalice-1.json", "/darksocial/sites/blog.json", "/darksocial/events.json?_stream=1"]
)
OPEN_PATHS = (
    [f"/darksocial/{t}{ext}" for t in ("stories", "story_daily", "channels", "daily", "top_stories", "channel_mix",
                                       "dark_social_over_time") for ext in ("", ".json", ".csv")]
    + ["/", f"/-/darksocial/story?url={STORY_A}", "/-/darksocial/darksocial.js", "/-/darksocial/darksocial.css"]
)


def test_private_pages_refuse_anonymous_users_in_process(inproc):
    refused = {path: inproc.get(path).status_code for path in PRIVATE_PATHS}
    assert {p: s for p, s in refused.items() if s != 403} == {}


def test_open_pages_answer_anonymous_users_in_process(inproc):
    answers = {path: inproc.get(path).status_code for path in OPEN_PATHS}
    assert {p: s for p, s in answers.items() if s != 200} == {}


@pytest.mark.parametrize("table", [
    # SECURITY.md: anonymously the server shows "only aggregate tables and reports (stories, story_daily, channels,
    # daily and the reports built on them)"; the README lists exactly what is open
    "pages", "_sqlite_migrations", "_ds_inbox_moved",
    "_ds_state", "_ds_titles", "_ds_story_cascades", "sqlite_stat1",
])
def test_tables_not_listed_as_open_are_refused_to_anonymous_users(inproc, table):
    with sqlite3.connect(inproc.ds.databases["darksocial"].path) as conn:
        conn.execute("ANALYZE")  # makes sqlite_stat1
    assert inproc.get(f"/darksocial/{table}.json").status_code == 403


def test_open_pages_name_no_person(inproc):
    people = [ALICE, BOB, CAROL, DAN, ERIN, FRANK, GINA, ZED, IVY, HANK, "alice-1", "carol-1", "Alice Liddell",
              "onerror", SHARE_A, SHARE_B, "vA1xxxxxxx"]
    leaks = {}
    for path in OPEN_PATHS + ["/darksocial/stories.json?_shape=array&_size=max", "/darksocial",
                              f"/-/darksocial/story?url={STORY_B}", "/darksocial/top_stories?_show_sql=1"]:
        text = inproc.get(path).text
        found = [p for p in people if p in text]
        if found:
            leaks[path] = found
    assert leaks == {}


def test_public_top_stories_links_to_the_story_pages(inproc):
    html = inproc.get("/darksocial/top_stories").text
    links = {h.replace("&amp;", "&") for h in re.findall(r'href="(/-/darksocial/story\?url=[^"]+)"', html)}
    assert len(links) >= 3
    assert {inproc.get(link).status_code for link in links} == {200}


def test_a_refused_page_says_how_to_sign_in(inproc):
    response = inproc.get("/darksocial/visits")
    assert response.status_code == 403
    assert "darksocial login-link" in response.text and "/-/login" in response.text


def test_anonymous_json_export_of_a_private_table_leaks_no_visitor(inproc):
    for path in ("/darksocial/visits.json", "/darksocial/events.csv", "/darksocial/top_influencers.json"):
        response = inproc.get(path)
        assert response.status_code == 403
        assert ALICE not in response.text and "Alice Liddell" not in response.text


def test_anonymous_story_page_shows_title_and_sources_but_no_people(inproc, analyst):
    anon = inproc.get("/-/darksocial/story", params={"url": STORY_A})
    assert anon.status_code == 200
    assert '<h1 class="ds-title">Sent story-a</h1>' in anon.text
    stats = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", anon.text))
    assert {k: stats.get(k) for k in ("Visits", "Dark social, tracked", "Dark social, estimated", "Open social",
                                       "Shares", "Clicks per share")} == {
        "Visits": "6", "Dark social, tracked": "3", "Dark social, estimated": "0", "Open social": "1",
        "Shares": "2", "Clicks per share": "1.50"}
    assert "<td>WhatsApp</td>" in anon.text and "<td>Telegram</td>" in anon.text
    for secret in ("Alice Liddell", ALICE, BOB, "alice-1", f"share={SHARE_A}"):
        assert secret not in anon.text
    signed = inproc.get("/-/darksocial/story", params={"url": STORY_A}, cookies=analyst)
    assert signed.status_code == 200 and "Alice Liddell" in signed.text


def test_no_database_file_or_salt_is_served_to_anyone(inproc, analyst):
    paths = ["/darksocial.db", "/darksocial-salts", "/darksocial.db-salts", "/darksocial.db-keys",
             "/darksocial.db-inbox", "/-/static/../darksocial.db", "/-/darksocial/static/..%2f..%2fdarksocial.db",
             "/-/static-plugins/darksocial/..%2f..%2fdarksocial.db"]
    for cookies in (None, analyst):
        for path in paths:
            response = inproc.get(path, cookies=cookies)
            assert not response.content.startswith(b"SQLite format 3"), path


def test_anonymous_users_cannot_add_sql_to_open_tables(inproc):
    for table in ("stories", "story_daily", "daily", "channels"):
        response = inproc.get(f"/darksocial/{table}.json", params={"_where": "1 in (select 1 from events)"})
        assert response.status_code == 403, table


def test_the_password_hash_is_written_nowhere(inproc, analyst, db_path, pw_hash):
    for path in ("/-/metadata.json", "/-/settings.json", "/-/plugins.json", "/-/databases.json", "/-/config.json"):
        assert pw_hash not in inproc.get(path, cookies=analyst).text, path
    # read in another process: closing a descriptor on a SQLite file drops this process's locks on it
    digest = pw_hash.split("$", 2)[2]
    found = subprocess.run([sys.executable, "-c", "import pathlib, sys; print([str(f) for f in pathlib.Path("
                            "sys.argv[1]).iterdir() if sys.argv[2].encode() in f.read_bytes()])",
                            str(db_path.parent), digest], capture_output=True, text=True, check=True).stdout
    assert found.strip() == "[]"
    assert len(list(db_path.parent.iterdir())) >= 3  # the database, its WAL, salts, keys...


def test_arbitrary_sql_is_for_signed_in_analysts(inproc, analyst):
    sql = {"sql": "select count(*) as n from events", "_shape": "array"}
    assert inproc.get("/darksocial.json", params=sql).status_code == 403
    response = inproc.get("/darksocial.json", params=sql, cookies=analyst)
    assert response.status_code == 200
    assert response.json() == [{"n": 16}]  # 11 views, 2 identify, 2 shares, 1 goal


# --- signing in ---------------------------------------------------------------------------------------------------

def test_password_sign_in_as_analyst(inproc, analyst):
    actor = inproc.get("/-/actor.json", cookies=analyst).json()
    assert actor == {"actor": {"id": "analyst"}}
    assert inproc.get("/darksocial/visits.json", cookies=analyst).status_code == 200


@pytest.mark.parametrize("username,password", [("analyst", "wrong password"), ("root", PASSWORD), ("analyst", "")])
def test_wrong_credentials_do_not_sign_in(db_path, pw_hash, monkeypatch, username, password):
    # a Datasette of its own: failed attempts count against the client
    from reporting import server

    monkeypatch.setenv("DARKSOCIAL_ANALYST_PASSWORD_HASH", pw_hash)
    client = Client(server.make_datasette(db_path, attribute_every=None))
    try:
        token = client.get("/-/login").cookies["ds_csrftoken"]
        response = client.post("/-/login", data={"username": username, "password": password, "csrftoken": token},
                               cookies={"ds_csrftoken": token})
        assert response.status_code == 200
        assert "ds_actor" not in response.cookies
    finally:
        client.loop.call_soon_threadsafe(client.loop.stop)


def test_login_form_without_or_with_forged_csrf_token_does_not_sign_in(inproc):
    token = inproc.get("/-/login").cookies["ds_csrftoken"]
    forged = inproc.post("/-/login", data={"username": "analyst", "password": PASSWORD, "csrftoken": "forged"},
                         cookies={"ds_csrftoken": token})
    assert forged.status_code == 403 and "ds_actor" not in forged.cookies
    missing = inproc.post("/-/login", data={"username": "analyst", "password": PASSWORD},
                          cookies={"ds_csrftoken": token})
    assert missing.status_code == 403 and "ds_actor" not in missing.cookies


def test_one_time_link_from_login_link_signs_in_once(inproc, db_path):
    path = _login_link(db_path, 8001)
    first = inproc.get(path)
    assert first.status_code == 302
    cookies = {"ds_actor": first.cookies["ds_actor"]}
    assert inproc.get("/-/actor.json", cookies=cookies).json() == {"actor": {"id": "analyst"}}
    assert inproc.get("/-/darksocial/dashboard", cookies=cookies).status_code == 200
    second = inproc.get(path)
    assert second.status_code == 403 and "ds_actor" not in second.cookies
    assert "darksocial login-link" in second.text


def test_one_time_link_is_valid_for_a_day_and_refused_once_expired(inproc, analyst, db_path):
    path = _login_link(db_path, 8001)
    token = path.rsplit("=", 1)[1]
    digest = hashlib.sha256(token.encode()).hexdigest()
    rows = inproc.get("/darksocial/sign_in_links.json", cookies=analyst, params={"_shape": "array"}).json()
    row = [r for r in rows if r["token_sha256"] == digest]
    assert len(row) == 1, rows
    expires = dt.datetime.fromisoformat(row[0]["expires"].replace("Z", "+00:00"))
    left = expires - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(hours=23, minutes=58) < left <= dt.timedelta(days=1)
    with sqlite3.connect(db_path) as conn:
        past = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)).isoformat()
        assert conn.execute("UPDATE sign_in_links SET expires = ? WHERE token_sha256 = ?",
                            (past, digest)).rowcount == 1
    response = inproc.get(path)
    assert response.status_code == 403 and "ds_actor" not in response.cookies


def test_an_unknown_sign_in_token_is_refused(inproc):
    response = inproc.get("/-/darksocial/sign-in", params={"token": "x" * 32})
    assert response.status_code == 403 and "ds_actor" not in response.cookies


def test_serve_refuses_a_non_loopback_address_without_a_password(db_path, free_port, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DARKSOCIAL_ANALYST_PASSWORD_HASH"}
    try:
        out = _cli("serve", str(db_path), "--host", "0.0.0.0", "--port", str(free_port()), "--attribute-every",
                   "0", env=env, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("darksocial serve started on 0.0.0.0 without an analyst password")
    assert out.returncode != 0
    assert "DARKSOCIAL_ANALYST_PASSWORD_HASH" in out.stdout + out.stderr


# --- canned reports, figures computed by hand -------------------------------------------------------------------

def test_headline_default_window_all_sites(inproc, analyst):
    expected = [{"visits": 10, "dark_tracked": 3, "dark_estimated": 2, "dark_tracked_pct": 30.0,
                 "dark_estimated_pct": 20.0, "dark_social_pct": 50.0, "shares": 2, "clicks": 3,
                 "clicks_per_share": 1.5, "k_factor": 0.33, "people_reached": 3, "conversions": 1}]
    assert report(inproc, analyst, "headline") == expected
    assert report(inproc, analyst, "headline", since="", until="", site="") == expected


def test_headline_default_window_is_the_last_30_days_including_today(inproc, analyst):
    def visits(**window):
        return report(inproc, analyst, "headline", **window)[0]["visits"]

    assert visits(since=_day(IVY_DAY), until=_day(IVY_DAY)) == 1
    assert visits(since=_day(HANK_DAY), until=_day(HANK_DAY)) == 1  # Hank exists, outside the default window
    assert visits(since=_day(HANK_DAY), until=TODAY.isoformat()) == 11
    assert visits() == 10


def test_headline_site_filter(inproc, analyst):
    blog = report(inproc, analyst, "headline", site="blog")[0]
    assert (blog["visits"], blog["dark_tracked"], blog["dark_estimated"], blog["dark_tracked_pct"],
            blog["dark_estimated_pct"], blog["shares"], blog["clicks"]) == (9, 3, 1, 33.3, 11.1, 2, 3)
    news = report(inproc, analyst, "headline", site="news")[0]
    assert (news["visits"], news["dark_estimated"], news["dark_estimated_pct"], news["shares"]) == (1, 1, 100.0, 0)


def test_a_share_counts_on_the_day_it_was_minted_with_every_click(inproc, analyst):
    d1 = report(inproc, analyst, "headline", since=_day(D1), until=_day(D1))[0]
    # Dan's click came on D2, but sA and sB were minted on D1: they count there with all 3 clicks.
    assert (d1["visits"], d1["dark_tracked"], d1["dark_estimated"], d1["shares"], d1["clicks"],
            d1["people_reached"], d1["conversions"]) == (8, 2, 2, 2, 3, 3, 1)
    d2 = report(inproc, analyst, "headline", since=_day(D2), until=_day(D2))[0]
    assert (d2["visits"], d2["dark_tracked"], d2["shares"], d2["clicks"]) == (1, 1, 0, 0)


def test_top_influencers(inproc, analyst):
    rows = report(inproc, analyst, "top_influencers")
    picked = {r["person"]: (r["name"], r["tier"], r["shares"], r["clicks"], r["reach"], r["reshares"],
                            r["amplified_reach"], r["conversions"], r["top_channel"]) for r in rows}
    assert picked[ALICE_PERSON] == ("Alice Liddell", "nano", 1, 2, 2, 1, 3, 1, "wa")
    assert picked[BOB_PERSON][1:] == ("nano", 1, 1, 1, 0, 1, 1, "tg")
    assert set(picked) == {ALICE_PERSON, BOB_PERSON}
    assert [r["person"] for r in rows][0] == ALICE_PERSON


def test_top_influencers_site_filter(inproc, analyst):
    assert report(inproc, analyst, "top_influencers", site="news") == []


def test_influencer_report(inproc, analyst):
    [alice] = report(inproc, analyst, "influencer", person=ALICE_PERSON)
    assert (alice["share"], alice["channel"], alice["depth"], alice["got_it_from"], alice["clicks"], alice["reach"],
            alice["reshares"], alice["amplified_reach"], alice["conversions"]) == (
        SHARE_A, "wa", 1, None, 2, 2, 1, 3, 1)
    [bob] = report(inproc, analyst, "influencer", person=BOB_PERSON)
    assert (bob["share"], bob["channel"], bob["depth"], bob["got_it_from"], bob["clicks"], bob["reach"]) == (
        SHARE_B, "tg", 2, ALICE_PERSON, 1, 1)


def test_top_stories(inproc, analyst):
    rows = {r["url"]: r for r in inproc.get("/darksocial/top_stories.json",
                                            params={"_shape": "array", "site": "blog"}).json()}
    assert set(rows) == {STORY_A, STORY_B}
    a, b = rows[STORY_A], rows[STORY_B]
    assert (a["visits"], a["dark_tracked"], a["dark_estimated"], a["open_social"], a["other"], a["shares"],
            a["clicks"], a["clicks_per_share"]) == (6, 3, 0, 1, 2, 2, 3, 1.5)
    assert (b["visits"], b["dark_tracked"], b["dark_estimated"], b["open_social"], b["other"], b["shares"]) == (
        3, 0, 1, 0, 2, 0)


def test_channel_mix(inproc):
    rows = {r["code"]: r for r in inproc.get("/darksocial/channel_mix.json", params={"_shape": "array"}).json()}
    assert (rows["wa"]["channel"], rows["wa"]["medium"], rows["wa"]["shares"], rows["wa"]["clicks"],
            rows["wa"]["clicks_per_share"]) == ("WhatsApp", "dark", 1, 2, 2.0)
    assert (rows["tg"]["channel"], rows["tg"]["shares"], rows["tg"]["clicks"]) == ("Telegram", 1, 1)


def test_dark_social_over_time(inproc):
    rows = {r["date"]: r for r in inproc.get("/darksocial/dark_social_over_time.json",
                                             params={"_shape": "array"}).json()}
    assert _day(HANK_DAY) not in rows
    assert (rows[_day(D1)]["visits"], rows[_day(D1)]["dark_tracked"], rows[_day(D1)]["dark_estimated"],
            rows[_day(D1)]["dark_social_pct"]) == (8, 2, 2, 50.0)
    assert (rows[_day(D2)]["visits"], rows[_day(D2)]["dark_tracked"], rows[_day(D2)]["dark_social_pct"]) == (
        1, 1, 100.0)
    assert (rows[_day(IVY_DAY)]["visits"], rows[_day(IVY_DAY)]["dark_social_pct"]) == (1, 0.0)
    assert sum(r["visits"] for r in rows.values()) == 10


def test_largest_cascades(inproc, analyst):
    [cascade] = report(inproc, analyst, "largest_cascades")
    assert (cascade["root"], cascade["sharer"], cascade["sharer_name"], cascade["channel"], cascade["size"],
            cascade["depth"], cascade["structural_virality"], cascade["conversions"]) == (
        SHARE_A, ALICE_PERSON, "Alice Liddell", "wa", 4, 2, 1.67, 1)


def test_conversions_by_sharer(inproc, analyst):
    rows = report(inproc, analyst, "conversions_by_sharer")
    by_person = {r.get("person") or r.get("sharer"): r for r in rows}
    assert set(by_person) == {ALICE_PERSON, BOB_PERSON}
    assert [r["conversions"] for r in (by_person[ALICE_PERSON], by_person[BOB_PERSON])] == [1, 1]


def test_cascade_tree(inproc, analyst):
    rows = report(inproc, analyst, "cascade_tree", share=SHARE_A)
    shares = {r["id"]: (r["parent"], r["channel"], r["clicks"]) for r in rows if r["id"] in (SHARE_A, SHARE_B)}
    assert shares[SHARE_B] == (SHARE_A, "tg", 1)
    assert shares[SHARE_A][1:] == ("wa", 2)


def test_cascade_tree_of_a_story(inproc, analyst):
    rows = report(inproc, analyst, "cascade_tree", url=STORY_A)
    shares = {r["id"]: (r["parent"], r["channel"], r["clicks"], r["reach"]) for r in rows if r["id"] != "top"}
    assert shares == {SHARE_A: ("top", "wa", 2, 2), SHARE_B: (SHARE_A, "tg", 1, 1)}
    labels = {r["id"]: r["label"] for r in rows}
    assert "Alice Liddell" in labels[SHARE_A]  # people appear by name wherever one is known


@pytest.mark.parametrize("param,value", [("since", "garbage"), ("until", "2026-13-45")])
def test_dashboard_invalid_window_is_a_400_naming_the_parameter(inproc, analyst, param, value):
    response = inproc.get("/-/darksocial/dashboard", params={param: value}, cookies=analyst)
    assert response.status_code == 400
    assert param in response.text


def test_dashboard_invalid_days_is_a_400_naming_days(inproc, analyst):
    response = inproc.get("/-/darksocial/dashboard", params={"days": "abc"}, cookies=analyst)
    assert response.status_code == 400 and "days" in response.text


def test_dashboard_blank_window_is_the_last_30_days(inproc, analyst):
    response = inproc.get("/-/darksocial/dashboard", params={"since": "", "until": "", "site": ""}, cookies=analyst)
    assert response.status_code == 200
    assert _headline_numbers(response.text)["visits"] == "10"
    first, last = (TODAY - dt.timedelta(days=29)).isoformat(), TODAY.isoformat()
    assert f'name="since" value="{first}"' in response.text and f'name="until" value="{last}"' in response.text


def test_story_page_invalid_days_is_a_400_naming_days(inproc):
    response = inproc.get("/-/darksocial/story", params={"url": STORY_A, "days": "31"})
    assert response.status_code == 400 and "days" in response.text


def test_influencer_page_without_person_is_a_400_naming_person(inproc, analyst):
    response = inproc.get("/-/darksocial/influencer", cookies=analyst)
    assert response.status_code == 400 and "person" in response.text


@pytest.mark.parametrize("name,param,value", [
    ("headline", "since", "garbage"), ("top_stories", "since", "garbage"), ("top_influencers", "since", "2026-02-30"),
    ("channel_mix", "until", "2026-11-31"), ("dark_social_over_time", "until", "yesterday"),
])
def test_canned_report_invalid_date_is_a_4xx_naming_the_parameter(inproc, analyst, name, param, value):
    response = inproc.get(f"/darksocial/{name}.json", params={param: value}, cookies=analyst)
    assert 400 <= response.status_code < 500
    assert param in response.text and value in response.text


def test_canned_reports_hide_their_sql_and_title_columns_in_words(inproc, analyst):
    html = inproc.get("/darksocial/top_stories", cookies=analyst).text
    assert "_show_sql=1" in html and ">show<" in html
    assert 'id="sql-editor"' not in html and 'id="sql-query"' not in html
    headers = re.findall(r'<th class="col-[^"]+" scope="col"[^>]*>([^<]+)</th>', html)
    assert "Dark tracked" in headers or any("dark" in h.lower() and "_" not in h for h in headers)
    assert headers and all("_" not in h for h in headers), headers
    shown = inproc.get("/darksocial/top_stories", params={"_show_sql": "1"}, cookies=analyst).text
    assert 'id="sql-query"' in shown or 'id="sql-editor"' in shown


# --- dashboard, influencer page, labels ---------------------------------------------------------------------------

def test_dashboard_shows_people_stories_and_cascades_and_links_them(inproc, analyst):
    response = inproc.get("/-/darksocial/dashboard", cookies=analyst)
    assert response.status_code == 200
    html = response.text
    assert "Alice Liddell" in html
    assert "/-/darksocial/influencer?person=x%3Aalice-1" in html or "/-/darksocial/influencer?person=x:alice-1" in html
    assert "/-/darksocial/story?url=" in html and "story-a" in html
    assert f"share={SHARE_A}" in html
    assert "signup" in html  # goals by name


def _headline_numbers(html: str) -> dict:
    return {key: value for key, value in re.findall(r'data-key="([a-z_]+)" data-value="([^"]*)"', html)}


def test_dashboard_headline_numbers_and_change_against_previous_period(inproc, analyst):
    html = inproc.get("/-/darksocial/dashboard", cookies=analyst).text
    numbers = _headline_numbers(html)
    assert {k: numbers.get(k) for k in ("visits", "dark_tracked", "dark_tracked_pct", "dark_estimated",
                                         "dark_estimated_pct", "shares", "clicks_per_share", "k_factor",
                                         "people_reached", "conversions")} == {
        "visits": "10", "dark_tracked": "3", "dark_tracked_pct": "30.0", "dark_estimated": "2",
        "dark_estimated_pct": "20.0", "shares": "2", "clicks_per_share": "1.5", "k_factor": "0.33",
        "people_reached": "3", "conversions": "1"}
    assert "<dd>1.50</dd>" in html and "<dd>0.33</dd>" in html and "<dd>30.0%</dd>" in html
    # the previous 30 days hold Hank's one visit: 10 against 1
    visits = html[html.index('data-key="visits"'):html.index('data-key="dark_tracked"')]
    assert "+900.0%" in visits
    # a percentage changes by points: 30.0% of visits tracked against 0.0% (Hank came from a search engine)
    tracked = html[html.index('data-key="dark_tracked_pct"'):html.index('data-key="dark_estimated"')]
    assert "+30.0 points vs previous period" in tracked


def test_every_row_of_the_dashboard_opens(inproc, analyst):
    html = inproc.get("/-/darksocial/dashboard", cookies=analyst).text
    links = {h.replace("&amp;", "&") for h in re.findall(r'href="(/[^"]+)"', html)
             if not h.startswith(("/-/static", "/-/darksocial/static")) and "/-/logout" not in h}
    kinds = {re.match(r"/-/darksocial/(influencer|story|cascade)\?", link).group(1) for link in links
             if re.match(r"/-/darksocial/(influencer|story|cascade)\?", link)}
    assert kinds == {"influencer", "story", "cascade"}
    broken = {link: inproc.get(link, cookies=analyst).status_code for link in sorted(links)}
    assert {k: v for k, v in broken.items() if v != 200} == {}


def test_dashboard_site_filter_by_name(inproc, analyst):
    response = inproc.get("/-/darksocial/dashboard", params={"site": "news"}, cookies=analyst)
    assert response.status_code == 200
    numbers = _headline_numbers(response.text)
    assert (numbers["visits"], numbers["dark_estimated"], numbers["shares"]) == ("1", "1", "0")
    assert "Alice Liddell" not in response.text and "story-a" not in response.text


@pytest.mark.parametrize("days,visits", [("7", "9"), ("30", "10"), ("90", "11")])
def test_dashboard_presets(inproc, analyst, days, visits):
    response = inproc.get("/-/darksocial/dashboard", params={"days": days}, cookies=analyst)
    assert response.status_code == 200 and "Alice Liddell" in response.text
    assert _headline_numbers(response.text)["visits"] == visits


def test_dashboard_any_dates(inproc, analyst):
    response = inproc.get("/-/darksocial/dashboard", params={"since": _day(D2), "until": _day(D2)}, cookies=analyst)
    numbers = _headline_numbers(response.text)
    assert (numbers["visits"], numbers["dark_tracked"], numbers["shares"]) == ("1", "1", "0")
    # people reached through the shares minted in the period, whenever they clicked; conversions in its cascades
    d1 = inproc.get("/-/darksocial/dashboard", params={"since": _day(D1), "until": _day(D1)}, cookies=analyst).text
    numbers = _headline_numbers(d1)
    assert (numbers["visits"], numbers["shares"], numbers["people_reached"], numbers["conversions"]) == (
        "8", "2", "3", "1")


def test_influencer_page(inproc, analyst):
    html = inproc.get("/-/darksocial/influencer", params={"person": ALICE_PERSON}, cookies=analyst).text
    assert "Alice Liddell" in html and "nano" in html
    assert "WhatsApp" in html and "story-a" in html
    assert "Clicks per share</dt><dd>2.00</dd>" in html  # ratios have two decimals
    stats = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", html))
    assert {k: stats.get(k) for k in ("Shares", "Clicks", "People reached", "Re-shares triggered",
                                       "Amplified reach", "Conversions")} == {
        "Shares": "1", "Clicks": "2", "People reached": "2", "Re-shares triggered": "1", "Amplified reach": "3",
        "Conversions": "1"}

    def section(title):
        return html[html.index(f"<h2>{title}</h2>"):][len(title) + 9:].split("<h2>")[0]

    reached = section("Who they reached")
    assert f"person=v%3A{BOB}" in reached and "person=x%3Acarol-1" in reached and DAN not in reached
    passed_on = section("Who passed it on")
    assert f"person=v%3A{BOB}" in passed_on and "carol-1" not in passed_on
    came = section("How they came to the site")  # from Google, then her own link: never from herself
    assert sorted(re.findall(r"<tr><td>([a-z_ ]+)</td>", came)) == ["direct", "search"]
    assert "WhatsApp" not in came and "Alice" not in came and "alice" not in came
    times = re.findall(r"<time [^>]*>([^<]*)</time>", html)
    assert times and all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d( UTC)?", t) for t in times), times  # to the minute


def _label_form(inproc, analyst):
    page = inproc.get("/-/darksocial/influencer", params={"person": BOB_PERSON}, cookies=analyst)
    token = re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)
    csrf_cookie = page.cookies.get("ds_csrftoken")
    cookies = {**analyst, **({"ds_csrftoken": csrf_cookie} if csrf_cookie else {})}
    return {"person": BOB_PERSON, "name": "Robert Tables", "note": "runs the book club"}, token, cookies


def test_cascade_page_draws_the_people_tree(inproc, analyst):
    html = inproc.get("/-/darksocial/cascade", params={"share": SHARE_A}, cookies=analyst).text
    assert re.search(r"4 people\s*·\s*2 hops deep\s*·\s*structural virality 1\.67", html)
    nodes = re.findall(r'<tr class="ds-node" data-person="([^"]+)"><td>.*?</td>\s*<td>(.*?)</td><td>(.*?)</td>', html,
                       re.S)
    assert {person: (by, channel) for person, by, channel in nodes if person != ALICE_PERSON} == {
        BOB_PERSON: ("Alice Liddell", "WhatsApp"), CAROL_PERSON: ("Alice Liddell", "WhatsApp"),
        f"v:{DAN}": ("v:bobBBB…", "Telegram")}
    listing = inproc.get("/-/darksocial/cascade", cookies=analyst).text
    assert f"share={SHARE_A}" in listing


def test_display_names_sent_by_visitors_are_shown_as_text(inproc, analyst):
    pages = ["/-/darksocial/dashboard", f"/-/darksocial/influencer?person={ALICE_PERSON}",
             f"/-/darksocial/influencer?person={CAROL_PERSON}", f"/-/darksocial/cascade?share={SHARE_A}",
             f"/-/darksocial/story?url={STORY_A}", "/darksocial/top_influencers", "/darksocial/largest_cascades",
             "/darksocial/_ds_identities", "/darksocial/visits"]
    seen = 0
    for page in pages:
        html = inproc.get(page, cookies=analyst).text
        assert "<img src=x" not in html and 'onerror="alert(1)">' not in html, page
        seen += "&lt;img src=x onerror=" in html
    assert seen >= 1  # the name is shown, escaped (the cascade page's list of people)


def test_who_they_reached_shows_people_by_name(inproc, analyst):
    html = inproc.get("/-/darksocial/influencer", params={"person": ALICE_PERSON}, cookies=analyst).text
    reached = html[html.index("<h2>Who they reached</h2>"):].split("<h2>")[1]
    assert "Carol</a>" in reached and ">x:carol-1</a>" not in reached


def test_every_person_link_opens_a_page(inproc, analyst):
    links = set()
    for page in (f"/-/darksocial/influencer?person={ALICE_PERSON}", f"/-/darksocial/cascade?share={SHARE_A}"):
        html = inproc.get(page, cookies=analyst).text
        links |= {h.replace("&amp;", "&") for h in re.findall(r'href="(/-/darksocial/influencer\?person=[^"]+)"', html)}
    assert len(links) >= 4
    assert {link: inproc.get(link, cookies=analyst).status_code for link in sorted(links)} == {
        link: 200 for link in sorted(links)}


def test_story_page_signed_in_shows_the_people_and_cascades(inproc, analyst):
    html = inproc.get("/-/darksocial/story", params={"url": STORY_A}, cookies=analyst).text
    assert "Alice Liddell" in html and f"cascade?share={SHARE_A}" in html


def test_analyst_label_needs_csrf_and_survives_attribution(inproc, analyst, db_path):
    form, token, cookies = _label_form(inproc, analyst)
    refused = inproc.post("/-/darksocial/influencer", data=form, cookies=cookies)
    assert refused.status_code == 403
    anonymous = inproc.post("/-/darksocial/influencer", data={**form, "csrftoken": token},
                            cookies={k: v for k, v in cookies.items() if k != "ds_actor"})
    assert anonymous.status_code == 403
    assert "Robert Tables" not in inproc.get("/darksocial/top_influencers", cookies=analyst).text
    saved = inproc.post("/-/darksocial/influencer", data={**form, "csrftoken": token}, cookies=cookies)
    assert saved.status_code in (200, 302, 303), saved.text
    labels = inproc.get("/darksocial/person_labels.json", cookies=analyst, params={"_shape": "array"}).json()
    assert [(r["person"], r["name"], r["note"]) for r in labels] == [(BOB_PERSON, "Robert Tables",
                                                                     "runs the book club")]
    assert inproc.get("/darksocial/person_labels.json").status_code == 403
    rerun = _cli("attribute", str(db_path), "--full")
    assert rerun.returncode == 0, rerun.stderr
    for path in ("/darksocial/top_influencers", "/-/darksocial/dashboard",
                 f"/-/darksocial/influencer?person={ALICE_PERSON}"):  # Bob re-shared Alice's share
        assert "Robert Tables" in inproc.get(path, cookies=analyst).text, path


def test_analyst_label_appears_in_report_exports(inproc, analyst):
    form, token, cookies = _label_form(inproc, analyst)
    saved = inproc.post("/-/darksocial/influencer", data={**form, "csrftoken": token}, cookies=cookies)
    assert saved.status_code in (200, 302, 303), saved.text
    names = {r["person"]: r["name"] for r in report(inproc, analyst, "top_influencers")}
    assert names == {ALICE_PERSON: "Alice Liddell", BOB_PERSON: "Robert Tables"}


def test_a_story_title_is_the_imported_manifest_title(inproc, analyst, db_path, tmp_path):
    with sqlite3.connect(db_path) as conn:
        conn.execute("INSERT OR REPLACE INTO pages (site, url, title, description, date, imported) "
                     "VALUES ('blog', ?, 'Manifest Title A', '', '', '2026-01-01')", (STORY_A,))
    rerun = _cli("attribute", str(db_path), "--full")
    assert rerun.returncode == 0, rerun.stderr
    rows = {r["url"]: r["story"] for r in inproc.get("/darksocial/top_stories.json",
                                                     params={"_shape": "array", "site": "blog"}).json()}
    assert rows[STORY_A] == "Manifest Title A"
    page = inproc.get("/-/darksocial/story", params={"url": STORY_A})
    assert "Manifest Title A" in page.text and "Sent story-a" not in page.text


ANALYST_TABLES = ["visits", "shares", "influencers", "stories", "channels", "cascades", "cascade_people", "daily",
                  "story_daily"]


def test_every_analyst_table_and_column_is_described(inproc, analyst):
    tables = inproc.get("/-/metadata.json", cookies=analyst).json()["databases"]["darksocial"]["tables"]
    missing = []
    for table in ANALYST_TABLES:
        columns = inproc.get(f"/darksocial/{table}.json", cookies=analyst, params={"_size": "1"}).json()["columns"]
        described = tables.get(table, {}).get("columns", {})
        if not tables.get(table, {}).get("description"):
            missing.append(table)
        missing += [f"{table}.{c}" for c in columns if c != "rowid" and not described.get(c)]
    assert missing == []


def test_every_table_and_report_exports_for_analysts(inproc, analyst):
    statuses = {}
    for name in ANALYST_TABLES + PRIVATE_TABLES + PRIVATE_REPORTS + ["top_stories", "channel_mix"]:
        for ext in (".csv", ".json"):
            response = inproc.get(f"/darksocial/{name}{ext}", cookies=analyst,
                                  params={"influencer": {"person": ALICE_PERSON},
                                          "cascade_tree": {"share": SHARE_A}}.get(name))
            statuses[name + ext] = (response.status_code, response.headers["content-type"].split(";")[0])
    assert {k: v for k, v in statuses.items() if v[0] != 200 or v[1] not in ("text/plain", "text/csv",
                                                                            "application/json")} == {}


def test_find_yourself_visits_by_visitor_and_your_sharer_page(inproc, analyst):
    [visit] = inproc.get("/darksocial/visits.json", cookies=analyst,
                         params={"visitor": BOB, "_shape": "array"}).json()
    assert (visit["url"], visit["medium"], visit["channel"], visit["tracked"], visit["estimated"],
            visit["share_token"], visit["sharer"], visit["depth"]) == (STORY_A, "dark", "wa", 1, 0, SHARE_A,
                                                                      ALICE_PERSON, 1)
    [own] = [v for v in inproc.get("/darksocial/visits.json", cookies=analyst,
                                   params={"visitor": ALICE, "_shape": "array"}).json() if v["share_token"]]
    assert (own["tracked"], own["estimated"], own["click"], own["share_token"]) == (0, 0, 0, SHARE_A)
    [erin] = inproc.get("/darksocial/visits.json", cookies=analyst, params={"visitor": ERIN, "_shape": "array"}).json()
    assert (erin["tracked"], erin["estimated"], erin["medium"]) == (0, 1, "dark")
    page = inproc.get("/-/darksocial/influencer", params={"person": f"v:{BOB}"}, cookies=analyst)
    assert page.status_code == 200 and "<dt>Shares</dt><dd>1</dd>" in page.text


def test_cascades_table(inproc, analyst):
    [cascade] = inproc.get("/darksocial/cascades.json", cookies=analyst, params={"_shape": "array"}).json()
    assert (cascade["root"], cascade["size"], cascade["depth"], cascade["shares"], cascade["clicks"],
            round(cascade["structural_virality"], 4)) == (SHARE_A, 4, 2, 2, 3, round(20 / 12, 4))


def _build_big_cascade(path: Path, write_events) -> None:
    """One cascade of 161 people: a root sharer, 10 people who clicked and re-shared, 15 clicks on each of theirs."""
    db = store.open_db(path)
    store.register_site(db, "blog", [ORIGIN])
    seconds = iter(range(100000))

    def at() -> str:
        return store.utc_timestamp(D2 + dt.timedelta(seconds=next(seconds)))

    url = ORIGIN + "/big"
    events = [{"kind": "view", "visitor": "root00000000", "url": url, "token": "vR00000000", "ts": at()},
              {"kind": "share", "visitor": "root00000000", "url": url, "token": "sR00000000", "parent": "vR00000000",
               "channel": "wa", "ts": at()}]
    for i in range(10):
        events += [{"kind": "view", "visitor": f"mid{i:09d}", "url": url, "token": f"vM{i:08d}",
                    "in_token": "sR00000000", "in_channel": "wa", "ts": at()},
                   {"kind": "share", "visitor": f"mid{i:09d}", "url": url, "token": f"sM{i:08d}",
                    "parent": f"vM{i:08d}", "channel": "tg", "ts": at()}]
        events += [{"kind": "view", "visitor": f"leaf{i:02d}{j:06d}", "url": url, "token": f"vL{i:02d}{j:06d}",
                    "in_token": f"sM{i:08d}", "in_channel": "tg", "ts": at()} for j in range(15)]
    events += [{"kind": "view", "visitor": f"home{i:08d}", "url": ORIGIN + "/", "token": f"vHOME{i:05d}",
                "referrer_host": "www.google.com", "ts": at()} for i in range(5)]  # the home page: 5 visits
    write_events(path, events, site="blog")
    attribution.attribute(db)
    db.close()


def test_a_tree_of_more_than_150_people_is_drawn_from_the_top(inproc, tmp_path, event_writer):
    from reporting import server

    path = tmp_path / "darksocial.db"
    _build_big_cascade(path, event_writer)
    client = Client(server.make_datasette(path, attribute_every=None))
    try:
        signed_in = client.get(_login_link(path, 8001))
        cookies = {"ds_actor": signed_in.cookies["ds_actor"]}
        html = client.get("/-/darksocial/cascade", params={"share": "sR00000000"}, cookies=cookies).text
        assert re.search(r"161 people\s*·\s*2 hops deep", html)
        drawn = re.findall(r'<tr class="ds-node" data-person="([^"]+)"', html)
        assert len(drawn) == 150 and drawn[0] == "v:root00000000"
        marked = {int(n) for n in re.findall(r"\(\+(\d+)\)", html)}
        assert sum(int(n) for n in re.findall(r'"hidden": (\d+)', html)) == 161 - 150 and marked
        branch = re.search(r'"href": "(\?share=sR00000000[^"]*focus=[^"]+)"', html).group(1)
        branch = json.loads(f'"{branch}"')
        opened = client.get("/-/darksocial/cascade" + branch, cookies=cookies)
        assert opened.status_code == 200
        people = re.findall(r'<tr class="ds-node" data-person="([^"]+)"', opened.text)
        assert len(people) == 16 and people[0].startswith("v:mid") and all(p.startswith("v:leaf") for p in people[1:])
        # the dashboard's top stories list the home page apart
        dashboard = client.get("/-/darksocial/dashboard", cookies=cookies).text
        top = dashboard[dashboard.index("<h2>Top stories</h2>"):].split("</section>")[0]
        rows = re.findall(r'<tr><th scope="row"><a href="([^"]+)"', top)
        assert len(rows) == 1 and "%2Fbig" in rows[0]
        assert re.search(r"Home page:.*5 visits", top, re.S)
    finally:
        client.loop.call_soon_threadsafe(client.loop.stop)


# --- exports, caching -------------------------------------------------------------------------------------------

def test_report_exports_as_csv_and_json(inproc, analyst):
    response = inproc.get("/darksocial/top_influencers.csv", cookies=analyst, params={"_size": "max"})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.text)))
    alice = [r for r in rows if r["person"] == ALICE_PERSON]
    assert len(rows) == 2 and alice[0]["amplified_reach"] == "3" and alice[0]["clicks"] == "2"
    data = inproc.get("/darksocial/largest_cascades.json", cookies=analyst).json()
    assert data["rows"][0][data["columns"].index("size")] == 4


def test_table_exports_as_csv_and_json(inproc, analyst):
    rows = list(csv.DictReader(io.StringIO(
        inproc.get("/darksocial/visits.csv", cookies=analyst, params={"_size": "max"}).text)))
    assert len(rows) == 11
    shares = inproc.get("/darksocial/shares.json", cookies=analyst, params={"_shape": "array"}).json()
    assert sorted(s["token"] for s in shares if s.get("token")) == [SHARE_A, SHARE_B]


def test_signed_in_pages_are_not_cacheable_by_shared_caches(inproc, analyst):
    for path in ("/-/darksocial/dashboard", "/darksocial/visits.json", "/darksocial/top_influencers.csv",
                 f"/-/darksocial/influencer?person={ALICE_PERSON}"):
        cache = inproc.get(path, cookies=analyst).headers.get("cache-control", "")
        assert "private" in cache or "no-store" in cache, (path, cache)


# --- over real HTTP: a `darksocial serve` child process -----------------------------------------------------------

def test_serve_prints_a_one_time_link_that_signs_in_once(live):
    base, path, _ = live
    with httpx.Client(base_url=base) as client:
        first = client.get(path)
        assert first.status_code == 302 and "ds_actor" in first.cookies
        assert client.get("/-/actor.json").json() == {"actor": {"id": "analyst"}}
        assert client.get("/darksocial/visits.json").status_code == 200
    again = httpx.get(base + path)
    assert again.status_code == 403 and "ds_actor" not in again.cookies


def test_serve_a_link_used_at_once_by_many_requests_signs_in_once(live, db_path):
    base, _, _ = live
    path = _login_link(db_path, int(base.rsplit(":", 1)[1]))

    async def race():
        async with httpx.AsyncClient(base_url=base) as client:
            return await asyncio.gather(*[client.get(path) for _ in range(8)])

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # Playwright's sync API may hold this thread's loop
        statuses = sorted(r.status_code for r in pool.submit(asyncio.run, race()).result())
    assert statuses == [302] + [403] * 7


def test_serve_logs_malformed_requests_once_not_at_the_rate_they_come(live):
    base, _, out = live
    host, port = urlsplit(base).hostname, urlsplit(base).port
    for n in range(30):  # each a request uvicorn cannot parse: its own 400, and a warning
        with socket.create_connection((host, port), timeout=5) as conn:
            conn.sendall(b"POST /-/darksocial/collect HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                         b"Content-Length: 2\r\n\r\nab")
            assert conn.recv(200).startswith(b"HTTP/1.1 400"), n
    assert httpx.get(base + "/-/darksocial/darksocial.css").status_code == 200  # and the server goes on
    assert out.read_text().count("Invalid HTTP request received.") == 1


def test_serve_anonymous_users_are_refused_private_pages_over_http(live):
    base, _, _ = live
    with httpx.Client(base_url=base) as client:
        refused = {path: client.get(path).status_code for path in PRIVATE_PATHS}
        opened = {path: client.get(path).status_code for path in OPEN_PATHS}
    assert {p: s for p, s in refused.items() if s != 403} == {}
    assert {p: s for p, s in opened.items() if s != 200} == {}


def test_serve_refused_page_names_the_login_page_when_a_password_is_set(live):
    base, _, out = live
    assert f"{base}/-/login" in out.read_text()
    response = httpx.get(base + "/darksocial/events")
    assert response.status_code == 403 and "/-/login" in response.text


def test_serve_password_tool_is_served_on_loopback(live):
    base, _, _ = live
    assert httpx.get(base + "/-/password-tool").status_code == 200


def test_serve_report_json_and_csv_over_http(live, live_analyst):
    base, _, _ = live
    with httpx.Client(base_url=base, cookies=live_analyst) as client:
        [head] = client.get("/darksocial/headline.json", params={"_shape": "array", "site": "blog"}).json()
        assert (head["visits"], head["shares"], head["clicks"], head["k_factor"]) == (9, 2, 3, 0.33)
        text = client.get("/darksocial/top_influencers.csv").text
        assert text.splitlines()[0].startswith("person,") and ALICE_PERSON in text
        cache = client.get("/-/darksocial/dashboard").headers.get("cache-control", "")
        assert "private" in cache or "no-store" in cache


ASSET_RE = re.compile(r"<(script|link|img|iframe|source|video|audio|embed|object|image|use)\b([^>]*)>", re.I)
ATTR_RE = re.compile(r"\s(src|href|data|srcset|xlink:href)\s*=\s*[\"']([^\"']+)[\"']", re.I)
CSS_URL_RE = re.compile(r"(?:url\(\s*[\"']?|@import\s+[\"'])([^\"')]+)", re.I)


def _external(url: str, base: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.netloc) and f"{parts.scheme}://{parts.netloc}".rstrip(":") != base and parts.netloc != \
        urlsplit(base).netloc


def test_serve_pages_make_no_third_party_request(live, live_analyst):
    base, _, _ = live
    pages = ["/", "/-/login", "/-/darksocial/dashboard", f"/-/darksocial/influencer?person={ALICE_PERSON}",
             f"/-/darksocial/story?url={STORY_A}", "/-/darksocial/cascade", f"/-/darksocial/cascade?share={SHARE_A}",
             "/darksocial/top_stories", "/darksocial/top_influencers", "/darksocial/visits", "/darksocial"]
    external, assets = [], set()
    with httpx.Client(base_url=base, cookies=live_analyst) as client:
        for page in pages:
            response = client.get(page)
            assert response.status_code == 200, page
            for tag, attrs in ASSET_RE.findall(response.text):
                if tag.lower() == "link" and not re.search(r"rel=[\"']?[^\"'>]*(stylesheet|preload|icon)", attrs):
                    continue  # a link to another page is no request
                for _name, url in ATTR_RE.findall(" " + attrs):
                    if _external(url, base):
                        external.append((page, url))
                    elif url.split("?")[0].endswith((".css", ".js")):
                        assets.add(url)
            external += [(page, u) for u in CSS_URL_RE.findall(response.text) if _external(u, base)]
        assert {"/-/darksocial/static/darksocial-reports.css", "/-/darksocial/static/darksocial-time.js"} <= {
            a.split("?")[0] for a in assets} and any(a.startswith("/-/static/app.css") for a in assets), assets
        for asset in sorted(assets):
            body = client.get(asset)
            assert body.status_code == 200, asset
            if asset.split("?")[0].endswith(".css"):
                external += [(asset, u) for u in CSS_URL_RE.findall(body.text) if _external(u, base)]
    assert external == []


def test_serve_login_rate_limit_after_five_failures(live):
    base, _, _ = live
    with httpx.Client(base_url=base) as client:
        token = client.get("/-/login").cookies["ds_csrftoken"]
        statuses = [client.post("/-/login", data={"username": "analyst", "password": f"wrong {i}",
                                                  "csrftoken": token}).status_code for i in range(5)]
        assert statuses == [200] * 5
        started = time.monotonic()
        limited = client.post("/-/login", data={"username": "analyst", "password": PASSWORD, "csrftoken": token})
        assert limited.status_code == 429 and "ds_actor" not in limited.cookies
        assert time.monotonic() - started >= 0.9  # each 429 answered after a second
        assert int(limited.headers.get("retry-after", "0")) in range(1, 61)
        # a limit per client: another visitor behind the local proxy still signs in
        other = client.post("/-/login", data={"username": "analyst", "password": PASSWORD, "csrftoken": token},
                            headers={"X-Forwarded-For": "203.0.113.7"})
        assert other.status_code == 302


def test_serve_collector_is_public(live):
    base, _, _ = live
    event = {"k": "view", "s": "blog", "v": "newcomer1234", "u": STORY_B + "?utm_source=x", "t": "vNEWxxxxxx"}
    identify = {"k": "identify", "s": "blog", "v": "newcomer1234", "x": "new-1", "n": HOSTILE_NAME}
    response = httpx.post(base + "/-/darksocial/collect", content=json.dumps([event, identify]),
                          headers={"Content-Type": "text/plain", "Origin": ORIGIN,
                                   "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like "
                                                 "Gecko) Chrome/124.0.0.0 Safari/537.36"})
    assert response.status_code == 204, response.text
    refused = httpx.post(base + "/-/darksocial/collect", content=json.dumps({**event, "s": "nosuch"}),
                         headers={"Content-Type": "text/plain", "Origin": ORIGIN})
    assert refused.status_code == 403 and refused.text.startswith("s:")


CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"


def _beacon(base: str, visitor: str, token: str, incoming: str) -> int:
    event = {"k": "view", "s": "blog", "v": visitor, "u": STORY_B, "t": token, "i": incoming}
    return httpx.post(base + "/-/darksocial/collect", content=json.dumps(event),
                      headers={"Content-Type": "text/plain", "Origin": ORIGIN, "User-Agent": CHROME}).status_code


def test_serve_ambassador_link_credits_by_name_until_revoked(live, live_analyst, db_path):
    """Last: it adds visits and runs attribution on the live server's database."""
    base, _, _ = live
    created = _cli("link", "create", "--name", "Rosa Diaz", "--url", STORY_B, "--site", "blog", "--channel", "sms",
                   str(db_path))
    assert created.returncode == 0, created.stderr
    token = re.search(r"#ds=([A-Za-z0-9]{10})\.sms", created.stdout).group(1)
    assert _beacon(base, "rosafan00001", "vRF1xxxxxx", f"{token}.sms") == 204
    assert _cli("attribute", str(db_path)).returncode == 0
    with httpx.Client(base_url=base, cookies=live_analyst) as client:
        rows = client.get("/darksocial/top_influencers.json", params={"_shape": "array"}).json()
        [rosa] = [r for r in rows if r["name"] == "Rosa Diaz"]
        assert (rosa["shares"], rosa["clicks"], rosa["reach"]) == (1, 1, 1)
        page = client.get("/-/darksocial/influencer", params={"person": rosa["person"]})
        assert page.status_code == 200 and "Rosa Diaz" in page.text

        revoked = _cli("link", "revoke", token, str(db_path))
        assert revoked.returncode == 0, revoked.stderr
        assert "revoked" in _cli("link", "list", str(db_path)).stdout
        # "From then on (within the collector's few-second cache) a visit through the link is stored without its
        # token: it keeps the link's channel, if it has one, and credits nobody."
        deadline, n, stored = time.monotonic() + 20, 0, []
        while time.monotonic() < deadline:
            n += 1
            assert _beacon(base, f"late{n:08d}", f"vLT{n:07d}", f"{token}.sms") == 204
            stored = client.get("/darksocial.json", params={
                "sql": "select in_token, in_channel from events where visitor = :v", "v": f"late{n:08d}",
                "_shape": "array"}).json()
            if stored and stored[0]["in_token"] is None:
                break
            time.sleep(0.5)
        assert stored == [{"in_token": None, "in_channel": "sms"}]
        assert _cli("attribute", str(db_path)).returncode == 0
        [visit] = client.get("/darksocial/visits.json", params={"visitor": f"late{n:08d}", "_shape": "array"}).json()
        assert (visit["sharer"], visit["share_token"], visit["channel"]) == (None, None, "sms")
        # the visits that came while the cache still held the link keep their credit; none after
        [cached] = client.get("/darksocial.json", params={
            "sql": "select count(*) as n from events where visitor like 'late%' and in_token is not null",
            "_shape": "array"}).json()
        assert cached["n"] == n - 1
        rows = client.get("/darksocial/top_influencers.json", params={"_shape": "array"}).json()
        assert [(r["clicks"], r["reach"]) for r in rows if r["name"] == "Rosa Diaz"] == [(n, n)]


def test_serve_on_an_ipv6_address_prints_urls_that_open(tmp_path):
    # "http://::1:8887/" is no URL: a browser or curl reads "::1:8887" as the host.
    out = tmp_path / "stderr"
    with open(out, "w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "darksocial.cli", "serve", str(tmp_path / "darksocial.db"),
                                 "--host", "::1", "--port", "0", "--attribute-every", "0"], stdout=stderr,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "analysts sign in" not in out.read_text() and "another link" not in out.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, out.read_text()
            time.sleep(0.1)
        time.sleep(0.2)  # the hint's lines are written together
        printed = out.read_text()
        urls = re.findall(r"https?://\S+", printed)
        assert urls and all(url.startswith("http://[::1]:") for url in urls), printed
        base = re.search(r"reports at (\S+)/ ", printed)[1]
        assert httpx.get(base + "/-/darksocial/darksocial.css").status_code == 200
    finally:
        stop(proc)
