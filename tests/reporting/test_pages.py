"""The darksocial pages as an analyst meets them (in process): the dashboard's headline numbers against a direct SQL
computation on the visits and shares, names an analyst gives people (CSRF, analysts only, kept across attribution
reruns), the influencer, story and cascade pages, and canned reports that read like reports."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import sqlite3

import pytest

from darksocial import analysts, attribution, store
from reporting import names

WINDOW = {"days": "30"}


def direct_headline(path, since: str, until: str) -> dict:
    """The headline numbers computed from the per-visit and per-share rows, not from the report's rollups."""
    with sqlite3.connect(path, timeout=30) as conn:
        one = lambda sql: conn.execute(sql, (since, until)).fetchone()[0]  # noqa: E731
        visits = one("select count(*) from visits where date between ? and ?")
        tracked = one("select count(*) from visits where medium = 'dark' and tracked = 1 and date between ? and ?")
        estimated = one("select count(*) from visits where estimated = 1 and date between ? and ?")
        shares = one("select count(*) from shares where date between ? and ?")
        clicks = one("select count(*) from visits where click = 1 and share_token in "
                     "(select token from shares where date between ? and ?)")
        reached = one("select count(distinct person) from visits where click = 1 and date between ? and ?")
    return {"visits": visits, "dark_tracked": tracked, "dark_estimated": estimated, "shares": shares,
            "clicks_per_share": round(clicks / shares, 2), "people_reached": reached}


def headline_values(page: str) -> dict:
    return {key: value for key, value in re.findall(r'data-key="([a-z_]+)" data-value="([^"]*)"', page)}


def test_the_dashboard_headline_equals_a_direct_computation(inproc, scenario_db):
    page = inproc.get("/-/darksocial/dashboard", signed_in=True, **WINDOW)
    assert page.status_code == 200, page.text
    shown = headline_values(page.text)
    today = dt.datetime.now(dt.timezone.utc).date()
    expected = direct_headline(scenario_db, (today - dt.timedelta(days=29)).isoformat(), today.isoformat())
    assert expected["visits"] == 8 and expected["shares"] == 4  # the scenario, less Hank's old visit
    for key, value in expected.items():
        assert float(shown[key]) == value, key
    assert float(shown["dark_tracked_pct"]) == round(100 * expected["dark_tracked"] / expected["visits"], 1)
    assert shown["conversions"] == "1"  # Dan's signup, in Alice's cascade


def test_the_dashboard_panels_link_to_people_stories_and_cascades(inproc, scenario):
    page = html.unescape(inproc.get("/-/darksocial/dashboard", signed_in=True).text)
    assert "vs previous period" in page or "no earlier data" in page
    for preset in ("7 days", "30 days", "90 days"):
        assert preset in page
    assert ">Alice Liddell</a>" in page and 'href="/-/darksocial/influencer?person=x%3Aalice-1"' in page
    assert ">Story A</a>" in page and "/-/darksocial/story?url=https%3A%2F%2Fblog.example%2Fstory-a" in page
    assert f"/-/darksocial/cascade?share={scenario.SHARE_A}" in page
    assert ">signup<" in page.replace("<td>signup</td>", ">signup<")
    assert "<script" not in page.split("<body")[1].split("</footer>")[0].replace("darksocial-time.js", "")


def test_the_site_picker_shows_site_names(inproc, scenario_db):
    page = inproc.get("/-/darksocial/dashboard", signed_in=True).text
    assert '<option value="blog"' in page
    assert inproc.get("/-/darksocial/dashboard", signed_in=True, days="8").status_code == 400
    assert "since must be a date" in inproc.get("/-/darksocial/dashboard", signed_in=True, since="x").text


@pytest.mark.parametrize("path", ["/-/darksocial/story", "/-/darksocial/dashboard"])
def test_a_window_of_more_than_ten_years_is_refused_before_any_work(inproc, scenario_db, path):
    # A chart has a point per day: 0001..9999 held the event loop (and so the collector) for seconds per request.
    params = {"url": "https://blog.example/story-a", "since": "0001-01-01", "until": "9999-12-31"}
    refused = inproc.get(path, signed_in=True, **params)
    assert refused.status_code == 400 and "at most 3,653 days (10 years)" in refused.text
    assert inproc.get(path, signed_in=True, **{**params, "since": "2016-01-01", "until": "2025-12-31"}).status_code \
        == 200
    assert inproc.get(path, signed_in=True, **{**params, "since": "2026-03-02", "until": "2026-03-01"}).status_code \
        == 400


