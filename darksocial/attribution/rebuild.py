"""The two kinds of attribution run: a full rebuild (computed in a read snapshot into temp shadow tables, then
swapped in) and an incremental run (only what the new events can change, under the write lock)."""

from __future__ import annotations

from collections.abc import Callable

from .. import tables
from .cascades import Link, ShareEvent, View, World, attach_clicks, cascade_rows, resolve_shares
from .loading import LINK_SQL, SHARE_SQL, VIEW_SQL, keep_first, load_tokens, load_world, update_identities
from .rollups import S, aggregate
from .sqlrows import chunks, high_water, insert_rows, where_in, write_state
from .visits import write_visits

Progress = Callable[[str], None]


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


def drop_shadows(conn) -> None:
    if conn.in_transaction:
        conn.rollback()
    for table in _REBUILT:
        conn.execute(f"DROP TABLE IF EXISTS temp.[{table.name}]")


def full_rebuild(conn, say: Progress, tiers) -> dict:
    _create_shadows(conn)
    conn.commit()
    # A read snapshot: the collector goes on writing while everything is computed into the temp shadows.
    conn.execute("BEGIN")
    high, links_high = high_water(conn)  # the first read fixes the snapshot: exactly the events read below
    say("reading events")
    conn.execute("INSERT OR IGNORE INTO _ds_goals SELECT DISTINCT visitor, goal FROM events NOT INDEXED "
                 "WHERE kind = 'goal' AND visitor IS NOT NULL AND goal IS NOT NULL")  # not a walk of the visitor index
    update_identities(conn, None)
    world = load_world(conn, None, None)
    # Python only needs the views that carry a token (clicks) and the page views shares were made from.
    # NOT INDEXED: reading a third of a big table through an index is random access; a scan is sequential.
    scan = VIEW_SQL.replace("FROM events", "FROM events NOT INDEXED")
    keep_first(conn.execute(scan + " AND in_token IS NOT NULL"), world.views, View._make)
    keep_first(conn.execute(SHARE_SQL), world.share_events, ShareEvent._make)
    world.links = {r[0]: Link._make(r) for r in conn.execute(LINK_SQL)}
    wanted = {e.parent for e in world.share_events.values() if e.parent} | {
        v.in_token for v in world.views.values()}
    conn.execute("DROP TABLE IF EXISTS temp.wanted")
    conn.execute("CREATE TEMP TABLE wanted (token TEXT PRIMARY KEY)")
    conn.executemany("INSERT OR IGNORE INTO temp.wanted VALUES (?)", [(t,) for t in wanted - set(world.views)])
    keep_first(conn.execute(scan + " AND token IN (SELECT token FROM temp.wanted)"), world.views, View._make)
    say(f"resolving {len(world.share_events):,} share events and {len(world.views):,} page views with tokens")
    shares = resolve_shares(world)
    attach_clicks(shares, world.views.values(), world)
    share_rows, cascade_rows_, influence = cascade_rows(shares, world, {s.root for s in shares.values()})
    say(f"writing {len(share_rows):,} shares, {len(cascade_rows_):,} cascades and the visits")
    insert_rows(conn, tables.SHARES, share_rows)
    insert_rows(conn, tables.CASCADES, cascade_rows_)
    insert_rows(conn, tables.INFLUENCE, influence)
    write_visits(conn)
    say("aggregating influencers, stories, channels and daily rollups")
    aggregate(conn, None, tiers, (share_rows, cascade_rows_, influence, world.goals))
    say("indexing")
    _index_shadows(conn)
    events = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    visits = conn.execute("SELECT COUNT(*) FROM visits").fetchone()[0]
    conn.commit()  # ends the snapshot; the shadows stay
    say("swapping in the new tables")
    conn.execute("BEGIN IMMEDIATE")
    _swap_in_shadows(conn)
    write_state(conn, "events_id", high)
    write_state(conn, "links_rowid", links_high)
    conn.commit()
    return {"mode": "full", "events": events, "visits": visits, "shares": len(share_rows)}


def _scalars(conn, sql: str, column: str, values) -> set:
    return {r[0] for r in where_in(conn, sql, column, values) if r[0] is not None}


def incremental_run(conn, done: int, links_done: int, say: Progress, tiers) -> dict:
    conn.execute("BEGIN IMMEDIATE")  # the write lock up front: a deferred one could fail midway under the collector
    high, links_high = high_water(conn)
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
    changed_ids = update_identities(conn, id_visitors) if id_visitors else set()
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
        load_tokens(conn, world, batch)
        # Views carrying these tokens, and the page views the shares were made from.
        carrying = _scalars(conn, "SELECT token FROM visits", "share_token", batch)
        carrying |= _scalars(conn, "SELECT token FROM events", "in_token", batch)
        parents = {e.parent for t in batch if (e := world.share_events.get(t)) and e.parent}
        keep_first(where_in(conn, VIEW_SQL, "token", (carrying | parents | batch) - set(world.views)),
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
    wanted_views = {r[0] for r in where_in(
        conn, "SELECT token FROM events WHERE kind = 'view' AND token IS NOT NULL", "visitor", reclass_visitors)}
    wanted_views |= new_view_tokens
    wanted_views |= {v.token for v in world.views.values() if v.in_token in share_tokens}
    involved = {v.visitor for v in world.views.values()} | {e.visitor for e in world.share_events.values()}
    involved.discard(None)
    loaded = load_world(conn, involved, involved)
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
    collect(where_in(conn, "SELECT sharer, site, url, date FROM shares", "root", old_roots | new_roots))
    collect(conn.execute(visits_in_scope).fetchall())
    scope_persons |= _scalars(conn, "SELECT person FROM _ds_influence", "root", old_roots | new_roots)
    for table, column, keys in ((tables.SHARES, "root", old_roots | new_roots),
                                (tables.CASCADES, "root", old_roots | new_roots),
                                (tables.INFLUENCE, "root", old_roots | new_roots)):
        for chunk in chunks(keys):
            conn.execute(f"DELETE FROM [{table.name}] WHERE {column} IN ({','.join('?' * len(chunk))})", chunk)
    conn.execute("DELETE FROM visits WHERE token IN (SELECT token FROM temp.wanted)")
    insert_rows(conn, tables.SHARES, share_rows)
    insert_rows(conn, tables.CASCADES, cascade_rows_)
    insert_rows(conn, tables.INFLUENCE, influence)
    write_visits(conn, "wanted")
    collect((row[S["sharer"]], row[S["site"]], row[S["url"]], row[S["date"]]) for row in share_rows)
    collect(conn.execute(visits_in_scope).fetchall())
    scope_persons |= {row[1] for row in influence}
    scope_pages |= {(row[1], row[2]) for row in cascade_rows_}
    say("aggregating influencers, stories, channels and daily rollups")
    aggregate(conn, (scope_persons - {None}, scope_pages - {(None, None)}, scope_dates - {None}), tiers)
    write_state(conn, "events_id", high)
    write_state(conn, "links_rowid", links_high)
    conn.commit()
    return {"mode": "incremental", "events": len(new), "visits": len(wanted_views), "shares": len(share_rows)}
