"""The rollups of an incremental run, updated by what changed instead of recomputed from every visit.

An incremental run replaces some `visits` and `shares` rows (the overlay of sqlrows holds the old ones as *gone*
and the new ones as *new*). Every additive figure of `stories`, `daily`, `story_daily` and `channels` moves by
(sum over new rows) − (sum over gone rows); every distinct count moves by the people who appear or disappear for
a key, found by reading the rows of just the visitors and people involved (a visitor's visits through the events'
visitor index, by id; a person's clicks through the click index on visits.person). The figures that are not
additive (a story's cascades, depth, virality; the latest title) are recomputed for the pages whose shares
changed. The result is the same table a full rebuild writes: the randomized incremental = full test holds it to that.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from .. import tables
from ..channels import CHANNELS
from .keys import events_where_in
from .rollups import cascade_sums, page_figures, story_rows
from .sqlrows import delete_keyed, insert_rows, key_table, keyed_select, where_in

_V = ("site", "url", "date", "medium", "channel", "tracked", "estimated", "click", "visitor", "person")
_VISIT_SQL = f"SELECT {', '.join(_V)} FROM "
_STORY = tables.STORIES.column_names()
_VISIT_PART = slice(_STORY.index("visits"), _STORY.index("visits_direct") + 1)  # the 11 figures from visits
_MEDIA = ("open", "search", "referral", "campaign", "internal", "direct")


def _rows(conn, source: str) -> list[tuple]:
    return conn.execute(_VISIT_SQL + source).fetchall()


def _story_figures(row) -> tuple:
    """A visit's additive contribution to its story: visits, dark tracked, estimated, then each medium."""
    site, url, date, medium, channel, tracked, estimated, click = row[:8]
    return (1, int(tracked == 1 and medium == "dark"), estimated or 0, *(int(medium == m) for m in _MEDIA))


def _add(target: dict, key, values, sign: int) -> None:
    old = target.get(key)
    target[key] = [sign * v for v in values] if old is None else [a + sign * v for a, v in zip(old, values,
                                                                                              strict=True)]


def update_rollups(conn, share_pages: set, old_event_ids: dict) -> None:
    """Move `stories`, `daily`, `story_daily` and `channels` by the visits and shares this run replaced.
    ``old_event_ids``: visitor → the ids of their events before this run, for the visitors the caller has read."""
    gone_visits = _rows(conn, "main.visits WHERE rowid IN (SELECT rowid FROM temp.visits__gone)")
    new_visits = _rows(conn, "temp.visits__new")
    share_columns = "site, url, date, medium, channel, clicks, reshares, conversions"
    gone_shares = conn.execute(f"SELECT {share_columns} FROM main.shares "
                               "WHERE rowid IN (SELECT rowid FROM temp.shares__gone)").fetchall()
    new_shares = conn.execute(f"SELECT {share_columns} FROM temp.shares__new").fetchall()

    story, daily, story_daily, channels, gone_media, new_media = {}, {}, {}, {}, {}, {}
    shares_moved: dict = defaultdict(dict)  # (site, url) → channel → (shares, clicks, re-shares)
    # Visits alike in every figure they add to move the rollups together: a few thousand kinds, not every visit.
    kinds = Counter(row[:8] for row in new_visits)
    kinds.subtract(row[:8] for row in gone_visits)
    for row, n in kinds.items():
        if not n:
            continue
        site, url, date, medium, channel, tracked, estimated, click = row
        _add(story, (site, url), _story_figures(row), n)
        _add(daily, (date, site, medium, channel or ""), (1, tracked or 0, estimated or 0, click or 0, 0, 0), n)
        if date is not None and site is not None and url is not None:
            _add(story_daily, (date, site, url), (1, int(medium == "dark" and tracked == 1), estimated or 0,
                                                 int(medium == "open"), int(medium not in ("dark", "open")),
                                                 0, 0), n)
        if channel is not None:
            _add(channels, channel, (1, 0, click or 0, 0, 0), n)
    for rows, media in ((gone_visits, gone_media), (new_visits, new_media)):
        for channel, medium in {(row[4], row[3]) for row in rows if row[4] is not None}:
            media.setdefault(channel, set()).add(medium)
    for row in kinds:  # a page whose visits changed in no figure may still have a new latest title
        story.setdefault((row[0], row[1]), [0] * 9)
    for rows, sign in ((gone_shares, -1), (new_shares, 1)):
        for site, url, date, medium, channel, clicks, reshares, conversions in rows:
            if site is not None and date is not None:
                _add(daily, (date, site, medium, channel or ""), (0, 0, 0, 0, 1, clicks), sign)
            if date is not None and site is not None and url is not None:
                _add(story_daily, (date, site, url), (0, 0, 0, 0, 0, 1, clicks), sign)
            if channel is not None:
                _add(channels, channel, (0, 1, 0, reshares, conversions), sign)
            if url is not None:
                _add(shares_moved[site, url], channel, (1, clicks, reshares), sign)

    visitors = {r[8] for r in gone_visits + new_visits if r[8] is not None}
    persons = {r[9] for r in gone_visits + new_visits if r[9] is not None and r[7] == 1}
    distinct = _distinct_changes(conn, visitors, persons, old_event_ids)

    _update_stories(conn, story, distinct, share_pages, shares_moved)
    _update_daily(conn, daily, distinct["daily_visitors"])
    _update_story_daily(conn, story_daily)
    _update_channels(conn, channels, distinct["channel_reach"], gone_media, new_media)


