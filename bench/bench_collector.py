"""Durable collector vs a bare ASGI app answering 204, same machine, same run, same load (DESIGN budget: ≥ 0.70).

Both run under uvicorn with the same settings, each in its own process; the load generator is a small asyncio
HTTP/1.1 keep-alive client on loopback (fast enough not to be the bottleneck), sending the same tracker beacon.
The durable side is the real thing: Datasette with the darksocial plugin, a fresh database, every 204 answered
only after its event is committed with fsync (WAL, synchronous=FULL), group commit.

``python -m bench collector``; environment: BENCH_REQUESTS (default 6000), BENCH_CONNECTIONS (default 32).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET = 0.70
ORIGIN = "https://example.com"
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
BODY = json.dumps({"k": "view", "s": "bench", "v": "benchvisitor01", "u": f"{ORIGIN}/post", "t": "AAAAAAAAAA",
                   "n": "A post"}).encode()


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
    if kind == "bare":
        import uvicorn

        uvicorn.Server(uvicorn.Config(bare_app, host="127.0.0.1", port=port, access_log=False, proxy_headers=True,
                                      log_level="warning", lifespan="on")).run()
    else:
        from reporting import server

        server.run(server.make_datasette(db, attribute_every=None), host="127.0.0.1", port=port)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(kind: str, db: str | None) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    code = f"from bench.bench_collector import _serve; _serve({kind!r}, {port}, {db!r})"
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=root)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"the {kind} server exited with {proc.returncode}") from None
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"the {kind} server did not start")


def _request(port: int) -> bytes:
    head = (f"POST /-/darksocial/collect HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {ORIGIN}\r\n"
            f"User-Agent: {USER_AGENT}\r\nContent-Type: text/plain;charset=UTF-8\r\n"
            f"Content-Length: {len(BODY)}\r\n\r\n")
    return head.encode() + BODY


async def _load(port: int, total: int, connections: int) -> tuple[float, dict[int, int]]:
    """Send ``total`` requests over ``connections`` keep-alive connections; (seconds, count by status)."""
    request = _request(port)
    remaining = total
    statuses: dict[int, int] = {}

    async def worker():
        nonlocal remaining
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while remaining > 0:
                remaining -= 1
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                statuses[status] = statuses.get(status, 0) + 1
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        await reader.readexactly(int(line.split(b":")[1]))
                    elif line.lower() == b"transfer-encoding: chunked":
                        while (size := int((await reader.readline()).strip(), 16)) > 0:
                            await reader.readexactly(size + 2)
                        await reader.readline()
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return time.perf_counter() - started, statuses


def main() -> None:
    total = int(os.environ.get("BENCH_REQUESTS", "6000"))
    connections = int(os.environ.get("BENCH_CONNECTIONS", "32"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    with tempfile.TemporaryDirectory() as tmp:
        from darksocial import store

        db_path = str(Path(tmp) / "bench.db")
        db = store.open_db(db_path)
        store.register_site(db, "bench", [ORIGIN])
        db.close()
        servers = {kind: _start(kind, None if kind == "bare" else db_path) for kind in ("bare", "durable")}
        rates: dict[str, list[float]] = {kind: [] for kind in servers}
        try:
            for _, port in servers.values():
                asyncio.run(_load(port, min(1000, total), connections))  # warm up: imports, caches, first salt
            # Interleaved rounds, each side's best kept: noise from other work on the machine hits both alike.
            for _ in range(rounds):
                for kind, (_, port) in servers.items():
                    seconds, statuses = asyncio.run(_load(port, total, connections))
                    if set(statuses) != {204}:
                        raise SystemExit(f"{kind}: unexpected answers {statuses}")
                    rates[kind].append(total / seconds)
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(30)
        with sqlite3.connect(db_path) as conn:
            stored = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    best = {kind: max(values) for kind, values in rates.items()}
    ratio = best["durable"] / best["bare"]
    rounds_text = {kind: ", ".join(f"{r:.0f}" for r in values) for kind, values in rates.items()}
    print(f"{rounds} rounds of {total} requests over {connections} keep-alive connections, loopback, uvicorn")
    print(f"bare ASGI 204      : {best['bare']:8.0f} req/s  (rounds: {rounds_text['bare']})")
    print(f"durable collector  : {best['durable']:8.0f} req/s  (rounds: {rounds_text['durable']}; "
          f"{stored} events committed)")
    print(f"ratio durable/bare : {ratio:.2f}  (budget >= {BUDGET:.2f}: {'OK' if ratio >= BUDGET else 'OVER'})")


if __name__ == "__main__":
    main()
