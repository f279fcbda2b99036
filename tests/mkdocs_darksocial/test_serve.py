"""`mkdocs serve` serves the tracker files too (they are build files, not copied in afterwards)."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
from bs4 import BeautifulSoup

from darksocial import inject

STARTUP_SECONDS = 60


def wait_for(url: str, process: subprocess.Popen) -> httpx.Response:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"mkdocs serve exited early:\n{process.stderr.read()}")
        try:
            return httpx.get(url, timeout=5)
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"mkdocs serve did not answer {url} within {STARTUP_SECONDS}s")


def test_mkdocs_serve_serves_the_tracker_and_pages_load_it(tmp_path, sites, free_port):
    sites.write(tmp_path, plugin={"collector": sites.COLLECTOR, "site": "journal"})
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mkdocs", "serve", "--dev-addr", f"127.0.0.1:{port}", "--no-livereload"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}/journal/"  # serve keeps site_url's path
        script = wait_for(base + "assets/darksocial/darksocial.js", process)
        assert script.status_code == 200
        assert script.content == (inject.STATIC_DIR / "darksocial.js").read_bytes()
        assert "javascript" in script.headers["content-type"]
        css = httpx.get(base + "assets/darksocial/darksocial.css", timeout=5)
        assert css.status_code == 200 and css.content == (inject.STATIC_DIR / "darksocial.css").read_bytes()
        page = httpx.get(base + "stories/first/", timeout=5)
        soup = BeautifulSoup(page.text, "html.parser")
        src = soup.select_one("script[data-darksocial]")["src"]
        assert httpx.get(httpx.URL(base + "stories/first/").join(src), timeout=5).content == script.content
        assert len(soup.select("nav.ds-bar")) == 1
    finally:
        process.terminate()
        process.wait(timeout=20)
