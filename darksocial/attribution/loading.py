"""Reading the events in scope into a ``World``, deduplicated by content so that the result never depends on
arrival order, and keeping ``_ds_identities`` (the latest identify event per visitor) up to date."""

from __future__ import annotations

from collections.abc import Iterable

from .. import tables
from .cascades import Link, ShareEvent, View, World, person_of
from .keys import events_where_in
from .sqlrows import chunks, delete_rows, insert_rows, where_in

VIEW_COLUMNS = ", ".join(View._fields)
VIEW_SQL = f"SELECT {VIEW_COLUMNS} FROM events WHERE kind = 'view' AND token IS NOT NULL"
SHARE_SQL = "SELECT token, ts, site, url, visitor, parent, channel FROM events WHERE kind = 'share'"
LINK_SQL = "SELECT token, site, name, url, channel, created FROM links"


def sort_key(row: tuple) -> tuple:
    return tuple((value is not None, "" if value is None else str(value)) for value in row)


def content_key(view: tuple) -> tuple:
    """Which copy of a page-view token is kept: the one whose content (a View's fields, time first) sorts first."""
    return sort_key((view[1], *view))


def kept_ids(rows: Iterable[tuple]) -> dict:
    """token → id of the copy kept, from rows (id, *View) of every copy of some page-view tokens: the copy that
    sorts first by content (content_key, as keep_first keeps); of copies alike in content, the earliest received."""
    best: dict = {}
    for row in rows:
        key = (content_key(row[1:]), row[0])
        if row[1] not in best or key < best[row[1]]:
            best[row[1]] = key
    return {token: key[1] for token, key in best.items()}


def keep_first(rows: Iterable[tuple], target: dict, make) -> None:
    """Deduplicate by token, keeping the row that sorts first by content (content_key): order-independent."""
    for row in rows:
        old = target.get(row[0])
        if old is None or content_key(row) < content_key(old):
            target[row[0]] = make(row)


def update_identities(conn, visitors: set | None) -> tuple[set, set]:
    """Rebuild _ds_identities for ``visitors`` (all when None); returns the visitors whose identity changed and
    every person those changes touch (each such visitor's person before and after)."""
    sql = "SELECT visitor, external_id, name, ts FROM events WHERE kind = 'identify' AND visitor IS NOT NULL"
    if visitors is None:
        rows = conn.execute(sql).fetchall()
        old = {}
        conn.execute("DELETE FROM _ds_identities")
    else:
        rows = events_where_in(conn, sql, "visitor", visitors)
        old = {r[0]: r[1:3] for r in where_in(conn, "SELECT visitor, external_id, name FROM _ds_identities",
                                               "visitor", visitors)}
        for chunk in chunks(sorted(old)):
            delete_rows(conn, tables.IDENTITIES.name, f"visitor IN ({','.join('?' * len(chunk))})", chunk)
    latest = _latest_identities(rows)
    insert_rows(conn, tables.IDENTITIES, latest)
    changed, persons = set(), set()
    for visitor, ext, name, _ in latest:
        before = old.get(visitor)
        if before != (ext, name):
            changed.add(visitor)
            persons.update((f"v:{visitor}", f"x:{ext}"))
            if before is not None:
                persons.add(f"x:{before[0]}")
    return changed, persons


def _latest_identities(rows) -> list[tuple]:
    """The latest identify event per visitor (ties broken by content): (visitor, external_id, name, ts) rows."""
    latest: dict = {}
    for visitor, ext, name, ts in rows:
        key = sort_key((ts, ext, name))
        if visitor not in latest or key > latest[visitor][0]:
            latest[visitor] = (key, (visitor, ext, name, ts))
    return sorted(row for _, row in latest.values())


def load_identities(conn, visitors: set | None) -> dict:
    sql = "SELECT visitor, external_id, name FROM _ds_identities"
    rows = conn.execute(sql) if visitors is None else where_in(conn, sql, "visitor", visitors)
    return {r[0]: (r[1], r[2]) for r in rows}


_GOALS_SQL = ("SELECT CASE WHEN i.external_id IS NOT NULL THEN 'x:' || i.external_id ELSE 'v:' || g.visitor END, "
              "g.goal, g.ts FROM _ds_goals g LEFT JOIN _ds_identities i ON i.visitor = g.visitor")


