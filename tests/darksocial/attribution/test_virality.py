"""Structural virality against the closed forms, on bare trees and on attributed cascades."""

from __future__ import annotations

import itertools
import random

import pytest

from darksocial.attribution.virality import structural_virality


def star(n):
    parent = {0: None, **{i: 0 for i in range(1, n)}}
    return parent, {0: 0, **{i: 1 for i in range(1, n)}}


def chain(n):
    return {i: (i - 1 if i else None) for i in range(n)}, {i: i for i in range(n)}


@pytest.mark.parametrize("n", [2, 3, 5, 10, 101])
def test_star_and_chain_closed_forms(n):
    assert structural_virality(*star(n)) == pytest.approx(2 * (n - 1) / n)
    assert structural_virality(*chain(n)) == pytest.approx((n + 1) / 3)


def test_single_node_has_no_virality():
    assert structural_virality({"root": None}, {"root": 0}) is None


def test_matches_mean_pairwise_distance_on_random_trees():
    rng = random.Random(7)
    for n in (4, 9, 30):
        parent, depth = {0: None}, {0: 0}
        for i in range(1, n):
            parent[i] = rng.randrange(i)
            depth[i] = depth[parent[i]] + 1

        def path_up(node, parent=parent):
            out = []
            while node is not None:
                out.append(node)
                node = parent[node]
            return out

        def distance(a, b, path_up=path_up):
            up_a, up_b = path_up(a), path_up(b)
            common = next(x for x in up_a if x in set(up_b))
            return up_a.index(common) + up_b.index(common)

        pairs = list(itertools.combinations(range(n), 2))
        brute = sum(distance(a, b) for a, b in pairs) / len(pairs)
        assert structural_virality(parent, depth) == pytest.approx(brute)


@pytest.mark.parametrize("n", [3, 6])
def test_attributed_star_and_chain(scenario, n):
    a = scenario.view("A")
    star_root = scenario.share("A", a, "wa")
    for i in range(n - 1):
        scenario.view(f"S{i}", came_with=star_root)
    view = scenario.view("C0", "/chain")
    chain_root = previous = scenario.share("C0", view, "tg", "/chain")
    for i in range(1, n):
        view = scenario.view(f"C{i}", "/chain", came_with=previous)
        if i < n - 1:
            previous = scenario.share(f"C{i}", view, "tg", "/chain")
    scenario.attribute()
    assert scenario.row("cascades", root=star_root)["structural_virality"] == pytest.approx(2 * (n - 1) / n)
    chain_row = scenario.row("cascades", root=chain_root)
    assert (chain_row["size"], chain_row["depth"]) == (n, n - 1)
    assert chain_row["structural_virality"] == pytest.approx((n + 1) / 3)
    # The score is relative to the best story: the one with the larger reach × virality gets 100.
    scores = {r["url"].rsplit("/", 1)[1]: r["virality_score"] for r in scenario.rows("stories")}
    assert max(scores.values()) == 100 and min(scores.values()) > 0
