"""Many clients at once, and a SIGKILL mid-stream: every acknowledged event is in the database."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

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


def serve_in_child(path, port: int) -> tuple[subprocess.Popen, str]:
    """``darksocial serve`` in a process of its own (to be killed), without periodic attribution."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "darksocial.cli", "serve", str(path), "--port", str(port), "--attribute-every", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    return proc, f"http://127.0.0.1:{port}"


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
    proc, url = serve_in_child(path, free_port())
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


def test_acknowledgements_do_not_wait_for_a_run_holding_the_write_lock(tmp_path, free_port, write_lock_held):
    path = tmp_path / "busy.db"
    new_db(path)
    with server.running(server.make_datasette(path, attribute_every=None), port=free_port()) as url:
        with httpx.Client(base_url=url, timeout=10) as http:
            http.post("/-/darksocial/collect", content=event(0, 0), headers=HEADERS)  # the collector is up
            with write_lock_held(path):
                # The lock is held until every answer is in: an acknowledgement that waited for it would time out.
                statuses = [http.post("/-/darksocial/collect", content=event(1, n), headers=HEADERS).status_code
                            for n in range(20)]
                assert tokens_in(path) == ["T000000000"]  # nothing could be written into events meanwhile
            assert statuses == [204] * 20
            writer = collect._collectors[path.resolve()].writer
            assert writer.spilled == 20
            expected = {"T000000000", *(f"T001{n:06d}" for n in range(20))}

            def left_in_inbox() -> int:
                with sqlite3.connect(str(path) + "-inbox") as inbox:
                    return inbox.execute("SELECT count(*) FROM inbox").fetchone()[0]

            # The writer moves them as soon as the lock is free, new events or not, then deletes them from the inbox
            # (after the commit that moved them: a moment in which the test may look).
            for _ in range(200):
                if len(tokens_in(path)) == len(expected) and not left_in_inbox():
                    break
                time.sleep(0.05)
            stored = tokens_in(path)
            assert sorted(stored) == sorted(expected)  # each once
            assert left_in_inbox() == 0


def test_events_a_killed_server_left_in_the_inbox_are_moved_by_the_next_opener(tmp_path, free_port,
                                                                               wait_until_serving, write_lock_held):
    path = tmp_path / "killed.db"
    new_db(path)
    proc, url = serve_in_child(path, free_port())
    try:
        wait_until_serving(url, proc)
        with write_lock_held(path):
            with httpx.Client(base_url=url, timeout=10) as http:
                statuses = [http.post("/-/darksocial/collect", content=event(2, n), headers=HEADERS).status_code
                            for n in range(30)]
            os.kill(proc.pid, signal.SIGKILL)  # acknowledged from the inbox, never moved
            proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
    assert statuses == [204] * 30
    assert tokens_in(path) == []
    store.open_db(path).close()  # the next process to open the database (a server, an attribution run) moves them
    store.open_db(path).close()  # and a second one finds nothing left to move
    assert sorted(tokens_in(path)) == [f"T002{n:06d}" for n in range(30)]
