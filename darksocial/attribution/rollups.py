"""Rollups: `influencers` (with their tiers), `stories`, `daily`, `story_daily` and `channels`, from `visits`,
`shares`, `cascades` and `_ds_influence`: all of them in a full rebuild, the people whose figures changed in an
incremental run (the other rollups move by deltas: see deltas.py)."""

from __future__ import annotations

import math
import sqlite3
from collections import Counter, defaultdict

from .. import tables
from ..channels import CHANNELS
from .sqlrows import delete_rows, insert_rows, overlay_open

DEFAULT_TIERS: tuple[tuple[int, str], ...] = ((1000, "macro"), (100, "mid"), (10, "micro"), (0, "nano"))


S = {name: i for i, name in enumerate(tables.SHARES.column_names())}
C = {name: i for i, name in enumerate(tables.CASCADES.column_names())}


def aggregate(conn, tiers, built: tuple) -> None:
    """A full rebuild's rollups: influencers, stories, daily, story_daily and channels, from every visit.

    The per-visit sums are GROUP BYs in SQLite (a million rows never cross into Python). ``built`` holds the rows
    the rebuild has just written (share, cascade and influence rows), so they are not read back. An incremental
    run moves the same tables by what changed instead (update_influencers, deltas.update_rollups).
    """
    for name in ("influencers", "stories", "daily", "story_daily"):
        conn.execute(f"DELETE FROM {name}")
    shares_, cascades, influence = built
    reach = dict(conn.execute("SELECT sharer, COUNT(DISTINCT person) FROM visits WHERE click = 1 GROUP BY sharer"))
    insert_rows(conn, tables.INFLUENCERS, influencer_rows(shares_, reach, influence, tiers))

    # The latest title seen: with a single MAX(), SQLite takes the bare column from the row holding the maximum
    # (NULL only when no visit of the page has a title).
    page_visits, titles, seen = {}, {}, []
    for r in conn.execute("""
        SELECT site, url, COUNT(*), COUNT(DISTINCT visitor), 0,
               SUM(tracked = 1 AND medium = 'dark'), SUM(estimated), SUM(medium = 'open'), SUM(medium = 'search'),
               SUM(medium = 'referral'), SUM(medium = 'campaign'), SUM(medium = 'internal'), SUM(medium = 'direct'),
               title, MAX(CASE WHEN title IS NOT NULL THEN ts || char(1) || token END)
        FROM visits GROUP BY site, url"""):
        page_visits[r[0], r[1]] = r[2:13]
        if r[13] is not None:
            titles[r[0], r[1]] = r[13]
        if r[14] is not None and (r[0], r[1]) != (None, None):
            seen.append((r[0], r[1], r[14], r[13]))
    # A story's reach: the people who clicked shares of it, wherever they landed (a redirect, an edited link).
    for site, url, reach in conn.execute("SELECT share_site, share_url, COUNT(DISTINCT person) FROM visits "
                                         "WHERE click = 1 AND share_url IS NOT NULL GROUP BY 1, 2"):
        figures = page_visits.get((site, url), (0,) * 11)
        page_visits[site, url] = (*figures[:2], reach, *figures[3:])
    insert_rows(conn, tables.TITLES, seen)  # what an incremental run moves the latest title from
    titles.update(_page_titles(conn))
    insert_rows(conn, tables.STORIES, story_rows(page_visits, shares_, cascades, titles))
    insert_rows(conn, tables.STORY_CASCADES, [(*key, *sums) for key, sums in cascade_sums(cascades).items()])

    day_visits = {tuple(r[:4]): r[4:] for r in conn.execute("""
        SELECT date, site, medium, COALESCE(channel, ''), COUNT(*), COUNT(DISTINCT visitor), SUM(tracked),
               SUM(estimated), SUM(click)
        FROM visits GROUP BY 1, 2, 3, 4""")}
    insert_rows(conn, tables.DAILY, daily_rows(day_visits, shares_))
    conn.execute(STORY_DAILY_SQL)
    refresh_virality_scores(conn)
    _channels(conn)


