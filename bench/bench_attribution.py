"""Attribution speed: a realistic 1M-event database, full rebuild and an incremental batch.

Budget (DESIGN.md): attribution of 1M events ≤ 15 s. Prints the measurements side by side
and their ratio to the budget. `python -m bench attribution`; EVENTS=200000 for a quicker run.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from pathlib import Path

BUDGET_SECONDS = 15.0
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


def main() -> None:
    from darksocial import store
    from darksocial.attribution import attribute

    total = int(os.environ.get("EVENTS", 1_000_000))
    increment = max(1, total // 100)
    with tempfile.TemporaryDirectory() as tmp:
        db = store.open_db(Path(tmp) / "bench.db")
        db.execute("PRAGMA synchronous = NORMAL")
        traffic = Traffic(seed=1)
        written, generated, _ = _timed(lambda: write(db, traffic.events(total)))
        # The floor on this machine, in the same run: SQLite copying every event once, nothing computed.
        _, copy_wall, copy_cpu = _timed(lambda: (db.execute("CREATE TABLE copy AS SELECT * FROM events"),
                                                 db.execute("DROP TABLE copy")))
        stats, full_wall, full_cpu = _timed(lambda: attribute(db, full=True))
        write(db, traffic.events(increment))
        inc_stats, inc_wall, inc_cpu = _timed(lambda: attribute(db))
        visits = db.execute("SELECT COUNT(*) FROM visits").fetchone()[0]
        shares = db.execute("SELECT COUNT(*) FROM shares").fetchone()[0]
        cascades = db.execute("SELECT COUNT(*) FROM cascades WHERE size > 1").fetchone()[0]

    scale = 1_000_000 / written
    print(f"events: {written:,} (+{increment:,} for the incremental run); visits {visits:,}, shares {shares:,}, "
          f"cascades with clicks {cascades:,}; generated in {generated:.1f}s; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")
    print(f"{'run':<38}{'wall s':>9}{'cpu s':>9}{'wall per 1M':>13}{'budget':>9}{'ratio':>8}")
    rows = (("copy of the events table (floor)", copy_wall, copy_cpu, copy_wall * scale),
            (f"full rebuild ({stats['events']:,} events)", full_wall, full_cpu, full_wall * scale),
            (f"incremental ({inc_stats['events']:,} new events)", inc_wall, inc_cpu, inc_wall))
    for label, wall, cpu, per_million in rows:
        print(f"{label:<38}{wall:>9.2f}{cpu:>9.2f}{per_million:>13.2f}{BUDGET_SECONDS:>9.1f}"
              f"{per_million / BUDGET_SECONDS:>8.2f}")
    print(f"incremental / full: {inc_wall / full_wall:.3f}; full / copy floor: {full_wall / copy_wall:.1f}")
