import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from darksocial import events
from darksocial.events import EventError

TOKEN, PARENT = "abcdefghij", "ABCDEFGHIJ"
VIEW = {"k": "view", "s": "example.com", "v": "visitor0000000001", "u": "https://example.com/story/", "t": TOKEN}
SHARE_EVENT = {"k": "share", "s": "example.com", "u": "https://example.com/a", "t": TOKEN, "p": PARENT, "c": "wa"}


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


def test_a_reload_names_the_view_it_repeats_apart_from_an_arrival():
    reload = events.validate({**VIEW, "o": PARENT, "i": ""})
    assert (reload.in_token, reload.in_channel, reload.reloaded) == (PARENT, None, 1)
    arrival = events.validate({**VIEW, "i": PARENT})
    assert (arrival.in_token, arrival.reloaded) == (PARENT, None)
    # A return whose address bar showed no token (the home page, data-no-ab): marked, naming no view.
    unnamed = events.validate({**VIEW, "o": ""})
    assert (unnamed.in_token, unnamed.in_channel, unnamed.reloaded) == (None, None, 1)
    assert events.validate({**VIEW, "o": "", "i": f"{PARENT}.wa"}).reloaded is None  # an arrival all the same


def test_a_long_title_is_cut_not_refused():
    title = "Breaking: " + "very " * 1000 + "long"
    event = events.parse_body(json.dumps({**VIEW, "n": title}).encode())[0]
    assert event.title == title[:events.MAX_TITLE].rstrip() and event.url == VIEW["u"]


def test_incoming_token_with_unknown_channel_keeps_the_token():
    assert events.validate({**VIEW, "i": f"{PARENT}.zz"}).in_token == PARENT
    assert events.validate({**VIEW, "i": ".zz"}).in_token is None


@pytest.mark.parametrize(
    "event, reason",
    [
        ([], "JSON object"),
        ({**VIEW, "k": "click"}, "k: the kind"),
        ({**VIEW, "k": ["view"]}, "k: the kind"),
        ({**VIEW, "extra": 1}, "unknown field"),
        ({k: v for k, v in VIEW.items() if k != "t"}, "t: missing"),
        ({**VIEW, "s": "bad site!"}, "s: must be"),
        ({**VIEW, "v": "short"}, "visitor id"),
        ({**VIEW, "u": "javascript:alert(1)"}, "absolute http(s) URL"),
        ({**VIEW, "u": "/relative"}, "absolute http(s) URL"),
        ({**VIEW, "u": "https://example.com/" + "a" * 9000}, "limit"),
        ({**VIEW, "t": "abc"}, "base62 token"),
        ({**VIEW, "t": 12345}, "must be a string"),
        ({**VIEW, "i": "abc"}, "incoming token"),
        ({**VIEW, "o": f"{PARENT}.wa"}, "o: must be a 10-character base62 token"),
        ({**VIEW, "o": PARENT, "i": f"{TOKEN}.wa"}, "o: a view sends either i"),
        ({**VIEW, "o": PARENT, "i": ".wa"}, "o: a view sends either i"),
        ({**SHARE_EVENT, "o": PARENT}, "o: unknown field for a share event"),
        ({**VIEW, "r": "not a url"}, "absolute http(s) URL"),
        ({"k": "share", "s": "x", "u": "https://x.org/", "t": TOKEN, "p": PARENT, "c": "zz"}, "c: the channel"),
        ({"k": "share", "s": "x", "u": "https://x.org/", "t": TOKEN, "p": PARENT, "c": ["wa"]}, "c: must be a string"),
        ({"k": "share", "s": "x", "u": "https://x.org/", "t": TOKEN, "p": PARENT, "c": {"a": 1}}, "c: must be a"),
        ({"k": "share", "s": "x", "u": "https://x.org/", "t": TOKEN, "p": TOKEN, "c": "wa"}, "must differ"),
        ({"k": "goal", "s": "x", "g": "g", "gv": "12"}, "finite number"),
        ({"k": "goal", "s": "x", "g": "g", "gv": True}, "finite number"),
        ({"k": "identify", "s": "x", "x": "   "}, "x: blank"),
        ({"k": "identify", "s": "x", "x": "crm\x001"}, "x: contains control characters"),
        ({"k": "goal", "s": "x", "g": " \t "}, "g: blank"),
        ({"k": "goal", "s": "x", "g": "sign\x1b[2Jup"}, "g: contains control characters"),
        ({"k": "goal", "s": "x", "g": "signup", "gv": float("inf")}, "gv: "),
        ({**VIEW, "u": "https://example.com/\udfff"}, "u: contains a lone surrogate"),
        ({"k": "identify", "s": "x", "x": "\ud83d"}, "x: contains a lone surrogate"),
    ],
)
def test_invalid_events_name_the_field(event, reason):
    with pytest.raises(EventError) as info:
        events.validate(event)
    assert reason in str(info.value)


