"""Attribution on hand-built cascades with known answers, and incremental runs against full rebuilds."""

from __future__ import annotations

import random

import pytest

from darksocial import tables
from darksocial.attribution import attribute


def test_three_generation_chain(scenario):
    a = scenario.view("A")
    s1 = scenario.share("A", a, "wa")
    b = scenario.view("B", came_with=s1, channel="wa")
    s2 = scenario.share("B", b, "tg")
    c = scenario.view("C", came_with=s2, channel="tg")
    s3 = scenario.share("C", c, "em")
    scenario.view("D", came_with=s3, channel="em")
    scenario.attribute()

    depths = {r["token"]: (r["depth"], r["parent"], r["root"]) for r in scenario.rows("shares")}
    assert depths == {s1: (1, None, s1), s2: (2, s1, s1), s3: (3, s2, s1)}
    first = scenario.row("shares", token=s1)
    assert (first["clicks"], first["reach"], first["reshares"], first["amplified_reach"]) == (1, 1, 1, 3)
    assert scenario.row("shares", token=s2)["amplified_reach"] == 2
    cascade = scenario.row("cascades", root=s1)
    assert (cascade["size"], cascade["depth"], cascade["shares"], cascade["clicks"]) == (4, 3, 3, 3)
    assert cascade["structural_virality"] == pytest.approx(5 / 3)  # chain of 4: (n+1)/3
    d_visit = scenario.row("visits", visitor=scenario.visitor("D"))
    assert (d_visit["sharer"], d_visit["depth"], d_visit["channel"], d_visit["medium"]) == (
        "v:" + scenario.visitor("C"), 3, "em", "dark")
    a_inf = scenario.row("influencers", person="v:" + scenario.visitor("A"))
    assert (a_inf["shares"], a_inf["clicks"], a_inf["reach"], a_inf["amplified_reach"], a_inf["tier"]) == (
        1, 1, 1, 3, "nano")
    story = scenario.row("stories", url=scenario.ORIGIN + "/story")
    assert (story["shares"], story["shares_wa"], story["shares_tg"], story["clicks"]) == (3, 1, 1, 3)
    assert story["k_factor"] == pytest.approx(2 / 3, abs=1e-4)  # re-shares with clicks (s2, s3) / clicks
    assert story["deepest_cascade"] == 3 and story["virality_score"] == 100


def test_broadcast_star(scenario):
    a = scenario.view("A")
    s = scenario.share("A", a, "x")
    for who in "BCDEFG":
        scenario.view(who, came_with=s, channel="x", referrer="t.co")
    scenario.view("B", came_with=s, channel="x", referrer="t.co")  # B comes back: a click, not more reach
    scenario.attribute()
    share = scenario.row("shares", token=s)
    assert (share["clicks"], share["reach"], share["reshares"], share["amplified_reach"]) == (7, 6, 0, 6)
    assert share["medium"] == "open"
    cascade = scenario.row("cascades", root=s)
    assert cascade["size"] == 7 and cascade["depth"] == 1
    assert cascade["structural_virality"] == pytest.approx(2 * 6 / 7)  # star of n=7: 2(n-1)/n
    x = scenario.row("channels", channel="x")
    assert (x["shares"], x["clicks"], x["reach"], x["k_factor"]) == (1, 7, 6, 0)


def test_sharer_opening_own_link_is_not_a_click(scenario):
    a = scenario.view("A")
    s = scenario.share("A", a, "wa")
    own = scenario.view("A", came_with=s, channel="wa")
    scenario.view("B", came_with=s, channel="wa")
    scenario.attribute()
    assert scenario.row("shares", token=s)["clicks"] == 1
    visit = scenario.row("visits", token=own)
    assert (visit["click"], visit["share_token"], visit["sharer"], visit["source"]) == (0, s, None, "direct")
    assert scenario.row("cascades", root=s)["size"] == 2


def test_identified_sharer_on_another_device_is_not_a_click(scenario):
    a = scenario.view("A")
    s = scenario.share("A", a, "em")
    scenario.identify("A", "crm-7", "Ann Lee")
    scenario.identify("P", "crm-7", "Ann Lee")  # Ann's phone
    scenario.view("P", came_with=s, channel="em")
    scenario.attribute()
    assert scenario.row("shares", token=s)["clicks"] == 0
    person = scenario.row("influencers", person="x:crm-7")
    assert (person["name"], person["kind"], person["shares"]) == ("Ann Lee", "identified", 1)


