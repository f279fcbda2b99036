"""An independent check of the canned reports (README "## Reporting server", "What each report answers") against
what the attributed tables mean (``darksocial/tables.py``) and against hand-built scenarios.

The expectations come from the README and the column descriptions only, never from the reports' SQL:

* windows: ``since`` and ``until`` are UTC dates, inclusive; blank means the last 30 days including today; a blank
  ``site`` means all sites;
* "a share counts on the day it was minted, with every click it got": share figures (shares, their clicks, reach,
  re-shares) follow ``shares.date`` / ``shares.site``, whenever the clicks came; visit figures follow ``visits.date``;
* the dashboard's headline numbers compare with "the previous period of the same length": the headline report over
  the days just before ``since``.

A figure the documents leave open (or state in two readings) is checked only where the readings agree; a figure the
report got wrong when this check was written has a minimal test of its own (test_headline_people_reached_*, ...).
"""

from __future__ import annotations

import datetime as dt
import random
import string
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

from darksocial import reports

from ..darksocial.conftest import Scenario

TODAY = dt.datetime.now(dt.timezone.utc).date()


def day(k: int) -> str:
    """The UTC date ``k`` days before today."""
    return (TODAY - dt.timedelta(days=k)).isoformat()


def at(k: int, hour: int, minute: int = 0, second: int = 0) -> str:
    return f"{day(k)}T{hour:02d}:{minute:02d}:{second:02d}.000000Z"


class Sites(Scenario):
    """The test helpers' Scenario, on two sites (blog.example and news.example)."""

    def on(self, site: str) -> Sites:
        self.SITE, self.ORIGIN = site, f"https://{site}.example"
        return self

    def goal_at(self, who: str, goal: str, ts: str) -> None:
        self.event(kind="goal", visitor=self.visitor(who), goal=goal, ts=ts)


def run(sc: Scenario, name: str, **params) -> list[dict]:
    columns, rows = reports.run(sc.db.conn, name, **params)
    return [dict(zip(columns, row, strict=True)) for row in rows]


def headline(sc: Scenario, **window) -> dict:
    rows = run(sc, "headline", **window)
    assert len(rows) == 1
    return rows[0]


def rounded(numerator: int, denominator: int, places: str) -> float | None:
    """numerator / denominator to ``places`` ("0.1", "0.01"), halves away from zero (README: "ratios have two
    decimals, percentages one"; 1/16 is 6.3 %)."""
    if not denominator:
        return None
    return float((Decimal(numerator) / Decimal(denominator)).quantize(Decimal(places), rounding=ROUND_HALF_UP))


def pct(part: int, whole: int) -> float | None:
    return rounded(100 * part, whole, "0.1")


def ratio(a: int, b: int) -> float | None:
    return rounded(a, b, "0.01")


def p(who: str) -> str:
    return "v:" + Scenario.visitor(who)


