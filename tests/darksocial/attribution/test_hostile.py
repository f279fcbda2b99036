"""Forged events cannot stop attribution nor make it quadratic (issue 10): cycles of tokens, a 20,000-link chain,
and a run that fails in its child process. Time and peak memory are printed (``pytest -s``), never asserted."""

from __future__ import annotations

import resource
import sys
import time
import tracemalloc

import pytest

from darksocial.attribution import MAX_CREDIT_HOPS, attribute
from darksocial.attribution.child import AttributionFailed, attribute_in_child

from .test_attribution import snapshot


def ts(n: int) -> str:
    return f"2026-03-{1 + n // 86400:02d}T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}.000000Z"


def forge_cycles(scenario, pairs: int, prefix: str = "C") -> list[tuple[str, str]]:
    """A arrives with B's page-view token and B with A's, ``pairs`` times over."""
    out = []
    for i in range(pairs):
        a, b = f"{prefix}a{i:07d}", f"{prefix}b{i:07d}"
        scenario.event(kind="view", visitor=f"{prefix}A{i:010d}"[:12], url=scenario.ORIGIN + "/x", token=a,
                       in_token=b, ts=ts(2 * i))
        scenario.event(kind="view", visitor=f"{prefix}B{i:010d}"[:12], url=scenario.ORIGIN + "/x", token=b,
                       in_token=a, ts=ts(2 * i + 1))
        out.append((a, b))
    return out


def measured(label: str, run):
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = run()
    finally:
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    print(f"\n{label}: {seconds:.2f} s, peak Python memory {peak / 2**20:.1f} MiB", file=sys.stderr)
    return result


def test_forged_cycles_attribute_in_every_kind_of_run(scenario):
    pairs = forge_cycles(scenario, 1_100)
    measured("1,100 forged cycle pairs, first run", scenario.attribute)
    cascades = scenario.rows("cascades")
    assert len(cascades) == 1_100 and {c["size"] for c in cascades} == {2}
    a, b = pairs[0]
    # The cycle is cut at its earliest share (time, then token): A's token is the root.
    assert scenario.row("shares", token=a)["parent"] is None
    assert scenario.row("shares", token=b)["parent"] == a

    forge_cycles(scenario, 1_100, prefix="D")
    stats = measured("1,100 more, incremental run", scenario.attribute)
    assert stats["mode"] == "incremental"
    assert len(scenario.rows("cascades")) == 2_200
    incremental = snapshot(scenario.db)
    measured("2,200 pairs, full rebuild", lambda: attribute(scenario.db, full=True))
    assert snapshot(scenario.db) == incremental


def test_a_cycle_of_own_tokens_is_cut_too(scenario):
    scenario.view("A", token="SelfLoop01", came_with="SelfLoop01")
    scenario.view("B", token="OwnCycle01", came_with="OwnCycle02", ts="2026-03-02T00:00:00.000000Z")
    scenario.view("B", token="OwnCycle02", came_with="OwnCycle01", ts="2026-03-02T00:00:01.000000Z")
    scenario.attribute()
    assert scenario.rows("shares") == []
    assert {r["token"]: r["source"] for r in scenario.rows("visits")} == {
        "SelfLoop01": "dark_estimated", "OwnCycle01": "dark_estimated", "OwnCycle02": "dark_estimated"}


def forge_chain(scenario, links: int) -> None:
    """P0 shares, P1 clicks and re-shares, P2 clicks and re-shares... ``links`` times."""
    view = "Chain00000"
    scenario.event(kind="view", visitor="P00000000000", url=scenario.ORIGIN + "/x", token=view, ts=ts(0))
    for i in range(1, links + 1):
        share = f"S{i:09d}"
        scenario.event(kind="share", visitor=f"P{i - 1:011d}", url=scenario.ORIGIN + "/x", token=share, parent=view,
                       channel="wa", ts=ts(2 * i - 1))
        view = f"V{i:09d}"
        scenario.event(kind="view", visitor=f"P{i:011d}", url=scenario.ORIGIN + "/x", token=view, in_token=share,
                       in_channel="wa", ts=ts(2 * i))


