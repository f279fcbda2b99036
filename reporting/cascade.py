"""/-/darksocial/cascade: the largest cascades to open, and one cascade drawn as its tree of people.

The nodes are the rows of ``cascade_people`` (one per person per cascade, under the person whose share first brought
them): labelled by name (the analyst's label first) or a short id, coloured by the channel they arrived through,
sized by the people they reached directly. Up to ``MAX_NODES`` people are drawn whole; a larger tree is drawn from
the top down to ``MAX_NODES``, and each person whose branch is cut shows how many people it hides and opens that
branch on its own (``focus``). The chart's data is JSON escaped for a <script> element, so no name can break it.
"""

from __future__ import annotations

import collections
import urllib.parse

from datasette.utils.asgi import Response

from darksocial import analysts
from darksocial import reports as queries

from . import names, pages

MAX_NODES = 150
MAX_LOADED = 20_000
ROOT_ID = "?root"
# Colours people associate with each channel, distinct enough side by side.
CHANNEL_COLORS = {"wa": "#25a244", "fm": "#7b4ddb", "tg": "#2aa1da", "sms": "#d9822b", "em": "#c0392b",
                  "cl": "#5b2a86", "ct": "#b8860b", "ns": "#008080", "ab": "#8d6e63", "x": "#222222",
                  "fb": "#1f3a93", "li": "#0a66c2", "rd": "#ff4500", "bs": "#e377c2"}
OTHER_COLOR = "#999999"

ROOT_OF = "select root from shares where token = :share"
PEOPLE = f"""
select cp.person, cp.parent_person, cp.depth, cp.channel, cp.arrived, cp.reach, cp.amplified_reach,
  cp.conversions, cp.via_share, cp.url, cp.site,
  coalesce((select nullif(l.name, '') from [{analysts.LABELS_TABLE}] l where l.person = cp.person), cp.name) as name
from cascade_people cp where cp.root = :root
order by cp.depth, cp.arrived, cp.person
limit {MAX_LOADED}
"""
CASCADE = """
select c.*, coalesce(st.title, c.url) as story from cascades c
left join stories st on st.site = c.site and st.url = c.url where c.root = :root
"""


def tree_nodes(people: list[dict], focus: str | None = None, limit: int = MAX_NODES) -> tuple[list[dict], int]:
    """The nodes to draw (id, parent, label, ...) and how many people the cascade has in all.

    Iterative and linear in the people: parents come before children (rows are ordered by depth), a person whose
    parent is unknown hangs under the root. With ``focus``, only that person's branch is drawn.
    """
    by_id: dict[str, dict] = {}
    children: dict[str, list[str]] = collections.defaultdict(list)
    root_id = None
    for row in people:
        node_id = row["person"] or ROOT_ID
        if node_id in by_id:
            continue
        parent = row["parent_person"]
        if root_id is None:
            root_id, parent = node_id, None
        elif parent is None or parent not in by_id or parent == node_id:
            parent = root_id
        by_id[node_id] = {**row, "id": node_id, "parent": parent}
        if parent is not None:
            children[parent].append(node_id)
    total = len(by_id)
    start = focus if focus in by_id else root_id
    if start is None:
        return [], 0
    chosen: list[str] = []
    queue = collections.deque([start])
    while queue and len(chosen) < limit:
        node_id = queue.popleft()
        chosen.append(node_id)
        queue.extend(children[node_id])
    shown = set(chosen)
    below = _descendant_counts(chosen, children)
    nodes = []
    for node_id in chosen:
        row = by_id[node_id]
        hidden = sum(1 + below[c] for c in children[node_id] if c not in shown)
        name = row.get("name")
        label = name or (names.short_id(row["person"]) if row["person"] else "unknown sharer")
        nodes.append({
            "id": node_id, "parent": None if node_id == start else row["parent"], "label": label,
            "person": row["person"], "name": name, "channel": row["channel"] or "",
            "channel_label": pages.CHANNEL_LABELS.get(row["channel"], row["channel"] or "unknown"),
            "reach": row["reach"] or 0, "amplified_reach": row["amplified_reach"] or 0, "depth": row["depth"],
            "arrived": row["arrived"], "hidden": hidden,
        })
    labels = {node["id"]: node["label"] for node in nodes}
    for node in nodes:
        node["parent_label"] = labels.get(node["parent"], "")
    return nodes, total


def _descendant_counts(chosen: list[str], children: dict[str, list[str]]) -> dict[str, int]:
    """People below each person, computed bottom-up without recursion (for the "+N" of a cut branch)."""
    order, seen = [], set()
    stack = list(chosen[:1])
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        order.append(node)
        stack.extend(children[node])
    counts: dict[str, int] = collections.defaultdict(int)
    for node in reversed(order):
        counts[node] = sum(1 + counts[c] for c in children[node])
    return counts