# -- The oracle over the attributed tables -------------------------------------------------------------------------
class Tables:
    """The attributed tables of a scenario, read once, and what the README says each report answers over them."""

    def __init__(self, sc: Scenario):
        self.visits = sc.rows("visits")
        self.shares = sc.rows("shares")
        self.cascades = sc.rows("cascades")
        self.people = sc.rows("cascade_people")
        self.influencers = {r["person"]: r for r in sc.rows("influencers")}
        self.children = defaultdict(list)
        for s in self.shares:
            if s["parent"]:
                self.children[s["parent"]].append(s)
        self.by_token = {s["token"]: s for s in self.shares}
        # People with a share in a cascade rooted on another site (a share token pasted onto the other site's page).
        self.cross_site = {s["sharer"] for s in self.shares if self.by_token[s["root"]]["site"] != s["site"]}

    @staticmethod
    def dates(since: str, until: str) -> tuple[str, str]:
        """README: blank ``since``/``until`` mean the last 30 days including today."""
        return since or day(29), until or day(0)

    def in_window(self, date: str, site: str, since: str = "", until: str = "", wsite: str = "") -> bool:
        lo, hi = self.dates(since, until)
        return lo <= date <= hi and (not wsite or site == wsite)

    def window_visits(self, since="", until="", site="") -> list[dict]:
        return [v for v in self.visits if self.in_window(v["date"], v["site"], since, until, site)]

    def window_shares(self, since="", until="", site="") -> list[dict]:
        return [s for s in self.shares if self.in_window(s["date"], s["site"], since, until, site)]

    @staticmethod
    def split(visits: list[dict]) -> dict:
        """Visits split as stories/story_daily describe them: tracked dark social (a private channel with a share
        token or a channel code alone), estimated dark social, open social (medium open), and the rest."""
        tracked = sum(1 for v in visits if v["medium"] == "dark" and v["tracked"])
        estimated = sum(1 for v in visits if v["estimated"])
        open_ = sum(1 for v in visits if v["medium"] == "open")
        return {"visits": len(visits), "dark_tracked": tracked, "dark_estimated": estimated, "open_social": open_,
                "other": len(visits) - tracked - estimated - open_}

    def clickers(self, tokens: set[str]) -> set[str]:
        return {v["person"] for v in self.visits if v["click"] and v["share_token"] in tokens}

    def subtree(self, token: str) -> list[dict]:
        out, todo = [], [self.by_token[token]]
        while todo:
            s = todo.pop()
            out.append(s)
            todo.extend(self.children[s["token"]])
        return out

    # what each report answers ----------------------------------------------------------------------------------
    def top_stories(self, since="", until="", site="") -> dict:
        pages = defaultdict(lambda: {"visits": [], "shares": []})
        for v in self.window_visits(since, until, site):
            pages[v["site"], v["url"]]["visits"].append(v)
        for s in self.window_shares(since, until, site):
            pages[s["site"], s["url"]]["shares"].append(s)
        out = {}
        for key, found in pages.items():
            split = self.split(found["visits"])
            shares, clicks = len(found["shares"]), sum(s["clicks"] for s in found["shares"])
            out[key] = {**split, "shares": shares, "clicks": clicks, "clicks_per_share": ratio(clicks, shares)}
        return out

    def over_time(self, since="", until="", site="") -> dict:
        by_day = defaultdict(list)
        for v in self.window_visits(since, until, site):
            by_day[v["date"]].append(v)
        return {date: self.split(found) for date, found in by_day.items()}

    def headline_visits(self, since="", until="", site="") -> dict:
        split = self.split(self.window_visits(since, until, site))
        shares = self.window_shares(since, until, site)
        clicks = sum(s["clicks"] for s in shares)
        return {"visits": split["visits"], "dark_tracked": split["dark_tracked"],
                "dark_estimated": split["dark_estimated"],
                "dark_tracked_pct": pct(split["dark_tracked"], split["visits"]),
                "dark_estimated_pct": pct(split["dark_estimated"], split["visits"]),
                "dark_social_pct": pct(split["dark_tracked"] + split["dark_estimated"], split["visits"]),
                "shares": len(shares), "clicks": clicks, "clicks_per_share": ratio(clicks, len(shares))}

    def top_influencers(self, since="", until="", site="") -> dict:
        """Per person with a share in the window: their shares there, every click those got, the distinct people
        who clicked them, the re-shares they triggered (child tokens with a click)."""
        mine = defaultdict(list)
        for s in self.window_shares(since, until, site):
            if s["sharer"]:
                mine[s["sharer"]].append(s)
        out = {}
        for person, shares in mine.items():
            clicks = sum(s["clicks"] for s in shares)
            out[person] = {"shares": len(shares), "clicks": clicks,
                           "reach": len(self.clickers({s["token"] for s in shares})),
                           "reshares": sum(s["reshares"] for s in shares),
                           "clicks_per_share": ratio(clicks, len(shares))}
        return out

    def all_shares_in_window(self, person: str, since="", until="", site="") -> bool:
        return all(self.in_window(s["date"], s["site"], since, until, site)
                   for s in self.shares if s["sharer"] == person)

    def largest_cascades(self, since="", until="", site="") -> dict:
        keep = ("site", "url", "sharer", "channel", "started", "size", "depth", "shares", "clicks", "conversions")
        return {c["root"]: {k: c[k] for k in keep} for c in self.cascades
                if self.in_window(c["started"][:10], c["site"], since, until, site)}