def test_forged_chain_of_20000_links_is_near_linear(scenario):
    links = 20_000
    forge_chain(scenario, links)
    scenario.flush()
    scenario.db.close()
    # In a child process whose address space is capped: the quadratic engine (n^2/2 influence rows) dies there.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    stats = attribute_in_child(scenario.path, memory_limit=1_500 * 2**20, timeout=600)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"\n{links:,}-link forged chain: {seconds:.2f} s in a child process, peak RSS {peak / 1024:.0f} MiB "
          f"(children so far: {before.ru_maxrss / 1024:.0f} MiB before)", file=sys.stderr)
    assert stats["mode"] == "full"

    from darksocial import store

    scenario.db = store.open_db(scenario.path)
    cascade = scenario.row("cascades", root="S000000001")
    assert (cascade["size"], cascade["depth"], cascade["shares"]) == (links + 1, links, links)
    first = scenario.row("shares", token="S000000001")
    assert (first["amplified_reach"], first["depth"]) == (links, 1)
    assert scenario.row("shares", token=f"S{links:09d}")["depth"] == links
    root_sharer = scenario.row("cascade_people", root="S000000001", depth=1)
    assert (root_sharer["person"], root_sharer["amplified_reach"], root_sharer["reach"]) == ("v:P00000000000",
                                                                                              links, 1)
    # Influencers' credit climbs MAX_CREDIT_HOPS people hops: O(n) rows, not n^2 / 2.
    influence = scenario.db.execute("SELECT COUNT(*) FROM _ds_influence").fetchone()[0]
    assert influence <= links * MAX_CREDIT_HOPS
    assert scenario.row("influencers", person="v:P00000000000")["amplified_reach"] == MAX_CREDIT_HOPS


def test_failed_child_run_reports_why(tmp_path):
    with pytest.raises(AttributionFailed) as failed:
        attribute_in_child(tmp_path / "x.db", command=[sys.executable, "-c", "raise MemoryError('out of memory')"])
    assert failed.value.returncode == 1 and "MemoryError: out of memory" in failed.value.stderr
    assert "exited with code 1: MemoryError: out of memory" in str(failed.value)
    with pytest.raises(AttributionFailed) as killed:
        attribute_in_child(tmp_path / "x.db", command=[sys.executable, "-c", "import os; os.kill(os.getpid(), 9)"])
    assert killed.value.returncode == -9 and "signal SIGKILL" in str(killed.value)


def assert_every_order_ends_as(make_scenario, orders, expected) -> None:
    """Each order of the events, one incremental run per event on a database of its own, ends with the tables of
    ``expected`` (a full rebuild's snapshot)."""
    for n, order in enumerate(orders):
        shuffled = make_scenario(f"order{n}")
        for event in order:
            shuffled.flush([dict(event)])
            shuffled.attribute()
        assert snapshot(shuffled.db) == expected, order


def _forged_copies(scenario, case: str) -> list[dict]:
    """One page-view token sent twice with other content: the copy that wins (earlier) carries no incoming token,
    the other (later) does: someone else's share (``share``), or the visitor's own other view, as an old tracker
    sends on a reload (``own``: that view came with the visitor's own return, carrying a share forged to be its
    own parent). Listed in an arrival order that once made an incremental run keep the later copy."""
    copied = "Tcopied001"
    origin = scenario.ORIGIN

    def view(visitor, path, token, second, **fields):
        return scenario.event(kind="view", visitor=visitor, url=origin + path, token=token, ts=ts(second), **fields)

    if case == "share":
        return [
            scenario.event(kind="share", visitor="SHARER000000", url=origin + "/x", token="Tshare0001",
                           parent="Tsharers01", channel="wa", ts=ts(1)),
            view("SHARER000000", "/x", "Tsharers01", 0),
            view("VISITOR00000", "/x", copied, 2, in_channel="x"),
            view("OTHER0000000", "/", copied, 9, in_token="Tshare0001", in_channel="wa"),
        ]
    return [
        view("VISITOR00000", "/y?utm_source=z", "Town000001", 51, in_token="Treturn001", in_channel="cl"),
        view("VISITOR00000", "/x", copied, 2, in_channel="x"),
        view("VISITOR00000", "/y?utm_source=z", "Treturn001", 5, in_token="Tselfish01", reloaded=1),
        view("VISITOR00000", "/", copied, 31, in_token="Town000001", referrer_host="t.co"),
        scenario.event(kind="share", visitor="VISITOR00000", url=origin + "/", token="Tselfish01",
                       parent="Tselfish01", channel="wa", ts=ts(9)),
    ]


@pytest.mark.parametrize("case", ["share", "own"])
def test_a_page_view_token_sent_again_with_an_incoming_token_is_no_click(make_scenario, case):
    """The same page-view token forged twice: the copy kept is the earlier one, in every kind of run and arrival
    order, so the later copy's incoming token makes no click, no share and no reload."""
    import itertools

    reference = make_scenario("reference")
    events = _forged_copies(reference, case)
    reference.attribute(full=True)
    expected = snapshot(reference.db)
    kept = reference.row("visits", token="Tcopied001")
    assert (kept["click"], kept["medium"], kept["channel"], kept["url"]) == (0, "open", "x", reference.ORIGIN + "/x")
    assert [row["clicks"] for row in reference.rows("shares", token="Tshare0001")] == (
        [0] if case == "share" else [])
    orders = list(itertools.permutations(events)) if len(events) < 5 else [events, events[::-1]]
    assert_every_order_ends_as(make_scenario, orders, expected)


