"""Every promise README.md and DESIGN.md make about the collector, checked over real HTTP against a real
`darksocial serve` child process on a free loopback port (started once for the module, restarted once at the end).

Expectations come from the documentation only: README "Events", "Collector" (its status table, "Abuse",
"Privacy", "Durability"), "Reliability", "Reporting server", SECURITY.md, DESIGN.md "Tokens", "Events" and
"Collector", and the field reference the README points to (the docstring of darksocial/events.py).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import select
import signal
import socket
import sqlite3
import string
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

ORIGIN = "https://example.com"
ALIAS = "https://www.example.com"
PRIVATE_ORIGIN = "https://private.example"
OTHER_ORIGIN = "https://other.example"
STRIP_ORIGIN = "https://strip.example"
KEEP_ORIGIN = "https://keep.example"
COLLECT = "/-/darksocial/collect"
READ_TIMEOUT = 2.0  # `--read-timeout`: short, so that the slow-client checks take seconds
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
BASE62 = string.ascii_letters + string.digits
REFUSAL = re.compile(r"^[A-Za-z][\w.\[\]-]*: \S")  # "a 4xx reason starts with the field or header, then a colon"
MAX_BODY = 32 * 1024  # "413: body over 32 KB"
MAX_EVENTS = 25  # SECURITY.md: "at most 25 events"
MAX_TITLE = 300  # "A page title over 300 characters is cut there"
CHANNELS = ("wa", "fm", "tg", "sms", "em", "cl", "ct", "ns", "ab", "x", "fb", "li", "rd", "bs")


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("darksocial")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from darksocial.cli import cli; cli()"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def token() -> str:
    """A fresh token in the documented format: 10 characters of base62."""
    return "".join(secrets.choice(BASE62) for _ in range(10))


def visitor() -> str:
    return "".join(secrets.choice(BASE62) for _ in range(16))


class Server:
    """`darksocial serve DB` as a child process; its output appended to a log file the privacy test scans."""

    def __init__(self, db: Path, log: Path, *extra: str):
        self.db, self.log, self.extra, self.proc, self.url = db, log, extra, None, None

    def start(self) -> None:
        port = _free_port()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [*_cli(), "serve", str(self.db), "--port", str(port), "--attribute-every", "0",
                 "--read-timeout", str(READ_TIMEOUT), *self.extra],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self.url = f"http://127.0.0.1:{port}"
        self.port = port
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/-/darksocial/darksocial.css", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.proc.poll() is None, self.log.read_text(errors="replace")
            assert time.monotonic() < deadline, "darksocial serve did not start"
            time.sleep(0.1)

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def cli(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([*_cli(), *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("promises")
    db = tmp / "darksocial.db"
    cli("site", "add", "blog", "--origin", ORIGIN, "--origin", ALIAS, str(db))
    cli("site", "add", "priv", "--origin", PRIVATE_ORIGIN, "--respect-dnt", str(db))
    cli("site", "add", "other", "--origin", OTHER_ORIGIN, str(db))
    cli("site", "add", "doomed", "--origin", "https://doomed.example", str(db))
    cli("site", "add", "strip", "--origin", STRIP_ORIGIN, "--strip-param", "ref", "--strip-param", "aff_*", str(db))
    cli("site", "add", "keep", "--origin", KEEP_ORIGIN, "--keep-param", "id", "--keep-param", "page", str(db))
    srv = Server(db, tmp / "serve.log")
    srv.start()
    yield srv
    srv.stop()


# ---------------------------------------------------------------------------------------------------- helpers

# One client for the whole module (creating one per request costs more than the request); a fresh connection per
# request, so that no answer depends on a kept-alive connection the server has just closed as idle.
HTTP = httpx.Client(timeout=30, limits=httpx.Limits(max_keepalive_connections=0))


def post(server, payload, *, origin=ORIGIN, ua=FIREFOX, content_type="text/plain;charset=UTF-8", **headers):
    """POST ``payload`` (bytes, or JSON-encoded) to the collector on a fresh connection. ``None`` drops a header."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    wanted = {"origin": origin, "user-agent": ua, "content-type": content_type,
              **{k.replace("_", "-"): v for k, v in headers.items()}}
    request = HTTP.build_request("POST", server.url + COLLECT, content=body)
    for name in ("user-agent", "accept", "accept-encoding", "connection"):
        request.headers.pop(name, None)  # only what the caller wants, as a browser's beacon
    for name, value in wanted.items():
        if value is not None:
            request.headers[name] = value
    return HTTP.send(request)


def view(**fields) -> dict:
    return {"k": "view", "s": "blog", "u": f"{ORIGIN}/post", "t": token(), "v": visitor(), **fields}


def share(**fields) -> dict:
    return {"k": "share", "s": "blog", "u": f"{ORIGIN}/post", "t": token(), "p": token(), "c": "wa",
            "v": visitor(), **fields}


def identify(**fields) -> dict:
    return {"k": "identify", "s": "blog", "v": visitor(), "x": "crm-42", **fields}


def goal(**fields) -> dict:
    return {"k": "goal", "s": "blog", "v": visitor(), "g": "signup", **fields}


def rows(server, where: str = "1", *params) -> list[dict]:
    with sqlite3.connect(server.db, timeout=30) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(f"SELECT * FROM events WHERE {where}", params)]


def count(server) -> int:
    with sqlite3.connect(server.db, timeout=30) as conn:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]


def stored_tokens(server) -> set[str]:
    with sqlite3.connect(server.db, timeout=30) as conn:
        return {r[0] for r in conn.execute("SELECT token FROM events WHERE token IS NOT NULL")}