def check_generic(sc: Scenario, t: Tables, **window) -> None:
    """What holds in any scenario and window (README "What each report answers", tables.py)."""
    since, until, site = window.get("since", ""), window.get("until", ""), window.get("site", "")
    # top_stories: visits split into tracked dark social, estimated, open social and the rest; shares of the page
    # minted in the window with every click they got.
    stories = run(sc, "top_stories", **window)
    expected = t.top_stories(since, until, site)
    # A page with shares minted in the window but no visit in it (shared from a tab opened on an earlier day) is
    # listed too: its shares and their clicks count where the headline and top_influencers count them.
    expected = {key: row for key, row in expected.items() if row["visits"] or row["shares"]}
    got = {(r["site"], r["url"]): {k: r[k] for k in ("visits", "dark_tracked", "dark_estimated", "open_social",
                                                          "other", "shares", "clicks", "clicks_per_share")}
           for r in stories}
    assert got == expected, window
    for r in stories:
        assert r["dark_social_pct"] == pct(r["dark_tracked"] + r["dark_estimated"], r["visits"]), r

    # dark_social_over_time: one row per day of the window with visits, split the same way; its totals are the
    # stories' and the headline's.
    over_time = run(sc, "dark_social_over_time", **window)
    got = {r["date"]: {k: r[k] for k in ("visits", "dark_tracked", "dark_estimated", "open_social", "other")}
           for r in over_time if r["visits"]}
    assert got == t.over_time(since, until, site), window
    lo, hi = t.dates(since, until)
    assert all(lo <= r["date"] <= hi for r in over_time), window
    for r in over_time:
        assert r["dark_social_pct"] == pct(r["dark_tracked"] + r["dark_estimated"], r["visits"]), r
    totals = {k: sum(r[k] for r in over_time) for k in ("visits", "dark_tracked", "dark_estimated")}
    assert totals == {k: sum(r[k] for r in stories) for k in totals}

    # headline: visits, dark social tracked and estimated (counts and %), shares, clicks per share.
    head = headline(sc, **window)
    expected = t.headline_visits(since, until, site)
    assert {k: head[k] for k in expected} == expected, window
    assert {k: head[k] for k in totals} == totals
    # K, "re-shares per click": the re-shares minted in the window that got a click, or the re-shares the window's
    # shares triggered (shares.reshares)? Checked where the two readings agree.
    window_shares = t.window_shares(since, until, site)
    minted = sum(1 for s_ in window_shares if s_["parent"] and s_["clicks"])
    if minted == sum(s_["reshares"] for s_ in window_shares):
        assert head["k_factor"] == ratio(minted, head["clicks"]) or (head["clicks"] == 0 and not head["k_factor"])
    # Conversions "(distinct visitor-goal pairs) in the cascades started in the window": a person who clicked into
    # several of them counts the goals reached after their first click into any (the most any one row holds: a
    # goal counts by the last time it was reached); where nobody is in two of them, the cascades' sum.
    started = set(t.largest_cascades(since, until, site))
    most: dict = {}
    for r in t.people:
        if r["root"] in started and r["conversions"]:
            most[r["person"]] = max(most.get(r["person"], 0), r["conversions"])
    assert head["conversions"] == sum(most.values()), window
    if len(most) == sum(1 for r in t.people if r["root"] in started and r["conversions"]):
        assert head["conversions"] == sum(c["conversions"] for c in t.cascades if c["root"] in started), window
    # People reached through the shares minted in the window ("a share counts on the day it was minted, with every
    # click it got"): the distinct people who clicked one of them, whenever.
    minted_tokens = {s_["token"] for s_ in window_shares}
    assert head["people_reached"] == len({v["person"] for v in t.visits
                                          if v["click"] and v["share_token"] in minted_tokens}), window
    assert (head["shares"], head["clicks"]) == (sum(r["shares"] for r in stories), sum(r["clicks"] for r in stories))

    # top_influencers: per person, over the shares they minted in the window.
    influencers = run(sc, "top_influencers", **window)
    expected = t.top_influencers(since, until, site)
    got = {r["person"]: {k: r[k] for k in ("shares", "clicks", "reach", "reshares", "clicks_per_share")}
           for r in influencers}
    assert set(got) <= set(expected), window
    assert {person for person, e in expected.items() if e["clicks"]} <= set(got), window
    assert got == {person: expected[person] for person in got}, window
    for r in influencers:
        # README: "takes a person's reach, amplified reach and conversions from influencers when all of their
        # shares fall in the window"; with every share in the window the person's figures are their whole ones.
        if t.all_shares_in_window(r["person"], since, until, site):
            whole = t.influencers[r["person"]]
            assert (r["reach"], r["tier"]) == (whole["reach"], whole["tier"]), (window, r)
            assert (r["amplified_reach"], r["conversions"]) == (
                whole["amplified_reach"], whole["conversions"]), (window, r)
        # amplified reach counts distinct people below them, which include those who clicked their shares.
        whole = t.influencers[r["person"]]
        # Over part of their shares they cannot reach more people, nor more conversions, than over all of them.
        assert r["amplified_reach"] <= whole["amplified_reach"] and r["conversions"] <= whole["conversions"], r
        mine = [s for s in t.window_shares(since, until, site) if s["sharer"] == r["person"]]
        assert r["first_share"] == min(s["ts"] for s in mine) and r["last_share"] == max(s["ts"] for s in mine)
        # The report's description: "Tier [...] and top channel are over all time".
        assert r["top_channel"] == whole["top_channel"], (window, r)

    # conversions_by_sharer counts as top_influencers does ("top_influencers and conversions_by_sharer count the
    # same way"); everyone whose audience reached a goal is listed.
    by_sharer = {r["person"]: r for r in run(sc, "conversions_by_sharer", **window)}
    converting = {r["person"] for r in influencers if r["conversions"]}
    assert converting <= set(by_sharer), window
    for r in influencers:
        if r["person"] in by_sharer:
            other = by_sharer[r["person"]]
            assert (other["shares"], other["clicks"], other["amplified_reach"], other["conversions"]) == (
                r["shares"], r["clicks"], r["amplified_reach"], r["conversions"]), (window, r, other)
    assert set(by_sharer) <= {r["person"] for r in influencers}, window

    # channel_mix: visits by the channel they came through, shares minted in the window by channel.
    mix_rows = run(sc, "channel_mix", **window)
    mix = {r["code"]: r for r in mix_rows if r["code"]}
    visits = t.window_visits(since, until, site)
    # Its tracked and estimated columns add up to the window's tracked and estimated visits (every channel).
    assert sum(r["tracked"] for r in mix_rows) == sum(1 for v in visits if v["tracked"]), window
    assert sum(r["estimated"] for r in mix_rows) == sum(1 for v in visits if v["estimated"]), window
    shares = t.window_shares(since, until, site)
    for code in {v["channel"] for v in visits if v["tracked"]} | {s["channel"] for s in shares}:
        assert code in mix, (window, code)
        assert mix[code]["visits"] == sum(1 for v in visits if v["channel"] == code), (window, code)
        assert mix[code]["tracked"] == sum(1 for v in visits if v["channel"] == code and v["tracked"]), code
        assert mix[code]["shares"] == sum(1 for s in shares if s["channel"] == code), (window, code)
        # "a share counts on the day it was minted, with every click it got"
        clicks = sum(s["clicks"] for s in shares if s["channel"] == code)
        assert (mix[code]["clicks"], mix[code]["clicks_per_share"]) == (
            clicks, ratio(clicks, mix[code]["shares"])), (window, code)

    # largest_cascades: the cascades whose root share was minted in the window, with their whole figures.
    # A cascade that reached somebody (2+ people) is listed; whether single-node ones are is left open.
    keep = ("url", "sharer", "channel", "started", "size", "depth", "shares", "clicks", "conversions")
    got = {r["root"]: {k: r[k] for k in keep} for r in run(sc, "largest_cascades", **window)}
    expected = {root: {k: c[k] for k in keep} for root, c in t.largest_cascades(since, until, site).items()}
    assert set(got) <= set(expected), window
    assert {root for root, c in expected.items() if c["size"] > 1} <= set(got), window
    assert got == {root: expected[root] for root in got}, window

    # cascade_tree(url): the tree below every root share of the page minted in the window.
    for site_, url in {(s["site"], s["url"]) for s in t.shares}:
        if site and site_ != site:
            continue
        roots = [s for s in t.window_shares(since, until, site) if s["url"] == url and not s["parent"]]
        rows = run(sc, "cascade_tree", url=url, share="", **window)
        expected = {b["token"]: ("top" if b["parent"] is None else b["parent"], b["clicks"], b["reach"], b["depth"])
                    for root in roots for b in t.subtree(root["token"])}
        assert {r["id"]: (r["parent"], r["clicks"], r["reach"], r["depth"]) for r in rows if r["id"] != "top"} == \
            expected, (window, url)

    # influencer(person): one row per share of theirs minted in the window; got_it_from is the sharer of the
    # share that brought them.
    for person in {s["sharer"] for s in t.shares if s["sharer"]}:
        rows = run(sc, "influencer", person=person, **window)
        expected = {s["token"]: (s["url"], s["channel"], s["depth"], s["clicks"], s["reach"], s["reshares"],
                                 s["amplified_reach"], s["conversions"],
                                 t.by_token[s["parent"]]["sharer"] if s["parent"] else None)
                    for s in shares if s["sharer"] == person}
        got = {r["share"]: (r["url"], r["channel"], r["depth"], r["clicks"], r["reach"], r["reshares"],
                            r["amplified_reach"], r["conversions"], r["got_it_from"]) for r in rows}
        assert got == expected, (window, person)