def test_address_bar_share(scenario):
    a = scenario.view("A")  # the page-view token sits in A's address bar
    b = scenario.view("B", came_with=a)  # B opens the URL A copied from the address bar
    scenario.view("C", came_with=b, referrer="forum.example.org")  # C found B's copy on a forum
    scenario.attribute()
    share = scenario.row("shares", token=a)
    assert (share["origin"], share["sharer"], share["channel"], share["medium"], share["depth"]) == (
        "address_bar", "v:" + scenario.visitor("A"), "ab", "dark", 1)
    visit = scenario.row("visits", token=b)
    assert (visit["channel"], visit["medium"], visit["tracked"], visit["sharer"]) == (
        "ab", "dark", 1, "v:" + scenario.visitor("A"))
    forum = scenario.row("shares", token=b)
    assert (forum["channel"], forum["medium"], forum["parent"], forum["depth"]) == ("forum.example.org", "open", a, 2)
    assert scenario.row("influencers", person="v:" + scenario.visitor("A"))["amplified_reach"] == 2


def test_ambassador_link(scenario):
    link = scenario.link("Rosa Diaz", channel="sms")
    b = scenario.view("B", came_with=link, channel="sms")
    s = scenario.share("B", b, "wa")
    scenario.view("C", came_with=s, channel="wa")
    scenario.attribute()
    share = scenario.row("shares", token=link)
    assert (share["origin"], share["sharer"], share["sharer_name"], share["channel"]) == (
        "link", "a:Rosa Diaz", "Rosa Diaz", "sms")
    rosa = scenario.row("influencers", person="a:Rosa Diaz")
    assert (rosa["name"], rosa["kind"], rosa["reach"], rosa["reshares"], rosa["amplified_reach"]) == (
        "Rosa Diaz", "ambassador", 1, 1, 2)
    assert scenario.row("cascades", root=link)["size"] == 3  # Rosa, B, C


def test_token_arriving_before_its_share_event(scenario):
    a = scenario.view("A")
    s = "EarlyToken"
    b = scenario.view("B", came_with=s, channel="wa")
    scenario.attribute()
    orphan = scenario.row("shares", token=s)
    assert (orphan["origin"], orphan["sharer"], orphan["channel"], orphan["clicks"]) == ("unknown", None, "wa", 1)

    scenario.share("A", a, "wa", token=s, ts="2026-03-01T00:00:01.500000Z")
    scenario.view("C", came_with=scenario.share("B", b, "tg"), channel="tg")
    stats = scenario.attribute()
    assert stats["mode"] == "incremental"
    resolved = scenario.row("shares", token=s)
    assert (resolved["origin"], resolved["sharer"], resolved["amplified_reach"]) == (
        "share", "v:" + scenario.visitor("A"), 2)
    assert scenario.row("visits", token=b)["sharer"] == "v:" + scenario.visitor("A")
    assert scenario.row("influencers", person="v:" + scenario.visitor("A"))["amplified_reach"] == 2
    incremental = snapshot(scenario.db)
    attribute(scenario.db, full=True)
    assert snapshot(scenario.db) == incremental


def test_goal_two_hops_below_sharer(scenario):
    a = scenario.view("A")
    s1 = scenario.share("A", a, "wa")
    b = scenario.view("B", came_with=s1, channel="wa")
    s2 = scenario.share("B", b, "fm")
    scenario.view("C", came_with=s2, channel="fm")
    scenario.goal("C", "signup")
    scenario.goal("C", "signup")  # the same goal twice counts once
    scenario.goal("A", "signup")  # the sharer's own goal is not downstream
    scenario.attribute()
    assert scenario.row("shares", token=s1)["conversions"] == 1
    assert scenario.row("shares", token=s2)["conversions"] == 1
    assert scenario.row("influencers", person="v:" + scenario.visitor("A"))["conversions"] == 1
    assert scenario.row("cascades", root=s1)["conversions"] == 1


