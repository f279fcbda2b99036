"""The collector under load, crashes and slow clients: the figures README's "Reliability" section quotes.

Each part runs the real ``darksocial serve`` in a child process on a fresh database:

- **load**: 50 clients send 2,000 events each over keep-alive connections; every event must be acknowledged and
  stored exactly once; the 50th/99th percentile of acknowledgement latency (fsync included) is printed;
- **crash**: rounds of 8 clients sending until the server is SIGKILLed mid-stream; after each restart, every
  acknowledged event must be in the database (printed: rounds, acknowledged, lost);
- **during attribution**: 8 clients, each sending an event every 10 ms, while ``darksocial attribute`` rebuilds a
  seeded database of 1M events in full and then runs incrementally over 1% more: acknowledgement latency before,
  during and after each run (p50, p99, max), and every acknowledged event stored;
- **slow clients**: 1,100 sockets that send half their headers, stall their body or stay idle, with real events
  sent in between; printed: real events acknowledged, their worst latency, how long until every slow socket was
  closed by the server, and the server's peak memory (RSS).

``python -m bench reliability``; environment: BENCH_LOAD_CLIENTS (50), BENCH_LOAD_EVENTS (2000), BENCH_CRASH_ROUNDS
(5), BENCH_ATTRIBUTION_EVENTS (1000000; 0 skips that part), BENCH_SLOW_SOCKETS (1100).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .ports import free_port, wait_until_listening

ORIGIN = "https://example.com"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"


def _serve(db: Path, port: int, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "darksocial.cli", "serve", str(db), "--port", str(port),
                             "--attribute-every", "0", *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until_listening(port, proc, "darksocial serve")
    return proc


def _new_db(tmp: str, name: str) -> Path:
    from darksocial import store

    path = Path(tmp) / name
    db = store.open_db(path)
    store.register_site(db, "blog", [ORIGIN])
    db.close()
    return path


def _request(port: int, token: str) -> bytes:
    body = json.dumps({"k": "view", "s": "blog", "v": "visitor00001", "u": f"{ORIGIN}/p", "t": token}).encode()
    return (f"POST /-/darksocial/collect HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {ORIGIN}\r\n"
            f"User-Agent: {FIREFOX}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


async def _client(port: int, tokens: list[str], acked: set[str], latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for token in tokens:
            started = time.perf_counter()
            writer.write(_request(port, token))
            head = await reader.readuntil(b"\r\n\r\n")
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    await reader.readexactly(int(line.split(b":")[1]))
            if head[9:12] == b"204":
                acked.add(token)
                latencies.append(time.perf_counter() - started)
    except (ConnectionError, asyncio.IncompleteReadError):
        return  # the server is gone (crash rounds)
    finally:
        writer.close()


def _stored(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT token FROM events")]


def load(tmp: str) -> None:
    clients = int(os.environ.get("BENCH_LOAD_CLIENTS", "50"))
    each = int(os.environ.get("BENCH_LOAD_EVENTS", "2000"))
    db, port = _new_db(tmp, "load.db"), free_port()
    proc = _serve(db, port)
    acked: set[str] = set()
    latencies: list[float] = []
    started = time.perf_counter()

    async def run():
        await asyncio.gather(*(_client(port, [f"L{c:03d}{n:06d}" for n in range(each)], acked, latencies)
                               for c in range(clients)))

    try:
        asyncio.run(run())
        seconds = time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(30)
    stored = _stored(db)
    exact = len(stored) == len(set(stored)) == len(acked) == clients * each and set(stored) == acked
    cuts = statistics.quantiles(latencies, n=100)
    print(f"load: {clients} clients x {each:,} events: {len(acked):,} acknowledged, {len(stored):,} stored, "
          f"{'exact' if exact else 'NOT EXACT'}; {len(acked) / seconds:,.0f} events/s; acknowledgement latency "
          f"p50 {cuts[49] * 1e3:.1f} ms, p99 {cuts[98] * 1e3:.1f} ms")


def crash(tmp: str) -> None:
    rounds = int(os.environ.get("BENCH_CRASH_ROUNDS", "5"))
    db = _new_db(tmp, "crash.db")
    acked: set[str] = set()
    for round_ in range(rounds):
        port = free_port()
        proc = _serve(db, port)
        this_round: set[str] = set()

        def kill_later(proc=proc, this_round=this_round):
            while len(this_round) < 500 and proc.poll() is None:
                time.sleep(0.01)
            os.kill(proc.pid, signal.SIGKILL)

        killer = threading.Thread(target=kill_later, daemon=True)
        killer.start()
        asyncio.run(_gather_until_gone(port, round_, this_round))
        killer.join(60)
        proc.wait(30)
        acked |= this_round
    from darksocial import store

    store.open_db(db).close()  # recover the WAL like any later reader
    lost = acked - set(_stored(db))
    print(f"crash: {rounds} SIGKILL rounds mid-stream, {len(acked):,} events acknowledged, {len(lost)} lost")


async def _gather_until_gone(port: int, round_: int, acked: set[str]) -> None:
    await asyncio.gather(*(_client(port, [f"K{round_:02d}{c}{n:06d}" for n in range(100_000)], acked, [])
                           for c in range(8)))


def slow_clients(tmp: str) -> None:
    count = int(os.environ.get("BENCH_SLOW_SOCKETS", "1100"))
    db, port = _new_db(tmp, "slow.db"), free_port()
    proc = _serve(db, port, "--read-timeout", "10")
    peak_rss = 0

    def rss() -> int:
        for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    heads = [b"POST /-/darksocial/collect HTTP/1.1\r\nHost: x\r\nOrigin: https://exa",
             b"POST /-/darksocial/collect HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nOrigin: " +
             ORIGIN.encode() + b"\r\nContent-Length: 500\r\n\r\n{\"k\": ", b""]
    slow, worst, real_acked = [], 0.0, 0
    started = time.perf_counter()
    try:
        for i in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            sock.sendall(heads[i % 3])
            slow.append(sock)
            if i % (count // 10) == count // 20:  # ten real events spread through the flood
                sent = time.perf_counter()
                with socket.create_connection(("127.0.0.1", port), timeout=30) as real:
                    real.sendall(_request(port, f"REAL{i:06d}"))
                    if real.recv(64).startswith(b"HTTP/1.1 204"):
                        real_acked += 1
                worst = max(worst, time.perf_counter() - sent)
            peak_rss = max(peak_rss, rss())
        flood_done = time.perf_counter()
        for sock in slow:
            sock.settimeout(max(0.01, 60 - (time.perf_counter() - flood_done)))
            try:
                while sock.recv(4096):
                    pass
            except OSError:
                pass
            peak_rss = max(peak_rss, rss())
        all_closed = time.perf_counter() - flood_done
    finally:
        for sock in slow:
            sock.close()
        proc.terminate()
        proc.wait(30)
    print(f"slow clients: {count:,} slow sockets opened in {flood_done - started:.1f} s; real events acknowledged "
          f"{real_acked}/10 (worst {worst * 1e3:.0f} ms); every slow socket closed by the server "
          f"{all_closed:.1f} s after the flood (read timeout 10 s); server peak RSS {peak_rss / 2**20:.0f} MB")


class PacedClient(threading.Thread):
    """One keep-alive connection sending an event every 10 ms; records (phase, latency) of each 204."""

    def __init__(self, port: int, index: int, phase: list[str]):
        super().__init__(daemon=True)
        self.port, self.index, self.phase = port, index, phase
        self.latencies: list[tuple[str, float]] = []
        self.acked: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=60) as sock:
            answers = sock.makefile("rb")
            n = 0
            while not self.stop.is_set():
                token, phase = f"A{self.index:03d}{n:06d}", self.phase[0]
                started = time.perf_counter()
                sock.sendall(_request(self.port, token))
                status = answers.readline()[9:12]
                while (line := answers.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        answers.read(int(line.split(b":")[1]))
                if status == b"204":
                    self.latencies.append((phase, time.perf_counter() - started))
                    self.acked.append(token)
                n += 1
                time.sleep(0.01)


def during_attribution(tmp: str) -> None:
    from bench.bench_attribution import Traffic, write
    from darksocial import store

    events = int(os.environ.get("BENCH_ATTRIBUTION_EVENTS", "1000000"))
    if not events:
        return
    path = _new_db(tmp, "attributed.db")
    db = store.open_db(path)
    traffic = Traffic(seed=1)
    write(db, traffic.events(events))
    db.close()
    port = free_port()
    proc = _serve(path, port)
    phase = ["before full"]
    clients = [PacedClient(port, index, phase) for index in range(8)]
    seconds = {}
    try:
        for client in clients:
            client.start()
        for run, flags in (("full", ["--full"]), ("incremental", [])):
            if run == "incremental":
                db = store.open_db(path)
                write(db, traffic.events(events // 100))
                db.close()
            phase[0] = f"before {run}"
            time.sleep(3)
            phase[0] = f"during {run}"
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "darksocial.cli", "attribute", str(path), *flags], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            seconds[run] = time.perf_counter() - started
        phase[0] = "after"
        time.sleep(3)
    finally:
        for client in clients:
            client.stop.set()
        for client in clients:
            client.join(60)
        proc.terminate()
        proc.wait(30)
    acked = [token for client in clients for token in client.acked]
    stored = set(_stored(path))
    print(f"during attribution: 8 clients, an event each every 10 ms, on {events:,} seeded events; "
          f"{len(acked):,} acknowledged, {len(set(acked) - stored)} of them missing from events")
    for name in ("before full", "during full", "before incremental", "during incremental", "after"):
        latencies = sorted(latency for client in clients for label, latency in client.latencies if label == name)
        run = name.split()[-1]
        took = f" (the run took {seconds[run]:.1f} s)" if name.startswith("during") else ""
        if latencies:
            print(f"  {name:<20} {len(latencies):>6,} acknowledgements: p50 {latencies[len(latencies) // 2] * 1e3:.1f} "
                  f"ms, p99 {latencies[int(len(latencies) * 0.99)] * 1e3:.1f} ms, max {latencies[-1] * 1e3:.0f} ms"
                  f"{took}")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        load(tmp)
        crash(tmp)
        during_attribution(tmp)
        slow_clients(tmp)


if __name__ == "__main__":
    main()
