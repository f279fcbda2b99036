"""The reporting server's CSV exports (tables, queries, canned reports) with spreadsheet formulas neutralised.

Titles, names, goals and referrers come from anyone who can send an event: Datasette writes them into CSV as they
are, and a cell such as ``=HYPERLINK(…)`` would run in the analyst's spreadsheet. Every ``.csv`` answer is
rewritten on its way out by :class:`darksocial.spreadsheets.CsvNeutraliser`, streamed
exports included; answers that are not a 200 (a refusal, a sign-in page) pass as they are.
"""

from __future__ import annotations

import urllib.parse

from darksocial.spreadsheets import CsvNeutraliser

from .metadata import guarded_databases


def is_csv_export(scope) -> bool:
    query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if "_trace" in query:  # Datasette's debug view: the CSV shown escaped inside an HTML page
        return False
    return scope.get("path", "").endswith(".csv")


def asgi_wrapper(datasette):
    def wrap(app):
        async def neutralised(scope, receive, send):
            # Without a darksocial database the plugin changes nothing, the operator's exports included.
            if scope.get("type") != "http" or not is_csv_export(scope) or not guarded_databases(datasette):
                return await app(scope, receive, send)
            neutraliser = None

            async def send_neutralised(message):
                nonlocal neutraliser
                if message["type"] == "http.response.start" and message["status"] == 200:
                    neutraliser = CsvNeutraliser()
                    # The rewritten body is longer: its length is the stream's end, not a header.
                    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-length"]
                    message = {**message, "headers": headers}
                elif message["type"] == "http.response.body" and neutraliser is not None:
                    body = neutraliser.feed(message.get("body", b""))
                    if not message.get("more_body", False):
                        body += neutraliser.close()
                    message = {**message, "body": body}
                await send(message)

            await app(scope, receive, send_neutralised)

        return neutralised

    return wrap
