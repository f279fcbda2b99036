"""Pages of the reporting server beyond Datasette's own, and what they share: the date window, permissions, names,
links between pages, the look of canned reports.

The pages themselves live in :mod:`reporting.dashboard`, :mod:`reporting.people` (influencer), :mod:`reporting.stories`
and :mod:`reporting.cascade`. Each runs the canned reports (and a few page-only queries) as the signed-in actor
would: a page that shows per-visitor data checks the same permission as the report it is built on. Every parameter
is validated and a bad one answers 400 with the reason. Every asset is served from reporting/static.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import urllib.parse
from pathlib import Path

import jinja2
from datasette.utils import to_css_class
from datasette.utils.asgi import Forbidden, Response
from markupsafe import Markup, escape

from darksocial import reports as queries
from darksocial.channels import CHANNELS

from . import names
from .metadata import darksocial_database as database_name

STATIC_DIR = Path(__file__).parent / "static"
TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
TIMESTAMP_RE = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?(?:Z|\+00:00)")
MAX_PARAM = 2048
PRESETS = (7, 30, 90)
DEFAULT_DAYS = queries.DEFAULT_DAYS

PERSON_RE = re.compile(r"[vxa]:.+")
PERSON_COLUMNS = ("person", "sharer", "got_it_from", "parent_person")
NAME_BESIDE = {"person": "name", "sharer": "sharer_name"}  # a person's column → the column of their name
SHARE_COLUMNS = ("root", "share")
CHANNEL_LABELS = {code: channel.label for code, channel in CHANNELS.items()}
# Words for column names that a rule (underscores to spaces, "pct" to "%") would not get right.
COLUMN_TITLES = {"k_factor": "Amplification (K)", "url": "URL", "reshares": "Re-shares", "ts": "Time",
                 "got_it_from": "Got it from", "pct_of_shared_traffic": "% of shared traffic"}


def routes() -> list:
    from . import cascade, dashboard, people, stories

    return [
        (r"^/-/darksocial/dashboard$", dashboard.dashboard_view),
        (r"^/-/darksocial/influencer$", people.influencer_view),
        (r"^/-/darksocial/story$", stories.story_view),
        (r"^/-/darksocial/cascade$", cascade.cascade_view),
        (r"^/-/darksocial/static/(?P<name>[A-Za-z0-9._-]+)$", static_view),
    ]


# -- templates --------------------------------------------------------------------------------------------------------
def column_title(column: str) -> str:
    if column in COLUMN_TITLES:
        return COLUMN_TITLES[column]
    words = column.replace("_", " ").strip()
    if words.endswith(" pct"):
        words = words[:-4] + " %"
    return words[:1].upper() + words[1:]


def ratio(value, places: int = 2) -> str:
    """Ratios everywhere: two decimals (percentages: one, with ``places=1``); blank for none."""
    if value is None or value == "" or isinstance(value, jinja2.Undefined):
        return "—"
    return f"{float(value):,.{places}f}"


def minute(value) -> Markup:
    """A UTC timestamp to the minute, in a <time> the page's script turns into the analyst's time zone."""
    if not isinstance(value, str):
        return Markup("—") if value is None else escape(value)
    match = TIMESTAMP_RE.fullmatch(value)
    if not match:
        return escape(value)
    return Markup(f'<time datetime="{escape(value)}">{match[1]} {match[2]} UTC</time>')


class QueryPageLoader(jinja2.BaseLoader):
    """Answers ``query-<darksocial database>.html`` with darksocial_query.html; nothing else."""

    def __init__(self, datasette):
        self.datasette = datasette

    def get_source(self, environment, template):
        db = database_name(self.datasette) if self.datasette is not None else None
        if db is None or template != f"query-{to_css_class(db)}.html":
            raise jinja2.TemplateNotFound(template)
        path = TEMPLATES_DIR / "darksocial_query.html"
        return path.read_text(encoding="utf-8"), str(path), lambda: True

    def list_templates(self) -> list[str]:
        return []


def add_templates(env: jinja2.Environment, datasette=None) -> None:
    """Make reporting/templates loadable after Datasette's own and any --template-dir (those can override ours).

    The canned reports of the darksocial database get our query page (SQL hidden, columns titled in words): a
    loader answers Datasette's ``query-<database>.html`` with it, for that database only.
    """

    env.loader = jinja2.ChoiceLoader([QueryPageLoader(datasette), env.loader,
                                      jinja2.FileSystemLoader(str(TEMPLATES_DIR))])
    env.globals.update(ds_column_title=column_title)
    env.filters.update(ds_ratio=ratio, ds_minute=minute, ds_channel=lambda c: CHANNEL_LABELS.get(c, c) or "—",
                       ds_short=names.short_id)


def script_json(value) -> Markup:
    """JSON safe inside a <script> element: no character of a stored string can close or comment it."""
    text = json.dumps(value, ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                          ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return Markup(text)


# -- links and cells --------------------------------------------------------------------------------------------------
def influencer_href(person: str) -> str:
    return "/-/darksocial/influencer?" + urllib.parse.urlencode({"person": person})


def cascade_href(share: str) -> str:
    return "/-/darksocial/cascade?" + urllib.parse.urlencode({"share": share})


def story_href(url: str, site: str | None = None) -> str:
    return "/-/darksocial/story?" + urllib.parse.urlencode({"url": url, **({"site": site} if site else {})})


def render_cell(row, value, column: str, table, database: str | None, datasette):
    """People show their name and link to their page (beside a column of their name, their short id does, and so
    does the name), share tokens to their cascade, stories to their page;
    timestamps show to the minute, ratios with two decimals (percentages one)."""
    if database is None or database != database_name(datasette):
        return None
    if isinstance(value, float):
        percent = column.endswith("pct") or column.startswith("pct_")
        return ratio(value, 1 if percent else 2)  # the same rounding on every page
    if not isinstance(value, str):
        return None
    if column in PERSON_COLUMNS and PERSON_RE.fullmatch(value):
        if NAME_BESIDE.get(column) in row.keys():  # the name has its own column: this one tells namesakes apart
            return _person_link(value, names.short_id(value))

        async def person_cell():
            name = await names.display_name(datasette, database, value)
            return _person_link(value, name or names.short_id(value))

        return person_cell
    person = next((row[p] for p, name in NAME_BESIDE.items() if name == column and p in row.keys()), None)
    if isinstance(person, str) and PERSON_RE.fullmatch(person):
        return _person_link(person, value)
    if column in SHARE_COLUMNS and value:
        return Markup(f'<a href="{escape(cascade_href(value))}" title="cascade">{escape(value)}</a>')
    if ((column == "story" and table is None) or (column == "title" and table == "stories")) \
            and "url" in row.keys() and isinstance(row["url"], str):
        site = row["site"] if "site" in row.keys() else None
        return Markup(f'<a href="{escape(story_href(row["url"], site))}">{escape(value)}</a>')
    if column in ("channel", "top_channel") and value in CHANNEL_LABELS:
        return escape(CHANNEL_LABELS[value])
    if TIMESTAMP_RE.fullmatch(value):
        return minute(value)
    return None


def _person_link(person: str, label: str) -> Markup:
    return Markup(f'<a href="{escape(influencer_href(person))}" title="{escape(person)}">{escape(label)}</a>')


def menu_links(datasette, actor) -> list[dict]:
    db = database_name(datasette)
    if db is None:
        return []
    if actor is None:  # what is open to everyone; the rest needs a sign-in
        return [{"href": datasette.urls.path(f"/{db}/top_stories"), "label": "Top stories"},
                {"href": datasette.urls.path(f"/{db}/dark_social_over_time"), "label": "Dark social over time"}]
    return [
        {"href": datasette.urls.path("/-/darksocial/dashboard"), "label": "darksocial dashboard"},
        {"href": datasette.urls.path(f"/{db}/top_influencers"), "label": "Top influencers"},
        {"href": datasette.urls.path(f"/{db}/top_stories"), "label": "Top stories"},
        {"href": datasette.urls.path("/-/darksocial/cascade"), "label": "Largest cascades"},
    ]


def extra_css_urls(datasette) -> list[str]:
    if database_name(datasette) is None:
        return []
    return [datasette.urls.path("/-/darksocial/static/darksocial-reports.css")]


def extra_js_urls(datasette) -> list[dict]:
    if database_name(datasette) is None:
        return []
    return [{"url": datasette.urls.path("/-/darksocial/static/darksocial-time.js"), "module": False}]


def forbidden(datasette, request, message):
    """A denied page offers the ways to sign in instead of a bare 'permission denied'."""
    if database_name(datasette) is None:
        return None
    from .signin import sign_in_page

    async def page():
        body = sign_in_page(datasette, message, request.scope)
        html = await datasette.render_template("darksocial_denied.html", {"body": Markup(body)}, request=request)
        return Response.html(html, status=403)

    return page


# -- parameters -------------------------------------------------------------------------------------------------------
class BadParameter(ValueError):
    pass


def window_params(request) -> dict:
    """since, until and site from the query string, validated; ``days`` (7, 30, 90) picks a preset window ending
    today; blank values mean the defaults (the last 30 days including today, every site)."""
    days = request.args.get("days", "").strip()
    if not days:
        return checked_window(request.args)
    if days not in {str(d) for d in PRESETS}:
        raise BadParameter(f"days must be one of {', '.join(map(str, PRESETS))}, not {days!r}")
    end = queries.today()
    since = (end - dt.timedelta(days=int(days) - 1)).isoformat()
    return checked_window(request.args, since=since, until=end.isoformat())


def checked_window(args, **given) -> dict:
    """since, until (each a date or blank) and site from ``args`` (a mapping of the query string), each checked;
    ``given`` values stand instead of the query string's. The dashboard's pages and the canned reports check the
    same way (reporting.report_guard)."""
    params = {}
    for name in ("since", "until"):
        value = given[name] if name in given else (args.get(name) or "").strip()
        if value:
            try:
                if not DATE_RE.fullmatch(value):
                    raise ValueError
                dt.date.fromisoformat(value)
            except ValueError:
                raise BadParameter(f"{name} must be a date like 2026-01-31 (or blank for the last 30 days), "
                                   f"not {value!r}") from None
        params[name] = value
    problem = queries.window_problem(*given_dates(params), queries.today())
    if problem:
        raise BadParameter(problem)
    site = (args.get("site") or "").strip()
    if len(site) > 100:
        raise BadParameter("site is at most 100 characters")
    params["site"] = site
    return params


def given_dates(window: dict) -> tuple[dt.date | None, dt.date | None]:
    """The window's since and until (checked dates, or blank) as dates, None for a blank."""
    return tuple(dt.date.fromisoformat(window[name]) if window.get(name) else None for name in ("since", "until"))


