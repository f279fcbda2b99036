"""Fixtures shared by the whole suite: a real headless Chromium and local HTTP servers."""

from __future__ import annotations

import shutil
import socket

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


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        # A missing browser is a failure, never a skip: `make test` installs Debian's chromium.
        pytest.fail("Debian's chromium is not installed: run `make browser` (apt-get install chromium)")
    return path


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def free_port():
    """A function returning a free loopback port (a fixture, because test modules cannot import conftest)."""
    return _free_loopback_port


@pytest.fixture(scope="session")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright_instance):
    """Real headless Chromium (Debian's) driven by Playwright; each launch gets a fresh temporary profile."""
    browser = playwright_instance.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS)
    yield browser
    browser.close()