def tree_spec(nodes: list[dict], root: str) -> dict:
    """A Vega (v6) tree of people; links open each person's page, a cut branch opens on its own."""
    leaves = sum(1 for n in nodes if not any(m["parent"] == n["id"] for m in nodes)) if len(nodes) < 2000 else 1
    depth = max((n["depth"] or 1 for n in nodes), default=1) - min((n["depth"] or 1 for n in nodes), default=1) + 1
    height = max(160, 22 * leaves)
    width = max(600, min(1150, 190 * depth + 200))
    channels = sorted({n["channel"] for n in nodes}, key=lambda c: pages.CHANNEL_LABELS.get(c, c or "~"))
    for node in nodes:
        if node["hidden"]:
            node["href"] = "?" + urllib.parse.urlencode({"share": root, "focus": node["id"]})
            node["label"] = f"{node['label']} (+{node['hidden']})"
        else:
            node["href"] = pages.influencer_href(node["person"]) if node["person"] else ""
    return {
        "$schema": "https://vega.github.io/schema/vega/v6.json",
        "description": "The people of one cascade, each under the person whose share first brought them.",
        "padding": {"left": 16, "right": 8, "top": 8, "bottom": 8},
        "autosize": "none",
        "width": width,
        "height": height,
        "data": [
            {"name": "tree", "values": nodes,
             "transform": [{"type": "stratify", "key": "id", "parentKey": "parent"},
                           {"type": "tree", "method": "tidy", "size": [height, width - 200],
                            "as": ["y", "x", "level", "leaf"]}]},
            {"name": "links", "source": "tree",
             "transform": [{"type": "treelinks"}, {"type": "linkpath", "orient": "horizontal", "shape": "diagonal"}]},
        ],
        "scales": [
            {"name": "color", "type": "ordinal",
             "domain": [pages.CHANNEL_LABELS.get(c, c or "unknown") for c in channels],
             "range": [CHANNEL_COLORS.get(c, OTHER_COLOR) for c in channels]},
            {"name": "size", "type": "sqrt", "domain": [0, {"signal": "max(1, reachMax)"}], "range": [40, 500]},
        ],
        "signals": [{"name": "reachMax", "value": max((n["reach"] for n in nodes), default=1)}],
        "legends": [{"fill": "color", "title": "Arrived through", "orient": "top-right", "symbolType": "circle"}],
        "marks": [
            {"type": "path", "from": {"data": "links"},
             "encode": {"update": {"path": {"field": "path"}, "stroke": {"value": "#c4c4c4"}}}},
            {"type": "symbol", "name": "people", "from": {"data": "tree"},
             "encode": {"enter": {"stroke": {"value": "#fff"}, "cursor": {"value": "pointer"}},
                        "update": {"x": {"field": "x"}, "y": {"field": "y"},
                                   "size": {"scale": "size", "field": "reach"},
                                   "fill": {"scale": "color", "field": "channel_label"},
                                   "href": {"field": "href"},
                                   "tooltip": {"signal": "{'person': datum.label, 'arrived through': "
                                                         "datum.channel_label, 'people reached': datum.reach, "
                                                         "'everyone below': datum.amplified_reach}"}}}},
            {"type": "text", "from": {"data": "tree"},
             "encode": {"enter": {"text": {"field": "label"}, "fontSize": {"value": 11},
                                  "baseline": {"value": "middle"}, "limit": {"value": 180}},
                        "update": {"x": {"field": "x"}, "y": {"field": "y"}, "dx": {"value": 9}}}},
        ],
    }


async def cascade_view(request, datasette) -> Response:
    db = pages.database_name(datasette)
    await pages.require_report(datasette, request, db, queries.LARGEST_CASCADES, "The cascades page")
    try:
        window = pages.window_params(request)
        share = pages.text_param(request, "share")
        focus = pages.text_param(request, "focus") or None
    except pages.BadParameter as exc:
        return pages.bad_request(exc)
    context = pages.page_context(db, window, share=share, focus=focus, sites=await pages.sites(datasette, db))
    if not share:
        largest = await pages.rows(datasette, db, queries.LARGEST_CASCADES.sql, pages.report_params(window))
        await names.add_names(datasette, db, largest, "sharer")
        return Response.html(await datasette.render_template(
            "darksocial_cascade.html", {**context, "largest": largest, "cascade": None}, request=request))
    found = await pages.rows(datasette, db, ROOT_OF, {"share": share})
    if not found:
        return Response.text(f"404 Not Found: no share {share!r} (open one from the largest cascades)\n", status=404)
    root = found[0]["root"] or share
    cascade = (await pages.rows(datasette, db, CASCADE, {"root": root}) or [{"root": root}])[0]
    people = await pages.rows(datasette, db, PEOPLE, {"root": root})
    nodes, total = tree_nodes(people, focus)
    spec = tree_spec(nodes, root)
    starter = nodes[0] if nodes else None
    return Response.html(await datasette.render_template(
        "darksocial_cascade.html",
        {**context, "cascade": cascade, "root": root, "nodes": nodes, "total": total, "starter": starter,
         "spec_json": pages.script_json(spec), "focused": bool(focus and nodes and nodes[0]["id"] == focus),
         "max_nodes": MAX_NODES},
        request=request))
