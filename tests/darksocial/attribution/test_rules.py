"""The rules an analyst relies on (issue 9, 1-5), each on a small scenario with its expected figures, checked on a
full rebuild and on incremental runs fed the same events."""

from __future__ import annotations

import pytest

from darksocial import reports
from darksocial.attribution import attribute

from .test_attribution import snapshot


def same_after_full_rebuild(scenario) -> None:
    incremental = snapshot(scenario.db)
    attribute(scenario.db, full=True)
    assert snapshot(scenario.db) == incremental


def report(scenario, name: str, **params) -> list[dict]:
    columns, rows = reports.run(scenario.db, name, since="2026-01-01", until="2026-12-31", **params)
    return [dict(zip(columns, row, strict=True)) for row in rows]


# -- 1. A reload is not a share ---------------------------------------------------------------------------------------
def test_reload_back_forward_and_restored_tab_make_no_share(scenario):
    a = scenario.view("A")
    s = scenario.share("A", a, "wa")
    b = scenario.view("B", came_with=s, channel="wa")
    # B reloads twice (an old tracker sends the token in B's address bar, with the site as referrer), then shares
    # from the reloaded page; C clicks that share.
    reload1 = scenario.view("B", came_with=b, referrer="blog.example")
    reload2 = scenario.view("B", came_with=reload1, referrer="www.google.com")
    s2 = scenario.share("B", reload2, "tg")
    scenario.view("C", came_with=s2, channel="tg")
    # A restores the tab of their own first view.
    scenario.view("A", came_with=a)
    scenario.attribute()

    shares = {r["token"]: (r["parent"], r["depth"], r["clicks"], r["channel"]) for r in scenario.rows("shares")}
    assert shares == {s: (None, 1, 1, "wa"), s2: (s, 2, 1, "tg")}
    assert {r["channel"] for r in scenario.rows("channels")} <= {"wa", "tg", None}
    for token in (reload1, reload2):
        visit = scenario.row("visits", token=token)
        assert (visit["source"], visit["medium"], visit["channel"], visit["tracked"], visit["click"],
                visit["share_token"], visit["sharer"], visit["depth"], visit["root"]) == (
            "share", "dark", "wa", 1, 0, s, "v:" + scenario.visitor("A"), 1, s)
    cascade = scenario.row("cascades", root=s)
    assert (cascade["shares"], cascade["clicks"], cascade["size"], cascade["depth"]) == (2, 2, 3, 2)
    b_person = scenario.row("influencers", person="v:" + scenario.visitor("B"))
    assert (b_person["shares"], b_person["clicks"], b_person["reach"]) == (1, 1, 1)
    assert scenario.row("stories", url=scenario.ORIGIN + "/story")["shares"] == 2
    same_after_full_rebuild(scenario)


def test_a_reload_todays_tracker_marks_is_one_whoever_the_visitor_seems_to_be(scenario):
    a = scenario.view("A")
    s = scenario.share("A", a, "wa")
    b = scenario.view("B", came_with=s, channel="wa")
    # B's tab is restored the next day in cookieless mode: a new pseudonym, and the tracker sends B's own token as
    # o (a reload), not as i. B then shares from the restored page; C clicks that share.
    restored = scenario.view("B-next-day", reload_of=b)
    s2 = scenario.share("B-next-day", restored, "tg")
    c = scenario.view("C", came_with=s2, channel="tg")
    scenario.attribute()

    shares = {r["token"]: (r["parent"], r["root"], r["clicks"], r["channel"]) for r in scenario.rows("shares")}
    assert shares == {s: (None, s, 1, "wa"), s2: (s, s, 1, "tg")}  # no share of b, s2 stays in A's cascade
    visit = scenario.row("visits", token=restored)
    assert (visit["source"], visit["medium"], visit["channel"], visit["tracked"], visit["click"],
            visit["share_token"], visit["sharer"], visit["root"]) == (
        "share", "dark", "wa", 1, 0, s, "v:" + scenario.visitor("A"), s)
    assert scenario.row("visits", token=c)["root"] == s
    assert scenario.row("cascades", root=s)["shares"] == 2
    same_after_full_rebuild(scenario)