@pytest.mark.parametrize("blank", ["\u00a0", "\u3000", "\u202e", "\x07", "\t \n", "   ", "\x00\x1b\t "])
def test_a_title_or_name_blank_once_cleaned_is_dropped_never_the_event(blank):
    # A page titled &nbsp; has document.title "\u00a0": its views are kept, without a title.
    view = events.validate({**VIEW, "n": blank})
    assert view.title is None and view.token == VIEW["t"]
    identify = events.validate({"k": "identify", "s": "x", "x": "crm-1", "n": blank})
    assert identify.name is None and identify.external_id == "crm-1"


@pytest.mark.parametrize(("referrer", "host"), [
    ("android-app://com.google.android.gm/", "android-app:com.google.android.gm"),
    ("android-app://com.Slack", "android-app:com.slack"),
    ("ANDROID-APP://org.telegram.messenger/https/t.me/some/path", "android-app:org.telegram.messenger"),
    ("https://Example.org/private/path?q=1", "example.org"),
])
def test_the_referrer_keeps_its_host_or_the_android_app_that_opened_the_page(referrer, host):
    assert events.validate({**VIEW, "r": referrer}).referrer_host == host


@pytest.mark.parametrize("referrer", ["android-app://", "android-app://nodots/", "android-app:com.x.y",
                                      "android-app://com.x y/", "file:///etc/passwd", "chrome://newtab/"])
def test_a_referrer_that_is_neither_web_nor_an_android_app_is_refused_naming_r(referrer):
    with pytest.raises(EventError, match="^r: "):
        events.validate({**VIEW, "r": referrer})


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
        (json.dumps([VIEW, {**VIEW, "t": "x"}]).encode(), "event[1].t:"),
        (b'{"k": "view", "n": ' + b"[" * 1000 + b"]" * 1000 + b"}", "n: arrays and objects are not allowed"),
        (b"[" * 1000 + b"]" * 1000, "body: events must be JSON objects"),
        (b'{"k": "goal", "s": "x", "g": "g", "gv": ' + b"9" * 5000 + b"}", "gv: the goal value must be a finite"),
        (b'{"k": "goal", "s": "x", "g": "g", "gv": -' + b"9" * 5000 + b"}", "gv: the goal value must be a finite"),
        (b'{"k": "goal", "s": "x", "g": "g", "gv": 1e309}', "gv: the goal value must be a finite"),
        (b'{"k": "goal", "s": "x", "g": "g", "gv": NaN}', "gv: the goal value must be a finite"),
        (json.dumps({**VIEW, "u": "https://example.com/\ud800"}).encode(), "u: contains a lone surrogate"),
        (b'{"k": "view", "\\ud800": 1}', "unknown field"),
        (b'["' + b'\\"' * 5000 + b"[" * 60, "body: not JSON"),
    ],
)
def test_parse_body_rejects_bad_bodies(body, reason):
    with pytest.raises(EventError) as info:
        events.parse_body(body)
    assert reason in str(info.value)


def test_titles_and_names_lose_control_characters_ids_keep_theirs():
    view = events.validate({**VIEW, "n": "Hello\x00 \x1b[31mworld\u202e\x85!"})
    assert view.title == "Hello [31mworld !"
    ident = events.validate({"k": "identify", "s": "x", "x": " crm-1 ", "n": "Ada\x07 Lovelace"})
    assert (ident.external_id, ident.name) == ("crm-1", "Ada Lovelace")
    assert events.validate({"k": "goal", "s": "x", "g": " sign up "}).goal == "sign up"


def test_deep_nesting_is_refused_in_linear_time_whatever_the_strings_hold():
    titled = json.dumps([{**VIEW, "n": "[" * 250}] * 25).encode()  # brackets inside strings are not nesting
    assert len(events.parse_body(titled)) == 25
    with pytest.raises(EventError, match="^n: arrays"):
        events.parse_body(b'{"k": "view", "s": "x", "n": {"a": [' + b"[" * 10_000 + b"]]}}")


@pytest.mark.parametrize("url", ["https://exa mple.com/", "https://example.com:99999/", "https://example.com:port/",
                                 "https://example.com/\x00"])
def test_malformed_urls_are_rejected(url):
    with pytest.raises(EventError):
        events.validate({**VIEW, "u": url})