# A full rebuild's `story_daily`, summed from every visit and share (an incremental run moves it: see deltas.py).
STORY_DAILY_SQL = """INSERT INTO story_daily
    SELECT date, site, url, SUM(visits), SUM(dark_tracked), SUM(dark_estimated), SUM(open_visits),
        SUM(other_visits), SUM(shares), SUM(clicks) FROM (
        SELECT date, site, url, COUNT(*) AS visits, SUM(CASE WHEN medium = 'dark' THEN tracked ELSE 0 END)
            AS dark_tracked, SUM(estimated) AS dark_estimated, SUM(medium = 'open') AS open_visits,
            SUM(medium NOT IN ('dark', 'open')) AS other_visits, 0 AS shares, 0 AS clicks
        FROM visits GROUP BY date, site, url
        UNION ALL
        SELECT date, site, url, 0, 0, 0, 0, 0, COUNT(*), SUM(clicks)
        FROM shares GROUP BY date, site, url)
    WHERE date IS NOT NULL AND site IS NOT NULL AND url IS NOT NULL
    GROUP BY date, site, url ORDER BY date, site, url"""


def update_influencers(conn, persons: set, tiers) -> None:
    """An incremental run's `influencers` rows for ``persons`` (their shares, clicks and credit, read by person)."""
    conn.execute("DROP TABLE IF EXISTS temp.scope_persons")
    conn.execute("CREATE TEMP TABLE scope_persons (person TEXT PRIMARY KEY)")
    conn.executemany("INSERT OR IGNORE INTO temp.scope_persons VALUES (?)", [(p,) for p in sorted(persons)])
    delete_rows(conn, "influencers", "person IN (SELECT person FROM temp.scope_persons)")
    influence = conn.execute("SELECT * FROM _ds_influence WHERE person IN (SELECT person FROM temp.scope_persons)")
    shares = conn.execute("SELECT * FROM shares WHERE sharer IN (SELECT person FROM temp.scope_persons)")
    # Counted here, not by a GROUP BY: over the overlay's view SQLite would scan every visit instead of looking
    # the sharers up in visits.sharer.
    reach = Counter(sharer for sharer, _ in set(conn.execute(
        "SELECT sharer, person FROM visits WHERE click = 1 AND person IS NOT NULL "
        "AND sharer IN (SELECT person FROM temp.scope_persons)")))
    insert_rows(conn, tables.INFLUENCERS, influencer_rows(shares.fetchall(), reach, influence.fetchall(), tiers))


def refresh_virality_scores(conn) -> None:
    """The score is relative to the best story, so every story's score is refreshed (the table is small)."""
    stories = "stories"
    if overlay_open(conn):  # a view cannot be updated: every story moves into the overlay
        conn.execute("INSERT INTO temp.stories__new SELECT * FROM main.stories "
                     "WHERE rowid NOT IN (SELECT rowid FROM temp.stories__gone)")
        conn.execute("INSERT OR IGNORE INTO temp.stories__gone SELECT rowid FROM main.stories")
        stories = "temp.stories__new"
    conn.execute(f"""
        UPDATE {stories} SET virality_score = COALESCE(ROUND(100.0 * reach * COALESCE(structural_virality, 0)
            / NULLIF((SELECT MAX(reach * COALESCE(structural_virality, 0)) FROM {stories}), 0), 2), 0)""")


def _tier(reach: int, tiers) -> str:
    for threshold, name in tiers:
        if reach >= threshold:
            return name
    return tiers[-1][1]


