"""The `visits` table: one row per page view, classified and credited by SQLite."""

from __future__ import annotations

from .. import tables
from ..channels import CHANNELS
from . import keys, referrers
from .cascades import channel_medium
from .loading import VIEW_COLUMNS, kept_ids
from .sqlrows import create_temp_table, overlay_open, where_in, write_target

# An incremental run's views in scope (temp.wanted), read from `events` once for all the statements below: each read
# of a view by its token is a random page of the largest table.
SCOPE_EVENTS = "temp.scope_events"


def _medium_case(expr: str) -> str:
    whens = " ".join(f"WHEN '{code}' THEN '{ch.medium}'" for code, ch in CHANNELS.items())
    return f"CASE {expr} {whens} ELSE 'open' END"  # a referrer host: the link was posted somewhere public


_PERSON = ("CASE WHEN e.visitor IS NULL THEN NULL WHEN i.external_id IS NOT NULL THEN 'x:' || i.external_id "
           "ELSE 'v:' || e.visitor END")

# One `visits` row per page view, computed by SQLite (a million rows would take seconds more in Python).
# The rules, in order: a click on a share (not the sharer's own view) is tracked and credited; a bare channel code
# ("#ds=.wa", no-JS share link) is tracked without a sharer; anything else is classified by campaign parameters and
# referrer; untracked dark social (`estimated`) is a view with a private channel's own referrer (WhatsApp Web, a
# webmail, a messaging app) and no token, or a visitor's first view with no referrer on a deep page.
_VISITS_SQL = f"""
INSERT INTO {{target}}
SELECT id, token, ts, substr(ts, 1, 10), site, url, title, visitor, person,
    CASE WHEN is_click OR bare_code THEN 'share'
         WHEN source = 'none' THEN (CASE WHEN is_first AND NOT home THEN 'dark_estimated' ELSE 'direct' END)
         ELSE source END,
    CASE WHEN is_click THEN {_medium_case("click_channel")}
         WHEN bare_code THEN {_medium_case("in_channel")}
         WHEN source = 'none' THEN (CASE WHEN is_first AND NOT home THEN 'dark' ELSE 'direct' END)
         ELSE class_medium END,
    CASE WHEN is_click THEN click_channel WHEN bare_code THEN in_channel ELSE class_channel END,
    CASE WHEN is_click OR bare_code THEN 1 ELSE 0 END,
    CASE WHEN is_click OR bare_code THEN 0
         WHEN class_medium = 'dark' OR (source = 'none' AND is_first AND NOT home) THEN 1 ELSE 0 END,
    CASE WHEN is_click OR bare_code THEN NULL ELSE campaign END,
    referrer_host, in_app, browser, device, in_token, is_click,
    CASE WHEN is_click THEN sharer END, CASE WHEN is_click THEN sharer_name END,
    CASE WHEN is_click THEN depth END, CASE WHEN is_click THEN root END,
    CASE WHEN is_click THEN share_date END, CASE WHEN is_click THEN share_site END,
    CASE WHEN is_click THEN share_url END
FROM (
    SELECT e.id, e.token, e.ts, e.site, e.url, e.title, e.visitor, e.referrer_host, e.in_app, e.browser, e.device,
        e.in_token, e.in_channel, e.person, s.sharer, s.sharer_name, s.depth, s.root,
        s.date AS share_date, s.site AS share_site, s.url AS share_url,
        (s.token IS NOT NULL AND NOT COALESCE(s.sharer_visitor IS NOT NULL AND e.visitor IS NOT NULL
            AND (e.visitor = s.sharer_visitor OR e.person = s.sharer), 0)) AS is_click,
        (e.in_token IS NULL AND e.in_channel IS NOT NULL) AS bare_code,
        CASE WHEN s.origin = 'share' THEN s.channel
             ELSE COALESCE(l.channel, e.in_channel, c.host_channel, 'ab') END AS click_channel,
        f.id IS NOT NULL AS is_first, c.home, c.source, c.medium AS class_medium, c.channel AS class_channel,
        c.campaign
    FROM (SELECT e.id, e.token, e.ts, e.site, e.url, e.title, e.visitor, e.referrer_host, e.in_app, e.browser,
                 e.device, CASE WHEN r.token IS NULL THEN e.in_token END AS in_token, e.in_channel, {_PERSON} AS person,
                 e.campaign_query
          FROM {{events}} e LEFT JOIN {{identities}} i ON i.visitor = e.visitor
          LEFT JOIN temp.reloads r ON r.token = e.token
          WHERE e.kind = 'view' AND e.token IS NOT NULL AND e.id NOT IN (SELECT id FROM temp.losers)
            AND (r.token IS NULL OR r.origin = r.token)) e
    LEFT JOIN {{shares}} s ON s.token = e.in_token
    LEFT JOIN links l ON l.token = e.in_token AND s.origin = 'link'
    LEFT JOIN temp.classes c ON c.host = COALESCE(e.referrer_host, '') AND c.url = e.url
        AND c.query = COALESCE(e.campaign_query, '')
    LEFT JOIN temp.first_views f ON f.id = e.id
    LIMIT -1 OFFSET 0  -- not flattened: each derived column is computed once per row, not at every use above
)
"""


