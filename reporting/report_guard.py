"""Canned reports check their window as the dashboard does, and every report and page checks its site. Datasette
hands a canned query's parameters to its SQL as they are, so a mistyped date (``since=2026-13-01``, ``since=last
week``) or site (``site=harbor-lane``) would read as an empty window and show zeros where the analyst expects
figures: the request is answered 400, naming the parameter, before it runs.

The reports about one thing check it as its page does: ``influencer`` needs a ``person`` (400 when blank, 404 for
nobody who shared or clicked, as /-/darksocial/influencer), ``cascade_tree`` a ``share`` or a ``url`` (400 when both
are blank, 404 for a share or story that is not here, as /-/darksocial/cascade and /-/darksocial/story). Datasette's
form for a report (its page with none of the report's parameters) is left alone, and so is a request its actor may
not read: they get the sign-in page, and nobody learns who exists without signing in."""

from __future__ import annotations

import urllib.parse

from datasette.utils.asgi import Response

from darksocial import reports as queries

from . import pages, signin
from .metadata import darksocial_database

REPORT_NAMES = frozenset(report.name for report in queries.REPORTS)
EXPORTS = (".json", ".csv")
# The darksocial pages check their own window (pages.window_params); their site is checked here, as the reports'.
PAGES = frozenset({"/-/darksocial/dashboard", "/-/darksocial/story", "/-/darksocial/influencer",
                   "/-/darksocial/cascade"})
# A site is known when it is registered, or has figures (a site removed with `site remove` keeps its reports).
KNOWN_SITES = "select site from sites union select site from daily order by site"
# Somebody the influencer page opens for: a profile, a share, a click or an analyst's label (reporting.people).
KNOWN_PERSON = f"""
select 1 from influencers where person = :person
union all select 1 from shares where sharer = :person
union all select 1 from visits where person = :person and click = 1
union all select 1 from [{queries.LABELS_TABLE}] where person = :person
limit 1
"""
KNOWN_SHARE = "select 1 from shares where token = :share limit 1"
KNOWN_STORY = "select 1 from stories where url = :url limit 1"


class NotFound(Exception):
    pass


def asked_for(datasette, scope) -> tuple[str | None, dict] | None:
    """(the report's name, or None for a page; the query's values) when ``scope`` asks for a darksocial report
    or page, else None."""
    path = scope.get("path", "")
    db = darksocial_database(datasette)
    if db is None:
        return None
    if path in PAGES:
        name = None
    else:
        prefix = datasette.urls.database(db) + "/"
        if not path.startswith(prefix):
            return None
        name = path[len(prefix):]
        for suffix in EXPORTS:
            name = name.removesuffix(suffix)
        if name not in REPORT_NAMES:
            return None
    query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("utf-8", "replace"), keep_blank_values=True)
    return name, {key: values[0] for key, values in query.items()}


def window_problem(args: dict) -> str | None:
    """Why a canned report cannot run with the window ``args`` gives, or None."""
    try:
        pages.checked_window(args)
    except pages.BadParameter as exc:
        return str(exc)
    return None


async def site_problem(datasette, site: str) -> str | None:
    """Why ``site`` names no site here, or None (blank: every site)."""
    if not site:
        return None
    try:
        result = await datasette.execute(darksocial_database(datasette), KNOWN_SITES)
    except Exception:  # a database that never collected has no sites table: nothing to check against
        return None
    known = [row[0] for row in result.rows]
    if site in known:
        return None
    listed = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
    return f"site: no site {site!r} here (sites: {listed or 'none yet'}); leave it blank for every site"


async def subject_problem(datasette, scope, name: str, args: dict) -> str | None:
    """Why the report ``name`` cannot answer about what ``args`` names, or None; raises :class:`NotFound` (its
    message the reason) when that names nothing here."""
    if name not in ("influencer", "cascade_tree"):
        return None
    is_export = any(scope.get("path", "").endswith(suffix) for suffix in EXPORTS)
    own = ("person",) if name == "influencer" else ("share", "url")
    if not is_export and not any(key in args for key in (*own, "since", "until", "site")):
        return None  # Datasette's form asking for the parameters
    db = darksocial_database(datasette)
    if not await datasette.permission_allowed(signin.actor(datasette, scope), "view-query", resource=(db, name),
                                              default=True):
        return None  # Datasette answers with the sign-in page
    values = {key: (args.get(key) or "").strip() for key in own}
    if name == "influencer":
        if not values["person"]:
            return "person is required: a person id from top_influencers, like v:abc123 or a:Jane"
        checks = [(KNOWN_PERSON, "person", f"person: nobody {args['person']!r} shared or clicked (see the "
                                           "top_influencers report)")]
    else:
        if not values["share"] and not values["url"]:
            return "share or url is required: a share token from largest_cascades, or a story's URL from top_stories"
        checks = [(KNOWN_SHARE, "share", f"share: no share {args['share']!r} here (open one from the "
                                         "largest_cascades report)")] if values["share"] else \
            [(KNOWN_STORY, "url", f"url: no story {args['url']!r} here (see the top_stories report)")]
    for sql, key, reason in checks:
        try:
            # As given, not stripped: the report's SQL compares it as it is.
            result = await datasette.execute(db, sql, {key: args.get(key) or ""})
        except Exception:  # a database that never attributed has none of these tables: nothing to check against
            return None
        if not result.rows:
            raise NotFound(reason)
    return None


def asgi_wrapper(datasette):
    def wrap(app):
        async def guarded(scope, receive, send):
            found = asked_for(datasette, scope) if scope.get("type") == "http" else None
            if found is not None:
                name, args = found
                problem = window_problem(args) if name is not None else None
                if problem is None:
                    problem = await site_problem(datasette, (args.get("site") or "").strip())
                if problem is None and name is not None:
                    try:
                        problem = await subject_problem(datasette, scope, name, args)
                    except NotFound as exc:
                        return await Response.text(f"404 Not Found: {exc}\n", status=404).asgi_send(send)
                if problem is not None:
                    return await pages.bad_request(pages.BadParameter(problem)).asgi_send(send)
            return await app(scope, receive, send)

        return guarded

    return wrap
