"""Fixtures for tests/reporting: a darksocial database built from hand-made events by the real store and
attribution, Datasette over it (in process and over real HTTP), and analyst sign-in.

The story the events tell (three days ago, UTC, site "blog"; every number the tests expect follows from it):

* Alice arrives from Google on /story-a, is identified as "Alice Liddell" (person x:alice-1) and shares the page
  on WhatsApp (share sA). Bob and Carol click it. Alice opens her own link (not a click).
* Bob re-shares on Telegram (sB): Dan clicks and signs up (goal). Carol re-shares on X (sC): Gina clicks, with
  t.co as referrer.
* Erin lands on /story-b with no referrer, on her first view (estimated dark social).
* Jane is an ambassador: her email link (lJ) brings Ivy to /story-b.
* Sixty days ago Hank came to /story-b from Google (outside the default 30-day window).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import threading
import time

import httpx
import pytest
from datasette_auth_passwords.utils import hash_password

from darksocial import attribution, store

ORIGIN = "https://blog.example"
SITE = "blog"
STORY_A = ORIGIN + "/story-a"
STORY_B = ORIGIN + "/story-b"
PASSWORD = "correct horse battery staple"
ALICE, BOB, CAROL, DAN, ERIN, GINA, IVY, HANK = (
    "aliceAAAAAAA", "bobBBBBBBBBB", "carolCCCCCCC", "danDDDDDDDDD", "erinEEEEEEEE", "ginaGGGGGGGG",
    "ivyIIIIIIIII", "hankHHHHHHHH",
)
SHARE_A, SHARE_B, SHARE_C, LINK_J = "sAAAAAAAAA", "sBBBBBBBBB", "sCCCCCCCCC", "lJJJJJJJJJ"
ALICE_PERSON, JANE_PERSON = "x:alice-1", "a:Jane"
BOB_PERSON, CAROL_PERSON = f"v:{BOB}", f"v:{CAROL}"

DAY = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3)).replace(hour=10, minute=0, second=0, microsecond=0)
OLD_DAY = DAY - dt.timedelta(days=57)


def _ts(when: dt.datetime) -> str:
    return store.utc_timestamp(when)


def scenario_events() -> list[dict]:
    clock = iter(range(1, 1000))

    def at() -> str:
        return _ts(DAY + dt.timedelta(minutes=next(clock)))

    def view(visitor, path, token, *, came_with=None, channel=None, referrer=None, ts=None):
        return {"kind": "view", "visitor": visitor, "url": ORIGIN + path, "token": token, "in_token": came_with,
                "in_channel": channel, "referrer_host": referrer, "title": f"Story {path[-1].upper()}",
                "ts": ts or at()}

    def share(visitor, path, token, parent, channel):
        return {"kind": "share", "visitor": visitor, "url": ORIGIN + path, "token": token, "parent": parent,
                "channel": channel, "ts": at()}

    return [
        view(ALICE, "/story-a", "vA1xxxxxxx", referrer="www.google.com"),
        {"kind": "identify", "visitor": ALICE, "external_id": "alice-1", "name": "Alice Liddell", "ts": at()},
        share(ALICE, "/story-a", SHARE_A, "vA1xxxxxxx", "wa"),
        view(BOB, "/story-a", "vB1xxxxxxx", came_with=SHARE_A, channel="wa"),
        view(CAROL, "/story-a", "vC1xxxxxxx", came_with=SHARE_A, channel="wa"),
        view(ALICE, "/story-a", "vA2xxxxxxx", came_with=SHARE_A, channel="wa"),
        share(BOB, "/story-a", SHARE_B, "vB1xxxxxxx", "tg"),
        view(DAN, "/story-a", "vD1xxxxxxx", came_with=SHARE_B, channel="tg"),
        {"kind": "goal", "visitor": DAN, "token": "vD1xxxxxxx", "url": STORY_A, "goal": "signup", "ts": at()},
        share(CAROL, "/story-a", SHARE_C, "vC1xxxxxxx", "x"),
        view(GINA, "/story-a", "vG1xxxxxxx", came_with=SHARE_C, channel="x", referrer="t.co"),
        view(ERIN, "/story-b", "vE1xxxxxxx"),
        view(IVY, "/story-b", "vI1xxxxxxx", came_with=LINK_J, channel="em"),
        view(HANK, "/story-b", "vH1xxxxxxx", referrer="www.google.com", ts=_ts(OLD_DAY)),
    ]


def write_events(path, events, site: str | None = None) -> None:
    """Store ``events`` (dicts keyed by events' columns; ``site`` where they name none) through the store's writer."""
    defaults = {"site": site} if site else {}
    writer = store.Writer(path)
    try:
        writer.write_sync([tuple({**defaults, **event}.get(c) for c in store.EVENT_COLUMNS) for event in events])
    finally:
        writer.close()


@pytest.fixture(scope="session")
def event_writer():
    """:func:`write_events`, for test modules (which cannot import conftest)."""
    return write_events


def build_database(path) -> None:
    """Write the scenario's events through the store's writer, the ambassador link, then run attribution."""
    db = store.open_db(path)
    store.register_site(db, SITE, [ORIGIN])
    db["links"].insert({"token": LINK_J, "site": SITE, "name": "Jane", "url": STORY_B, "channel": "em",
                        "created": _ts(DAY)})
    write_events(path, scenario_events(), site=SITE)
    attribution.attribute(db)
    db.close()


@pytest.fixture(scope="session")
def scenario_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("reporting") / "darksocial.db"
    build_database(path)
    return path


@pytest.fixture(scope="session")
def password_hash():
    return hash_password(PASSWORD, iterations=1000)  # few iterations: the tests sign in many times


@pytest.fixture(scope="session")
def analyst_env(password_hash):
    """DARKSOCIAL_ANALYST_PASSWORD_HASH set for the whole session, as an operator would export it."""
    from reporting import auth

    previous = os.environ.get(auth.PASSWORD_HASH_ENV)
    os.environ[auth.PASSWORD_HASH_ENV] = password_hash
    yield password_hash
    if previous is None:
        os.environ.pop(auth.PASSWORD_HASH_ENV, None)
    else:
        os.environ[auth.PASSWORD_HASH_ENV] = previous


@pytest.fixture(scope="session")
def datasette(scenario_db, analyst_env):
    from reporting import server

    return server.make_datasette(scenario_db, attribute_every=None)


class InProcess:
    """Synchronous requests through ``datasette.client`` (no network), anonymous or signed in as the analyst."""

    def __init__(self, ds):
        self.ds = ds
        # Its own loop in its own thread: Playwright's sync API keeps a loop running in the test thread.
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.analyst = self._run(self._sign_in())

    def _run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    async def _sign_in(self) -> dict:
        page = await self.ds.client.get("/-/login")
        csrftoken = page.cookies["ds_csrftoken"]
        response = await self.ds.client.post(
            "/-/login", data={"username": "analyst", "password": PASSWORD, "csrftoken": csrftoken},
            cookies={"ds_csrftoken": csrftoken},
        )
        assert response.status_code == 302, response.text
        return {"ds_actor": response.cookies["ds_actor"]}

    def get(self, path: str, *, signed_in: bool = False, **params) -> httpx.Response:
        cookies = self.analyst if signed_in else None
        return self._run(self.ds.client.get(path, params=params or None, cookies=cookies))

    def report(self, name: str, **params) -> list[dict]:
        response = self.get(f"/darksocial/{name}.json", signed_in=True, _shape="array", **params)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="session")
def inproc(datasette):
    client = InProcess(datasette)
    yield client
    client.loop.call_soon_threadsafe(client.loop.stop)


@pytest.fixture
def inproc_for(analyst_env):
    """A factory: :class:`InProcess` over another database, for tests that need events of their own."""
    from reporting import server

    clients = []

    def make(path) -> InProcess:
        clients.append(InProcess(server.make_datasette(path, attribute_every=None)))
        return clients[-1]

    yield make
    for client in clients:
        client.loop.call_soon_threadsafe(client.loop.stop)


@pytest.fixture(scope="session")
def scenario():
    """The scenario's names and dates (see the module docstring)."""
    return sys.modules[__name__]


def _wait_until_serving(url: str, proc: subprocess.Popen) -> None:
    """Return once the ``darksocial serve`` child ``proc`` answers at ``url``; fail if it exits or takes a minute.
    Its stderr, when piped, is the failure message."""
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/-/darksocial/darksocial.css").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "darksocial serve did not start"
        assert time.monotonic() < deadline, "darksocial serve did not start"
        time.sleep(0.1)


@pytest.fixture(scope="session")
def wait_until_serving():
    """A function waiting for a ``darksocial serve`` child process to answer (a fixture: see ``free_port``)."""
    return _wait_until_serving


@pytest.fixture(scope="module")
def live_server(datasette, free_port):
    """The reporting server over real HTTP (uvicorn) on a free loopback port; yields its base URL."""
    from reporting import server

    with server.running(datasette, port=free_port()) as url:
        yield url


@pytest.fixture(scope="module")
def analyst_cookies(live_server):
    """Cookies of an analyst signed in over real HTTP."""
    with httpx.Client(base_url=live_server) as client:
        page = client.get("/-/login")
        token = page.cookies["ds_csrftoken"]
        response = client.post("/-/login", data={"username": "analyst", "password": PASSWORD, "csrftoken": token})
        assert response.status_code == 302, response.text
        return {"ds_actor": response.cookies["ds_actor"]}


@pytest.fixture(autouse=True)
def _live_server_helper():
    """Shadows pytest-django's autouse helper of the same name, which would take our ``live_server`` (Datasette under
    uvicorn, not Django) for its own and skip every test using it for want of Django settings."""
    yield
