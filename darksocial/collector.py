"""Ingest: the one function every HTTP front calls with a request's body and headers.

Steps, in order, each answering with an HTTP status and a short reason:

==========  ==================================================================
status      when
==========  ==================================================================
413         the body (or its declared Content-Length) is over
            ``events.MAX_BODY_BYTES``
415         the Content-Type is not ``text/plain`` or ``application/json``
400         the body is not valid events (the reason names the field)
403         an event names a site that is not registered, or the request's
            ``Origin`` is not one of that site's origins. A missing Origin is
            refused too: browsers send one with every POST, sendBeacon and
            same-origin requests included, so only scripts omit it (a
            server-side sender sets it to one of the site's origins).
202         accepted but nothing stored: the sender is a bot (crawlerdetect,
            or no user agent at all), or the site respects Do Not Track /
            Global Privacy Control and the browser sends ``DNT: 1`` or
            ``Sec-GPC: 1``. Answered like a success so that nothing retries.
204         stored: answered only after the transaction holding the events
            has committed
503         the database could not store the events (a server-side problem;
            the only 5xx, and never caused by what a client sends)
==========  ==================================================================

What is stored is pseudonymous: the visitor id the tracker sends, or in cookieless
mode a daily-salted hash of (site, IP, user agent) (see :mod:`darksocial.privacy`);
the browser family, device class and in-app browser (see :mod:`darksocial.useragents`).
Never the IP, never the user-agent string.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from . import events, privacy, store, useragents

ACCEPTED_MEDIA_TYPES = ("text/plain", "application/json")
SITES_TTL = 2.0  # seconds a read of the sites table is trusted (`darksocial site add` shows up this fast)
UNKNOWN_SITE_RELOAD = 0.5  # an unknown site triggers a reload, at most this often


@dataclass(frozen=True)
class Result:
    status: int
    reason: str
    stored: int = 0


@dataclass(frozen=True)
class Site:
    site: str
    origins: frozenset[str]
    respect_dnt: bool


@lru_cache(maxsize=1024)
def normalise_origin(value: str) -> str | None:
    """'scheme://host[:port]' with the default port dropped and the host lowercased; None if not an origin."""
    try:
        parts = urlsplit(value.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host or parts.path not in ("", "/"):
        return None
    if parts.query or parts.fragment or parts.username or parts.password:
        return None
    scheme = parts.scheme.lower()
    default = {"http": 80, "https": 443}[scheme]
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


class Collector:
    """Ingest for one database. Share one per database per process (it owns the database's writer)."""

    def __init__(self, path: str | Path, *, writer: store.Writer | None = None,
                 clock: Callable[[], dt.datetime] | None = None):
        self.path = Path(path)
        store.open_db(self.path).close()  # create or migrate before the first event
        self.writer = writer or store.Writer(self.path)
        self._clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))
        self._read = sqlite3.connect(str(self.path), check_same_thread=False)
        self._read.execute(f"PRAGMA busy_timeout = {store.BUSY_TIMEOUT_MS}")
        self._lock = threading.Lock()
        self._sites: dict[str, Site] = {}
        self._sites_read_at = float("-inf")
        self._salts: dict[str, str] = {}

    def close(self) -> None:
        self.writer.close()
        self._read.close()

    # -- the two ways in: blocking (WSGI, Django) and asyncio (ASGI, Datasette) -----------------------------------
    def ingest(self, body: bytes, **request) -> Result:
        """Validate, filter, pseudonymise and store; returns once the events are committed.

        ``request`` holds the keyword arguments of :meth:`check` (the request's headers).
        """
        outcome = self.check(body, **request)
        if isinstance(outcome, Result):
            return outcome
        try:
            stored = self.writer.write_sync(outcome)
        except Exception as exc:
            return _unavailable(exc)
        return _stored(stored)

    async def ingest_async(self, body: bytes, **request) -> Result:
        now = self._clock()
        if privacy.salt_day(now) not in self._salts:  # fetched without blocking the event loop (the writer may be busy)
            await asyncio.wrap_future(self._fetch_salt(now))
        outcome = self.check(body, now=now, **request)
        if isinstance(outcome, Result):
            return outcome
        try:
            stored = await self.writer.write(outcome)
        except Exception as exc:
            return _unavailable(exc)
        return _stored(stored)

    def check(self, body: bytes, *, origin: str | None, user_agent: str | None, ip: str | None,
              content_type: str | None, content_length: str | int | None = None,
              dnt: str | None = None, gpc: str | None = None, now: dt.datetime | None = None) -> Result | list[tuple]:
        """Every step short of the write: a :class:`Result` to answer with, or the rows to store."""
        limit = events.MAX_BODY_BYTES
        declared = declared_length(content_length)
        if (declared is not None and declared > limit) or len(body) > limit:
            return Result(413, f"body over the limit of {limit} bytes: send fewer events per request")
        media_type = _media_type(content_type or "")
        if media_type not in ACCEPTED_MEDIA_TYPES:
            return Result(415, f"Content-Type must be text/plain or application/json; got {media_type or 'none'!r}")
        try:
            parsed = events.parse_body(body)
        except events.EventError as exc:
            return Result(400, str(exc))

        request_origin = normalise_origin(origin) if origin else None
        sites = {}
        for site_id in (parsed[0].site,) if len(parsed) == 1 else dict.fromkeys(e.site for e in parsed):
            site = self._site(site_id)
            if site is None:
                return Result(403, f"unknown site {site_id!r}: register it with `darksocial site add`")
            if origin is None:
                return Result(403, "missing Origin header: send it with one of the site's origins")
            if request_origin not in site.origins:
                return Result(403, f"Origin {origin[:100]!r} is not allowed for site {site_id!r}")
            sites[site_id] = site

        agent = (user_agent or "")
        if useragents.is_bot(agent):
            return _BOT
        kept = parsed
        if dnt == "1" or gpc == "1":
            kept = [e for e in parsed if not sites[e.site].respect_dnt]
            if not kept:
                return _OPTED_OUT

        now = now or self._clock()
        ts = store.utc_timestamp(now)
        described = useragents.describe(agent)
        rows = []
        for event in kept:
            visitor = event.visitor or privacy.pseudonym(self._salt(now), event.site, ip or "", agent)
            rows.append((
                ts, event.kind, event.site, visitor, event.url, event.token, event.referrer_host, event.in_token,
                event.in_channel, event.title, event.parent, event.channel, event.external_id, event.name,
                event.goal, event.value, described.browser, described.device, described.in_app,
            ))
        return rows

    # -- configuration read from the database ---------------------------------------------------------------------
    def _site(self, site_id: str) -> Site | None:
        age = time.monotonic() - self._sites_read_at
        if age > SITES_TTL or (site_id not in self._sites and age > UNKNOWN_SITE_RELOAD):
            self._load_sites()
        return self._sites.get(site_id)

    def _load_sites(self) -> None:
        with self._lock:
            rows = self._read.execute("SELECT site, origins, respect_dnt FROM sites").fetchall()
        sites = {}
        for site_id, origins, respect_dnt in rows:
            allowed = frozenset(filter(None, (normalise_origin(o) for o in json.loads(origins or "[]"))))
            sites[site_id] = Site(site_id, allowed, bool(respect_dnt))
        self._sites, self._sites_read_at = sites, time.monotonic()

    def _salt(self, now: dt.datetime) -> str:
        day = privacy.salt_day(now)
        salt = self._salts.get(day)
        return salt if salt is not None else self._fetch_salt(now).result()

    def _fetch_salt(self, now: dt.datetime) -> concurrent.futures.Future:
        """The salt of ``now``'s day, through the writer (created on first use, shared by every process), cached."""

        def fetch(conn):
            salt = store.day_salt(conn, now)
            self._salts = {privacy.salt_day(now): salt}
            return salt

        return self.writer.call(fetch)


def declared_length(value: str | int | None) -> int | None:
    """Content-Length as sent: None when absent or not a number; an absurdly long one stays over any limit."""
    if value is None or isinstance(value, int):
        return value
    value = value.strip()
    if not (value.isascii() and value.isdigit()):
        return None
    return int(value) if len(value) <= 12 else 10**12


@lru_cache(maxsize=64)
def _media_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


@lru_cache(maxsize=events.MAX_EVENTS_PER_REQUEST + 1)
def _stored(count: int) -> Result:
    return Result(204, f"stored {count} event(s)", count)


_BOT = Result(202, "dropped: bot or script user agent")
_OPTED_OUT = Result(202, "dropped: the site honours Do Not Track / Global Privacy Control")


def _unavailable(exc: Exception) -> Result:
    return Result(503, f"could not store the events ({type(exc).__name__}): retry later")
