"""The server's periodic attribution runs in a child process: a run that dies (here: out of memory) is logged with
its reason, and the collector goes on answering 204 (issue 10)."""

from __future__ import annotations

import json
import logging
import time

import httpx

from darksocial import store
from reporting import server

ORIGIN = "https://example.com"
HEADERS = {"origin": ORIGIN, "content-type": "text/plain;charset=UTF-8",
           "user-agent": "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"}


def test_attribution_dying_in_its_child_leaves_the_collector_answering(tmp_path, free_port, caplog):
    path = tmp_path / "busy.db"
    db = store.open_db(path)
    store.register_site(db, "blog", [ORIGIN])
    db.close()
    # 16 MiB of address space, less than the child already uses: its first allocation fails with a MemoryError.
    datasette = server.make_datasette(path, attribute_every=0.2, metadata={"plugins": {"darksocial": {
        "attribute_memory_limit": 16 * 2**20, "rate_limit": 10_000, "rate_burst": 10_000}}})
    caplog.set_level(logging.ERROR, logger="reporting.collect")
    statuses = []
    with server.running(datasette, port=free_port()) as url, httpx.Client(base_url=url, timeout=30) as client:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            body = json.dumps({"k": "view", "s": "blog", "u": f"{ORIGIN}/post", "t": f"T{len(statuses):09d}",
                               "v": "visitor0001"})
            statuses.append(client.post("/-/darksocial/collect", content=body, headers=HEADERS).status_code)
            failures = [r for r in caplog.records if "background attribution failed" in r.getMessage()]
            if len(failures) >= 2 and len(statuses) >= 20:
                break
            time.sleep(0.05)
    assert set(statuses) == {204}
    assert len(failures) >= 2, "the periodic attribution never ran"
    message = failures[0].getMessage()
    assert "exited with code 1: MemoryError: the run needed more than its memory limit of 16,777,216 bytes" in message