def _distinct_changes(conn, visitors: set, persons: set, old_event_ids: dict) -> dict:
    """For each distinct count, key → (people after) − (people before), over the visitors and people involved.
    The rows after are the rows before but those gone, plus the new ones (all of which are in scope): main is
    read once, not again through the overlay. A visitor with no event before this run has no visit in main."""
    out = {name: defaultdict(int) for name in ("story_visitors", "story_reach", "daily_visitors", "channel_reach")}
    # From the visitor index alone: an id of another kind of event matches no visit.
    known = visitors & old_event_ids.keys()
    ids = {id_ for visitor in known for id_ in old_event_ids[visitor]}
    ids |= {r[0] for r in events_where_in(conn, "SELECT id FROM events", "visitor", visitors - known)}
    gone = {r[0] for r in conn.execute("SELECT rowid FROM temp.visits__gone")}
    views = "site, url, date, medium, channel, visitor"
    kept = where_in(conn, f"SELECT rowid, {views} FROM main.visits WHERE visitor IS NOT NULL", "id", ids)
    added = conn.execute(f"SELECT NULL, {views} FROM temp.visits__new WHERE visitor IS NOT NULL").fetchall()
    clicks = "share_site, share_url, channel, person"  # a click counts for the story shared, wherever it landed
    clicked = where_in(conn, f"SELECT rowid, {clicks} FROM main.visits WHERE click = 1", "person", persons)
    clicked_added = [r for r in conn.execute(f"SELECT NULL, {clicks} FROM temp.visits__new WHERE click = 1")
                     if r[4] in persons]
    for rows, click_rows, sign in ((kept, clicked, -1),
                                   ([r for r in kept if r[0] not in gone] + added,
                                    [r for r in clicked if r[0] not in gone] + clicked_added, 1)):
        for site, url, _ in {(r[1], r[2], r[6]) for r in rows}:
            out["story_visitors"][site, url] += sign
        for date, site, medium, channel, _ in {(r[3], r[1], r[4], r[5] or "", r[6]) for r in rows}:
            out["daily_visitors"][date, site, medium, channel] += sign
        for site, url, _ in {(r[1], r[2], r[4]) for r in click_rows if r[2] is not None}:
            out["story_reach"][site, url] += sign
        for channel, _ in {(r[3], r[4]) for r in click_rows if r[3] is not None}:
            out["channel_reach"][channel] += sign
    return out


