"""Reading the events in scope into a ``World``, deduplicated by content so that the result never depends on
arrival order, and keeping ``_ds_identities`` (the latest identify event per visitor) up to date."""

from __future__ import annotations

from collections.abc import Iterable

from .. import tables
from .cascades import Link, ShareEvent, World
from .sqlrows import insert_rows, where_in

VIEW_COLUMNS = ("token, ts, site, url, title, visitor, referrer_host, in_token, in_channel, in_app, browser, "
                 "device")
VIEW_SQL = f"SELECT {VIEW_COLUMNS} FROM events WHERE kind = 'view' AND token IS NOT NULL"
SHARE_SQL = "SELECT token, ts, site, url, visitor, parent, channel FROM events WHERE kind = 'share'"
LINK_SQL = "SELECT token, site, name, url, channel, created FROM links"


def sort_key(row: tuple) -> tuple:
    return tuple((value is not None, "" if value is None else str(value)) for value in row)


def keep_first(rows: Iterable[tuple], target: dict, make) -> None:
    """Deduplicate by token, keeping the row that sorts first by content (ts first): order-independent."""
    for row in rows:
        old = target.get(row[0])
        if old is None or sort_key((row[1], *row)) < sort_key((old[1], *old)):
            target[row[0]] = make(row)


def update_identities(conn, visitors: set | None) -> set:
    """Rebuild _ds_identities for ``visitors`` (all when None); returns the visitors whose identity changed."""
    sql = "SELECT visitor, external_id, name, ts FROM events WHERE kind = 'identify' AND visitor IS NOT NULL"
    if visitors is None:
        rows = conn.execute(sql).fetchall()
        old = {}
        conn.execute("DELETE FROM _ds_identities")
    else:
        rows = where_in(conn, sql, "visitor", visitors)
        old = {r[0]: r[1:3] for r in where_in(conn, "SELECT visitor, external_id, name FROM _ds_identities",
                                               "visitor", visitors)}
    latest = _latest_identities(rows)
    insert_rows(conn, tables.IDENTITIES, latest)
    return {row[0] for row in latest if old.get(row[0]) != row[1:3]}


def _latest_identities(rows) -> list[tuple]:
    """The latest identify event per visitor (ties broken by content): (visitor, external_id, name, ts) rows."""
    latest: dict = {}
    for visitor, ext, name, ts in rows:
        key = sort_key((ts, ext, name))
        if visitor not in latest or key > latest[visitor][0]:
            latest[visitor] = (key, (visitor, ext, name, ts))
    return sorted(row for _, row in latest.values())


def load_world(conn, identities_for: set | None, goals_for: set | None) -> World:
    world = World()
    if identities_for is None:
        world.identities = {r[0]: (r[1], r[2]) for r in conn.execute(
            "SELECT visitor, external_id, name FROM _ds_identities")}
        world.goals = dict(conn.execute("SELECT visitor, COUNT(*) FROM _ds_goals GROUP BY visitor").fetchall())
    else:
        world.identities = {r[0]: (r[1], r[2]) for r in where_in(
            conn, "SELECT visitor, external_id, name FROM _ds_identities", "visitor", identities_for)}
        world.goals = dict(where_in(conn, "SELECT visitor, COUNT(*) FROM _ds_goals", "visitor", goals_for,
                                     " GROUP BY visitor"))
    return world


def load_tokens(conn, world: World, batch: set) -> None:
    keep_first(where_in(conn, SHARE_SQL, "token", batch), world.share_events, ShareEvent._make)
    world.links.update({r[0]: Link._make(r) for r in where_in(conn, LINK_SQL, "token", batch)})