# The columns of `shares` a click's row above depends on: when none of them moves, neither does the row.
VISIT_SHARE_COLUMNS = ("origin", "channel", "sharer", "sharer_name", "sharer_visitor", "depth", "root", "date", "site",
                       "url")


# A reload of one's own page (temp.reloads: its token → the first view of the chain) is credited as that first
# view was, and is never a click. Runs after _VISITS_SQL, which has written the first views' rows.
_RELOADS_SQL = f"""
INSERT INTO {{target}}
SELECT e.id, e.token, e.ts, substr(e.ts, 1, 10), e.site, e.url, e.title, e.visitor, {_PERSON}, u.source, u.medium,
    u.channel, u.tracked, u.estimated, u.campaign, e.referrer_host, e.in_app, e.browser, e.device, u.share_token, 0,
    u.sharer, u.sharer_name, u.depth, u.root, u.share_date, u.share_site, u.share_url
FROM temp.reloads r CROSS JOIN {{reload_events}}
LEFT JOIN {{identities}} i ON i.visitor = e.visitor
JOIN temp.origins u ON u.token = r.origin
WHERE r.origin != r.token AND e.kind = 'view' AND e.id NOT IN (SELECT id FROM temp.losers)
"""

# The first views' rows the reloads copy, found by id through the token lookup table alone (an id of another kind
# of event matches no visit).
_ORIGINS_SQL = f"""
INSERT INTO temp.origins
SELECT token, source, medium, channel, tracked, estimated, campaign, share_token, sharer, sharer_name, depth, root,
    share_date, share_site, share_url
FROM visits WHERE id IN ({keys.ids_where("token", "SELECT origin FROM temp.reloads WHERE origin != token")})
"""
# The reloads' own events: in scope_events by its token index, in `events` (a full rebuild, whose lookup file holds
# every event) through the token lookup table.
_RELOAD_EVENTS = {"scope": f"{SCOPE_EVENTS} e ON e.token = r.token",
                  "all": f"{keys.table('token')} k ON k.k = r.token CROSS JOIN events e ON e.id = k.event"}


def scope_views(conn) -> None:
    """Copy the view events of the tokens in temp.wanted into temp.scope_events (see write_visits)."""
    conn.execute("DROP TABLE IF EXISTS temp.scope_events")
    conn.execute("CREATE TEMP TABLE scope_events AS SELECT * FROM events WHERE kind = 'view' "
                 f"AND id IN ({keys.ids_where('token', 'SELECT token FROM temp.wanted')}) ORDER BY token")
    conn.execute("CREATE INDEX temp.scope_events_token ON scope_events (token)")


def _classes_row(host: str, url: str, query: str) -> tuple:
    source, channel = referrers.classify(host or None, url, query or None)
    campaign = None
    if source == "campaign":
        found = referrers.campaign(url, query or None)  # None for a campaign known by its click id alone
        campaign, medium = (found[1] if found else None), "campaign"
    elif source == "social":
        medium = channel_medium(channel) if channel in CHANNELS else "open"
    elif source == "none":
        medium = None
    else:
        medium = source
    host_channel = referrers.channel_for_host(host) if host else None
    return (host, url, query, source, medium, channel, campaign, int(referrers.is_home(url)), host_channel)