def check_trees(sc: Scenario, t: Tables) -> None:
    """cascade_tree(share): the tree of shares below one share, whatever the window."""
    for s in t.shares:
        rows = run(sc, "cascade_tree", share=s["token"], url="")
        shares = {r["id"]: r for r in rows if r["id"] != "top"}
        below = t.subtree(s["token"])
        assert set(shares) == {b["token"] for b in below}, s
        for b in below:
            r = shares[b["token"]]
            assert (r["parent"], r["channel"], r["clicks"], r["reach"], r["depth"]) == (
                "top" if b["token"] == s["token"] else b["parent"], b["channel"], b["clicks"], b["reach"],
                b["depth"]), b


# -- A hand-built scenario ------------------------------------------------------------------------------------------
P, Q, R = 30, 29, 3  # P: the day before the blank window; Q: its first day; R: three days ago


def story(sc: Sites) -> dict:
    """On blog: A (first view, no referrer: estimated) shares /a on WhatsApp on day P; B clicks it on day Q and
    re-shares on Telegram; C clicks B's share on Q. On day R: D clicks A's share (a late click), E clicks B's and
    signs up, C re-shares on X and G clicks that from t.co, F comes to /b from Google. On news: H (estimated)
    shares /n by email on day R, I clicks it today."""
    sc.on("blog")
    a = sc.view("A", "/a", ts=at(P, 9))
    s_a = sc.share("A", a, "wa", "/a", ts=at(P, 10))
    b = sc.view("B", "/a", came_with=s_a, channel="wa", ts=at(Q, 9))
    s_b = sc.share("B", b, "tg", "/a", ts=at(Q, 10))
    c = sc.view("C", "/a", came_with=s_b, channel="tg", ts=at(Q, 11))
    sc.view("D", "/a", came_with=s_a, channel="wa", ts=at(R, 9))
    sc.view("E", "/a", came_with=s_b, channel="tg", ts=at(R, 10))
    sc.goal_at("E", "signup", at(R, 11))
    s_c = sc.share("C", c, "x", "/a", ts=at(R, 12))
    sc.view("G", "/a", came_with=s_c, channel="x", referrer="t.co", ts=at(R, 13))
    sc.view("F", "/b", referrer="www.google.com", ts=at(R, 14))
    sc.on("news")
    h = sc.view("H", "/n", ts=at(R, 9))
    s_h = sc.share("H", h, "em", "/n", ts=at(R, 10))
    sc.view("I", "/n", came_with=s_h, channel="em", ts=at(0, 1))
    sc.attribute()
    return {"sA": s_a, "sB": s_b, "sC": s_c, "sH": s_h}


A_URL, B_URL, N_URL = "https://blog.example/a", "https://blog.example/b", "https://news.example/n"


