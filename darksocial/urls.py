"""Canonical page URLs: the one place that decides which part of a URL is a page's identity.

A page is keyed (stories, visits) and shared by its canonical URL:

- the fragment is dropped (``#ds=…`` tokens and in-page anchors alike);
- scheme and host are lowercased, the default port and any ``user:password@`` are dropped, an empty path is ``/``,
  and a path ending in ``/index.html`` ends in ``/`` (a folder's page: MkDocs without directory URLs links to
  ``…/index.html`` while visitors type ``…/``; every web server serves the one as the other);
- **tracking parameters** are removed and returned apart, as a query string, so that attribution can still
  classify the visit by them (a campaign, or the network of a click id): every ``utm_*`` parameter and the known
  click ids (:data:`DEFAULT_STRIP`);
- **private parameters** are removed and not returned at all: the ``ds`` token of query mode, names that carry
  secrets or people (:data:`PRIVATE_PARAMS`: ``email``, ``token``, ``password``, ``session``…), names with such a
  word in them (:data:`PRIVATE_WORDS`: ``auth_token``, ``sessionToken``, ``X-Amz-Signature``) or such an ending
  (:data:`PRIVATE_ENDINGS`: ``accesstoken``) and any parameter
  whose value is an e-mail address: a password-reset link must not become a public story; so is a session id a
  Java servlet wrote into the path (``/cart;jsessionid=…``);
- every other parameter stays, in its original order and encoding: it selects content (``?page=2``, ``?id=7``).

Parameter names match case-insensitively after percent-decoding. ``strip`` holds names, or prefixes written
with a trailing ``*`` (``utm_*``). ``keep``, when given, is an allowlist: only those parameters stay (a
name that ``strip`` lists too, which then also goes to the campaign query), tracking parameters still go to the
campaign query, everything else is dropped.

Per site, ``darksocial site add --strip-param NAME`` adds to the tracking list and ``--keep-param NAME``
sets the allowlist (stored as the ``strip_params`` and ``keep_params`` columns of ``sites``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import unquote_plus, urlsplit

from .events import MAX_URL

# Tracking parameters: removed from the page's identity, kept apart as its campaign query.
DEFAULT_STRIP: frozenset[str] = frozenset({
    "utm_*",
    # Google Ads, Display & Video, Search Ads 360
    "gclid", "gclsrc", "gbraid", "wbraid", "dclid", "_gl",
    # Meta (Facebook, Instagram), Microsoft Ads, Yandex, X, TikTok, LinkedIn, Reddit
    "fbclid", "igshid", "igsh", "msclkid", "yclid", "ysclid", "twclid", "ttclid", "li_fat_id", "rdt_cid",
    # Mailchimp, HubSpot, Marketo, Ometa/Olytics, Vero, Rakuten/Rebuy, Adobe, Matomo/Piwik, Pinterest, others
    "mc_cid", "mc_eid", "_hsenc", "_hsmi", "__hssc", "__hstc", "__hsfp", "hsctatracking", "mkt_tok",
    "oly_anon_id", "oly_enc_id", "vero_id", "vero_conv", "rb_clickid", "s_cid", "epik", "srsltid",
    "pk_*", "mtm_*", "matomo_*", "piwik_*", "_branch_match_id", "_kx", "wickedid", "irclickid", "ref_src",
})

# Never stored, never returned: the share token, and names that carry secrets or identify a person.
PRIVATE_PARAMS: frozenset[str] = frozenset({
    "ds",
    "email", "e-mail", "mail", "token", "access_token", "id_token", "refresh_token", "auth", "authorization",
    "password", "passwd", "pwd", "pass", "secret", "api_key", "apikey", "key", "session", "sessionid", "sid",
    "code", "state", "signature", "sig", "otp", "reset_token", "phone", "tel", "phpsessid", "jsessionid", "sessid",
})
# Words that make any name private, however it is spelt around them: auth_token, sessionToken, X-Amz-Signature,
# client_secret, api-key (a name's words are split at punctuation and at camelCase humps).
PRIVATE_WORDS: frozenset[str] = frozenset({
    "token", "secret", "password", "passwd", "pwd", "passcode", "session", "sessionid", "sessid", "signature",
    "jwt", "otp", "auth", "apikey", "key", "credential", "credentials", "email", "uid", "magic", "nonce", "hmac",
    "phone",
})
# ... and endings that make a name private when its words run together (accesstoken, resetpassword, authkey).
PRIVATE_ENDINGS = ("token", "secret", "password", "passwd", "signature", "sessionid", "apikey", "authkey",
                   "sessionkey", "passkey")
_WORD_RE = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")

# A Java servlet's session id rewritten into the path (/cart;jsessionid=…) when the browser keeps no cookie.
_PATH_SESSION_RE = re.compile(r";jsessionid=[^/;?#]*", re.I)

# "Somewhere name@domain.tld": one character either side is enough to say so, and keeps the search linear (with
# `[^@\s]+@` the engine rescans a long run of letters from each of its positions: 12 ms for 2,000 of them).
_EMAIL_RE = re.compile(r"[^@\s]@[^@\s]+\.[^@\s]")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class _Matcher:
    """Exact names and ``prefix*`` patterns, lowercased."""

    __slots__ = ("names", "prefixes")

    def __init__(self, patterns: Iterable[str]):
        patterns = {p.strip().lower() for p in patterns if p and p.strip()}
        self.names = frozenset(p for p in patterns if not p.endswith("*"))
        self.prefixes = tuple(sorted(p[:-1] for p in patterns if p.endswith("*")))

    def __contains__(self, name: str) -> bool:
        return name in self.names or (bool(self.prefixes) and name.startswith(self.prefixes))


@lru_cache(maxsize=64)
def _matcher(patterns: frozenset[str]) -> _Matcher:
    return _Matcher(patterns)


def strip_rules(extra: Iterable[str] = ()) -> frozenset[str]:
    """:data:`DEFAULT_STRIP` plus a site's own tracking parameters (names, or prefixes ending in ``*``)."""
    extra = frozenset(p.strip().lower() for p in extra if p and p.strip())
    return DEFAULT_STRIP | extra if extra else DEFAULT_STRIP


