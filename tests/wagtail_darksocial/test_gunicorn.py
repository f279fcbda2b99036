"""Durability under several worker processes: the demo project under gunicorn with 4 workers, hammered by
concurrent beacons; every acknowledged (204) event is stored exactly once."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from django.db import connection

DEMO = Path(__file__).parents[2] / "demo_site" / "wagtail"
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
REQUESTS = 200


@pytest.fixture
def gunicorn(db, tmp_path, free_port):
    """The demo project served by gunicorn (4 sync workers) on a copy of the migrated test database."""
    with sqlite3.connect(connection.settings_dict["NAME"]) as source, sqlite3.connect(tmp_path / "db.sqlite3") as copy:
        source.backup(copy)
    port = free_port()
    env = {**os.environ, "DEMO_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "demo_project.settings"}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "demo_project.wsgi:application", "--workers", "4",
         "--bind", f"127.0.0.1:{port}", "--chdir", str(DEMO), "--log-level", "warning"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/darksocial/darksocial.js", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("gunicorn did not start: " + process.stdout.read().decode(errors="replace"))
            time.sleep(0.2)
        yield base, tmp_path / "darksocial.db"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_every_acknowledged_event_is_stored_exactly_once(gunicorn):
    base, darksocial_db = gunicorn

    def send(i: int) -> tuple[int, int]:
        events = [{"k": "view", "s": "localhost", "u": f"http://localhost:8000/harbour-lights/?n={i}",
                   "t": f"G{i:05d}{j:04d}", "v": f"visitor{i:05d}"} for j in range(1 + i % 3)]
        response = httpx.post(base + "/darksocial/collect", content=json.dumps(events).encode(), timeout=60,
                              headers={"Origin": "http://localhost:8000", "User-Agent": USER_AGENT,
                                       "Content-Type": "text/plain;charset=UTF-8"})
        return response.status_code, len(events)

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(send, range(REQUESTS)))
    acknowledged = sum(n for status, n in answers if status == 204)
    assert {status for status, _ in answers} == {204}, answers
    with sqlite3.connect(darksocial_db) as conn:
        rows, distinct = conn.execute("SELECT count(*), count(DISTINCT token) FROM events").fetchone()
    assert rows == distinct == acknowledged == sum(1 + i % 3 for i in range(REQUESTS))