# -- the fast path (msgspec) accepts only what validate() accepts, and gives the same events ---------------------------
def slow_path(body: bytes):
    """parse_body without its fast path: the events, or the EventError's message."""
    try:
        data = events._DECODER.decode(body.decode("utf-8"))
        items = data if isinstance(data, list) else [data]
        if not 1 <= len(items) <= events.MAX_EVENTS_PER_REQUEST:
            return "length"
        return [events.validate(item) for item in items]
    except (EventError, ValueError, UnicodeDecodeError) as exc:
        return str(exc)


GOAL = {"k": "goal", "s": "example.com", "g": "signup"}
SHARE = {"k": "share", "s": "example.com", "u": "https://example.com/a", "t": TOKEN, "p": PARENT, "c": "wa"}
IDENTIFY = {"k": "identify", "s": "example.com", "x": "crm-1", "n": "Ana"}


@pytest.mark.parametrize("body", [
    json.dumps(VIEW), json.dumps([VIEW, SHARE, IDENTIFY, GOAL]), json.dumps({**VIEW, "v": ""}),
    json.dumps({**VIEW, "s": "example.com\n"}), json.dumps({**VIEW, "n": " \x01 "}),
    json.dumps({**VIEW, "n": "A\x85b"}),
    json.dumps({**VIEW, "i": f"{PARENT}.zz"}), json.dumps({**VIEW, "i": ".zz"}), json.dumps({**VIEW, "i": "x.y.z"}),
    json.dumps({**VIEW, "o": PARENT}), json.dumps({**VIEW, "o": PARENT, "i": ""}), json.dumps({**VIEW, "o": ""}),
    json.dumps({**VIEW, "o": "", "i": ""}), json.dumps({**VIEW, "o": "", "i": f"{PARENT}.wa"}),
    json.dumps({**VIEW, "o": PARENT, "i": ".wa"}), json.dumps({**VIEW, "o": "abc"}), json.dumps({**VIEW, "o": 5}),
    json.dumps({**VIEW, "u": "https://example.com/a?x=1&ds=AAAAAAAAAA.wa"}), json.dumps({**VIEW, "r": ""}),
    json.dumps({**VIEW, "r": "android-app://com.google"}), json.dumps({**SHARE, "p": TOKEN}),
    json.dumps({**SHARE, "c": "zz"}), json.dumps({**IDENTIFY, "x": " crm-2 "}), json.dumps({**IDENTIFY, "x": "a\tb"}),
    json.dumps({**IDENTIFY, "n": ""}), json.dumps({**GOAL, "gv": 3}), json.dumps({**GOAL, "gv": 1.5e300}),
    json.dumps({**GOAL, "gv": True}), json.dumps({**GOAL, "t": "", "u": ""}), json.dumps({**GOAL, "g": " "}),
    '{"k": "goal", "s": "example.com", "g": "x", "gv": ' + "9" * 41 + "}",
    '{"k": "goal", "s": "example.com", "g": "x", "gv": ' + "9" * 39 + "}",
    '{"k": "goal", "s": "example.com", "g": "x", "gv": NaN}', '{"k": "view", "k": "goal", "s": "a", "g": "x"}',
    '{"k": "goal", "s": "a", "g": "x", "s": "b"}', '{"k": "view", "s": "a", "u": "https://a/", "t": "\\udc00"}',
    json.dumps({**VIEW, "n": "\U0001f600"}, ensure_ascii=False), "[]", json.dumps([VIEW] * 26), '"view"',
])
def test_the_fast_path_agrees_with_validate(body):
    fast = events._decode_valid(body.encode("utf-8", "surrogatepass"))
    assert fast is None or fast == slow_path(body.encode("utf-8", "surrogatepass"))
    assert events._decode_valid(json.dumps(VIEW).encode()) is not None  # the usual body does take the fast path


text = st.one_of(st.text(st.characters(codec=None, exclude_categories=()), max_size=12),
                 st.sampled_from(["", " ", TOKEN, PARENT, "wa", "zz", "visitor0000000001", "https://example.com/x",
                                  "https://example.com/?ds=AAAAAAAAAA", f"{PARENT}.tg", "example.com", "ftp://x/"]))
field_value = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), text, st.lists(st.integers(), max_size=2))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from([VIEW, SHARE, IDENTIFY, GOAL]),
       changes=st.dictionaries(st.sampled_from(list("ksvutrionpcxg") + ["gv", "zz"]), field_value, max_size=3),
       ascii_only=st.booleans())
def test_generated_events_get_the_same_answer_on_both_paths(base, changes, ascii_only):
    body = json.dumps({**base, **changes}, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    fast = events._decode_valid(body)
    assert fast is None or fast == slow_path(body)