def _stored(conn, table: tables.Table, keys) -> dict:
    """The stored rows of ``table`` for ``keys`` (primary-key tuples), read through the overlay."""
    keys_table = key_table(conn, f"{table.name}__keys", table.pk, keys)
    select = ", ".join(f"t.[{c}]" for c in table.column_names())
    width = len(table.pk)
    return {row[:width]: row for row in conn.execute(keyed_select(table.name, keys_table, table.pk, select))}


def _replace(conn, table: tables.Table, keys, rows: list[tuple]) -> None:
    delete_keyed(conn, table.name, key_table(conn, f"{table.name}__keys", table.pk, keys), table.pk)
    insert_rows(conn, table, rows)


def _update_stories(conn, story: dict, distinct: dict, share_pages: set, shares_moved: dict) -> None:
    keys = (set(story) | set(distinct["story_visitors"]) | set(distinct["story_reach"]) | share_pages) - {
        (None, None)}
    stored = _stored(conn, tables.STORIES, keys)
    part_width = _VISIT_PART.stop - _VISIT_PART.start
    visit_parts = {}
    for key in keys:
        old = stored.get(key)
        part = list(old[_VISIT_PART]) if old is not None else [0] * part_width
        figures = story.get(key)
        if figures is not None:  # visits, dark tracked, estimated, media: columns 0, 3.. of the part
            part[0] += figures[0]
            for i, value in enumerate(figures[1:], start=3):
                part[i] += value
        part[1] += distinct["story_visitors"].get(key, 0)
        part[2] += distinct["story_reach"].get(key, 0)
        visit_parts[key] = tuple(part)
    pages = sorted(share_pages - {(None, None)})
    titles = _titles(conn, keys)
    rows = []
    rebuilt = {(r[0], r[1]): r for r in story_rows({k: visit_parts[k] for k in pages}, [], [], titles,
                                                    _page_sums(conn, pages, stored, shares_moved))}
    for key in sorted(keys):
        if key in rebuilt:
            row = rebuilt[key]
        elif key in stored:
            row = (*stored[key][:2], titles.get(key), *visit_parts[key], *stored[key][_VISIT_PART.stop:])
        else:
            row = story_rows({key: visit_parts[key]}, [], [], titles)[0]
        if row[_VISIT_PART][0] == 0 and row[_STORY.index("shares")] == 0 and row[_STORY.index("cascades")] == 0:
            continue  # nothing left of this page (a rebuild writes no row for it)
        rows.append(row)
    _replace(conn, tables.STORIES, keys, rows)


def _page_sums(conn, pages, stored: dict, shares_moved: dict) -> dict:
    """The share and cascade figures of ``pages`` (see rollups.page_figures). The share figures are the stored
    ones moved by ``shares_moved`` ((site, url) → channel → (shares, clicks, re-shares), new minus gone); the
    cascade figures are the page's `_ds_story_cascades` rows (by depth, so that the deepest is known when one
    goes), moved by the cascades this run replaced, which pages holds the pages of."""
    out = {}
    channel_columns = {code: _STORY.index(f"shares_{code}") for code in CHANNELS}
    for key in pages:
        if key[1] is None:
            continue  # shares and cascades without a page count for none (as in story_rows)
        p = out[key] = page_figures()
        old = stored.get(key)
        if old is not None:
            p["shares"], p["clicks"] = old[_STORY.index("shares")], old[_STORY.index("clicks")]
            p["reshares"] = old[_STORY.index("reshares")]
            p["channels"].update({code: old[i] for code, i in channel_columns.items() if old[i]})
            if old[_STORY.index("shares_other")]:
                p["channels"][None] = old[_STORY.index("shares_other")]  # None: a channel that is no code
        for channel, (n, clicks, reshares) in shares_moved.get(key, {}).items():
            p["shares"] += n
            p["channels"][channel if channel in CHANNELS else None] += n
            p["clicks"] += clicks
            p["reshares"] += reshares
    keys = key_table(conn, "page_keys", ("site", "url"), out)
    table = tables.STORY_CASCADES
    by_depth = {tuple(row[:3]): list(row[3:]) for row in conn.execute(keyed_select(
        table.name, keys, ("site", "url"), ", ".join(f"t.[{c}]" for c in table.column_names())))}
    moved = cascade_sums(conn.execute("SELECT * FROM main.cascades WHERE rowid IN "
                                      "(SELECT rowid FROM temp.cascades__gone)"), -1)
    cascade_sums(conn.execute("SELECT * FROM temp.cascades__new"), 1, moved)
    for key, change in moved.items():
        by_depth[key] = [a + b for a, b in zip(by_depth.get(key, (0, 0, 0, 0)), change, strict=True)]
    _replace(conn, table, moved, [(*key, *by_depth[key]) for key in sorted(moved) if by_depth[key][0]])
    for (site, url, depth), (count, conversions, units, people) in by_depth.items():
        p = out.get((site, url))
        if p is None or not count:
            continue
        p["cascades"] += count
        p["depth"] = depth if p["depth"] is None else max(p["depth"], depth)
        p["conversions"] += conversions
        p["virality_units"] += units
        p["people"] += people
    return out


