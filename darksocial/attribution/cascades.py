"""The share and cascade model of the attribution, in pure Python (no SQL): the records read from the events,
how a share token is resolved (sharer, parent, root), which views are its clicks and on which channel, the
people tree of each cascade, and the rows of the `shares`, `cascades`, `cascade_people` and `_ds_influence`
tables they make.

Everything here is built for forged input: no recursion, every walk up a chain of tokens is iterative and
cycle-proof, cycles are cut deterministically (by time, then token), and the work per cascade is near linear in
its size (small-to-large merging for the shares, credit up the people tree bounded by ``MAX_CREDIT_HOPS``).
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from ..channels import CHANNELS
from . import referrers
from .virality import structural_virality

# A person is credited with the people at most this many people hops below them (influencers' amplified reach
# and conversions). Real cascades are a handful of hops deep; the bound keeps a forged chain of n links at
# O(n * MAX_CREDIT_HOPS) credit rows instead of n^2 / 2.
MAX_CREDIT_HOPS = 16


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
    reloaded: int | None  # 1: in_token is what the tracker's own address bar held on a reload (events.reloaded)


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
    goals: dict = field(default_factory=dict)  # person → sorted times at which each of their goals was last reached
    # A return whose address bar showed no token (reloaded, no in_token) → the view it repeats: the visitor's latest
    # earlier view of the same page (loading.load_returns)
    returns_to: dict = field(default_factory=dict)


# -- own tokens: reloads, back/forward, restored tabs -----------------------------------------------------------------
def resolve_reloads(world: World, views: Iterable[View] | None = None) -> dict[str, tuple[str | None, str | None]]:
    """Views that carry a page-view token of their own person (a reload, back/forward or restored tab: the
    address bar still holds the token the tracker put there), mapped to (origin view token, effective incoming
    token): the first view of the chain that came from elsewhere, and the token it came with. A view the tracker
    marked as a reload (``reloaded``) repeats the view it names whoever the visitor now seems to be (a cookieless
    pseudonym changes daily); naming no known view, it counts as arriving with no token, never as a click. A
    marked return that names no view (its address bar showed no token) repeats the visitor's latest earlier view
    of the same page (``world.returns_to``), and with none counts as arriving with no token.

    Such a view is no click and makes no share; it is credited as its origin was. A cycle of own tokens (forged)
    is cut at its earliest view (time, then token), which then counts as arriving with no token: its origin is
    itself and its effective incoming token None.
    """
    all_views, ids = world.views, world.identities
    done: dict[str, tuple[str | None, str | None]] = {}
    result: dict[str, tuple[str | None, str | None]] = {}

    def own_predecessor(view: View) -> View | None:
        if view.reloaded and not view.in_token:
            return all_views.get(world.returns_to.get(view.token))
        up = all_views.get(view.in_token) if view.in_token else None
        if up is None or up.token == view.token or view.reloaded:
            return up  # a view carrying its own token is a cycle of one
        if up.visitor is None or view.visitor is None:
            return None
        return up if person_of(up.visitor, ids) == person_of(view.visitor, ids) else None

    for start in (all_views.values() if views is None else views):
        if start.token in done:
            continue
        path: list[View] = []
        on_path: set[str] = set()
        view: View | None = start
        answer: tuple[str | None, str | None]
        while True:
            if view.token in done:
                answer = done[view.token]
                break
            if view.token in on_path:  # a cycle of own tokens: cut at its earliest view
                cycle = path[[v.token for v in path].index(view.token):]
                cut = min(cycle, key=lambda v: (v.ts or "", v.token))
                answer = (cut.token, None)
                break
            path.append(view)
            on_path.add(view.token)
            up = own_predecessor(view)
            if up is None:
                answer = (view.token, None if view.reloaded else view.in_token)
                break
            view = up
        for v in path:
            done[v.token] = answer
            if answer != (v.token, v.in_token):
                result[v.token] = answer
    return result


def effective_in_token(view: View, reloads: dict) -> str | None:
    redirected = reloads.get(view.token)
    return redirected[1] if redirected is not None else view.in_token


# -- shares -----------------------------------------------------------------------------------------------------------
def share_tokens(world: World, reloads: dict) -> set[str]:
    """Every token that is a share: minted by a share event, an ambassador link, or a token somebody other than
    its owner arrived with."""
    wanted = set(world.share_events) | set(world.links)
    wanted.update(v.in_token for v in world.views.values() if v.in_token and v.token not in reloads)
    return wanted


def resolve_shares(world: World, tokens: Iterable[str], reloads: dict) -> dict[str, Share]:
    """The shares ``tokens`` with their sharer, parent and root (depth comes with the people tree)."""
    views, events, links, ids = world.views, world.share_events, world.links, world.identities
    shares: dict[str, Share] = {}
    for token in tokens:
        if token in events:
            e = events[token]
            shares[token] = Share(token, "share", e.ts, e.site, e.url, e.visitor, person_of(e.visitor, ids),
                                  visitor_name(e.visitor, ids), e.channel, e.parent)
        elif token in links:
            link = links[token]
            shares[token] = Share(token, "link", link.created, link.site, link.url, None, f"a:{link.name}",
                                  link.name, link.channel, None)
        elif token in views:
            v = views[token]
            shares[token] = Share(token, "address_bar", v.ts, v.site, v.url, v.visitor, person_of(v.visitor, ids),
                                  visitor_name(v.visitor, ids), None, token)
        else:
            shares[token] = Share(token, "unknown", None, None, None, None, None, None, None, None)
    for share in shares.values():
        pv = views.get(share.parent_view) if share.parent_view else None
        parent = effective_in_token(pv, reloads) if pv is not None else None
        share.parent = parent if parent in shares and parent != share.token else None
    assign_roots(shares)
    return shares


def visitor_name(visitor: str | None, identities: dict) -> str | None:
    ident = identities.get(visitor) if visitor else None
    return ident[1] if ident else None


def assign_roots(shares: dict[str, Share]) -> None:
    """The root of every share, iteratively; a cycle (only forged events make one) is cut at its earliest share
    (time, then token), which becomes a root."""
    done: set[str] = set()
    for start in sorted(shares):
        while True:  # at most twice: once more after cutting a cycle met on the way
            path: list[str] = []
            on_path: set[str] = set()
            token = start
            while token is not None and token not in done and token not in on_path:
                path.append(token)
                on_path.add(token)
                token = shares[token].parent
            if token is not None and token in on_path:
                cycle = path[path.index(token):]
                cut = min(cycle, key=lambda t: (shares[t].ts or "", t))
                shares[cut].parent = None
                continue
            for tok in reversed(path):
                share = shares[tok]
                share.root = tok if share.parent is None else shares[share.parent].root
                done.add(tok)
            break


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


def attach_clicks(shares: dict[str, Share], views: Iterable[View], world: World, reloads: dict) -> None:
    """Give every share its clicks and, where no event or link names one, its channel (the commonest among
    its views, ties to the smallest). A reload of one's own page is no click."""
    seen: dict[str, Counter] = defaultdict(Counter)
    for view in views:
        share = shares.get(view.in_token) if view.in_token and view.token not in reloads else None
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


