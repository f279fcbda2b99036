"""The two kinds of attribution run: a full rebuild (computed in a read snapshot into temp shadow tables, then
swapped in) and an incremental run (only what the new events can change, under the write lock)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from operator import itemgetter

from .. import tables
from . import keys
from .cascades import (
    Link,
    ShareEvent,
    View,
    World,
    attach_clicks,
    cascade_rows,
    person_of,
    resolve_reloads,
    resolve_shares,
    share_tokens,
)
from .deltas import update_rollups
from .keys import events_where_in
from .loading import (
    LINK_SQL,
    SHARE_SQL,
    VIEW_SQL,
    keep_first,
    load_goals,
    load_identities,
    load_returns,
    load_tokens,
    load_view_chains,
    returns_exist,
    returns_pages,
    update_identities,
)
from .rollups import S, aggregate, refresh_virality_scores, update_influencers
from .sqlrows import (
    apply_overlay,
    cancel_unchanged,
    chunks,
    close_overlay,
    create_temp_table,
    delete_rows,
    high_water,
    insert_rows,
    key_table,
    open_overlay,
    read_state,
    where_in,
    write_state,
)
from .visits import SCOPE_EVENTS, VISIT_SHARE_COLUMNS, first_kept_views, kept_copies, scope_views, write_visits

Progress = Callable[[str], None]


# The tables a run writes (tables.DERIVED_TABLES): a full rebuild builds them as shadows in the temp schema
# (unqualified names resolve to temp first, so the same SQL serves both kinds of run), then copies them into main in
# one short transaction; an incremental run reads them through the overlay while it computes (see sqlrows).
def _create_shadows(conn) -> None:
    for table in tables.DERIVED_TABLES:
        conn.execute(f"DROP TABLE IF EXISTS temp.[{table.name}]")
        create_temp_table(conn, table, table.name)


def _index_shadows(conn) -> None:
    """Give every shadow the indexes its main table has (the store's and the reports' alike, partial ones
    included): with identical indexes SQLite copies table and index entries verbatim into an empty table (its
    transfer optimisation) instead of re-sorting every index while it holds the write lock. A single index of
    main missing from its shadow turns the copy into row-by-row inserts: ten times the write lock."""
    for table in tables.DERIVED_TABLES:
        for _, name, unique, origin, partial in conn.execute(f"PRAGMA main.index_list([{table.name}])").fetchall():
            if origin != "c":
                continue
            keys = [r for r in conn.execute(f"PRAGMA main.index_xinfo([{name}])").fetchall() if r[5]]
            if any(r[2] is None for r in keys):
                continue  # an index on an expression: none of ours; the swap then copies row by row
            columns = ", ".join(f"[{r[2]}] COLLATE {r[4]}{' DESC' if r[3] else ''}" for r in keys)
            where = _partial_where(conn, name) if partial else ""
            conn.execute(f"CREATE {'UNIQUE ' if unique else ''}INDEX temp.[{name}] ON [{table.name}] ({columns})"
                         f"{where}")


def _partial_where(conn, index: str) -> str:
    """The WHERE clause of a partial index, as written in its CREATE INDEX: the text after its column list."""
    sql = conn.execute("SELECT sql FROM main.sqlite_master WHERE type = 'index' AND name = ?", (index,)).fetchone()[0]
    depth, start = 0, sql.index("(")
    for i in range(start, len(sql)):
        depth += {"(": 1, ")": -1}.get(sql[i], 0)
        if depth == 0:
            return sql[i + 1:]
    raise ValueError(f"unbalanced column list in index {index}")


def _swap_in_shadows(conn) -> None:
    for table in tables.DERIVED_TABLES:
        conn.execute(f"DELETE FROM main.[{table.name}]")
        conn.execute(f"INSERT INTO main.[{table.name}] SELECT * FROM temp.[{table.name}]")


def drop_shadows(conn) -> None:
    if conn.in_transaction:
        conn.rollback()
    for table in tables.DERIVED_TABLES:
        conn.execute(f"DROP TABLE IF EXISTS temp.[{table.name}]")


def full_rebuild(conn, say: Progress, tiers) -> dict:
    _create_shadows(conn)
    conn.commit()
    # A read snapshot: the collector goes on writing while everything is computed into the temp shadows.
    conn.execute("BEGIN")
    high, links_high = high_water(conn)  # the first read fixes the snapshot: exactly the events read below
    # Refilled (on the other core; nothing below reads them before write_visits): a full rebuild starts over.
    keys_ready = keys.top_up_soon(conn, high, refill=True)
    say("reading events")
    conn.execute("INSERT OR IGNORE INTO _ds_goals SELECT visitor, goal, MAX(ts) FROM events NOT INDEXED "
                 "WHERE kind = 'goal' AND visitor IS NOT NULL AND goal IS NOT NULL GROUP BY visitor, goal")
    update_identities(conn, None)
    world = World(identities=load_identities(conn, None), goals=load_goals(conn, None))
    # Python only needs the views that carry a token (clicks) and the page views shares were made from.
    # NOT INDEXED: reading a third of a big table through an index is random access; a scan is sequential.
    scan = VIEW_SQL.replace("FROM events", "FROM events NOT INDEXED")
    keep_first(conn.execute(scan + " AND in_token IS NOT NULL"), world.views, View._make)
    keep_first(conn.execute(SHARE_SQL), world.share_events, ShareEvent._make)
    world.links = {r[0]: Link._make(r) for r in conn.execute(LINK_SQL)}
    wanted = {e.parent for e in world.share_events.values() if e.parent} | {
        v.in_token for v in world.views.values()}
    conn.execute("DROP TABLE IF EXISTS temp.wanted")
    conn.execute("CREATE TEMP TABLE wanted (token TEXT PRIMARY KEY) WITHOUT ROWID")
    # With every copy of the tokens read so far, and of the views on the pages of returns that name no view: the
    # same page-view token sent again (forged, or a retried beacon) without the incoming token, or from another
    # page, may be the copy that wins. Every view that carries an incoming token was read above.
    returns_rows = returns_pages(conn)
    wanted |= set(world.views) | {row[0] for row in returns_rows}
    conn.executemany("INSERT OR IGNORE INTO temp.wanted VALUES (?)", [(t,) for t in sorted(wanted)])
    keep_first(conn.execute(scan + " AND in_token IS NULL AND token IN (SELECT token FROM temp.wanted)"), world.views,
               View._make)
    load_returns(conn, world, pages_rows=returns_rows)
    say(f"resolving {len(world.share_events):,} share events and {len(world.views):,} page views with tokens")
    reloads = resolve_reloads(world)
    shares = resolve_shares(world, share_tokens(world, reloads), reloads)
    attach_clicks(shares, world.views.values(), world, reloads)
    share_rows, cascade_rows_, people_rows, influence = cascade_rows(shares, world, {s.root for s in shares.values()})
    say(f"writing {len(share_rows):,} shares, {len(cascade_rows_):,} cascades and the visits")
    insert_rows(conn, tables.SHARES, share_rows)
    insert_rows(conn, tables.CASCADES, cascade_rows_)
    insert_rows(conn, tables.CASCADE_PEOPLE, people_rows)
    insert_rows(conn, tables.INFLUENCE, influence)
    keys_ready()
    write_visits(conn, reloads)
    say("aggregating influencers, stories, channels and daily rollups")
    aggregate(conn, tiers, (share_rows, cascade_rows_, influence))
    say("indexing")
    _index_shadows(conn)
    events = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    visits = conn.execute("SELECT COUNT(*) FROM visits").fetchone()[0]
    conn.commit()  # ends the snapshot; the shadows stay
    say("swapping in the new tables")
    locked = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    _swap_in_shadows(conn)
    write_state(conn, "events_id", high)
    write_state(conn, "links_rowid", links_high)
    conn.commit()
    locked = time.perf_counter() - locked
    checkpoint(conn)
    return {"mode": "full", "events": events, "visits": visits, "shares": len(share_rows),
            "write_lock_seconds": round(locked, 3)}


def checkpoint(conn) -> None:
    """Copy this run's pages from the WAL into the database now, without the write lock (PASSIVE), rather than
    at commit (the run's connection does not auto-checkpoint: see attribute()) or in the collector's next one."""
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def _scalars(conn, sql: str, column: str, values, lookup=where_in) -> set:
    return {r[0] for r in lookup(conn, sql, column, values) if r[0] is not None}


# The returns that name no view (loading.UNNAMED_RETURN) of the same visitor and page as a view, after it: the view
# such a return repeats (the latest before it) may be that one. CROSS JOIN: the views first (by token), then their
# returns through idx_events_returns; left to itself SQLite walks every return of the database for each chunk.
_RETURNS_AFTER_SQL = """SELECT w.token, r.token FROM events w CROSS JOIN events r
    ON r.visitor = w.visitor AND r.url = w.url AND r.reloaded = 1 AND r.in_token IS NULL
    AND (r.ts > w.ts OR (r.ts = w.ts AND r.token > w.token)) WHERE w.kind = 'view'"""


class _Followers:
    """The views whose visits row follows from a view of given tokens: those that came with its token (clicks,
    address-bar copies, reloads), and the returns naming no view that may repeat it (looked up once per token, and
    only in a database that holds such returns)."""

    def __init__(self, conn):
        self.conn = conn
        self.returns_exist = returns_exist(conn)
        self._returns: dict = {}  # view token → the returns after it
        self._carrying: dict = {}  # token → the views that came with it

    def returns_after(self, tokens: set) -> set:
        if not self.returns_exist:
            return set()
        missing = tokens - self._returns.keys()
        self._returns.update(dict.fromkeys(missing, ()))
        for view, later in events_where_in(self.conn, _RETURNS_AFTER_SQL, "token", missing, alias="w"):
            self._returns[view] += (later,)
        return {later for token in tokens for later in self._returns[token]}

    def __call__(self, tokens: set) -> set:
        missing = tokens - self._carrying.keys()
        self._carrying.update(dict.fromkeys(missing, ()))
        for in_token, token in events_where_in(self.conn, "SELECT in_token, token FROM events WHERE kind = 'view' "
                                                          "AND token IS NOT NULL", "in_token", missing):
            self._carrying[in_token] += (token,)
        return {view for token in tokens for view in self._carrying[token]} | self.returns_after(tokens)

    def closure(self, tokens: set) -> set:
        """``tokens`` and every view that follows from them, through any number of steps."""
        found, frontier = set(tokens), set(tokens)
        while frontier:
            frontier = self(frontier) - found
            found |= frontier
        return found


_VISIT_SHARE = itemgetter(*(S[column] for column in VISIT_SHARE_COLUMNS))


def _unmoved_shares(conn, tokens: set, share_rows: list[tuple]) -> set:
    """The tokens among ``tokens`` that were shares before this run and stay shares whose columns the visits rows of
    their clicks copy or depend on are the same."""
    new = {row[S["token"]]: _VISIT_SHARE(row) for row in share_rows}
    columns = ", ".join(VISIT_SHARE_COLUMNS)
    return {row[0] for row in where_in(conn, f"SELECT token, {columns} FROM shares", "token", tokens)
            if new.get(row[0]) == row[1:]}


# The columns of `shares` an influencer's row is made of (rollups.influencer_rows).
INFLUENCER_SHARE_COLUMNS = ("sharer", "sharer_name", "ts", "clicks", "reshares", "channel", "url")


def _moved_influencers(conn) -> set:
    """The people whose influencer rows the overlay's changes move: sharers of shares gone, added or changed in an
    influencer column, sharers of clicks gone or added, and people whose credit rows changed."""
    columns = ", ".join(INFLUENCER_SHARE_COLUMNS)
    old = {r[0]: r[1:] for r in conn.execute(f"SELECT token, {columns} FROM main.shares "
                                             "WHERE rowid IN (SELECT rowid FROM temp.shares__gone)")}
    new = {r[0]: r[1:] for r in conn.execute(f"SELECT token, {columns} FROM temp.shares__new")}
    persons = {values[0] for token in old.keys() | new.keys() if old.get(token) != new.get(token)
               for values in (old.get(token), new.get(token)) if values is not None}
    persons.update(r[0] for r in conn.execute(
        "SELECT sharer FROM main.visits WHERE click = 1 AND rowid IN (SELECT rowid FROM temp.visits__gone) "
        "UNION SELECT sharer FROM temp.visits__new WHERE click = 1 "
        "UNION SELECT person FROM main._ds_influence WHERE rowid IN (SELECT rowid FROM temp._ds_influence__gone) "
        "UNION SELECT person FROM temp._ds_influence__new"))
    return persons


# A visit is found through its event (visits.id = events.id): `visits` keeps no index on its tokens (see
# tables.VISITS). The views in scope are copied from events once (visits.scope_views).
_WANTED_IDS = f"SELECT id FROM {SCOPE_EVENTS}"


def _moved_first_views(conn, visitors: set, new_views: list, done: int, high: int) -> tuple[set, dict, dict]:
    """The first views (smallest time, then token, of the copies kept: as visits.write_visits) of ``visitors``,
    before and after this run's events, where the two differ; every visitor's first view after (visitor → (time,
    token)), which write_visits then need not read again; and the ids of every visitor's events up to ``done``
    (visitor → ids, empty for a new visitor), which deltas.update_rollups then need not read again. The views of a
    visitor with no event up to ``done`` are all among ``new_views`` ((visitor, time, token, id) of this run's
    views): only returning visitors' are read."""
    old_ids: dict = {visitor: [] for visitor in visitors}
    for visitor, id_ in keys.key_ids(conn, "visitor", visitors, done):
        old_ids[visitor].append(id_)
    returning = {visitor for visitor, ids in old_ids.items() if ids}
    rows = events_where_in(conn, "SELECT visitor, ts, token, id FROM events WHERE kind = 'view' "
                                 "AND token IS NOT NULL AND ts IS NOT NULL", "visitor", returning)
    rows += [row for row in new_views if row[0] in visitors and row[0] not in returning]
    after = first_kept_views(rows, lambda tokens: kept_copies(conn, tokens, high))
    before = first_kept_views([row for row in rows if row[3] <= done],
                              lambda tokens: kept_copies(conn, tokens, done))
    moved = set()
    for visitor in after.keys() | before.keys():
        old, first = before.get(visitor), after.get(visitor)
        if old != first:
            moved |= {key[1] for key in (old, first) if key is not None}
    return moved, after, old_ids


def incremental_run(conn, done: int, links_done: int, say: Progress, tiers) -> dict:
    """Compute in a read snapshot, through the overlay; then apply the changes in one short write transaction
    (unless another run applied its own meanwhile: then nothing is applied, and the next run starts over)."""
    close_overlay(conn, tables.DERIVED_TABLES)
    conn.commit()
    covered = keys.covered_up_to(conn)
    conn.execute("BEGIN")  # a read snapshot: the collector keeps writing while this run computes
    high, links_high = high_water(conn)
    keys_done = keys.catch_up(conn, covered, done, high)
    open_overlay(conn, tables.DERIVED_TABLES)
    try:
        stats = _compute_incremental(conn, done, links_done, high, links_high, say, tiers)
        cancel_unchanged(conn, tables.DERIVED_TABLES)
        conn.commit()  # ends the snapshot; the overlay (temp tables) stays
        say("applying the changes")
        locked = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        if (read_state(conn, "events_id"), read_state(conn, "links_rowid")) != (done, links_done):
            conn.rollback()
            return {**stats, "mode": "skipped: another run applied first", "write_lock_seconds": 0.0}
        apply_overlay(conn, tables.DERIVED_TABLES)
        write_state(conn, "events_id", high)
        write_state(conn, "links_rowid", links_high)
        conn.commit()
        stats["write_lock_seconds"] = round(time.perf_counter() - locked, 3)
        checkpoint(conn)
        return stats
    finally:
        if conn.in_transaction:
            conn.rollback()
        close_overlay(conn, tables.DERIVED_TABLES)
        conn.commit()
        keys_done()


# The new events in one read of the table's end: kind, parent and goal, then every column of a view (View's fields).
_NEW_EVENT_FIELDS = ("id", "kind", "parent", "goal", *View._fields)
_NEW_EVENTS_SQL = f"SELECT {', '.join(_NEW_EVENT_FIELDS)} FROM events WHERE id > ? AND id <= ?"
_KIND, _TOKEN = _NEW_EVENT_FIELDS.index("kind"), _NEW_EVENT_FIELDS.index("token")
_VIEW_PART = slice(_NEW_EVENT_FIELDS.index(View._fields[0]), None)
_new_view_key = itemgetter(*map(_NEW_EVENT_FIELDS.index, ("visitor", "ts", "token", "id")))
_new_event = itemgetter(*map(_NEW_EVENT_FIELDS.index, ("kind", "token", "visitor", "in_token", "parent", "goal", "ts")))


def _compute_incremental(conn, done: int, links_done: int, high: int, links_high: int, say: Progress,
                         tiers) -> dict:
    new_rows = conn.execute(_NEW_EVENTS_SQL, (done, high)).fetchall()
    new = [_new_event(r) for r in new_rows]  # kind, token, visitor, in_token, parent, goal, ts
    new_links = [r[0] for r in conn.execute("SELECT token FROM links WHERE rowid > ? AND rowid <= ?",
                                            (links_done, links_high))]
    say(f"processing {len(new):,} new events")
    touched = set(new_links)
    new_view_tokens, view_visitors, id_visitors, goal_rows = set(), set(), set(), []
    new_views = [key for row in new_rows if row[_KIND] == "view" and None not in (key := _new_view_key(row))]
    for kind, token, visitor, in_token, parent, goal, ts in new:
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
            goal_rows.append((visitor, goal, ts))
    latest_goals: dict = {}
    for visitor, goal, ts in goal_rows:
        latest_goals[visitor, goal] = max(latest_goals.get((visitor, goal), ""), ts or "")
    stored = {(r[0], r[1]): r[2] or "" for r in where_in(conn, "SELECT visitor, goal, ts FROM _ds_goals", "visitor",
                                                        {v for v, _ in latest_goals})}
    changed_goals = sorted((v, g, ts) for (v, g), ts in latest_goals.items()
                           if (v, g) not in stored or ts > stored[v, g])
    for visitor, goal, _ in changed_goals:
        delete_rows(conn, tables.GOALS.name, "visitor = ? AND goal = ?", (visitor, goal))
    insert_rows(conn, tables.GOALS, changed_goals)
    goal_visitors = {row[0] for row in changed_goals}
    changed_ids, persons = update_identities(conn, id_visitors) if id_visitors else (set(), set())
    known = load_identities(conn, goal_visitors)
    persons |= {person_of(v, known) for v in goal_visitors}
    # A visitor who became another person: their own tokens may now be, or stop being, reloads of that person's.
    for token, in_token in events_where_in(conn, "SELECT token, in_token FROM events WHERE kind = 'view'", "visitor",
                                           changed_ids):
        touched.add(token)
        if in_token:
            touched.add(in_token)

    # A reload the tracker marked (events.reloaded) is credited as the view it names, whoever made it. Naming a view
    # not received, it arrived with no token, and so did the shares made from it: when that view arrives, the reload
    # (and its own marked reloads) and those shares move into its cascade. Any other change to what a marked reload
    # repeats reaches it through the cascade it is already in. A return that names no view repeats the latest
    # earlier view of its visitor and page, which a new view may now be. Each view so moved moves the views that
    # came with its token in turn (reloads an older tracker sent as i among them) and the shares made from them.
    followers = _Followers(conn)
    has_returns = followers.returns_exist
    frontier = _scalars(conn, "SELECT token FROM events WHERE reloaded = 1", "in_token", new_view_tokens)
    # A page-view token sent again: the copy kept may now be another one, so what follows from the view moves too.
    looked_up = set(touched)
    ids_tokens = [(id_, token) for token, id_ in keys.key_ids(conn, "token", looked_up, high)]
    frontier |= {token for id_, token in ids_tokens if id_ <= done and token in new_view_tokens}
    frontier |= followers.returns_after(new_view_tokens)
    followed: set = set()  # each looked up once, even if already touched (as the token a new view came with)
    while frontier:
        touched |= frontier
        followed |= frontier
        frontier = followers(frontier) - followed

    # Cascades the new events can change, then every cascade those reach through parents.
    root_of: dict = {}  # share token → root, each looked up once

    def roots_of(tokens: set) -> set:
        missing = tokens - root_of.keys()
        root_of.update(dict.fromkeys(missing))
        root_of.update(where_in(conn, "SELECT token, root FROM shares", "token", missing))
        return {root_of[token] for token in tokens} - {None}

    roots = roots_of(touched)
    roots |= _scalars(conn, "SELECT root FROM shares", "parent_view", touched)
    ids_tokens += [(id_, token) for token, id_ in keys.key_ids(conn, "token", touched - looked_up, high)]
    roots |= _scalars(conn, "SELECT root FROM visits", "id", {id_ for id_, _ in ids_tokens})
    # The cascades a person is in: those they clicked into, and those of their shares (cascade_people has no index
    # by person: every person in a people tree but its root sharer arrived by a click; every other sharer shared).
    roots |= _scalars(conn, "SELECT root FROM visits WHERE click = 1", "person", persons)
    roots |= _scalars(conn, "SELECT root FROM shares", "sharer", persons)

    world = World()
    # A new view's token (all in touched) whose every event is new needs no reading again: its views are among the
    # rows read above.
    old_tokens = {token for id_, token in ids_tokens if id_ <= done}
    keep_first((r[_VIEW_PART] for r in new_rows if r[_KIND] == "view" and r[_TOKEN] and r[_TOKEN] not in old_tokens),
               world.views, View._make)
    loaded_tokens: set = set()
    pending_roots, seen_roots, pending_tokens = set(roots), set(), set(touched)
    while pending_roots or pending_tokens:
        seen_roots |= pending_roots
        batch = (_scalars(conn, "SELECT token FROM shares", "root", pending_roots) | pending_tokens) - loaded_tokens
        pending_roots, pending_tokens = set(), set()
        if not batch:
            break
        loaded_tokens |= batch
        # A token's whole old cascade is rebuilt with it (its rows are replaced by root).
        pending_roots |= roots_of(batch) - seen_roots
        load_tokens(conn, world, batch)
        # Views carrying these tokens, and the page views the shares were made from.
        carrying = _scalars(conn, "SELECT token FROM events", "in_token", batch, events_where_in)
        parents = {e.parent for t in batch if (e := world.share_events.get(t)) and e.parent}
        keep_first(events_where_in(conn, VIEW_SQL, "token", (carrying | parents | batch) - set(world.views)),
                   world.views, View._make)
        if has_returns:
            load_returns(conn, world, [world.views[t] for t in parents | batch if t in world.views])
        for token in parents | batch:
            view = world.views.get(token)
            if view is None:
                continue
            # What the view came with, or for a return that names no view, the view it repeats.
            up = world.returns_to.get(token) if view.reloaded and not view.in_token else view.in_token
            if up and up not in loaded_tokens:
                pending_tokens.add(up)

    # Views to (re)classify: new ones, a visitor's first view before and after when a new view moved it (a view
    # arriving late), every view of people whose identity changed, and the reloads of all of those (they copy their
    # first view's row). Every view carrying a token of a rebuilt cascade is read too (the cascade is rebuilt from
    # them); which of those are reclassified is known once the shares are (below).
    wanted_views = {r[0] for r in events_where_in(
        conn, "SELECT token FROM events WHERE kind = 'view' AND token IS NOT NULL", "visitor", changed_ids)}
    wanted_views |= new_view_tokens
    # The visitors of every copy of a page-view token sent again: which copy is kept, and so whose view it is,
    # may have changed, and with it their first view.
    copies = Counter(token for _, token in ids_tokens if token in new_view_tokens)
    copy_ids = [id_ for id_, token in ids_tokens if copies[token] > 1]
    view_visitors |= _scalars(conn, "SELECT visitor FROM events WHERE kind = 'view'", "id", copy_ids)
    moved, first_views, old_event_ids = _moved_first_views(conn, view_visitors - changed_ids, new_views, done, high)
    wanted_views |= moved
    carrying = {v.token for v in world.views.values() if v.in_token in loaded_tokens}
    in_world = followers.closure(wanted_views | carrying)
    # Only views that carry a token or repeat one matter below; but every copy of a token sent twice is read, so
    # that the copy kept is the one a full rebuild keeps, whichever it is.
    copies: dict = {}
    keep_first(events_where_in(conn, VIEW_SQL, "token", in_world - set(world.views)), copies, View._make)
    world.views.update((token, view) for token, view in copies.items()
                       if view.in_token is not None or view.reloaded == 1)
    load_view_chains(conn, world, list(world.views.values()))
    # The views that returns naming none repeat, and what those came with, until nothing new is loaded.
    while has_returns and load_returns(conn, world, list(world.views.values())):
        load_view_chains(conn, world, list(world.views.values()))
    involved = {v.visitor for v in world.views.values()} | {e.visitor for e in world.share_events.values()}
    involved.discard(None)
    world.identities = load_identities(conn, involved)
    world.goals = load_goals(conn, {person_of(v, world.identities) for v in involved})

    reloads = resolve_reloads(world)
    tokens = loaded_tokens & share_tokens(world, reloads)
    shares = resolve_shares(world, tokens, reloads)
    attach_clicks(shares, [v for v in world.views.values() if v.in_token in shares], world, reloads)
    new_roots = {s.root for s in shares.values()}
    share_rows, cascade_rows_, people_rows, influence = cascade_rows(shares, world, new_roots)
    # Every view above is needed to rebuild the cascades, but a click's visits row follows from its share's row
    # alone (visits.VISIT_SHARE_COLUMNS): the clicks on a share whose row did not move there keep theirs. A new
    # click on a large cascade then rewrites its cascade rows, not every visit in it.
    unmoved = _unmoved_shares(conn, loaded_tokens, share_rows)
    still = {v.token for v in world.views.values() if v.in_token in unmoved and v.token not in touched
             and not v.reloaded}
    wanted_views = followers.closure(wanted_views | (carrying - still))
    say(f"rebuilding {len(cascade_rows_):,} cascades and {len(wanted_views):,} visits")

    # Scope of the rollups: everything the old and the new rows touch.
    all_roots = seen_roots | new_roots  # seen_roots: the old roots of every token loaded
    conn.execute("DROP TABLE IF EXISTS temp.wanted")
    conn.execute("CREATE TEMP TABLE wanted (token TEXT PRIMARY KEY)")
    conn.executemany("INSERT INTO temp.wanted VALUES (?)", [(t,) for t in sorted(wanted_views)])
    scope_views(conn)
    # The people whose influencer rows change (sharers of old and new shares and clicks, people credited) and
    # the pages whose share figures change (pages of old and new shares and cascades).
    scope_persons, share_pages = set(), set()
    for sharer, site, url in where_in(conn, "SELECT sharer, site, url FROM shares", "root", all_roots):
        scope_persons.add(sharer)
        share_pages.add((site, url))
    # The sharers credited by the visits rebuilt, before (main: none of them is in the overlay yet) and after.
    scope_persons |= {r[0] for r in conn.execute(f"SELECT sharer FROM main.visits WHERE id IN ({_WANTED_IDS})")}
    share_pages |= {(r[0], r[1]) for r in where_in(conn, "SELECT site, url FROM cascades", "root", all_roots)}
    for table in (tables.SHARES, tables.CASCADES, tables.CASCADE_PEOPLE):
        for chunk in chunks(sorted(all_roots)):
            delete_rows(conn, table.name, f"root IN ({','.join('?' * len(chunk))})", chunk)
    # A cascade's credit rows are found by person (_ds_influence's only index): each is credited to a sharer of
    # one of the cascade's shares, all of whom scope_persons holds.
    credited = key_table(conn, "credited", ("person",), [(p,) for p in scope_persons if p is not None])
    rebuilt = key_table(conn, "rebuilt_roots", ("root",), [(r,) for r in all_roots])
    delete_rows(conn, tables.INFLUENCE.name,
                f"person IN (SELECT person FROM {credited}) AND root IN (SELECT root FROM {rebuilt})")
    delete_rows(conn, "visits", f"id IN ({_WANTED_IDS})")
    insert_rows(conn, tables.SHARES, share_rows)
    insert_rows(conn, tables.CASCADES, cascade_rows_)
    insert_rows(conn, tables.CASCADE_PEOPLE, people_rows)
    insert_rows(conn, tables.INFLUENCE, influence)
    write_visits(conn, reloads, "wanted", first_views)
    share_pages |= {(row[S["site"]], row[S["url"]]) for row in share_rows}
    share_pages |= {(row[1], row[2]) for row in cascade_rows_}
    # A cascade's rows are rewritten whole; the rows that did not change drop out of the overlay here, and only the
    # people whose shares, clicks or credit moved get their influencer rows again (one new click at the end of a
    # long chain moves every share's amplified reach, but the credit of a few people).
    cancel_unchanged(conn, (tables.SHARES, tables.INFLUENCE, tables.VISITS))
    say("updating influencers, stories, channels and daily rollups")
    update_influencers(conn, _moved_influencers(conn) - {None}, tiers)
    update_rollups(conn, share_pages - {(None, None)}, old_event_ids)
    refresh_virality_scores(conn)
    return {"mode": "incremental", "events": len(new), "visits": len(wanted_views), "shares": len(share_rows)}
