"""/-/darksocial/story?url=…: one story — visits by source over time, the channels it travelled through, the
people who spread it and the cascades it started.

The public reports link every story here, so anyone may open it and read what the public tables say (``stories``,
``story_daily``); the channels of the period, the people and the cascades come from per-visitor tables and are shown
to those who may read the reports built on them (signed-in analysts)."""

from __future__ import annotations

from datasette.utils.asgi import Response

from darksocial import channels as channel_registry
from darksocial import reports as queries

from . import auth, dashboard, names, pages, signin, svg

STORY = "select * from stories where url = :url and (:site = '' or site = :site) order by visits desc limit 1"
BY_DAY = """
select date, sum(visits_dark_tracked) as dark_tracked, sum(visits_dark_estimated) as dark_estimated,
  sum(visits_open) as open_social, sum(visits_other) as other, sum(visits) as visits, sum(shares) as shares,
  sum(clicks) as clicks
from story_daily where url = :url and {window} group by date
"""
CHANNELS = """
select channel, count(*) as shares, sum(clicks) as clicks, sum(reach) as reach,
  round(1.0 * sum(clicks) / count(*), 2) as clicks_per_share
from shares where url = :url and {window} group by channel order by clicks desc, shares desc
"""
SPREADERS = """
select sharer as person, count(*) as shares, sum(clicks) as clicks, sum(reach) as reach,
  sum(amplified_reach) as amplified_reach
from shares where url = :url and sharer is not null and {window}
group by sharer order by reach desc, clicks desc, shares desc limit 50
"""
CASCADES = """
select root, sharer, channel, started, size, depth, structural_virality, conversions from cascades
where url = :url and {window} order by size desc, started desc limit 50
"""


def all_time_channels(story: dict) -> list[dict]:
    """Shares by channel since the first event, from the story's public row (no per-visitor table)."""
    counts = [(code, story.get(f"shares_{code}") or 0) for code in (*channel_registry.CHANNELS, "other")]
    return [{"channel": code, "shares": shares} for code, shares in sorted(counts, key=lambda c: -c[1]) if shares]


async def story_view(request, datasette) -> Response:
    db = pages.database_name(datasette)
    await pages.require_report(datasette, request, db, queries.TOP_STORIES, "The story page")
    analyst = await pages.may_run(datasette, request, db, queries.LARGEST_CASCADES)
    try:
        window = pages.window_params(request)
        url = pages.required_text(request, "url", "a story's URL, as listed in Top stories")
    except pages.BadParameter as exc:
        return pages.bad_request(exc)
    since, until = pages.resolved_dates(window)
    params = pages.report_params(window, url=url)
    story = await pages.rows(datasette, db, STORY, params)
    if not story:
        return Response.text(f"404 Not Found: no story {url!r} (see the top_stories report)\n", status=404)
    by_day = {r["date"]: r for r in await pages.rows(
        datasette, db, BY_DAY.format(window=queries.in_window("date", "site")), params)}
    days = svg.days_between(since, until)
    media = [svg.Series(label, color, tuple((by_day.get(d) or {}).get(key) or 0 for d in days))
             for key, label, color in dashboard.MEDIA]
    channels, spreaders, cascades = all_time_channels(story[0]), [], []
    if analyst:
        channels = await pages.rows(datasette, db, CHANNELS.format(window=queries.in_window("date", "site")), params)
        spreaders = await pages.rows(datasette, db, SPREADERS.format(window=queries.in_window("date", "site")),
                                     params)
        cascades = await pages.rows(datasette, db, CASCADES.format(window=queries.in_window("started", "site")),
                                    params)
    await names.add_names(datasette, db, spreaders, "person")
    await names.add_names(datasette, db, cascades, "sharer")
    totals = {key: sum((r.get(key) or 0) for r in by_day.values())
              for key in ("visits", "dark_tracked", "dark_estimated", "open_social", "other", "shares", "clicks")}
    return Response.html(await datasette.render_template(
        "darksocial_story.html",
        pages.page_context(db, window, story=story[0], url=url, totals=totals,
                           chart=svg.stacked_bars(days, media, "Visits per day by source", width=1280),
                           legend=svg.legend(media), channels=channels, spreaders=spreaders, cascades=cascades,
                           analyst=analyst, login_href=datasette.urls.path(signin.LOGIN_PATH)
                           if auth.password_hash() else None,
                           hidden={"url": url},
                           sites=await pages.sites(datasette, db) if analyst else []),  # `sites` is not public
        request=request))