def test_visits_without_token_are_classified(scenario):
    scenario.view("A", "/deep/page")  # first view, no referrer, deep page: untracked dark social
    scenario.view("A", "/other")  # second view, no referrer: direct
    scenario.view("B", "/")  # home page: direct
    scenario.view("C", "/story", referrer="www.google.com")
    scenario.view("D", "/story", referrer="l.facebook.com")
    scenario.view("E", "/story", referrer="news.example.net")
    scenario.view("F", "/story?utm_source=newsletter&utm_campaign=weekly")
    scenario.view("C", "/next", referrer="blog.example")
    scenario.view("G", "/story", channel="wa")  # a no-JS server-rendered link: channel known, sharer not
    scenario.attribute()
    got = {(r["visitor"][0], r["url"].removeprefix(scenario.ORIGIN)): (r["source"], r["medium"], r["channel"])
           for r in scenario.rows("visits")}
    assert got == {
        ("A", "/deep/page"): ("dark_estimated", "dark", None),
        ("A", "/other"): ("direct", "direct", None),
        ("B", "/"): ("direct", "direct", None),
        ("C", "/story"): ("search", "search", "google.com"),
        ("D", "/story"): ("social", "open", "fb"),
        ("E", "/story"): ("referral", "referral", "news.example.net"),
        ("F", "/story?utm_source=newsletter&utm_campaign=weekly"): ("campaign", "campaign", "newsletter"),
        ("C", "/next"): ("internal", "internal", None),
        ("G", "/story"): ("share", "dark", "wa"),
    }
    deep = scenario.row("stories", url=scenario.ORIGIN + "/deep/page")
    assert (deep["visits_dark_estimated"], deep["visits_dark_tracked"]) == (1, 0)
    assert scenario.row("visits", visitor=scenario.visitor("F"))["campaign"] == "weekly"


def test_late_earlier_view_moves_the_estimate(scenario):
    scenario.view("A", "/deep", ts="2026-03-01T10:00:00.000000Z")
    scenario.attribute()
    assert scenario.row("visits", url=scenario.ORIGIN + "/deep")["estimated"] == 1
    scenario.view("A", "/", ts="2026-03-01T09:00:00.000000Z")  # an earlier view arrives late
    scenario.attribute()
    assert scenario.row("visits", url=scenario.ORIGIN + "/deep")["estimated"] == 0


def test_latest_title_falls_back_when_a_duplicate_view_takes_its_place(make_scenario):
    from darksocial import tokens

    incremental, reference = make_scenario("incremental"), make_scenario("reference")
    latest = tokens.mint()
    first = [(tokens.mint(), "01", "First"), (tokens.mint(), "02", "Second"), (latest, "03", "Third")]
    again = [(latest, "00", "Zeroth")]  # the same page-view token again, earlier: this copy wins (content order)
    for sc, batches in ((incremental, (first, again)), (reference, (first + again,))):
        for batch in batches:
            for token, second, title in batch:
                sc.event(kind="view", visitor=sc.visitor("A"), url=sc.ORIGIN + "/story", token=token, title=title,
                         ts=f"2026-03-01T00:00:{second}.000000Z")
            sc.attribute()
            if batch is first:
                assert sc.row("stories", url=sc.ORIGIN + "/story")["title"] == "Third"
    assert incremental.row("stories", url=incremental.ORIGIN + "/story")["title"] == "Second"
    assert snapshot(incremental.db) == snapshot(reference.db)


@pytest.mark.parametrize(("second", "title"), [("00", "Deep"), ("05", "Deep"), ("02", "A deep"), ("02", "Z deep")])
def test_a_first_view_sent_twice_is_still_the_first_view(make_scenario, second, title):
    """A retried beacon of a visitor's first view, earlier, later or at the same time with other content:
    whichever copy is kept, that view is their first, estimated dark social (deep page, no referrer), and their
    later view is not."""
    from darksocial import tokens

    incremental, reference = make_scenario("incremental"), make_scenario("reference")
    first = tokens.mint()
    original = [(first, "02", "/deep", "Deep"), (tokens.mint(), "09", "/other", "Other")]
    retried = [(first, second, "/deep", title)]
    for sc, batches in ((incremental, (original, retried)), (reference, (original + retried,))):
        for batch in batches:
            for token, second, path, title in batch:
                sc.event(kind="view", visitor=sc.visitor("A"), url=sc.ORIGIN + path, token=token, title=title,
                         ts=f"2026-03-01T00:00:{second}.000000Z")
            sc.attribute()
    for sc in (incremental, reference):
        assert sc.row("visits", token=first)["estimated"] == 1
        assert sc.row("visits", url=sc.ORIGIN + "/other")["estimated"] == 0
    assert snapshot(incremental.db) == snapshot(reference.db)


