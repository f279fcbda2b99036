"""The collector's HTTP front on the reporting server, and the tracker's assets.

``POST /-/darksocial/collect`` hands the body and headers to :class:`darksocial.collector.Collector` (statuses and
privacy are documented there) and answers 204 once the events are committed, or a 4xx with a one-line reason.
It is exempt from Datasette's CSRF protection: beacons come from other origins by design, and what protects the
endpoint is the per-site Origin allow-list.

``GET /-/darksocial/darksocial.js`` and ``.css`` serve the tracker from ``darksocial.inject.STATIC_DIR``.

Which database: the plugin setting ``database`` (``plugins: {darksocial: {database: NAME}}`` in the metadata),
else the first mutable file database that already holds darksocial's ``events`` table (never an unrelated one).
One collector (and so one writer thread) per database file
per process, shared by every Datasette instance that serves it.

Maintenance: when the plugin setting ``attribute_every`` (seconds) is set, as ``darksocial serve`` does, a
background task runs ``darksocial.attribution.attribute`` that often, in a child process: a run that fails or runs
out of memory is logged (exit status and the tail of its stderr) and never takes the collector down. Salts older
than 48 hours are deleted every
``SALT_PURGE_EVERY`` seconds whether or not events arrive.

Abuse: plugin settings ``rate_limit`` (requests per second per client, default 4; 0 turns it off) and
``rate_burst`` (default 20) set the collector's per-client limit (answered 429 before the body is read), and a
request body must arrive within ``body_timeout`` seconds (default 10; answered 408). ``darksocial serve`` adds
timeouts for headers and a cap on connections (see :mod:`reporting.server`).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import logging
import sys
import threading
import weakref
from pathlib import Path

from datasette.utils.asgi import Response

from darksocial import events
from darksocial.collector import (
    WRONG_METHOD,
    Collector,
    FailureLog,
    RateLimit,
    Result,
    declared_length,
    normalise_origin,
)

COLLECT_PATH = "/-/darksocial/collect"
ASSET_TYPES = {"darksocial.js": "text/javascript; charset=utf-8", "darksocial.css": "text/css; charset=utf-8"}
PLUGIN = "darksocial"
LIMIT = events.MAX_BODY_BYTES
SALT_PURGE_EVERY = 600.0  # seconds
DEFAULT_BODY_TIMEOUT = 10.0  # seconds for a request body to arrive in full
# Set in the ASGI scope by reporting.server's protocol, which already closes a connection whose request is late.
READ_DEADLINE_SCOPE_KEY = "darksocial.read_deadline"

log = logging.getLogger(__name__)
_collectors: dict[Path, Collector] = {}
_collectors_lock = threading.Lock()
# Each Datasette's (collector, body timeout): a request must not resolve the plugin config (metadata hooks) again.
_collector_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_background: set[asyncio.Task] = set()
_unexpected = FailureLog()  # bugs, logged with their traceback, at most once every few seconds


def routes() -> list:
    return [
        (r"^/-/darksocial/collect$", collect_view),
        (r"^/-/darksocial/(?P<asset>darksocial\.(?:js|css))$", asset_view),
    ]


def skip_csrf(scope) -> bool:
    return scope.get("type") == "http" and scope.get("path") == COLLECT_PATH


def database_path(datasette) -> Path | None:
    """The file the collector writes to (see the module docstring), or None when Datasette serves no such file."""
    name = (datasette.plugin_config(PLUGIN) or {}).get("database")
    candidates = [datasette.databases[name]] if name in datasette.databases else []
    if not name:  # never take over a database nobody pointed us at: only one already holding darksocial's events
        candidates = [db for n, db in datasette.databases.items() if n != "_internal" and holds_events(db)]
    for db in candidates:
        if db.is_mutable and not db.is_memory and db.path:
            return Path(db.path).resolve()
    return None


def holds_events(db) -> bool:
    """Whether the served database ``db`` is a file holding darksocial's ``events`` table."""
    if db.is_memory or not db.path:
        return False
    import sqlite3

    try:
        conn = sqlite3.connect(f"file:{Path(db.path).resolve()}?mode=ro", uri=True)
        try:
            return conn.execute("select 1 from sqlite_master where type = 'table' and name = 'events'").fetchone() \
                is not None
        finally:
            conn.close()
    except sqlite3.Error:
        return False


