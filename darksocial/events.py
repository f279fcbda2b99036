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
``r``  referrer: its origin (the tracker sends      view (optional)
       no more; only the host is kept, so a
       longer URL is read up to its path), or
       ``android-app://<package>/`` (a page opened
       from an Android app: kept as
       ``android-app:<package>``)
``i``  incoming ``ds`` value: ``<token>``,          view (optional)
       ``<token>.<code>`` or ``.<code>``
``o``  the page-view token the address bar held     view (optional; never
       on a reload, back/forward or restored tab:   with ``i``)
       the visitor's own earlier view, repeated;
       empty when the address bar showed no token
       (home page, ``data-no-ab``): then the view
       repeats the visitor's latest earlier view of
       the same page
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

Every rejection is an :class:`EventError` whose message starts with the field it is
about: ``u: must be an absolute http(s) URL…``, ``event[3].gv: must be a finite number…``,
``body: not JSON…``. Hostile input is cheap to refuse: JSON nested deeper than an
event can be is refused before it is parsed (``n: arrays and objects are not allowed``),
integers of more than 40 digits and floats beyond ±1e308 are not finite numbers, and
lone surrogates (``"\\ud800"``) are refused in every text field but free text.

URLs may arrive up to ``MAX_SENT_URL`` characters: the limit of ``MAX_URL`` applies to what is stored, the page
URL without its tracking parameters (the collector checks it once it has canonicalised the URL), so a visit is
not lost because an ad or a mail tool padded its link.

Text is cleaned, not refused, where a person wrote it: in titles (``n`` of a view) and
display names (``n`` of identify), control characters (C0, DEL, C1) and the invisible
bidirectional overrides are replaced by spaces, lone surrogates (half an emoji, cut off) are dropped and runs
of whitespace collapse to one;
a title longer than ``MAX_TITLE`` characters is cut there, and a title or name left blank
(``"\u00a0"``: a page titled ``&nbsp;``) is dropped, never the event.
Identifiers are refused when they hold such characters: the external id ``x`` and
the goal name ``g`` (which is also trimmed, and refused when blank).
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from typing import Annotated, NamedTuple
from urllib.parse import urlsplit

import msgspec

from . import tokens
from .channels import CHANNELS

KINDS = ("view", "share", "identify", "goal")
MAX_EVENTS_PER_REQUEST = 25
MAX_BODY_BYTES = 32 * 1024
MAX_URL = 2048  # a stored page URL: once canonicalised (darksocial.collector checks it)
MAX_SENT_URL = 8192  # a URL as sent, tracking parameters and all
MAX_TITLE = 300
MAX_NAME = 200
MAX_EXTERNAL_ID = 200
MAX_GOAL = 100
MAX_INT_DIGITS = 40  # longer integers are parsed as infinity: never a valid value, and never slow to convert

SITE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")
VISITOR_RE = re.compile(r"[0-9A-Za-z]{10,32}")
# C0 and C1 control characters, DEL, and the bidirectional embeddings, overrides and isolates that reorder text.
CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
SURROGATE_RE = re.compile("[\ud800-\udfff]")  # JSON decodes an escaped pair to one code point: these are lone
# A host name, IPv4 or bracket-less IPv6 address as urlsplit returns it: no spaces or delimiters.
HOST_RE = re.compile(r"[^\s/?#@\\<>\"'`]+")
# What json.loads needs to see to decide the nesting depth: strings (skipped whole), brackets, colons and commas.
_JSON_STRUCTURE_RE = re.compile(r'[\[\]{}:,"]')
_JSON_STRING_END_RE = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)

