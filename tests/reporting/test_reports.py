"""Every canned report runs on a database attributed from hand-made events and returns the known answer
(the story is told in conftest.py; the expected numbers follow from it and DESIGN.md's definitions)."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import sqlite3
import string

import httpx
import pytest

from darksocial import reports as queries
from reporting import indexes


def pick(rows: list[dict], *columns: str) -> list[tuple]:
    return [tuple(row[c] for c in columns) for row in rows]


def test_every_report_is_titled_described_and_takes_the_window(inproc):
    response = inproc.get("/darksocial.json", signed_in=True)
    listed = {q["name"]: q for q in response.json()["queries"]}
    for r in queries.REPORTS:
        assert listed[r.name]["title"] == r.title
        assert "last 30 days" in r.canned_query()["description"]
        assert {"since", "until", "site"} <= set(r.params)


@pytest.mark.parametrize(("params", "named"), [
    ({"since": "garbage"}, "since must be a date"),
    ({"until": "2026-13-01"}, "until must be a date"),
    ({"since": "2026-02-30"}, "since must be a date"),
    ({"since": "2026-03-02", "until": "2026-03-01"}, "since must not be after until"),
    ({"until": "1900-01-01"}, "until must not be before since, and a blank since is"),
    ({"site": "s" * 101}, "site is at most 100 characters"),
    ({"since": "0001-01-01", "until": "9999-12-31"}, "since makes a window of 3,652,059 days"),
])
@pytest.mark.parametrize("name", ["headline", "top_stories", "top_influencers"])
@pytest.mark.parametrize("suffix", ["", ".json", ".csv"])
def test_a_canned_report_refuses_a_bad_window_naming_the_parameter(inproc, name, suffix, params, named):
    # Run as they were, a mistyped date read as an empty window: every figure 0, and no word why.
    response = inproc.get(f"/darksocial/{name}{suffix}", signed_in=True, **params)
    assert response.status_code == 400 and named in response.text, response.text


@pytest.mark.parametrize("suffix", ["", ".json", ".csv"])
def test_the_reports_about_one_thing_refuse_what_names_nothing_as_their_pages_do(inproc, scenario, suffix):
    # They answered 200 with no rows, or a "(fill in share or url)" placeholder, where the pages answer 400 or 404.
    def get(name, **params):
        return inproc.get(f"/darksocial/{name}{suffix}", signed_in=True, **params)

    refused = {
        ("influencer", (("person", ""),)): (400, "person is required: a person id from top_influencers"),
        ("influencer", (("person", "v:nobody"),)): (404, "person: nobody 'v:nobody' shared or clicked"),
        ("cascade_tree", (("share", ""), ("url", ""))): (400, "share or url is required"),
        ("cascade_tree", (("share", "nosuch"),)): (404, "share: no share 'nosuch' here"),
        ("cascade_tree", (("url", "https://nowhere.example/x"),)): (404, "url: no story 'https://nowhere.example/x'"),
    }
    for (name, params), (status, named) in refused.items():
        response = get(name, **dict(params))
        assert (response.status_code, named in response.text) == (status, True), (name, params, response.text)
    assert get("influencer", person=scenario.ALICE_PERSON).status_code == 200
    assert get("cascade_tree", share=scenario.SHARE_A).status_code == 200
    assert get("cascade_tree", url=scenario.STORY_A).status_code == 200
    # The report's SQL compares the share as given: one with spaces around it is not found, and says so.
    padded = get("cascade_tree", share=f" {scenario.SHARE_A} ")
    assert padded.status_code == 404 and f"share: no share ' {scenario.SHARE_A} '" in padded.text


def test_a_report_about_one_thing_keeps_its_form_and_tells_nobody_who_exists(inproc):
    assert inproc.get("/darksocial/influencer", signed_in=True).status_code == 200  # Datasette's form to fill in
    assert inproc.get("/darksocial/cascade_tree.json", signed_in=True).status_code == 400  # an export answers
    # Anonymous readers get the sign-in page whatever they name: a 404 would tell them who is not here.
    for name, params in (("influencer", {"person": "v:nobody"}), ("cascade_tree", {"share": "nosuch"})):
        assert inproc.get(f"/darksocial/{name}.json", **params).status_code == 403, name


def test_a_canned_report_takes_a_blank_or_well_formed_window_spaces_and_all(inproc, scenario):
    for params in ({}, {"since": "", "until": "", "site": ""}, {"since": "2026-01-01", "until": "2026-01-01"}):
        assert inproc.get("/darksocial/top_stories.json", signed_in=True, **params).status_code == 200, params
    day = scenario.DAY.date().isoformat()
    plain = inproc.report("top_stories", since=day, until=day, site="blog")
    assert plain and inproc.report("top_stories", since=f" {day} ", until=f"{day} ", site=" blog ") == plain


def test_top_influencers_ranks_people_by_reach(inproc, scenario):
    s, report = scenario, inproc.report
    rows = report("top_influencers")
    assert pick(rows, "person", "name", "tier", "shares", "clicks", "reach", "reshares", "amplified_reach",
                "conversions") == [
        (s.ALICE_PERSON, "Alice Liddell", "nano", 1, 2, 2, 2, 4, 1),
        (s.JANE_PERSON, "Jane", "nano", 1, 1, 1, 0, 1, 0),
        (s.BOB_PERSON, None, "nano", 1, 1, 1, 0, 1, 1),
        (s.CAROL_PERSON, None, "nano", 1, 1, 1, 0, 1, 0),
    ]


def test_equal_reach_ranks_the_sharer_whose_share_was_reshared_first(tmp_path, scenario, event_writer):
    """A shares, B opens it and re-shares, C opens B's: both reach one person with one click, but A's share went
    further (amplified reach 2 against 1), so A ranks first although A's id sorts after B's."""
    from darksocial import attribution, store

    a, b, c = "zedZZZZZZZZZ", "amyAAAAAAAAA", "kimKKKKKKKKK"  # A's person id sorts last
    at = iter(store.utc_timestamp(scenario.DAY + scenario.dt.timedelta(minutes=m)) for m in range(1, 100))
    url = scenario.STORY_A

    def view(visitor, token, came_with=None):
        return {"kind": "view", "visitor": visitor, "url": url, "token": token, "in_token": came_with,
                "in_channel": "wa" if came_with else None, "ts": next(at)}

    def share(visitor, token, parent):
        return {"kind": "share", "visitor": visitor, "url": url, "token": token, "parent": parent, "channel": "wa",
                "ts": next(at)}

    events = [view(a, "vAxxxxxxxx"), share(a, "sAxxxxxxxx", "vAxxxxxxxx"), view(b, "vBxxxxxxxx", "sAxxxxxxxx"),
              share(b, "sBxxxxxxxx", "vBxxxxxxxx"), view(c, "vCxxxxxxxx", "sBxxxxxxxx")]
    path = tmp_path / "ties.db"
    db = store.open_db(path)
    store.register_site(db, scenario.SITE, [scenario.ORIGIN])
    event_writer(path, events, site=scenario.SITE)
    attribution.attribute(db)
    db.close()
    with sqlite3.connect(path) as conn:
        columns, rows = queries.run(conn, "top_influencers")
    ranked = [dict(zip(columns, row, strict=True)) for row in rows]
    assert pick(ranked, "person", "reach", "clicks", "shares", "amplified_reach") == [
        (f"v:{a}", 1, 1, 1, 2), (f"v:{b}", 1, 1, 1, 1)]


def test_the_window_and_the_site_filter(inproc, scenario):
    s, report = scenario, inproc.report
    before = (s.DAY - s.dt.timedelta(days=1)).date().isoformat()
    assert report("top_influencers", since="2000-01-01", until="2000-12-31") == []
    assert len(report("top_influencers", since=before)) == 4
    # A site that is not here is a mistake to name, not an empty report (the analyst would read zeros as news)
    unknown = inproc.get("/darksocial/top_influencers.json", signed_in=True, site="another-site")
    assert unknown.status_code == 400 and "site: no site 'another-site' here (sites: blog)" in unknown.text
    for page in ("/-/darksocial/dashboard", "/-/darksocial/story"):
        assert inproc.get(page, signed_in=True, site="another-site", url=s.STORY_A).status_code == 400, page
    assert len(report("top_influencers", site="blog")) == 4
    # A site removed with `site remove` keeps its reports: it has figures
    path = inproc.ds.databases["darksocial"].path
    with sqlite3.connect(path) as conn:
        registered = conn.execute("SELECT * FROM sites WHERE site = 'blog'").fetchall()
        conn.execute("DELETE FROM sites WHERE site = 'blog'")
    try:
        assert len(report("top_influencers", site="blog")) == 4
    finally:
        with sqlite3.connect(path) as conn:
            conn.executemany(f"INSERT INTO sites VALUES ({', '.join('?' * len(registered[0]))})", registered)
    # Hank's visit sixty days ago is outside the default window, inside an explicit one.
    default = report("top_stories")
    wide = report("top_stories", since=s.OLD_DAY.date().isoformat())
    assert pick(default, "url", "visits", "other") == [(s.STORY_A, 6, 2), (s.STORY_B, 2, 0)]
    assert pick(wide, "url", "visits", "other") == [(s.STORY_A, 6, 2), (s.STORY_B, 3, 1)]
    day = s.DAY.date().isoformat()
    assert pick(report("top_stories", since=day, until=day), "url", "visits") == [(s.STORY_A, 6), (s.STORY_B, 2)]


def test_one_influencer_shares_channels_and_downstream_reach(inproc, scenario):
    s, report = scenario, inproc.report
    alice = report("influencer", person=s.ALICE_PERSON)
    assert pick(alice, "share", "url", "story", "channel", "medium", "got_it_from", "clicks", "reach", "reshares",
                "amplified_reach", "conversions") == [
        (s.SHARE_A, s.STORY_A, "Story A", "wa", "dark", None, 2, 2, 2, 4, 1),
    ]
    bob = report("influencer", person=s.BOB_PERSON)
    assert pick(bob, "share", "channel", "got_it_from", "depth", "clicks", "conversions") == [
        (s.SHARE_B, "tg", s.ALICE_PERSON, 2, 1, 1),
    ]
    nobody = inproc.get("/darksocial/influencer.json", signed_in=True, person="v:nobody0000")
    assert nobody.status_code == 404 and "person: nobody 'v:nobody0000'" in nobody.text  # as its page, not []


def test_top_stories_splits_tracked_estimated_and_open(inproc, scenario):
    s, report = scenario, inproc.report
    rows = report("top_stories")
    assert pick(rows, "url", "story", "visits", "dark_tracked", "dark_estimated", "dark_social_pct", "open_social",
                "other", "shares", "clicks", "clicks_per_share") == [
        (s.STORY_A, "Story A", 6, 3, 0, 50.0, 1, 2, 3, 4, 1.33),
        (s.STORY_B, "Story B", 2, 1, 1, 100.0, 0, 0, 1, 1, 1.0),
    ]


def test_channel_mix_with_clicks_per_share(inproc):
    report = inproc.report
    rows = report("channel_mix")
    assert pick(rows, "channel", "code", "medium", "visits", "shares", "clicks", "clicks_per_share",
                "pct_of_shared_traffic") == [
        ("WhatsApp", "wa", "dark", 2, 1, 2, 2.0, 33.3),
        ("Email", "em", "dark", 1, 1, 1, 1.0, 16.7),
        ("Telegram", "tg", "dark", 1, 1, 1, 1.0, 16.7),
        ("X", "x", "open", 1, 1, 1, 1.0, 16.7),
        ("untracked (estimated)", "", "dark", 1, 0, 0, None, 16.7),
    ]


def test_dark_social_over_time(inproc, scenario):
    s, report = scenario, inproc.report
    assert report("dark_social_over_time") == [
        {"date": s.DAY.date().isoformat(), "visits": 8, "dark_tracked": 4, "dark_estimated": 1, "open_social": 1,
         "other": 2, "dark_social_pct": 62.5},
    ]
    wide = report("dark_social_over_time", since=s.OLD_DAY.date().isoformat())
    assert pick(wide, "date", "visits", "other", "dark_social_pct") == [
        (s.OLD_DAY.date().isoformat(), 1, 1, 0.0),
        (s.DAY.date().isoformat(), 8, 2, 62.5),
    ]


def test_largest_cascades(inproc, scenario):
    s, report = scenario, inproc.report
    rows = report("largest_cascades")
    # Alice's tree: Alice → Bob → Dan, Alice → Carol → Gina: n = 5, Wiener index 20, ν = 2·20/(5·4) = 2.
    assert pick(rows, "root", "sharer", "story", "channel", "size", "depth", "shares", "clicks",
                "structural_virality", "conversions") == [
        (s.SHARE_A, s.ALICE_PERSON, "Story A", "wa", 5, 2, 3, 4, 2.0, 1),
        (s.LINK_J, s.JANE_PERSON, "Story B", "em", 2, 1, 1, 1, 1.0, 0),
    ]


def test_conversions_by_sharer(inproc, scenario):
    s, report = scenario, inproc.report
    rows = report("conversions_by_sharer")
    # Dan (below Bob, below Alice) signed up: one of Alice's 4 people downstream, Bob's only one
    assert pick(rows, "person", "clicks", "amplified_reach", "conversions", "converted", "conversion_rate_pct") == [
        (s.ALICE_PERSON, 2, 4, 1, 1, 25.0),
        (s.BOB_PERSON, 1, 1, 1, 1, 100.0),
    ]


def test_cascade_tree_of_a_share_and_of_a_story(inproc, scenario):
    s, report = scenario, inproc.report
    by_share = report("cascade_tree", share=s.SHARE_A)
    assert sorted(pick(by_share, "id", "parent", "clicks")) == sorted([
        ("top", None, None), (s.SHARE_A, "top", 2), (s.SHARE_B, s.SHARE_A, 1), (s.SHARE_C, s.SHARE_A, 1),
    ])
    assert pick(report("cascade_tree", share=s.SHARE_B), "id", "parent") == [("top", None), (s.SHARE_B, "top")]
    by_story = report("cascade_tree", url=s.STORY_B)
    assert pick(by_story, "id", "parent", "label") == [("top", None, s.STORY_B), (s.LINK_J, "top", "Jane · em")]


def test_reports_over_real_http_with_csv_export(live_server, analyst_cookies, scenario):
    s = scenario
    with httpx.Client(base_url=live_server, cookies=analyst_cookies) as client:
        for r in queries.REPORTS:
            response = client.get(f"/darksocial/{r.name}.json", params={"_shape": "array", "person": s.ALICE_PERSON,
                                                                         "share": s.SHARE_A})
            assert response.status_code == 200, (r.name, response.text)
            assert response.json(), r.name
        csv = client.get("/darksocial/top_influencers.csv")
        assert csv.status_code == 200
        lines = csv.text.splitlines()
        assert lines[0].startswith("person,name,tier,shares,clicks,reach")
        assert lines[1].startswith(f"{s.ALICE_PERSON},Alice Liddell,nano,1,2,2")


def test_the_server_creates_the_report_indexes_at_startup(live_server, scenario_db):
    with sqlite3.connect(scenario_db) as conn:
        names = {row[0] for row in conn.execute("select name from sqlite_master where type = 'index'")}
        plan = " ".join(row[3] for row in conn.execute(
            "explain query plan " + queries.TOP_INFLUENCERS.sql, {"since": "", "until": "", "site": ""}))
    assert set(indexes.INDEXES) <= names and not set(indexes.RETIRED) & names
    assert "COVERING INDEX rpt_shares_by_sharer" in plan and "COVERING INDEX idx_visits_clicks_by_sharer" in plan


def test_a_blank_window_is_the_last_30_days_including_today():
    conn = sqlite3.connect(":memory:")
    first, after = conn.execute(f"select {queries.SINCE}, {queries.BEFORE}", {"since": "", "until": ""}).fetchone()
    days = conn.execute("select julianday(?) - julianday(?)", (after, first)).fetchone()[0]
    assert days == 30 and after == conn.execute("select date('now', '+1 day')").fetchone()[0]


def test_run_gives_the_wagtail_admin_the_same_rows(scenario_db, scenario):
    with sqlite3.connect(scenario_db, timeout=30) as conn:
        columns, rows = queries.run(conn, "influencer", person=scenario.BOB_PERSON)
        assert columns[:3] == ["date", "story", "url"] and len(rows) == 1
        with pytest.raises(ValueError, match="person"):
            queries.run(conn, "top_stories", person="x")


# The two reports' SQL before visits carried the share's date and site and the distinct counts were read in index
# order (each share in the window joined to its clicks; every (person, member) row grouped twice): the rewrites
# must rank and count exactly as these did.
WINDOW = queries.in_window("date", "site")
TOP_INFLUENCERS_JOINED = f"""
with s as (
  select sharer, max(sharer_name) as sharer_name, count(*) as shares, sum(clicks) as clicks,
    sum(reshares) as reshares, min(ts) as first_share, max(ts) as last_share
  from shares where sharer is not null and {WINDOW}
  group by sharer order by sum(reach) desc, clicks desc, shares desc, sharer limit 300
),
r as (
  select sh.sharer, count(distinct v.person) as reach
  from shares sh join visits v on v.share_token = sh.token and v.click = 1
  where sh.sharer in (select sharer from s) and {queries.in_window("sh.date", "sh.site")}
  group by sh.sharer
),
a as (
  select person, count(*) as amplified_reach, sum(conversions) as conversions from (
    select person, member, max(conversions) as conversions from _ds_influence
    where person in (select sharer from s) and {WINDOW} group by person, member
  ) group by person
)
select s.sharer as person, coalesce(s.sharer_name, i.name) as name, i.tier, s.shares, s.clicks,
  coalesce(r.reach, 0) as reach, s.reshares, coalesce(a.amplified_reach, 0) as amplified_reach,
  coalesce(a.conversions, 0) as conversions, round(1.0 * s.clicks / s.shares, 2) as clicks_per_share,
  i.top_channel, s.first_share, s.last_share
