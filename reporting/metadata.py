"""Datasette metadata for a darksocial database: title, what it measures, a description of every table and column.

Table and column descriptions come from :mod:`darksocial.tables` (one place); this module adds what only the
reporting server cares about: default sort, facets, labels, hidden tables and access rules.
"""

from __future__ import annotations

import contextvars
import functools
import weakref
from pathlib import Path

from darksocial import analysts, inbox, tables
from darksocial import reports as queries

from . import auth, collect

_building = contextvars.ContextVar("darksocial_metadata_building", default=False)

TITLE = "darksocial"
DESCRIPTION_HTML = (
    "<p>Dark social is sharing through private channels (WhatsApp, Messenger, Telegram, SMS, email, copied links, "
    "the address bar) that other tools file under <em>Direct / None</em>. darksocial tags each share, so it can "
    "tell <strong>who</strong> brought each visit, through <strong>which channel</strong>, to <strong>which "
    "story</strong>.</p>"
    "<p><strong>Public:</strong> <a href=\"/{db}/top_stories\">top stories</a>, "
    "<a href=\"/{db}/dark_social_over_time\">dark social over time</a>, "
    "<a href=\"/{db}/channel_mix\">channel mix</a> and the tables <code>stories</code>, <code>story_daily</code>, "
    "<code>channels</code> and <code>daily</code>. <strong>Analysts</strong> "
    "(<a href=\"/-/login\">sign in</a>, or on the server run <code>darksocial login-link DATABASE</code> with "
    "the server's <code>--port</code>) also see the <a href=\"/-/darksocial/dashboard\">dashboard</a>, people, "
    "cascades and every other report.</p>"
)

# Sort and facets analysts want first; columns not listed here keep Datasette's defaults.
TABLE_OPTIONS: dict[str, dict] = {
    "visits": {"sort_desc": "ts", "facets": ["medium", "channel", "source", "site"]},
    "shares": {"sort_desc": "clicks", "facets": ["medium", "channel", "origin", "site"]},
    "influencers": {"sort_desc": "reach", "facets": ["tier", "top_channel", "kind"], "label_column": "name"},
    "stories": {"sort_desc": "visits", "facets": ["site"], "label_column": "title"},
    "channels": {"sort_desc": "visits", "facets": ["medium"], "label_column": "label"},
    "cascades": {"sort_desc": "size", "facets": ["channel", "site"]},
    "daily": {"sort_desc": "date", "facets": ["medium", "channel", "site"]},
}

RAW_TABLE_DESCRIPTIONS = {
    "events": "Private: raw events as the collector stored them (pseudonymous visitor ids; never an IP or a full "
    "user agent). Analysts read the attributed tables instead.",
    "salts": "Private: the daily salts of cookieless pseudonyms, deleted after 48 hours.",
    "sites": "Private: registered sites and the origins allowed to send events.",
    "links": "Private: ambassador links, created ahead of time for named people.",
    "pages": "Pages imported from a site build (title, description, date).",
}


def table_metadata() -> dict[str, dict]:
    private = auth.private_tables()
    out: dict[str, dict] = {}
    for name, description in RAW_TABLE_DESCRIPTIONS.items():
        out[name] = {"description": description}
    out.update({name: dict(meta) for name, meta in analysts.DESCRIPTIONS.items()})
    out["_sqlite_migrations"] = {"hidden": True}  # sqlite-utils' bookkeeping, nothing to read
    out[inbox.MOVED_TABLE] = {"hidden": True}  # the writer's bookkeeping, likewise
    out[analysts.SIGN_IN_TABLE]["hidden"] = True
    for table in tables.TABLES.values():
        out[table.name] = {**tables.describe(table.name), **TABLE_OPTIONS.get(table.name, {})}
        if table.private:
            out[table.name]["hidden"] = True
    for name in private:
        out.setdefault(name, {})["allow"] = auth.SIGNED_IN
    return out


def query_metadata() -> dict[str, dict]:
    private = auth.private_tables()
    out = {}
    for report in queries.REPORTS:
        out[report.name] = {**report.canned_query(), "hide_sql": True}
        if private.intersection(report.reads):
            out[report.name]["allow"] = auth.SIGNED_IN
    return out


def database_metadata() -> dict:
    return {
        "description": "Attributed dark social traffic: visits, shares, influencers, stories, channels, cascades.",
        "tables": table_metadata(),
        "queries": query_metadata(),
        "allow_sql": auth.SIGNED_IN,
    }


def remembered_per_attached_set(compute):
    """``compute(datasette)``, remembered until the set of databases Datasette serves changes: what it decides is
    asked on every permission check and rendered cell, and depends on nothing else."""
    cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    @functools.wraps(compute)
    def remembered(datasette):
        attached = tuple(datasette.databases)
        cached = cache.get(datasette)
        if cached is None or cached[0] != attached:
            cached = cache[datasette] = (attached, compute(datasette))
        return cached[1]

    return remembered


@remembered_per_attached_set
def darksocial_database(datasette) -> str | None:
    """Name of the database the collector writes to (the rule lives in reporting.collect)."""
    path = collect.database_path(datasette)
    return next((n for n, db in datasette.databases.items()
                 if path is not None and db.path and Path(db.path).resolve() == path), None)


@remembered_per_attached_set
def guarded_databases(datasette) -> frozenset[str]:
    """Names of the served databases an anonymous reader may not read freely: the one the collector writes to, the
    one the plugin's setting names, and every other holding darksocial's events (served read-only with -i, or a
    backup served beside the live file: the same people's data). Other databases are the operator's, untouched."""
    named = {(datasette.plugin_config(collect.PLUGIN) or {}).get("database"), darksocial_database(datasette)}
    return frozenset(n for n, db in datasette.databases.items()
                     if n != "_internal" and (n in named or collect.holds_events(db)))


def metadata(datasette) -> dict:
    """The metadata document the plugin contributes (local metadata given to Datasette still wins)."""
    if _building.get():
        return {}  # reading the plugin's settings while building this: answer with the local metadata only
    token = _building.set(True)
    try:
        db = darksocial_database(datasette)
    finally:
        _building.reset(token)
    if db is None:
        return {}
    plugins = {}
    auth_config = auth.auth_plugin_config()
    if auth_config:
        plugins[auth.AUTH_PLUGIN] = auth_config
    return {
        "title": TITLE,
        "description_html": DESCRIPTION_HTML.format(db=db),
        "databases": {db: database_metadata()},
        "plugins": plugins,
    }
