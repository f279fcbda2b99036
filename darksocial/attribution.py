"""Attribution: raw ``events`` (and ambassador ``links``) → the analyst tables of ``darksocial.tables``.

The result is a function of the *set* of events, never of their arrival order: every
choice between rows uses their content (time, then token), never ``events.id``.

Incremental runs (the default) read only the events past the high-water mark, work out
which cascades, views, people, pages and days they can change, rebuild exactly those
rows with the same code a full rebuild uses, and re-aggregate the rollups for that
scope. ``attribute(db, full=True)`` rebuilds everything.

Division of labour: the cascade trees (shares, parents, depths, virality, influence) are
built in Python from the share events and the views that carry a token; the per-view
`visits` rows and the per-visit sums are computed by SQLite (a million rows never cross
into Python). The run holds the write lock (BEGIN IMMEDIATE) from start to commit.

How a token is resolved (DESIGN.md, Attribution):

* A *share* is any token somebody arrived with, or minted by a share event, or an
  ambassador link. Its origin is ``share`` (share event), ``link``, ``address_bar`` (a
  page-view token: somebody copied the address bar) or ``unknown`` (its share event has
  not arrived yet; it resolves on the run after it arrives).
* The parent of a share is the token the sharer arrived with on the page view the share
  was made from (for an address-bar share, that page view itself). Roots have depth 1.
* A click's channel: the share event's channel, else the link's, else the code carried
  in the URL, else the referrer's channel or host, else ``ab`` (address bar).
"""

from __future__ import annotations

import gc
import math
import sqlite3
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import NamedTuple

from . import referrers, tables
from .channels import CHANNELS
from .virality import structural_virality

DEFAULT_TIERS: tuple[tuple[int, str], ...] = ((1000, "macro"), (100, "mid"), (10, "micro"), (0, "nano"))
CHUNK = 900  # SQLite host parameters per IN (...) list


class View(NamedTuple):
    token: str
    ts: str
    site: str
    url: str
    title: str | None
    visitor: str | None
    referrer_host: str | None
    in_token: str | None
    in_channel: str | None
    in_app: str | None
    browser: str | None
    device: str | None


class ShareEvent(NamedTuple):
    token: str
    ts: str
    site: str
    url: str
    visitor: str | None
    parent: str | None
    channel: str | None


class Link(NamedTuple):
    token: str
    site: str | None
    name: str
    url: str | None
    channel: str | None
    created: str | None


_VIEW_COLUMNS = ("token, ts, site, url, title, visitor, referrer_host, in_token, in_channel, in_app, browser, "
                 "device")
_VIEW_SQL = f"SELECT {_VIEW_COLUMNS} FROM events WHERE kind = 'view' AND token IS NOT NULL"
_SHARE_SQL = "SELECT token, ts, site, url, visitor, parent, channel FROM events WHERE kind = 'share'"
_LINK_SQL = "SELECT token, site, name, url, channel, created FROM links"


def _sort_key(row: tuple) -> tuple:
    return tuple((value is not None, "" if value is None else str(value)) for value in row)


def _keep_first(rows: Iterable[tuple], target: dict, make) -> None:
    """Deduplicate by token, keeping the row that sorts first by content (ts first): order-independent."""
    for row in rows:
        old = target.get(row[0])
        if old is None or _sort_key((row[1], *row)) < _sort_key((old[1], *old)):
            target[row[0]] = make(row)


def _chunks(values, size: int = CHUNK):
    values = list(values)
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _where_in(conn, sql: str, column: str, values, extra: str = "") -> list[tuple]:
    out: list[tuple] = []
    for chunk in _chunks(values):
        marks = ",".join("?" * len(chunk))
        joiner = " AND " if " WHERE " in sql else " WHERE "
        out.extend(conn.execute(f"{sql}{joiner}{column} IN ({marks}){extra}", chunk).fetchall())
    return out


def person_of(visitor: str | None, identities: dict) -> str | None:
    if visitor is None:
        return None
    ident = identities.get(visitor)
    return f"x:{ident[0]}" if ident else f"v:{visitor}"


def channel_medium(channel: str | None) -> str:
    ch = CHANNELS.get(channel or "")
    return ch.medium if ch else "open"  # a referrer host: the link was posted somewhere public


@dataclass
class Share:
    token: str
    origin: str
    ts: str | None
    site: str | None
    url: str | None
    sharer_visitor: str | None
    sharer: str | None
    sharer_name: str | None
    event_channel: str | None
    parent_view: str | None
    parent: str | None = None
    root: str | None = None
    depth: int = 1
    channel: str | None = None
    clicks: list = field(default_factory=list)  # views (click=1)


@dataclass
class World:
    """The events in scope, deduplicated and indexed."""

    views: dict = field(default_factory=dict)  # token → View
    share_events: dict = field(default_factory=dict)  # token → ShareEvent
    links: dict = field(default_factory=dict)  # token → Link
    identities: dict = field(default_factory=dict)  # visitor → (external_id, name)
    goals: dict = field(default_factory=dict)  # visitor → number of distinct goals


def resolve_shares(world: World, tokens: Iterable[str] | None = None) -> dict[str, Share]:
    """Every share token in scope with its sharer, parent, root and depth."""
    views, events, links, ids = world.views, world.share_events, world.links, world.identities
    if tokens is None:
        wanted = set(events) | set(links) | {v.in_token for v in views.values() if v.in_token}
    else:
        wanted = set(tokens)
    shares: dict[str, Share] = {}
    for token in wanted:
        if token in events:
            e = events[token]
            sharer = person_of(e.visitor, ids)
            shares[token] = Share(token, "share", e.ts, e.site, e.url, e.visitor, sharer,
                                  _name(e.visitor, ids), e.channel, e.parent)
        elif token in links:
            link = links[token]
            shares[token] = Share(token, "link", link.created, link.site, link.url, None, f"a:{link.name}",
                                  link.name, link.channel, None)
        elif token in views:
            v = views[token]
            shares[token] = Share(token, "address_bar", v.ts, v.site, v.url, v.visitor, person_of(v.visitor, ids),
                                  _name(v.visitor, ids), None, token)
        else:
            shares[token] = Share(token, "unknown", None, None, None, None, None, None, None, None)
    for share in shares.values():
        pv = views.get(share.parent_view) if share.parent_view else None
        parent = pv.in_token if pv is not None else None
        share.parent = parent if parent in shares and parent != share.token else None
    _assign_roots(shares)
    return shares