from s left join r on r.sharer = s.sharer left join a on a.person = s.sharer
left join influencers i on i.person = s.sharer
order by reach desc, amplified_reach desc, s.clicks desc, s.shares desc, person
limit 100
"""
CONVERSIONS_BY_SHARER_GROUPED = f"""
with a as (
  select person, count(*) as amplified_reach, sum(conversions) as conversions,
    sum(conversions > 0) as converted from (
    select person, member, max(conversions) as conversions from _ds_influence where {WINDOW} group by person, member
  ) group by person
  having sum(conversions) > 0 order by conversions desc, person limit 100
),
s as (
  select sharer, max(sharer_name) as sharer_name, count(*) as shares, sum(clicks) as clicks
  from shares where sharer is not null and {WINDOW} group by sharer
)
select a.person, coalesce(s.sharer_name, i.name) as name, i.tier, coalesce(s.shares, 0) as shares,
  coalesce(s.clicks, 0) as clicks, a.amplified_reach, a.conversions, a.converted,
  round(100.0 * a.converted / nullif(a.amplified_reach, 0), 1) as conversion_rate_pct
from a left join s on s.sharer = a.person left join influencers i on i.person = a.person
order by a.conversions desc, clicks desc, a.person
limit 100
"""


def random_attributed_db(path, rng: random.Random) -> None:
    """Two sites' cascades over 60 days up to today: re-shares, clicks pasted into the other site, visitors who
    identify (one person on several devices), goals, sharers opening their own links."""
    from darksocial import store
    from darksocial.attribution import attribute

    today = dt.datetime.now(dt.timezone.utc).replace(hour=12, minute=0, second=0, microsecond=0)
    clock = itertools.count()
    visitors = [f"vis{i:09d}" for i in range(60)]
    events, frontier = [], []  # frontier: (visitor, page-view token, site, page, day)

    def at(day: int) -> str:
        return store.utc_timestamp(today - dt.timedelta(days=day) + dt.timedelta(seconds=next(clock)))

    def token() -> str:
        return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(10))

    def view(visitor, site, page, day, came_with=None):
        minted = token()
        events.append({"kind": "view", "site": site, "visitor": visitor, "url": f"https://{site}.example{page}",
                       "token": minted, "in_token": came_with, "in_channel": "wa" if came_with else None,
                       "title": page, "ts": at(day)})
        frontier.append((visitor, minted, site, page, day))

    for _ in range(500):
        roll = rng.random()
        if frontier and roll < 0.5:
            sharer, parent, site, page, day = rng.choice(frontier)
            day = max(0, day - rng.randint(0, 3))
            shared = token()
            events.append({"kind": "share", "site": site, "visitor": sharer, "url": f"https://{site}.example{page}",
                           "token": shared, "parent": parent, "channel": rng.choice(["wa", "tg", "em", "x"]),
                           "ts": at(day)})
            for _ in range(rng.randint(0, 4)):
                clicker = sharer if rng.random() < 0.1 else rng.choice(visitors)
                landed = site if rng.random() < 0.9 else {"blog": "news", "news": "blog"}[site]
                view(clicker, landed, page, max(0, day - rng.randint(0, 5)), came_with=shared)
        elif roll < 0.6:
            events.append({"kind": "identify", "site": "blog", "visitor": rng.choice(visitors),
                           "external_id": f"ext{rng.randrange(8)}", "name": rng.choice(["Ann", "Bo", None]),
                           "ts": at(0)})
        elif roll < 0.7:
            events.append({"kind": "goal", "site": rng.choice(["blog", "news"]), "visitor": rng.choice(visitors),
                           "goal": rng.choice(["signup", "buy"]), "ts": at(rng.randrange(60))})
        else:
            view(rng.choice(visitors), rng.choice(["blog", "news"]), rng.choice(["/a", "/b", "/c"]),
                 rng.randrange(60))
    db = store.open_db(path)
    db["events"].insert_all(events, alter=False)
    attribute(db, full=True)
    db.close()


@pytest.mark.parametrize("seed", range(4))
def test_influencer_reports_rank_and_count_as_the_joined_sql_did(tmp_path, seed):
    path = tmp_path / "random.db"
    random_attributed_db(path, random.Random(seed))
    today = dt.date.today()
    windows = [("", "", ""), ("", "", "news"), ((today - dt.timedelta(days=59)).isoformat(), "", ""),
               ((today - dt.timedelta(days=40)).isoformat(), (today - dt.timedelta(days=20)).isoformat(), "blog")]
    counted_people = set()
    # top_influencers takes the figures of a person all of whose shares are in the window (all sites) from
    # influencers, and counts the others': both kinds must be ranked here.
    everything_in = f"select count(*) from shares where sharer = i.person and {WINDOW}"
    kinds = set()
    with sqlite3.connect(path) as conn:
        indexes.create(conn)
        assert conn.execute("select count(*) from visits where click = 1 and site != share_site").fetchone()[0]
        for since, until, site in windows:
            params = {"since": since, "until": until, "site": site}
            kinds.update(conn.execute(f"select distinct :site = '' and shares = ({everything_in}) from influencers i "
                                      f"where ({everything_in}) > 0", params).fetchall())
            for report, before in ((queries.TOP_INFLUENCERS, TOP_INFLUENCERS_JOINED),
                                   (queries.CONVERSIONS_BY_SHARER, CONVERSIONS_BY_SHARER_GROUPED)):
                # As written, and with limits small enough to cut the candidates and the ranking short here.
                for cut in ({}, {"limit 300": "limit 7", "limit 100": "limit 4"}):
                    old, new = before, report.sql
                    for full, short in cut.items():
                        old, new = old.replace(full, short), new.replace(full, short)
                    expected = conn.execute(old, params).fetchall()
                    assert expected, (report.name, since, until, site)
                    counted_people.update(row[5] for row in expected)  # reach, amplified reach
                    assert conn.execute(new, params).fetchall() == expected, (report.name, since, until, site, cut)
    assert max(counted_people) > 5
    assert kinds == {(0,), (1,)}


def test_headline_conversions_are_distinct_person_goal_pairs_across_cascades(tmp_path, event_writer):
    # README: "A conversion is a distinct (person, goal) pair". Bea clicks Ann's share of one story and Zed's share
    # of another (two cascades started in the window), then signs up and subscribes: 2 conversions, not 2 per
    # cascade. Cal, who clicked only Zed's share, signs up once: 3 in all.
    from darksocial import attribution, store

    path = tmp_path / "darksocial.db"
    db = store.open_db(path)
    store.register_site(db, "blog", ["https://blog.example"])
    day = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    clock = itertools.count(1)

    def at() -> str:
        return store.utc_timestamp(day - dt.timedelta(days=1) + dt.timedelta(minutes=next(clock)))

    def view(visitor, story, token, came_with=None):
        return {"kind": "view", "visitor": visitor, "url": f"https://blog.example/{story}", "token": token,
                "in_token": came_with, "in_channel": "wa" if came_with else None, "ts": at()}

    def share(visitor, story, token, parent):
        return {"kind": "share", "visitor": visitor, "url": f"https://blog.example/{story}", "token": token,
                "parent": parent, "channel": "wa", "ts": at()}

    ann, zed, bea, cal = "annAAAAAAAAA", "zedZZZZZZZZZ", "beaBBBBBBBBB", "calCCCCCCCCC"
    event_writer(path, [
        view(ann, "one", "vAnn000000"), share(ann, "one", "sAnn000000", "vAnn000000"),
        view(zed, "two", "vZed000000"), share(zed, "two", "sZed000000", "vZed000000"),
        view(bea, "one", "vBea000001", "sAnn000000"), view(bea, "two", "vBea000002", "sZed000000"),
        view(cal, "two", "vCal000001", "sZed000000"),
        *({"kind": "goal", "visitor": who, "goal": goal, "ts": at()}
          for who, goal in ((bea, "signup"), (bea, "subscribe"), (cal, "signup"))),
    ], site="blog")
    attribution.attribute(db)
    with sqlite3.connect(path) as conn:
        columns, [row] = queries.run(conn, "headline")
        per_cascade = dict(conn.execute("SELECT url, conversions FROM cascades"))
    assert per_cascade == {"https://blog.example/one": 2, "https://blog.example/two": 3}
    assert dict(zip(columns, row, strict=True))["conversions"] == 3
    db.close()


def test_a_window_credits_the_people_a_share_brought_to_the_day_it_was_minted(tmp_path, event_writer):
    # README: "a share counts on the day it was minted, with every click it got", and a share's amplified reach is
    # everyone below it. Bea arrives through Ann's share on day 1 and shares (nobody clicks); back on day 5 (a
    # restored tab) she shares again, and Dan clicks that and signs up: Bea's day 5 brought Dan, her day 1 nobody.
    from darksocial import attribution, store

    path = tmp_path / "darksocial.db"
    db = store.open_db(path)
    store.register_site(db, "blog", ["https://blog.example"])
    today = dt.datetime.now(dt.timezone.utc).replace(hour=12, minute=0, second=0, microsecond=0)
    day1, day5 = today - dt.timedelta(days=9), today - dt.timedelta(days=5)
    ts = itertools.count(1)

    def at(day) -> str:
        return store.utc_timestamp(day + dt.timedelta(minutes=next(ts)))

    url = "https://blog.example/story"
    ann, bea, dan = "annAAAAAAAAA", "beaBBBBBBBBB", "danDDDDDDDDD"
    event_writer(path, [
        {"kind": "view", "visitor": ann, "url": url, "token": "vAnn000001", "ts": at(day1)},
        {"kind": "share", "visitor": ann, "url": url, "token": "sAnn000001", "parent": "vAnn000001", "channel": "wa",
         "ts": at(day1)},
        {"kind": "view", "visitor": bea, "url": url, "token": "vBea000001", "in_token": "sAnn000001",
         "in_channel": "wa", "ts": at(day1)},
        {"kind": "share", "visitor": bea, "url": url, "token": "sBea000001", "parent": "vBea000001", "channel": "tg",
         "ts": at(day1)},
        {"kind": "view", "visitor": bea, "url": url, "token": "vBea000002", "in_token": "vBea000001", "reloaded": 1,
         "ts": at(day5)},
        {"kind": "share", "visitor": bea, "url": url, "token": "sBea000002", "parent": "vBea000002", "channel": "wa",
         "ts": at(day5)},
        {"kind": "view", "visitor": dan, "url": url, "token": "vDan000001", "in_token": "sBea000002",
         "in_channel": "wa", "ts": at(day5)},
        {"kind": "goal", "visitor": dan, "goal": "signup", "ts": at(day5)},
    ], site="blog")
    attribution.attribute(db)
    figures = ("shares", "clicks", "amplified_reach", "conversions")  # both reports have these

    def bea_in(day, report="top_influencers") -> tuple | None:
        with sqlite3.connect(path) as conn:
            columns, rows = queries.run(conn, report, since=day.date().isoformat(), until=day.date().isoformat())
        rows = [dict(zip(columns, row, strict=True)) for row in rows]
        return next((tuple(r[k] for k in figures) for r in rows if r["person"] == "v:" + bea), None)

    assert bea_in(day5) == (1, 1, 1, 1) == bea_in(day5, "conversions_by_sharer")
    assert bea_in(day1) == (1, 0, 0, 0) and bea_in(day1, "conversions_by_sharer") is None
    with sqlite3.connect(path) as conn:  # Ann's share of day 1 brought Bea, and Dan through her: Ann's day 1
        columns, rows = queries.run(conn, "top_influencers", since=day1.date().isoformat(),
                                    until=day1.date().isoformat())
    ann_row = next(dict(zip(columns, r, strict=True)) for r in rows if r[columns.index("person")] == "v:" + ann)
    assert (ann_row["reach"], ann_row["amplified_reach"], ann_row["conversions"]) == (1, 2, 1)
    db.close()
