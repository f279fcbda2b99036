"""Pages of the reporting server beyond Datasette's own: the influencer detail view and the cascade tree.

Both run the canned reports (and a few page-only queries) as the signed-in actor would: a page that shows
per-visitor data checks the same permissions as the tables it reads. Every parameter is validated and a bad one
answers 400 with the reason. The pages' scripts and the Vega build are served from reporting/static, so the browser
never leaves the server.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from pathlib import Path

import jinja2
from datasette.utils.asgi import Forbidden, Response
from markupsafe import Markup, escape

from darksocial import reports as queries
from darksocial.channels import CHANNELS

from . import charts
from .metadata import darksocial_database as database_name

STATIC_DIR = Path(__file__).parent / "static"
TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
MAX_PARAM = 2048

# Page-only queries of the influencer view (the shares list itself is the `influencer` canned report).
HOW_THEY_ARRIVED = """
select coalesce(source, '?') as source, coalesce(medium, '?') as medium, coalesce(channel, '') as channel,
  coalesce(sharer_name, sharer, '') as brought_by, sharer, count(*) as visits, min(ts) as first, max(ts) as last
from visits where {who} and {window}
group by 1, 2, 3, 4, 5 order by visits desc limit 50
"""
WHERE_THEIR_CLICKS_WENT = """
select url, coalesce(max(title), url) as title, count(*) as clicks, count(distinct visitor) as visitors,
  max(depth) as deepest_hop
from visits where sharer = :person and click = 1 and {window}
group by url order by clicks desc limit 50
"""
WHO_PASSED_IT_ON = """
select c.sharer as person, coalesce(max(c.sharer_name), c.sharer) as name, count(*) as reshares,
  sum(c.clicks) as clicks, sum(c.amplified_reach) as amplified_reach
from shares p join shares c on c.parent = p.token
where p.sharer = :person and c.sharer is not null and {window}
group by c.sharer order by clicks desc limit 50
"""


def routes() -> list:
    return [
        (r"^/-/darksocial/influencer$", influencer_view),
        (r"^/-/darksocial/cascade$", cascade_view),
        (r"^/-/darksocial/static/(?P<name>[A-Za-z0-9._-]+)$", static_view),
    ]


PERSON_RE = re.compile(r"[vxa]:.+")
PERSON_COLUMNS = ("person", "sharer", "got_it_from")
SHARE_COLUMNS = ("root", "share")


def add_templates(env: jinja2.Environment) -> None:
    """Make reporting/templates loadable after Datasette's own and any --template-dir (those can override ours)."""
    env.loader = jinja2.ChoiceLoader([env.loader, jinja2.FileSystemLoader(str(TEMPLATES_DIR))])


def influencer_href(person: str) -> str:
    return "/-/darksocial/influencer?" + urllib.parse.urlencode({"person": person})


def cascade_href(share: str) -> str:
    return "/-/darksocial/cascade?" + urllib.parse.urlencode({"share": share})


def render_cell(value, column: str, database: str | None, datasette):
    """People link to their influencer page, share tokens to their cascade tree."""
    if not isinstance(value, str) or database is None or database != database_name(datasette):
        return None
    if column in PERSON_COLUMNS and PERSON_RE.fullmatch(value):
        return Markup(f'<a href="{escape(influencer_href(value))}">{escape(value)}</a>')
    if column in SHARE_COLUMNS and value:
        return Markup(f'<a href="{escape(cascade_href(value))}" title="cascade tree">{escape(value)}</a>')
    return None


def menu_links(datasette, actor) -> list[dict]:
    db = database_name(datasette)
    if db is None:
        return []
    return [
        {"href": datasette.urls.path("/-/dashboards/darksocial"), "label": "darksocial dashboard"},
        {"href": datasette.urls.path(f"/{db}/top_influencers"), "label": "Top influencers"},
        {"href": datasette.urls.path("/-/darksocial/cascade"), "label": "Cascade tree"},
    ]


class BadParameter(ValueError):
    pass


def window_params(request) -> dict:
    """since, until and site from the query string, validated; blank values mean the defaults."""
    params = {}
    for name in ("since", "until"):
        value = request.args.get(name, "").strip()
        if value and not DATE_RE.fullmatch(value):
            raise BadParameter(f"{name} must be a date like 2026-01-31 (or blank for the last 30 days), not {value!r}")
        params[name] = value
    site = request.args.get("site", "").strip()
    if len(site) > 100:
        raise BadParameter("site is at most 100 characters")
    params["site"] = site
    return params