def test_a_marked_reload_of_a_view_never_received_is_no_click(scenario):
    a = scenario.view("A")
    s = scenario.share("A", a, "wa")
    scenario.view("B", came_with=s, channel="wa")
    lost = "Lost000001"  # the view whose token the address bar held never reached the collector
    reload = scenario.view("B", reload_of=lost, referrer="blog.example")
    scenario.attribute()
    assert [r["token"] for r in scenario.rows("shares")] == [s]
    visit = scenario.row("visits", token=reload)
    assert (visit["click"], visit["tracked"], visit["share_token"], visit["source"]) == (0, 0, None, "internal")
    # The view arrives after all: the reload is credited as it was.
    scenario.view("B", token=lost, came_with=s, channel="wa")
    scenario.attribute()
    visit = scenario.row("visits", token=reload)
    assert (visit["click"], visit["tracked"], visit["share_token"], visit["channel"]) == (0, 1, s, "wa")
    assert scenario.row("shares", token=s)["clicks"] == 2
    same_after_full_rebuild(scenario)


def test_a_late_view_moves_the_reloads_of_its_reloads_and_the_shares_made_from_them(scenario):
    a = scenario.view("A")
    s = scenario.share("A", a, "wa")
    b = "LateView01"  # B's click on A's share: it reaches the collector last
    restored = scenario.view("B", reload_of=b)  # today's tracker names it
    reloaded = scenario.view("B", came_with=restored)  # an older tracker, cached in another tab, sends it as i
    s2 = scenario.share("B", reloaded, "tg")
    scenario.view("C", came_with=s2, channel="tg")
    scenario.attribute()
    assert scenario.row("shares", token=s2)["parent"] is None
    scenario.view("B", token=b, came_with=s, channel="wa")
    scenario.attribute()
    assert (scenario.row("shares", token=s2)["parent"], scenario.row("shares", token=s2)["root"]) == (s, s)
    assert scenario.row("visits", token=reloaded)["share_token"] == s
    same_after_full_rebuild(scenario)


def test_a_return_whose_address_bar_showed_no_token_repeats_the_latest_earlier_view_of_the_page(scenario):
    a = scenario.view("A", "/")
    s = scenario.share("A", a, "wa", "/")
    b = scenario.view("B", "/", came_with=s, channel="wa")
    scenario.view("B", "/story", referrer="blog.example")
    # The home page shows no token: B's reload (or back) sends an empty o. B shares from the returned page; C clicks.
    back = scenario.view("B", "/", returned=True, referrer="blog.example")
    again = scenario.view("B", "/", returned=True, referrer="blog.example")  # and once more: the return before
    s2 = scenario.share("B", again, "tg", "/")
    c = scenario.view("C", "/", came_with=s2, channel="tg")
    first = scenario.view("D", "/", returned=True, referrer="www.google.com")  # a return with nothing before it
    scenario.attribute()

    shares = {r["token"]: (r["parent"], r["root"], r["depth"], r["clicks"]) for r in scenario.rows("shares")}
    assert shares == {s: (None, s, 1, 1), s2: (s, s, 2, 1)}  # B's share stays in A's cascade, one level down
    for token in (back, again):
        visit = scenario.row("visits", token=token)
        assert (visit["source"], visit["medium"], visit["channel"], visit["tracked"], visit["click"],
                visit["share_token"], visit["sharer"], visit["depth"]) == (
            "share", "dark", "wa", 1, 0, s, "v:" + scenario.visitor("A"), 1)
    assert scenario.row("visits", token=c)["root"] == s
    assert scenario.row("cascades", root=s)["size"] == 3
    visit = scenario.row("visits", token=first)
    assert (visit["source"], visit["click"], visit["share_token"]) == ("search", 0, None)
    assert scenario.row("visits", token=b)["click"] == 1
    same_after_full_rebuild(scenario)