def test_tiers_follow_reach(scenario):
    a = scenario.view("A")
    s = scenario.share("A", a, "wa")
    for i in range(12):
        scenario.view(f"V{i:02d}", came_with=s)
    scenario.attribute()
    assert scenario.row("influencers", person="v:" + scenario.visitor("A"))["tier"] == "micro"
    attribute(scenario.db, full=True, tiers=((5, "big"), (0, "small")))
    assert scenario.row("influencers", person="v:" + scenario.visitor("A"))["tier"] == "big"


# ----------------------------------------------------------------------------------------------------------------
# Incremental runs on shuffled arrival orders give exactly the tables of a full rebuild.


def snapshot(db) -> dict:
    """Every analyst table's rows, but visits.id: the row of the raw event, which depends on arrival order."""
    out = {}
    for table in tables.ANALYST_TABLES:
        cols = ", ".join(f"[{c}]" for c in table.column_names() if (table.name, c) != ("visits", "id"))
        out[table.name] = db.execute(f"SELECT {cols} FROM [{table.name}] ORDER BY {cols}").fetchall()
    return out


def random_traffic(scenario, rng: random.Random, people: int = 40) -> list[dict]:
    """Random cascades with every feature the attribution handles (re-shares, address-bar copies, reloads of
    one's own page, returns that name no view, ambassador links, identities shared by several devices, goals);
    returns links as rows to insert. Shuffled, share events and identities arrive after the views they explain."""
    links = []
    names = [f"P{i:03d}" for i in range(people)]
    pages = ["/", "/story", "/guide", "/guide?utm_source=news&utm_campaign=x"]
    frontier = []  # (visitor, page-view token, path)
    for _ in range(people * 3):
        who = rng.choice(names)
        roll = rng.random()
        if frontier and roll < 0.45:
            sharer, view, path = rng.choice(frontier)
            channel = rng.choice(["wa", "tg", "x", "cl", "em"])
            token = scenario.share(sharer, view, channel, path)
            for _ in range(rng.randint(0, 3)):
                clicker = rng.choice(names)
                got = scenario.view(clicker, path, came_with=token,
                                    channel=channel if rng.random() < 0.7 else None,
                                    referrer="t.co" if channel == "x" else None)
                frontier.append((clicker, got, path))
        elif frontier and roll < 0.55:  # address-bar copy
            _, view, path = rng.choice(frontier)
            clicker = rng.choice(names)
            frontier.append((clicker, scenario.view(clicker, path, came_with=view), path))
        elif frontier and roll < 0.6:  # a reload, back/forward or restored tab: one's own token comes back
            owner, view, path = rng.choice(frontier)
            referrer = rng.choice([None, "blog.example", "www.google.com"])  # old trackers keep the referrer
            kind = rng.random()
            if kind < 0.4:  # an old tracker sends it as incoming; today's says it is a reload (o)
                frontier.append((owner, scenario.view(owner, path, came_with=view, referrer=referrer), path))
            elif kind < 0.6:  # the address bar showed no token (o empty): the owner's latest earlier view repeats
                frontier.append((owner, scenario.view(owner, path, returned=True, referrer=referrer), path))
            else:  # by whoever the visitor now seems to be (a cookieless pseudonym changes daily)
                reloader = owner if rng.random() < 0.7 else rng.choice(names)
                frontier.append((reloader, scenario.view(reloader, path, reload_of=view, referrer=referrer), path))
        elif roll < 0.64:
            token = "L" + "".join(rng.choice("abcdefghij") for _ in range(9))
            links.append({"token": token, "site": scenario.SITE, "name": rng.choice(["Rosa", "Jake"]),
                          "url": scenario.ORIGIN + "/story", "channel": None, "created": "2026-03-01T00:00:00Z"})
            clicker = rng.choice(names)
            frontier.append((clicker, scenario.view(clicker, "/story", came_with=token), "/story"))
        elif roll < 0.7:  # identities often arrive after the shares and views they re-attribute
            scenario.identify(who, f"ext{rng.randint(0, 5)}", rng.choice(["Ann", "Bo", None]))
        elif roll < 0.76:
            scenario.goal(who, rng.choice(["signup", "buy"]))
        else:
            path = rng.choice(pages)
            ref = rng.choice([None, None, "www.google.com", "l.facebook.com", "blog.example", "other.net"])
            frontier.append((who, scenario.view(who, path, referrer=ref), path.split("?")[0]))
    views = [event for event in scenario.pending if event["kind"] == "view"]
    # Retried beacons: the same token, at the same time or not, maybe retitled.
    for original in rng.sample(views, min(6, len(views))):
        retried = dict(original, title=rng.choice([original["title"], "A retried title", "Z retried title"]))
        if rng.random() < 0.5:
            retried["ts"] = rng.choice(views)["ts"]
        scenario.pending.append(retried)
    return links


