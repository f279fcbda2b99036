"""Attribution speed on a realistic seeded database, measured side by side in one run (DESIGN.md budgets):

- full rebuild ≤ 5× a plain copy of the events table (the floor on this machine);
- incremental run of +1% events (+10k on 1M) ≤ 0.03× a full rebuild, holding the write lock ≤ 200 ms in total
  (as ``attribute()`` reports it);
- growth: per-event cost of a full rebuild at the largest size within 1.3× of that at the smallest
  (``GROWTH=100000,3000000``; off by default, the 3M point takes minutes);
- the collector's p99 acknowledgement latency while attribution runs (``COLLECTOR=1``): one-event commits
  through the store's group-committing writer, the path every collector request waits on.

``python -m bench attribution``; ``EVENTS=200000`` for a quicker run; ``REPORT_INDEXES=1`` first creates the
indexes the reporting server adds (``reporting.indexes``), as on a database that ``darksocial serve`` has opened.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from pathlib import Path

FULL_BUDGET, INCREMENTAL_BUDGET, LOCK_BUDGET, GROWTH_BUDGET, P99_BUDGET = 5.0, 0.03, 0.2, 1.3, 0.05
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
CHANNELS = ["wa"] * 30 + ["cl"] * 12 + ["em"] * 9 + ["tg"] * 8 + ["fm"] * 8 + ["sms"] * 5 + ["ct"] * 7 + \
    ["ns"] * 6 + ["x"] * 5 + ["fb"] * 4 + ["li"] * 4 + ["rd", "bs"]
SHIMS = {"x": "t.co", "fb": "l.facebook.com", "li": "www.linkedin.com", "rd": "out.reddit.com", "bs": "bsky.app"}
REFERRERS = [None] * 14 + ["www.google.com"] * 30 + ["duckduckgo.com"] * 6 + ["www.bing.com"] * 5 + \
    ["news.ycombinator.com"] * 8 + ["www.reddit.com"] * 4 + ["forum.example.org"] * 3


class Traffic:
    """Seeded synthetic traffic with heavy-tailed sharing: a few advocates with large audiences."""

    def __init__(self, seed: int, start_day: int = 1):
        self.rng = random.Random(seed)
        self.n = 0
        self.day = start_day
        self.pages = [f"https://news.example/story/{i}" for i in range(500)] + ["https://news.example/"]
        self.visitors: list[str] = []

    def token(self) -> str:
        return "".join(self.rng.choices(ALPHABET, k=10))

    def ts(self) -> str:
        self.n += 1
        seconds = self.n % 86400
        return f"2026-{1 + (self.day + self.n // 86400) // 28 % 12:02d}-{1 + (self.day + self.n // 86400) % 28:02d}" \
               f"T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.000000Z"

    def visitor(self, returning: float = 0.3) -> str:
        if self.visitors and self.rng.random() < returning:
            return self.rng.choice(self.visitors)
        v = self.token() + "vv"
        self.visitors.append(v)
        return v

    def view(self, visitor, url, referrer=None, in_token=None, in_channel=None):
        token = self.token()
        return token, ("view", "site", visitor, url, token, referrer, in_token, in_channel, "Title", None, None,
                       None, None, None, self.ts())

    def events(self, count: int):
        rng = self.rng
        made = 0
        while made < count:
            visitor = self.visitor()
            url = rng.choice(self.pages)
            token, row = self.view(visitor, url, referrer=rng.choice(REFERRERS))
            yield row
            made += 1
            queue = [(visitor, token, url, 1.0 if rng.random() < 0.02 else 0.0)]
            while queue and made < count:
                sharer, view_token, page, advocate = queue.pop()
                if rng.random() < 0.04:  # address-bar copy
                    for _ in range(rng.randint(1, 2)):
                        _, row = self.view(self.visitor(0.1), page, in_token=view_token)
                        yield row
                        made += 1
                if rng.random() > 0.08 + 0.5 * advocate:
                    if rng.random() < 0.03:
                        yield ("goal", "site", sharer, page, view_token, None, None, None, None, None, None,
                               None, "signup", None, self.ts())
                        made += 1
                    continue
                channel = rng.choice(CHANNELS)
                share = self.token()
                yield ("share", "site", sharer, page, share, None, None, None, None, view_token, channel, None,
                       None, None, self.ts())
                made += 1
                audience = int(rng.paretovariate(1.6)) + (30 if advocate else 0)
                for _ in range(min(audience, 400)):
                    if rng.random() < 0.5:
                        continue
                    clicker = self.visitor(0.1)
                    token, row = self.view(clicker, page, referrer=SHIMS.get(channel), in_token=share,
                                           in_channel=channel if rng.random() < 0.9 else None)
                    yield row
                    made += 1
                    queue.append((clicker, token, page, 0.0))
                if rng.random() < 0.05:
                    yield ("identify", "site", sharer, None, None, None, None, None, None, None, None,
                           f"crm{rng.randint(0, 99999)}", f"Person {rng.randint(0, 999)}", None, self.ts())
                    made += 1


INSERT = ("INSERT INTO events (kind, site, visitor, url, token, referrer_host, in_token, in_channel, title, parent, "
          "channel, external_id, name, goal, ts, browser, device) VALUES "
          "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'chrome', 'mobile')")


def write(db, rows) -> int:
    count = 0
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == 50_000:
            db.conn.executemany(INSERT, batch)
            count += len(batch)
            batch = []
    db.conn.executemany(INSERT, batch)
    db.conn.commit()
    return count + len(batch)


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def _populated(tmp: str, name: str, total: int):
    from darksocial import store

    db = store.open_db(Path(tmp) / name)
    db.execute("PRAGMA synchronous = NORMAL")
    if os.environ.get("REPORT_INDEXES") == "1":
        from darksocial import tables
        from reporting import indexes

        tables.create_all(db.conn)
        indexes.create(db.conn)
    traffic = Traffic(seed=1)
    written, generated, _ = _timed(lambda: write(db, traffic.events(total)))
    return db, traffic, written, generated


def _copy_floor(db) -> tuple[float, float]:
    # The floor on this machine, in the same run: SQLite copying every event once, nothing computed.
    _, wall, cpu = _timed(lambda: (db.execute("CREATE TABLE copy AS SELECT * FROM events"),
                                   db.execute("DROP TABLE copy")))
    return wall, cpu


class CollectorProbe:
    """One-event commits through the store's writer, as the collector makes them, every 20 ms in a thread."""

    def __init__(self, path):
        import threading

        from darksocial import store

        self.writer = store.Writer(path)
        self.latencies: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        columns = store.EVENT_COLUMNS
        self.row = lambda n: tuple({"ts": "2026-06-01T00:00:00.000000Z", "kind": "goal", "site": "site",
                                    "visitor": f"probe{n:07d}", "goal": "probe"}.get(c) for c in columns)

    def __enter__(self):
        self.thread.start()
        return self

    def _run(self):
        n = 0
        while not self.stop.is_set():
            started = time.perf_counter()
            self.writer.write_sync([self.row(n)])
            self.latencies.append(time.perf_counter() - started)
            n += 1
            time.sleep(0.02)

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.writer.close()

    def p99(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan")


def main() -> None:
    from darksocial.attribution import attribute

    total = int(os.environ.get("EVENTS", 1_000_000))
    increment = int(os.environ.get("INCREMENT", max(1, total // 100)))
    probe_collector = os.environ.get("COLLECTOR") == "1"
    with tempfile.TemporaryDirectory() as tmp:
        db, traffic, written, generated = _populated(tmp, "bench.db", total)
        copy_wall, copy_cpu = _copy_floor(db)
        stats, full_wall, full_cpu = _timed(lambda: attribute(db, full=True))
        write(db, traffic.events(increment))
        if probe_collector:
            with CollectorProbe(Path(tmp) / "bench.db") as probe:
                inc_stats, inc_wall, inc_cpu = _timed(lambda: attribute(db))
        else:
            inc_stats, inc_wall, inc_cpu = _timed(lambda: attribute(db))
        visits = db.execute("SELECT COUNT(*) FROM visits").fetchone()[0]
        shares = db.execute("SELECT COUNT(*) FROM shares").fetchone()[0]
        cascades = db.execute("SELECT COUNT(*) FROM cascades WHERE size > 1").fetchone()[0]
        if probe_collector:
            with CollectorProbe(Path(tmp) / "bench.db") as full_probe:
                _timed(lambda: attribute(db, full=True))
        db.close()

    print(f"events: {written:,} (+{increment:,} for the incremental run); visits {visits:,}, shares {shares:,}, "
          f"cascades with clicks {cascades:,}; generated in {generated:.1f}s; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")
    print(f"{'run':<44}{'wall s':>9}{'cpu s':>9}{'lock s':>9}{'ratio':>9}{'budget':>9}")
    print(f"{'copy of the events table (floor)':<44}{copy_wall:>9.2f}{copy_cpu:>9.2f}{'':>9}{'':>9}{'':>9}")
    print(f"{'full rebuild (' + format(stats['events'], ',') + ' events), / floor':<44}{full_wall:>9.2f}"
          f"{full_cpu:>9.2f}{stats['write_lock_seconds']:>9.3f}{full_wall / copy_wall:>9.2f}{FULL_BUDGET:>9.2f}")
    print(f"{'incremental (+' + format(inc_stats['events'], ',') + ' events), / full':<44}{inc_wall:>9.2f}"
          f"{inc_cpu:>9.2f}{inc_stats['write_lock_seconds']:>9.3f}{inc_wall / full_wall:>9.3f}"
          f"{INCREMENTAL_BUDGET:>9.2f}")
    print(f"write lock held by the incremental run: {inc_stats['write_lock_seconds'] * 1000:.0f} ms "
          f"(budget {LOCK_BUDGET * 1000:.0f} ms)")
    if probe_collector:
        for label, p in (("incremental", probe), ("full rebuild", full_probe)):
            print(f"collector commits during the {label}: {len(p.latencies)}, p99 {p.p99() * 1000:.1f} ms, "
                  f"max {max(p.latencies) * 1000:.1f} ms (budget p99 {P99_BUDGET * 1000:.0f} ms)")
    growth = [int(n) for n in os.environ.get("GROWTH", "").split(",") if n.strip()]
    if len(growth) >= 2:
        per_event = {}
        for size in sorted(growth):
            with tempfile.TemporaryDirectory() as tmp:
                db, _, written, _ = _populated(tmp, "growth.db", size)
                _, wall, _ = _timed(lambda db=db: attribute(db, full=True))
                copy, _ = _copy_floor(db)
                db.close()
            per_event[size] = wall / written
            print(f"growth: full rebuild of {written:,} events {wall:.2f}s ({wall / written * 1e6:.1f} µs/event; "
                  f"copy floor {copy:.2f}s, ratio {wall / copy:.1f})")
        small, large = min(per_event), max(per_event)
        print(f"growth: per-event cost at {large:,} / at {small:,} = {per_event[large] / per_event[small]:.2f} "
              f"(budget {GROWTH_BUDGET})")
