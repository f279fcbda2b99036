"""Canned reports check their window as the dashboard does, and every report and page checks its site. Datasette
hands a canned query's parameters to its SQL as they are, so a mistyped date (``since=2026-13-01``, ``since=last
week``) or site (``site=harbor-lane``) would read as an empty window and show zeros where the analyst expects
figures: the request is answered 400, naming the parameter, before it runs."""

from __future__ import annotations

import urllib.parse

from darksocial import reports as queries

from . import pages
from .metadata import darksocial_database

REPORT_NAMES = frozenset(report.name for report in queries.REPORTS)
EXPORTS = (".json", ".csv")
# The darksocial pages check their own window (pages.window_params); their site is checked here, as the reports'.
PAGES = frozenset({"/-/darksocial/dashboard", "/-/darksocial/story", "/-/darksocial/influencer",
                   "/-/darksocial/cascade"})
# A site is known when it is registered, or has figures (a site removed with `site remove` keeps its reports).
KNOWN_SITES = "select site from sites union select site from daily order by site"


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


def asgi_wrapper(datasette):
    def wrap(app):
        async def guarded(scope, receive, send):
            found = asked_for(datasette, scope) if scope.get("type") == "http" else None
            if found is not None:
                name, args = found
                problem = window_problem(args) if name is not None else None
                if problem is None:
                    problem = await site_problem(datasette, (args.get("site") or "").strip())
                if problem is not None:
                    return await pages.bad_request(pages.BadParameter(problem)).asgi_send(send)
            return await app(scope, receive, send)

        return guarded

    return wrap