@pytest.mark.parametrize("seed", range(6))
def test_incremental_shuffled_equals_full_rebuild(make_scenario, seed):
    rng = random.Random(seed)
    reference = make_scenario("reference")
    links = random_traffic(reference, rng)
    events = list(reference.pending)
    reference.db["links"].insert_all(links)
    reference.attribute(full=True)
    expected = snapshot(reference.db)
    assert expected["shares"] and expected["cascades"]

    for attempt in range(2):
        shuffled = make_scenario(f"shuffled{attempt}")
        order = events[:]
        rng.shuffle(order)
        cuts = sorted(rng.sample(range(1, len(order)), 6))
        batches = [order[i:j] for i, j in zip([0, *cuts], [*cuts, len(order)], strict=True)]
        pending_links = links[:]
        for batch in batches:
            shuffled.flush(batch)
            if pending_links:
                shuffled.db["links"].insert_all(pending_links[: rng.randint(0, len(pending_links))])
                pending_links = [lk for lk in pending_links if not shuffled.rows("links", token=lk["token"])]
            attribute(shuffled.db)
        shuffled.db["links"].insert_all(pending_links)
        attribute(shuffled.db)
        got = snapshot(shuffled.db)
        for name in expected:
            assert got[name] == expected[name], f"{name} differs after incremental runs (seed {seed})"


# ----------------------------------------------------------------------------------------------------------------
# The collector keeps writing while a full rebuild runs: attribution holds the write lock only briefly.


def _traffic_rows(rng: random.Random, views: int, day: str = "2026-03-02") -> list[tuple]:
    from darksocial import store

    """Event rows (store.EVENT_COLUMNS order): views, a share from every tenth, clicks on each share."""
    rows, n = [], 0

    def row(kind, visitor, token, in_token=None, parent=None, channel=None):
        nonlocal n
        n += 1
        ts = f"{day}T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}.{n % 1_000_000:06d}Z"
        fields = {"ts": ts, "kind": kind, "site": "blog", "visitor": visitor, "token": token, "in_token": in_token,
                  "url": f"https://blog.example/p/{rng.randrange(50)}", "title": "Title", "parent": parent,
                  "in_channel": channel if kind == "view" else None, "channel": channel if kind == "share" else None,
                  "browser": "chrome", "device": "mobile"}
        return tuple(fields.get(column) for column in store.EVENT_COLUMNS)

    for i in range(views):
        visitor = f"visitor{rng.randrange(views // 3):06d}"
        view = f"V{i:09d}"
        rows.append(row("view", visitor, view))
        if i % 10 == 0:
            share = f"S{i:09d}"
            rows.append(row("share", visitor, share, parent=view, channel="wa"))
            rows.extend(row("view", f"clicker{i:06d}{k}", f"C{i:07d}{k:02d}", in_token=share, channel="wa")
                        for k in range(rng.randrange(4)))
    return rows