# -- the people tree --------------------------------------------------------------------------------------------------
@dataclass
class Node:
    person: str
    parent: str | None
    depth: int  # people hops from the root sharer (0 for the root sharer)
    arrived: str | None
    via: str | None  # the share they first arrived through
    channel: str | None
    children: int = 0
    below: int = 0


class _Click(NamedTuple):
    ts: str
    token: str
    person: str
    share: Share
    view: View


def people_tree(root: Share, group: list[Share], identities: dict) -> tuple[str, dict[str, Node], list[str]]:
    """(root node, person → Node, persons in the order they joined) of one cascade.

    The nodes are people: the root sharer plus everybody who clicked one of the cascade's shares, each once
    whatever their device. A person hangs under the sharer of the share through which they first arrived (time,
    then view token). A click on the share of somebody not in the tree yet (only out-of-order or forged data)
    waits until that sharer joins; whoever is still waiting at the end (a forged cycle) is cut loose under the
    root, earliest first.
    """
    root_node = root.sharer if root.sharer is not None else f"#{root.token}"
    nodes: dict[str, Node] = {root_node: Node(root_node, None, 0, root.ts, root.token, root.channel)}
    order = [root_node]
    clicks = sorted(_Click(v.ts or "", v.token, person_of(v.visitor, identities) or f"?{v.token}", share, v)
                    for share in group for v in share.clicks)
    pending: dict[str, list[_Click]] = defaultdict(list)

    def join(person: str, parent: str, click: _Click | None, arrived: str | None) -> None:
        up = nodes[parent]
        up.children += 1
        nodes[person] = Node(person, parent, up.depth + 1, arrived, click.share.token if click else None,
                             click_channel(click.view, click.share) if click else None)
        order.append(person)
        stack = [person]
        while stack:
            host = stack.pop()
            for waiting in pending.pop(host, ()):
                if waiting.person not in nodes:
                    up = nodes[host]
                    up.children += 1
                    nodes[waiting.person] = Node(waiting.person, host, up.depth + 1, waiting.ts,
                                                 waiting.share.token, click_channel(waiting.view, waiting.share))
                    order.append(waiting.person)
                    stack.append(waiting.person)

    def sharer_node(share: Share) -> str:
        return share.sharer if share.sharer is not None else root_node

    for click in clicks:
        if click.person in nodes:
            continue
        host = sharer_node(click.share)
        if host in nodes:
            join(click.person, host, click, click.ts)
        else:
            pending[host].append(click)
    if pending:
        for click in sorted(c for waiting in pending.values() for c in waiting):
            if click.person in nodes:
                continue
            host = sharer_node(click.share)
            if host not in nodes:
                join(host, root_node, None, None)  # the cut: a sharer nobody in the tree brought
            if click.person not in nodes:
                join(click.person, host, click, click.ts)
    for person in reversed(order):  # children joined after their parents
        node = nodes[person]
        if node.parent is not None:
            nodes[node.parent].below += node.below + 1
    return root_node, nodes, order