def test_story_figures_by_hand(tmp_path):
    sc = Sites(tmp_path / "story.db")
    tok = story(sc)

    # The people tree of A's cascade, from the scenario: A → B, D; B → C, E; C → G.
    cascade = sc.row("cascades", root=tok["sA"])
    assert (cascade["size"], cascade["depth"], cascade["shares"], cascade["clicks"], cascade["conversions"]) == (
        6, 3, 3, 5, 1)

    # Day P alone: A's estimated first view; A's share, minted that day, with both its clicks (B on Q, D on R).
    one_day = {"since": day(P), "until": day(P)}
    head = headline(sc, **one_day)
    assert {k: head[k] for k in ("visits", "dark_tracked", "dark_estimated", "dark_estimated_pct",
                                 "dark_social_pct", "shares", "clicks", "clicks_per_share", "conversions")} == {
        "visits": 1, "dark_tracked": 0, "dark_estimated": 1, "dark_estimated_pct": 100.0, "dark_social_pct": 100.0,
        "shares": 1, "clicks": 2, "clicks_per_share": 2.0, "conversions": 1}
    assert head["people_reached"] == 2  # B and D clicked A's share, minted that day
    assert [(r["person"], r["shares"], r["clicks"], r["reach"], r["reshares"], r["amplified_reach"],
             r["conversions"], r["top_channel"]) for r in run(sc, "top_influencers", **one_day)] == [
        (p("A"), 1, 2, 2, 1, 5, 1, "wa")]
    assert [(r["url"], r["visits"], r["dark_estimated"], r["shares"], r["clicks"])
            for r in run(sc, "top_stories", **one_day)] == [(A_URL, 1, 1, 1, 2)]
    assert [(r["date"], r["visits"], r["dark_estimated"])
            for r in run(sc, "dark_social_over_time", **one_day)] == [(day(P), 1, 1)]
    assert [(r["root"], r["size"], r["depth"], r["shares"], r["clicks"], r["structural_virality"],
             r["conversions"]) for r in run(sc, "largest_cascades", **one_day)] == [
        (tok["sA"], 6, 3, 3, 5, round(62 / 30, 2), 1)]  # W = 31 over 15 pairs: ν = 2·31/(6·5)
    assert [(r["person"], r["conversions"]) for r in run(sc, "conversions_by_sharer", **one_day)] == [(p("A"), 1)]
    assert run(sc, "influencer", person=p("B"), **one_day) == []
    tree = run(sc, "cascade_tree", url=A_URL, share="", **one_day)
    assert {(r["id"], r["parent"], r["clicks"], r["depth"]) for r in tree if r["id"] != "top"} == {
        (tok["sA"], "top", 2, 1), (tok["sB"], tok["sA"], 2, 2), (tok["sC"], tok["sB"], 1, 3)}

    # The blank window: the last 30 days including today (days Q..0), both sites.
    head = headline(sc)
    # visits: B, C (Q); D, E, G, F, H (R); I (today). Tracked dark: B, C, D, E, I; estimated: H.
    # shares minted: sB, sC, sH, with every click they got: 2 + 1 + 1.
    assert {k: head[k] for k in ("visits", "dark_tracked", "dark_estimated", "shares", "clicks",
                                 "clicks_per_share", "conversions")} == {
        "visits": 8, "dark_tracked": 5, "dark_estimated": 1, "shares": 3, "clicks": 4, "clicks_per_share": 1.33,
        "conversions": 0}  # the one cascade started in the window (H's) converted nobody
    assert {r["person"]: (r["shares"], r["clicks"], r["reach"], r["reshares"], r["amplified_reach"],
                          r["conversions"]) for r in run(sc, "top_influencers")} == {
        p("B"): (1, 2, 2, 1, 3, 1), p("C"): (1, 1, 1, 0, 1, 0), p("H"): (1, 1, 1, 0, 1, 0)}
    assert {r["url"]: (r["visits"], r["dark_tracked"], r["dark_estimated"], r["open_social"], r["other"],
                       r["shares"], r["clicks"]) for r in run(sc, "top_stories")} == {
        A_URL: (5, 4, 0, 1, 0, 2, 3), N_URL: (2, 1, 1, 0, 0, 1, 1), B_URL: (1, 0, 0, 0, 1, 0, 0)}
    assert {r["date"]: (r["visits"], r["dark_tracked"], r["dark_estimated"], r["open_social"], r["other"])
            for r in run(sc, "dark_social_over_time")} == {
        day(Q): (2, 2, 0, 0, 0), day(R): (5, 2, 1, 1, 1), day(0): (1, 1, 0, 0, 0)}
    assert [r["root"] for r in run(sc, "largest_cascades")] == [tok["sH"]]
    assert [(r["share"], r["got_it_from"], r["clicks"], r["reach"], r["reshares"], r["amplified_reach"],
             r["conversions"]) for r in run(sc, "influencer", person=p("B"))] == [
        (tok["sB"], p("A"), 2, 2, 1, 3, 1)]
    # A's cascade started before the window: no root share of /a in it.
    assert [r["id"] for r in run(sc, "cascade_tree", url=A_URL, share="")] == ["top"]

    # One site: news only, blank dates.
    head = headline(sc, site="news")
    assert {k: head[k] for k in ("visits", "dark_tracked", "dark_estimated", "shares", "clicks",
                                 "people_reached", "conversions")} == {
        "visits": 2, "dark_tracked": 1, "dark_estimated": 1, "shares": 1, "clicks": 1, "people_reached": 1,
        "conversions": 0}
    assert [r["person"] for r in run(sc, "top_influencers", site="news")] == [p("H")]
    assert {r["url"] for r in run(sc, "top_stories", site="news")} == {N_URL}
    assert {r["code"] for r in run(sc, "channel_mix", site="news") if r["code"]} == {"em"}

    # Days R..today on blog: no cascade started there; C's share (minted R) with G's click.
    window = {"since": day(R), "until": day(0), "site": "blog"}
    assert {r["person"]: (r["shares"], r["clicks"], r["reach"]) for r in run(sc, "top_influencers", **window)} == {
        p("C"): (1, 1, 1)}
    assert run(sc, "largest_cascades", **window) == []

    t = Tables(sc)
    for window in ({}, {"since": day(P), "until": day(P)}, {"since": day(P), "until": day(Q)},
                   {"since": day(Q), "until": day(0), "site": "blog"}, {"site": "news"},
                   {"since": day(40), "until": day(0)}, {"since": day(R), "until": day(R)}):
        check_generic(sc, t, **window)
    check_trees(sc, t)


