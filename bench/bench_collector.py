"""Durable collector vs a bare ASGI app answering 204, same machine, same run, same load (budget: ≥ 0.50).

Both run on the stack users get, uvicorn with httptools and uvloop (``reporting.server.uvicorn_server``: the same
protocol class, timeouts and connection cap), each in its own process; the load generator is a small HTTP/1.1
keep-alive client, an ``asyncio.Protocol`` on uvloop on loopback (see :class:`_Connection` for why not streams).
The durable side is the real thing: Datasette with the darksocial plugin, a fresh database, every 204 answered only
after its event is committed with fsync (WAL, synchronous=FULL), group commit, beacons answered in the HTTP protocol
as ``darksocial serve`` does (``reporting.direct``; ``BENCH_DIRECT=0`` sends them through ASGI instead, for an A/B).

Every request is a page view of its own, as the tracker sends them (:func:`_requests`: its own token, visitors with
a few views each, one view in five through a share link). Two header shapes, each measured on both servers:
``beacon`` carries the headers Chromium really sends with ``navigator.sendBeacon`` (captured from Debian's chromium;
the budget is judged on it, as it is what the collector receives), ``minimal`` only the five headers the collector
reads.

The machine may be busy with other work, so the two servers are measured in many short rounds, interleaved
(bare, durable, bare, durable...), and each side's median is kept: a burst of outside load hits a round of one
side or the other, not the comparison. The server CPU time per request (user + system, all threads, from /proc) is
printed too; its ratio depends much less on outside load than requests per second do.

``python -m bench collector``; environment: BENCH_REQUESTS (default 3000 per round), BENCH_CONNECTIONS (default
32), BENCH_ROUNDS (default 7).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import uvloop

from darksocial import tokens

from .ports import free_port, wait_until_listening

BUDGET = 0.50
ORIGIN = "https://example.com"
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
SHAPES = ("beacon", "minimal")


async def bare_app(scope, receive, send):
    """The baseline: reads the body and answers 204, nothing else."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _serve(kind: str, port: int, db: str | None) -> None:
    """Child process entry point: serve one of the two apps on ``port``."""
    from reporting import server

    if kind == "bare":
        server.uvicorn_server(bare_app, host="127.0.0.1", port=port).run()
    else:
        server.run(server.make_datasette(db, attribute_every=None), host="127.0.0.1", port=port,
                   direct=os.environ.get("BENCH_DIRECT", "1") != "0")


def _start(kind: str, db: str | None) -> tuple[subprocess.Popen, int]:
    port = free_port()
    code = f"from bench.bench_collector import _serve; _serve({kind!r}, {port}, {db!r})"
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=root)
    wait_until_listening(port, proc, f"the {kind} server")
    return proc, port


def _load_average() -> str:
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _head(port: int, shape: str, length: int, page: str) -> str:
    if shape == "minimal":
        return (f"POST /-/darksocial/collect HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {ORIGIN}\r\n"
                f"User-Agent: {USER_AGENT}\r\nContent-Type: text/plain\r\nContent-Length: {length}\r\n\r\n")
    # what Chromium sends with navigator.sendBeacon(url, new Blob([json], {type: "text/plain"}))
    return (f"POST /-/darksocial/collect HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: keep-alive\r\n"
            f"Content-Length: {length}\r\nsec-ch-ua-platform: \"Linux\"\r\nUser-Agent: {CHROME}\r\n"
            'sec-ch-ua: "Not:A-Brand";v="8", "Chromium";v="131"\r\nContent-Type: text/plain\r\n'
            f"sec-ch-ua-mobile: ?0\r\nAccept: */*\r\nOrigin: {ORIGIN}\r\nSec-Fetch-Site: cross-site\r\n"
            "Sec-Fetch-Mode: no-cors\r\nSec-Fetch-Dest: empty\r\nSec-Fetch-Storage-Access: none\r\n"
            f"Referer: {page}\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n"
            "Accept-Language: en-US,en;q=0.9\r\n\r\n")


