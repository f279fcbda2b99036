"""Structural virality of a cascade tree (Goel, Anderson, Hofman & Watts 2016).

ν is the mean shortest-path distance over all pairs of nodes, 2W / (n(n−1)) with W the
Wiener index. In a tree every path between the two sides of an edge crosses that edge,
so W = Σ over edges s·(n−s), where s is the size of the subtree below the edge: O(n).
"""

from __future__ import annotations


def structural_virality(parent: dict, depth: dict) -> float | None:
    """ν of the tree given by ``parent`` (node → parent node, the root maps to None).

    ``depth`` (node → hops from the root) orders the nodes so that subtree sizes
    accumulate in one pass from the leaves up. Returns None for a single node.
    """
    n = len(parent)
    if n < 2:
        return None
    size = dict.fromkeys(parent, 1)
    wiener = 0
    for node in sorted(parent, key=depth.__getitem__, reverse=True):
        up = parent[node]
        if up is not None:
            s = size[node]
            wiener += s * (n - s)
            size[up] += s
    return 2.0 * wiener / (n * (n - 1))