def write_visits(conn, reloads: dict, scope: str = "", first_views: dict | None = None) -> None:
    """Insert the `visits` rows of every view (``scope`` empty) or of the views in temp.wanted (``scope`` =
    "wanted", after scope_views). The shares table must be up to date for the tokens these views carry;
    ``reloads`` (see cascades.resolve_reloads) must cover the views written. ``first_views``: visitor → (time,
    token) of their first view, for visitors the caller has already read every view of."""
    events = SCOPE_EVENTS if scope else "events"
    for name, columns in (("classes", "host TEXT, url TEXT, query TEXT, source TEXT, medium TEXT, channel TEXT, "
                                      "campaign TEXT, home INTEGER, host_channel TEXT, PRIMARY KEY (host, url, query)"),
                          ("first_views", "id INTEGER PRIMARY KEY"), ("first_tokens", "token TEXT PRIMARY KEY"),
                          ("losers", "id INTEGER PRIMARY KEY"),
                          ("reloads", "token TEXT PRIMARY KEY, origin TEXT"),
                          ("origins", "token TEXT PRIMARY KEY, source TEXT, medium TEXT, channel TEXT, "
                                      "tracked INTEGER, estimated INTEGER, campaign TEXT, share_token TEXT, "
                                      "sharer TEXT, sharer_name TEXT, depth INTEGER, root TEXT, share_date TEXT, "
                                      "share_site TEXT, share_url TEXT")):
        conn.execute(f"DROP TABLE IF EXISTS temp.{name}")
        # Keyed lookups only: one B-tree (no rowid table behind the key index) is one search per visit, not two.
        rowid = "" if name in ("first_views", "losers") else " WITHOUT ROWID"
        conn.execute(f"CREATE TEMP TABLE {name} ({columns}){rowid}")
    conn.executemany("INSERT INTO temp.reloads VALUES (?, ?)",
                     sorted((token, origin) for token, (origin, _) in reloads.items()))
    scan = SCOPE_EVENTS if scope else "events NOT INDEXED"
    triples = conn.execute(f"SELECT DISTINCT COALESCE(referrer_host, ''), url, COALESCE(campaign_query, '') "
                           f"FROM {scan} WHERE kind = 'view' AND token IS NOT NULL").fetchall()
    conn.executemany("INSERT OR IGNORE INTO temp.classes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     [_classes_row(host, url, query) for host, url, query in triples])
    # The same page-view token sent twice (a retried beacon): keep the copy that sorts first by content.
    if scope:  # the file and the run's recent events may both hold a new event: each counted once
        wanted = "WHERE k IN (SELECT token FROM temp.wanted)"
        tokens = (f"(SELECT k, event FROM {keys.table('token')} {wanted} "
                  f"UNION SELECT k, event FROM {keys.recent_table('token')} {wanted})")
    else:  # a full rebuild: the file holds every event (its recent tables are empty)
        tokens = keys.table("token")
    twice = f"SELECT k FROM {tokens} GROUP BY k HAVING COUNT(*) > 1"
    duplicates = conn.execute(f"""
        SELECT id, {VIEW_COLUMNS} FROM events WHERE kind = 'view' AND id IN ({keys.ids_where('token', twice)})
        """).fetchall()
    kept = kept_ids(duplicates)
    losers = {row[0] for row in duplicates if kept[row[1]] != row[0]}
    conn.executemany("INSERT INTO temp.losers VALUES (?)", [(event_id,) for event_id in sorted(losers)])
    _write_first_views(conn, scope, first_views, losers)
    shares, identities = _joined_tables(conn)
    target = write_target(conn, "visits")
    conn.execute(_VISITS_SQL.format(events=events, target=target, shares=shares, identities=identities))
    conn.execute(_ORIGINS_SQL)
    conn.execute(_RELOADS_SQL.format(reload_events=_RELOAD_EVENTS["scope" if scope else "all"], target=target,
                                     identities=identities))


def _write_first_views(conn, scope: str, known: dict | None, losers: set) -> None:
    """Fill temp.first_views with the ids of the views that are a visitor's first (the smallest (time, token) of
    the views kept: a copy dropped for another of the same page-view token is nobody's view). By id, not by
    token: the visits scan then meets them in its own order, one B-tree page after the other, where a million
    token lookups land on random pages (0.9 s per million views)."""
    first: dict = dict(known or {})
    if scope:
        conn.execute("DROP TABLE IF EXISTS temp.known_visitors")
        conn.execute("CREATE TEMP TABLE known_visitors (visitor TEXT PRIMARY KEY) WITHOUT ROWID")
        conn.executemany("INSERT INTO temp.known_visitors VALUES (?)", [(v,) for v in sorted(first)])
        unknown = f"SELECT visitor FROM {SCOPE_EVENTS} EXCEPT SELECT visitor FROM temp.known_visitors"
        rows = conn.execute(f"""SELECT visitor, ts, token, id FROM events
            WHERE kind = 'view' AND token IS NOT NULL AND ts IS NOT NULL
            AND id IN ({keys.ids_where('visitor', unknown)})""").fetchall()
        high = conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]
        first.update(first_kept_views(rows, lambda tokens: kept_copies(conn, tokens, high)))
        # The views in scope carrying those tokens, found by the scope's token index (a dropped copy among them
        # is no visit: see temp.losers).
        conn.executemany("INSERT OR IGNORE INTO temp.first_tokens VALUES (?)",
                         [(token,) for token in sorted({key[1] for key in first.values()})])
        conn.execute(f"INSERT INTO temp.first_views SELECT id FROM {SCOPE_EVENTS} "
                     "WHERE token IN (SELECT token FROM temp.first_tokens) ORDER BY id")
        return
    # A full rebuild reads every view, so the copies dropped are known (``losers``): a scan and a dict beat
    # SQLite's GROUP BY sorter on a million rows.
    ids: dict = {}
    for visitor, ts, token, event_id in conn.execute(
            "SELECT visitor, ts, token, id FROM events NOT INDEXED "
            "WHERE kind = 'view' AND token IS NOT NULL AND visitor IS NOT NULL AND ts IS NOT NULL"):
        key = (ts, token)
        old = first.get(visitor)
        if (old is None or key < old) and event_id not in losers:
            first[visitor] = key
            ids[visitor] = event_id
    conn.executemany("INSERT INTO temp.first_views VALUES (?)", [(event_id,) for event_id in sorted(ids.values())])