def test_a_denied_page_offers_the_sign_in(inproc):
    page = inproc.get("/-/darksocial/dashboard")
    assert page.status_code == 403
    assert 'href="/-/login"' in page.text and "darksocial login-link" in page.text
    assert "The dashboard shows per-visitor data" in page.text  # the page asked for, not the report it reads
    person = inproc.get("/-/darksocial/influencer", person="v:x")
    assert person.status_code == 403 and "A person&#39;s page shows per-visitor data" in person.text
    home = inproc.get("/").text
    assert "darksocial dashboard" not in home and "Top stories" in home  # the menu offers what is open
    assert "darksocial dashboard" in inproc.get("/", signed_in=True).text


def sign_in_form(inproc, person: str) -> tuple[str, dict]:
    page = inproc.get("/-/darksocial/influencer", signed_in=True, person=person)
    token = re.search(r'name="csrftoken" value="([^"]+)"', page.text)[1]
    return token, {**inproc.analyst, "ds_csrftoken": token}


def post(inproc, path: str, data: dict, cookies: dict | None):
    return inproc._run(inproc.ds.client.post(path, data=data, cookies=cookies))


def test_an_analyst_names_a_person_and_the_name_shows_everywhere_and_survives_attribution(inproc, scenario,
                                                                                             scenario_db, tmp_path):
    bob = scenario.BOB_PERSON
    token, cookies = sign_in_form(inproc, bob)
    # No CSRF token: refused. Anonymous: refused.
    assert post(inproc, "/-/darksocial/influencer", {"person": bob, "name": "X"}, inproc.analyst).status_code == 403
    anonymous = post(inproc, "/-/darksocial/influencer", {"person": bob, "name": "X", "csrftoken": token},
                     {"ds_csrftoken": token})
    assert anonymous.status_code == 403
    saved = post(inproc, "/-/darksocial/influencer",
                 {"person": bob, "name": "Bob the Builder", "note": "Runs the\x00 WhatsApp group", "csrftoken": token},
                 cookies)
    assert saved.status_code == 302, saved.text
    page = html.unescape(inproc.get("/-/darksocial/influencer", signed_in=True, person=bob).text)
    assert "<h1" in page and "Bob the Builder" in page.split("</h1>")[0]
    assert "Runs the WhatsApp group" in page  # control characters stripped
    with sqlite3.connect(scenario_db, timeout=30) as conn:
        assert analysts.label(conn, bob)["name"] == "Bob the Builder"
    report = inproc.get("/darksocial/top_influencers", signed_in=True).text
    assert ">Bob the Builder</a>" in report
    cascade = html.unescape(inproc.get("/-/darksocial/cascade", signed_in=True, share=scenario.SHARE_A).text)
    assert "Bob the Builder" in cascade
    # The reports' exports (JSON, CSV) and the Wagtail admin read the name from the reports' SQL, not the page.
    assert {r["person"]: r["name"] for r in inproc.report("top_influencers")}[bob] == "Bob the Builder"
    assert {r["person"]: r["name"] for r in inproc.report("conversions_by_sharer")}[bob] == "Bob the Builder"
    tree = {r["id"]: r["label"] for r in inproc.report("cascade_tree", share=scenario.SHARE_A)}
    assert tree[scenario.SHARE_B] == "Bob the Builder · tg"
    assert "Bob the Builder" in inproc.get("/darksocial/top_influencers.csv", signed_in=True).text
    # Attribution reruns (on a copy: other tests count the shared database's rows) keep the name.
    copy = tmp_path / "copy.db"
    with sqlite3.connect(scenario_db, timeout=30) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    attribution.attribute(store.open_db(copy), full=True)
    with sqlite3.connect(copy) as conn:
        assert analysts.label(conn, bob)["name"] == "Bob the Builder"
    # Never visible anonymously: the table and every page naming people need a sign-in.
    assert inproc.get("/darksocial/person_labels.json").status_code == 403
    assert inproc.get("/-/darksocial/influencer", person=bob).status_code == 403
    with sqlite3.connect(scenario_db, timeout=30) as conn:  # as found: other tests read the shared database
        conn.execute(f"DELETE FROM {analysts.LABELS_TABLE} WHERE person = ?", (bob,))
    names.forget(bob)


def test_the_influencer_page_never_shows_a_person_as_their_own_source(inproc, scenario):
    page = html.unescape(inproc.get("/-/darksocial/influencer", signed_in=True, person=scenario.ALICE_PERSON).text)
    assert "Alice Liddell" in page.split("</h1>")[0]
    how_they_came = page.split("How they came to the site")[1].split("Name and note")[0]
    assert "x%3Aalice-1" not in how_they_came  # her own link is not where she came from
    assert "Top story: <a" in page and ">Story A</a>" in page.split("Top story:")[1][:200]
    assert "Who they reached" in page and "Who passed it on" in page and "open the tree" in page


