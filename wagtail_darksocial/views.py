"""The public endpoints: the first-party collector and the tracker's assets.

``collect`` hands the body and headers to the same :meth:`darksocial.collector.Collector.ingest` as the Datasette
route, so statuses, validation, bot filtering, pseudonyms and durability are the core's: 204 only after the events
are committed. It is CSRF-exempt (a beacon carries no token); the per-site Origin allow-list protects it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from functools import lru_cache
from pathlib import Path

from django.http import Http404, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from darksocial import events, inject
from darksocial.collector import WRONG_METHOD, Result, declared_length

from . import database

log = logging.getLogger(__name__)
ASSETS = {
    "darksocial.js": (inject.STATIC_DIR, "text/javascript; charset=utf-8"),
    "darksocial.css": (inject.STATIC_DIR, "text/css; charset=utf-8"),
    "identify.js": (Path(__file__).parent / "assets", "text/javascript; charset=utf-8"),
}


@csrf_exempt
def collect(request):
    if request.method != "POST":
        response = _answer(WRONG_METHOD)
        response["Allow"] = "POST"
        return response
    try:
        collector = database.collector()
    except Exception:
        log.exception("darksocial: cannot open the collector's database")
        return _answer(Result(503, "the collector's database cannot be opened: see the server log"))
    meta = request.META
    declared = declared_length(meta.get("CONTENT_LENGTH") or None)
    limit = events.MAX_BODY_BYTES
    body = b"" if declared is not None and declared > limit else request.read(limit + 1)
    try:
        result = collector.ingest(
            body, origin=meta.get("HTTP_ORIGIN"), user_agent=meta.get("HTTP_USER_AGENT"), ip=client_ip(meta),
            content_type=meta.get("CONTENT_TYPE"), content_length=declared, dnt=meta.get("HTTP_DNT"),
            gpc=meta.get("HTTP_SEC_GPC"),
        )
    except Exception:
        log.exception("darksocial: unexpected error while ingesting a request")
        result = Result(400, "the request could not be processed")
    return _answer(result)


def _answer(result: Result) -> HttpResponse:
    if result.status == 204:
        return HttpResponse(status=204)
    response = HttpResponse(result.reason + "\n", status=result.status, content_type="text/plain; charset=utf-8")
    if result.retry_after:  # a 429 or 503 says when to try again, as the core collector's answers do
        response["Retry-After"] = str(result.retry_after)
    return response


def client_ip(meta) -> str | None:
    """The peer's address; behind a reverse proxy on this machine, the address it forwarded. A peer on a Unix
    socket (gunicorn behind nginx: REMOTE_ADDR is blank) is on this machine too."""
    peer = meta.get("REMOTE_ADDR") or None
    forwarded = meta.get("HTTP_X_FORWARDED_FOR")
    if forwarded and (peer is None or _is_loopback(peer)):
        return forwarded.split(",")[-1].strip() or peer
    return peer


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def asset_path(name: str) -> Path:
    directory, _ = ASSETS[name]
    return Path(directory) / name


@lru_cache(maxsize=8)
def _asset(name: str, mtime: float) -> tuple[bytes, str]:
    content = asset_path(name).read_bytes()
    return content, '"' + hashlib.sha256(content).hexdigest()[:16] + '"'


def asset(request, name: str):
    if name not in ASSETS:
        raise Http404(name)
    path = asset_path(name)
    content, etag = _asset(name, path.stat().st_mtime)
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(content, content_type=ASSETS[name][1])
    response["ETag"] = etag
    # Versioned URLs (?v=<hash>) change with the file, so browsers may keep it for long.
    versioned = bool(request.GET.get("v"))
    response["Cache-Control"] = "public, max-age=31536000, immutable" if versioned else "public, max-age=3600"
    return response