def canonical_url(url: str, strip: Iterable[str] = DEFAULT_STRIP,
                  keep: Iterable[str] | None = None) -> tuple[str, str | None]:
    """(the canonical URL, the removed tracking parameters as a query string or None).

    Raises ``ValueError`` when ``url`` cannot be parsed (urllib's own errors: a bad port, a bad IPv6 host).
    """
    strip = strip if isinstance(strip, frozenset) else frozenset(strip)
    keep = None if keep is None else (keep if isinstance(keep, frozenset) else frozenset(keep))
    # The cache holds URLs of a usual length only: a client may send a few KB of them.
    return (_canonical if len(url) <= MAX_URL else _canonical.__wrapped__)(url, strip, keep)


MAX_HOST = 253  # characters of a DNS name


def ascii_host(host: str) -> str | None:
    """A host name in the ASCII (punycode, 'xn--') form browsers send in ``Origin`` and ``location.href``: the one
    form pages, links, origins and events are keyed on (https://münchen.de is https://xn--mnchen-3ya.de); None if
    it cannot be a host name. An ASCII host is returned as it is.

    As browsers map names (UTS #46, non-transitional): compatibility forms and case folded (NFKC, then lowercase),
    ideographic full stops as dots, each non-ASCII label punycoded as is. Python's "idna" codec is not used: it is
    IDNA 2003, which turns 'ß' into 'ss' where browsers keep it (faß.de is xn--fa-hia.de, not fass.de). Bounded
    before any work, as clients send it: punycode's encoder is quadratic in a label's length, and NFKC may expand a
    character 18-fold, so a name over 253 characters, or a label over 63 once mapped, is none.
    """
    if host.isascii():
        return host
    if len(host) > MAX_HOST:
        return None
    labels = unicodedata.normalize("NFKC", host).lower().replace("\u3002", ".").split(".")
    # Letters, marks and digits (any script's) and hyphens: a space or a "<" is no part of a name.
    if any(len(label) > 63 or not all(ch == "-" or unicodedata.category(ch)[0] in "LMN" for ch in label)
           for label in labels):
        return None
    try:
        ascii_labels = [label if label.isascii() else "xn--" + label.encode("punycode").decode("ascii")
                        for label in labels]
    except UnicodeError:  # a lone surrogate: no browser sends it
        return None
    if any(not label for label in ascii_labels[:-1]) or any(len(label) > 63 for label in ascii_labels):
        return None
    return ".".join(ascii_labels)


def url_host(host: str) -> str:
    """``host`` as it goes in a URL: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


@lru_cache(maxsize=8192)  # page URLs repeat on every view
def _canonical(url: str, strip: frozenset[str], keep: frozenset[str] | None) -> tuple[str, str | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    netloc = parts.netloc
    if parts.hostname is not None:
        host = ascii_host(parts.hostname)  # lowercased by urllib, without brackets or userinfo
        if host is None:
            raise ValueError(f"{parts.hostname[:60]!r} is no host name")
        port = parts.port
        netloc = url_host(host) + (f":{port}" if port is not None and port != _DEFAULT_PORTS.get(scheme) else "")
    path = parts.path or ("/" if netloc else "")
    if ";" in path:
        path = _PATH_SESSION_RE.sub("", path)
    if path.endswith("/index.html"):  # the folder's page, however a link names it (MkDocs without directory URLs)
        path = path[:-len("index.html")]
    query, campaign = _split_query(parts.query, _matcher(strip), None if keep is None else _matcher(keep))
    canonical = f"{scheme}://{netloc}{path}" if scheme else f"{netloc and '//' + netloc}{path}"
    return canonical + (f"?{query}" if query else ""), campaign or None


def _split_query(query: str, strip: _Matcher, keep: _Matcher | None) -> tuple[str, str]:
    if not query:
        return "", ""
    kept, tracking = [], []
    for pair in query.split("&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition("=")
        decoded = unquote_plus(raw_name).strip()
        name = decoded.lower()
        if name == "ds":
            continue
        if keep is not None and name in keep:
            kept.append(pair)
            if name in strip:  # kept in the page's identity, and still the visit's campaign
                tracking.append(pair)
        elif name in strip:
            tracking.append(pair)
        elif keep is not None or _is_private(name, decoded) or _EMAIL_RE.search(unquote_plus(raw_value)):
            continue
        else:
            kept.append(pair)
    return "&".join(kept), "&".join(tracking)


def _is_private(name: str, decoded: str) -> bool:
    return (name in PRIVATE_PARAMS or name.endswith(PRIVATE_ENDINGS)
            or any(word.lower() in PRIVATE_WORDS for word in _WORD_RE.findall(decoded)))