def kept_copies(conn, tokens, upto: int) -> dict:
    """token → id of its kept copy (loading.kept_ids) among the view events up to ``upto``, for ``tokens``."""
    found: dict = {}
    for token, event_id in keys.key_ids(conn, "token", tokens, upto):
        found.setdefault(token, []).append(event_id)
    kept = {token: ids[0] for token, ids in found.items() if len(ids) == 1}
    copies = [event_id for ids in found.values() if len(ids) > 1 for event_id in ids]
    kept.update(kept_ids(where_in(conn, f"SELECT id, {VIEW_COLUMNS} FROM events WHERE kind = 'view'", "id",
                                  copies)))
    return kept


def first_kept_views(rows, kept) -> dict:
    """visitor → (time, token) of their first view among ``rows`` ((visitor, time, token, id), time and token
    set) that is the kept copy of its token; ``kept(tokens)`` → token → id of each one's kept copy. A visitor's
    views are tried in order, twice as many each round: a long run of dropped copies (forged) costs a few
    lookups, and the common case one token per visitor."""
    views: dict = {}
    for visitor, ts, token, event_id in rows:
        views.setdefault(visitor, []).append((ts, token, event_id))
    for candidates in views.values():
        candidates.sort()
    first, checked, start, width = {}, {}, dict.fromkeys(views, 0), 1
    pending = set(views)
    while pending:
        batch = {visitor: views[visitor][start[visitor]:start[visitor] + width] for visitor in pending}
        checked.update(kept({c[1] for candidates in batch.values() for c in candidates} - checked.keys()))
        pending = set()
        for visitor, candidates in batch.items():
            found = next(((ts, token) for ts, token, event_id in candidates
                          if checked.get(token, event_id) == event_id), None)
            if found is not None:
                first[visitor] = found
            elif start[visitor] + width < len(views[visitor]):
                start[visitor] += width
                pending.add(visitor)
        width *= 2
    return first


def _joined_tables(conn) -> tuple[str, str]:
    """The shares and identities the visits join: the tables themselves, or, through an incremental run's
    overlay, copies of just the rows the views in scope need (a join through the overlay's view would read the
    whole table into a temporary index on every run)."""
    if not overlay_open(conn):
        return "shares", "_ds_identities"
    in_scope = f"SELECT {{}} FROM {SCOPE_EVENTS}"
    for table, name, key, column in ((tables.SHARES, "scope_shares", "token", "in_token"),
                                     (tables.IDENTITIES, "scope_identities", "visitor", "visitor")):
        conn.execute(f"DROP TABLE IF EXISTS temp.[{name}]")
        create_temp_table(conn, table, name)
        conn.execute(f"INSERT INTO temp.[{name}] SELECT * FROM [{table.name}] "
                     f"WHERE {key} IN ({in_scope.format(column)})")
    return "temp.scope_shares", "temp.scope_identities"
