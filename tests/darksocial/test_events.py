import json

import pytest

from darksocial import events
from darksocial.events import EventError

TOKEN, PARENT = "abcdefghij", "ABCDEFGHIJ"
VIEW = {"k": "view", "s": "example.com", "v": "visitor0000000001", "u": "https://example.com/story/", "t": TOKEN}


def test_view_is_normalised():
    event = events.validate({**VIEW, "u": "https://example.com/story/#ds=ZZZZZZZZZZ.wa",
                             "r": "https://mail.example.org/inbox/secret?id=42", "i": f"{PARENT}.wa",
                             "n": "  A   story \n title "})
    assert event.url == "https://example.com/story/"
    assert event.referrer_host == "mail.example.org"  # host only, never the path
    assert (event.in_token, event.in_channel) == (PARENT, "wa")
    assert event.title == "A story title"


def test_share_identify_goal():
    share = events.validate({"k": "share", "s": "example.com", "u": "https://example.com/", "t": TOKEN,
                             "p": PARENT, "c": "tg"})
    assert (share.token, share.parent, share.channel) == (TOKEN, PARENT, "tg")
    ident = events.validate({"k": "identify", "s": "example.com", "v": "visitor0000000001", "x": "crm-1", "n": "Ana"})
    assert (ident.external_id, ident.name) == ("crm-1", "Ana")
    goal = events.validate({"k": "goal", "s": "example.com", "g": "signup", "gv": 3})
    assert (goal.goal, goal.value) == ("signup", 3.0)


def test_incoming_token_with_unknown_channel_keeps_the_token():
    assert events.validate({**VIEW, "i": f"{PARENT}.zz"}).in_token == PARENT
    assert events.validate({**VIEW, "i": ".zz"}).in_token is None


@pytest.mark.parametrize(
    "event, reason",
    [
        ([], "JSON object"),
        ({**VIEW, "k": "click"}, "k (kind)"),
        ({**VIEW, "extra": 1}, "unknown field"),
        ({k: v for k, v in VIEW.items() if k != "t"}, "missing field"),
        ({**VIEW, "s": "bad site!"}, "s must be"),
        ({**VIEW, "v": "short"}, "visitor id"),
        ({**VIEW, "u": "javascript:alert(1)"}, "absolute http(s) URL"),
        ({**VIEW, "u": "/relative"}, "absolute http(s) URL"),
        ({**VIEW, "u": "https://example.com/" + "a" * 3000}, "limit"),
        ({**VIEW, "t": "abc"}, "base62 token"),
        ({**VIEW, "t": 12345}, "must be a string"),
        ({**VIEW, "i": "abc"}, "incoming token"),
        ({**VIEW, "r": "not a url"}, "absolute http(s) URL"),
        ({"k": "share", "s": "x", "u": "https://x.org/", "t": TOKEN, "p": PARENT, "c": "zz"}, "c (channel)"),
        ({"k": "share", "s": "x", "u": "https://x.org/", "t": TOKEN, "p": TOKEN, "c": "wa"}, "must differ"),
        ({"k": "goal", "s": "x", "g": "g", "gv": "12"}, "finite number"),
        ({"k": "goal", "s": "x", "g": "g", "gv": True}, "finite number"),
        ({"k": "identify", "s": "x", "x": "   "}, "blank"),
    ],
)
def test_invalid_events_name_the_field(event, reason):
    with pytest.raises(EventError) as info:
        events.validate(event)
    assert reason in str(info.value)


def test_parse_body_accepts_one_event_or_an_array():
    assert len(events.parse_body(json.dumps(VIEW).encode())) == 1
    assert len(events.parse_body(json.dumps([VIEW, VIEW]).encode())) == 2


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"{not json", "not JSON"),
        (b"[]", "empty array"),
        (json.dumps([VIEW] * (events.MAX_EVENTS_PER_REQUEST + 1)).encode(), "limit is"),
        (b" " * (events.MAX_BODY_BYTES + 1), "limit is"),
        (json.dumps([VIEW, {**VIEW, "t": "x"}]).encode(), "event 1:"),
    ],
)
def test_parse_body_rejects_bad_bodies(body, reason):
    with pytest.raises(EventError) as info:
        events.parse_body(body)
    assert reason in str(info.value)


@pytest.mark.parametrize("url", ["https://exa mple.com/", "https://example.com:99999/", "https://example.com:port/",
                                 "https://example.com/\x00"])
def test_malformed_urls_are_rejected(url):
    with pytest.raises(EventError):
        events.validate({**VIEW, "u": url})
