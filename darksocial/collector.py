"""Ingest: the one function every HTTP front calls with a request's body and headers.

Steps, in order, each answering with an HTTP status and a short reason:

==========  ==================================================================
status      when
==========  ==================================================================
413         the body (or its declared Content-Length) is over
            ``events.MAX_BODY_BYTES``
415         the Content-Type is not ``text/plain`` or ``application/json``
429         the client (its IP address; an IPv6 /64) sent more than the rate
            limit allows (see :class:`RateLimit`; answered before the body is read)
400         the body is not valid events
403         an event names a site that is not registered, the request's
            ``Origin`` is not one of that site's origins, or an event's URL
            is not on one of them. A missing Origin is refused too: browsers
            send one with every POST, sendBeacon and same-origin requests
            included, so only scripts omit it (a server-side sender sets it
            to one of the site's origins).
202         accepted but nothing stored: the sender is a bot (crawlerdetect,
            or no user agent at all), or the site respects Do Not Track /
            Global Privacy Control and the browser sends ``DNT: 1`` or
            ``Sec-GPC: 1``. Answered like a success so that nothing retries.
204         stored: answered only after the transaction holding the events
            has committed
503         the database could not store the events, or the day's salt
            could not be read (a server-side problem; the only 5xx, and never
            caused by what a client sends). Logged, at most once every
            ``FAILURE_LOG_EVERY`` seconds with a count of the others.
==========  ==================================================================

Every 4xx reason starts with the field or header it is about, then a colon: ``u: …``,
``event[2].c: …``, ``body: …``, ``Origin: …``, ``Content-Type: …``, ``client: …``.

Before anything is stored, an event's URL is canonicalised with its site's rules
(:func:`darksocial.urls.canonical_url`): the fragment, private parameters and
tracking parameters go; the tracking parameters are kept apart in
``events.campaign_query``.

What is stored is pseudonymous: the visitor id the tracker sends, or in cookieless
mode a daily-salted hash of (site, IP, user agent) (see :mod:`darksocial.privacy`);
the browser family, device class and in-app browser (see :mod:`darksocial.useragents`).
Never the IP, never the user-agent string.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import ipaddress
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from . import events, privacy, store, urls, useragents

log = logging.getLogger(__name__)

ACCEPTED_MEDIA_TYPES = ("text/plain", "application/json")
REGISTER_HINT = "register it with `darksocial site add`"
SITES_TTL = 2.0  # seconds a read of the sites table is trusted (`darksocial site add` shows up this fast)
UNKNOWN_SITE_RELOAD = 0.5  # an unknown site triggers a reload, at most this often
FAILURE_LOG_EVERY = 10.0  # seconds between two log lines about server-side failures


@dataclass(frozen=True)
class Result:
    status: int
    reason: str
    stored: int = 0
    retry_after: int | None = None  # seconds, for a 429


# Every refusal names its field or header first, the request's method too (the reporting route and the Wagtail view).
WRONG_METHOD = Result(405, "method: use POST to send events")

PAGES_CACHED_PER_SITE = 4096  # canonical forms of a site's event URLs kept (page URLs repeat on every view)


@dataclass(frozen=True)
class Site:
    site: str
    origins: frozenset[str]
    respect_dnt: bool
    strip: frozenset[str] = urls.DEFAULT_STRIP
    keep: frozenset[str] | None = None
    # event URL -> (canonical URL, campaign query), or None when not on one of the site's origins
    pages: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    def page(self, url: str) -> tuple[str, str | None] | None:
        """(canonical URL, campaign query) of an event's URL, or None when it is not on one of the site's origins."""
        try:
            return self.pages[url]
        except KeyError:
            pass
        if len(url) > events.MAX_URL:  # rare, and each as long as 4 usual ones: not worth the cache's memory
            return _canonical(url, self)
        if len(self.pages) >= PAGES_CACHED_PER_SITE:
            self.pages.clear()
        page = self.pages[url] = _canonical(url, self)
        return page


@dataclass(frozen=True)
class RateLimit:
    """A token bucket per client: ``rate`` requests per second on average, ``burst`` at once.

    A client is an IP address, or an IPv6 /64 (one subscriber's network). Loopback clients are exempt when
    ``exempt_loopback`` (a local process could write the database directly; behind a reverse proxy that forwards
    the visitor's address, visitors are limited one by one). At most ``max_clients`` buckets are kept: past that,
    the least recently seen client is forgotten (it starts again with a full bucket).
    """

    rate: float = 4.0
    burst: float = 20.0
    exempt_loopback: bool = True
    max_clients: int = 100_000


class RateLimiter:
    def __init__(self, limit: RateLimit):
        self.limit = limit
        self._buckets: collections.OrderedDict[str, tuple[float, float]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def admit(self, ip: str | None, now: float) -> float:
        """0 when the request may go ahead, else the seconds until it could."""
        key = _client_key(ip, self.limit.exempt_loopback)
        if key is None:
            return 0.0
        rate, burst = self.limit.rate, self.limit.burst
        with self._lock:
            tokens, seen = self._buckets.pop(key, (burst, now))
            tokens = min(burst, tokens + max(0.0, now - seen) * rate)
            if tokens >= 1:
                tokens -= 1
                wait = 0.0
            else:
                wait = (1 - tokens) / rate
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self.limit.max_clients:
                self._buckets.popitem(last=False)
        return wait


@lru_cache(maxsize=65536)
def _client_key(ip: str | None, exempt_loopback: bool) -> str | None:
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if exempt_loopback and address.is_loopback:
        return None
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class FailureLog:
    """Server-side failures, logged at most once every ``every`` seconds, with the count of those not logged."""

    def __init__(self, every: float = FAILURE_LOG_EVERY):
        self.every = every
        self._last = float("-inf")
        self._skipped = 0
        self._lock = threading.Lock()

    def failed(self, what: str, exc: BaseException, *, traceback: bool = False) -> None:
        """Log ``exc`` unless a failure was logged less than ``every`` seconds ago; ``traceback`` for bugs."""
        now = time.monotonic()
        with self._lock:
            if now - self._last < self.every:
                self._skipped += 1
                return
            skipped, self._skipped, self._last = self._skipped, 0, now
        more = f" ({skipped} more such failures since the last report)" if skipped else ""
        log.error("darksocial: %s: %s: %s%s", what, type(exc).__name__, exc, more,
                  exc_info=exc if traceback else None)


MAX_ORIGIN = 512  # a scheme, a host name (at most 253 characters) and a port; a longer Origin names none


def normalise_origin(value: str) -> str | None:
    """'scheme://host[:port]' with the default port dropped, the host lowercased and an internationalised host in
    its ASCII (punycode) form; None if not an origin."""
    return None if len(value) > MAX_ORIGIN else _normalised_origin(value)


@lru_cache(maxsize=1024)  # keyed by what clients send: only values of bounded length
def _normalised_origin(value: str) -> str | None:
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
    host = urls.ascii_host(host)
    if host is None:
        return None
    return f"{scheme}://{urls.url_host(host)}" + (f":{port}" if port and port != default else "")


class Collector:
    """Ingest for one database. Share one per database per process (it owns the database's writer).

    ``rate_limit``: a :class:`RateLimit` (the default: 4 requests/s per client, bursts of 20), or None for none.
    It runs on the collector's clock, so events ingested with a simulated clock are limited in simulated time.
    ``register_hint`` ends the refusal of an unknown site: how sites get registered where this collector runs.
    """

    def __init__(self, path: str | Path, *, writer: store.Writer | None = None,
                 clock: Callable[[], dt.datetime] | None = None, rate_limit: RateLimit | None = RateLimit(),
                 register_hint: str = REGISTER_HINT):
        self.path = Path(path)
        self.register_hint = register_hint
        store.open_db(self.path).close()  # create or migrate before the first event
        self.writer = writer or store.Writer(self.path)
        self._clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))
        self._real_time = clock is None  # then a request's time is read and formatted without datetime objects
        self._second: tuple[int, str, str] = (-1, "", "")  # (a second since the epoch, its ts prefix, its day)
        self._read = sqlite3.connect(str(self.path), check_same_thread=False)
        self._read.execute(f"PRAGMA busy_timeout = {store.BUSY_TIMEOUT_MS}")
        self._lock = threading.Lock()
        self._sites: dict[str, Site] = {}
        self._revoked: dict[str, str | None] = {}  # revoked ambassador links' tokens → channels, read with the sites
        self._sites_read_at = float("-inf")
        self.salt_store = store.SaltStore(store.salts_path(self.path))
        self._salts: dict[str, str] = {}
        self.limiter = RateLimiter(rate_limit) if rate_limit else None
        self.failures = FailureLog()

    def close(self) -> None:
        self.writer.close()
        self._read.close()
        self.salt_store.close()

    def purge_salts(self, now: dt.datetime | None = None) -> int:
        """Delete the salts more than 48 hours old (file and memory); servers call it on a timer."""
        now = now or self._clock()
        today = privacy.salt_day(now)
        self._salts = {day: salt for day, salt in self._salts.items() if day == today}
        return self.salt_store.purge(now)

    def admit(self, ip: str | None, now: dt.datetime | None = None) -> Result | None:
        """A 429 when ``ip`` is over the rate limit, else None. Cheap: HTTP fronts call it before reading a body."""
        if self.limiter is None:
            return None
        now = now or (None if self._real_time else self._clock())
        wait = self.limiter.admit(ip, time.time() if now is None else now.timestamp())
        return None if not wait else self._over_limit(wait)

    def _over_limit(self, wait: float) -> Result:
        seconds = max(1, round(wait + 0.5))
        return Result(429, f"client: over the rate limit of {self.limiter.limit.rate:g} requests/s; "
                           f"retry in {seconds} s", retry_after=seconds)

    def _stamp(self, now: dt.datetime | None = None) -> _Stamp:
        """``now`` (default: the collector's clock) as (seconds since the epoch, `events.ts` text, UTC day)."""
        if now is None and self._real_time:
            # On every request: the time formatted once per second, the microseconds appended (a datetime, its
            # isoformat and its date cost several times more).
            second, nanoseconds = divmod(time.time_ns(), 1_000_000_000)
            cached = self._second
            if cached[0] != second:
                prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
                cached = self._second = (second, prefix, prefix[:10])
            return second + nanoseconds / 1e9, f"{cached[1]}.{nanoseconds // 1000:06d}Z", cached[2]
        now = now or self._clock()
        return now.timestamp(), store.utc_timestamp(now), privacy.salt_day(now)

    # -- the two ways in: blocking (WSGI, Django) and asyncio (ASGI, Datasette) -----------------------------------
    def ingest(self, body: bytes, *, admitted: bool = False, **request) -> Result:
        """Validate, filter, pseudonymise and store; returns once the events are committed.

        ``request`` holds the keyword arguments of :meth:`check` (the request's headers). ``admitted``: the
        caller already applied the rate limit (:meth:`admit`).
        """
        stamp = self._stamp()
        refusal = None if admitted else self._admit_at(request.get("ip"), stamp)
        if refusal is not None:
            return refusal
        try:
            self._salt(stamp)
        except Exception as exc:
            return self._unavailable("cannot read or create the day's salt", exc)
        outcome = self._check(body, stamp, **request)
        if isinstance(outcome, Result):
            return outcome
        try:
            stored = self.writer.write_sync(outcome)
        except Exception as exc:
            return self._unavailable("cannot store events", exc)
        return _stored(stored)

    async def ingest_async(self, body: bytes, *, admitted: bool = False, **request) -> Result:
        stamp = self._stamp()
        refusal = None if admitted else self._admit_at(request.get("ip"), stamp)
        if refusal is not None:
            return refusal
        if stamp[2] not in self._salts:  # once a day: read without blocking the event loop
            try:
                await asyncio.to_thread(self._salt, stamp)
            except Exception as exc:
                return self._unavailable("cannot read or create the day's salt", exc)
        outcome = self._check(body, stamp, **request)
        if isinstance(outcome, Result):
            return outcome
        try:
            stored = await self.writer.write(outcome)
        except Exception as exc:
            return self._unavailable("cannot store events", exc)
        return _stored(stored)

    def ingest_nowait(self, body: bytes, on_result: Callable[[Result | Exception], None], *,
                      loop: asyncio.AbstractEventLoop, admitted: bool = False, origin: str | None,
                      user_agent: str | None, ip: str | None, content_type: str | None,
                      content_length: str | int | None = None, dnt: str | None = None, gpc: str | None = None) -> None:
        """:meth:`ingest_async` without a coroutine, for a server that answers from its protocol callbacks.

        Calls ``on_result`` (on ``loop``, maybe before returning) with the :class:`Result`, or with the exception
        a bug raised (what :meth:`ingest_async` would have raised).
        """
        stamp = self._stamp()
        if stamp[2] not in self._salts:  # once a day: the coroutine reads it off the event loop
            task = loop.create_task(self.ingest_async(
                body, admitted=admitted, origin=origin, user_agent=user_agent, ip=ip, content_type=content_type,
                content_length=content_length, dnt=dnt, gpc=gpc))
            task.add_done_callback(lambda t: on_result(t.exception() or t.result()))
            return
        refusal = None if admitted else self._admit_at(ip, stamp)
        if refusal is not None:
            return on_result(refusal)
        try:
            outcome = self._check(body, stamp, origin, user_agent, ip, content_type, content_length, dnt, gpc)
        except Exception as exc:
            return on_result(exc)
        if type(outcome) is Result:
            return on_result(outcome)

        def committed(count: int | None, exc: BaseException | None) -> None:
            on_result(_stored(count) if exc is None else self._unavailable("cannot store events", exc))

        try:
            self.writer.write_then(outcome, loop, committed)
        except Exception as exc:
            on_result(self._unavailable("cannot store events", exc))

    def _admit_at(self, ip: str | None, stamp: _Stamp) -> Result | None:
        if self.limiter is None:
            return None
        wait = self.limiter.admit(ip, stamp[0])
        return None if not wait else self._over_limit(wait)

    def _unavailable(self, what: str, exc: Exception) -> Result:
        self.failures.failed(what, exc)
        return Result(503, f"server: {what} ({type(exc).__name__}); retry later", retry_after=5)

    def check(self, body: bytes, *, origin: str | None, user_agent: str | None, ip: str | None,
              content_type: str | None, content_length: str | int | None = None,
              dnt: str | None = None, gpc: str | None = None, now: dt.datetime | None = None) -> Result | list[tuple]:
        """Every step short of the write: a :class:`Result` to answer with, or the rows to store."""
        return self._check(body, self._stamp(now), origin, user_agent, ip, content_type, content_length, dnt, gpc)

    def _check(self, body: bytes, stamp: _Stamp, origin: str | None, user_agent: str | None, ip: str | None,
               content_type: str | None, content_length: str | int | None = None, dnt: str | None = None,
               gpc: str | None = None) -> Result | list[tuple]:
        limit = events.MAX_BODY_BYTES
        declared = declared_length(content_length)
        if (declared is not None and declared > limit) or len(body) > limit:
            return Result(413, f"body: over the limit of {limit} bytes: send fewer events per request")
        media_type = _media_type((content_type or "")[:MAX_CONTENT_TYPE])
        if media_type not in ACCEPTED_MEDIA_TYPES:
            return Result(415, f"Content-Type: must be text/plain or application/json; got {ascii(media_type)[:60]}")
        try:
            parsed = events.parse_body(body)
        except events.EventError as exc:
            return Result(400, str(exc))

        request_origin = normalise_origin(origin) if origin else None
        single = len(parsed) == 1
        sites = {}
        for site_id in (parsed[0].site,) if single else dict.fromkeys(e.site for e in parsed):
            site = self._site(site_id)
            if site is None:
                field = "s" if single else f"event[{next(i for i, e in enumerate(parsed) if e.site == site_id)}].s"
                return Result(403, f"{field}: unknown site {site_id!r}: {self.register_hint}")
            if origin is None:
                return Result(403, "Origin: missing; send it with one of the site's origins")
            if request_origin not in site.origins:
                return Result(403, f"Origin: {ascii(origin)[:100]} is not allowed for site {site_id!r}")
            sites[site_id] = site
        pages = []
        for index, event in enumerate(parsed):
            if event.url is None:
                pages.append((None, None))
                continue
            site = site if single else sites[event.site]
            page = site.page(event.url)
            if page is None:
                field = "u" if single else f"event[{index}].u"
                return Result(403, f"{field}: {ascii(event.url)[:80]} is not on an origin of site {site.site!r}")
            if len(page[0]) > events.MAX_URL:
                field = "u" if single else f"event[{index}].u"
                return Result(400, f"{field}: {len(page[0])} characters without its tracking parameters; the "
                                   f"limit is {events.MAX_URL}")
            pages.append(page)

        agent = user_agent or ""
        agent_columns = _agent_columns(agent)
        if agent_columns is None:
            return _BOT
        kept = zip(parsed, pages, strict=True)
        if dnt == "1" or gpc == "1":
            kept = [(e, page) for e, page in kept if not sites[e.site].respect_dnt]
            if not kept:
                return _OPTED_OUT
        if self._revoked:
            # A revoked ambassador link credits nobody from now on: the visit keeps its channel code, like a
            # share link followed without JavaScript, and is stored so (the events stay the one source of truth).
            # The link's own channel wins over the code the URL carried (none, or another one typed by hand).
            revoked = self._revoked
            kept = [(e._replace(in_token=None, in_channel=revoked[e.in_token] or e.in_channel)
                     if e.in_token in revoked else e, page) for e, page in kept]
        ts = stamp[1]
        rows = []
        for event, (url, campaign) in kept:
            visitor = event.visitor or privacy.pseudonym(self._salt(stamp), event.site, ip or "", agent)
            # An Event's fields are the columns from `kind` to `value` (store.EVENT_COLUMNS), the URL canonicalised.
            rows.append((ts, event.kind, event.site, visitor, url, *event[_AFTER_URL:], *agent_columns, campaign))
        return rows

    # -- configuration read from the database ---------------------------------------------------------------------
    def _site(self, site_id: str) -> Site | None:
        age = time.monotonic() - self._sites_read_at
        if age > SITES_TTL or (site_id not in self._sites and age > UNKNOWN_SITE_RELOAD):
            self._load_sites()
        return self._sites.get(site_id)

    def _load_sites(self) -> None:
        with self._lock:
            rows = self._read.execute(
                "SELECT site, origins, respect_dnt, strip_params, keep_params FROM sites").fetchall()
            revoked = dict(self._read.execute("SELECT token, channel FROM links WHERE revoked IS NOT NULL"))
        sites = {}
        for site_id, origins, respect_dnt, strip_params, keep_params in rows:
            allowed = frozenset(filter(None, (normalise_origin(o) for o in json.loads(origins or "[]"))))
            keep = frozenset(json.loads(keep_params)) if keep_params else None
            site = Site(site_id, allowed, bool(respect_dnt), urls.strip_rules(json.loads(strip_params or "[]")), keep)
            known = self._sites.get(site_id)
            # Re-read every few seconds: an unchanged site keeps the canonical URLs it has worked out.
            sites[site_id] = known if known == site else site
        self._sites, self._revoked, self._sites_read_at = sites, revoked, time.monotonic()

    def _salt(self, stamp: _Stamp) -> str:
        """The salt of the stamp's day (created on first use, shared by every process), cached for the day."""
        day = stamp[2]
        salt = self._salts.get(day)
        if salt is None:
            salt = self.salt_store.salt(dt.datetime.fromtimestamp(stamp[0], dt.timezone.utc))
            self._salts = {day: salt}
        return salt


_Stamp = tuple[float, str, str]  # see Collector._stamp


# A row is (ts, *the event's fields with its URL canonicalised, *the user agent's columns, campaign query):
# Event's fields are store.EVENT_COLUMNS[1:16] (a test holds them to it).
_AFTER_URL = events.Event._fields.index("url") + 1


def _canonical(url: str, site: Site) -> tuple[str, str | None] | None:
    try:
        page, campaign = urls.canonical_url(url, site.strip, site.keep)
    except ValueError:
        return None
    if campaign and len(campaign) > events.MAX_URL:
        # Padding, not a campaign: the whole parameters that fit are kept (utm_source comes first when it is there).
        campaign = campaign[:events.MAX_URL + 1].rpartition("&")[0] or None
    return (page, campaign) if _origin_of(page) in site.origins else None


@lru_cache(maxsize=4096)
def _origin_of(url: str) -> str | None:
    scheme, _, rest = url.partition("://")
    return normalise_origin(f"{scheme}://{rest.split('/', 1)[0]}")


def declared_length(value: str | int | None) -> int | None:
    """Content-Length as sent: None when absent or not a number; an absurdly long one stays over any limit."""
    if value is None or isinstance(value, int):
        return value
    value = value.strip()
    if not (value.isascii() and value.isdigit()):
        return None
    return int(value) if len(value) <= 12 else 10**12


def _agent_columns(user_agent: str) -> tuple[str, str, str | None] | None:
    """(browser family, device class, in-app browser) of a user agent, or None for a bot (user agents repeat: the
    answers are cached, never for an agent longer than a browser's, which a client could make a megabyte long)."""
    if useragents.is_bot(user_agent):
        return None
    return _described(user_agent)


@lru_cache(maxsize=8192)
def _described(user_agent: str) -> tuple[str, str, str | None]:
    described = useragents.describe(user_agent)
    return described.browser, described.device, described.in_app


MAX_CONTENT_TYPE = 256  # what is looked at of a Content-Type (its media type comes first): the cache holds no more


@lru_cache(maxsize=64)
def _media_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


@lru_cache(maxsize=events.MAX_EVENTS_PER_REQUEST + 1)
def _stored(count: int) -> Result:
    return Result(204, f"stored {count} event(s)", count)


_BOT = Result(202, "dropped: bot or script user agent")
_OPTED_OUT = Result(202, "dropped: the site honours Do Not Track / Global Privacy Control")