def _titles(conn, keys) -> dict:
    """The imported manifest's title, else the latest title the tracker saw: `_ds_titles`, moved by the visits this
    run replaced (a page's kept visits are read again only when its latest titled visit went for an earlier one:
    a duplicate page-view token that sorts first arrived)."""
    stored = {key: tuple(row[2:]) for key, row in _stored(conn, tables.TITLES, keys).items()}
    seen = "ts || char(1) || token"
    gone: dict = defaultdict(set)
    for site, url, latest in conn.execute(f"SELECT site, url, {seen} FROM main.visits WHERE title IS NOT NULL "
                                          "AND rowid IN (SELECT rowid FROM temp.visits__gone)"):
        gone[site, url].add(latest)
    added: dict = {}
    for site, url, latest, title in conn.execute(f"SELECT site, url, {seen}, title FROM temp.visits__new "
                                                 "WHERE title IS NOT NULL"):
        if (site, url) not in added or latest > added[site, url][0]:
            added[site, url] = (latest, title)
    moved, lost = {}, set()
    for key in (set(added) | set(gone)) & set(keys):
        old, new = stored.get(key), added.get(key)
        if old is not None and old[0] in gone[key]:
            # The latest titled visit was replaced: by its own token sent again (same time, other content), or
            # by an earlier copy; its title is no candidate any more.
            if new is None or new[0] < old[0]:
                lost.add(key)
            else:
                moved[key] = new
        else:
            moved[key] = max(value for value in (old, new) if value is not None)
    if lost:
        lost_keys = key_table(conn, "lost_title_keys", ("site", "url"), lost)
        for site, url, latest, title in conn.execute(f"""
                SELECT v.site, v.url, MAX(v.ts || char(1) || v.token), v.title FROM {lost_keys} k
                JOIN main.visits v ON v.site IS k.site AND v.url IS k.url
                WHERE v.title IS NOT NULL AND v.rowid NOT IN (SELECT rowid FROM temp.visits__gone)
                GROUP BY v.site, v.url"""):
            moved[site, url] = (latest, title)
        for key in lost:
            if key in added:
                moved[key] = max(moved.get(key, added[key]), added[key])
    _replace(conn, tables.TITLES, set(moved) | lost, [(*key, *moved[key]) for key in sorted(moved)])
    latest = {**stored, **moved}
    for key in lost - set(moved):
        del latest[key]  # no titled visit of the page is left
    out = {key: title for key, (_, title) in latest.items()}
    keys_table = key_table(conn, "title_keys", ("site", "url"), keys)
    has_pages = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'pages'").fetchone()
    if has_pages:  # the imported manifest's titles win
        for site, url, title in conn.execute(f"SELECT p.site, p.url, p.title FROM {keys_table} k JOIN pages p "
                                             "ON p.site IS k.site AND p.url IS k.url WHERE p.title IS NOT NULL"):
            out[site, url] = title
    return out


