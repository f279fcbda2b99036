"""Share tokens: minting and parsing.

A token is 10 characters of base62 drawn from a cryptographic random source.
It travels in the URL fragment as ``#ds=<token>`` or ``#ds=<token>.<channel>``;
server-rendered links carry ``#ds=.<channel>`` (channel known, sharer not).
A query-parameter form ``?ds=...`` is accepted for sites that opt into it.
"""

from __future__ import annotations

import random
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from .channels import CHANNELS

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
TOKEN_LENGTH = 10
PARAM = "ds"

TOKEN_RE = re.compile(rf"[0-9A-Za-z]{{{TOKEN_LENGTH}}}")
# Token and channel are both optional, but at least one must be present.
_VALUE_RE = re.compile(rf"(?P<token>[0-9A-Za-z]{{{TOKEN_LENGTH}}})?(?:\.(?P<code>[a-z]{{1,3}}))?")


class TokenError(ValueError):
    """A ``ds`` value that is not a well-formed token reference."""


@dataclass(frozen=True)
class TokenRef:
    token: str | None
    channel: str | None

    def __str__(self) -> str:
        return format_value(self.token, self.channel)


def mint(rng: random.Random | None = None) -> str:
    """A new token: from a cryptographic source, or drawn from ``rng`` (reproducible demo and simulated traffic)."""
    choice = secrets.choice if rng is None else rng.choice
    return "".join(choice(ALPHABET) for _ in range(TOKEN_LENGTH))


def is_token(value: object) -> bool:
    return isinstance(value, str) and TOKEN_RE.fullmatch(value) is not None


def format_value(token: str | None, channel: str | None = None) -> str:
    """The value that follows ``ds=``: ``<token>``, ``<token>.<code>`` or ``.<code>``."""
    if token is not None and not is_token(token):
        raise TokenError(f"not a {TOKEN_LENGTH}-character base62 token: {token!r}")
    if channel is not None and channel not in CHANNELS:
        raise TokenError(f"unknown channel code {channel!r}")
    if token is None and channel is None:
        raise TokenError("a token reference needs a token, a channel, or both")
    return (token or "") + (f".{channel}" if channel else "")


def fragment(token: str | None, channel: str | None = None) -> str:
    return f"#{PARAM}={format_value(token, channel)}"


def parse_value(value: str) -> TokenRef:
    """Parse what follows ``ds=``; raise :class:`TokenError` if it is malformed."""
    match = _VALUE_RE.fullmatch(value or "")
    if not match or not (match["token"] or match["code"]):
        raise TokenError(f"malformed ds value {value!r}: expected <token>, <token>.<code> or .<code>")
    code = match["code"]
    if code is not None and code not in CHANNELS:
        raise TokenError(f"unknown channel code {code!r} in ds value {value!r}")
    return TokenRef(match["token"], code)


def parse_fragment(frag: str) -> TokenRef:
    """Parse ``#ds=...`` (the leading ``#`` is optional)."""
    frag = frag[1:] if frag.startswith("#") else frag
    if not frag.startswith(PARAM + "="):
        raise TokenError(f"fragment {frag!r} does not start with {PARAM}=")
    return parse_value(frag[len(PARAM) + 1 :])


def from_url(url: str) -> TokenRef | None:
    """The token reference a URL carries in its fragment or ``ds`` query parameter, if any.

    Returns ``None`` when the URL carries none (an in-page anchor is not a token);
    raises :class:`TokenError` when it carries a malformed one.
    """
    parts = urlsplit(url)
    if parts.fragment.startswith(PARAM + "="):
        return parse_fragment(parts.fragment)
    values = parse_qs(parts.query, keep_blank_values=True).get(PARAM)
    if values:
        return parse_value(values[0])
    return None


def strip_from_url(url: str) -> str:
    """The URL without its ``ds`` fragment or query parameter (other fragments are kept)."""
    parts = urlsplit(url)
    frag = "" if parts.fragment.startswith(PARAM + "=") else parts.fragment
    query = "&".join(p for p in parts.query.split("&") if p and not p.startswith(PARAM + "="))
    return parts._replace(query=query, fragment=frag).geturl()