def test_a_view_arriving_late_moves_the_returns_after_it(scenario):
    a = scenario.view("A", "/")
    s = scenario.share("A", a, "wa", "/")
    scenario.view("B", "/", ts="2026-03-01T10:00:00.000000Z")  # B's first visit: direct
    back = scenario.view("B", "/", returned=True, ts="2026-03-01T12:00:00.000000Z")
    s2 = scenario.share("B", back, "tg", "/", ts="2026-03-01T12:01:00.000000Z")
    scenario.view("C", "/", came_with=s2, channel="tg", ts="2026-03-01T12:02:00.000000Z")
    scenario.attribute()
    assert scenario.row("visits", token=back)["share_token"] is None
    assert scenario.row("shares", token=s2)["parent"] is None  # a share of its own: B came directly
    # B's click on A's share, made between the two, reaches the collector late: the return repeats it now.
    scenario.view("B", "/", came_with=s, channel="wa", ts="2026-03-01T11:00:00.000000Z")
    scenario.attribute()
    visit = scenario.row("visits", token=back)
    assert (visit["share_token"], visit["click"], visit["channel"]) == (s, 0, "wa")
    assert scenario.row("shares", token=s2)["parent"] == s
    assert scenario.row("cascades", root=s)["size"] == 3
    same_after_full_rebuild(scenario)


def test_identified_persons_other_device_reopening_their_page_is_a_reload(scenario):
    a = scenario.view("A")
    s = scenario.share("A", a, "em")
    b = scenario.view("B", came_with=s, channel="em")
    scenario.identify("B", "crm-9", "Bea")
    scenario.identify("Q", "crm-9", "Bea")  # Bea's tablet, which opens the address Bea's phone synced
    scenario.view("Q", came_with=b)
    scenario.attribute()
    assert [r["token"] for r in scenario.rows("shares")] == [s]
    assert scenario.row("cascades", root=s)["size"] == 2


def test_identity_arriving_after_the_reload_turns_the_fake_share_back(scenario):
    a = scenario.view("A")
    s = scenario.share("A", a, "em")
    b = scenario.view("B", came_with=s, channel="em")
    scenario.identify("B", "crm-9", "Bea")
    scenario.view("Q", came_with=b)  # the tablet is not known as Bea's yet: an address-bar share
    scenario.attribute()
    assert scenario.row("shares", token=b)["origin"] == "address_bar"
    scenario.identify("Q", "crm-9", "Bea")
    assert scenario.attribute()["mode"] == "incremental"
    assert [r["token"] for r in scenario.rows("shares")] == [s]
    same_after_full_rebuild(scenario)


# -- 2. Depth counts people -------------------------------------------------------------------------------------------
def test_depth_counts_people_hops_not_share_hops(scenario):
    a = scenario.view("A")
    s1 = scenario.share("A", a, "wa")
    b = scenario.view("B", came_with=s1)
    scenario.view("C", came_with=s1)  # C arrives through A: one hop
    s2 = scenario.share("B", b, "wa")
    c_again = scenario.view("C", came_with=s2)  # C comes back through B's re-share...
    s3 = scenario.share("C", c_again, "wa")  # ...and shares from that later, deeper visit
    d = scenario.view("D", came_with=s3)
    scenario.attribute()

    assert scenario.row("shares", token=s3)["depth"] == 2  # share hops would say 3
    assert scenario.row("visits", token=d)["depth"] == 2
    cascade = scenario.row("cascades", root=s1)
    assert (cascade["size"], cascade["depth"]) == (4, 2)
    people = {r["person"][2:3]: (r["parent_person"] and r["parent_person"][2:3], r["depth"], r["reach"],
                                 r["amplified_reach"], r["via_share"])
              for r in scenario.rows("cascade_people", root=s1)}
    assert people == {"A": (None, 1, 2, 3, s1), "B": ("A", 2, 0, 0, s1), "C": ("A", 2, 1, 1, s1),
                      "D": ("C", 3, 0, 0, s3)}
    same_after_full_rebuild(scenario)