def _update_daily(conn, daily: dict, visitors: dict) -> None:
    keys = (set(daily) | set(visitors))
    keys = {k for k in keys if k[0] is not None and k[1] is not None}
    stored = _stored(conn, tables.DAILY, keys)
    rows = []
    for key in sorted(keys):
        old = stored.get(key)
        visits, visitors_, tracked, estimated, clicks, shares, share_clicks = old[4:] if old is not None else (0,) * 7
        d = daily.get(key, (0, 0, 0, 0, 0, 0))
        row = (*key, visits + d[0], visitors_ + visitors.get(key, 0), tracked + d[1], estimated + d[2],
               clicks + d[3], shares + d[4], share_clicks + d[5])
        if row[4] or row[9]:
            rows.append(row)
    _replace(conn, tables.DAILY, keys, rows)


def _update_story_daily(conn, story_daily: dict) -> None:
    keys = set(story_daily)
    stored = _stored(conn, tables.STORY_DAILY, keys)
    rows = []
    for key in sorted(keys):
        old = stored.get(key)
        values = list(old[3:]) if old is not None else [0] * 7
        row = (*key, *(a + b for a, b in zip(values, story_daily[key], strict=True)))
        if row[3] or row[8]:
            rows.append(row)
    _replace(conn, tables.STORY_DAILY, keys, rows)


def _update_channels(conn, channels: dict, reach: dict, gone_media: dict, new_media: dict) -> None:
    keys = set(channels) | set(reach)
    stored = _stored(conn, tables.CHANNELS_TABLE, [(c,) for c in keys])
    rows = []
    for channel in sorted(keys):
        old = stored.get((channel,))
        _, _, _, visits, shares, clicks, reach_, reshares, _, _, conversions = old if old is not None else (
            None, None, None, 0, 0, 0, 0, 0, None, None, 0)
        d = channels.get(channel, (0, 0, 0, 0, 0))
        visits, shares, clicks = visits + d[0], shares + d[1], clicks + d[2]
        reshares, conversions = reshares + d[3], conversions + d[4]
        reach_ += reach.get(channel, 0)
        if not visits and not shares:
            continue
        ch = CHANNELS.get(channel)
        if ch is not None:
            medium = ch.medium
        elif shares:
            medium = "open"  # a referrer host as a share's channel: public
        else:
            medium = _least_medium(conn, channel, old[2] if old is not None else None, gone_media.get(channel, ()),
                                   new_media.get(channel, ()))
        rows.append((channel, ch.label if ch else channel, medium, visits, shares, clicks, reach_, reshares,
                     round(clicks / shares, 4) if shares else 0.0, round(reshares / clicks, 4) if clicks else 0.0,
                     conversions))
    _replace(conn, tables.CHANNELS_TABLE, [(c,) for c in keys], rows)


def _least_medium(conn, channel: str, stored: str | None, gone, added) -> str | None:
    """MIN(medium) of the visits of ``channel`` (channels.medium of a channel that is no code and has no shares),
    from the stored value and the rows that changed; the visits are read again only when a row holding the
    stored least medium went (rare: a host's visits are classified alike)."""
    candidates = [m for m in (stored, *added) if m is not None]
    if stored is None or stored not in gone:
        return min(candidates) if candidates else None
    least_added = min((m for m in added if m is not None), default=None)
    if least_added is not None and least_added <= stored:
        return least_added  # the kept visits' least medium is at least the stored one: no need to read them
    kept = conn.execute("SELECT medium FROM main.visits WHERE channel = ? AND medium IS NOT NULL AND rowid NOT IN "
                        "(SELECT rowid FROM temp.visits__gone) ORDER BY medium LIMIT 1", (channel,)).fetchone()
    found = [m for m in ([kept[0]] if kept else []) + list(added) if m is not None]
    return min(found) if found else None