def collector_for(datasette) -> Collector | None:
    path = database_path(datasette)
    if path is None:
        return None
    with _collectors_lock:
        if path not in _collectors:
            _collectors[path] = Collector(path, rate_limit=rate_limit(datasette))
        return _collectors[path]


def rate_limit(datasette) -> RateLimit | None:
    """The per-client rate limit the plugin settings ask for (``rate_limit``, ``rate_burst``); on by default."""
    settings = datasette.plugin_config(PLUGIN) or {}
    default = RateLimit()
    rate = float(settings.get("rate_limit", default.rate) or 0)
    if rate <= 0:
        return None
    return RateLimit(rate=rate, burst=float(settings.get("rate_burst", default.burst)))


def body_timeout(datasette) -> float:
    return float((datasette.plugin_config(PLUGIN) or {}).get("body_timeout") or DEFAULT_BODY_TIMEOUT)


async def startup(datasette) -> None:
    collector = await asyncio.to_thread(collector_for, datasette)  # creates or migrates the database up front
    every = (datasette.plugin_config(PLUGIN) or {}).get("attribute_every")
    if collector is not None:
        _start_background(_purge_salts(collector))
    if collector is not None and every:
        limit = (datasette.plugin_config(PLUGIN) or {}).get("attribute_memory_limit")
        _start_background(_maintain(collector, float(every), int(limit) if limit else None))


def _start_background(coroutine) -> None:
    task = asyncio.get_running_loop().create_task(coroutine)
    _background.add(task)
    task.add_done_callback(_background.discard)


