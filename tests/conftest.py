"""Fixtures shared by the whole suite: a real headless Chromium, local HTTP servers and pressing a share button."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import socket
import sqlite3
import sys
import time
from urllib.parse import parse_qs, urlsplit

import pytest

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHARE_SERVICES = ("wa.me", "t.me")  # the share buttons the browser tests press
LOCAL_HOSTS = ("localhost", "127.0.0.1")


# The reporting tests build their traffic around "today" (UTC) when they are collected, and the reports read the
# server's today: a run that crosses midnight UTC would compare figures of two different windows. A run that would
# start this close to midnight waits for it (the whole suite takes under 15 minutes here).
MIDNIGHT_MARGIN = dt.timedelta(minutes=20)


def pytest_configure(config):
    now = dt.datetime.now(dt.timezone.utc)
    midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), dt.timezone.utc)
    if midnight - now < MIDNIGHT_MARGIN and not os.environ.get("DARKSOCIAL_TESTS_ANY_TIME"):
        wait = (midnight - now).total_seconds() + 5
        print(f"waiting {wait:.0f} s for midnight UTC: the reports' test windows are dated from today (set "
              "DARKSOCIAL_TESTS_ANY_TIME=1 to run now)", file=sys.stderr, flush=True)
        time.sleep(wait)


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        # A missing browser is a failure, never a skip: `make test` installs Debian's chromium.
        pytest.fail("Debian's chromium is not installed: run `make browser` (apt-get install chromium)")
    return path


_HANDED_OUT: set[int] = set()


def _free_loopback_port() -> int:
    """A port free now, and never one handed out before in this session: a test often takes two (a site and its
    collector) before either server binds its own, and the kernel, picking at random, may return a port it has just
    freed (about 1 time in 15,000 per pair here), which would leave both servers on one port."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


@pytest.fixture(scope="session")
def free_port():
    """A function returning a free loopback port (a fixture, because test modules cannot import conftest)."""
    return _free_loopback_port


@contextlib.contextmanager
def _write_lock_held(path):
    """Another connection holds the database's write lock (as an attribution run applying its result)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
        conn.execute("ROLLBACK")
    finally:
        conn.close()


@pytest.fixture(scope="session")
def write_lock_held():
    """A context manager taking the write lock of a database file in another connection for its block."""
    return _write_lock_held


@pytest.fixture(scope="session")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


def _launch(playwright_instance, **options):
    return playwright_instance.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS,
                                               **options)


@pytest.fixture(scope="session")
def browser(playwright_instance):
    """Real headless Chromium (Debian's) driven by Playwright; each launch gets a fresh temporary profile."""
    browser = _launch(playwright_instance)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def browser_with_back_forward_cache(playwright_instance):
    """Chromium as people run it: Playwright turns the back/forward cache off by default, browsers keep it on."""
    browser = _launch(playwright_instance, ignore_default_args=["--disable-back-forward-cache"])
    yield browser
    browser.close()


@pytest.fixture
def unattached_chromium(tmp_path):
    """Open a URL in headless Chromium with no DevTools client attached: under automation Chromium turns off some
    of what browsers do (prerendering: PrerenderingDisabledByDevTools, even for Playwright). ``open(url, done,
    timeout)`` runs it until ``done()`` holds or ``timeout`` seconds pass, then closes it."""
    import subprocess
    import time

    def open_(url: str, done, timeout: float = 10.0) -> None:
        process = subprocess.Popen([chromium_path(), "--headless=new", *CHROMIUM_FLAGS,
                                    f"--user-data-dir={tmp_path / 'profile'}", url],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + timeout
            while not done() and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    return open_


def _stub_share_service(route):
    if urlsplit(route.request.url).hostname in SHARE_SERVICES:
        route.fulfill(status=200, content_type="text/html", body="<title>share service stub</title>")
    else:
        route.abort()


def _share_via(page, code: str) -> str:
    """Press the share button for ``code``; return the page URL the share service received.

    The share service's page is answered locally. Requests are intercepted only while the popup opens: with
    interception on, Chromium does not reliably deliver the tracker's cross-origin beacons.
    """
    elsewhere = lambda url: urlsplit(url).hostname not in LOCAL_HOSTS  # noqa: E731
    page.context.route(elsewhere, _stub_share_service)
    try:
        with page.context.expect_page() as popup_info:
            page.click(f"nav.ds-bar [data-ds={code}]")
        popup = popup_info.value
        popup.wait_for_load_state()
        url = popup.url
        popup.close()
    finally:
        page.context.unroute(elsewhere, _stub_share_service)
    assert urlsplit(url).hostname in SHARE_SERVICES, url
    query = parse_qs(urlsplit(url).query)
    return query["url"][0] if code == "tg" else query["text"][0].split()[-1]


@pytest.fixture(scope="session")
def share_via():
    """``share_via(page, code)``: press a share-bar button in a browser page and return the link it shared."""
    return _share_via