def influencer_rows(shares, reach: dict, influence, tiers) -> list[tuple]:
    """`influencers` rows from the people's share rows, their reach (person → distinct people who clicked) and
    the `_ds_influence` rows (a person below them in one cascade, with the goals reached after arriving there):
    amplified reach and conversions are distinct over all their cascades, never sums."""
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
    below: dict = defaultdict(dict)
    i_person, i_member, i_conv = (tables.INFLUENCE.column_names().index(c) for c in ("person", "member",
                                                                                      "conversions"))
    for row in influence:
        members = below[row[i_person]]
        # The earliest arrival converts the most: the goals after it include those after any later one.
        members[row[i_member]] = max(members.get(row[i_member], 0), row[i_conv])
    kinds = {"v": "visitor", "x": "identified", "a": "ambassador"}
    out = []
    for person in sorted(people):
        name, n_shares, clicks_, reshares, first, last = people[person]
        r = reach.get(person, 0)
        downstream = below.get(person, {})
        top_channel, top_story = (best[c][person][2] if person in best[c] else None for c in ("channel", "url"))
        out.append((person, name, kinds.get(person[:1], "visitor"), n_shares, clicks_, r, reshares, len(downstream),
                    sum(downstream.values()), round(clicks_ / n_shares, 4), top_channel, top_story,
                    _tier(r, tiers), first, last))
    return out


def page_figures() -> dict:
    """A page's share and cascade figures before any share or cascade is counted (see story_rows)."""
    return {"shares": 0, "channels": Counter(), "clicks": 0, "reshares": 0, "cascades": 0, "depth": None,
            "virality_units": 0, "people": 0, "conversions": 0}


# A story's structural virality is its cascades' mean weighted by their sizes. Each cascade's size × virality is
# counted in whole millionths (rounded half up), so that the weighted sum is an integer that SQLite sums exactly,
# in any order, as a full rebuild does in Python: an incremental run then re-sums a page's cascades in SQL.
VIRALITY_UNITS = 1_000_000


def virality_units(size: int, virality: float) -> int:
    return math.floor(size * virality * VIRALITY_UNITS + 0.5)


def cascade_sums(cascades, sign: int = 1, into: dict | None = None) -> dict:
    """`_ds_story_cascades` figures of ``cascades`` rows (those of a page count): (site, url, depth) → [cascades,
    conversions, virality units, people], each times ``sign``, added to ``into``."""
    out = {} if into is None else into
    for row in cascades:
        if row[C["url"]] is None:
            continue
        sums = out.setdefault((row[C["site"]], row[C["url"]], row[C["depth"]]), [0, 0, 0, 0])
        sums[0] += sign
        sums[1] += sign * row[C["conversions"]]
        if row[C["structural_virality"]] is not None:
            sums[2] += sign * virality_units(row[C["size"]], row[C["structural_virality"]])
            sums[3] += sign * row[C["size"]]
    return out


def story_rows(page_visits: dict, shares, cascades, titles: dict, summed: dict | None = None) -> list[tuple]:
    """`stories` rows (the virality score is set afterwards, relative to the best story).

    ``page_visits``: (site, url) → (visits, visitors, reach, dark tracked, estimated, open, search, referral,
    campaign, internal, direct), summed by SQLite. ``summed``: (site, url) → figures (see page_figures) of
    shares and cascades already counted, which ``shares`` and ``cascades`` then add to.
    """
    codes = list(CHANNELS)
    pages: dict = dict(summed or {})

    def page(key):
        p = pages.get(key)
        if p is None:
            p = pages[key] = page_figures()
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
            p["virality_units"] += virality_units(row[C["size"]], row[C["structural_virality"]])
            p["people"] += row[C["size"]]
    out = []
    for key in sorted(pages):
        p = pages[key]
        v = page_visits.get(key, (0,) * 11)
        nu = round(p["virality_units"] / VIRALITY_UNITS / p["people"], 6) if p["people"] else None
        other = sum(n for code, n in p["channels"].items() if code not in CHANNELS)
        clicks, n_shares = p["clicks"], p["shares"]
        out.append((key[0], key[1], titles.get(key), *v, n_shares, *(p["channels"][c] for c in codes), other,
                    clicks, p["reshares"], round(clicks / n_shares, 4) if n_shares else 0.0,
                    round(p["reshares"] / clicks, 4) if clicks else 0.0, p["conversions"], p["cascades"], p["depth"],
                    nu, None))
    return out


