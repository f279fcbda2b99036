"""The ingest function every HTTP front calls: statuses, filtering and pseudonymisation (no HTTP here)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import json
import sqlite3

import pytest
from crawlerdetect import CrawlerDetect

from darksocial import events, privacy, store, useragents
from darksocial.collector import Collector, normalise_origin

ORIGIN = "https://example.com"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
IPHONE_INSTAGRAM = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                    "Mobile/15E148 Instagram 357.0.0.0")
ANDROID_FACEBOOK = ("Mozilla/5.0 (Linux; Android 14; SM-S918B; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 "
                    "Chrome/131.0.0.0 Mobile Safari/537.36 [FBAN/EMA;FBLC/en_US;FBAV/440.0.0.0]")
IPAD = ("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 "
        "Mobile/15E148 Safari/604.1")
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
HEADLESS = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 "
            "Safari/537.36")


class Clock:
    def __init__(self):
        self.now = dt.datetime(2026, 3, 1, 12, tzinfo=dt.timezone.utc)

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def collector(tmp_path, clock):
    path = tmp_path / "ds.db"
    db = store.open_db(path)
    store.register_site(db, "blog", [ORIGIN])
    store.register_site(db, "private", [ORIGIN], respect_dnt=True)
    db.close()
    c = Collector(path, clock=clock)
    yield c
    c.close()


def view(**fields) -> dict:
    return {"k": "view", "s": "blog", "u": f"{ORIGIN}/post", "t": "AAAAAAAAAA", **fields}


def send(collector, payload, **headers):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    request = {"origin": ORIGIN, "user_agent": FIREFOX, "ip": "203.0.113.9", "content_type": "text/plain", **headers}
    return collector.ingest(body, **request)


def rows(collector) -> list[dict]:
    return list(store.open_db(collector.path).query("SELECT * FROM events ORDER BY id"))


def test_valid_events_are_stored_with_coarse_agent_facts(collector):
    share = {"k": "share", "s": "blog", "v": "visitor0001", "u": f"{ORIGIN}/post", "t": "BBBBBBBBBB",
             "p": "AAAAAAAAAA", "c": "wa"}
    result = send(collector, [view(v="visitor0001", r="https://www.google.com/search?q=me", i="CCCCCCCCCC.tg"), share],
                  user_agent=IPHONE_INSTAGRAM)
    assert (result.status, result.stored) == (204, 2)
    first, second = rows(collector)
    assert first["kind"] == "view" and first["visitor"] == "visitor0001"
    assert (first["referrer_host"], first["in_token"], first["in_channel"]) == ("www.google.com", "CCCCCCCCCC", "tg")
    assert (first["browser"], first["device"], first["in_app"]) == ("Instagram", "mobile", "instagram")
    assert (second["kind"], second["parent"], second["channel"]) == ("share", "AAAAAAAAAA", "wa")
    assert first["ts"] == "2026-03-01T12:00:00.000000Z"


@pytest.mark.parametrize("ua, expected", [
    (FIREFOX, ("Firefox", "desktop", None)),
    (ANDROID_FACEBOOK, ("Facebook", "mobile", "facebook")),
    (IPAD, ("Safari", "tablet", None)),
    ("Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
     ("Chrome", "tablet", None)),
    ("Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile "
     "Safari/537.36 Telegram-Android/11.2.0", ("Telegram", "mobile", "telegram")),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 "
     "MicroMessenger/8.0.38(0x1800262c) NetType/WIFI Language/zh_CN", ("WeChat", "mobile", "wechat")),
    ("Mozilla/5.0 (Linux; Android 13; SM-A145R; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 "
     "Chrome/120.0.6099.116 Mobile Safari/537.36 Viber/20.8.0.0", ("Viber", "mobile", "viber")),
    ("Mozilla/5.0 (Linux; Android 12; SM-N986N; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 "
     "Chrome/106.0.5249.126 Mobile Safari/537.36;KAKAOTALK 2410030", ("KakaoTalk", "mobile", "kakaotalk")),
    # Not a browser: an app's own fetcher is no in-app browser, whatever it names
    ("WhatsApp/2.23.20.0 A", ("Other", "desktop", None)),
])
def test_user_agents_are_reduced_to_family_device_and_in_app(ua, expected):
    agent = useragents.describe(ua)
    assert (agent.browser, agent.device, agent.in_app) == expected


@pytest.mark.parametrize("payload, headers, status, reason", [
    (b"x" * (events.MAX_BODY_BYTES + 1), {}, 413, "limit"),
    (view(), {"content_length": str(events.MAX_BODY_BYTES + 1)}, 413, "limit"),
    (view(), {"content_length": "9" * 5000}, 413, "limit"),
    (view(), {"content_type": "application/x-www-form-urlencoded"}, 415, "Content-Type"),
    (view(), {"content_type": None}, 415, "Content-Type"),
    (b"not json", {}, 400, "not JSON"),
    (b"\xff\xfe{}", {}, 400, "UTF-8"),
    (b"[]", {}, 400, "empty"),
    ([view()] * (events.MAX_EVENTS_PER_REQUEST + 1), {}, 400, "limit"),
    (view(u=["https://example.com/"]), {}, 400, "must be a string"),
    (view(u="javascript:alert(1)"), {}, 400, "http(s)"),
    (view(u="https://" + "a" * 9000 + ".com/"), {}, 400, "limit"),
    (view(t="short"), {}, 400, "token"),
    (view(i="AAAA!"), {}, 400, "incoming"),
    (view(zz=1), {}, 400, "unknown field"),
    ({"k": "share", "s": "blog", "u": f"{ORIGIN}/", "t": "AAAAAAAAAA", "p": "BBBBBBBBBB", "c": "myspace"}, {}, 400,
     "channel"),
    ({"k": "goal", "s": "blog", "g": "signup", "gv": "lots"}, {}, 400, "finite number"),
    (42, {}, 400, "JSON object"),
    (view(s="elsewhere"), {}, 403, "unknown site"),
    (view(), {"origin": "https://evil.example"}, 403, "not allowed"),
    (view(), {"origin": None}, 403, "Origin: missing"),
    (view(u="https://evil.example/phish-login"), {}, 403, "u: 'https://evil.example/phish-login' is not on an origin"),
    ([view(), view(u="http://example.com/post")], {}, 403, "event[1].u:"),
    ([view(), view(), view(s="elsewhere")], {}, 403, "event[2].s: unknown site 'elsewhere'"),
    ([view(), "x"], {}, 400, "event[1]: an event must be a JSON object, not a string"),
    (view(), {"origin": "null"}, 403, "not allowed"),
])
def test_bad_input_gets_a_4xx_with_a_reason_and_stores_nothing(collector, payload, headers, status, reason):
    result = send(collector, payload, **headers)
    assert result.status == status
    assert reason in result.reason
    assert rows(collector) == []


@pytest.mark.parametrize("ua", [
    GOOGLEBOT, HEADLESS, "curl/8.5.0", "", None, "Mozilla/5.0 " + "x" * 2000,
    # the chat apps' link-preview fetchers, which the in-app markers must not make people
    "WhatsApp/2.23.20.0 A", "WhatsApp/2.2350.52 i", "TelegramBot (like TwitterBot)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
])
def test_bots_are_answered_202_and_not_stored(collector, ua):
    result = send(collector, view(), user_agent=ua)
    assert result.status == 202 and "bot" in result.reason
    assert rows(collector) == []


def test_do_not_track_and_gpc_are_honoured_only_where_the_site_asks(collector):
    assert send(collector, view(s="private"), dnt="1").status == 202
    assert send(collector, view(s="private"), gpc="1").status == 202
    assert rows(collector) == []
    assert send(collector, view(s="blog"), dnt="1", gpc="1").status == 204
    assert send(collector, view(s="private"), dnt="0").status == 204
    assert [r["site"] for r in rows(collector)] == ["blog", "private"]


def test_cookieless_visitor_is_a_daily_salted_hash_of_site_ip_and_agent(collector, clock):
    send(collector, view())
    send(collector, view(t="BBBBBBBBBB"))
    send(collector, view(t="CCCCCCCCCC"), ip="203.0.113.10")
    send(collector, view(t="DDDDDDDDDD"), user_agent=IPAD)
    send(collector, view(s="private", t="EEEEEEEEEE"))
    clock.now += dt.timedelta(days=1)
    send(collector, view(t="FFFFFFFFFF"))
    a, same, other_ip, other_ua, other_site, next_day = (r["visitor"] for r in rows(collector))
    assert a == same
    assert len({a, other_ip, other_ua, other_site, next_day}) == 5
    salts = dict(salt_rows(collector))
    assert a == privacy.pseudonym(salts["2026-03-01"], "blog", "203.0.113.9", FIREFOX)
    assert next_day == privacy.pseudonym(salts["2026-03-02"], "blog", "203.0.113.9", FIREFOX)
    assert events.VISITOR_RE.fullmatch(a)  # a valid visitor id like the tracker's

    clock.now += dt.timedelta(days=2)
    send(collector, view(t="GGGGGGGGGG"))
    assert set(dict(salt_rows(collector))) == {"2026-03-04"}


def salt_rows(collector) -> list[tuple[str, str]]:
    with sqlite3.connect(store.salts_path(collector.path)) as conn:
        return conn.execute("SELECT day, salt FROM salts").fetchall()


def test_neither_ip_nor_user_agent_is_stored(collector):
    send(collector, view(), ip="198.51.100.123", user_agent=ANDROID_FACEBOOK)
    send(collector, view(v="visitor0001", t="BBBBBBBBBB"), ip="198.51.100.123", user_agent=ANDROID_FACEBOOK)
    assert len(rows(collector)) == 2
    collector.close()
    data = b"".join(p.read_bytes() for p in collector.path.parent.glob("ds.db*"))
    assert b"198.51.100.123" not in data
    assert ANDROID_FACEBOOK.encode() not in data and b"SM-S918B" not in data


def test_a_content_length_that_is_not_a_number_is_ignored(collector):
    assert send(collector, view(), content_length="\u00b2").status == 204  # '²'.isdigit() is True, int('²') fails


def test_a_site_added_while_running_is_accepted_quickly(collector):
    assert send(collector, view(s="later")).status == 403
    store.register_site(store.open_db(collector.path), "later", [ORIGIN])
    collector._sites_read_at -= 1  # as if the reload interval for unknown sites had passed
    assert send(collector, view(s="later")).status == 204


@pytest.mark.parametrize("value, expected", [
    ("https://Example.COM", "https://example.com"),
    ("https://example.com:443/", "https://example.com"),
    ("http://localhost:8000", "http://localhost:8000"),
    ("http://[::1]:8000", "http://[::1]:8000"),
    ("example.com", None),
    ("https://example.com/path", None),
    ("ftp://example.com", None),
    ("https://example.com:99999", None),
    ("null", None),
    # Internationalised hosts in the ASCII form browsers send (UTS #46 non-transitional: ß stays, as xn--fa-hia).
    ("https://münchen.de", "https://xn--mnchen-3ya.de"),
    ("HTTPS://MÜNCHEN.DE:443/", "https://xn--mnchen-3ya.de"),
    ("https://XN--MNCHEN-3YA.de", "https://xn--mnchen-3ya.de"),
    ("https://faß.de", "https://xn--fa-hia.de"),
    ("https://例え。テスト:8443", "https://xn--r8jz45g.xn--zckzah:8443"),
])
def test_origins_are_normalised(value, expected):
    assert normalise_origin(value) == expected


IDN = "https://xn--mnchen-3ya.de"  # https://münchen.de, as browsers send it in Origin and location.href


@pytest.mark.parametrize("registered", ["https://münchen.de", IDN])
@pytest.mark.parametrize("sent", ["https://münchen.de", IDN])
def test_an_internationalised_origin_matches_in_either_spelling(tmp_path, clock, registered, sent):
    """A site registered with its Unicode name (as `site add` stored it before, or a row written directly) accepts
    what browsers send, the punycode form, and the other way round."""
    path = tmp_path / "ds.db"
    db = store.open_db(path)
    store.register_site(db, "idn", [registered])  # as stored by hand or by an earlier version
    db.close()
    c = Collector(path, clock=clock)
    try:
        result = send(c, view(s="idn", u=f"{sent}/straße/"), origin=sent)
        assert result.status == 204, result.reason
    finally:
        c.close()
    assert rows(c)[0]["site"] == "idn"


def test_site_add_stores_an_internationalised_origin_as_browsers_send_it(tmp_path):
    from click.testing import CliRunner

    from darksocial.cli import cli

    path = tmp_path / "ds.db"
    added = CliRunner().invoke(cli, ["site", "add", "idn", "--origin", "https://münchen.de", str(path)])
    assert added.exit_code == 0, added.output
    assert f'["{IDN}"]' in added.output
    made = CliRunner().invoke(cli, ["link", "create", "--name", "Rosa", "--url", "https://münchen.de/story",
                                    str(path)])
    # the link is keyed as its visits will be, in the form browsers send (they show it in Unicode)
    assert made.exit_code == 0 and made.output.startswith(f"{IDN}/story#ds="), made.output


def test_urls_are_stored_canonical_with_tracking_parameters_apart(collector):
    url = f"{ORIGIN}/post?id=7&utm_source=news&fbclid=AbC&email=alice%40example.com&page=2#ds=AAAAAAAAAA.wa"
    assert send(collector, view(u=url, v="visitor0001")).status == 204
    stored = rows(collector)[0]
    assert (stored["url"], stored["campaign_query"]) == (f"{ORIGIN}/post?id=7&page=2", "utm_source=news&fbclid=AbC")
    assert send(collector, view(u="HTTPS://EXAMPLE.com:443/post", t="BBBBBBBBBB")).status == 204
    assert rows(collector)[1]["url"] == f"{ORIGIN}/post" and rows(collector)[1]["campaign_query"] is None


def test_a_url_padded_by_tracking_parameters_is_judged_without_them(collector):
    # An ad's or a mail tool's link can be longer than the 2,048 characters a page URL may have once stored.
    padded = f"{ORIGIN}/post?id=7&utm_source=news&fbclid={'F' * 3000}&utm_content={'c' * 3000}"
    assert send(collector, view(u=padded, v="visitor0001")).status == 204
    stored = rows(collector)[0]
    assert stored["url"] == f"{ORIGIN}/post?id=7"
    # the campaign query keeps the whole parameters that fit in 2,048 characters
    assert stored["campaign_query"] == "utm_source=news"
    too_long = send(collector, view(u=f"{ORIGIN}/{'p' * 2100}?fbclid=x", t="BBBBBBBBBB"))
    assert (too_long.status, too_long.reason.split(" characters")[0]) == (400, "u: 2120")
    assert "without its tracking parameters" in too_long.reason and len(rows(collector)) == 1
    in_batch = send(collector, [view(t="CCCCCCCCCC"), view(u=f"{ORIGIN}/{'p' * 2100}", t="DDDDDDDDDD")])
    assert in_batch.status == 400 and in_batch.reason.startswith("event[1].u: ") and len(rows(collector)) == 1


def test_a_long_referrer_keeps_its_host_without_its_path_being_read(collector):
    referrer = "https://Mail.Example.org/inbox/" + "x" * 6000 + "\x01"
    assert send(collector, view(r=referrer)).status == 204
    assert rows(collector)[0]["referrer_host"] == "mail.example.org"


def test_a_sites_url_rules_apply(collector):
    db = store.open_db(collector.path)
    store.register_site(db, "blog", [ORIGIN], strip_params=["ref"], keep_params=["id", "ref"])
    collector._sites_read_at = float("-inf")
    assert send(collector, view(u=f"{ORIGIN}/p?ref=tw&id=3&junk=1&utm_medium=x")).status == 204
    stored = rows(collector)[0]
    # ref is the site's tracking parameter and kept: in the page's identity, and still in the campaign query
    assert (stored["url"], stored["campaign_query"]) == (f"{ORIGIN}/p?ref=tw&id=3", "ref=tw&utm_medium=x")


def test_in_app_browsers_are_people_even_when_the_crawler_list_names_their_app(collector):
    whatsapp = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                "Mobile/15E148 WhatsApp/2.24.1")
    assert CrawlerDetect().is_crawler(whatsapp)  # what made them 202 before
    assert send(collector, view(), user_agent=whatsapp).status == 204
    assert (rows(collector)[0]["browser"], rows(collector)[0]["in_app"]) == ("WhatsApp", "whatsapp")


@pytest.mark.parametrize("ua", [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 "
    "alice.smith@example.com/1.0",
    "SecretCorpApp/3.1 (user 12345; iPhone; iOS 17.0)",
])
def test_browser_family_comes_from_a_closed_list(collector, ua):
    assert send(collector, view(), user_agent=ua).status == 204
    assert rows(collector)[0]["browser"] in useragents.BROWSER_FAMILIES


def test_rate_limit_per_client_answers_429_with_retry_after(collector, clock):
    answers = [send(collector, view(t=f"R{i:09d}"), ip="198.51.100.7").status for i in range(25)]
    assert answers == [204] * 20 + [429] * 5  # a burst of 20, then 4 per second
    limited = send(collector, view(), ip="198.51.100.7")
    assert limited.reason.startswith("client:") and limited.retry_after >= 1
    assert send(collector, view(t="OTHERIP000"), ip="198.51.100.8").status == 204  # other clients are not affected
    assert send(collector, view(t="SAME64NET0"), ip="2001:db8::1").status == 204
    for _ in range(19):
        send(collector, view(), ip="2001:db8::2")
    assert send(collector, view(), ip="2001:db8::ffff").status == 429  # an IPv6 /64 is one client
    clock.now += dt.timedelta(seconds=1)
    assert [send(collector, view(t=f"S{i:09d}"), ip="198.51.100.7").status for i in range(5)] == [204] * 4 + [429]
    assert all(send(collector, view(t=f"L{i:09d}"), ip="127.0.0.1").status == 204 for i in range(30))  # exempt


def test_a_database_failure_is_a_503_logged_at_most_every_few_seconds(collector, clock, caplog, monkeypatch):
    def broken(now):
        raise sqlite3.OperationalError("disk I/O error")

    clock.now += dt.timedelta(days=1)  # the first request of a new UTC day fetches its salt
    monkeypatch.setattr(collector.salt_store, "salt", broken)
    with caplog.at_level("ERROR", logger="darksocial.collector"):
        answers = [send(collector, view(t=f"D{i:09d}"), ip=f"198.51.100.{i}") for i in range(5)]
    assert {a.status for a in answers} == {503}
    assert all(a.reason.startswith("server:") for a in answers)
    assert len(caplog.records) == 1 and "disk I/O error" in caplog.text and "Traceback" not in caplog.text
    monkeypatch.undo()
    collector.failures.every = 0
    assert send(collector, view(t="OKAGAIN000")).status == 204


def test_salts_are_purged_on_demand_without_traffic(collector, clock):
    send(collector, view())
    assert [day for day, _ in salt_rows(collector)] == ["2026-03-01"]
    clock.now += dt.timedelta(days=3)
    assert collector.purge_salts() == 1
    assert salt_rows(collector) == [] and collector._salts == {}


def test_an_event_s_fields_are_the_event_columns_from_kind_to_value():
    # Collector.check builds each row from the event's fields in order (ts, *event, user agent, campaign query).
    assert store.EVENT_COLUMNS[1:1 + len(events.Event._fields)] == events.Event._fields


def test_a_revoked_ambassador_link_credits_nobody_from_then_on(collector):
    from darksocial import links

    db = store.open_db(collector.path)
    token, _ = links.create_link(db, "Rosa Diaz", f"{ORIGIN}/story", site="blog", channel="wa")
    request = {"origin": ORIGIN, "user_agent": FIREFOX, "ip": "192.0.2.7", "content_type": "text/plain"}

    plain, _ = links.create_link(db, "Amy Santiago", f"{ORIGIN}/story", site="blog")

    def arrive(visitor: str, incoming: str):
        body = json.dumps({"k": "view", "s": "blog", "v": visitor, "u": f"{ORIGIN}/story",
                           "t": "AAAAAAAA" + visitor[0] + visitor[-1], "i": incoming}).encode()
        assert collector.ingest(body, **request).status == 204

    arrive("before00000001", f"{token}.wa")
    links.revoke_link(db, token)
    links.revoke_link(db, plain)
    collector._sites_read_at = float("-inf")  # the few-second cache of sites and links has run out
    arrive("after000000001", f"{token}.wa")
    # The link's own channel, whatever code the URL carried (none, or another typed by hand); a link without a
    # channel keeps the visit's code.
    arrive("after000000002", token)
    arrive("after000000003", f"{token}.tg")
    arrive("after000000004", f"{plain}.sms")
    rows = db.execute("SELECT visitor, in_token, in_channel FROM events ORDER BY id").fetchall()
    db.close()
    assert rows == [("before00000001", token, "wa"), ("after000000001", None, "wa"), ("after000000002", None, "wa"),
                    ("after000000003", None, "wa"), ("after000000004", None, "sms")]


def test_ingest_nowait_answers_as_ingest_does_through_a_callback(collector, clock):
    async def answer(payload, **headers):
        loop = asyncio.get_running_loop()
        result = loop.create_future()
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        request = {"origin": ORIGIN, "user_agent": FIREFOX, "ip": "203.0.113.9", "content_type": "text/plain",
                   **headers}
        collector.ingest_nowait(body, result.set_result, loop=loop, **request)
        return await asyncio.wait_for(result, 10)

    async def main():
        first = await answer(view(t="NOWAIT0001"))  # a new day's first request: the salt is read off the loop
        return first, [await answer(p, **h) for p, h in (
            (view(t="NOWAIT0002"), {}), (b"nope", {}), (view(), {"origin": "https://evil.example"}),
            (view(), {"user_agent": GOOGLEBOT}))]

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # a loop of its own (browser tests keep one here)
        first, rest = pool.submit(asyncio.run, main()).result(30)
    assert [r.status for r in (first, *rest)] == [204, 204, 400, 403, 202]
    assert first.stored == 1 and rest[1].reason == send(collector, b"nope").reason
    assert {r["token"] for r in rows(collector)} >= {"NOWAIT0001", "NOWAIT0002"}
