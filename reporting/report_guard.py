"""Canned reports check their window as the dashboard does. Datasette hands a canned query's parameters to its SQL
as they are, so a mistyped date (``since=2026-13-01``, ``since=last week``) would read as an empty window and show
zeros where the analyst expects figures: the request is answered 400, naming the parameter, before it runs."""

from __future__ import annotations

import urllib.parse

from darksocial import reports as queries

from . import pages
from .metadata import darksocial_database

REPORT_NAMES = frozenset(report.name for report in queries.REPORTS)
EXPORTS = (".json", ".csv")


def window_problem(datasette, scope) -> str | None:
    """Why the canned report ``scope`` asks for cannot run with its window, or None (not a report, or fine)."""
    db = darksocial_database(datasette)
    if db is None:
        return None
    prefix = datasette.urls.database(db) + "/"
    path = scope.get("path", "")
    if not path.startswith(prefix):
        return None
    name = path[len(prefix):]
    for suffix in EXPORTS:
        name = name.removesuffix(suffix)
    if name not in REPORT_NAMES:
        return None
    query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("utf-8", "replace"), keep_blank_values=True)
    try:
        window = pages.checked_window({key: values[0] for key, values in query.items()})
    except pages.BadParameter as exc:
        return str(exc)
    since, until = pages.resolved_dates(window)
    return "since must not be after until" if since > until else None


def asgi_wrapper(datasette):
    def wrap(app):
        async def guarded(scope, receive, send):
            problem = window_problem(datasette, scope) if scope.get("type") == "http" else None
            if problem is None:
                return await app(scope, receive, send)
            return await pages.bad_request(pages.BadParameter(problem)).asgi_send(send)

        return guarded

    return wrap