# Stories whose imported title differs from theirs (a manifest imported since the run that wrote them).
_RETITLED = """FROM stories WHERE EXISTS (SELECT 1 FROM pages p WHERE p.site = stories.site AND p.url = stories.url
    AND p.title IS NOT NULL AND p.title IS NOT stories.title)"""


def retitle_stories(conn) -> int:
    """Give stories the titles of the page manifest imported since their run, in one short write transaction (none
    when nothing changed): an import shows at the next run, new events or not, as a full rebuild would show it."""
    try:
        if not conn.execute(f"SELECT EXISTS (SELECT 1 {_RETITLED})").fetchone()[0]:
            return 0
    except sqlite3.OperationalError:  # a bare database without the store's tables
        return 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        changed = conn.execute(f"""UPDATE stories SET title = (SELECT p.title FROM pages p
            WHERE p.site = stories.site AND p.url = stories.url) WHERE rowid IN (SELECT rowid {_RETITLED})""").rowcount
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return changed


def _page_titles(conn) -> dict:
    """Titles from the imported page manifest (`pages`, the store's table) win over titles seen by the tracker."""
    try:
        return {(r[0], r[1]): r[2] for r in conn.execute("SELECT site, url, title FROM pages WHERE title IS NOT NULL")}
    except sqlite3.OperationalError:  # a bare database without the store's tables
        return {}


def daily_rows(day_visits: dict, shares) -> list[tuple]:
    """`daily` rows: ``day_visits`` maps (date, site, medium, channel) → (visits, visitors, tracked, estimated,
    clicks), summed by SQLite; shares and the clicks they got are counted here by the day they were minted."""
    days = {key: [*values, 0, 0] for key, values in day_visits.items()}
    for row in shares:
        if row[S["site"]] is None or row[S["date"]] is None:
            continue
        key = (row[S["date"]], row[S["site"]], row[S["medium"]], row[S["channel"]] or "")
        day = days.setdefault(key, [0, 0, 0, 0, 0, 0, 0])
        day[5] += 1
        day[6] += row[S["clicks"]]
    return [(*key, *values) for key, values in sorted(days.items())]


def _channels(conn) -> None:
    delete_rows(conn, "channels", "1")
    # Clicks and reach by the channel each click came through (visits.channel), as `daily` counts them; shares,
    # re-shares and conversions by the shares' own channel.
    visits = {r[0]: r[1:] for r in conn.execute(
        "SELECT channel, COUNT(*), MIN(medium), SUM(click) FROM visits WHERE channel IS NOT NULL GROUP BY channel")}
    reach = dict(conn.execute(
        "SELECT channel, COUNT(DISTINCT person) FROM visits WHERE click = 1 GROUP BY channel"))
    shares = {r[0]: r[1:] for r in conn.execute(
        "SELECT channel, COUNT(*), SUM(reshares), SUM(conversions), MIN(medium) FROM shares GROUP BY channel")}
    rows = []
    for channel in sorted(set(visits) | set(shares)):
        v_count, v_medium, clicks = visits.get(channel, (0, None, 0))
        n, reshares, conversions, s_medium = shares.get(channel, (0, 0, 0, None))
        ch = CHANNELS.get(channel)
        medium = ch.medium if ch else (s_medium or v_medium)
        rows.append((channel, ch.label if ch else channel, medium, v_count, n, clicks or 0, reach.get(channel, 0),
                     reshares or 0, round((clicks or 0) / n, 4) if n else 0.0,
                     round((reshares or 0) / clicks, 4) if clicks else 0.0, conversions or 0))
    insert_rows(conn, tables.CHANNELS_TABLE, rows)