def test_window_edges_are_utc_dates_inclusive(tmp_path):
    """``since`` and ``until`` are inclusive: the last second of ``until`` is in, the first of the next day is not;
    the blank window starts 29 days before today."""
    sc = Sites(tmp_path / "edges.db")
    sc.view("A", "/a", referrer="www.google.com", ts=at(30, 23, 59, 59))
    sc.view("B", "/a", referrer="www.google.com", ts=at(29, 0, 0, 0))
    sc.view("C", "/a", referrer="www.google.com", ts=at(2, 23, 59, 59))
    sc.view("D", "/a", referrer="www.google.com", ts=at(1, 0, 0, 0))
    sc.view("E", "/a", referrer="www.google.com", ts=at(0, 0, 0, 1))
    sc.attribute()
    assert headline(sc, since=day(2), until=day(2))["visits"] == 1
    assert headline(sc, since=day(2), until=day(1))["visits"] == 2
    assert headline(sc)["visits"] == 4
    assert headline(sc, since=day(30), until=day(30))["visits"] == 1
    assert {r["date"]: r["visits"] for r in run(sc, "dark_social_over_time", since=day(30), until=day(29))} == {
        day(30): 1, day(29): 1}


def test_headline_previous_period_is_the_same_length_just_before(tmp_path):
    """The dashboard's previous figures are the headline of the period of the same length just before (the
    dashboard asks the headline report for it): here the 30 days before the blank window hold day P only."""
    sc = Sites(tmp_path / "story.db")
    story(sc)
    previous = headline(sc, since=day(59), until=day(30))
    assert {k: previous[k] for k in ("visits", "dark_estimated", "shares", "clicks", "clicks_per_share",
                                     "conversions")} == {
        "visits": 1, "dark_estimated": 1, "shares": 1, "clicks": 2, "clicks_per_share": 2.0, "conversions": 1}
    # The week before [R-6, R] (days R-13..R-7) holds nothing at all.
    empty = headline(sc, since=day(R + 13), until=day(R + 7))
    assert (empty["visits"], empty["shares"], empty["clicks"]) == (0, 0, 0)


def test_headline_k_factor_and_people_reached_where_readings_agree(tmp_path):
    """Over a window holding every event, "people reached through shares" (distinct people who clicked a share)
    and the cascades started in the period agree: B, C, D, E, G on blog and I on news; K = re-shares per click =
    2 re-shares (sB, sC, each with a click) over 6 clicks."""
    sc = Sites(tmp_path / "story.db")
    story(sc)
    head = headline(sc, since=day(40), until=day(0))
    assert (head["shares"], head["clicks"], head["people_reached"], head["conversions"], head["k_factor"]) == (
        4, 6, 6, 1, round(2 / 6, 2))
    head = headline(sc, since=day(40), until=day(0), site="news")
    assert (head["people_reached"], head["k_factor"]) == (1, 0.0)


def test_headline_people_reached_of_one_cascade_within_its_window(tmp_path):
    """A shares on day 2 (days ago), B and C click the same day, C re-shares, D clicks the next day. In the window
    [2, 1]: the share and all its clicks and the whole cascade fall in it; people reached B, C, D."""
    sc = Sites(tmp_path / "one.db")
    a = sc.view("A", "/a", ts=at(2, 9))
    s = sc.share("A", a, "wa", "/a", ts=at(2, 10))
    sc.view("B", "/a", came_with=s, channel="wa", ts=at(2, 11))
    c = sc.view("C", "/a", came_with=s, channel="wa", ts=at(2, 12))
    s2 = sc.share("C", c, "sms", "/a", ts=at(2, 13))
    sc.view("D", "/a", came_with=s2, channel="sms", ts=at(1, 9))
    sc.attribute()
    head = headline(sc, since=day(2), until=day(1))
    assert (head["shares"], head["clicks"], head["people_reached"], head["k_factor"]) == (2, 3, 3, round(1 / 3, 2))


def shared_day_2_clicked_day_1(path) -> Sites:
    """A views /a and shares it on WhatsApp on day 2; B clicks that share on day 1 (a clock, or a late share
    event): attributed."""
    sc = Sites(path)
    a = sc.view("A", "/a", ts=at(2, 9))
    s = sc.share("A", a, "wa", "/a", ts=at(2, 10))
    sc.view("B", "/a", came_with=s, channel="wa", ts=at(1, 9))
    sc.attribute()
    return sc


def test_headline_people_reached_of_a_share_whose_clicks_came_later(tmp_path):
    """Minimal: A shares on day 2, B clicks on day 1. Over day 2 alone the headline counts the share with its click
    (README: "a share counts on the day it was minted, with every click it got"), and the cascade started that day
    reached B: the people reached through shares are 1 in either reading of the README; over day 1, none."""
    sc = shared_day_2_clicked_day_1(tmp_path / "late.db")
    head = headline(sc, since=day(2), until=day(2))
    assert (head["shares"], head["clicks"], head["clicks_per_share"], head["people_reached"]) == (1, 1, 1.0, 1)
    assert headline(sc, since=day(1), until=day(1))["people_reached"] == 0
    assert [(r["person"], r["reach"]) for r in run(sc, "top_influencers", since=day(2), until=day(2))] == [
        (p("A"), 1)]
    assert [r["size"] for r in run(sc, "largest_cascades", since=day(2), until=day(2))] == [2]