def test_a_person_who_clicked_but_never_shared_has_a_page_and_their_name(inproc, scenario, tmp_path, analyst_env,
                                                                           event_writer):
    # Every person the influencer and cascade pages list opens, and shows by the name they identified with.
    assert inproc.get("/-/darksocial/influencer", signed_in=True, person=f"v:{scenario.DAN}").status_code == 200
    assert inproc.get("/-/darksocial/influencer", signed_in=True, person="v:nobody").status_code == 404

    import asyncio
    import concurrent.futures

    from reporting import server

    path = tmp_path / "named.db"
    db = store.open_db(path)
    store.register_site(db, "blog", ["https://blog.example"])
    when = iter(f"2026-05-01T10:00:{second:02d}.000000Z" for second in range(60))
    story = "https://blog.example/story"
    events = [
        {"kind": "view", "visitor": "alice", "url": story, "token": "vAAAAAAAAA", "ts": next(when)},
        {"kind": "share", "visitor": "alice", "url": story, "token": "sAAAAAAAAA", "parent": "vAAAAAAAAA",
         "channel": "wa", "ts": next(when)},
        {"kind": "view", "visitor": "dan", "url": story, "token": "vDDDDDDDDD", "in_token": "sAAAAAAAAA",
         "in_channel": "wa", "ts": next(when)},
        {"kind": "identify", "visitor": "dan", "external_id": "dan-7", "name": "Dan Dare", "ts": next(when)},
    ]
    event_writer(path, events, site="blog")
    attribution.attribute(db)
    db.close()
    ds = server.make_datasette(path, attribute_every=None)
    cookies = {"ds_actor": ds.sign({"a": {"id": "analyst"}}, "actor")}
    week = {"since": "2026-04-28", "until": "2026-05-04"}

    async def get(person):
        return await ds.client.get("/-/darksocial/influencer", params={"person": person, **week}, cookies=cookies)

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # Playwright's sync API may hold this thread's loop
        alice, dan = (pool.submit(asyncio.run, get(person)).result() for person in ("v:alice", "x:dan-7"))
    assert alice.status_code == 200 and dan.status_code == 200, (alice.text, dan.text)
    reached = html.unescape(alice.text).split("Who they reached")[1].split("<h2")[0]
    assert "Dan Dare</a>" in reached and ">x:dan-7</a>" not in reached
    assert "Dan Dare" in html.unescape(dan.text).split("</h1>")[0]


def test_the_story_page(inproc, scenario):
    page = html.unescape(inproc.get("/-/darksocial/story", signed_in=True, url=scenario.STORY_A).text)
    assert "<h1" in page and "Story A" in page.split("</h1>")[0]
    assert "Visits by source" in page and "<svg" in page
    assert "WhatsApp" in page and "Telegram" in page  # channels
    assert "Alice Liddell" in page and f"cascade?share={scenario.SHARE_A}" in page
    assert inproc.get("/-/darksocial/story", signed_in=True, url="https://nowhere.example/").status_code == 404


def test_anyone_reads_a_story_page_without_the_people(inproc, scenario):
    """The public top_stories report links here: anonymous readers get the public figures, no person."""
    response = inproc.get("/-/darksocial/story", url=scenario.STORY_A)
    assert response.status_code == 200
    page = html.unescape(response.text)
    assert "Story A" in page.split("</h1>")[0] and "Visits by source" in page and "<svg" in page
    assert "WhatsApp" in page and "Telegram" in page and "Sign in" in page and "to see who spread it" in page
    for private in ("Alice Liddell", scenario.ALICE_PERSON, scenario.BOB_PERSON, scenario.CAROL_PERSON,
                    scenario.ALICE, scenario.BOB, scenario.CAROL, scenario.SHARE_A, "/-/darksocial/influencer",
                    "/-/darksocial/cascade", "People who spread it", "/-/darksocial/dashboard",
                    '<select name="site">'):  # the site picker reads the private sites table
        assert private not in page and private not in response.text, private
    top_stories = inproc.get("/darksocial/top_stories").text
    assert "/-/darksocial/story?url=https%3A%2F%2Fblog.example%2Fstory-a" in top_stories
    analyst = html.unescape(inproc.get("/-/darksocial/story", signed_in=True, url=scenario.STORY_A).text)
    assert "People who spread it" in analyst and "Alice Liddell" in analyst and "to see who spread it" not in analyst
    assert f"cascade?share={scenario.SHARE_A}" in analyst and "/-/darksocial/influencer?person=" in analyst


def cascade_spec(page: str) -> dict:
    raw = re.search(r'<script type="application/json" id="cascade-spec">(.*?)</script>', page, re.S)[1]
    return json.loads(raw)