# -- 3. A person is one node, whatever the device ---------------------------------------------------------------------
def test_identified_person_is_one_node_across_devices(scenario):
    a = scenario.view("A")
    s = scenario.share("A", a, "wa")
    b = scenario.view("B", came_with=s)
    s2 = scenario.share("B", b, "wa")
    scenario.identify("A", "crm-7", "Ann")
    scenario.identify("P", "crm-7", "Ann")  # Ann's phone opens B's re-share
    scenario.view("P", came_with=s2)
    scenario.view("C", came_with=s2)
    scenario.attribute()

    cascade = scenario.row("cascades", root=s)
    assert (cascade["size"], cascade["depth"]) == (3, 2)  # Ann, B, C: the phone is no extra node
    ann = scenario.row("influencers", person="x:crm-7")
    assert (ann["amplified_reach"], ann["reach"]) == (2, 1)  # B and C, never Ann herself
    assert scenario.row("shares", token=s)["amplified_reach"] == 2
    assert len(scenario.rows("cascade_people", root=s, person="x:crm-7")) == 1
    same_after_full_rebuild(scenario)


# -- 4. Reach is distinct people --------------------------------------------------------------------------------------
def test_person_figures_are_distinct_people_not_sums_over_shares(scenario):
    a = scenario.view("A")
    s1 = scenario.share("A", a, "wa")
    s2 = scenario.share("A", a, "tg")
    s3 = scenario.share("A", scenario.view("A", "/guide"), "em", "/guide")  # another story, another cascade
    for who in "BC":
        for token in (s1, s2):
            scenario.view(who, came_with=token)
        scenario.view(who, "/guide", came_with=s3)
    scenario.goal("B", "signup")
    scenario.attribute()

    person = "v:" + scenario.visitor("A")
    ann = scenario.row("influencers", person=person)
    assert (ann["shares"], ann["clicks"], ann["reach"], ann["amplified_reach"], ann["conversions"]) == (3, 6, 2, 2, 1)
    top = {r["person"]: r for r in report(scenario, "top_influencers")}[person]
    assert (top["shares"], top["clicks"], top["reach"], top["amplified_reach"], top["conversions"]) == (3, 6, 2, 2, 1)
    by_sharer = {r["person"]: r for r in report(scenario, "conversions_by_sharer")}[person]
    assert (by_sharer["amplified_reach"], by_sharer["conversions"]) == (2, 1)
    same_after_full_rebuild(scenario)


def test_a_story_reaches_the_people_who_clicked_its_shares_wherever_they_landed(make_scenario):
    def play(sc, split: bool):
        a = sc.view("A", "/old-slug")
        s = sc.share("A", a, "wa", "/old-slug")
        sc.view("B", "/new-slug", came_with=s, channel="wa")  # the CMS redirected; the #ds= fragment went along
        if split:
            sc.attribute()
        sc.view("C", "/new-slug?page=2", came_with=s, channel="wa")  # an edited link
        sc.view("B", "/new-slug", came_with=s, channel="wa")  # B again: one person
        sc.attribute()

    for split in (False, True):
        sc = make_scenario(f"split{split}")
        play(sc, split)
        old = sc.row("stories", url=sc.ORIGIN + "/old-slug")
        assert (old["shares"], old["clicks"], old["reach"]) == (1, 3, 2)
        landed = [sc.row("stories", url=sc.ORIGIN + path) for path in ("/new-slug", "/new-slug?page=2")]
        figures = [(r["visits"], r["shares"], r["reach"], r["virality_score"]) for r in landed]
        assert figures == [(2, 0, 0, 0), (1, 0, 0, 0)]
        assert old["virality_score"] == 100
        same_after_full_rebuild(sc)


# -- 5. A conversion follows the click --------------------------------------------------------------------------------
def test_only_goals_after_the_first_click_convert(scenario):
    a = scenario.view("A")
    s = scenario.share("A", a, "wa")
    scenario.goal("B", "signup")  # B had signed up before A's share reached them
    scenario.view("B", came_with=s)
    scenario.view("C", came_with=s)
    scenario.goal("C", "signup")
    scenario.goal("C", "buy")
    scenario.goal("C", "buy")  # the same goal twice counts once
    scenario.attribute()

    assert scenario.row("shares", token=s)["conversions"] == 2
    assert scenario.row("cascades", root=s)["conversions"] == 2
    assert scenario.row("influencers", person="v:" + scenario.visitor("A"))["conversions"] == 2
    scenario.goal("B", "signup")  # B signs up again, after the click: now it counts
    scenario.attribute()
    assert scenario.row("shares", token=s)["conversions"] == 3
    assert scenario.row("influencers", person="v:" + scenario.visitor("A"))["conversions"] == 3
    same_after_full_rebuild(scenario)