def assert_refused(response, status: int, field: str) -> None:
    """A refusal: the status, a reason that starts with ``field:``, and no cookie."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.text.startswith(f"{field}:"), response.text
    assert REFUSAL.match(response.text), response.text
    assert "set-cookie" not in response.headers


def refused_and_not_stored(server, payload, status, field, **headers) -> None:
    before = count(server)
    assert_refused(post(server, payload, **headers), status, field)
    assert count(server) == before


# ---------------------------------------------------------------------------------------------- the four kinds

def test_a_view_is_answered_204_with_no_body_and_stored_with_every_field(server):
    t, v, incoming = token(), visitor(), token()
    response = post(server, view(t=t, v=v, n="Hello world", r="https://news.example.org/a/b?c=d", i=f"{incoming}.tg"))
    assert response.status_code == 204 and response.content == b""
    assert "set-cookie" not in response.headers
    [row] = rows(server, "token = ?", t)
    assert {k: row[k] for k in ("kind", "site", "visitor", "url", "title", "referrer_host", "in_token",
                                "in_channel")} == {
        "kind": "view", "site": "blog", "visitor": v, "url": f"{ORIGIN}/post", "title": "Hello world",
        "referrer_host": "news.example.org", "in_token": incoming, "in_channel": "tg"}


def test_a_share_is_stored_with_its_parent_and_channel(server):
    t, p, v = token(), token(), visitor()
    assert post(server, share(t=t, p=p, v=v, c="sms")).status_code == 204
    [row] = rows(server, "token = ?", t)
    assert (row["kind"], row["parent"], row["channel"], row["visitor"], row["url"]) == (
        "share", p, "sms", v, f"{ORIGIN}/post")


def test_an_identify_is_stored_with_external_id_and_display_name(server):
    v = visitor()
    assert post(server, identify(v=v, x="crm-4242", n="Ada Lovelace")).status_code == 204
    [row] = rows(server, "visitor = ?", v)
    assert (row["kind"], row["external_id"], row["name"]) == ("identify", "crm-4242", "Ada Lovelace")


def test_a_goal_is_stored_with_its_value_page_and_token(server):
    v, t = visitor(), token()
    assert post(server, goal(v=v, g="newsletter", gv=12.5, t=t, u=f"{ORIGIN}/post")).status_code == 204
    assert post(server, goal(v=v, g="bare")).status_code == 204  # u, t and gv are optional on a goal
    stored = {r["goal"]: r for r in rows(server, "visitor = ?", v)}
    assert (stored["newsletter"]["kind"], stored["newsletter"]["value"], stored["newsletter"]["token"],
            stored["newsletter"]["url"]) == ("goal", 12.5, t, f"{ORIGIN}/post")
    assert (stored["bare"]["value"], stored["bare"]["token"], stored["bare"]["url"]) == (None, None, None)


@pytest.mark.parametrize("code", CHANNELS)
def test_every_documented_channel_code_is_accepted_on_a_share(server, code):
    t = token()
    assert post(server, share(t=t, c=code)).status_code == 204
    assert rows(server, "token = ?", t)[0]["channel"] == code


@pytest.mark.parametrize("bad", ["zz", "WA", "", "whatsapp", 5, None])
def test_a_channel_outside_the_list_is_refused_naming_c(server, bad):
    refused_and_not_stored(server, share(c=bad), 400, "c")


@pytest.mark.parametrize("kind", ["explode", "View", "", None, 1])
def test_an_unknown_kind_is_refused_naming_k(server, kind):
    refused_and_not_stored(server, view(k=kind), 400, "k")


@pytest.mark.parametrize("event, field", [
    ({"s": "blog", "u": f"{ORIGIN}/p", "t": "AAAAAAAAAA"}, "k"),
    ({"k": "view", "u": f"{ORIGIN}/p", "t": "AAAAAAAAAA"}, "s"),
    ({"k": "view", "s": "blog", "t": "AAAAAAAAAA"}, "u"),
    ({"k": "view", "s": "blog", "u": f"{ORIGIN}/p"}, "t"),
    ({"k": "share", "s": "blog", "u": f"{ORIGIN}/p", "t": "AAAAAAAAAA", "c": "wa"}, "p"),
    ({"k": "share", "s": "blog", "u": f"{ORIGIN}/p", "t": "AAAAAAAAAA", "p": "BBBBBBBBBB"}, "c"),
    ({"k": "share", "s": "blog", "t": "AAAAAAAAAA", "p": "BBBBBBBBBB", "c": "wa"}, "u"),
    ({"k": "identify", "s": "blog", "n": "Ada"}, "x"),
    ({"k": "goal", "s": "blog", "gv": 1}, "g"),
])
def test_a_missing_required_field_is_refused_naming_it(server, event, field):
    refused_and_not_stored(server, event, 400, field)


@pytest.mark.parametrize("event, field", [
    (view(g="signup"), "g"), (view(p="AAAAAAAAAA"), "p"), (view(c="wa"), "c"), (view(x="id"), "x"),
    (share(o="AAAAAAAAAA"), "o"), (share(i="AAAAAAAAAA"), "i"), (share(n="title"), "n"),
    (identify(u=f"{ORIGIN}/p"), "u"), (identify(t="AAAAAAAAAA"), "t"), (goal(n="x"), "n"), (goal(r=ORIGIN), "r"),
    (view(zz=1), "zz"), (view(ts="2020-01-01T00:00:00Z"), "ts"), (view(extra={"nested": True}), "extra"),
])
def test_a_field_unknown_for_its_kind_is_refused_naming_it(server, event, field):
    refused_and_not_stored(server, event, 400, field)


@pytest.mark.parametrize("event, field", [
    (view(u=12345), "u"), (view(n=12345), "n"), (view(v=12345), "v"), (view(t=1234567890), "t"),
    (view(r=7), "r"), (view(i=["AAAAAAAAAA"]), "i"), (view(s=1), "s"), (identify(x=["a"]), "x"),
    (identify(n={"a": 1}), "n"), (goal(g=5), "g"), (goal(gv="12"), "gv"), (goal(gv=True), "gv"),
    (goal(gv=[1]), "gv"), (view(o=5), "o"),
])
def test_a_field_of_the_wrong_type_is_refused_naming_it(server, event, field):
    refused_and_not_stored(server, event, 400, field)


# ---------------------------------------------------------------------------------------------------- tokens

BAD_TOKENS = ["AAAAAAAAA", "AAAAAAAAAAA", "AAAAAAAAA-", "AAAAAAAAA_", "AAAA AAAAA", "AAAAAAAAAé", "",
              "AAAAAAAAA\x00", "AAAAAAAAA="]


# An empty o is documented as valid (a return that names no view), and t is optional on a goal.
TOKEN_CASES = [(field, make, bad) for field, make in [("t", view), ("t", share), ("p", share), ("t", goal), ("o", view)]
               for bad in BAD_TOKENS if not (bad == "" and (field == "o" or make is goal))]


@pytest.mark.parametrize("field, make, bad", TOKEN_CASES)
def test_a_token_not_10_base62_characters_is_refused_naming_its_field(server, field, make, bad):
    refused_and_not_stored(server, make(**{field: bad}), 400, field)


@pytest.mark.parametrize("bad", ["AAAAAAAAA", "AAAAAAAAA-.wa", "!!!", "AAAAAAAAAAA.wa", "AAAAAAAA.wa"])
def test_a_malformed_incoming_token_is_refused_naming_i(server, bad):
    refused_and_not_stored(server, view(i=bad), 400, "i")


def test_the_three_documented_incoming_forms_are_stored_apart(server):
    incoming = token()
    sent = {"plain": incoming, "with_code": f"{incoming}.em", "code_only": ".cl"}
    tokens = {}
    for name, value in sent.items():
        tokens[name] = token()
        assert post(server, view(t=tokens[name], i=value)).status_code == 204
    got = {name: (r["in_token"], r["in_channel"]) for name, t in tokens.items() for r in rows(server, "token = ?", t)}
    assert got == {"plain": (incoming, None), "with_code": (incoming, "em"), "code_only": (None, "cl")}


def test_tokens_of_every_base62_character_are_accepted(server):
    for t in ("0123456789", "abcdefghij", "KLMNOPQRST", "zZ9aA0yY1b"):
        assert post(server, view(t=t)).status_code == 204
    assert {"0123456789", "abcdefghij", "KLMNOPQRST", "zZ9aA0yY1b"} <= stored_tokens(server)


def test_a_reload_sends_o_never_together_with_i(server):
    own = token()
    refused_and_not_stored(server, view(i=token(), o=own), 400, "o")
    t1, t2 = token(), token()
    assert post(server, view(t=t1, o=own)).status_code == 204
    assert post(server, view(t=t2, o="")).status_code == 204  # the address bar showed no token
    assert [r["reloaded"] for r in rows(server, "token IN (?, ?)", t1, t2)] == [1, 1]


# ------------------------------------------------------------------------------------------ URLs and referrers

@pytest.mark.parametrize("bad", ["data:text/html,hi", "https:///no-host", "ftp://example.com/x", "/relative",
                                 "example.com/post", "javascript:alert(1)", ORIGIN + "/p\x00q",
                                 ORIGIN + "/" + "a" * 5000, ""])
def test_a_page_url_that_is_not_an_absolute_http_url_is_refused_naming_u(server, bad):
    refused_and_not_stored(server, view(u=bad), 400, "u")


@pytest.mark.parametrize("url", [OTHER_ORIGIN + "/post", "http://example.com/post", "https://example.com:8443/post",
                                 "https://evil.example.com/post", "https://example.com.evil.example/post"])
def test_a_page_url_on_another_origin_is_refused_403_naming_u(server, url):
    refused_and_not_stored(server, view(u=url), 403, "u")
    refused_and_not_stored(server, goal(u=url), 403, "u")


def test_any_of_the_sites_origins_is_accepted_for_origin_and_url(server):
    t = token()
    assert post(server, view(t=t, u=f"{ALIAS}/post"), origin=ALIAS).status_code == 204
    assert post(server, view(u=f"{ALIAS}/post"), origin=ORIGIN).status_code == 204
    assert rows(server, "token = ?", t)[0]["url"] == f"{ALIAS}/post"


def test_the_page_url_is_stored_canonical_with_tracking_apart_and_private_parameters_dropped(server):
    t = token()
    url = ("HTTPS://ada:hunter2@Example.COM:443/post?utm_source=wa&page=2&email=ada%40mail.example"
           "&ds=QQQQQQQQQQ&fbclid=FBCLIDVALUE&password=sesame&note=bob%40mail.example#ds=RRRRRRRRRR.wa")
    assert post(server, view(t=t, u=url)).status_code == 204
    [row] = rows(server, "token = ?", t)
    assert row["url"] == f"{ORIGIN}/post?page=2"
    assert "utm_source=wa" in row["campaign_query"] and "fbclid=FBCLIDVALUE" in row["campaign_query"]
    everything = json.dumps(row)
    for secret in ("hunter2", "ada%40mail", "QQQQQQQQQQ", "RRRRRRRRRR", "sesame", "bob%40mail", "ada:"):
        assert secret not in everything


def test_click_ids_and_campaign_parameters_go_apart_private_ones_vanish_content_ones_stay_in_order(server):
    t = token()
    query = ("b=2&gclid=G1&a=1&msclkid=M1&c=%7E&mc_cid=C1&mtm_campaign=spring&pk_kwd=K1&igshid=I1&token=T0K"
             "&session=S3SS&code=C0DE&key=K3Y&utm_medium=social")
    assert post(server, view(t=t, u=f"{ORIGIN}/post?{query}")).status_code == 204
    [row] = rows(server, "token = ?", t)
    assert row["url"] == f"{ORIGIN}/post?b=2&a=1&c=%7E"
    campaign = row["campaign_query"]
    for kept_apart in ("gclid=G1", "msclkid=M1", "mc_cid=C1", "mtm_campaign=spring", "pk_kwd=K1", "igshid=I1",
                       "utm_medium=social"):
        assert kept_apart in campaign
    for secret in ("T0K", "S3SS", "C0DE", "K3Y"):
        assert secret not in json.dumps(row)


def test_a_sites_own_strip_params_go_to_the_campaign_query(server):
    t = token()
    url = f"{STRIP_ORIGIN}/p?b=2&ref=tw&aff_id=9&a=1"
    assert post(server, view(s="strip", u=url, t=t), origin=STRIP_ORIGIN).status_code == 204
    [row] = rows(server, "token = ?", t)
    assert row["url"] == f"{STRIP_ORIGIN}/p?b=2&a=1"
    assert "ref=tw" in row["campaign_query"] and "aff_id=9" in row["campaign_query"]


def test_a_sites_keep_params_make_the_query_an_allowlist(server):
    t = token()
    url = f"{KEEP_ORIGIN}/p?zz=1&id=7&utm_source=wa&b=2&page=3"
    assert post(server, view(s="keep", u=url, t=t), origin=KEEP_ORIGIN).status_code == 204
    [row] = rows(server, "token = ?", t)
    assert row["url"] == f"{KEEP_ORIGIN}/p?id=7&page=3"
    assert "utm_source=wa" in row["campaign_query"]
    assert "zz=1" not in json.dumps(row) and "b=2" not in json.dumps(row)


def test_only_the_referrers_host_is_kept(server):
    t = token()
    assert post(server, view(t=t, r="https://news.example.org/private/path?session=abc#frag")).status_code == 204
    [row] = rows(server, "token = ?", t)
    assert row["referrer_host"] == "news.example.org"
    assert "private/path" not in json.dumps(row) and "session=abc" not in json.dumps(row)


@pytest.mark.parametrize("referrer, host", [
    ("android-app://com.google.android.gm/", "android-app:com.google.android.gm"),
    ("android-app://com.slack/", "android-app:com.slack")])
def test_a_view_opened_from_an_android_app_is_stored_with_the_apps_host(server, referrer, host):
    t = token()
    response = post(server, view(t=t, r=referrer))
    assert response.status_code == 204, response.text
    assert [r["referrer_host"] for r in rows(server, "token = ?", t)] == [host]


@pytest.mark.parametrize("bad", ["not a url", 7, ORIGIN + "/" + "a" * 9000])
def test_a_malformed_referrer_is_refused_naming_r(server, bad):
    refused_and_not_stored(server, view(r=bad), 400, "r")


# ----------------------------------------------------------------------------------------- text and identifiers

def test_control_characters_in_a_title_become_single_spaces(server):
    t = token()
    assert post(server, view(t=t, n="A\x00\x01B  \u202e C\x7f\x85D\tE\u202dF")).status_code == 204
    assert rows(server, "token = ?", t)[0]["title"] == "A B C D E F"


def test_control_characters_in_a_display_name_become_single_spaces(server):
    v = visitor()
    assert post(server, identify(v=v, n="Ada\x00\x1b\u202eLove")).status_code == 204
    assert rows(server, "visitor = ?", v)[0]["name"] == "Ada Love"


def test_characters_beyond_the_bmp_sent_as_escaped_surrogate_pairs_are_kept(server):
    t = token()
    body = json.dumps(view(t=t, n="smile \U0001F600 ok")).encode()  # JSON escapes it as "\ud83d\ude00"
    assert b"\\ud83d\\ude00" in body
    assert post(server, body).status_code == 204
    assert rows(server, "token = ?", t)[0]["title"] == "smile \U0001F600 ok"


BLANK_AFTER_CLEANING = ["\u00a0", "\u3000", "\u202e", "\x07", "\t \n", "   "]


@pytest.mark.parametrize("title", BLANK_AFTER_CLEANING)
def test_a_view_whose_title_is_blank_once_cleaned_is_still_stored(server, title):
    t = token()
    response = post(server, view(t=t, n=title))
    assert response.status_code == 204, response.text
    assert len(rows(server, "token = ?", t)) == 1


@pytest.mark.parametrize("name", BLANK_AFTER_CLEANING)
def test_an_identify_whose_display_name_is_blank_once_cleaned_is_still_stored(server, name):
    v = visitor()
    response = post(server, identify(v=v, n=name))
    assert response.status_code == 204, response.text
    assert [r["external_id"] for r in rows(server, "visitor = ?", v)] == ["crm-42"]


def test_a_title_over_300_characters_is_cut_there_and_the_view_kept(server):
    long_t, exact_t = token(), token()
    as_utf8 = json.dumps(view(t=long_t, n="é" * 10_000), ensure_ascii=False).encode()  # 20 KB of title
    assert post(server, as_utf8).status_code == 204
    assert post(server, view(t=exact_t, n="y" * MAX_TITLE)).status_code == 204
    assert rows(server, "token = ?", long_t)[0]["title"] == "é" * MAX_TITLE
    assert rows(server, "token = ?", exact_t)[0]["title"] == "y" * MAX_TITLE


@pytest.mark.parametrize("event, field", [
    (identify(x="crm\x0042"), "x"), (identify(x="crm\x7f42"), "x"), (identify(x="crm\u008542"), "x"),
    (goal(g="sign\x07up"), "g"), (goal(g="sign\nup"), "g"), (goal(g="   "), "g"), (goal(g=""), "g"),
])
def test_control_characters_in_identifiers_and_blank_goal_names_are_refused(server, event, field):
    refused_and_not_stored(server, event, 400, field)


def test_goal_names_are_trimmed(server):
    v = visitor()
    assert post(server, goal(v=v, g="  signup  ")).status_code == 204
    assert rows(server, "visitor = ?", v)[0]["goal"] == "signup"


@pytest.mark.parametrize("field, kind", [("x", "identify"), ("g", "goal"), ("u", "view"), ("r", "view"),
                                         ("s", "view"), ("v", "view"), ("t", "view"), ("k", "view")])
def test_a_lone_surrogate_in_any_identifying_field_is_refused_naming_it(server, field, kind):
    event = {"view": view, "identify": identify, "goal": goal}[kind]()
    event[field] = "SURROGATE"
    body = json.dumps(event).replace('"SURROGATE"', '"ab\\ud800cd"').encode()
    refused_and_not_stored(server, body, 400, field)


def test_a_title_or_name_cut_between_the_halves_of_an_emoji_keeps_its_event_without_the_half(server):
    # The tracker cuts a title at 300 UTF-16 code units, which can split an emoji; a person's text is cleaned,
    # never the reason an event is lost.
    v = visitor()
    title = json.dumps(view(v=v)).replace('"v":', '"n": "' + "a" * 299 + '\\ud83d", "v":', 1)
    name = json.dumps(identify(v=v, n="NAME")).replace('"NAME"', '"Ros\\udc00a \\ud83d\\ude00"')
    assert post(server, title.encode()).status_code == 204
    assert post(server, name.encode()).status_code == 204
    assert rows(server, "visitor = ? AND kind = 'view'", v)[0]["title"] == "a" * 299
    assert rows(server, "visitor = ? AND kind = 'identify'", v)[0]["name"] == "Rosa \U0001f600"


@pytest.mark.parametrize("event, field", [
    (view(v="v" * 10_000), "v"), (identify(x="x" * 10_000), "x"), (goal(g="g" * 10_000), "g"),
    (view(s="s" * 10_000), "s"), (view(r="https://a.example/" + "r" * 10_000), "r"),
])
def test_very_long_identifiers_are_refused_naming_them(server, event, field):
    refused_and_not_stored(server, event, 400, field)


# ------------------------------------------------------------------------------------------------ goal values

@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e309", b"-1e309", b"1" + b"0" * 40,
                                     b"-1" + b"0" * 40])
def test_a_goal_value_that_is_not_a_finite_number_is_refused_naming_gv(server, literal):
    body = b'{"k": "goal", "s": "blog", "g": "x", "gv": ' + literal + b"}"
    refused_and_not_stored(server, body, 400, "gv")


def test_integers_up_to_40_digits_and_ordinary_numbers_are_goal_values(server):
    v = visitor()
    for literal in (b"9" * 40, b"-3", b"0", b"12.5", b"1e308"):
        body = b'{"k": "goal", "s": "blog", "v": "' + v.encode() + b'", "g": "x", "gv": ' + literal + b"}"
        assert post(server, body).status_code == 204, literal
    values = sorted(r["value"] for r in rows(server, "visitor = ?", v))
    assert values == sorted([float("9" * 40), -3.0, 0.0, 12.5, 1e308])


# ------------------------------------------------------------------------------------------------ timestamps

def test_the_route_cannot_backdate_an_event_and_stamps_the_servers_time(server):
    refused_and_not_stored(server, view(ts="2001-01-01T00:00:00Z"), 400, "ts")
    t = token()
    before = datetime.now(timezone.utc)
    assert post(server, view(t=t)).status_code == 204
    after = datetime.now(timezone.utc)
    stamp = datetime.fromisoformat(rows(server, "token = ?", t)[0]["ts"].replace("Z", "+00:00"))
    assert stamp.tzinfo is not None
    assert (before - stamp).total_seconds() < 2 and (stamp - after).total_seconds() < 2


# ------------------------------------------------------------------------------------------ bodies and batches

def test_a_batch_of_25_mixed_events_is_stored_whole(server):
    tokens = [token() for _ in range(MAX_EVENTS - 3)]
    v = visitor()
    batch = [view(t=t, v=v) for t in tokens] + [share(v=v), identify(v=v), goal(v=v)]
    assert post(server, batch, content_type="application/json").status_code == 204
    assert sorted(r["kind"] for r in rows(server, "visitor = ?", v)) == sorted(
        ["view"] * (MAX_EVENTS - 3) + ["share", "identify", "goal"])


def test_a_batch_of_26_is_refused_naming_the_body_and_nothing_of_it_is_stored(server):
    refused_and_not_stored(server, [view() for _ in range(MAX_EVENTS + 1)], 400, "body")


def test_a_batch_smuggling_another_sites_event_past_its_origin_is_refused_whole(server):
    v = visitor()
    batch = [view(v=v), view(v=v, s="other", u=f"{OTHER_ORIGIN}/p")]
    before = count(server)
    response = post(server, batch, origin=ORIGIN)
    assert response.status_code == 403 and REFUSAL.match(response.text), response.text
    assert count(server) == before


def test_one_bad_event_refuses_the_whole_batch_naming_its_index(server):
    v = visitor()
    batch = [view(v=v), view(v=v), view(v=v), goal(v=v, gv="1"), view(v=v)]
    assert_refused(post(server, batch), 400, "event[3].gv")
    assert rows(server, "visitor = ?", v) == []


@pytest.mark.parametrize("body", [b"", b"[]", b"null", b'"a string"', b"42", b"true", b"[[{}]]", b"[1, 2]",
                                  b"not json at all", b"{", b"\x00", b"{\"k\": \"view\"}\x00",
                                  b"[" * 20_000, b"{\"a\":" * 5_000, b"[" + b"1," * 15_000 + b"1]"])
def test_malformed_or_hostile_bodies_are_refused_400_naming_the_body_or_a_field(server, body):
    before = count(server)
    started = time.monotonic()
    response = post(server, body)
    assert response.status_code == 400, response.text
    assert REFUSAL.match(response.text), response.text
    assert time.monotonic() - started < 2  # cheap to refuse
    assert count(server) == before


@pytest.mark.parametrize("field", ["n", "u", "gv", "zz"])
def test_nesting_inside_a_field_is_refused_naming_the_field(server, field):
    for nested in (b"[" * 10_000 + b"]" * 10_000, b'{"a":' * 5_000 + b"1" + b"}" * 5_000):
        deep = json.dumps(view()).encode()[:-1] + b', "' + field.encode() + b'": ' + nested + b"}"
        started = time.monotonic()
        response = post(server, deep)
        assert time.monotonic() - started < 2
        assert_refused(response, 400, field)
        assert response.text.startswith(f"{field}: arrays and objects are not allowed"), response.text


@pytest.mark.parametrize("body", [b"\xc3\x28\xa0\xa1", b"\xff\xfe{\x00}\x00", b'{"k": "view", "n": "\xe9t\xe9"}'])
def test_bytes_that_are_not_utf8_are_refused_naming_the_body(server, body):
    refused_and_not_stored(server, body, 400, "body")


def test_mangled_beacons_get_a_named_4xx_or_are_stored_never_a_5xx(server):
    """A seeded mini-fuzz: byte flips, cuts, duplications and splices of valid batches."""
    import random

    rng = random.Random(20261130)
    seeds = [json.dumps(e).encode() for e in (view(n="Hé \u202e", r="https://r.example/x", i=".wa"), share(),
                                              identify(n="Ada"), goal(gv=1.5))]
    seeds.append(json.dumps([view(), share(), goal()]).encode())
    alphabet = b'{}[]",:\\\x00\xff\xc3 0123456789.eE+-nulltruefalseNaNInfinity\\ud800kvstupcxgio'
    answers = []
    for _ in range(250):
        body = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            op, at = rng.randrange(4), rng.randrange(len(body) + 1)
            if op == 0 and body:
                body[min(at, len(body) - 1)] = rng.choice(alphabet)
            elif op == 1:
                del body[at:at + rng.randint(1, 8)]
            elif op == 2:
                body[at:at] = bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 6)))
            else:
                body[at:at] = body[:rng.randint(0, 40)]
        response = post(server, bytes(body))
        answers.append(response.status_code)
        assert response.status_code in (204, 400, 403), (bytes(body), response.status_code, response.text)
        if response.status_code >= 400:
            # the field may be any key the mangling made up: "<key>: <why>"
            assert ": " in response.text.split("\n")[0], (bytes(body), response.text)
    assert answers.count(400) > 100  # the mangling did reach the validator


def test_a_body_of_exactly_32_kb_is_stored_and_one_byte_more_is_413(server):
    def padded(event, size):
        raw = json.dumps(event).encode()
        return raw[:-1] + b" " * (size - len(raw)) + b"}"

    t = token()
    assert post(server, padded(view(t=t), MAX_BODY)).status_code == 204
    assert t in stored_tokens(server)
    refused_and_not_stored(server, padded(view(), MAX_BODY + 1), 413, "body")


def test_a_huge_body_is_413_at_once_whether_declared_or_chunked(server):
    started = time.monotonic()
    refused_and_not_stored(server, b"x" * 5_000_000, 413, "body")
    assert time.monotonic() - started < 3

    def chunks():
        for _ in range(40):
            yield b" " * 1024

    with httpx.Client(base_url=server.url, timeout=30) as client:
        before = count(server)
        response = client.post(COLLECT, content=chunks(), headers={"origin": ORIGIN, "user-agent": FIREFOX,
                                                                    "content-type": "text/plain"})
    assert_refused(response, 413, "body")
    assert count(server) == before
    # A declared length over the limit is refused before any body byte is sent.
    head = (f"POST {COLLECT} HTTP/1.1\r\nHost: x\r\nOrigin: {ORIGIN}\r\nUser-Agent: {FIREFOX}\r\n"
            "Content-Type: text/plain\r\nContent-Length: 100000000\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=READ_TIMEOUT / 2) as sock:
        sock.sendall(head)
        assert sock.recv(4096).startswith(b"HTTP/1.1 413 ")


@pytest.mark.parametrize("content_type", ["text/plain", "text/plain;charset=UTF-8", "application/json",
                                          "application/json; charset=utf-8", "Text/Plain", "APPLICATION/JSON"])
def test_text_plain_and_application_json_are_accepted(server, content_type):
    t = token()
    assert post(server, view(t=t), content_type=content_type).status_code == 204
    assert t in stored_tokens(server)


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                                          "text/html", "application/xml", "application/jsonp", "text/plainx",
                                          None])
def test_other_content_types_are_refused_415_naming_the_header(server, content_type):
    refused_and_not_stored(server, view(), 415, "Content-Type", content_type=content_type)


# ----------------------------------------------------------------------------------------- methods and CORS

@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_methods_other_than_post_are_405_with_allow(server, method):
    response = httpx.request(method, server.url + COLLECT, headers={"origin": ORIGIN})
    assert response.status_code == 405
    assert "POST" in [m.strip() for m in response.headers["allow"].split(",")]
    assert "set-cookie" not in response.headers


def test_the_405_reason_names_what_is_wrong_like_every_other_refusal(server):
    response = httpx.get(server.url + COLLECT, headers={"origin": ORIGIN})
    assert response.status_code == 405 and REFUSAL.match(response.text), response.text


def test_a_cors_preflight_from_a_sites_origin_allows_post_with_content_type(server):
    response = httpx.options(server.url + COLLECT, headers={
        "origin": ORIGIN, "access-control-request-method": "POST", "access-control-request-headers": "content-type"})
    assert response.status_code in (200, 204)
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "content-type" in response.headers["access-control-allow-headers"].lower()
    assert "set-cookie" not in response.headers


def test_a_cors_fetch_may_read_the_answer_without_credentials(server):
    cors = post(server, view(), **{"sec-fetch-mode": "cors"})
    assert cors.status_code == 204 and cors.headers["access-control-allow-origin"] == ORIGIN
    assert cors.headers.get("access-control-allow-credentials") is None  # no cookies, so no credentials
    assert cors.headers["access-control-allow-origin"] != "*"


# ------------------------------------------------------------------------------------------- sites and origins

@pytest.mark.parametrize("origin", ["https://attacker.example", "null", OTHER_ORIGIN, "https://example.com:8443",
                                    "http://example.com", "https://example.com.evil.example", "", None])
def test_an_origin_that_is_not_the_sites_is_refused_403_naming_origin(server, origin):
    refused_and_not_stored(server, view(), 403, "Origin", origin=origin)


@pytest.mark.parametrize("site", ["nope", "BLOG", "blog ", "", "bl/og"])
def test_an_unregistered_site_is_refused_403_naming_s(server, site):
    if site in ("", "blog ", "bl/og"):
        refused_and_not_stored(server, view(s=site), 400, "s")  # not even the shape of a site id: malformed
    else:
        refused_and_not_stored(server, view(s=site), 403, "s")


def test_a_site_removed_while_serving_is_refused_within_seconds_and_its_past_events_stay(server):
    event = view(s="doomed", u="https://doomed.example/p")
    assert post(server, event, origin="https://doomed.example").status_code == 204
    cli("site", "remove", "doomed", str(server.db), "--yes")
    deadline = time.monotonic() + 15
    while True:
        response = post(server, view(s="doomed", u="https://doomed.example/p"), origin="https://doomed.example")
        if response.status_code != 204 or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert_refused(response, 403, "s")
    assert len(rows(server, "site = 'doomed'")) >= 1
    cli("site", "add", "doomed", "--origin", "https://doomed.example", str(server.db))  # registers it again
    deadline = time.monotonic() + 15
    while post(server, view(s="doomed", u="https://doomed.example/p"),
               origin="https://doomed.example").status_code != 204:
        assert time.monotonic() < deadline, "site add did not register the site again"
        time.sleep(0.25)


# ---------------------------------------------------------------------------------------------------- DNT/GPC

def test_do_not_track_and_gpc_are_answered_202_where_the_site_asks_and_stored_elsewhere(server):
    def private(**headers):
        return post(server, view(s="priv", u=f"{PRIVATE_ORIGIN}/p"), origin=PRIVATE_ORIGIN, **headers)

    before = count(server)
    assert private(dnt="1").status_code == 202
    assert private(**{"sec-gpc": "1"}).status_code == 202
    assert count(server) == before
    assert private().status_code == 204
    assert private(dnt="0").status_code == 204  # DNT: 0 is not Do Not Track
    assert post(server, view(), dnt="1", **{"sec-gpc": "1"}).status_code == 204  # blog does not ask
    assert count(server) == before + 3


# ------------------------------------------------------------------------------------- bots and in-app browsers

BOTS = {
    "whatsapp_preview_android": "WhatsApp/2.23.20.0 A",
    "whatsapp_preview_ios": "WhatsApp/2.23.20.0 i",
    "telegram_preview": "TelegramBot (like TwitterBot)",
    "facebook_preview": "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "twitter_preview": "Twitterbot/1.0",
    "slack_preview": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "discord_preview": "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "linkedin_preview": "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "skype_preview": "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5 skype-url-preview@microsoft.com",
    "imessage_preview": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) "
                        "Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0",
    "googlebot": "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "bingbot": "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "headless_chrome": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                       "HeadlessChrome/131.0.0.0 Safari/537.36",
    "curl": "curl/8.5.0",
    "python_requests": "python-requests/2.32.3",
    "phantomjs": "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 "
                 "Safari/538.1",
    "whatsapp_preview_old": "WhatsApp/2.19.81",
    "meta_externalagent": "meta-externalagent/1.1 (+https://developers.facebook.com/docs/sharing/webmasters/crawler)",
    "empty": "",
    "absent": None,
}


@pytest.mark.parametrize("name", BOTS)
def test_bots_and_link_preview_fetchers_are_answered_202_and_nothing_is_stored(server, name):
    t = token()
    response = post(server, view(t=t), ua=BOTS[name])
    assert response.status_code == 202, response.text
    assert "set-cookie" not in response.headers
    assert rows(server, "token = ?", t) == []


IN_APP = {
    "whatsapp": "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/UQ1A.240205.004; wv) AppleWebKit/537.36 (KHTML, like "
                "Gecko) Version/4.0 Chrome/121.0.6167.101 Mobile Safari/537.36 WhatsApp/2.24.2.76",
    "instagram": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "Mobile/15E148 Instagram 315.0.0.29.109 (iPhone15,3; iOS 17_2_1; en_US; en; scale=3.00; 1290x2796)",
    "facebook": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                "Mobile/15E148 [FBAN/FBIOS;FBAV/447.0.0.38.107;FBBV/555555555;FBDV/iPhone14,5;FBMD/iPhone;"
                "FBSN/iOS;FBSV/17.2;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5]",
    "facebook_android": "Mozilla/5.0 (Linux; Android 14; SM-G998B Build/UP1A.231005.007; wv) AppleWebKit/537.36 "
                        "(KHTML, like Gecko) Version/4.0 Chrome/121.0.6167.143 Mobile Safari/537.36 "
                        "[FB_IAB/FB4A;FBAV/449.0.0.41.111;]",
    "messenger": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "Mobile/15E148 [FBAN/MessengerForiOS;FBAV/443.0.0.37.109;FBBV/549000000;FBDV/iPhone14,5;"
                 "FBMD/iPhone;FBSN/iOS;FBSV/17.2;FBSS/3;FBCR/;FBID/phone;FBLC/en_US;FBOP/5]",
    "telegram": "Mozilla/5.0 (Linux; Android 13; SM-S911B Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like "
                "Gecko) Version/4.0 Chrome/120.0.6099.230 Mobile Safari/537.36 Telegram-Android/10.6.2 "
                "(Samsung SM-S911B; Android 13; SDK 33; AVERAGE)",
    "wechat": "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "Mobile/15E148 MicroMessenger/8.0.40(0x18002831) NetType/WIFI Language/zh_CN",
    "kakaotalk": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "Mobile/15E148 KAKAOTALK 10.4.5",
    "viber": "Mozilla/5.0 (Linux; Android 13; SM-A536B Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like "
             "Gecko) Version/4.0 Chrome/120.0.6099.144 Mobile Safari/537.36 Viber/21.2.0.4",
    "instagram_android": "Mozilla/5.0 (Linux; Android 14; SM-S918B Build/UP1A.231005.007; wv) AppleWebKit/537.36 "
                         "(KHTML, like Gecko) Version/4.0 Chrome/122.0.6261.64 Mobile Safari/537.36 Instagram "
                         "320.0.0.42.101 Android (34/14; 480dpi; 1080x2340; samsung; SM-S918B; dm3q; qcom; en_GB)",
    "messenger_android": "Mozilla/5.0 (Linux; Android 14; Pixel 7 Build/UQ1A.240105.004; wv) AppleWebKit/537.36 "
                         "(KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.210 Mobile Safari/537.36 "
                         "[FB_IAB/Orca-Android;FBAV/441.0.0.22.109;]",
}


@pytest.mark.parametrize("app", IN_APP)
def test_in_app_browsers_are_people_stored_with_the_app_named(server, app):
    t = token()
    assert post(server, view(t=t), ua=IN_APP[app]).status_code == 204
    [row] = rows(server, "token = ?", t)
    expected = app.split("_")[0]
    assert (row["in_app"] or "").lower() == expected
    assert row["device"] == "mobile"


@pytest.mark.parametrize("ua, browser, device", [
    (FIREFOX, "Firefox", "desktop"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
     "Safari/537.36", "Chrome", "desktop"),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile "
     "Safari/537.36", "Chrome", "mobile"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.2 Mobile/15E148 Safari/604.1", "Safari", "mobile"),
    ("Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 "
     "Mobile/15E148 Safari/604.1", "Safari", "tablet"),
])
def test_of_the_user_agent_only_a_browser_family_and_a_device_class_are_kept(server, ua, browser, device):
    t = token()
    assert post(server, view(t=t), ua=ua).status_code == 204
    [row] = rows(server, "token = ?", t)
    assert (row["browser"], row["device"], row["in_app"]) == (browser, device, None)
    assert ua not in json.dumps(row)


# ------------------------------------------------------------------------------------------- ambassador links

@pytest.fixture(scope="module")
def revoked_link(server):
    """An ambassador link with a channel (sms): visited once while active, then revoked, and the collector's
    few-second cache waited out."""
    out = cli("link", "create", "--name", "Rosa Diaz", "--url", f"{ORIGIN}/story", "--site", "blog",
              "--channel", "sms", str(server.db)).stdout
    link = re.search(r"#ds=([0-9A-Za-z]{10})\.sms", out).group(1)
    t = token()
    assert post(server, view(t=t, u=f"{ORIGIN}/story", i=f"{link}.sms")).status_code == 204
    assert (rows(server, "token = ?", t)[0]["in_token"]) == link
    cli("link", "revoke", link, str(server.db))
    deadline = time.monotonic() + 20
    while True:
        t = token()
        assert post(server, view(t=t, u=f"{ORIGIN}/story", i=f"{link}.sms")).status_code == 204
        [row] = rows(server, "token = ?", t)
        if row["in_token"] is None or time.monotonic() > deadline:
            return link, row


def test_a_visit_through_a_revoked_link_is_stored_without_its_token_and_keeps_its_channel(revoked_link):
    link, row = revoked_link
    assert (row["in_token"], row["in_channel"]) == (None, "sms")
    assert link not in json.dumps(row)


def test_a_revoked_links_own_channel_is_kept_even_when_the_visit_names_none(server, revoked_link):
    link, _ = revoked_link
    t = token()
    assert post(server, view(t=t, u=f"{ORIGIN}/story", i=link)).status_code == 204
    [row] = rows(server, "token = ?", t)
    assert (row["in_token"], row["in_channel"]) == (None, "sms")


# ------------------------------------------------------------------------------------------------ rate limit

def _forwarded(server, ip, n, client, *, until_refused=False):
    """``n`` beacons from ``ip`` (behind the local proxy); with ``until_refused``, no more after the first 429."""
    statuses = []
    for _ in range(n):
        body = json.dumps(view()).encode()
        statuses.append(client.post(COLLECT, content=body, headers={
            "origin": ORIGIN, "user-agent": FIREFOX, "content-type": "text/plain", "x-forwarded-for": ip}))
        if until_refused and statuses[-1].status_code == 429:
            break
    return statuses


def test_a_client_gets_its_burst_of_20_then_429_with_retry_after_and_nothing_stored(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        before = count(server)
        started = time.monotonic()
        # Until the first 429, not a fixed 30: at 4/s, 30 requests spread over 2.5 s (a slow moment) would all pass.
        answers = _forwarded(server, "198.51.100.41", 200, client, until_refused=True)
        elapsed = time.monotonic() - started
        statuses = [a.status_code for a in answers]
        accepted = statuses.count(204)
        assert statuses[:20] == [204] * 20
        assert 20 <= accepted <= 20 + 4 * elapsed + 1, statuses
        assert set(statuses) == {204, 429}
        limited = next(a for a in answers if a.status_code == 429)
        assert int(limited.headers["retry-after"]) >= 1
        assert REFUSAL.match(limited.text), limited.text
        assert "set-cookie" not in limited.headers
        assert count(server) == before + accepted
        # another address is not limited by this one's burst
        assert [a.status_code for a in _forwarded(server, "198.51.100.42", 3, client)] == [204] * 3
        # after Retry-After, the client may send again
        time.sleep(int(limited.headers["retry-after"]) + 0.1)
        assert _forwarded(server, "198.51.100.41", 1, client)[0].status_code == 204


@pytest.fixture(scope="module")
def slow_refill(tmp_path_factory):
    """A collector whose buckets refill once in 1,000 s, so that which request is refused does not depend on how
    fast this machine sends them (at the default 4/s, a request a few milliseconds late may find a new token)."""
    tmp = tmp_path_factory.mktemp("slow_refill")
    db = tmp / "darksocial.db"
    cli("site", "add", "blog", "--origin", ORIGIN, str(db))
    srv = Server(db, tmp / "serve.log", "--rate-limit", "0.001", "--rate-burst", "20")
    srv.start()
    yield srv
    srv.stop()


def test_an_ipv6_client_is_limited_per_64(slow_refill):
    server = slow_refill
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert [a.status_code for a in _forwarded(server, "2001:db8:7:1::1", 21, client)] == [204] * 20 + [429]
        assert _forwarded(server, "2001:db8:7:1:ffff:ffff:ffff:ffff", 1, client)[0].status_code == 429
        for same_64 in ("2001:DB8:7:1::2", "2001:0db8:0007:0001:0000:0000:0000:0003", "2001:db8:7:1:0:0:0:4"):
            assert _forwarded(server, same_64, 1, client)[0].status_code == 429, same_64
        assert _forwarded(server, "2001:db8:7:2::1", 1, client)[0].status_code == 204


def test_loopback_clients_without_forwarded_for_are_not_limited(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        statuses = [client.post(COLLECT, content=json.dumps(view()).encode(), headers={
            "origin": ORIGIN, "user-agent": FIREFOX, "content-type": "text/plain"}).status_code for _ in range(45)]
    assert statuses == [204] * 45


def test_a_limited_client_is_answered_429_before_its_body_is_read(slow_refill):
    server = slow_refill
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert [a.status_code for a in _forwarded(server, "198.51.100.43", 21, client)][-1] == 429
    head = (f"POST {COLLECT} HTTP/1.1\r\nHost: x\r\nOrigin: {ORIGIN}\r\nUser-Agent: {FIREFOX}\r\n"
            "Content-Type: text/plain\r\nX-Forwarded-For: 198.51.100.43\r\nContent-Length: 1000\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=READ_TIMEOUT / 2) as sock:
        sock.sendall(head)  # no body at all
        assert sock.recv(4096).startswith(b"HTTP/1.1 429 ")


# ------------------------------------------------------------------------------------------------ slow clients

def _until_closed(sock: socket.socket, started: float) -> tuple[float, bytes]:
    data = b""
    sock.settimeout(READ_TIMEOUT + 10)
    while True:
        try:
            chunk = sock.recv(4096)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return time.monotonic() - started, data


def test_slow_and_idle_connections_are_closed_on_time_and_real_events_still_pass(server):
    body = json.dumps(view()).encode()
    head = (f"POST {COLLECT} HTTP/1.1\r\nHost: x\r\nOrigin: {ORIGIN}\r\nUser-Agent: {FIREFOX}\r\n"
            "Content-Type: text/plain\r\n").encode()
    full = head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
    openings = {
        "nothing": b"",
        "half_headers": f"POST {COLLECT} HTTP/1.1\r\nHost: x\r\n".encode(),
        "half_body": head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:10],
        "half_chunked": head + b"Transfer-Encoding: chunked\r\n\r\n5\r\n{\"k\":",
        "drip": full[:1],
        "idle_after_a_beacon": full,
    }
    results: dict[str, tuple[float, bytes]] = {}

    def open_(name):
        sock = socket.create_connection(("127.0.0.1", server.port))
        started = time.monotonic()
        if name == "drip":  # a byte every 0.25 s: bytes keep coming, the request never completes in time
            def drip():
                for byte in full[1:]:
                    time.sleep(0.25)
                    try:
                        sock.send(bytes([byte]))
                    except OSError:
                        return
            threading.Thread(target=drip, daemon=True).start()
        sock.sendall(openings[name])
        results[name] = _until_closed(sock, started)
        sock.close()

    threads = [threading.Thread(target=open_, args=(name,)) for name in openings]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    started = time.monotonic()
    assert post(server, view()).status_code == 204  # a real visitor during the stall
    assert time.monotonic() - started < 1
    for thread in threads:
        thread.join(30)
    for name in ("nothing", "half_headers", "half_body", "half_chunked", "drip"):
        elapsed, data = results[name]
        assert READ_TIMEOUT - 0.5 <= elapsed <= READ_TIMEOUT + 2, (name, elapsed)
        assert not re.match(rb"HTTP/1\.1 2", data), (name, data)
    elapsed, data = results["idle_after_a_beacon"]
    assert data.startswith(b"HTTP/1.1 204 ")
    assert 5 - 0.5 <= elapsed <= 5 + 2.5, elapsed  # "closes idle keep-alive connections after 5 s"


def test_past_max_connections_the_longest_waiting_socket_is_closed_and_visitors_still_get_in(tmp_path):
    db = tmp_path / "crowded.db"
    cli("site", "add", "blog", "--origin", ORIGIN, str(db))
    # a long read timeout, so that only the connection limit can close a silent socket here
    crowded = Server(db, tmp_path / "crowded.log", "--max-connections", "4", "--read-timeout", "60")
    crowded.start()
    silent: list[socket.socket] = []
    seen_closed: set[int] = set()

    def closed_by_server(wait: float, until: int) -> int:
        """How many silent sockets the server has closed, waiting up to ``wait`` s for ``until`` of them."""
        deadline = time.monotonic() + wait
        while True:
            for index, sock in enumerate(silent):
                if index not in seen_closed and select.select([sock], [], [], 0)[0]:
                    try:
                        if sock.recv(1) == b"":
                            seen_closed.add(index)
                    except OSError:
                        seen_closed.add(index)
            if len(seen_closed) >= until or time.monotonic() > deadline:
                return len(seen_closed)
            time.sleep(0.02)

    try:
        # One after the other, so that "longest waiting" is well defined: the server stamps a connection with its
        # event loop's time (milliseconds, once per loop turn), so two connections it accepts in one turn (a
        # moment's stall on a loaded machine) would tie. Past the 4th, each new one closes the oldest: seeing
        # that close shows the server took the connection in before the next one is opened.
        for n in range(8):
            silent.append(socket.create_connection(("127.0.0.1", crowded.port)))
            time.sleep(0.05)
            if n >= 4:
                assert closed_by_server(30, until=n - 3) == n - 3, seen_closed
        started = time.monotonic()
        assert post(crowded, view()).status_code == 204  # a real visitor past the limit
        assert time.monotonic() - started < 3
        closed_by_server(30, until=5)  # the visitor's connection closes the oldest one left
        time.sleep(0.3)  # time for a wrong extra close to show
        closed_by_server(0, until=8)
        closed = [index in seen_closed for index in range(len(silent))]
        assert closed == [True] * 5 + [False] * 3, closed  # 8 silent + 1 visitor - 4 allowed, the oldest first
    finally:
        for sock in silent:
            sock.close()
        crowded.stop()


def test_a_beacon_answers_the_same_bytes_whether_it_takes_the_fast_path_or_asgi(server):
    """README: a beacon in its usual form (Content-Length) is answered without the ASGI layers, "the same answers
    byte for byte"; a chunked body goes through ASGI."""
    head = (f"POST {COLLECT} HTTP/1.1\r\nHost: x\r\nOrigin: {ORIGIN}\r\nUser-Agent: {FIREFOX}\r\n"
            "Content-Type: text/plain\r\nConnection: close\r\n").encode()

    def exchange(data: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(data)
            answer = _until_closed(sock, time.monotonic())[1]
        return re.sub(rb"(?im)^date: [^\r\n]*\r\n", b"", answer)

    bodies = [json.dumps(view(t="FASTASGI01")).encode(), json.dumps(view(t="bad")).encode(),
              json.dumps(view(s="nope")).encode(), b"{" * (MAX_BODY + 5), b"\xff", json.dumps(view()).encode()]
    for body in bodies:
        plain = exchange(head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        chunked = exchange(head + b"Transfer-Encoding: chunked\r\n\r\n" + f"{len(body):x}\r\n".encode() + body
                           + b"\r\n0\r\n\r\n")
        assert plain == chunked, (plain, chunked)
        assert re.match(rb"HTTP/1\.1 (204|400|403|413) ", plain), plain


def test_pipelined_beacons_are_each_answered_in_order_and_stored(server):
    good1, good2 = token(), token()
    head = (f"POST {COLLECT} HTTP/1.1\r\nHost: x\r\nOrigin: {ORIGIN}\r\nUser-Agent: {FIREFOX}\r\n"
            "Content-Type: text/plain\r\n").encode()
    bodies = [json.dumps(view(t=good1)).encode(), json.dumps(view(t="bad")).encode(),
              json.dumps(view(t=good2)).encode()]
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        last = len(bodies) - 1  # the last one asks the server to close, so that the answers end there
        sock.sendall(b"".join(head + (b"Connection: close\r\n" if n == last else b"")
                              + f"Content-Length: {len(b)}\r\n\r\n".encode() + b for n, b in enumerate(bodies)))
        answer = _until_closed(sock, time.monotonic())[1]
    assert re.findall(rb"HTTP/1\.1 (\d{3})", answer) == [b"204", b"400", b"204"]
    assert {good1, good2} <= stored_tokens(server)


def test_two_origin_headers_are_not_a_way_past_the_origin_check(server):
    body = json.dumps(view()).encode()
    head = (f"POST {COLLECT} HTTP/1.1\r\nHost: x\r\nOrigin: {ORIGIN}\r\nOrigin: https://attacker.example\r\n"
            f"User-Agent: {FIREFOX}\r\nContent-Type: text/plain\r\nConnection: close\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    before = count(server)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head + body)
        answer = _until_closed(sock, time.monotonic())[1]
    assert answer.startswith(b"HTTP/1.1 403 ") or answer.startswith(b"HTTP/1.1 400 "), answer
    assert count(server) == before


@pytest.mark.parametrize("forwarded", ["", "unknown", "999.1.1.1", "::::", "1.2.3.4, garbage", "x" * 8000,
                                       "[2001:db8::1]:443", "2001:db8::1%eth0", "198.51.100.1, , ,"])
def test_a_garbage_forwarded_for_never_causes_a_5xx(server, forwarded):
    t = token()
    response = post(server, view(t=t), x_forwarded_for=forwarded)
    assert response.status_code == 204, response.text
    assert rows(server, "token = ?", t) != []


# --------------------------------------------------------------------------------------------------- privacy

@pytest.mark.parametrize("path", ["/darksocial/events", "/darksocial/events.json", "/darksocial/events.csv",
                                  "/darksocial.db", "/darksocial?sql=select+*+from+events", "/darksocial/sites"])
def test_raw_events_are_never_readable_anonymously(server, path):
    response = httpx.get(server.url + path)
    assert response.status_code == 403
    assert "visitor0" not in response.text and "Firefox" not in response.text

def test_no_answer_of_the_collector_sets_a_cookie(server):
    answers = [post(server, view()), post(server, view(), ua="Twitterbot/1.0"), post(server, view(t="x")),
               post(server, view(), origin="https://attacker.example"), post(server, b"x" * (MAX_BODY + 1)),
               post(server, view(), content_type="text/html"),
               httpx.get(server.url + COLLECT), httpx.options(server.url + COLLECT, headers={
                   "origin": ORIGIN, "access-control-request-method": "POST"})]
    assert [a.headers.get_list("set-cookie") for a in answers] == [[]] * len(answers)


def test_cookieless_visitors_get_a_daily_pseudonym_never_the_address(server):
    ip, other_ip = "192.0.2.171", "192.0.2.172"
    other_ua = FIREFOX.replace("132.0", "133.0")

    def stored_visitor(site="blog", ip_=ip, ua=FIREFOX):
        t = token()
        origin = ORIGIN if site == "blog" else OTHER_ORIGIN
        event = {"k": "view", "s": site, "u": f"{origin}/p", "t": t}  # no v: cookieless mode
        assert post(server, event, origin=origin, ua=ua, x_forwarded_for=ip_).status_code == 204
        return rows(server, "token = ?", t)[0]["visitor"]

    first, again = stored_visitor(), stored_visitor()
    assert first and first == again
    assert len({first, stored_visitor(ip_=other_ip), stored_visitor(ua=other_ua), stored_visitor(site="other")}) == 4
    # a digest, never the address: (a hex digest holds "192" one time in 230, so that is no test of it)
    assert re.fullmatch(r"[0-9a-f]{20}", first) and ip not in first
    salts = Path(f"{server.db}-salts")
    assert salts.exists() and salts.stat().st_mode & 0o777 == 0o600
    assert not Path(f"{salts}-wal").exists()  # "no WAL"
    with httpx.Client(base_url=server.url) as client:  # Datasette never serves the salts file
        assert "salt" not in client.get("/-/databases.json").text.lower()
        assert client.get("/darksocial-salts").status_code in (403, 404)


def test_no_ip_address_user_agent_or_full_referrer_is_stored_or_logged(server):
    ip, ipv6 = "203.0.113.199", "2001:db8:abcd:12::9"
    ua = "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0 DistinctiveAgentMarker/7.7"
    referrer = "https://ref.example.net/secret-referrer-path/page?who=someone"
    for address in (ip, ipv6):
        assert post(server, view(r=referrer), ua=ua, x_forwarded_for=address).status_code == 204
        assert post(server, {"k": "view", "s": "blog", "u": f"{ORIGIN}/p", "t": token()}, ua=ua,
                    x_forwarded_for=address).status_code == 204
        assert post(server, view(t="bad"), ua=ua, x_forwarded_for=address).status_code == 400
    time.sleep(0.3)
    files = [p for p in server.db.parent.iterdir() if p.name.startswith(server.db.name)]
    assert server.db in files
    data = b"".join(p.read_bytes() for p in files if p.is_file())
    log = server.log.read_bytes()
    for secret in (ip, ipv6, "2001:db8:abcd", ua, "DistinctiveAgentMarker", "secret-referrer-path", "who=someone"):
        assert secret.encode() not in data, secret
        assert secret.encode() not in log, secret
    assert b"POST " not in log and COLLECT.encode() + b" HTTP" not in log  # no access log at all


# ------------------------------------------------------------------------------------------------- durability

def test_the_events_database_is_in_wal_mode(server):
    with sqlite3.connect(server.db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_every_acknowledged_event_is_committed_when_the_204_arrives(server):
    for _ in range(15):
        t = token()
        assert post(server, view(t=t)).status_code == 204
        assert rows(server, "token = ?", t) != []  # read by another connection right after the answer


def test_a_burst_of_concurrent_requests_loses_nothing_that_was_acknowledged(server):
    acknowledged: list[str] = []
    lock = threading.Lock()

    def client_run(n):
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for i in range(n):
                batch = [view() for _ in range(1 + i % 3)]
                response = client.post(COLLECT, content=json.dumps(batch).encode(), headers={
                    "origin": ORIGIN, "user-agent": FIREFOX, "content-type": "text/plain"})
                if response.status_code == 204:
                    with lock:
                        acknowledged.extend(e["t"] for e in batch)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(client_run, [30] * 8))
    assert len(acknowledged) == 8 * sum(1 + i % 3 for i in range(30))  # every one answered 204
    assert set(acknowledged) <= stored_tokens(server)


def test_events_acknowledged_while_the_write_lock_is_held_reach_events_when_it_is_free(server):
    tokens = [token() for _ in range(3)]
    conn = sqlite3.connect(server.db, isolation_level=None, timeout=30)
    try:
        conn.execute("BEGIN IMMEDIATE")  # as an attribution run applying its result
        for t in tokens:
            started = time.monotonic()
            assert post(server, view(t=t)).status_code == 204
            assert time.monotonic() - started < 2  # the inbox, not a wait for the lock
        conn.execute("ROLLBACK")
    finally:
        conn.close()
    deadline = time.monotonic() + 10
    while not set(tokens) <= stored_tokens(server):
        assert time.monotonic() < deadline, "acknowledged events never reached the events table"
        time.sleep(0.1)


def test_nothing_acknowledged_is_lost_across_kill_9_and_restart(server):
    """Runs last: SIGKILLs the module's server mid-stream (with events still in the inbox) and restarts it."""
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def stream():
        with httpx.Client(base_url=server.url, timeout=10) as client:
            while not stop.is_set():
                event = view()
                try:
                    response = client.post(COLLECT, content=json.dumps(event).encode(), headers={
                        "origin": ORIGIN, "user-agent": FIREFOX, "content-type": "text/plain"})
                except httpx.TransportError:
                    return
                if response.status_code == 204:
                    with lock:
                        acknowledged.append(event["t"])

    threads = [threading.Thread(target=stream) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.8)
    in_inbox = [token() for _ in range(3)]
    conn = sqlite3.connect(server.db, isolation_level=None, timeout=30)
    conn.execute("BEGIN IMMEDIATE")
    try:
        for t in in_inbox:
            assert post(server, view(t=t)).status_code == 204
        server.kill9()  # mid-stream, with the lock still held: these three are in the inbox only
    finally:
        stop.set()
        conn.execute("ROLLBACK")
        conn.close()
    for thread in threads:
        thread.join(30)
    assert len(acknowledged) > 10
    server.start()
    assert post(server, view()).status_code == 204
    deadline = time.monotonic() + 15
    while True:
        missing = (set(acknowledged) | set(in_inbox)) - stored_tokens(server)
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert missing == set()
    assert os.path.exists(server.db)