def test_the_cascade_page_draws_the_people_of_the_cascade(inproc, scenario, scenario_db):
    page = inproc.get("/-/darksocial/cascade", signed_in=True, share=scenario.SHARE_B).text  # any share: its cascade
    nodes = cascade_spec(page)["data"][0]["values"]
    with sqlite3.connect(scenario_db, timeout=30) as conn:
        people = {r[0] for r in conn.execute("select person from cascade_people where root = ?", (scenario.SHARE_A,))}
    assert {n["person"] for n in nodes} == people
    assert {n["channel_label"] for n in nodes} >= {"WhatsApp", "Telegram", "X"}
    assert [n["parent"] for n in nodes].count(None) == 1
    listing = inproc.get("/-/darksocial/cascade", signed_in=True).text
    assert f"/-/darksocial/cascade?share={scenario.SHARE_A}" in listing and "Largest cascades" in listing


def test_a_hostile_name_cannot_break_the_cascade_page(inproc, scenario, scenario_db):
    hostile = '</script><!--<script>alert(1)//'
    with sqlite3.connect(scenario_db, timeout=30) as conn:
        analysts.save_label(conn, scenario.CAROL_PERSON, hostile, "", "test")
    from reporting import names

    names.forget(scenario.CAROL_PERSON)
    page = inproc.get("/-/darksocial/cascade", signed_in=True, share=scenario.SHARE_A).text
    script = re.search(r'<script type="application/json" id="cascade-spec">(.*?)</script>', page, re.S)[1]
    assert "<" not in script and ">" not in script
    assert hostile in [n["label"] for n in json.loads(script)["data"][0]["values"]]
    assert hostile not in page  # escaped in the HTML list too
    for path, params in (("/-/darksocial/dashboard", {}),
                         ("/-/darksocial/influencer", {"person": scenario.CAROL_PERSON}),
                         ("/-/darksocial/story", {"url": scenario.STORY_A}), ("/darksocial/top_influencers", {}),
                         ("/darksocial/cascade_people", {})):
        other = inproc.get(path, signed_in=True, **params)
        assert other.status_code == 200 and hostile not in other.text, path
        if path != "/darksocial/cascade_people":  # the name is shown, escaped
            assert "&lt;/script&gt;&lt;!--&lt;script&gt;alert(1)//" in other.text, path
    with sqlite3.connect(scenario_db, timeout=30) as conn:
        analysts.save_label(conn, scenario.CAROL_PERSON, "", "", "test")
    names.forget(scenario.CAROL_PERSON)


def test_a_large_cascade_is_drawn_top_down_with_cut_branches_that_open(inproc):
    from reporting.cascade import MAX_NODES, tree_nodes

    people = [{"person": "v:root", "parent_person": None, "depth": 1, "channel": "wa", "arrived": "t", "reach": 3,
               "amplified_reach": 999, "name": None}]
    for i in range(999):
        parent = "v:root" if i < 3 else f"v:p{(i - 3) // 3}"
        people.append({"person": f"v:p{i}", "parent_person": parent, "depth": 2, "channel": "tg", "arrived": "t",
                       "reach": 0, "amplified_reach": 0, "name": None})
    nodes, total = tree_nodes(people)
    assert total == 1000 and len(nodes) == MAX_NODES
    assert sum(1 + n["hidden"] for n in nodes if n["hidden"]) + len([n for n in nodes if not n["hidden"]]) <= total
    assert sum(n["hidden"] for n in nodes) == total - MAX_NODES
    branch, _ = tree_nodes(people, focus="v:p0")
    assert branch[0]["id"] == "v:p0" and branch[0]["parent"] is None


@pytest.mark.parametrize("report", ["top_stories", "top_influencers", "channel_mix", "largest_cascades"])
def test_canned_reports_hide_their_sql_and_title_columns_in_words(inproc, report):
    page = inproc.get(f"/darksocial/{report}", signed_in=True).text
    assert 'id="sql-query"' not in page and "<textarea" not in page
    assert "_show_sql=1" in page  # …and still offer it
    headers = re.findall(r'<th class="col-[^"]*" scope="col" title="([^"]+)">([^<]+)</th>', page)
    assert headers, page[:2000]
    for column, title in headers:
        assert "_" not in title, (column, title)
    if report == "top_stories":
        assert ("dark_social_pct", "Dark social %") in headers


def test_timestamps_show_to_the_minute(inproc, scenario):
    page = inproc.get("/darksocial/top_influencers", signed_in=True).text
    stamps = re.findall(r'<time datetime="[^"]+">([^<]+)</time>', page)
    assert stamps and all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", s) for s in stamps)


def test_ratios_are_rounded_the_same_way_in_tables(inproc):
    page = inproc.get("/darksocial/cascades", signed_in=True).text
    cells = re.findall(r'<td class="col-structural_virality[^"]*"[^>]*>([^<]*)</td>', page)
    assert cells and all(re.fullmatch(r"\d+\.\d\d|—|&nbsp;", c.strip()) for c in cells), cells