_ALLOWED = {
    "view": {"k", "s", "v", "u", "t", "r", "i", "o", "n"},
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
    """Input that is not a valid event; ``field`` names what is wrong and the message starts with it."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class Event(NamedTuple):
    """A validated, normalised event. Empty optional fields are ``None``.

    A named tuple (immutable, built in a fraction of a frozen dataclass's time: one is made per event received);
    its fields are in :data:`darksocial.store.EVENT_COLUMNS` order from ``kind`` to ``value``.

    ``url`` is the URL as sent, validated, without its ``ds`` token: the collector canonicalises it with the
    site's rules (:func:`darksocial.urls.canonical_url`) before anything is stored.
    """

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
    # 1 when the view is a return (``o``: a reload, back/forward, restored tab...), never an arrival: it repeats the
    # visitor's own view in_token, or, with no in_token (``o`` empty: the address bar showed no token), the
    # visitor's latest earlier view of the same page.
    reloaded: int | None = None

    def as_dict(self) -> dict:
        return self._asdict()


def parse_body(body: bytes) -> list[Event]:
    """Decode and validate a request body: one event object or an array of them."""
    if len(body) > MAX_BODY_BYTES:
        raise EventError("body", f"{len(body)} bytes; the limit is {MAX_BODY_BYTES}")
    # First the fast path: it follows no nesting deeper than the schema's and refuses invalid UTF-8 itself.
    fast = _decode_valid(body)
    if fast is not None:
        return fast
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise EventError("body", "not UTF-8") from None
    # A valid body opens at most one array and one object per event; more brackets than that are (nearly always)
    # nesting, which the C parser would follow until RecursionError: measure it first, in one linear pass.
    if text.count("[") + text.count("{") > 2 * MAX_EVENTS_PER_REQUEST + 2:
        _check_nesting(text)
    try:
        data = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise EventError("body", f"not JSON: {exc.msg} at position {exc.pos}") from None
    except RecursionError:  # unreachable after _check_nesting; kept so that no input can raise anything else
        raise EventError("body", "nested too deeply") from None
    items = data if isinstance(data, list) else [data]
    if not items:
        raise EventError("body", "empty array: send at least one event")
    if len(items) > MAX_EVENTS_PER_REQUEST:
        raise EventError("body", f"{len(items)} events in one request; the limit is {MAX_EVENTS_PER_REQUEST}")
    out = []
    for index, item in enumerate(items):
        try:
            out.append(validate(item))
        except EventError as exc:
            if len(items) == 1:
                raise
            whole = exc.field == "body"  # the item itself is no event: it has no field to name
            raise EventError(f"event[{index}]" if whole else f"event[{index}].{exc.field}", exc.problem) from None
    return out


def _parse_int(digits: str) -> int | float:
    # int() of a 4,300-digit string raises ValueError (and costs quadratic time below that limit).
    return int(digits) if len(digits) <= MAX_INT_DIGITS else (-math.inf if digits[0] == "-" else math.inf)


_DECODER = json.JSONDecoder(parse_int=_parse_int)  # one decoder: json.loads with a hook builds one per call


# -- the fast path: msgspec decodes and type-checks a valid body in one pass in C ------------------------------------
# It only ever accepts. Whatever it refuses (a wrong type, an unknown, missing or repeated field, a value outside its
# pattern, length or range, anything it cannot decode) goes through json and validate() above, which name the field
# and say why. So each rule here is validate()'s rule or a stricter one, and a body it accepts gives the same events.
_Site = Annotated[str, msgspec.Meta(pattern=rf"\A(?:{SITE_RE.pattern})\Z")]
_Visitor = Annotated[str, msgspec.Meta(pattern=rf"\A(?:{VISITOR_RE.pattern})\Z")]
_Token = Annotated[str, msgspec.Meta(max_length=40)]
_Url = Annotated[str, msgspec.Meta(max_length=MAX_SENT_URL)]


def _at_most(limit: int) -> type:
    return Annotated[str, msgspec.Meta(max_length=limit)]


class _WireView(msgspec.Struct, tag_field="k", tag="view", forbid_unknown_fields=True):
    s: _Site
    u: _Url
    t: _Token
    v: _Visitor | None = None
    r: _Url | None = None
    i: _at_most(20) | None = None
    o: _Token | None = None
    n: _at_most(MAX_TITLE) | None = None


class _WireShare(msgspec.Struct, tag_field="k", tag="share", forbid_unknown_fields=True):
    s: _Site
    u: _Url
    t: _Token
    p: _Token
    c: _at_most(10)
    v: _Visitor | None = None


class _WireIdentify(msgspec.Struct, tag_field="k", tag="identify", forbid_unknown_fields=True):
    s: _Site
    x: _at_most(MAX_EXTERNAL_ID)
    v: _Visitor | None = None
    n: _at_most(MAX_NAME) | None = None


class _WireGoal(msgspec.Struct, tag_field="k", tag="goal", forbid_unknown_fields=True):
    s: _Site
    g: _at_most(MAX_GOAL)
    v: _Visitor | None = None
    u: _Url | None = None
    t: _Token | None = None
    gv: float | None = None


_WireEvent = _WireView | _WireShare | _WireIdentify | _WireGoal
_WIRE = msgspec.json.Decoder(
    _WireEvent | Annotated[list[_WireEvent], msgspec.Meta(min_length=1, max_length=MAX_EVENTS_PER_REQUEST)])
_EXACT_FLOAT = 2.0 ** 53  # beyond, an integer's conversion (and the 40-digit rule) is left to the slow path


def _decode_valid(body: bytes) -> list[Event] | None:
    """The events of a valid body, or None: then the slow path decides (and names what is wrong)."""
    try:
        wire = _WIRE.decode(body)
    except msgspec.DecodeError:
        return None
    out = []
    for item in wire if isinstance(wire, list) else (wire,):
        event = _from_wire(item)
        if event is None:
            return None
        out.append(event)
    return out


def _from_wire(w) -> Event | None:
    if isinstance(w, _WireView):
        if not (_is_http_url(w.u) and tokens.is_token(w.t)):
            return None
        referrer_host = in_token = in_channel = title = reloaded = None
        if w.o:
            if w.i or not tokens.is_token(w.o):
                return None
            in_token, reloaded = w.o, 1
        elif w.o == "" and not w.i:
            reloaded = 1  # a return whose address bar held no token: attribution finds the view it repeats
        if w.r:
            problem, referrer_host = _inspect_url(_origin_part(w.r))
            if problem:
                return None
        if w.i:
            try:
                in_token, in_channel = _incoming(w.i)
            except EventError:
                return None
        if w.n:
            title = _cleaned(w.n) or None
        return Event("view", w.s, w.v, _without_token(w.u), w.t, referrer_host, in_token, in_channel, title,
                     reloaded=reloaded)
    if isinstance(w, _WireShare):
        if not (_is_http_url(w.u) and tokens.is_token(w.t) and tokens.is_token(w.p) and w.c in CHANNELS
                and w.p != w.t):
            return None
        return Event("share", w.s, w.v, _without_token(w.u), w.t, parent=w.p, channel=w.c)
    if isinstance(w, _WireIdentify):
        external_id = w.x.strip()
        name = (_cleaned(w.n) or None) if w.n else None
        if not _is_identifier(external_id):
            return None
        return Event("identify", w.s, w.v, external_id=external_id, name=name)
    goal = w.g.strip()
    if not _is_identifier(goal) or (w.u and not _is_http_url(w.u)) or (w.t and not tokens.is_token(w.t)):
        return None
    if w.gv is not None and not abs(w.gv) < _EXACT_FLOAT:
        return None
    return Event("goal", w.s, w.v, _without_token(w.u) if w.u else None, w.t or None, goal=goal, value=w.gv)


def _is_http_url(value: str) -> bool:
    return bool(value) and _inspect_url(value)[0] is None


def _origin_part(url: str) -> str:
    """``url`` up to its path, query or fragment (``scheme://host:port``): all of a referrer that is kept."""
    return _ORIGIN_PART_RE.match(url)[0]


def _check_nesting(text: str) -> None:
    """Refuse JSON nested deeper than a body of events can be, naming the field; linear in the text."""
    stack: list[str] = []  # the open containers: "[" or "{"
    key = None  # the last object key read
    last_string = None  # the string just read, if the previous token was one
    position = 0
    while (match := _JSON_STRUCTURE_RE.search(text, position)) is not None:
        token, position = match.group(), match.end()
        if token == '"':  # skip the whole string; each character is looked at once
            end = _JSON_STRING_END_RE.match(text, position)
            if end is None:
                raise EventError("body", "not JSON: unterminated string")
            last_string, position = text[position:end.end() - 1], end.end()
            continue
        if token == ":" and last_string is not None and stack and stack[-1] == "{":
            key = last_string
        elif token in "[{":
            inside_object = "{" in stack
            if inside_object or len(stack) >= 2:
                if inside_object and key is not None:
                    raise EventError(_safe_key(key), "arrays and objects are not allowed in an event's fields")
                raise EventError("body", "events must be JSON objects, not nested arrays")
            stack.append(token)
        elif token in "]}" and stack:
            stack.pop()
        last_string = None


def _safe_key(key: str) -> str:
    return key if key.isascii() and key.isprintable() and len(key) <= 20 else repr(key[:20])


def validate(obj: object) -> Event:
    if not isinstance(obj, dict):
        raise EventError("body", f"an event must be a JSON object, not {_json_type(obj)}")
    kind = obj.get("k")
    if not isinstance(kind, str) or kind not in KINDS:
        raise EventError("k", f"the kind must be one of {', '.join(KINDS)}; got {_show(kind)}")
    if not obj.keys() <= _ALLOWED[kind]:
        unknown = sorted(_safe_key(k) for k in set(obj) - _ALLOWED[kind])
        raise EventError(unknown[0], f"unknown field for a {kind} event (unknown: {', '.join(unknown)[:100]})")
    missing = [k for k in _REQUIRED[kind] if obj.get(k) in (None, "")]
    if missing:
        missing.sort()
        raise EventError(missing[0], f"missing: a {kind} event needs {', '.join(missing)}")

    fields: dict = {"kind": kind, "site": _match(obj, "s", SITE_RE, "a site id (letters, digits, . _ : -)")}
    if obj.get("v") not in (None, ""):
        fields["visitor"] = _match(obj, "v", VISITOR_RE, "a visitor id of 10-32 base62 characters")
    if obj.get("u") not in (None, ""):
        fields["url"] = _without_token(_http_url(obj, "u"))
    if obj.get("t") not in (None, ""):
        fields["token"] = _token(obj, "t")

    if kind == "view":
        if obj.get("r") not in (None, ""):
            fields["referrer_host"] = _referrer_host(obj)
        if obj.get("i") not in (None, ""):
            ref = _string(obj, "i", 20)
            fields["in_token"], fields["in_channel"] = _incoming(ref)
        if obj.get("o") not in (None, ""):
            if "in_token" in fields or "in_channel" in fields:
                raise EventError("o", "a view sends either i (the token it arrived with) or o (the own token a "
                                      "reload showed), not both")
            fields["in_token"], fields["reloaded"] = _token(obj, "o"), 1
        elif obj.get("o") == "" and "in_token" not in fields and "in_channel" not in fields:
            fields["reloaded"] = 1  # a return whose address bar held no token: attribution finds the view it repeats
        if obj.get("n") not in (None, ""):
            fields["title"] = _text(obj, "n", MAX_TITLE, cut=True) or None
    elif kind == "share":
        fields["parent"] = _token(obj, "p")
        code = _string(obj, "c", 10)
        if code not in CHANNELS:
            raise EventError("c", f"the channel must be one of {', '.join(CHANNELS)}; got {code!r}")
        fields["channel"] = code
        if fields["parent"] == fields["token"]:
            raise EventError("p", "the parent must differ from t (the share token)")
    elif kind == "identify":
        fields["external_id"] = _identifier(obj, "x", MAX_EXTERNAL_ID)
        if obj.get("n") not in (None, ""):
            fields["name"] = _text(obj, "n", MAX_NAME) or None
    elif kind == "goal":
        fields["goal"] = _identifier(obj, "g", MAX_GOAL)
        if obj.get("gv") is not None:
            value = obj["gv"]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise EventError("gv", f"the goal value must be a finite number; got {_show(value)}")
            fields["value"] = float(value)  # finite, and an int of at most 40 digits: never overflows
    return Event(**fields)


def _without_token(url: str) -> str:
    return tokens.strip_from_url(url) if tokens.PARAM + "=" in url else url


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
        raise EventError("i", f"incoming token: {exc}") from None
    return parsed.token, parsed.channel


def _json_type(value: object) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


def _show(value: object) -> str:
    """A short, printable, ASCII rendering of a client's value for an error message."""
    if isinstance(value, (dict, list)):
        return _json_type(value)
    text = ascii(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _string(obj: dict, key: str, limit: int, *, drop_surrogates: bool = False) -> str:
    """``drop_surrogates``: lone surrogates are dropped instead of refused (text a person wrote, which a tracker
    may have cut between the two halves of an emoji)."""
    value = obj[key]
    if not isinstance(value, str):
        raise EventError(key, f"must be a string; got {_json_type(value)}")
    if len(value) > limit:
        raise EventError(key, f"{len(value)} characters; the limit is {limit}")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            if not drop_surrogates:
                raise EventError(key, "contains a lone surrogate (not valid Unicode text)") from None
            value = SURROGATE_RE.sub("", value)
    return value


def _text(obj: dict, key: str, limit: int, *, cut: bool = False) -> str:
    """Free text a person wrote: control characters become spaces, whitespace runs collapse. ``cut``: text longer
    than ``limit`` characters is cut there (a page's title: the view is worth keeping) instead of refused."""
    if cut:
        # Cut before cleaning too: the cleaning is cached, and must not hold bodies' worth of text.
        value = _cleaned(_string(obj, key, MAX_BODY_BYTES, drop_surrogates=True)[:2 * limit])[:limit].rstrip()
    else:
        value = _cleaned(_string(obj, key, limit, drop_surrogates=True))
    return value  # blank once cleaned (a title of "&nbsp;"): the event is kept, without it


@lru_cache(maxsize=4096)  # a page's title comes with every view of it
def _cleaned(text: str) -> str:
    return " ".join(CONTROL_RE.sub(" ", text).split())


def _identifier(obj: dict, key: str, limit: int) -> str:
    """An id or name a program chose: trimmed; blank or holding control characters, refused."""
    value = _string(obj, key, limit).strip()
    if not value:
        raise EventError(key, "blank")
    if CONTROL_RE.search(value):
        raise EventError(key, "contains control characters")
    return value


def _is_identifier(value: str) -> bool:
    """What :func:`_identifier` accepts (once trimmed)."""
    return bool(value) and CONTROL_RE.search(value) is None


def _match(obj: dict, key: str, pattern: re.Pattern, what: str) -> str:
    value = _string(obj, key, 200)
    if not pattern.fullmatch(value):
        raise EventError(key, f"must be {what}; got {_show(value)}")
    return value


def _token(obj: dict, key: str) -> str:
    value = _string(obj, key, 40)
    if not tokens.is_token(value):
        raise EventError(key, f"must be a {tokens.TOKEN_LENGTH}-character base62 token; got {_show(value)}")
    return value


def _http_url(obj: dict, key: str) -> str:
    value = _string(obj, key, MAX_SENT_URL)
    problem, _ = _inspect_url(value)
    if problem:
        raise EventError(key, problem)
    return value


def _inspect_url(value: str) -> tuple[str | None, str | None]:
    """(what is wrong with ``value`` as an absolute http(s) URL or None, its lowercased host)."""
    # The cache holds URLs of a usual length only: 4,096 keys of MAX_SENT_URL would be 32 MB of a client's text.
    return _inspect_usual_url(value) if len(value) <= MAX_URL else _inspected_url(value)


@lru_cache(maxsize=4096)  # page and referrer URLs repeat on every view: parse each once
def _inspect_usual_url(value: str) -> tuple[str | None, str | None]:
    return _inspected_url(value)


def _inspected_url(value: str) -> tuple[str | None, str | None]:
    if CONTROL_RE.search(value):
        return "contains control characters", None
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number in range)
    except ValueError:
        return f"not a valid URL: {_show(value)}", None
    if parts.scheme not in ("http", "https") or not host or not HOST_RE.fullmatch(host):
        return f"must be an absolute http(s) URL; got {_show(value)}", None
    return None, host.lower()


# What Chrome on Android reports as the referrer of a page an app opened (Gmail, WhatsApp, Slack): the app's package.
ANDROID_APP_RE = re.compile(r"android-app://([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+)/?(?:[/?#].*)?", re.S | re.I)
ANDROID_APP = "android-app:"  # referrer_host of such a view: android-app:com.google.android.gm
_ORIGIN_PART_RE = re.compile(r"[^/?#]*(?://[^/?#]*)?")


def _referrer_host(obj: dict) -> str:
    # Only the host is kept: the path of a referrer can identify a person (webmail, search queries), and is
    # never read (an old tracker sent it whole).
    value = _origin_part(_string(obj, "r", MAX_SENT_URL))
    app = ANDROID_APP_RE.fullmatch(value)
    if app:
        return ANDROID_APP + app[1].lower()
    if value[:len(ANDROID_APP)].lower() == ANDROID_APP:
        raise EventError("r", f"an app referrer must be android-app://<package>/; got {_show(value)}")
    problem, host = _inspect_url(value)
    if problem:
        raise EventError("r", problem)
    return host


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()