def test_channel_mix_counts_clicks_of_shares_by_mint_day(tmp_path):
    """Minimal: A shares on WhatsApp on day 2, B clicks on day 1. Over day 2 alone: one WhatsApp share with its one
    click ("a share counts on the day it was minted, with every click it got"; channel_mix answers "how many clicks
    does a share get on each?"); over day 1, B's visit through WhatsApp and no share."""
    sc = shared_day_2_clicked_day_1(tmp_path / "mix.db")
    mix = {r["code"]: r for r in run(sc, "channel_mix", since=day(2), until=day(2))}
    assert (mix["wa"]["shares"], mix["wa"]["visits"], mix["wa"]["clicks"], mix["wa"]["clicks_per_share"]) == (
        1, 0, 1, 1.0)
    mix = {r["code"]: r for r in run(sc, "channel_mix", since=day(1), until=day(1))}
    assert (mix["wa"]["shares"], mix["wa"]["visits"], mix["wa"]["tracked"], mix["wa"]["clicks"]) == (0, 1, 1, 0)


def test_top_stories_page_shared_without_visits(tmp_path):
    """Minimal: A opens /b on day 3 and shares it on WhatsApp from that tab on day 2; B clicks on day 1. Over day 2
    the share counts with its click ("a share counts on the day it was minted, with every click it got"): the
    headline and top_influencers say so, and top_stories lists /b with no visit that day."""
    sc = Sites(tmp_path / "tab.db")
    a = sc.view("A", "/b", ts=at(3, 9))
    s = sc.share("A", a, "wa", "/b", ts=at(2, 9))
    sc.view("B", "/b", came_with=s, channel="wa", ts=at(1, 9))
    sc.attribute()
    head = headline(sc, since=day(2), until=day(2))
    assert (head["visits"], head["shares"], head["clicks"]) == (0, 1, 1)
    assert [(r["person"], r["shares"], r["clicks"], r["reach"])
            for r in run(sc, "top_influencers", since=day(2), until=day(2))] == [(p("A"), 1, 1, 1)]
    assert [(r["url"], r["visits"], r["shares"], r["clicks"], r["dark_social_pct"])
            for r in run(sc, "top_stories", since=day(2), until=day(2))] == [(B_URL, 0, 1, 1, None)]
    assert [(r["url"], r["visits"], r["shares"], r["clicks"])
            for r in run(sc, "top_stories", since=day(3), until=day(1))] == [(B_URL, 2, 1, 1)]


def test_top_influencers_top_channel_is_over_all_time(tmp_path):
    """Minimal: A shares /a by email on day 3 (B clicks), and on X on day 1 (C and D click). Over day 3 A's one
    share is the email one, with one click; the top channel, as the report's description says, is over all time."""
    sc = Sites(tmp_path / "top.db")
    a = sc.view("A", "/a", ts=at(3, 9))
    s1 = sc.share("A", a, "em", "/a", ts=at(3, 10))
    sc.view("B", "/a", came_with=s1, channel="em", ts=at(3, 11))
    s2 = sc.share("A", a, "x", "/a", ts=at(1, 9))
    sc.view("C", "/a", came_with=s2, channel="x", referrer="t.co", ts=at(1, 10))
    sc.view("D", "/a", came_with=s2, channel="x", referrer="t.co", ts=at(1, 11))
    sc.attribute()
    assert [(r["person"], r["shares"], r["clicks"], r["reach"])
            for r in run(sc, "top_influencers", since=day(3), until=day(3))] == [(p("A"), 1, 1, 1)]
    assert [r["top_channel"] for r in run(sc, "top_influencers", since=day(3), until=day(3))] == ["x"]
    assert [(r["person"], r["shares"], r["clicks"], r["reach"], r["top_channel"])
            for r in run(sc, "top_influencers", since=day(3), until=day(1))] == [(p("A"), 2, 3, 3, "x")]


def test_amplified_reach_of_a_reshare_in_another_sites_cascade(tmp_path):
    """Minimal: A shares news /n on WhatsApp; B opens the token pasted onto blog's /a, re-shares /a on Telegram
    (a blog share in A's news cascade); C clicks B's share. B's only share is on blog; C is below B.

    C signs up after clicking. With site=blog, B's figures are B's whole ones (README: "It takes a person's reach,
    amplified reach and conversions from influencers when all of their shares fall in the window"), and with
    site=news B, who shared nothing there, is not listed."""
    sc = Sites(tmp_path / "paste.db")
    sc.on("news")
    a = sc.view("A", "/n", ts=at(3, 9))
    s_a = sc.share("A", a, "wa", "/n", ts=at(3, 10))
    sc.on("blog")
    b = sc.view("B", "/a", came_with=s_a, channel="wa", ts=at(3, 11))
    s_b = sc.share("B", b, "tg", "/a", ts=at(3, 12))
    sc.view("C", "/a", came_with=s_b, channel="tg", ts=at(3, 13))
    sc.goal_at("C", "signup", at(3, 14))
    sc.attribute()
    b_whole = sc.row("influencers", person=p("B"))
    assert (b_whole["amplified_reach"], b_whole["conversions"]) == (1, 1)
    assert [(r["person"], r["shares"], r["clicks"], r["reach"], r["amplified_reach"], r["conversions"])
            for r in run(sc, "top_influencers", site="blog")] == [(p("B"), 1, 1, 1, 1, 1)]
    assert [(r["share"], r["amplified_reach"], r["conversions"])
            for r in run(sc, "influencer", person=p("B"), site="blog")] == [(s_b, 1, 1)]
    assert {r["person"]: (r["amplified_reach"], r["conversions"]) for r in run(sc, "top_influencers")} == {
        p("A"): (2, 1), p("B"): (1, 1)}
    assert {r["person"]: (r["shares"], r["conversions"]) for r in run(sc, "conversions_by_sharer")} == {
        p("A"): (1, 1), p("B"): (1, 1)}
    assert {r["person"]: (r["shares"], r["conversions"]) for r in run(sc, "conversions_by_sharer", site="blog")} == {
        p("B"): (1, 1)}
    assert {r["person"]: (r["shares"], r["conversions"]) for r in run(sc, "conversions_by_sharer", site="news")} == {
        p("A"): (1, 1)}