def _requests(port: int, shape: str, total: int, rng: random.Random) -> list[bytes]:
    """``total`` page views as the tracker sends them: each with a token of its own (as every real view has; the
    same body over and over would touch one index page per commit and hide what indexing costs), visitors who
    view a few pages each, 40 pages, and one view in five arriving through a share link (``i``)."""
    out, earlier = [], []
    visitors = [tokens.mint(rng) + tokens.mint(rng) for _ in range(max(1, total // 4))]
    for _ in range(total):
        page = f"{ORIGIN}/post-{rng.randrange(40)}"
        event = {"k": "view", "s": "bench", "v": rng.choice(visitors), "u": page, "t": tokens.mint(rng),
                 "n": "A post"}
        if earlier and rng.random() < 0.2:
            event["i"] = f"{rng.choice(earlier)}.wa"
        earlier.append(event["t"])
        body = json.dumps(event, separators=(",", ":")).encode()
        out.append(_head(port, shape, len(body), page).encode() + body)
    return out


class _Connection(asyncio.Protocol):
    """One keep-alive connection of the load generator: the next request goes out as soon as the last answer is
    complete. A protocol on uvloop, not asyncio streams: a durable server answers a whole commit's requests at
    once, and a client that spends longer on each answer than the server does sits on the critical path (the
    streams client measured 0.37-0.41 where wrk, c=32, measured 0.43-0.53 on the same servers)."""

    def __init__(self, shared: dict, finished: asyncio.Future):
        self.shared, self.finished, self.buffer = shared, finished, b""

    def connection_made(self, transport) -> None:
        self.transport = transport
        self._send_next()

    def _send_next(self) -> None:
        shared = self.shared
        if shared["next"] < len(shared["requests"]):
            shared["next"] += 1
            self.transport.write(shared["requests"][shared["next"] - 1])
        else:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        while (end := buffer.find(b"\r\n\r\n")) >= 0:
            head = buffer[:end].lower()
            start = head.find(b"\r\ncontent-length:")
            if start >= 0:
                stop = head.find(b"\r\n", start + 2)
                length = int(head[start + 17:stop if stop >= 0 else len(head)])
            elif b"\r\ntransfer-encoding: chunked" in head:
                last = buffer.find(b"0\r\n\r\n", end + 4)
                if last < 0:
                    break
                length = last + 5 - (end + 4)
            else:
                length = 0
            if len(buffer) < end + 4 + length:
                break
            status = int(head[9:12])
            statuses = self.shared["statuses"]
            statuses[status] = statuses.get(status, 0) + 1
            buffer = buffer[end + 4 + length:]
            self._send_next()
        self.buffer = buffer

    def connection_lost(self, exc) -> None:
        if not self.finished.done():
            self.finished.set_result(None)


async def _load(port: int, requests: list[bytes], connections: int) -> tuple[float, dict[int, int]]:
    """Send ``requests`` over ``connections`` keep-alive connections; (seconds, count by status)."""
    loop = asyncio.get_running_loop()
    shared = {"requests": requests, "next": 0, "statuses": {}}
    started = time.perf_counter()
    finished = []
    for _ in range(connections):
        finished.append(loop.create_future())
        await loop.create_connection(lambda f=finished[-1]: _Connection(shared, f), "127.0.0.1", port)
    await asyncio.gather(*finished)
    return time.perf_counter() - started, shared["statuses"]


def main() -> None:
    total = int(os.environ.get("BENCH_REQUESTS", "3000"))
    connections = int(os.environ.get("BENCH_CONNECTIONS", "32"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "7"))
    kinds = ("bare", "durable")
    load_before = _load_average()
    rates = {(kind, shape): [] for kind in kinds for shape in SHAPES}
    cpu = {(kind, shape): [] for kind in kinds for shape in SHAPES}  # server CPU seconds per request
    with tempfile.TemporaryDirectory() as tmp:
        from darksocial import store

        db_path = str(Path(tmp) / "bench.db")
        db = store.open_db(db_path)
        store.register_site(db, "bench", [ORIGIN])
        db.close()
        servers = {kind: _start(kind, None if kind == "bare" else db_path) for kind in kinds}
        rng = random.Random(1)
        try:
            for _, port in servers.values():  # warm up: imports, caches, first salt
                uvloop.run(_load(port, _requests(port, "beacon", min(1000, total), rng), connections))
            # Interleaved short rounds, medians kept (see the module docstring); who goes first alternates.
            for round_ in range(rounds):
                for shape in SHAPES:
                    for kind, (proc, port) in sorted(servers.items(), reverse=bool(round_ % 2)):
                        requests = _requests(port, shape, total, rng)
                        cpu_before = _cpu_seconds(proc.pid)
                        seconds, statuses = uvloop.run(_load(port, requests, connections))
                        if set(statuses) != {204}:
                            raise SystemExit(f"{kind}: unexpected answers {statuses}")
                        rates[kind, shape].append(total / seconds)
                        cpu[kind, shape].append((_cpu_seconds(proc.pid) - cpu_before) / total)
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(30)
        with sqlite3.connect(db_path) as conn:
            stored = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    print(f"{rounds} rounds x {total} requests per server and request shape, {connections} keep-alive connections, "
          f"loopback, uvicorn; {stored} events committed; load average {load_before} before, "
          f"{_load_average()} after (other work on the machine moves the ratio)")
    median = statistics.median
    print(f"{'medians':22}{'bare ASGI 204':>16}{'durable':>16}{'ratio':>8}"
          f"   server CPU per request: bare / durable (ratio)")
    for shape in SHAPES:
        bare, durable = median(rates["bare", shape]), median(rates["durable", shape])
        cpu_bare, cpu_durable = (median(cpu[kind, shape]) * 1e6 for kind in kinds)
        print(f"{shape + ' request':22}{bare:>10.0f} req/s{durable:>10.0f} req/s{durable / bare:>8.2f}"
              f"   {cpu_bare:.0f} us / {cpu_durable:.0f} us ({cpu_bare / cpu_durable:.2f})")
    # Each round's durable/bare from the same round: outside load that lasts a round cancels out of it.
    paired = {shape: median(d / b for d, b in zip(rates["durable", shape], rates["bare", shape], strict=True))
              for shape in SHAPES}
    spread = {shape: [d / b for d, b in zip(rates["durable", shape], rates["bare", shape], strict=True)]
              for shape in SHAPES}
    print("per-round durable/bare, median (min-max): " + ", ".join(
        f"{shape} {paired[shape]:.2f} ({min(spread[shape]):.2f}-{max(spread[shape]):.2f})" for shape in SHAPES))
    ratio = median(rates["durable", "beacon"]) / median(rates["bare", "beacon"])
    print(f"budget: durable/bare >= {BUDGET:.2f} on browser beacons: {ratio:.2f} "
          f"{'OK' if ratio >= BUDGET else 'OVER BUDGET'}")


if __name__ == "__main__":
    main()