def _name(visitor: str | None, identities: dict) -> str | None:
    ident = identities.get(visitor) if visitor else None
    return ident[1] if ident else None


def _assign_roots(shares: dict[str, Share]) -> None:
    """Root and depth for every share; a cycle (only forged events can make one) is cut at its smallest token."""
    done: set[str] = set()
    for start in sorted(shares):
        path: list[str] = []
        on_path: set[str] = set()
        token = start
        while token is not None and token not in done:
            if token in on_path:
                cycle = path[path.index(token):]
                shares[min(cycle)].parent = None
                return _assign_roots(shares)  # rare: restart with the cycle cut
            path.append(token)
            on_path.add(token)
            token = shares[token].parent
        for tok in reversed(path):
            share = shares[tok]
            if share.parent is None:
                share.root, share.depth = tok, 1
            else:
                up = shares[share.parent]
                share.root, share.depth = up.root, up.depth + 1
            done.add(tok)


def is_self_click(view: View, share: Share, identities: dict) -> bool:
    if share.sharer_visitor is None or view.visitor is None:
        return False
    return view.visitor == share.sharer_visitor or person_of(view.visitor, identities) == share.sharer


def click_channel(view: View, share: Share | None) -> str:
    if share is not None and share.event_channel:
        return share.event_channel
    if view.in_channel:
        return view.in_channel
    if view.referrer_host:
        return referrers.channel_for_host(view.referrer_host)
    return "ab"


def _medium_case(expr: str) -> str:
    whens = " ".join(f"WHEN '{code}' THEN '{ch.medium}'" for code, ch in CHANNELS.items())
    return f"CASE {expr} {whens} ELSE 'open' END"  # a referrer host: the link was posted somewhere public


# One `visits` row per page view, computed by SQLite (a million rows would take seconds more in Python).
# The rules, in order: a click on a share (not the sharer's own view) is tracked and credited; a bare channel code
# ("#ds=.wa", no-JS share link) is tracked without a sharer; anything else is classified by campaign parameters and
# referrer, and a visitor's first view with no referrer on a deep page is estimated dark social.
_VISITS_SQL = f"""
INSERT INTO visits
SELECT token, ts, substr(ts, 1, 10), site, url, title, visitor, person,
    CASE WHEN is_click OR bare_code THEN 'share'
         WHEN source = 'none' THEN (CASE WHEN is_first AND NOT home THEN 'dark_estimated' ELSE 'direct' END)
         ELSE source END,
    CASE WHEN is_click THEN {_medium_case("click_channel")}
         WHEN bare_code THEN {_medium_case("in_channel")}
         WHEN source = 'none' THEN (CASE WHEN is_first AND NOT home THEN 'dark' ELSE 'direct' END)
         ELSE class_medium END,
    CASE WHEN is_click THEN click_channel WHEN bare_code THEN in_channel ELSE class_channel END,
    CASE WHEN is_click OR bare_code THEN 1 ELSE 0 END,
    CASE WHEN NOT is_click AND NOT bare_code AND source = 'none' AND is_first AND NOT home THEN 1 ELSE 0 END,
    CASE WHEN is_click OR bare_code THEN NULL ELSE campaign END,
    referrer_host, in_app, browser, device, in_token, is_click,
    CASE WHEN is_click THEN sharer END, CASE WHEN is_click THEN sharer_name END,
    CASE WHEN is_click THEN depth END, CASE WHEN is_click THEN root END
FROM (
    SELECT e.token, e.ts, e.site, e.url, e.title, e.visitor, e.referrer_host, e.in_app, e.browser, e.device,
        e.in_token, e.in_channel, e.person, s.sharer, s.sharer_name, s.depth, s.root,
        (s.token IS NOT NULL AND NOT COALESCE(s.sharer_visitor IS NOT NULL AND e.visitor IS NOT NULL
            AND (e.visitor = s.sharer_visitor OR e.person = s.sharer), 0)) AS is_click,
        (e.in_token IS NULL AND e.in_channel IS NOT NULL) AS bare_code,
        CASE WHEN s.origin = 'share' THEN s.channel
             ELSE COALESCE(l.channel, e.in_channel, c.host_channel, 'ab') END AS click_channel,
        f.token IS NOT NULL AS is_first, c.home, c.source, c.medium AS class_medium, c.channel AS class_channel,
        c.campaign
    FROM (SELECT e.*, CASE WHEN e.visitor IS NULL THEN NULL WHEN i.external_id IS NOT NULL
                           THEN 'x:' || i.external_id ELSE 'v:' || e.visitor END AS person
          FROM events e LEFT JOIN _ds_identities i ON i.visitor = e.visitor
          WHERE e.kind = 'view' AND e.token IS NOT NULL AND e.id NOT IN (SELECT id FROM temp.losers) {{scope}}) e
    LEFT JOIN shares s ON s.token = e.in_token
    LEFT JOIN links l ON l.token = e.in_token AND s.origin = 'link'
    LEFT JOIN temp.classes c ON c.host = COALESCE(e.referrer_host, '') AND c.url = e.url
    LEFT JOIN temp.first_views f ON f.token = e.token
    LIMIT -1 OFFSET 0  -- not flattened: each derived column is computed once per row, not at every use above
)
"""


def _classes_row(host: str, url: str) -> tuple:
    source, channel = referrers.classify(host or None, url)
    campaign = None
    if source == "campaign":
        campaign, medium = referrers.campaign(url)[1], "campaign"
    elif source == "social":
        medium = channel_medium(channel) if channel in CHANNELS else "open"
    elif source == "none":
        medium = None
    else:
        medium = source
    host_channel = referrers.channel_for_host(host) if host else None
    return (host, url, source, medium, channel, campaign, int(referrers.is_home(url)), host_channel)