def resolved_dates(window: dict) -> tuple[dt.date, dt.date]:
    """The window's first and last day (inclusive), blanks resolved as the reports resolve them."""
    return queries.resolved_window(*given_dates(window), queries.today())


def report_params(window: dict, **extra) -> dict:
    """The canned reports' parameters for the window (dates resolved), with a page's own beside them."""
    since, until = resolved_dates(window)
    return {"since": since.isoformat(), "until": until.isoformat(), "site": window["site"], **extra}


def text_param(request, name: str) -> str:
    value = request.args.get(name, "").strip()
    if len(value) > MAX_PARAM:
        raise BadParameter(f"{name} is at most {MAX_PARAM} characters")
    return value


def required_text(request, name: str, what: str) -> str:
    """A parameter the page cannot do without; ``what`` tells the reader what to give."""
    value = text_param(request, name)
    if not value:
        raise BadParameter(f"{name} is required: {what}")
    return value


def bad_request(exc: BadParameter) -> Response:
    return Response.text(f"400 Bad Request: {exc}\n", status=400)


async def may_run(datasette, request, db: str, report: queries.Report) -> bool:
    """Whether the actor may read ``report``: pages show its per-visitor parts only then."""
    return await datasette.permission_allowed(request.actor, "view-query", resource=(db, report.name), default=True)