def load_goals(conn, persons: set | None) -> dict:
    """person → sorted times at which each of their distinct goals was last reached (on any of their devices)."""
    if persons is None:
        rows = conn.execute(_GOALS_SQL)
    else:
        exts = [p[2:] for p in persons if p.startswith("x:")]
        visitors = {p[2:] for p in persons if p.startswith("v:")}
        visitors |= {r[0] for r in where_in(conn, "SELECT visitor FROM _ds_identities", "external_id", exts)}
        # Persons looked up apart, not joined: through an incremental run's overlay a join would read every identity.
        goals = where_in(conn, "SELECT visitor, goal, ts FROM _ds_goals", "visitor", visitors)
        known = load_identities(conn, {visitor for visitor, _, _ in goals})
        rows = [(person_of(visitor, known), goal, ts) for visitor, goal, ts in goals]
    last: dict = {}
    for person, goal, ts in rows:
        key = (person, goal)
        last[key] = max(last.get(key, ""), ts or "")
    goals: dict = {}
    for (person, _), ts in last.items():
        goals.setdefault(person, []).append(ts)
    for times in goals.values():
        times.sort()
    return goals


def load_tokens(conn, world: World, batch: set) -> None:
    keep_first(events_where_in(conn, SHARE_SQL, "token", batch), world.share_events, ShareEvent._make)
    world.links.update({r[0]: Link._make(r) for r in where_in(conn, LINK_SQL, "token", batch)})


# A return whose address bar showed no token: marked (reloaded) with no in_token (idx_events_returns holds them).
UNNAMED_RETURN = "reloaded = 1 AND in_token IS NULL"


def returns_exist(conn) -> bool:
    """Whether the database holds any return that names no view (idx_events_returns answers at once)."""
    return conn.execute(f"SELECT 1 FROM events WHERE {UNNAMED_RETURN} LIMIT 1").fetchone() is not None
_VISITOR, _URL = View._fields.index("visitor"), View._fields.index("url")


def returns_pages(conn) -> list[tuple]:
    """Every view of the visitors and pages of the returns that name no view: one scan, against the returns'
    pages (idx_events_returns), when there are any (a full rebuild: the lookup tables may still be filling)."""
    if not returns_exist(conn):
        return []
    returns = f"SELECT DISTINCT visitor, url FROM events WHERE {UNNAMED_RETURN}"
    return conn.execute(f"""SELECT {VIEW_COLUMNS} FROM events NOT INDEXED
        WHERE kind = 'view' AND token IS NOT NULL AND (visitor, url) IN ({returns})""").fetchall()


def load_returns(conn, world: World, views: Iterable | None = None, pages_rows: list | None = None) -> list:
    """Load what tells which view each return that names none repeats (``world.returns_to``): every view of the
    visitor and page of each such return among ``views`` (all of them when None: ``pages_rows``, from
    returns_pages, whose tokens' other copies the caller has read too) that lacks its answer. The return repeats
    the latest of those before it (time, then token); a first one repeats nothing. Returns the returns answered."""
    asked = None  # every return's page: the scan read them all
    if views is None:
        groups = pages_rows if pages_rows is not None else returns_pages(conn)
        keep_first(groups, world.views, View._make)
    else:
        asked = {(v.visitor, v.url) for v in views
                 if v.reloaded and not v.in_token and v.visitor is not None and v.token not in world.returns_to}
        if not asked:
            return []
        groups = [row for row in events_where_in(conn, VIEW_SQL, "visitor", {visitor for visitor, _ in asked})
                  if (row[_VISITOR], row[_URL]) in asked]
        # Every copy of those page-view tokens, wherever it was sent from: the copy kept may be on another page.
        keep_first(events_where_in(conn, VIEW_SQL, "token", {row[0] for row in groups} - set(world.views)),
                   world.views, View._make)
    pages: dict = {}
    for token in {row[0] for row in groups}:
        view = world.views[token]
        page = (view.visitor, view.url)
        if asked is None or page in asked:  # a page not read whole waits for a call that asks for it
            pages.setdefault(page, []).append(view)
    answered = []
    for page_views in pages.values():
        page_views.sort(key=lambda v: (v.ts or "", v.token))
        for before, view in zip([None, *page_views[:-1]], page_views, strict=True):
            if view.reloaded and not view.in_token:
                world.returns_to[view.token] = before.token if before is not None else None
                answered.append(view)
    return answered


def load_view_chains(conn, world: World, views: Iterable) -> None:
    """Load the views whose page-view tokens ``views`` arrived with, and theirs in turn: what it takes to tell a
    reload of one's own page from a click (cascades.resolve_reloads). Iterative: one query per link of the
    longest chain."""
    frontier = {v.in_token for v in views if v.in_token and v.in_token not in world.views}
    while frontier:
        keep_first(events_where_in(conn, VIEW_SQL, "token", frontier), world.views, View._make)
        frontier = {up.in_token for t in frontier if (up := world.views.get(t)) is not None
                    and up.in_token and up.in_token not in world.views}