# -- POST /-/darksocial/collect ---------------------------------------------------------------------------------------
def asgi_wrapper(datasette):
    """The hot path: POST /-/darksocial/collect is answered before Datasette's router.

    A beacon needs none of what the router does for a page (actor resolution, CSRF token minting, metadata and
    permission hooks), and skipping it is what lets the durable collector keep up with a bare ASGI server. The
    registered route (:func:`collect_view`) answers the other methods, and POST too when this wrapper is absent.
    """

    def wrap(app):
        async def collector_first(scope, receive, send):
            if scope.get("path") == COLLECT_PATH and scope.get("method") == "POST" and scope["type"] == "http":
                # One C-speed pass over the raw headers (names are lowercase in ASGI; the last duplicate wins);
                # only the few the collector reads are decoded.
                raw = dict(scope.get("headers") or ()).get
                status, extra, body = await answer_post(
                    datasette, scope, receive, latin1(raw(b"origin")), latin1(raw(b"user-agent")),
                    latin1(raw(b"content-type")), latin1(raw(b"content-length")), latin1(raw(b"dnt")),
                    latin1(raw(b"sec-gpc")), latin1(raw(b"sec-fetch-mode")))
                await send({"type": "http.response.start", "status": status, "headers": [
                    (k.encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()] if extra else []})
                await send({"type": "http.response.body", "body": body})
            else:
                await app(scope, receive, send)

        return collector_first

    return wrap


async def collect_view(request, datasette, receive):
    origin = request.headers.get("origin")
    if request.method == "POST":
        status, headers, body = await answer_post(
            datasette, request.scope, receive, *(request.headers.get(name.decode()) for name in _READ_HEADERS))
        return Response(body, status=status, headers=headers, content_type=headers.pop("content-type", "text/plain"))
    cors = _cors(origin)
    if request.method == "OPTIONS":
        return Response("", status=204, headers={
            **cors, "access-control-allow-methods": "POST", "access-control-allow-headers": "content-type",
            "access-control-max-age": "86400"})
    status, headers, body = answer(WRONG_METHOD, {**cors, "allow": "POST, OPTIONS"})
    return Response(body, status=status, headers=headers, content_type=headers.pop("content-type"))


# The request headers answer_post reads, in the order of its parameters after ``receive``.
_READ_HEADERS = (b"origin", b"user-agent", b"content-type", b"content-length", b"dnt", b"sec-gpc", b"sec-fetch-mode")


def latin1(value: bytes | None) -> str | None:
    """A raw header value as ASGI and Datasette decode it (None when absent)."""
    return None if value is None else value.decode("latin-1")


async def answer_post(datasette, scope, receive, origin: str | None, user_agent: str | None,
                      content_type: str | None, content_length: str | None, dnt: str | None, gpc: str | None,
                      fetch_mode: str | None) -> tuple[int, dict, bytes]:
    """(status, response headers, body) for a POST of events, given the request headers listed in _READ_HEADERS."""
    client = scope.get("client")
    ip = client[0] if client else None
    cors, collector, seconds, declared, early = begin_post(datasette, ip, origin, content_length, fetch_mode)
    if early is not None:
        return early
    if declared is not None and declared > LIMIT:
        body = b""  # not read at all: the collector answers 413 from the declared length
    else:
        try:
            if READ_DEADLINE_SCOPE_KEY in scope:
                body = await _read_body(receive, LIMIT)
            else:
                body = await _read_body_within(receive, LIMIT, seconds)
        except TimeoutError:
            return answer(Result(408, "body: not received in time; send it with the request"), cors)
    try:
        result = await collector.ingest_async(
            body, origin=origin, user_agent=user_agent, ip=ip, admitted=True,
            content_type=content_type, content_length=declared, dnt=dnt, gpc=gpc)
    except Exception as exc:
        result = unexpected(exc)
    return answer(result, cors)


def begin_post(datasette, ip: str | None, origin: str | None, content_length: str | None, fetch_mode: str | None):
    """What a POST of events needs before its body: (CORS headers, collector, body timeout, declared length,
    answer). ``answer`` (status, headers, body) is set when the request is answered without reading the body
    (no database, over the rate limit); then the other fields but the CORS headers are None."""
    cors = _cors(origin, fetch_mode)
    cached = _collector_cache.get(datasette)
    if cached is None:
        try:
            collector = collector_for(datasette)
        except Exception as exc:  # logged with its traceback, at most once every few seconds
            _unexpected.failed("cannot open the collector's database", exc, traceback=True)
            return cors, None, None, None, answer(
                Result(503, "server: the collector's database cannot be opened: see the server log"), cors)
        if collector is None:
            return cors, None, None, None, answer(
                Result(503, "server: no darksocial database to collect into: run `darksocial serve DB`, or name a "
                            "mutable database file in the plugin setting database (-m metadata.json)"), cors)
        cached = _collector_cache[datasette] = (collector, body_timeout(datasette))
    collector, seconds = cached
    refusal = collector.admit(ip)  # before reading the body: a flood costs as little as possible
    if refusal is not None:
        return cors, None, None, None, answer(refusal, cors)
    return cors, collector, seconds, declared_length(content_length), None


def unexpected(exc: Exception) -> Result:
    """The answer when ingesting raised: a bug, not the client's fault; still never a 5xx for what a client sends."""
    _unexpected.failed("unexpected error while ingesting a request", exc, traceback=True)
    return Result(400, "body: the request could not be processed")


def _cors(origin: str | None, fetch_mode: str | None = None) -> dict:
    # The answer carries nothing secret; letting the page read it helps integrators debug with fetch(). A beacon
    # (Sec-Fetch-Mode: no-cors) cannot read any answer, so it is spared the headers.
    if fetch_mode == "no-cors" or not _echoable(origin):
        return {}
    return {"access-control-allow-origin": origin, "vary": "Origin"}


def _echoable(origin: str | None) -> bool:
    return bool(origin) and origin.isascii() and origin.isprintable() and normalise_origin(origin) is not None


async def _read_body_within(receive, limit: int, seconds: float) -> bytes:
    """:func:`_read_body`, raising TimeoutError when the body takes longer than ``seconds`` to arrive."""
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):  # a timer, not a task: cheap on every request
            return await _read_body(receive, limit)
    try:
        return await asyncio.wait_for(_read_body(receive, limit), seconds)
    except asyncio.TimeoutError:
        raise TimeoutError from None