def _copy_moves_a_chain(scenario) -> list[dict]:
    """A share made from a view that came with its visitor's own other view (an old tracker's reload); a second,
    earlier copy of that other view carries an unknown share token: the share's cascade hangs below that one."""
    origin = scenario.ORIGIN
    return [
        scenario.event(kind="share", visitor="SHARER000000", url=origin + "/b", token="Tshare0001",
                       parent="Treload001", channel="wa", ts=ts(14)),
        scenario.event(kind="view", visitor="VISITOR00000", url=origin + "/b", token="Treload001",
                       in_token="Tcopied001", in_channel="cl", ts=ts(9)),
        scenario.event(kind="view", visitor="VISITOR00000", url=origin + "/", token="Tcopied001", in_channel="cl",
                       ts=ts(48)),
        scenario.event(kind="view", visitor="VISITOR00000", url=origin + "/a", token="Tcopied001",
                       in_token="Tunknown01", in_channel="x", ts=ts(2)),
    ]


def _copy_on_another_page(scenario) -> list[dict]:
    """A return that names no view, and an earlier copy of its page-view token from another visitor and page:
    that copy is kept, so there is no return."""
    origin = scenario.ORIGIN
    return [
        scenario.event(kind="view", visitor="VISITOR00000", url=origin + "/", token="Tcopied001", in_channel="x",
                       reloaded=1, ts=ts(31)),
        scenario.event(kind="view", visitor="VISITOR00000", url=origin + "/", token="Tearlier01", in_channel="x",
                       referrer_host="t.co", ts=ts(29)),
        scenario.event(kind="view", visitor="OTHER0000000", url=origin + "/a?utm_source=z", token="Tcopied001",
                       ts=ts(16)),
    ]


@pytest.mark.parametrize("forge", [_copy_moves_a_chain, _copy_on_another_page])
def test_a_copy_that_wins_later_moves_what_follows_from_the_view(make_scenario, forge):
    """Whatever order the copies of a page-view token arrive in, incremental runs end where a full rebuild does."""
    import itertools

    reference = make_scenario("reference")
    events = forge(reference)
    reference.attribute(full=True)
    expected = snapshot(reference.db)
    if forge is _copy_moves_a_chain:
        share = reference.row("shares", token="Tshare0001")
        assert (share["parent"], share["root"], share["depth"]) == ("Tunknown01", "Tunknown01", 2)
    else:
        kept = reference.row("visits", token="Tcopied001")
        assert (kept["visitor"], kept["source"], kept["medium"]) == ("OTHER0000000", "campaign", "campaign")
    assert_every_order_ends_as(make_scenario, itertools.permutations(events), expected)


def _dropped_copy_before_a_first_view(scenario) -> list[dict]:
    """Visitor B's first kept view, deep and without a referrer, comes after a copy of A's page-view token that
    names B (forged, earlier than B's view, later than A's): that copy is dropped, so it is no first view of B's."""
    origin = scenario.ORIGIN
    return [
        scenario.event(kind="view", visitor="A00000000000", url=origin + "/story", token="Tcopied001", ts=ts(1)),
        scenario.event(kind="view", visitor="B00000000000", url=origin + "/guide", token="Tcopied001",
                       referrer_host="www.google.com", ts=ts(2)),
        scenario.event(kind="view", visitor="B00000000000", url=origin + "/guide", token="TviewOfB01", ts=ts(3)),
    ]


def _dropped_copy_as_a_first_view(scenario) -> list[dict]:
    """B's second view, deep and without a referrer, has its token copied later by C (forged, dropped): that copy
    does not make B's view anybody's first, so it stays direct."""
    origin = scenario.ORIGIN
    return [
        scenario.event(kind="view", visitor="B00000000000", url=origin + "/guide", token="TviewOfB01",
                       referrer_host="www.google.com", ts=ts(1)),
        scenario.event(kind="view", visitor="B00000000000", url=origin + "/guide", token="Tcopied001", ts=ts(2)),
        scenario.event(kind="view", visitor="C00000000000", url=origin + "/guide", token="Tcopied001",
                       referrer_host="www.google.com", ts=ts(3)),
    ]


