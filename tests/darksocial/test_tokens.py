"""Share tokens: minting, parsing, and the URL forms they travel in."""

from __future__ import annotations

import pytest

from darksocial import tokens


def test_mint_is_ten_base62_characters_and_unpredictable():
    minted = {tokens.mint() for _ in range(2000)}
    assert len(minted) == 2000
    assert all(len(t) == 10 and set(t) <= set(tokens.ALPHABET) for t in minted)
    # Every symbol of the alphabet shows up: the source is not a narrowed or biased one.
    assert set("".join(minted)) == set(tokens.ALPHABET)


@pytest.mark.parametrize(
    ("value", "token", "channel"),
    [("AbC123xyz9", "AbC123xyz9", None), ("AbC123xyz9.wa", "AbC123xyz9", "wa"), (".sms", None, "sms")],
)
def test_parse_value_accepts_the_three_forms(value, token, channel):
    ref = tokens.parse_value(value)
    assert (ref.token, ref.channel) == (token, channel)
    assert str(ref) == value


@pytest.mark.parametrize(
    "value",
    ["", ".", "short", "AbC123xyz9X", "AbC123xyz9.", "AbC123xyz9.zz", ".WA", "AbC-23xyz9", "AbC123xyz9.wa.x"]
    + ["ÀbC123xyz9", "AbC123xyz9\n"],
)
def test_parse_value_rejects_malformed(value):
    with pytest.raises(tokens.TokenError):
        tokens.parse_value(value)


def test_parse_fragment_needs_the_ds_key():
    assert tokens.parse_fragment("#ds=AbC123xyz9.ct").channel == "ct"
    assert tokens.parse_fragment("ds=.cl").channel == "cl"
    with pytest.raises(tokens.TokenError):
        tokens.parse_fragment("#install")


def test_from_url_reads_fragment_or_query_and_ignores_anchors():
    assert tokens.from_url("https://e.com/p#ds=AbC123xyz9.wa") == tokens.TokenRef("AbC123xyz9", "wa")
    assert tokens.from_url("https://e.com/p?a=1&ds=AbC123xyz9") == tokens.TokenRef("AbC123xyz9", None)
    assert tokens.from_url("https://e.com/p#install") is None
    assert tokens.from_url("https://e.com/p") is None
    with pytest.raises(tokens.TokenError):
        tokens.from_url("https://e.com/p#ds=<script>")


def test_strip_from_url_keeps_everything_else():
    assert tokens.strip_from_url("https://e.com/p?a=1&ds=AbC123xyz9&b=2#ds=x") == "https://e.com/p?a=1&b=2"
    assert tokens.strip_from_url("https://e.com/p#install") == "https://e.com/p#install"


def test_format_value_refuses_bad_parts():
    assert tokens.fragment(None, "wa") == "#ds=.wa"
    assert tokens.fragment("AbC123xyz9", "cl") == "#ds=AbC123xyz9.cl"
    for token, channel in [("bad", None), (None, "nope"), (None, None)]:
        with pytest.raises(tokens.TokenError):
            tokens.format_value(token, channel)