def test_collector_writes_while_a_full_rebuild_runs(tmp_path):
    import threading
    import time

    from darksocial import store

    path = tmp_path / "busy.db"
    db = store.open_db(path)
    writer = store.Writer(path)
    rng = random.Random(7)
    writer.write_sync(_traffic_rows(rng, 30_000))
    attribute(db, full=True)  # warm: the next run is a rebuild of a populated database, as in production

    finished = threading.Event()
    failure: list[BaseException] = []

    def rebuild():
        try:
            with store.open_db(path) as other:
                attribute(other, full=True)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failure.append(exc)
        finally:
            finished.set()

    thread = threading.Thread(target=rebuild)
    thread.start()
    waits, extra = [], 0
    while not finished.is_set():
        batch = _traffic_rows(rng, 20, day=f"2026-03-{3 + len(waits) % 20:02d}")
        token_at = store.EVENT_COLUMNS.index("token")
        batch = [(*r[:token_at], f"{r[token_at]}w{len(waits)}", *r[token_at + 1:]) for r in batch]
        started = time.perf_counter()
        writer.write_sync(batch)
        waits.append(time.perf_counter() - started)
        extra += sum(1 for r in batch if r[1] == "view")
        time.sleep(0.02)
    thread.join()
    writer.close()
    assert not failure, failure
    assert len(waits) >= 3, "the rebuild finished before the collector could write during it"
    assert max(waits) < 5.0, f"a collector write waited {max(waits):.1f}s for the attribution's write lock"

    # Events written during the rebuild are past its high-water mark: the next incremental run takes them all.
    stats = attribute(db)
    assert stats["mode"] == "incremental"
    views = db.execute("SELECT COUNT(DISTINCT token) FROM events WHERE kind = 'view'").fetchone()[0]
    assert db.execute("SELECT COUNT(*) FROM visits").fetchone()[0] == views
    incremental = snapshot(db)
    attribute(db, full=True)
    assert snapshot(db) == incremental
    db.close()


# ----------------------------------------------------------------------------------------------------------------
# A full rebuild's shadows carry every index of their main tables, partial ones included: SQLite then swaps them in
# by copying pages' entries verbatim; one index of main missing from its shadow makes it insert row by row under
# the write lock (ten times as long with the reports' partial indexes on `visits`).


def test_shadows_mirror_every_index_of_main_partial_ones_included(scenario):
    from darksocial.attribution import rebuild

    conn = scenario.db.conn
    tables.create_all(conn)
    conn.execute("CREATE INDEX clicks_by_person ON visits (person, date DESC) WHERE (click = 1) AND (depth > 0)")
    conn.execute("create index [shares (parent)] on [shares] (parent)")
    rebuild._create_shadows(conn)
    rebuild._index_shadows(conn)

    def indexes(schema: str) -> set:
        return {(name, unique, partial) + tuple(tuple(r[1:6]) for r in conn.execute(
                    f"PRAGMA {schema}.index_xinfo([{name}])").fetchall())
                for table in ("visits", "shares")
                for _, name, unique, origin, partial in conn.execute(f"PRAGMA {schema}.index_list([{table}])")
                if origin == "c"}

    assert indexes("temp") == indexes("main")
    partial = {row[0]: row[1] for row in conn.execute("SELECT name, sql FROM temp.sqlite_master WHERE type = 'index'")}
    assert partial["clicks_by_person"].endswith("WHERE (click = 1) AND (depth > 0)")
    rebuild.drop_shadows(conn)


def test_full_rebuild_with_partial_indexes_gives_the_same_tables(make_scenario):
    rng = random.Random(11)
    plain, indexed = make_scenario("plain"), make_scenario("indexed")
    random_traffic(plain, rng)
    indexed.flush(list(plain.pending))
    plain.attribute(full=True)
    tables.create_all(indexed.db.conn)
    indexed.db.conn.execute("CREATE INDEX clicks_by_person ON visits (person, date, site, click) WHERE click = 1")
    attribute(indexed.db, full=True)
    attribute(indexed.db, full=True)
    assert snapshot(indexed.db) == snapshot(plain.db)
    assert indexed.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