@pytest.mark.parametrize("forge", [_dropped_copy_before_a_first_view, _dropped_copy_as_a_first_view])
def test_a_dropped_copy_is_nobodys_first_view(make_scenario, forge):
    """A visitor's first view (estimated dark social when it has no referrer and is not the home page) is the first
    of the views kept: a dropped copy of a page-view token, whichever visitor it names, neither is one nor hides
    one. In every arrival order, incremental runs end where a full rebuild does."""
    import itertools

    reference = make_scenario("reference")
    events = forge(reference)
    reference.attribute(full=True)
    expected = snapshot(reference.db)
    sources = {row["token"]: (row["visitor"][:1], row["source"]) for row in reference.rows("visits")}
    if forge is _dropped_copy_before_a_first_view:
        assert sources == {"Tcopied001": ("A", "dark_estimated"), "TviewOfB01": ("B", "dark_estimated")}
        story = reference.row("stories", url=reference.ORIGIN + "/guide")
        assert (story["visits"], story["visits_dark_estimated"]) == (1, 1)
    else:
        assert sources == {"TviewOfB01": ("B", "search"), "Tcopied001": ("B", "direct")}
    assert_every_order_ends_as(make_scenario, itertools.permutations(events), expected)


def forged_traffic(scenario, rng) -> None:
    """Forged events over a few page-view and share tokens reused at random: as views' own and incoming tokens,
    shares' own and parent tokens, sent again with other content, by other visitors, as returns and reloads."""
    from darksocial import tokens

    pool = [tokens.mint() for _ in range(rng.randint(3, 25))]
    names = [f"H{i}" for i in range(rng.randint(1, 8))]
    for _ in range(rng.randint(5, 80)):
        roll, who = rng.random(), rng.choice(names)
        when = None if rng.random() < 0.8 else rng.choice([ts(5), "2026-02-28T23:59:59.000000Z", ts(5)])
        path = rng.choice(["/", "/a", "/b?x=1", "/a?utm_source=z"])
        if roll < 0.45:
            scenario.view(who, path, came_with=rng.choice(pool) if rng.random() < 0.7 else None,
                          channel=rng.choice([None, "wa", "x", "cl"]),
                          referrer=rng.choice([None, "blog.example", "t.co"]),
                          token=rng.choice(pool) if rng.random() < 0.6 else None, ts=when,
                          reload_of=rng.choice(pool) if rng.random() < 0.1 else None, returned=rng.random() < 0.05)
        elif roll < 0.8:
            scenario.share(who, rng.choice(pool), rng.choice(["wa", "tg", "x", "cl", "ct"]), path,
                           token=rng.choice(pool) if rng.random() < 0.8 else None, ts=when)
        elif roll < 0.9:
            scenario.identify(who, f"e{rng.randint(0, 2)}", rng.choice([None, "N"]))
        else:
            scenario.goal(who, rng.choice(["g1", "g2"]))


@pytest.mark.parametrize("seed", [15, 68, 242, 491, 695, 1106, 1168, 7])
def test_forged_traffic_incremental_equals_full_rebuild(make_scenario, seed):
    """Seeds that once found a difference: in any arrival order, incremental runs end where a full rebuild does."""
    import random

    rng = random.Random(seed)
    reference = make_scenario("reference")
    forged_traffic(reference, rng)
    events = list(reference.pending)
    reference.attribute(full=True)
    expected = snapshot(reference.db)
    order = events[:]
    rng.shuffle(order)
    cuts = sorted(rng.sample(range(1, len(order)), min(rng.choice([1, 3, 8, len(order) - 1]), len(order) - 1)))
    shuffled = make_scenario("shuffled")
    for batch in [order[i:j] for i, j in zip([0, *cuts], [*cuts, len(order)], strict=True)]:
        shuffled.flush(batch)
        shuffled.attribute()
    assert snapshot(shuffled.db) == expected


def test_a_return_copy_kept_on_another_page_repeats_a_view_of_that_page(make_scenario):
    """Returns that name no view repeat the latest earlier view of their own page; a token whose kept copy is a
    return on another page than the copy found on the asked page is answered from the page it is kept on."""
    reference = make_scenario("reference")
    origin, who = reference.ORIGIN, "VISITOR00000"

    def view(path, token, when, **fields):
        return reference.event(kind="view", visitor=who, url=origin + path, token=token, ts=when, **fields)

    events = [
        view("/b", "Tsecond01", ts(35), in_token="Tfirst001", in_channel="wa", referrer_host="t.co"),
        view("/a?utm_source=z", "Tcopied001", ts(38), reloaded=1),  # the copy kept: earlier
        view("/a", "Tcopied001", ts(44)),
        view("/a", "Treturn001", "2026-02-28T23:59:59.000000Z", reloaded=1, referrer_host="blog.example"),
        view("/", "Tthird001", ts(62), in_token="Tsecond01", in_channel="wa", referrer_host="blog.example"),
        view("/a?utm_source=z", "Tfirst001", "2026-02-28T23:59:59.000000Z", in_token="Treturn001", reloaded=1),
        reference.event(kind="share", visitor=who, url=origin + "/b", token="Tshare0001", parent="Tthird001",
                        channel="wa", ts=ts(5)),
    ]
    reference.attribute(full=True)
    expected = snapshot(reference.db)
    assert_every_order_ends_as(make_scenario, (events, events[::-1]), expected)