def required_text(request, name: str) -> str:
    value = request.args.get(name, "").strip()
    if len(value) > MAX_PARAM:
        raise BadParameter(f"{name} is at most {MAX_PARAM} characters")
    return value


async def _require_report(datasette, request, db: str, report: queries.Report) -> None:
    allowed = await datasette.permission_allowed(request.actor, "view-query", resource=(db, report.name),
                                                 default=True)
    if not allowed:
        raise Forbidden(f"'{report.title}' shows per-visitor data: sign in as an analyst at /-/login")


async def _rows(datasette, db: str, sql: str, params: dict) -> list[dict]:
    result = await datasette.execute(db, sql, params)
    return [dict(row) for row in result.rows]


def _bad_request(exc: BadParameter) -> Response:
    return Response.text(f"400 Bad Request: {exc}\n", status=400)


# -- /-/darksocial/influencer?person=... ------------------------------------------------------------------------------
async def influencer_view(request, datasette) -> Response:
    db = database_name(datasette)
    await _require_report(datasette, request, db, queries.INFLUENCER)
    try:
        window = window_params(request)
        person = required_text(request, "person")
        if not person:
            raise BadParameter("person is required: a person id from Top influencers, like v:abc123 or a:Jane")
    except BadParameter as exc:
        return _bad_request(exc)
    params = {"person": person, **window}
    profile = await _rows(datasette, db, "select * from influencers where person = :person", params)
    shares = await _rows(datasette, db, queries.INFLUENCER.sql, params)
    if not profile and not shares:
        return Response.text(f"404 Not Found: no influencer {person!r} (see the top_influencers report)\n",
                             status=404)
    if person.startswith("v:"):
        who, who_params = "visitor = :visitor", {"visitor": person[2:]}
    else:
        who, who_params = "person = :person", {}
    visit_window = queries.in_window("date", "site")
    arrived = await _rows(datasette, db, HOW_THEY_ARRIVED.format(who=who, window=visit_window),
                          {**params, **who_params})
    went = await _rows(datasette, db, WHERE_THEIR_CLICKS_WENT.format(window=visit_window), params)
    passed_on = await _rows(datasette, db, WHO_PASSED_IT_ON.format(window=queries.in_window("p.date", "p.site")),
                            params)
    channels: dict[str, dict] = {}
    for share in shares:
        row = channels.setdefault(share["channel"] or "?", {"channel": share["channel"] or "?", "shares": 0,
                                                            "clicks": 0, "reach": 0, "amplified_reach": 0})
        for key in ("clicks", "reach", "amplified_reach"):
            row[key] += share[key] or 0
        row["shares"] += 1
    return Response.html(
        await datasette.render_template(
            "darksocial_influencer.html",
            {
                "db": db,
                "person": person,
                "profile": profile[0] if profile else {"person": person},
                "shares": shares,
                "channels": sorted(channels.values(), key=lambda r: (-r["clicks"], r["channel"])),
                "arrived": arrived,
                "went": went,
                "passed_on": passed_on,
                "window": window,
                "report": queries.INFLUENCER,
                "labels": {code: channel.label for code, channel in CHANNELS.items()},
            },
            request=request,
        )
    )


# -- /-/darksocial/cascade?share=...|url=... --------------------------------------------------------------------------
async def cascade_view(request, datasette) -> Response:
    db = database_name(datasette)
    await _require_report(datasette, request, db, queries.CASCADE_TREE)
    try:
        window = window_params(request)
        share = required_text(request, "share")
        url = required_text(request, "url")
    except BadParameter as exc:
        return _bad_request(exc)
    nodes = []
    if share or url:
        nodes = await _rows(datasette, db, queries.CASCADE_TREE.sql, {"share": share, "url": url, **window})
    spec = charts.cascade_tree_spec()
    spec["data"][0]["values"] = nodes
    return Response.html(
        await datasette.render_template(
            "darksocial_cascade.html",
            {"db": db, "share": share, "url": url, "window": window, "nodes": nodes,
             "spec_json": json.dumps(spec).replace("</", "<\\/")},
            request=request,
        )
    )


# -- /-/darksocial/static/<name> --------------------------------------------------------------------------------------
async def static_view(request) -> Response:
    name = request.url_vars["name"]
    path = STATIC_DIR / name
    content_type = STATIC_TYPES.get(path.suffix)
    if content_type is None or not path.is_file():
        return Response.text(f"404 Not Found: no asset {name!r}\n", status=404)
    return Response(path.read_bytes(), content_type=content_type,
                    headers={"cache-control": "public, max-age=3600", "x-content-type-options": "nosniff"})