async def require_report(datasette, request, db: str | None, report: queries.Report, page: str) -> None:
    """Refuse ``page`` (as the analyst knows it: "The dashboard") unless the actor may read ``report``, its data."""
    if db is None:
        raise Forbidden("There is no darksocial database on this server")
    if not await may_run(datasette, request, db, report):
        raise Forbidden(f"{page} shows per-visitor data.")


async def rows(datasette, db: str, sql: str, params: dict) -> list[dict]:
    result = await datasette.execute(db, sql, params)
    return [dict(row) for row in result.rows]


async def sites(datasette, db: str) -> list[dict]:
    """Registered sites with their names, for the site picker."""
    try:
        return await rows(datasette, db, "select site, coalesce(nullif(name, ''), site) as name from sites "
                                         "order by name", {})
    except Exception:  # a database without the sites table (never collected): no picker
        return []


def page_context(db: str, window: dict, **extra) -> dict:
    since, until = resolved_dates(window)
    today = queries.today()
    preset = next((d for d in PRESETS if window.get("until") == today.isoformat()
                   and window.get("since") == (today - dt.timedelta(days=d - 1)).isoformat()), None)
    if not window.get("since") and not window.get("until"):
        preset = DEFAULT_DAYS
    return {"db": db, "window": window, "since": since, "until": until, "preset": preset, "presets": PRESETS,
            "influencer_href": influencer_href, "cascade_href": cascade_href, "story_href": story_href, **extra}


# -- /-/darksocial/static/<name> --------------------------------------------------------------------------------------
async def static_view(request) -> Response:
    name = request.url_vars["name"]
    path = STATIC_DIR / name
    content_type = STATIC_TYPES.get(path.suffix)
    if content_type is None or not path.is_file():
        return Response.text(f"404 Not Found: no asset {name!r}\n", status=404)
    return Response(path.read_bytes(), content_type=content_type,
                    headers={"cache-control": "public, max-age=3600", "x-content-type-options": "nosniff"})