def write_visits(conn, scope: str = "") -> None:
    """Insert the `visits` rows of every view (``scope`` empty) or of the views in temp.wanted (``scope`` =
    "wanted"). The shares table must be up to date for the tokens these views carry."""
    within = "AND e.token IN (SELECT token FROM temp.wanted)" if scope else ""
    within_plain = "AND token IN (SELECT token FROM temp.wanted)" if scope else ""
    for name, columns in (("classes", "host TEXT, url TEXT, source TEXT, medium TEXT, channel TEXT, campaign TEXT, "
                                      "home INTEGER, host_channel TEXT, PRIMARY KEY (host, url)"),
                          ("first_views", "token TEXT PRIMARY KEY"), ("losers", "id INTEGER PRIMARY KEY")):
        conn.execute(f"DROP TABLE IF EXISTS temp.{name}")
        # Keyed lookups only: one B-tree (no rowid table behind the key index) is one search per visit, not two.
        rowid = "" if name == "losers" else " WITHOUT ROWID"
        conn.execute(f"CREATE TEMP TABLE {name} ({columns}){rowid}")
    events = "events" if scope else "events NOT INDEXED"
    pairs = conn.execute(f"SELECT DISTINCT COALESCE(referrer_host, ''), url FROM {events} "
                         f"WHERE kind = 'view' AND token IS NOT NULL {within_plain}").fetchall()
    conn.executemany("INSERT OR IGNORE INTO temp.classes VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     [_classes_row(host, url) for host, url in pairs])
    # A visitor's first view: the smallest (time, token).
    if scope:
        rows = conn.execute(f"""SELECT visitor, ts, token FROM events
            WHERE kind = 'view' AND token IS NOT NULL AND ts IS NOT NULL
            AND visitor IN (SELECT visitor FROM events WHERE kind = 'view' {within_plain})""")
    else:  # a scan and a dict beat SQLite's GROUP BY sorter on a million rows
        rows = conn.execute("SELECT visitor, ts, token FROM events NOT INDEXED "
                            "WHERE kind = 'view' AND token IS NOT NULL AND visitor IS NOT NULL AND ts IS NOT NULL")
    first: dict = {}
    for visitor, ts, token in rows:
        key = (ts, token)
        old = first.get(visitor)
        if old is None or key < old:
            first[visitor] = key
    # In key order: the B-tree grows at its right edge.
    conn.executemany("INSERT OR IGNORE INTO temp.first_views VALUES (?)",
                     [(token,) for token in sorted([key[1] for key in first.values()])])
    # The same page-view token sent twice (a retried beacon): keep the copy that sorts first by content.
    duplicates = conn.execute(f"""
        SELECT id, {_VIEW_COLUMNS} FROM events WHERE kind = 'view' AND token IN (
            SELECT token FROM events WHERE token IS NOT NULL {within_plain}
            GROUP BY token HAVING COUNT(*) > 1)""").fetchall()
    keep: dict = {}
    for row in duplicates:
        best = keep.get(row[1])
        if best is None or _sort_key((row[2], *row[1:])) < _sort_key((best[2], *best[1:])):
            keep[row[1]] = row
    conn.executemany("INSERT INTO temp.losers VALUES (?)",
                     [(row[0],) for row in duplicates if keep[row[1]][0] != row[0]])
    conn.execute(_VISITS_SQL.format(scope=within))


def cascade_rows(shares: dict[str, Share], world: World, roots: Iterable[str]):
    """(share rows, cascade rows, influence rows) for the cascades rooted at ``roots``.

    Each share must already carry its clicks. Nodes of a cascade are people: the root
    sharer plus each distinct visitor who clicked one of its shares; a visitor hangs
    under the sharer of the share through which they first arrived.
    """
    views, goals = world.views, world.goals
    members: dict[str, list[Share]] = defaultdict(list)
    roots = set(roots)
    for share in shares.values():
        if share.root in roots:
            members[share.root].append(share)
    children: dict[str, list[Share]] = defaultdict(list)
    for share in shares.values():
        if share.parent is not None:
            children[share.parent].append(share)

    share_rows, cascade_rows_, influence = [], [], []
    for root_token in sorted(roots):
        group = members.get(root_token, [])
        root = shares[root_token]
        # Visitors below each share: walk every click up its ancestors (depth is small in practice).
        below: dict[str, set] = defaultdict(set)
        for share in group:
            for view in share.clicks:
                anc: Share | None = share
                while anc is not None:
                    if view.visitor != anc.sharer_visitor:
                        below[anc.token].add(view.visitor)
                    anc = shares[anc.parent] if anc.parent else None
        by_person: dict[str, set] = defaultdict(set)
        for share in group:
            if share.sharer is not None:
                by_person[share.sharer] |= below[share.token]
        for person, visitors in by_person.items():
            influence.extend((root_token, person, v) for v in visitors)

        # The tree of people.
        root_node = root.sharer_visitor if root.sharer_visitor is not None else f"#{root_token}"
        arrival: dict = {}
        for share in group:
            for view in share.clicks:
                if view.visitor == root_node:
                    continue
                key = (share.depth, view.ts, view.token)
                if view.visitor not in arrival or key < arrival[view.visitor][0]:
                    arrival[view.visitor] = (key, share)
        parent = {root_node: None}
        depth = {root_node: 0}
        for visitor, ((d, _, _), _) in arrival.items():
            depth[visitor] = d
        for visitor, (_, share) in arrival.items():
            if share.parent is None:
                up = root_node
            else:
                pv = views.get(share.parent_view)
                up = pv.visitor if pv is not None else None
                if up not in depth or depth[up] >= depth[visitor]:
                    up = root_node  # inconsistent data (a share event from another visitor's page view)
            parent[visitor] = up
        nu = structural_virality(parent, depth)

        for share in group:
            clickers = {v.visitor for v in share.clicks}
            reshares = sum(1 for c in children.get(share.token, ()) if c.clicks)
            conversions = sum(goals.get(v, 0) for v in below[share.token])
            medium = channel_medium(share.channel)
            share_rows.append((
                share.token, share.origin, share.ts, share.ts[:10] if share.ts else None, share.site, share.url,
                share.sharer, share.sharer_name, share.sharer_visitor, share.channel, medium, share.parent_view,
                share.parent, share.root, share.depth, len(share.clicks), len(clickers), reshares,
                len(below[share.token]), conversions,
            ))
        cascade_rows_.append((
            root_token, root.site, root.url, root.sharer, root.sharer_name, root.channel, root.ts, len(group),
            sum(len(s.clicks) for s in group), len(parent), max(depth.values()), nu,
            sum(goals.get(v, 0) for v in below[root_token]),
        ))
    return share_rows, cascade_rows_, influence


def attach_clicks(shares: dict[str, Share], views: Iterable[View], world: World) -> None:
    """Give every share its clicks and, where no event or link names one, its channel (the commonest among
    its views, ties to the smallest)."""
    seen: dict[str, Counter] = defaultdict(Counter)
    for view in views:
        share = shares.get(view.in_token) if view.in_token else None
        if share is None:
            continue
        seen[share.token][click_channel(view, share)] += 1
        if not is_self_click(view, share, world.identities):
            share.clicks.append(view)
    for share in shares.values():
        share.clicks.sort(key=lambda v: (v.ts, v.token))
        if share.event_channel:
            share.channel = share.event_channel
        elif seen.get(share.token):
            counts = seen[share.token]
            share.channel = min(counts, key=lambda c: (-counts[c], c))
        else:
            share.channel = "ab"
        if share.origin == "unknown" and share.clicks:
            first = share.clicks[0]
            share.ts, share.site, share.url = first.ts, first.site, first.url


# ---------------------------------------------------------------------------------------------------------------
# Database side


def _state(conn, key: str, default: int = 0) -> int:
    row = conn.execute("SELECT value FROM _ds_state WHERE key = ?", (key,)).fetchone()
    return int(row[0]) if row else default


def _set_state(conn, key: str, value: int) -> None:
    conn.execute("INSERT OR REPLACE INTO _ds_state (key, value) VALUES (?, ?)", (key, str(value)))


def _insert(conn, table: tables.Table, rows: list[tuple]) -> None:
    if rows:
        # In primary-key order, the B-tree grows at its right edge instead of splitting pages all over.
        # Primary-key columns are never NULL here, so the rows compare directly.
        rows = sorted(rows, key=itemgetter(*[table.column_names().index(c) for c in table.pk]))
        marks = ",".join("?" * len(table.columns))
        conn.executemany(f"INSERT OR REPLACE INTO [{table.name}] VALUES ({marks})", rows)


def _update_identities(conn, visitors: set | None) -> set:
    """Rebuild _ds_identities for ``visitors`` (all when None); returns the visitors whose identity changed."""
    sql = "SELECT visitor, external_id, name, ts FROM events WHERE kind = 'identify' AND visitor IS NOT NULL"
    if visitors is None:
        rows = conn.execute(sql).fetchall()
        old = {}
        conn.execute("DELETE FROM _ds_identities")
    else:
        rows = _where_in(conn, sql, "visitor", visitors)
        old = {r[0]: r[1:3] for r in _where_in(conn, "SELECT visitor, external_id, name FROM _ds_identities",
                                               "visitor", visitors)}
    latest = _latest_identities(rows)
    _insert(conn, tables.IDENTITIES, latest)
    return {row[0] for row in latest if old.get(row[0]) != row[1:3]}


def _latest_identities(rows) -> list[tuple]:
    """The latest identify event per visitor (ties broken by content): (visitor, external_id, name, ts) rows."""
    latest: dict = {}
    for visitor, ext, name, ts in rows:
        key = _sort_key((ts, ext, name))
        if visitor not in latest or key > latest[visitor][0]:
            latest[visitor] = (key, (visitor, ext, name, ts))
    return sorted(row for _, row in latest.values())


def _load_world(conn, identities_for: set | None, goals_for: set | None) -> World:
    world = World()
    if identities_for is None:
        world.identities = {r[0]: (r[1], r[2]) for r in conn.execute(
            "SELECT visitor, external_id, name FROM _ds_identities")}
        world.goals = dict(conn.execute("SELECT visitor, COUNT(*) FROM _ds_goals GROUP BY visitor").fetchall())
    else:
        world.identities = {r[0]: (r[1], r[2]) for r in _where_in(
            conn, "SELECT visitor, external_id, name FROM _ds_identities", "visitor", identities_for)}
        world.goals = dict(_where_in(conn, "SELECT visitor, COUNT(*) FROM _ds_goals", "visitor", goals_for,
                                     " GROUP BY visitor"))
    return world


Progress = Callable[[str], None]


def attribute(db, full: bool = False, progress: Progress | None = None, tiers=DEFAULT_TIERS) -> dict:
    """Bring the analyst tables up to date with the events; returns counts of what was processed.

    A full rebuild computes in a read snapshot of the database (WAL readers never block the collector) into
    shadow tables in the connection's temp schema, then swaps them in with one short write transaction. An
    incremental run holds the write lock for its (short) duration. Either way the high-water mark is read in the
    same snapshot as the events processed, so no event is skipped or counted twice.
    """
    conn = getattr(db, "conn", db)
    say = progress or (lambda message: None)
    tables.create_all(conn)
    conn.execute("PRAGMA cache_size = -262144")  # 256 MiB: the index-heavy writes thrash the 2 MiB default
    conn.execute("PRAGMA temp.cache_size = -1048576")  # the full rebuild's shadow tables: no spill to temp files
    started = time.perf_counter()
    done, links_done = _state(conn, "events_id"), _state(conn, "links_rowid")
    if not full and (done or links_done) and _high_water(conn) == (done, links_done):
        return {"events": 0, "seconds": 0.0, "mode": "up to date"}
    # Millions of small tuples and no reference cycles: the cyclic GC would rescan them again and again.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        if full or (done == 0 and links_done == 0):
            stats = _full(conn, say, tiers)
        else:
            stats = _incremental(conn, done, links_done, say, tiers)
    finally:
        _drop_shadows(conn)
        if gc_was_enabled:
            gc.enable()
    stats["seconds"] = round(time.perf_counter() - started, 3)
    return stats


def _high_water(conn) -> tuple[int, int]:
    return (conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0],
            conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM links").fetchone()[0])


# Tables a full rebuild writes: built as shadows in the temp schema (unqualified names resolve to temp first,
# so the same SQL serves both kinds of run), then copied into main in one short transaction.
_REBUILT = (*tables.ANALYST_TABLES, tables.INFLUENCE, tables.GOALS, tables.IDENTITIES)


def _create_shadows(conn) -> None:
    for table in _REBUILT:
        conn.execute(f"DROP TABLE IF EXISTS temp.[{table.name}]")
        conn.execute(tables.create_sql(table)[0].replace("CREATE TABLE IF NOT EXISTS ", "CREATE TEMP TABLE ", 1))


def _index_shadows(conn) -> None:
    """Give every shadow the indexes its main table has (the store's and the reports' alike): with identical
    indexes SQLite copies table and index entries verbatim into an empty table (its transfer optimisation)
    instead of re-sorting every index while it holds the write lock."""
    for table in _REBUILT:
        for _, name, unique, origin, partial in conn.execute(f"PRAGMA main.index_list([{table.name}])").fetchall():
            if origin != "c" or partial:
                continue
            keys = [r for r in conn.execute(f"PRAGMA main.index_xinfo([{name}])").fetchall() if r[5]]
            columns = ", ".join(f"[{r[2]}]{' DESC' if r[3] else ''} COLLATE {r[4]}" for r in keys)
            conn.execute(f"CREATE {'UNIQUE ' if unique else ''}INDEX temp.[{name}] ON [{table.name}] ({columns})")


def _swap_in_shadows(conn) -> None:
    for table in _REBUILT:
        conn.execute(f"DELETE FROM main.[{table.name}]")
        conn.execute(f"INSERT INTO main.[{table.name}] SELECT * FROM temp.[{table.name}]")


def _drop_shadows(conn) -> None:
    if conn.in_transaction:
        conn.rollback()
    for table in _REBUILT:
        conn.execute(f"DROP TABLE IF EXISTS temp.[{table.name}]")


def _full(conn, say: Progress, tiers) -> dict:
    _create_shadows(conn)
    conn.commit()
    # A read snapshot: the collector goes on writing while everything is computed into the temp shadows.
    conn.execute("BEGIN")
    high, links_high = _high_water(conn)  # the first read fixes the snapshot: exactly the events read below
    say("reading events")
    conn.execute("INSERT OR IGNORE INTO _ds_goals SELECT DISTINCT visitor, goal FROM events NOT INDEXED "
                 "WHERE kind = 'goal' AND visitor IS NOT NULL AND goal IS NOT NULL")  # not a walk of the visitor index
    _update_identities(conn, None)
    world = _load_world(conn, None, None)
    # Python only needs the views that carry a token (clicks) and the page views shares were made from.
    # NOT INDEXED: reading a third of a big table through an index is random access; a scan is sequential.
    scan = _VIEW_SQL.replace("FROM events", "FROM events NOT INDEXED")
    _keep_first(conn.execute(scan + " AND in_token IS NOT NULL"), world.views, View._make)
    _keep_first(conn.execute(_SHARE_SQL), world.share_events, ShareEvent._make)
    world.links = {r[0]: Link._make(r) for r in conn.execute(_LINK_SQL)}
    wanted = {e.parent for e in world.share_events.values() if e.parent} | {
        v.in_token for v in world.views.values()}
    conn.execute("DROP TABLE IF EXISTS temp.wanted")
    conn.execute("CREATE TEMP TABLE wanted (token TEXT PRIMARY KEY)")
    conn.executemany("INSERT OR IGNORE INTO temp.wanted VALUES (?)", [(t,) for t in wanted - set(world.views)])
    _keep_first(conn.execute(scan + " AND token IN (SELECT token FROM temp.wanted)"), world.views, View._make)
    say(f"resolving {len(world.share_events):,} share events and {len(world.views):,} page views with tokens")
    shares = resolve_shares(world)
    attach_clicks(shares, world.views.values(), world)
    share_rows, cascade_rows_, influence = cascade_rows(shares, world, {s.root for s in shares.values()})
    say(f"writing {len(share_rows):,} shares, {len(cascade_rows_):,} cascades and the visits")
    _insert(conn, tables.SHARES, share_rows)
    _insert(conn, tables.CASCADES, cascade_rows_)
    _insert(conn, tables.INFLUENCE, influence)
    write_visits(conn)
    say("aggregating influencers, stories, channels and daily rollups")
    _aggregate(conn, None, tiers, (share_rows, cascade_rows_, influence, world.goals))
    say("indexing")
    _index_shadows(conn)
    events = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    visits = conn.execute("SELECT COUNT(*) FROM visits").fetchone()[0]
    conn.commit()  # ends the snapshot; the shadows stay
    say("swapping in the new tables")
    conn.execute("BEGIN IMMEDIATE")
    _swap_in_shadows(conn)
    _set_state(conn, "events_id", high)
    _set_state(conn, "links_rowid", links_high)
    conn.commit()
    return {"mode": "full", "events": events, "visits": visits, "shares": len(share_rows)}


def _scalars(conn, sql: str, column: str, values) -> set:
    return {r[0] for r in _where_in(conn, sql, column, values) if r[0] is not None}


def _incremental(conn, done: int, links_done: int, say: Progress, tiers) -> dict:
    conn.execute("BEGIN IMMEDIATE")  # the write lock up front: a deferred one could fail midway under the collector
    high, links_high = _high_water(conn)
    new = conn.execute("SELECT kind, token, visitor, in_token, parent, goal FROM events WHERE id > ? AND id <= ?",
                       (done, high)).fetchall()
    new_links = [r[0] for r in conn.execute("SELECT token FROM links WHERE rowid > ? AND rowid <= ?",
                                            (links_done, links_high))]
    say(f"processing {len(new):,} new events")
    touched = set(new_links)
    new_view_tokens, view_visitors, id_visitors, goal_rows = set(), set(), set(), []
    for kind, token, visitor, in_token, parent, goal in new:
        if kind == "view" and token:
            touched.add(token)
            new_view_tokens.add(token)
            if in_token:
                touched.add(in_token)
            if visitor:
                view_visitors.add(visitor)
        elif kind == "share" and token:
            touched.add(token)
            if parent:
                touched.add(parent)
        elif kind == "identify" and visitor:
            id_visitors.add(visitor)
        elif kind == "goal" and visitor and goal:
            goal_rows.append((visitor, goal))
    before = conn.total_changes
    goal_visitors = set()
    for row in goal_rows:
        conn.execute("INSERT OR IGNORE INTO _ds_goals VALUES (?, ?)", row)
        if conn.total_changes != before:
            goal_visitors.add(row[0])
            before = conn.total_changes
    changed_ids = _update_identities(conn, id_visitors) if id_visitors else set()
    people = goal_visitors | changed_ids

    # Cascades the new events can change, then every cascade those reach through parents.
    roots = _scalars(conn, "SELECT root FROM shares", "token", touched)
    roots |= _scalars(conn, "SELECT root FROM shares", "parent_view", touched)
    roots |= _scalars(conn, "SELECT s.root FROM visits v JOIN shares s ON s.token = v.share_token", "v.token",
                      touched)
    roots |= _scalars(conn, "SELECT root FROM visits", "visitor", people)
    roots |= _scalars(conn, "SELECT root FROM shares", "sharer_visitor", people)

    world = World()
    share_tokens: set = set()
    pending_roots, seen_roots, pending_tokens = set(roots), set(), set(touched)
    while pending_roots or pending_tokens:
        seen_roots |= pending_roots
        batch = (_scalars(conn, "SELECT token FROM shares", "root", pending_roots) | pending_tokens) - share_tokens
        pending_roots, pending_tokens = set(), set()
        if not batch:
            break
        share_tokens |= batch
        # A token's whole old cascade is rebuilt with it (its rows are replaced by root).
        pending_roots |= _scalars(conn, "SELECT root FROM shares", "token", batch) - seen_roots
        _load_tokens(conn, world, batch)
        # Views carrying these tokens, and the page views the shares were made from.
        carrying = _scalars(conn, "SELECT token FROM visits", "share_token", batch)
        carrying |= _scalars(conn, "SELECT token FROM events", "in_token", batch)
        parents = {e.parent for t in batch if (e := world.share_events.get(t)) and e.parent}
        _keep_first(_where_in(conn, _VIEW_SQL, "token", (carrying | parents | batch) - set(world.views)),
                    world.views, View._make)
        for token in parents | batch:
            view = world.views.get(token)
            if view is not None and view.in_token and view.in_token not in share_tokens:
                pending_tokens.add(view.in_token)
    # Only tokens that are shares (something arrived with them, a share event, a link) stay.
    carried = {v.in_token for v in world.views.values() if v.in_token}
    share_tokens = {t for t in share_tokens if t in carried or t in world.share_events or t in world.links}

    # Views to (re)classify: new ones, every view of a visitor with a new view (first view may move),
    # views of people whose identity changed, and every view carrying a token of a rebuilt cascade.
    reclass_visitors = view_visitors | changed_ids
    wanted_views = {r[0] for r in _where_in(
        conn, "SELECT token FROM events WHERE kind = 'view' AND token IS NOT NULL", "visitor", reclass_visitors)}
    wanted_views |= new_view_tokens
    wanted_views |= {v.token for v in world.views.values() if v.in_token in share_tokens}
    involved = {v.visitor for v in world.views.values()} | {e.visitor for e in world.share_events.values()}
    involved.discard(None)
    loaded = _load_world(conn, involved, involved)
    world.identities, world.goals = loaded.identities, loaded.goals

    shares = resolve_shares(world, share_tokens)
    attach_clicks(shares, [v for v in world.views.values() if v.in_token in shares], world)
    new_roots = {s.root for s in shares.values()}
    share_rows, cascade_rows_, influence = cascade_rows(shares, world, new_roots)
    say(f"rebuilding {len(cascade_rows_):,} cascades and {len(wanted_views):,} visits")

    # Scope of the rollups: everything the old and the new rows touch.
    old_roots = seen_roots | _scalars(conn, "SELECT root FROM shares", "token", share_tokens)
    conn.execute("DROP TABLE IF EXISTS temp.wanted")
    conn.execute("CREATE TEMP TABLE wanted (token TEXT PRIMARY KEY)")
    conn.executemany("INSERT INTO temp.wanted VALUES (?)", [(t,) for t in wanted_views])
    scope_persons, scope_pages, scope_dates = set(), set(), set()

    def collect(rows):
        for sharer, site, url, date in rows:
            scope_persons.add(sharer)
            scope_pages.add((site, url))
            scope_dates.add(date)

    visits_in_scope = "SELECT sharer, site, url, date FROM visits WHERE token IN (SELECT token FROM temp.wanted)"
    collect(_where_in(conn, "SELECT sharer, site, url, date FROM shares", "root", old_roots | new_roots))
    collect(conn.execute(visits_in_scope).fetchall())
    scope_persons |= _scalars(conn, "SELECT person FROM _ds_influence", "root", old_roots | new_roots)
    for table, column, keys in ((tables.SHARES, "root", old_roots | new_roots),
                                (tables.CASCADES, "root", old_roots | new_roots),
                                (tables.INFLUENCE, "root", old_roots | new_roots)):
        for chunk in _chunks(keys):
            conn.execute(f"DELETE FROM [{table.name}] WHERE {column} IN ({','.join('?' * len(chunk))})", chunk)
    conn.execute("DELETE FROM visits WHERE token IN (SELECT token FROM temp.wanted)")
    _insert(conn, tables.SHARES, share_rows)
    _insert(conn, tables.CASCADES, cascade_rows_)
    _insert(conn, tables.INFLUENCE, influence)
    write_visits(conn, "wanted")
    collect((row[S["sharer"]], row[S["site"]], row[S["url"]], row[S["date"]]) for row in share_rows)
    collect(conn.execute(visits_in_scope).fetchall())
    scope_persons |= {row[1] for row in influence}
    scope_pages |= {(row[1], row[2]) for row in cascade_rows_}
    say("aggregating influencers, stories, channels and daily rollups")
    _aggregate(conn, (scope_persons - {None}, scope_pages - {(None, None)}, scope_dates - {None}), tiers)
    _set_state(conn, "events_id", high)
    _set_state(conn, "links_rowid", links_high)
    conn.commit()
    return {"mode": "incremental", "events": len(new), "visits": len(wanted_views), "shares": len(share_rows)}


def _load_tokens(conn, world: World, batch: set) -> None:
    _keep_first(_where_in(conn, _SHARE_SQL, "token", batch), world.share_events, ShareEvent._make)
    world.links.update({r[0]: Link._make(r) for r in _where_in(conn, _LINK_SQL, "token", batch)})


# ---------------------------------------------------------------------------------------------------------------
# Rollups: the same SQL for a full rebuild (scope None) and an incremental one (scope = keys to redo).


S = {name: i for i, name in enumerate(tables.SHARES.column_names())}
C = {name: i for i, name in enumerate(tables.CASCADES.column_names())}


def _aggregate(conn, scope, tiers, built: tuple | None = None) -> None:
    """Rebuild influencers, stories, daily and story_daily for ``scope`` (persons, pages, dates; None = all),
    then channels.

    The per-visit sums are GROUP BYs in SQLite (a million rows never cross into Python); the same queries and
    functions serve a full rebuild (no filter) and an incremental run (filtered to its scope). A full rebuild
    passes the rows it has just written (``built``: share, cascade and influence rows, visitor → goals) instead of
    reading them back.
    """
    if scope is None:
        by_person = by_page = by_date = "1"
        for name in ("influencers", "stories", "daily", "story_daily"):
            conn.execute(f"DELETE FROM {name}")
    else:
        persons, pages, dates = scope
        for name, columns in (("scope_persons", "person TEXT PRIMARY KEY"),
                              ("scope_pages", "site TEXT, url TEXT, PRIMARY KEY (site, url)"),
                              ("scope_dates", "date TEXT PRIMARY KEY")):
            conn.execute(f"DROP TABLE IF EXISTS temp.{name}")
            conn.execute(f"CREATE TEMP TABLE {name} ({columns})")
        conn.executemany("INSERT OR IGNORE INTO scope_persons VALUES (?)", [(p,) for p in persons])
        conn.executemany("INSERT OR IGNORE INTO scope_pages VALUES (?, ?)", list(pages))
        conn.executemany("INSERT OR IGNORE INTO scope_dates VALUES (?)", [(d,) for d in dates])
        by_person = "sharer IN (SELECT person FROM temp.scope_persons)"
        by_page = "(site, url) IN (SELECT site, url FROM temp.scope_pages)"
        by_date = "date IN (SELECT date FROM temp.scope_dates)"
        conn.execute("DELETE FROM influencers WHERE person IN (SELECT person FROM scope_persons)")
        conn.execute(f"DELETE FROM stories WHERE {by_page}")
        conn.execute(f"DELETE FROM daily WHERE {by_date}")
        # A changed visit has its page in scope_pages and its day in scope_dates: those cells are redone.
        conn.execute(f"DELETE FROM story_daily WHERE {by_date} AND {by_page}")

    if built is not None:
        shares_, cascades, influence, goals = built
        shares_by_person = shares_by_page = shares_by_date = shares_
    else:
        in_scope = by_person.replace("sharer", "person")
        influence = conn.execute(f"SELECT * FROM _ds_influence WHERE {in_scope}").fetchall()
        goals = dict(conn.execute(f"""SELECT visitor, COUNT(*) FROM _ds_goals WHERE visitor IN (
            SELECT visitor FROM _ds_influence WHERE {in_scope}) GROUP BY visitor"""))
        shares_by_person = conn.execute(f"SELECT * FROM shares WHERE {by_person}").fetchall()
        shares_by_page = conn.execute(f"SELECT * FROM shares WHERE {by_page}").fetchall()
        shares_by_date = conn.execute(f"SELECT * FROM shares WHERE {by_date}").fetchall()
        cascades = conn.execute(f"SELECT * FROM cascades WHERE {by_page}").fetchall()
    reach = dict(conn.execute(f"SELECT sharer, COUNT(DISTINCT visitor) FROM visits WHERE click = 1 AND {by_person} "
                              "GROUP BY sharer"))
    _insert(conn, tables.INFLUENCERS, influencer_rows(
        shares_by_person, reach, influence, goals, tiers))

    # The latest title seen: with a single MAX(), SQLite takes the bare column from the row holding the maximum
    # (NULL only when no visit of the page has a title).
    page_visits, titles = {}, {}
    for r in conn.execute(f"""
        SELECT site, url, COUNT(*), COUNT(DISTINCT visitor), COUNT(DISTINCT CASE WHEN click = 1 THEN visitor END),
               SUM(tracked = 1 AND medium = 'dark'), SUM(estimated), SUM(medium = 'open'), SUM(medium = 'search'),
               SUM(medium = 'referral'), SUM(medium = 'campaign'), SUM(medium = 'internal'), SUM(medium = 'direct'),
               title, MAX(CASE WHEN title IS NOT NULL THEN ts || char(1) || token END)
        FROM visits WHERE {by_page} GROUP BY site, url"""):
        page_visits[r[0], r[1]] = r[2:13]
        if r[13] is not None:
            titles[r[0], r[1]] = r[13]
    titles.update(_page_titles(conn, None if scope is None else by_page))
    _insert(conn, tables.STORIES, story_rows(
        page_visits, shares_by_page, cascades, titles))

    day_visits = {tuple(r[:4]): r[4:] for r in conn.execute(f"""
        SELECT date, site, medium, COALESCE(channel, ''), COUNT(*), COUNT(DISTINCT visitor), SUM(tracked),
               SUM(estimated), SUM(click)
        FROM visits WHERE {by_date} GROUP BY 1, 2, 3, 4""")}
    _insert(conn, tables.DAILY, daily_rows(day_visits, shares_by_date))
    conn.execute(f"""INSERT INTO story_daily
        SELECT date, site, url, SUM(visits), SUM(dark_tracked), SUM(dark_estimated), SUM(open_visits),
            SUM(other_visits), SUM(shares), SUM(clicks) FROM (
            SELECT date, site, url, COUNT(*) AS visits, SUM(CASE WHEN medium = 'dark' THEN tracked ELSE 0 END)
                AS dark_tracked, SUM(estimated) AS dark_estimated, SUM(medium = 'open') AS open_visits,
                SUM(medium NOT IN ('dark', 'open')) AS other_visits, 0 AS shares, 0 AS clicks
            FROM visits WHERE {by_date} AND {by_page} GROUP BY date, site, url
            UNION ALL
            SELECT date, site, url, 0, 0, 0, 0, 0, COUNT(*), SUM(clicks)
            FROM shares WHERE {by_date} AND {by_page} GROUP BY date, site, url)
        WHERE date IS NOT NULL AND site IS NOT NULL AND url IS NOT NULL
        GROUP BY date, site, url ORDER BY date, site, url""")
    # The score is relative to the best story, so every story's score is refreshed (the table is small).
    conn.execute("""
        UPDATE stories SET virality_score = COALESCE(ROUND(100.0 * reach * COALESCE(structural_virality, 0)
            / NULLIF((SELECT MAX(reach * COALESCE(structural_virality, 0)) FROM stories), 0), 2), 0)""")
    _channels(conn)


def _tier(reach: int, tiers) -> str:
    for threshold, name in tiers:
        if reach >= threshold:
            return name
    return tiers[-1][1]


def influencer_rows(shares, reach: dict, influence, goals: dict, tiers) -> list[tuple]:
    """`influencers` rows from the people's share rows, their reach (person → distinct clickers) and the
    influence pairs (root, person, visitor below)."""
    people: dict = {}
    tops: dict = {"channel": defaultdict(lambda: [0, 0]), "url": defaultdict(lambda: [0, 0])}
    i_sharer, i_name, i_ts, i_clicks, i_reshares = S["sharer"], S["sharer_name"], S["ts"], S["clicks"], S["reshares"]
    for row in shares:
        person = row[i_sharer]
        if person is None:
            continue
        p = people.get(person)
        if p is None:
            p = people[person] = [None, 0, 0, 0, None, None]  # name, shares, clicks, re-shares, first, last
        name, ts, clicks_ = row[i_name], row[i_ts], row[i_clicks]
        if name is not None and (p[0] is None or name > p[0]):
            p[0] = name
        p[1] += 1
        p[2] += clicks_
        p[3] += row[i_reshares]
        if ts is not None:
            p[4] = ts if p[4] is None else min(p[4], ts)
            p[5] = ts if p[5] is None else max(p[5], ts)
        for column, counts in tops.items():
            value = row[S[column]]
            if value is not None:
                entry = counts[(person, value)]
                entry[0] += clicks_
                entry[1] += 1
    best: dict = {"channel": {}, "url": {}}
    for column, counts in tops.items():
        for (person, value), (clicks_, n) in counts.items():
            key = (-clicks_, -n, value)
            if person not in best[column] or key < best[column][person]:
                best[column][person] = key
    below: dict = defaultdict(set)
    for _, person, visitor in influence:
        below[person].add(visitor)
    kinds = {"v": "visitor", "x": "identified", "a": "ambassador"}
    out = []
    for person in sorted(people):
        name, n_shares, clicks_, reshares, first, last = people[person]
        r = reach.get(person, 0)
        downstream = below.get(person, set())
        top_channel, top_story = (best[c][person][2] if person in best[c] else None for c in ("channel", "url"))
        out.append((person, name, kinds.get(person[:1], "visitor"), n_shares, clicks_, r, reshares, len(downstream),
                    sum(goals.get(v, 0) for v in downstream), round(clicks_ / n_shares, 4), top_channel, top_story,
                    _tier(r, tiers), first, last))
    return out


_MEDIUM_COLUMNS = ("open", "search", "referral", "campaign", "internal", "direct")


def story_rows(page_visits: dict, shares, cascades, titles: dict) -> list[tuple]:
    """`stories` rows (the virality score is set afterwards, relative to the best story).

    ``page_visits``: (site, url) → (visits, visitors, reach, dark tracked, estimated, open, search, referral,
    campaign, internal, direct), summed by SQLite.
    """
    codes = list(CHANNELS)
    pages: dict = {}

    def page(key):
        p = pages.get(key)
        if p is None:
            p = pages[key] = {"shares": 0, "channels": Counter(), "clicks": 0, "reshares": 0, "cascades": 0,
                              "depth": None, "weights": [], "sizes": [], "conversions": 0}
        return p

    for key in page_visits:
        page(key)
    for row in shares:
        if row[S["url"]] is None:
            continue
        p = page((row[S["site"]], row[S["url"]]))
        p["shares"] += 1
        p["channels"][row[S["channel"]]] += 1
        p["clicks"] += row[S["clicks"]]
        p["reshares"] += row[S["reshares"]]
    for row in cascades:
        if row[C["url"]] is None:
            continue
        p = page((row[C["site"]], row[C["url"]]))
        p["cascades"] += 1
        depth = row[C["depth"]]
        p["depth"] = depth if p["depth"] is None else max(p["depth"], depth)
        p["conversions"] += row[C["conversions"]]
        if row[C["structural_virality"]] is not None:
            p["weights"].append(row[C["size"]] * row[C["structural_virality"]])
            p["sizes"].append(row[C["size"]])
    out = []
    for key in sorted(pages):
        p = pages[key]
        v = page_visits.get(key, (0,) * 11)
        nu = round(math.fsum(p["weights"]) / sum(p["sizes"]), 6) if p["sizes"] else None
        other = sum(n for code, n in p["channels"].items() if code not in CHANNELS)
        clicks, n_shares = p["clicks"], p["shares"]
        out.append((key[0], key[1], titles.get(key), *v, n_shares, *(p["channels"][c] for c in codes), other,
                    clicks, round(clicks / n_shares, 4) if n_shares else 0.0,
                    round(p["reshares"] / clicks, 4) if clicks else 0.0, p["conversions"], p["cascades"], p["depth"],
                    nu, None))
    return out


def _page_titles(conn, where: str | None) -> dict:
    """Titles from the imported page manifest (`pages`, the store's table) win over titles seen by the tracker."""
    try:
        sql = "SELECT site, url, title FROM pages WHERE title IS NOT NULL" + (f" AND {where}" if where else "")
        return {(r[0], r[1]): r[2] for r in conn.execute(sql)}
    except sqlite3.OperationalError:  # a bare database without the store's tables
        return {}


def daily_rows(day_visits: dict, shares) -> list[tuple]:
    """`daily` rows: ``day_visits`` maps (date, site, medium, channel) → (visits, visitors, tracked, estimated,
    clicks), summed by SQLite; shares are counted here by the day they were minted."""
    days = {key: [*values, 0] for key, values in day_visits.items()}
    for row in shares:
        if row[S["site"]] is None or row[S["date"]] is None:
            continue
        key = (row[S["date"]], row[S["site"]], row[S["medium"]], row[S["channel"]] or "")
        days.setdefault(key, [0, 0, 0, 0, 0, 0])[5] += 1
    return [(*key, *values) for key, values in sorted(days.items())]


def _channels(conn) -> None:
    conn.execute("DELETE FROM channels")
    visits = {r[0]: r[1:] for r in conn.execute(
        "SELECT channel, COUNT(*), MIN(medium) FROM visits WHERE channel IS NOT NULL GROUP BY channel")}
    reach = dict(conn.execute(
        "SELECT channel, COUNT(DISTINCT visitor) FROM visits WHERE click = 1 GROUP BY channel"))
    shares = {r[0]: r[1:] for r in conn.execute(
        "SELECT channel, COUNT(*), SUM(clicks), SUM(reshares), SUM(conversions), MIN(medium) FROM shares "
        "GROUP BY channel")}
    rows = []
    for channel in sorted(set(visits) | set(shares)):
        v_count, v_medium = visits.get(channel, (0, None))
        n, clicks, reshares, conversions, s_medium = shares.get(channel, (0, 0, 0, 0, None))
        ch = CHANNELS.get(channel)
        medium = ch.medium if ch else (s_medium or v_medium)
        rows.append((channel, ch.label if ch else channel, medium, v_count, n, clicks or 0, reach.get(channel, 0),
                     reshares or 0, round((clicks or 0) / n, 4) if n else 0.0,
                     round((reshares or 0) / clicks, 4) if clicks else 0.0, conversions or 0))
    _insert(conn, tables.CHANNELS_TABLE, rows)
