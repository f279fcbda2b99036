"""Many clients at once, and a SIGKILL mid-stream: every acknowledged event is in the database."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading

import httpx
import pytest

from darksocial import store
from reporting import collect, server

ORIGIN = "https://example.com"
HEADERS = {"origin": ORIGIN, "content-type": "text/plain",
           "user-agent": "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"}
CLIENTS, EVENTS_EACH = 20, 50


def new_db(path):
    db = store.open_db(path)
    store.register_site(db, "blog", [ORIGIN])
    db.close()


def event(client: int, n: int) -> bytes:
    token = f"T{client:03d}{n:06d}"
    return json.dumps({"k": "view", "s": "blog", "v": f"visitor{client:05d}", "u": f"{ORIGIN}/p/{n}",
                       "t": token}).encode()


def tokens_in(path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT token FROM events")]


def test_many_clients_at_once_every_acknowledged_event_is_stored_once(tmp_path, free_port):
    path = tmp_path / "busy.db"
    new_db(path)
    start = threading.Barrier(CLIENTS)
    acks = [0] * CLIENTS

    def client(index: int, url: str) -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            start.wait()
            for n in range(EVENTS_EACH):
                response = http.post("/-/darksocial/collect", content=event(index, n), headers=HEADERS)
                acks[index] += response.status_code == 204

    with server.running(server.make_datasette(path, attribute_every=None), port=free_port()) as url:
        threads = [threading.Thread(target=client, args=(i, url)) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        writer = collect._collectors[path.resolve()].writer
        stored = tokens_in(path)
        assert sum(acks) == CLIENTS * EVENTS_EACH
        assert len(stored) == sum(acks) == len(set(stored))
        assert writer.batches < sum(acks)  # requests that arrived together shared a transaction


def test_an_acknowledged_event_survives_sigkill(tmp_path, free_port, wait_until_serving):
    path = tmp_path / "killed.db"
    new_db(path)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "darksocial.cli", "serve", str(path), "--port", str(port), "--attribute-every", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, proc)
        acked: list[set[str]] = [set() for _ in range(8)]
        sent = [0] * 8
        enough = threading.Event()

        def client(index: int) -> None:
            with httpx.Client(base_url=url, timeout=30) as http:
                for n in range(100_000):
                    sent[index] += 1
                    try:
                        response = http.post("/-/darksocial/collect", content=event(index, n), headers=HEADERS)
                    except httpx.TransportError:
                        return  # the server is gone
                    if response.status_code == 204:
                        acked[index].add(f"T{index:03d}{n:06d}")
                    if sum(map(len, acked)) >= 400:
                        enough.set()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        assert enough.wait(120), "the server acknowledged too few events"
        os.kill(proc.pid, signal.SIGKILL)
        for thread in threads:
            thread.join(60)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL

    store.open_db(path).close()  # reopen: recovers the WAL like any later reader
    stored = set(tokens_in(path))
    every_ack = set().union(*acked)
    assert every_ack <= stored  # nothing acknowledged is lost
    # The only rows beyond the acknowledged ones are requests in flight at the kill (committed, answer lost).
    assert len(stored - every_ack) <= len(threads)
    assert len(stored) <= sum(sent)


@pytest.fixture(autouse=True)
def _no_leaked_collectors():
    yield
    for path in [p for p in collect._collectors if p.name in ("busy.db", "killed.db")]:
        collect._collectors.pop(path).close()
