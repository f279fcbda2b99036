"""The share and cascade model of the attribution, in pure Python (no SQL): the records read from the events,
how a share token is resolved (sharer, parent, root, depth), which views are its clicks and on which channel, and
the rows of the `shares`, `cascades` and `_ds_influence` tables they make."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from ..channels import CHANNELS
from . import referrers
from .virality import structural_virality


class View(NamedTuple):
    token: str
    ts: str
    site: str
    url: str
    title: str | None
    visitor: str | None
    referrer_host: str | None
    in_token: str | None
    in_channel: str | None
    in_app: str | None
    browser: str | None
    device: str | None


class ShareEvent(NamedTuple):
    token: str
    ts: str
    site: str
    url: str
    visitor: str | None
    parent: str | None
    channel: str | None


class Link(NamedTuple):
    token: str
    site: str | None
    name: str
    url: str | None
    channel: str | None
    created: str | None


def person_of(visitor: str | None, identities: dict) -> str | None:
    if visitor is None:
        return None
    ident = identities.get(visitor)
    return f"x:{ident[0]}" if ident else f"v:{visitor}"


def channel_medium(channel: str | None) -> str:
    ch = CHANNELS.get(channel or "")
    return ch.medium if ch else "open"  # a referrer host: the link was posted somewhere public


@dataclass
class Share:
    token: str
    origin: str
    ts: str | None
    site: str | None
    url: str | None
    sharer_visitor: str | None
    sharer: str | None
    sharer_name: str | None
    event_channel: str | None
    parent_view: str | None
    parent: str | None = None
    root: str | None = None
    depth: int = 1
    channel: str | None = None
    clicks: list = field(default_factory=list)  # views (click=1)


@dataclass
class World:
    """The events in scope, deduplicated and indexed."""

    views: dict = field(default_factory=dict)  # token → View
    share_events: dict = field(default_factory=dict)  # token → ShareEvent
    links: dict = field(default_factory=dict)  # token → Link
    identities: dict = field(default_factory=dict)  # visitor → (external_id, name)
    goals: dict = field(default_factory=dict)  # visitor → number of distinct goals


def resolve_shares(world: World, tokens: Iterable[str] | None = None) -> dict[str, Share]:
    """Every share token in scope with its sharer, parent, root and depth."""
    views, events, links, ids = world.views, world.share_events, world.links, world.identities
    if tokens is None:
        wanted = set(events) | set(links) | {v.in_token for v in views.values() if v.in_token}
    else:
        wanted = set(tokens)
    shares: dict[str, Share] = {}
    for token in wanted:
        if token in events:
            e = events[token]
            sharer = person_of(e.visitor, ids)
            shares[token] = Share(token, "share", e.ts, e.site, e.url, e.visitor, sharer,
                                  _name(e.visitor, ids), e.channel, e.parent)
        elif token in links:
            link = links[token]
            shares[token] = Share(token, "link", link.created, link.site, link.url, None, f"a:{link.name}",
                                  link.name, link.channel, None)
        elif token in views:
            v = views[token]
            shares[token] = Share(token, "address_bar", v.ts, v.site, v.url, v.visitor, person_of(v.visitor, ids),
                                  _name(v.visitor, ids), None, token)
        else:
            shares[token] = Share(token, "unknown", None, None, None, None, None, None, None, None)
    for share in shares.values():
        pv = views.get(share.parent_view) if share.parent_view else None
        parent = pv.in_token if pv is not None else None
        share.parent = parent if parent in shares and parent != share.token else None
    _assign_roots(shares)
    return shares


def _name(visitor: str | None, identities: dict) -> str | None:
    ident = identities.get(visitor) if visitor else None
    return ident[1] if ident else None


def _assign_roots(shares: dict[str, Share]) -> None:
    """Root and depth for every share; a cycle (only forged events can make one) is cut at its smallest token."""
    done: set[str] = set()
    for start in sorted(shares):
        path: list[str] = []
        on_path: set[str] = set()
        token = start
        while token is not None and token not in done:
            if token in on_path:
                cycle = path[path.index(token):]
                shares[min(cycle)].parent = None
                return _assign_roots(shares)  # rare: restart with the cycle cut
            path.append(token)
            on_path.add(token)
            token = shares[token].parent
        for tok in reversed(path):
            share = shares[tok]
            if share.parent is None:
                share.root, share.depth = tok, 1
            else:
                up = shares[share.parent]
                share.root, share.depth = up.root, up.depth + 1
            done.add(tok)


def is_self_click(view: View, share: Share, identities: dict) -> bool:
    if share.sharer_visitor is None or view.visitor is None:
        return False
    return view.visitor == share.sharer_visitor or person_of(view.visitor, identities) == share.sharer


def click_channel(view: View, share: Share | None) -> str:
    if share is not None and share.event_channel:
        return share.event_channel
    if view.in_channel:
        return view.in_channel
    if view.referrer_host:
        return referrers.channel_for_host(view.referrer_host)
    return "ab"


def cascade_rows(shares: dict[str, Share], world: World, roots: Iterable[str]):
    """(share rows, cascade rows, influence rows) for the cascades rooted at ``roots``.

    Each share must already carry its clicks. Nodes of a cascade are people: the root
    sharer plus each distinct visitor who clicked one of its shares; a visitor hangs
    under the sharer of the share through which they first arrived.
    """
    views, goals = world.views, world.goals
    members: dict[str, list[Share]] = defaultdict(list)
    roots = set(roots)
    for share in shares.values():
        if share.root in roots:
            members[share.root].append(share)
    children: dict[str, list[Share]] = defaultdict(list)
    for share in shares.values():
        if share.parent is not None:
            children[share.parent].append(share)

    share_rows, cascade_rows_, influence = [], [], []
    for root_token in sorted(roots):
        group = members.get(root_token, [])
        root = shares[root_token]
        # Visitors below each share: walk every click up its ancestors (depth is small in practice).
        below: dict[str, set] = defaultdict(set)
        for share in group:
            for view in share.clicks:
                anc: Share | None = share
                while anc is not None:
                    if view.visitor != anc.sharer_visitor:
                        below[anc.token].add(view.visitor)
                    anc = shares[anc.parent] if anc.parent else None
        by_person: dict[str, set] = defaultdict(set)
        for share in group:
            if share.sharer is not None:
                by_person[share.sharer] |= below[share.token]
        for person, visitors in by_person.items():
            influence.extend((root_token, person, v) for v in visitors)

        # The tree of people.
        root_node = root.sharer_visitor if root.sharer_visitor is not None else f"#{root_token}"
        arrival: dict = {}
        for share in group:
            for view in share.clicks:
                if view.visitor == root_node:
                    continue
                key = (share.depth, view.ts, view.token)
                if view.visitor not in arrival or key < arrival[view.visitor][0]:
                    arrival[view.visitor] = (key, share)
        parent = {root_node: None}
        depth = {root_node: 0}
        for visitor, ((d, _, _), _) in arrival.items():
            depth[visitor] = d
        for visitor, (_, share) in arrival.items():
            if share.parent is None:
                up = root_node
            else:
                pv = views.get(share.parent_view)
                up = pv.visitor if pv is not None else None
                if up not in depth or depth[up] >= depth[visitor]:
                    up = root_node  # inconsistent data (a share event from another visitor's page view)
            parent[visitor] = up
        nu = structural_virality(parent, depth)

        for share in group:
            clickers = {v.visitor for v in share.clicks}
            reshares = sum(1 for c in children.get(share.token, ()) if c.clicks)
            conversions = sum(goals.get(v, 0) for v in below[share.token])
            medium = channel_medium(share.channel)
            share_rows.append((
                share.token, share.origin, share.ts, share.ts[:10] if share.ts else None, share.site, share.url,
                share.sharer, share.sharer_name, share.sharer_visitor, share.channel, medium, share.parent_view,
                share.parent, share.root, share.depth, len(share.clicks), len(clickers), reshares,
                len(below[share.token]), conversions,
            ))
        cascade_rows_.append((
            root_token, root.site, root.url, root.sharer, root.sharer_name, root.channel, root.ts, len(group),
            sum(len(s.clicks) for s in group), len(parent), max(depth.values()), nu,
            sum(goals.get(v, 0) for v in below[root_token]),
        ))
    return share_rows, cascade_rows_, influence


def attach_clicks(shares: dict[str, Share], views: Iterable[View], world: World) -> None:
    """Give every share its clicks and, where no event or link names one, its channel (the commonest among
    its views, ties to the smallest)."""
    seen: dict[str, Counter] = defaultdict(Counter)
    for view in views:
        share = shares.get(view.in_token) if view.in_token else None
        if share is None:
            continue
        seen[share.token][click_channel(view, share)] += 1
        if not is_self_click(view, share, world.identities):
            share.clicks.append(view)
    for share in shares.values():
        share.clicks.sort(key=lambda v: (v.ts, v.token))
        if share.event_channel:
            share.channel = share.event_channel
        elif seen.get(share.token):
            counts = seen[share.token]
            share.channel = min(counts, key=lambda c: (-counts[c], c))
        else:
            share.channel = "ab"
        if share.origin == "unknown" and share.clicks:
            first = share.clicks[0]
            share.ts, share.site, share.url = first.ts, first.site, first.url
