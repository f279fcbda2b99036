"""Who may read what on the reporting server.

Anonymous visitors read only the tables listed in ``OPEN_TABLES`` (aggregates with no row or column per visitor) and
the reports built on them alone: never raw events, salts, sites, ambassador links, the page manifest, bookkeeping or
any table keyed by visitor; they never run arbitrary SQL (which would read those tables too). Analysts sign in with
datasette-auth-passwords as ``analyst``; the password hash comes from the environment, never from a file in the repo.
Locally, ``darksocial serve`` prints a one-time sign-in link (``darksocial login-link DB`` prints a fresh one any
time), so no password is needed on loopback and nobody is locked out; the link signs in as ``analyst``, not root.

The rules live in this module's permission hook, which overrides anything a local ``-m metadata.json`` might say:
"never readable anonymously" must not depend on the operator's metadata.
"""

from __future__ import annotations

import ipaddress
import os
import shlex
from collections.abc import Mapping

from darksocial.urls import url_host

PASSWORD_HASH_ENV = "DARKSOCIAL_ANALYST_PASSWORD_HASH"
ANALYST = "analyst"
AUTH_PLUGIN = "datasette-auth-passwords"
SIGNED_IN = {"id": "*"}  # a Datasette allow block matching any signed-in actor

# The only tables anonymous visitors may read (README "Signing in"): per-page, per-channel and per-day aggregates
# with no row or column per visitor. Everything else needs a sign-in, including tables a later version adds and
# the bookkeeping of sqlite-utils or the writer: what is open is listed, never what is closed.
OPEN_TABLES = frozenset({"stories", "story_daily", "channels", "daily"})

# The store's raw tables: events, the salts that pseudonymise visitors, the sites' allowed origins, and ambassador
# links (real people's names).
RAW_TABLES = ("events", "salts", "sites", "links")

HOW_TO_CONFIGURE = (
    f"Set {PASSWORD_HASH_ENV} to a password hash and restart:\n"
    f'    export {PASSWORD_HASH_ENV}="$(datasette hash-password)"\n'
    f"then sign in at /-/login as user '{ANALYST}' with that password. "
    "Or bind to 127.0.0.1 to use the reports on this machine only."
)


# Columns whose values identify a visitor: a visitor id, or a person (v:<visitor id>, x:<external id>, a:<name>).
PERSONAL_COLUMNS = frozenset({"visitor", "person", "sharer", "sharer_visitor", "external_id"})


def private_tables() -> frozenset[str]:
    """Every table darksocial knows of but the open ones: raw tables, the page manifest, the attribution's private
    state, the analysts' tables, the bookkeeping tables and every analyst table with a column identifying a visitor
    (``OPEN_TABLES`` must have none: a test holds it to that)."""
    from darksocial import analysts, inbox, tables

    known = {*RAW_TABLES, "pages", "_sqlite_migrations", *tables.TABLES, *analysts.TABLES, inbox.MOVED_TABLE}
    return frozenset(known) - OPEN_TABLES


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything: treat it as public


def password_hash(environ: Mapping[str, str] | None = None) -> str | None:
    """The analyst's password hash from the environment, or None when unset or not a hash we can verify."""
    value = (os.environ if environ is None else environ).get(PASSWORD_HASH_ENV, "").strip()
    parts = value.split("$")
    if len(parts) == 4 and parts[0] == "pbkdf2_sha256" and parts[1].isdigit() and parts[2] and parts[3]:
        return value
    return None


def bind_refusal(host: str, environ: Mapping[str, str] | None = None) -> str | None:
    """Why ``darksocial serve`` must not start on ``host``, or None when it may.

    On loopback the server may run open (reports only; private tables still need a sign-in). On any other address
    analyst authentication must be configured.
    """
    environ = os.environ if environ is None else environ
    if is_loopback(host):
        return None
    if password_hash(environ):
        return None
    if environ.get(PASSWORD_HASH_ENV, "").strip():
        problem = (f"{PASSWORD_HASH_ENV} is set but is not a password hash "
                   "(expected pbkdf2_sha256$<iterations>$<salt>$<hash>)")
    else:
        problem = f"analyst authentication is not configured ({PASSWORD_HASH_ENV} is not set)"
    return (
        f"Refusing to serve on {host}: {problem}, and anyone who can reach this address could read the reports.\n"
        + HOW_TO_CONFIGURE
    )


def auth_plugin_config(environ: Mapping[str, str] | None = None) -> dict:
    """datasette-auth-passwords configuration: the hash is resolved from the environment by Datasette at use."""
    if not password_hash(environ):
        return {}
    return {f"{ANALYST}_password_hash": {"$env": PASSWORD_HASH_ENV}}


def anonymous_denied(action: str, resource, private_query_names: frozenset[str], databases: frozenset[str],
                     crossdb: bool = False) -> bool:
    """True when an anonymous actor must be refused ``action`` on ``resource``. Only darksocial's databases
    (``databases``: see metadata.guarded_databases) are guarded: others served beside them are the operator's, with
    Datasette's rules. With ``crossdb`` the ``_memory`` database's SQL reads every attached file, darksocial's too."""
    if action in ("execute-sql", "view-database-download"):
        # Arbitrary SQL and the database file would both read the private tables.
        return resource in databases or (action == "execute-sql" and crossdb and resource == "_memory")
    if action == "view-table" and resource is not None and resource[0] in databases:
        # An allow-list: sqlite_stat1 and friends give the row counts of private tables away, and a table added
        # later is private until it is listed as open.
        return resource[1].lower() not in OPEN_TABLES
    if action == "view-query" and resource is not None and resource[0] in databases:
        return resource[1] in private_query_names
    return False


def login_link_options(host: str | None, port: int | None) -> str:
    """The ``darksocial login-link`` options naming the server on ``host:port`` (none for the defaults): without
    them the command mints links for a server that is not this one."""
    return ((f" --host {shlex.quote(host.strip('[]'))}" if host and host.strip("[]") != "127.0.0.1" else "")
            + (f" --port {port}" if port and port != 8001 else ""))


def sign_in_hint(datasette, host: str, port: int) -> str:
    """What ``darksocial serve`` tells the operator about signing in, one line per way.

    On loopback: a one-time sign-in link as ``analyst`` (``darksocial login-link DB`` prints another after a
    restart, in a second browser or with cleared cookies). With a password: the analyst login too.
    """
    from darksocial.analysts import login_link
    from darksocial.cli import command

    from . import collect

    lines = []
    path = collect.database_path(datasette)
    if is_loopback(host) and path is not None:
        lines.append(f"darksocial: sign in on this machine (one-time link): {login_link(path, host, port)}")
        lines.append(f"darksocial: another link any time: {command()} login-link {shlex.quote(str(path))}"
                     f"{login_link_options(host, port)}")
    if password_hash() or not lines:
        lines.append(f"darksocial: analysts sign in as '{ANALYST}' at http://{url_host(host)}:{port}/-/login")
    return "\n".join(lines)
