"""/-/darksocial/dashboard: the page an analyst opens every morning.

Headline numbers for the window against the previous window of the same length, dark social over time, the channel
mix and its trend, top influencers, top stories (the home page apart, so it does not crowd the list), goals by name
and the largest cascades; every row links to its influencer, story or cascade page. Drawn on the server (inline
SVG and HTML bars): no script, so nothing for the browser console to complain about.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse

from datasette.utils.asgi import Response

from darksocial import reports as queries

from . import names, pages, svg

MEDIA = (
    ("dark_tracked", "Dark social, tracked", "#5b2a86"),
    ("dark_estimated", "Dark social, estimated", "#a07cc5"),
    ("open_social", "Open social networks", "#2f7ebc"),
    ("other", "Search, referral, campaign, internal, direct", "#c8c8c8"),
)
TREND_COLORS = ("#5b2a86", "#2f7ebc", "#d9822b", "#3a9a5b", "#c0392b", "#7f8c8d")
HEADLINES = (
    # (column, label, how to show it, more is better)
    ("visits", "Visits", "count"),
    ("dark_tracked", "Dark social, tracked", "count"),
    ("dark_tracked_pct", "tracked, % of visits", "pct"),
    ("dark_estimated", "Dark social, estimated", "count"),
    ("dark_estimated_pct", "estimated, % of visits", "pct"),
    ("shares", "Shares", "count"),
    ("clicks_per_share", "Clicks per share", "ratio"),
    ("k_factor", "Amplification (K)", "ratio"),
    ("people_reached", "People reached through shares", "count"),
    ("conversions", "Conversions", "count"),
)
CHANNEL_TREND = """
select date, channel, sum(visits) as visits from daily
where medium in ('dark', 'open') and channel != '' and {window}
group by date, channel
"""
GOALS = """
select goal, count(*) as reached, count(distinct visitor) as visitors from events
where kind = 'goal' and goal is not null and {window}
group by goal order by visitors desc, reached desc, goal limit 20
"""


def change(current, previous, kind: str = "count") -> dict:
    """The change of one headline number: its sign and a percentage (None when there is nothing to compare); a
    percentage's change is in points (22.1% after 26.1% is -4.0 points, not -15.3%)."""
    if current is None or previous is None:
        return {"direction": "none", "text": "no earlier data"}
    if kind == "pct":
        points = current - previous
        direction = "up" if points > 0.05 else "down" if points < -0.05 else "none"
        return {"direction": direction, "text": f"{points:+.1f} points vs previous period"}
    if previous == 0:
        return {"direction": "up" if current else "none", "text": "new" if current else "no change"}
    pct = 100.0 * (current - previous) / previous
    direction = "up" if pct > 0.05 else "down" if pct < -0.05 else "none"
    return {"direction": direction, "text": f"{pct:+.1f}% vs previous period"}


def is_home(url: str) -> bool:
    return urllib.parse.urlsplit(url or "").path in ("", "/")


async def headline(datasette, db: str, since: dt.date, until: dt.date, site: str) -> dict:
    found = await pages.rows(datasette, db, queries.HEADLINE.sql,
                             {"since": since.isoformat(), "until": until.isoformat(), "site": site})
    return found[0]


async def dashboard_view(request, datasette) -> Response:
    db = pages.database_name(datasette)
    await pages.require_report(datasette, request, db, queries.HEADLINE, "The dashboard")
    try:
        window = pages.window_params(request)
    except pages.BadParameter as exc:
        return pages.bad_request(exc)
    since, until = pages.resolved_dates(window)
    length = (until - since).days + 1
    site = window["site"]
    params = {"since": since.isoformat(), "until": until.isoformat(), "site": site}

    now = await headline(datasette, db, since, until, site)
    before = await headline(datasette, db, since - dt.timedelta(days=length), since - dt.timedelta(days=1), site)
    numbers = [{"key": key, "label": label, "kind": kind, "value": now[key], "previous": before[key],
                "change": change(now[key], before[key] if before["visits"] or before["shares"] else None, kind)}
               for key, label, kind in HEADLINES]

    days = svg.days_between(since, until)
    over_time = {row["date"]: row for row in await pages.rows(datasette, db, queries.DARK_SOCIAL_OVER_TIME.sql,
                                                               params)}
    media = [svg.Series(label, color, tuple((over_time.get(day) or {}).get(key) or 0 for day in days))
             for key, label, color in MEDIA]

    mix = await pages.rows(datasette, db, queries.CHANNEL_MIX.sql, params)
    trend_rows = await pages.rows(datasette, db, CHANNEL_TREND.format(window=queries.in_window("date", "site")),
                                  params)
    top_channels = [row["code"] for row in mix if row["code"]][:len(TREND_COLORS)]
    by_day = {(r["date"], r["channel"]): r["visits"] for r in trend_rows}
    trend = [svg.Series(pages.CHANNEL_LABELS.get(code, code), color, tuple(by_day.get((d, code), 0) for d in days))
             for code, color in zip(top_channels, TREND_COLORS, strict=False)]

    influencers = (await pages.rows(datasette, db, queries.TOP_INFLUENCERS.sql, params))[:10]
    await names.add_names(datasette, db, influencers, "person")
    stories = await pages.rows(datasette, db, queries.TOP_STORIES.sql, params)
    home = [row for row in stories if is_home(row["url"])]
    stories = [row for row in stories if not is_home(row["url"])][:10]
    try:
        goals = await pages.rows(datasette, db, GOALS.format(window=queries.in_window("ts", "site")), params)
    except Exception:  # no events table (a database attributed elsewhere): no goals panel
        goals = []
    cascades = (await pages.rows(datasette, db, queries.LARGEST_CASCADES.sql, params))[:8]
    await names.add_names(datasette, db, cascades, "sharer")

    widest = max([row["visits"] or 0 for row in mix] + [1])
    widest_reach = max([row["reach"] or 0 for row in influencers] + [1])
    widest_story = max([row["visits"] or 0 for row in stories] + [1])
    return Response.html(await datasette.render_template(
        "darksocial_dashboard.html",
        pages.page_context(
            db, window, length=length, numbers=numbers, sites=await pages.sites(datasette, db),
            previous=(since - dt.timedelta(days=length), since - dt.timedelta(days=1)),
            over_time_chart=svg.stacked_bars(days, media, "Visits per day by kind of traffic", width=1280),
            over_time_legend=svg.legend(media),
            trend_chart=svg.lines(days, trend, "Visits per day through the main channels"),
            trend_legend=svg.legend(trend), mix=mix, widest=widest, influencers=influencers,
            widest_reach=widest_reach, stories=stories, home=home, widest_story=widest_story, goals=goals,
            cascades=cascades),
        request=request))
