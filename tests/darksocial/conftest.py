"""Fixtures for tests/darksocial."""

from __future__ import annotations

import itertools

import pytest

from darksocial import store, tokens


class Scenario:
    """Raw events written straight into a real store, with readable helpers for hand-built cascades.

    Visitors are named by a letter; their ids are padded to a valid visitor id. Each event gets a
    timestamp one second after the previous one unless ``ts`` is given.
    """

    SITE = "blog"
    ORIGIN = "https://blog.example"

    def __init__(self, path):
        self.path = path
        self.db = store.open_db(path)
        self.clock = itertools.count(1)
        self.pending: list[dict] = []

    @staticmethod
    def visitor(name: str) -> str:
        return (name + "0" * 12)[:12]

    def _ts(self, ts: str | None) -> str:
        if ts:
            return ts
        n = next(self.clock)
        return f"2026-03-{1 + n // 86400:02d}T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}.000000Z"

    def event(self, **fields) -> dict:
        fields["ts"] = self._ts(fields.get("ts"))
        fields.setdefault("site", self.SITE)
        self.pending.append(fields)
        return fields

    def view(self, who: str, path: str = "/story", *, came_with: str | None = None, channel: str | None = None,
             referrer: str | None = None, token: str | None = None, ts: str | None = None, in_app=None,
             reload_of: str | None = None, returned: bool = False) -> str:
        """A page view; ``reload_of``: the own page-view token today's tracker sends (``o``) on a reload;
        ``returned``: a return whose address bar showed no token (``o`` empty: the home page, ``data-no-ab``)."""
        token = token or tokens.mint()
        self.event(kind="view", visitor=self.visitor(who), url=self.ORIGIN + path, token=token,
                   in_token=reload_of or came_with, in_channel=channel, referrer_host=referrer,
                   title=f"Title of {path}", ts=ts, in_app=in_app, reloaded=1 if reload_of or returned else None)
        return token

    def share(self, who: str, from_view: str, channel: str, path: str = "/story", *, token: str | None = None,
              ts: str | None = None) -> str:
        token = token or tokens.mint()
        self.event(kind="share", visitor=self.visitor(who), url=self.ORIGIN + path, token=token, parent=from_view,
                   channel=channel, ts=ts)
        return token

    def identify(self, who: str, external_id: str, name: str | None = None) -> None:
        self.event(kind="identify", visitor=self.visitor(who), external_id=external_id, name=name)

    def goal(self, who: str, goal: str, value: float | None = None) -> None:
        self.event(kind="goal", visitor=self.visitor(who), goal=goal, value=value)

    def link(self, name: str, path: str = "/story", channel: str | None = None) -> str:
        token = tokens.mint()
        self.db["links"].insert({"token": token, "site": self.SITE, "name": name, "url": self.ORIGIN + path,
                                 "channel": channel, "created": "2026-03-01T00:00:00.000000Z"})
        return token

    def flush(self, events: list[dict] | None = None) -> None:
        """Store the pending events (or ``events``) in the given order."""
        rows = self.pending if events is None else events
        if rows:
            self.db["events"].insert_all(rows, alter=False)
        if events is None:
            self.pending = []

    def attribute(self, full: bool = False) -> dict:
        from darksocial.attribution import attribute

        self.flush()
        return attribute(self.db, full=full)

    def row(self, table: str, **where) -> dict:
        rows = self.rows(table, **where)
        assert len(rows) == 1, f"expected one {table} row for {where}, got {rows}"
        return rows[0]

    def rows(self, table: str, **where) -> list[dict]:
        clause = " AND ".join(f"[{k}] = ?" for k in where) or "1"
        return list(self.db.query(f"SELECT * FROM [{table}] WHERE {clause}", list(where.values())))


@pytest.fixture
def scenario(tmp_path):
    sc = Scenario(tmp_path / "darksocial.db")
    yield sc
    sc.db.close()


@pytest.fixture
def make_scenario(tmp_path):
    """A factory of independent scenarios (each its own database file) in one test."""
    made = []

    def make(name: str) -> Scenario:
        made.append(Scenario(tmp_path / f"{name}.db"))
        return made[-1]

    yield make
    for sc in made:
        sc.db.close()