def goals_after(goals: dict, person: str | None, since: str | None) -> int:
    """Distinct goals ``person`` reached at or after ``since`` (a goal counts by the last time it was reached)."""
    times = goals.get(person) if person is not None else None
    if not times:
        return 0
    return len(times) - bisect.bisect_left(times, since or "")


def cascade_rows(shares: dict[str, Share], world: World, roots: Iterable[str]):
    """(share rows, cascade rows, people rows, influence rows) for the cascades rooted at ``roots``.

    Each share must already carry its clicks. Depth counts people hops in the people tree: a share's depth is its
    sharer's depth + 1 (1 for the root sharer's shares). A share's amplified reach and conversions count distinct
    people anywhere below it in the share tree, by small-to-large merging of per-share {person: first click}
    maps; a person's come from the people tree (``_ds_influence``, at most MAX_CREDIT_HOPS hops down).
    """
    goals, ids = world.goals, world.identities
    members: dict[str, list[Share]] = defaultdict(list)
    roots = set(roots)
    for share in shares.values():
        if share.root in roots:
            members[share.root].append(share)
    children: dict[str, list[Share]] = defaultdict(list)
    for share in shares.values():
        if share.parent is not None:
            children[share.parent].append(share)

    share_rows, cascade_rows_, people_rows, influence = [], [], [], []
    for root_token in sorted(roots):
        group = members.get(root_token, [])
        root = shares[root_token]
        root_node, nodes, order = people_tree(root, group, ids)

        # Share depth from the people tree, in breadth-first order of the share tree (parents first).
        bfs = [root]
        for share in bfs:
            bfs.extend(children.get(share.token, ()))
        for share in bfs:
            node = nodes.get(share.sharer if share.sharer is not None else root_node)
            if node is not None:
                share.depth = node.depth + 1
            else:
                share.depth = shares[share.parent].depth + 1 if share.parent else 1

        # Distinct people below each share, leaves first: the smaller map merges into the larger.
        below_count, below_conv = {}, {}
        maps: dict[str, tuple[dict, list]] = {}
        for share in reversed(bfs):
            first: dict = {}
            total = [0]
            for view in share.clicks:
                _touch(first, total, person_of(view.visitor, ids) or f"?{view.token}", view.ts or "", goals)
            for child in children.get(share.token, ()):
                other, other_total = maps.pop(child.token)
                if len(other) > len(first):
                    first, other, total, other_total = other, first, other_total, total
                for person, ts in other.items():
                    _touch(first, total, person, ts, goals)
            own = first.get(share.sharer) if share.sharer is not None else None
            below_count[share.token] = len(first) - (own is not None)
            below_conv[share.token] = total[0] - (goals_after(goals, share.sharer, own) if own is not None else 0)
            maps[share.token] = (first, total)
        maps.clear()

        names: dict[str, str] = {}
        for share in group:
            if share.sharer is not None and share.sharer_name is not None:
                names[share.sharer] = max(names.get(share.sharer, share.sharer_name), share.sharer_name)
            for view in share.clicks:
                person, name = person_of(view.visitor, ids), visitor_name(view.visitor, ids)
                if person is not None and name is not None:
                    names[person] = max(names.get(person, name), name)
        by_token = {share.token: share for share in group}
        first_share: dict[str, tuple] = {}  # a person's first share in the cascade: (time, site)
        for share in group:
            if share.sharer is not None and share.ts is not None:
                key = (share.ts, share.site or "")
                first_share[share.sharer] = min(first_share.get(share.sharer, key), key)

        conversions = 0
        for person in order:
            node = nodes[person]
            converted = goals_after(goals, person, node.arrived) if node.parent is not None else 0
            conversions += converted
            people_rows.append((root_token, root.site, root.url, _shown(person), names.get(person),
                                _shown(node.parent), node.depth + 1, node.via, node.channel, node.arrived,
                                node.children, node.below, converted))
            # Credit up the tree, at most MAX_CREDIT_HOPS people hops.
            if node.parent is None or person.startswith("?"):
                continue
            below, up, hops = person, node.parent, 0
            while up is not None and hops < MAX_CREDIT_HOPS:
                if not up.startswith("#"):
                    # Dated and sited by the share of theirs that brought this person (the share the person just
                    # below them on the way first arrived through), as the reports window a person's shares: a
                    # share counts on the day it was minted, with everyone below it.
                    via = by_token.get(nodes[below].via)
                    shared = (via.ts, via.site or "") if via is not None and via.ts else first_share.get(up)
                    influence.append((root_token, (shared[1] or None) if shared else root.site,
                                      shared[0][:10] if shared else None, up, person, node.arrived, converted))
                below, up, hops = up, nodes[up].parent, hops + 1

        for share in group:
            reshares = sum(1 for c in children.get(share.token, ()) if c.clicks)
            clickers = {person_of(v.visitor, ids) or f"?{v.token}" for v in share.clicks}
            share_rows.append((
                share.token, share.origin, share.ts, share.ts[:10] if share.ts else None, share.site, share.url,
                share.sharer, share.sharer_name, share.sharer_visitor, share.channel, channel_medium(share.channel),
                share.parent_view, share.parent, share.root, share.depth, len(share.clicks), len(clickers), reshares,
                below_count[share.token], below_conv[share.token],
            ))
        parent = {person: node.parent for person, node in nodes.items()}
        depth = {person: node.depth for person, node in nodes.items()}
        cascade_rows_.append((
            root_token, root.site, root.url, root.sharer, root.sharer_name, root.channel, root.ts, len(group),
            sum(len(s.clicks) for s in group), len(nodes), max(depth.values()), structural_virality(parent, depth),
            conversions,
        ))
    return share_rows, cascade_rows_, people_rows, influence


def _shown(node: str | None) -> str | None:
    """The person a node stands for: None for the stand-in root of a token whose sharer is unknown (``#token``)
    and for a visitor without an id (``?token``)."""
    return None if node is None or node.startswith(("#", "?")) else node


def _touch(first: dict, total: list, person: str, ts: str, goals: dict) -> None:
    """Record that ``person`` is below, first clicking at ``ts``; keep the running count of their conversions."""
    old = first.get(person)
    if old is None:
        first[person] = ts
        total[0] += goals_after(goals, person, ts)
    elif ts < old:
        first[person] = ts
        total[0] += goals_after(goals, person, ts) - goals_after(goals, person, old)
