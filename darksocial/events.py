"""The event schema: what the tracker sends, validated and normalised in one place.

Wire format (a JSON object, or an array of at most ``MAX_EVENTS_PER_REQUEST`` of them,
sent as ``text/plain`` so that no CORS preflight is needed). Keys are short
because they travel on every page view:

=====  ===========================================  ==========================
key    meaning                                      kinds
=====  ===========================================  ==========================
``k``  kind: ``view``, ``share``, ``identify``,     all (required)
       ``goal``
``s``  site id, as configured on the server         all (required)
``v``  visitor id (random, from localStorage);      all (optional: absent in
       the server derives one when absent           cookieless mode)
``u``  page URL, absolute http(s), no ``ds`` token   view, share (required);
                                                    goal (optional)
``t``  token: the page-view token (view, goal) or   view, share (required);
       the share token (share)                      goal (optional)
``r``  referrer URL (only its host is kept)         view (optional)
``i``  incoming ``ds`` value: ``<token>``,          view (optional)
       ``<token>.<code>`` or ``.<code>``
``n``  page title (view) or display name            view, identify (optional)
       (identify)
``p``  parent page-view token                       share (required)
``c``  channel code                                 share (required)
``x``  external id of the visitor (opaque)          identify (required)
``g``  goal name                                    goal (required)
``gv`` goal value (number)                          goal (optional)
=====  ===========================================  ==========================

Unknown keys are rejected, so a typo in an integration fails loudly instead of
losing data silently.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from . import tokens
from .channels import CHANNELS

KINDS = ("view", "share", "identify", "goal")
MAX_EVENTS_PER_REQUEST = 25
MAX_BODY_BYTES = 32 * 1024
MAX_URL = 2048
MAX_TITLE = 300
MAX_NAME = 200
MAX_EXTERNAL_ID = 200
MAX_GOAL = 100

SITE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")
VISITOR_RE = re.compile(r"[0-9A-Za-z]{10,32}")
GOAL_RE = re.compile(rf"[^\x00-\x1f\x7f]{{1,{MAX_GOAL}}}")
CONTROL_RE = re.compile(r"[\x00-\x1f]")
# A host name, IPv4 or bracket-less IPv6 address as urlsplit returns it: no spaces or delimiters.
HOST_RE = re.compile(r"[^\s/?#@\\<>\"'`]+")

_ALLOWED = {
    "view": {"k", "s", "v", "u", "t", "r", "i", "n"},
    "share": {"k", "s", "v", "u", "t", "p", "c"},
    "identify": {"k", "s", "v", "x", "n"},
    "goal": {"k", "s", "v", "u", "t", "g", "gv"},
}
_REQUIRED = {
    "view": {"k", "s", "u", "t"},
    "share": {"k", "s", "u", "t", "p", "c"},
    "identify": {"k", "s", "x"},
    "goal": {"k", "s", "g"},
}


class EventError(ValueError):
    """Input that is not a valid event; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class Event:
    """A validated, normalised event. Empty optional fields are ``None``."""

    kind: str
    site: str
    visitor: str | None = None
    url: str | None = None
    token: str | None = None
    referrer_host: str | None = None
    in_token: str | None = None
    in_channel: str | None = None
    title: str | None = None
    parent: str | None = None
    channel: str | None = None
    external_id: str | None = None
    name: str | None = None
    goal: str | None = None
    value: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def parse_body(body: bytes) -> list[Event]:
    """Decode and validate a request body: one event object or an array of them."""
    if len(body) > MAX_BODY_BYTES:
        raise EventError(f"body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}")
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise EventError("body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise EventError(f"body is not JSON: {exc.msg} at position {exc.pos}") from None
    items = data if isinstance(data, list) else [data]
    if not items:
        raise EventError("empty array: send at least one event")
    if len(items) > MAX_EVENTS_PER_REQUEST:
        raise EventError(f"{len(items)} events in one request; the limit is {MAX_EVENTS_PER_REQUEST}")
    out = []
    for index, item in enumerate(items):
        try:
            out.append(validate(item))
        except EventError as exc:
            raise EventError(f"event {index}: {exc}" if len(items) > 1 else str(exc)) from None
    return out


def validate(obj: object) -> Event:
    if not isinstance(obj, dict):
        raise EventError(f"an event must be a JSON object, not {type(obj).__name__}")
    kind = obj.get("k")
    if kind not in KINDS:
        raise EventError(f"k (kind) must be one of {', '.join(KINDS)}; got {kind!r}")
    if not obj.keys() <= _ALLOWED[kind]:
        unknown = set(obj) - _ALLOWED[kind]
        raise EventError(f"unknown field(s) for a {kind} event: {', '.join(sorted(unknown))}")
    missing = [k for k in _REQUIRED[kind] if obj.get(k) in (None, "")]
    if missing:
        raise EventError(f"missing field(s) for a {kind} event: {', '.join(sorted(missing))}")

    fields: dict = {"kind": kind, "site": _match(obj, "s", SITE_RE, "a site id (letters, digits, . _ : -)")}
    if obj.get("v") not in (None, ""):
        fields["visitor"] = _match(obj, "v", VISITOR_RE, "a visitor id of 10-32 base62 characters")
    if obj.get("u") not in (None, ""):
        url = _http_url(obj, "u")
        fields["url"] = tokens.strip_from_url(url) if tokens.PARAM + "=" in url else url
    if obj.get("t") not in (None, ""):
        fields["token"] = _token(obj, "t")

    if kind == "view":
        if obj.get("r") not in (None, ""):
            fields["referrer_host"] = _referrer_host(obj)
        if obj.get("i") not in (None, ""):
            ref = _string(obj, "i", 20)
            fields["in_token"], fields["in_channel"] = _incoming(ref)
        if obj.get("n") not in (None, ""):
            fields["title"] = _text(obj, "n", MAX_TITLE)
    elif kind == "share":
        fields["parent"] = _token(obj, "p")
        code = obj["c"]
        if code not in CHANNELS:
            raise EventError(f"c (channel) must be one of {', '.join(CHANNELS)}; got {code!r}")
        fields["channel"] = code
        if fields["parent"] == fields["token"]:
            raise EventError("p (parent) must differ from t (the share token)")
    elif kind == "identify":
        fields["external_id"] = _text(obj, "x", MAX_EXTERNAL_ID)
        if obj.get("n") not in (None, ""):
            fields["name"] = _text(obj, "n", MAX_NAME)
    elif kind == "goal":
        fields["goal"] = _match(obj, "g", GOAL_RE, f"a goal name of 1-{MAX_GOAL} printable characters")
        if obj.get("gv") is not None:
            value = obj["gv"]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise EventError(f"gv (goal value) must be a finite number; got {value!r}")
            fields["value"] = float(value)
    return Event(**fields)


def _incoming(ref: str) -> tuple[str | None, str | None]:
    # The tracker forwards whatever ds value the address bar held. A link with a mistyped or retired
    # channel code still carries a usable token, so keep the view and the token and drop only the code.
    token, _, code = ref.partition(".")
    if code and code not in CHANNELS and (not token or tokens.is_token(token)):
        ref = token
        if not ref:
            return None, None
    try:
        parsed = tokens.parse_value(ref)
    except tokens.TokenError as exc:
        raise EventError(f"i (incoming token): {exc}") from None
    return parsed.token, parsed.channel


def _string(obj: dict, key: str, limit: int) -> str:
    value = obj[key]
    if not isinstance(value, str):
        raise EventError(f"{key} must be a string; got {type(value).__name__}")
    if len(value) > limit:
        raise EventError(f"{key} is {len(value)} characters; the limit is {limit}")
    return value


def _text(obj: dict, key: str, limit: int) -> str:
    value = " ".join(_string(obj, key, limit).split())
    if not value:
        raise EventError(f"{key} is blank")
    return value


def _match(obj: dict, key: str, pattern: re.Pattern, what: str) -> str:
    value = _string(obj, key, 200)
    if not pattern.fullmatch(value):
        raise EventError(f"{key} must be {what}; got {value[:40]!r}")
    return value


def _token(obj: dict, key: str) -> str:
    value = _string(obj, key, 40)
    if not tokens.is_token(value):
        raise EventError(f"{key} must be a {tokens.TOKEN_LENGTH}-character base62 token; got {value!r}")
    return value


def _http_url(obj: dict, key: str) -> str:
    value = _string(obj, key, MAX_URL)
    problem, _ = _inspect_url(value)
    if problem:
        raise EventError(f"{key} {problem}")
    return value


@lru_cache(maxsize=4096)  # page and referrer URLs repeat on every view: parse each once
def _inspect_url(value: str) -> tuple[str | None, str | None]:
    """(what is wrong with ``value`` as an absolute http(s) URL or None, its lowercased host)."""
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number in range)
    except ValueError:
        return f"is not a valid URL: {value[:60]!r}", None
    if parts.scheme not in ("http", "https") or not host or not HOST_RE.fullmatch(host):
        return f"must be an absolute http(s) URL; got {value[:60]!r}", None
    if CONTROL_RE.search(value):
        return "contains control characters", None
    return None, host.lower()


def _referrer_host(obj: dict) -> str:
    # Only the host is kept: the path of a referrer can identify a person (webmail, search queries).
    value = _http_url(obj, "r")
    return _inspect_url(value)[1]


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()