async def _read_body(receive, limit: int) -> bytes:
    """The request body, or its first ``limit + 1`` bytes if it is longer (enough to answer 413)."""
    message = await receive()
    body = message.get("body", b"") if message["type"] == "http.request" else b""
    if not message.get("more_body"):
        return body  # the usual case: a beacon's body comes in one message
    chunks, size = [body], len(body)
    while size <= limit and message.get("more_body"):
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def answer(result: Result, headers: dict) -> tuple[int, dict, bytes]:
    """(status, response headers, body) answering ``result``; ``headers``: the CORS ones."""
    if result.status == 204:
        return 204, headers, b""
    if result.retry_after:
        headers = {**headers, "retry-after": str(result.retry_after)}
    reason = result.reason[:500] + "\n"  # reasons quote client input: bounded, and never an encoding error
    return result.status, {**headers, "content-type": "text/plain; charset=utf-8"}, reason.encode("utf-8", "replace")


# -- GET /-/darksocial/darksocial.(js|css) ----------------------------------------------------------------------------
_assets: dict[Path, tuple[float, bytes, str]] = {}


async def asset_view(request):
    name = request.url_vars["asset"]
    static_dir = getattr(importlib.import_module("darksocial.inject"), "STATIC_DIR", None)
    path = Path(static_dir) / name if static_dir else None
    if path is None or not path.is_file():
        return Response.text(f"{name} is not installed: reinstall darksocial\n", status=404)
    mtime = path.stat().st_mtime
    cached = _assets.get(path)
    if cached is None or cached[0] != mtime:
        content = path.read_bytes()
        cached = _assets[path] = (mtime, content, '"' + hashlib.sha256(content).hexdigest()[:16] + '"')
    _, content, etag = cached
    headers = {"etag": etag, "cache-control": "public, max-age=3600", "access-control-allow-origin": "*"}
    if request.headers.get("if-none-match") == etag:
        return Response("", status=304, headers=headers)
    return Response(content, status=200, headers=headers, content_type=ASSET_TYPES[name])


# -- background maintenance -------------------------------------------------------------------------------------------
async def _purge_salts(collector: Collector) -> None:
    """Delete salts older than 48 hours on a timer: a quiet server must not keep them for lack of traffic."""
    while True:
        try:
            await asyncio.to_thread(collector.purge_salts)
        except Exception as exc:
            collector.failures.failed("cannot purge old salts", exc)
        await asyncio.sleep(SALT_PURGE_EVERY)


async def _maintain(collector: Collector, every: float, memory_limit: int | None = None) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await asyncio.to_thread(_attribute, collector.path, memory_limit)
        except Exception as exc:
            # The run failed in its own process (forged events, a bug, no memory left): the collector carries on.
            log.error("darksocial: background attribution failed (%s); retrying in %s s\n%s", exc, every,
                      getattr(exc, "stderr", ""))


def _attribute(path: Path, memory_limit: int | None = None) -> dict:
    """One incremental attribution run, in a child process (darksocial.attribution.child) whose address space is
    capped at ``memory_limit`` bytes (plugin setting ``attribute_memory_limit``) when given."""
    child = importlib.import_module("darksocial.attribution.child")
    return child.attribute_in_child(path, memory_limit=memory_limit)