def test_a_channel_counts_the_clicks_and_people_that_came_through_it(scenario):
    """A copied address bar (no share event): B and C paste it bare, D sends it by SMS (#ds=<token>.sms). The
    share's channel is its visits' most common one (ab); each click counts, with its person, in the channel it came
    through, as `daily` counts it, so no channel has more people than clicks."""
    a = scenario.view("A")
    for who in "BC":
        scenario.view(who, came_with=a)
    scenario.view("D", came_with=a, channel="sms")
    scenario.attribute()

    assert scenario.row("shares", token=a)["channel"] == "ab"
    channels = {r["channel"]: (r["shares"], r["clicks"], r["reach"]) for r in scenario.rows("channels")}
    assert channels == {"ab": (1, 2, 2), "sms": (0, 1, 1)}
    daily = {r["channel"]: r["clicks"] for r in scenario.rows("daily") if r["clicks"]}
    assert daily == {"ab": 2, "sms": 1}
    same_after_full_rebuild(scenario)


@pytest.mark.parametrize("late", ["share", "identify"])
def test_late_share_events_and_identities_give_the_same_tables(make_scenario, late):
    def play(sc, hold_back: bool):
        a = sc.view("A", token="ViewOfAnnA", ts="2026-03-01T00:00:01.000000Z")
        s = "LateShare1"
        b = sc.view("B", came_with=s, channel="wa", token="ViewOfBeaB", ts="2026-03-01T00:00:03.000000Z")
        sc.view("B", came_with=b, token="ReloadOfBB", ts="2026-03-01T00:00:04.000000Z")  # a reload
        sc.view("C", came_with=b, token="ViewOfCyCC", ts="2026-03-01T00:00:05.000000Z")  # an address-bar share
        held = [dict(kind="share", visitor=sc.visitor("A"), url=sc.ORIGIN + "/story", token=s, parent=a,
                     channel="wa", ts="2026-03-01T00:00:02.000000Z"),
                dict(kind="identify", visitor=sc.visitor("C"), external_id="crm-1", name="Cy",
                     ts="2026-03-01T00:00:06.000000Z")]
        held = [e for e in held if e["kind"] == late]
        for event in held:
            event["site"] = sc.SITE
        if hold_back:
            sc.attribute()
            sc.flush(held)
        else:
            sc.flush(held)
        sc.event(kind="identify", visitor=sc.visitor("B"), external_id="crm-1", name="Cy",
                 ts="2026-03-01T00:00:07.000000Z")  # B and C are one person: C's view becomes a reload
        return sc.attribute()

    reference = make_scenario("reference")
    play(reference, hold_back=False)
    attribute(reference.db, full=True)
    late_run = make_scenario("late")
    assert play(late_run, hold_back=True)["mode"] == "incremental"
    assert snapshot(late_run.db) == snapshot(reference.db)


def test_a_new_click_rewrites_its_cascade_but_only_the_visits_whose_share_moved(scenario):
    a = scenario.view("A")
    root = scenario.share("A", a, "wa")
    clicks = [scenario.view(f"P{i:03d}", came_with=root, channel="wa") for i in range(60)]
    reshare = scenario.share("P000", clicks[0], "sms")
    for i in range(5):
        scenario.view(f"Q{i:03d}", came_with=reshare, channel="sms")
    scenario.attribute()
    scenario.view("LATE", came_with=root, channel="wa")
    stats = scenario.attribute()
    assert stats["mode"] == "incremental" and stats["visits"] == 1  # the new click, not the cascade's 66 others
    assert scenario.row("cascades", root=root)["size"] == 67 and scenario.row("shares", token=root)["clicks"] == 61
    same_after_full_rebuild(scenario)

    # The share event arrives late: every click on the share moves to its channel and is reclassified.
    late = scenario.view("B")
    pending = scenario.view("C", came_with="LateTokenA", channel=None, referrer="t.co")
    assert scenario.attribute()["visits"] == 2
    assert scenario.rows("visits", token=pending)[0]["channel"] == "x"  # t.co's channel, until the share says
    scenario.share("B", late, "em", token="LateTokenA")
    assert scenario.attribute()["visits"] >= 1
    assert scenario.rows("visits", token=pending)[0]["channel"] == "em"
    same_after_full_rebuild(scenario)


