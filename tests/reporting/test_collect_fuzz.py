"""Property test: thousands of generated bodies and headers sent to the collector route of the real Datasette app.

Never a 5xx, every 4xx names the field or header it is about, nothing is logged as an error, and whatever is
stored is well formed (canonical URL on the site's origin, clean text, a browser from the closed list).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
import threading
from urllib.parse import unquote_plus, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from darksocial import events, store, urls, useragents
from reporting import collect, server

ORIGIN = "https://example.com"
EXAMPLES = 2_000
FIELDS = ("k", "s", "v", "u", "t", "r", "i", "n", "p", "c", "x", "g", "gv")
# The first word of a 4xx reason: a field (k, event[3].gv, 'weird key') or a header.
# A field, a header, or an item of an array that is no event at all ("event[3]: an event must be a JSON object").
NAMED = re.compile(r"^(?:event\[\d+\]:|(?:event\[\d+\]\.)?(?:[a-z]{1,2}|'.*'|body|Origin|Content-Type|client):)")
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)  # lone surrogates included
token = st.sampled_from(["AAAAAAAAAA", "BBBBBBBBBB", "abcDEF1234", "short", ""])
url = st.one_of(
    st.sampled_from([f"{ORIGIN}/post", f"{ORIGIN}/p?id=1&utm_source=x&fbclid=y#ds=AAAAAAAAAA.wa",
                     f"{ORIGIN}/reset?email=a%40b.org&token=zz", "https://evil.example/phish", "HTTP://EXAMPLE.COM",
                     f"{ORIGIN}:99999/", "javascript:alert(1)", f"{ORIGIN}/\x00"]),
    any_text.map(lambda s: f"{ORIGIN}/{s}"),
)
scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), any_text)
value = st.one_of(scalar, st.lists(scalar, max_size=3), st.dictionaries(any_text, scalar, max_size=2))
field_values = {
    "k": st.one_of(st.sampled_from(events.KINDS), value), "s": st.one_of(st.just("blog"), value),
    "v": st.one_of(st.just("visitor0001"), value), "u": st.one_of(url, value), "t": st.one_of(token, value),
    "r": st.one_of(url, value), "i": st.one_of(st.sampled_from(["BBBBBBBBBB.wa", ".tg", "x.zz"]), value),
    "n": st.one_of(any_text, value), "p": st.one_of(token, value), "c": st.one_of(st.sampled_from(["wa", "zz"]), value),
    "x": st.one_of(any_text, value), "g": st.one_of(any_text, value), "gv": value,
}
event = st.fixed_dictionaries(
    {"k": field_values["k"], "s": field_values["s"]},
    optional={**{k: v for k, v in field_values.items() if k not in ("k", "s")}, "zz": value},
)
valid_event = st.sampled_from([
    {"k": "view", "s": "blog", "u": f"{ORIGIN}/post?id=3&utm_medium=mail", "t": "AAAAAAAAAA", "n": "A post"},
    {"k": "share", "s": "blog", "v": "visitor0001", "u": f"{ORIGIN}/post", "t": "BBBBBBBBBB", "p": "AAAAAAAAAA",
     "c": "wa"},
    {"k": "identify", "s": "blog", "v": "visitor0001", "x": "crm-1", "n": "Ada"},
    {"k": "goal", "s": "blog", "g": "signup", "gv": 3},
])
# A valid event with one field replaced by anything: the answer must name that field, or the event be stored clean.
mutated_event = st.tuples(valid_event, st.sampled_from(FIELDS), st.one_of(*field_values.values())).map(
    lambda t: {**t[0], t[1]: t[2]})
text_event = st.tuples(valid_event, any_text).map(  # the free-text field of each kind, anything at all
    lambda t: {**t[0], {"view": "n", "identify": "n", "share": "u", "goal": "g"}[t[0]["k"]]:
               t[1] if t[0]["k"] != "share" else f"{ORIGIN}/{t[1]}"})
json_body = st.one_of(event, mutated_event, mutated_event, text_event, text_event, valid_event,
                      st.lists(st.one_of(valid_event, text_event), max_size=30), st.lists(mutated_event, max_size=30),
                      st.lists(event, min_size=0, max_size=30), value).map(
    lambda obj: json.dumps(obj, allow_nan=True).encode("utf-8", "surrogatepass"))
raw_body = st.one_of(
    st.binary(max_size=300),
    st.integers(1, 3000).map(lambda n: b'{"k": "view", "s": "blog", "n": ' + b"[" * n + b"]" * n + b"}"),
    st.integers(1, 6000).map(lambda n: b'{"k": "goal", "s": "blog", "g": "g", "gv": ' + b"9" * n + b"}"),
    st.sampled_from([b'{"k": "goal", "s": "blog", "g": "g", "gv": 1e999}', b'"\\ud800"', b"[]", b"null",
                     b'{"k": "view", "s": "blog", "u": "https://example.com/", "t": "AAAAAAAAAA", "n": "\\udc00"}']),
    st.integers(events.MAX_BODY_BYTES - 10, events.MAX_BODY_BYTES + 10).map(lambda n: b" " * n),
)
header_value = st.one_of(st.none(), st.binary(max_size=60), st.text(max_size=60).map(
    lambda s: s.encode("utf-8")))
GOOD_HEADERS = {
    b"origin": ORIGIN.encode(), b"content-type": b"text/plain;charset=UTF-8", b"content-length": None, b"dnt": None,
    b"user-agent": b"Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
}
bad_headers = st.fixed_dictionaries({
    b"origin": st.one_of(st.just(ORIGIN.encode()), st.sampled_from([b"null", b"https://evil.example"]), header_value),
    b"user-agent": st.one_of(st.sampled_from([
        b"Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
        b"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        b"Mobile/15E148 WhatsApp/2.24.1", b"Googlebot/2.1"]), header_value),
    b"content-type": st.one_of(st.sampled_from([b"text/plain", b"application/json; charset=utf-8"]), header_value),
    b"content-length": st.one_of(st.none(), st.integers(-5, 10**40).map(lambda n: str(n).encode()), header_value),
    b"dnt": st.one_of(st.none(), st.just(b"1"), header_value),
})
headers = st.one_of(st.just(GOOD_HEADERS), st.just(GOOD_HEADERS), bad_headers)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    db = store.open_db(path)
    store.register_site(db, "blog", [ORIGIN])
    db.close()
    datasette = server.make_datasette(path, attribute_every=None,
                                      metadata={"plugins": {"darksocial": {"rate_limit": 0}}})
    # The app runs on a loop in a thread of its own: Playwright's sync API (browser tests in the same session)
    # keeps a loop running in the main thread.
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield datasette.app(), loop, path
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    collector = collect._collectors.pop(path.resolve(), None)
    if collector is not None:
        collector.close()
    loop.close()


async def post(app, body: bytes, header_map: dict) -> tuple[int, bytes]:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/-/darksocial/collect", "raw_path": b"/-/darksocial/collect",
             "query_string": b"", "root_path": "", "client": ("198.51.100.9", 40000), "server": ("127.0.0.1", 8001),
             "headers": [(name, value) for name, value in header_map.items() if value is not None]}
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def check_stored(path, after_id: int) -> int:
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT * FROM events WHERE id > ? ORDER BY id", (after_id,)).fetchall()
    for row in rows:
        assert row["kind"] in events.KINDS and row["site"] == "blog"
        assert row["browser"] in useragents.BROWSER_FAMILIES
        if row["url"] is not None:
            assert row["url"].startswith(ORIGIN + "/") and "#" not in row["url"] and not CONTROL.search(row["url"])
            names = {unquote_plus(pair.partition("=")[0]).strip().lower()
                     for pair in urlsplit(row["url"]).query.split("&") if pair}
            assert not any(name.startswith("utm_") or name in urls.PRIVATE_PARAMS for name in names), row["url"]
        for column in ("title", "name", "external_id", "goal"):
            if row[column] is not None:
                assert row[column].strip() and not CONTROL.search(row[column]), (column, row[column])
        if row["value"] is not None:
            assert abs(row["value"]) < float("inf")
    return rows[-1]["id"] if rows else after_id


def test_generated_requests_never_get_a_5xx_and_every_4xx_names_a_field(app, caplog):
    asgi, loop, path = app
    seen = {"requests": 0, "statuses": {}, "last_id": 0}

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
    @given(body=st.one_of(json_body, json_body, json_body, raw_body), header_map=headers)
    def one_request(body, header_map):
        status, answer = asyncio.run_coroutine_threadsafe(post(asgi, body, header_map), loop).result(60)
        seen["requests"] += 1
        seen["statuses"][status] = seen["statuses"].get(status, 0) + 1
        assert status < 500, (status, answer)
        if 400 <= status < 500:
            assert NAMED.match(answer.decode()), answer
        if status == 204:
            seen["last_id"] = check_stored(path, seen["last_id"])

    with caplog.at_level(logging.WARNING):
        one_request()
    print(f"fuzz: {seen['requests']} requests, answers {dict(sorted(seen['statuses'].items()))}")
    assert seen["requests"] >= EXAMPLES
    assert seen["statuses"].get(204, 0) >= 50 and seen["statuses"].get(400, 0) >= 100  # both paths exercised
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []  # no traceback, no error logged