# -- Seeded random scenarios ------------------------------------------------------------------------------------------
PATHS = ("/a", "/b", "/")
SHARE_CHANNELS = ("wa", "tg", "em", "cl", "x", "fb")
REFERRERS = (None, None, "www.google.com", "t.co", "news.ycombinator.com", "blog.example")
SEEDS = 40


def random_scenario(sc: Sites, rng: random.Random, days: tuple[int, ...]) -> None:
    """Views, share-button shares, address-bar copies, ambassador links, clicks (some days after the share),
    re-shares, reloads, identified people with two devices, and goals, on two sites over ``days``."""
    views = []  # (who, site, path, token)
    shares = []  # (site, path, token, channel)
    people = [chr(ord("A") + i) for i in range(12)]

    def mint() -> str:  # seeded tokens: the same seed gives the same scenario, ties included
        return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(10))
    for k in days:
        for n in range(rng.randint(3, 9)):
            ts = at(k, 8 + n, rng.randint(0, 59), rng.randint(0, 59))
            who = rng.choice(people)
            roll = rng.random()
            if roll < 0.35 and shares:  # a click (perhaps by the sharer, or a second time)
                site, path, token, channel = rng.choice(shares)
                if rng.random() < 0.1:  # the token pasted onto the other site's page: share_site differs
                    site = "news" if site == "blog" else "blog"
                sc.on(site)
                referrer = "t.co" if channel == "x" else "facebook.com" if channel == "fb" else None
                v = sc.view(who, path, came_with=token, channel=channel, referrer=referrer, ts=ts, token=mint())
                views.append((who, site, path, v))
            elif roll < 0.55 and views:  # a share from a view, perhaps days after it
                viewer, site, path, v = rng.choice(views)
                sc.on(site)
                channel = rng.choice(SHARE_CHANNELS)
                shares.append((site, path, sc.share(viewer, v, channel, path, ts=ts, token=mint()), channel))
            elif roll < 0.6 and views:  # somebody arrives with another's address bar: an address-bar share
                viewer, site, path, v = rng.choice(views)
                sc.on(site)
                views.append((who, site, path, sc.view(who, path, came_with=v, ts=ts, token=mint())))
                shares.append((site, path, v, None))
            elif roll < 0.63 and views:  # a reload of one's own view
                viewer, site, path, v = rng.choice(views)
                sc.on(site)
                views.append((viewer, site, path, sc.view(viewer, path, reload_of=v, ts=ts, token=mint())))
            elif roll < 0.66:  # an ambassador link, minted now
                site = rng.choice(("blog", "news"))
                sc.on(site)
                path, channel, token = rng.choice(PATHS), rng.choice(("sms", "em", None)), mint()
                sc.db["links"].insert({"token": token, "site": site, "name": rng.choice(("Rosa", "Jake")),
                                       "url": sc.ORIGIN + path, "channel": channel, "created": ts})
                shares.append((site, path, token, channel))
            elif roll < 0.7:  # one of two visitors identifies as the same person (two devices)
                sc.event(kind="identify", visitor=sc.visitor(who), external_id=f"id-{rng.choice('PQ')}", ts=ts)
            elif roll < 0.78 and views:
                sc.goal_at(rng.choice(views)[0], rng.choice(("signup", "buy")), ts)
            else:
                site = rng.choice(("blog", "news"))
                sc.on(site)
                path = rng.choice(PATHS)
                v = sc.view(who, path, referrer=rng.choice(REFERRERS), ts=ts, token=mint())
                views.append((who, site, path, v))
    sc.attribute()


def test_random_scenarios_against_the_tables(tmp_path):
    for seed in range(SEEDS):
        rng = random.Random(seed)
        sc = Sites(tmp_path / f"random{seed}.db")
        days = tuple(sorted(rng.sample(range(0, 36), 6), reverse=True))
        random_scenario(sc, rng, days)
        t = Tables(sc)
        windows = [{}, {"since": day(days[0]), "until": day(0)}, {"site": "blog"}, {"site": "news"}]
        for _ in range(4):
            lo, hi = sorted(rng.sample(days, 2), reverse=True)
            windows.append({"since": day(lo), "until": day(hi), "site": rng.choice(("", "blog", "news"))})
        windows.append({"since": day(days[2]), "until": day(days[2])})
        for window in windows:
            check_generic(sc, t, **window)
        check_trees(sc, t)
        # Over a window holding every day, the whole tables: headline people reached = distinct people who clicked
        # any share; every influencer's figures are their whole ones; every cascade is listed.
        everything = {"since": day(40), "until": day(0)}
        head = headline(sc, **everything)
        assert head["people_reached"] == len(t.clickers({s["token"] for s in t.shares}))
        most: dict = {}  # distinct (person, goal) pairs: each person's most converted row
        for r in t.people:
            most[r["person"]] = max(most.get(r["person"], 0), r["conversions"])
        assert head["conversions"] == sum(most.values()) <= sum(c["conversions"] for c in t.cascades)
        assert len(run(sc, "largest_cascades", **everything)) == len(t.cascades)
        sc.db.close()