# -- 6. One page, one story -------------------------------------------------------------------------------------------
def test_every_visit_falls_in_exactly_one_part_of_the_split_and_a_private_channels_referrer_is_dark(scenario):
    # No token, but a private channel's own referrer (WhatsApp Web, a webmail, Telegram Web): untracked dark social,
    # counted with the estimated ones; the parts of a story's and a day's split add up to its visits.
    private = {"web.whatsapp.com": "wa", "mail.google.com": "em", "web.telegram.org": "tg"}
    for n, host in enumerate(private):
        scenario.view(f"P{n}", referrer=host)
    scenario.view("S", referrer="www.google.com")
    scenario.view("H", referrer="news.ycombinator.com")
    scenario.view("E")  # a first view with no referrer on a deep page: estimated
    a = scenario.view("A", "/")
    scenario.view("B", came_with=scenario.share("A", a, "sms"), channel="sms")
    scenario.attribute()

    for host, channel in private.items():
        visit = scenario.row("visits", referrer_host=host)
        assert (visit["source"], visit["medium"], visit["channel"], visit["tracked"], visit["estimated"]) == (
            "social", "dark", channel, 0, 1)
    story = scenario.row("stories", url=scenario.ORIGIN + "/story")
    parts = ("dark_tracked", "dark_estimated", "open", "search", "referral", "campaign", "internal", "direct")
    assert (story["visits"], story["visits_dark_tracked"], story["visits_dark_estimated"]) == (7, 1, 4)
    assert sum(story[f"visits_{part}"] for part in parts) == story["visits"]
    [top] = [r for r in report(scenario, "top_stories") if r["url"] == scenario.ORIGIN + "/story"]
    assert top["dark_tracked"] + top["dark_estimated"] + top["open_social"] + top["other"] == top["visits"] == 7
    assert top["dark_social_pct"] == round(100 * 5 / 7, 1)
    [day] = report(scenario, "dark_social_over_time")
    assert day["dark_tracked"] + day["dark_estimated"] + day["open_social"] + day["other"] == day["visits"] == 8
    same_after_full_rebuild(scenario)


def test_campaign_parameters_classify_from_the_campaign_query_and_the_manifest_title_wins(scenario):
    page = scenario.ORIGIN + "/story"
    # What the collector stores: the canonical URL, and the tracking parameters it cut from it.
    scenario.event(kind="view", visitor=scenario.visitor("A"), url=page, token="Campaign01", title="Sender's title",
                   campaign_query="utm_source=newsletter&utm_campaign=spring&fbclid=abc")
    scenario.event(kind="view", visitor=scenario.visitor("B"), url=page, token="FbClickId1", title="<b>forged</b>",
                   referrer_host="l.facebook.com", campaign_query="fbclid=xyz")
    scenario.view("C", "/story")
    # An ad click whose browser sent no referrer: a campaign, not estimated dark social.
    scenario.event(kind="view", visitor=scenario.visitor("D"), url=page, token="AdClick001", campaign_query="gclid=1")
    scenario.db["pages"].insert({"site": scenario.SITE, "url": page, "title": "The real title"}, alter=True)
    scenario.attribute()

    campaign = scenario.row("visits", token="Campaign01")
    assert (campaign["source"], campaign["medium"], campaign["channel"], campaign["campaign"]) == (
        "campaign", "campaign", "newsletter", "spring")
    facebook = scenario.row("visits", token="FbClickId1")
    assert (facebook["source"], facebook["channel"]) == ("social", "fb")  # a click id alone is no campaign
    ad = scenario.row("visits", token="AdClick001")
    assert (ad["source"], ad["medium"], ad["channel"], ad["estimated"], ad["campaign"]) == (
        "campaign", "campaign", "google", 0, None)
    story = scenario.row("stories", url=page)
    assert (story["visits"], story["visits_campaign"], story["title"]) == (4, 2, "The real title")
    assert len(scenario.rows("stories")) == 1
