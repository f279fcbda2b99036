"""The darksocial dashboard (datasette-dashboards) built from the canned reports' SQL, and the cascade tree spec.

datasette-dashboards 0.8 ships Vega, Vega-Lite and vega-embed in its own wheel and serves them from
/-/static-plugins/, so its pages make no request beyond the server. Its Vega charts replace the data block, which a
tree layout needs for its transforms, so the cascade tree is drawn on our own page (reporting.pages) with the Vega
build vendored in reporting/static.
"""

from __future__ import annotations

from darksocial import reports as queries

DASHBOARD = "darksocial"
# No "Open in Vega Editor": that action would post the analyst's data to a third-party site.
NO_EXTERNAL_ACTIONS = {"embedOptions": {"actions": {"export": True, "source": False, "compiled": False,
                                                    "editor": False}}}
MEDIA_ORDER = ["dark_tracked", "dark_estimated", "open_social", "other"]
MEDIA_LABELS = {
    "dark_tracked": "Dark social, tracked",
    "dark_estimated": "Dark social, estimated",
    "open_social": "Open social networks",
    "other": "Search, referral, campaign, internal, direct",
}


def _chart(report: queries.Report, db: str, title: str, display: dict) -> dict:
    return {
        "title": title,
        "db": db,
        "query": report.sql.strip(),
        "library": "vega-lite",
        "display": {**display, "usermeta": NO_EXTERNAL_ACTIONS},
    }


def dark_social_over_time(db: str) -> dict:
    label = "{" + ", ".join(f"'{k}': '{v}'" for k, v in MEDIA_LABELS.items()) + "}[datum.kind]"
    return _chart(
        queries.DARK_SOCIAL_OVER_TIME, db, "Dark social over time (visits per day)",
        {
            "mark": {"type": "area", "line": True, "point": True, "tooltip": True},
            "transform": [
                {"fold": MEDIA_ORDER, "as": ["kind", "count"]},
                {"calculate": label, "as": "traffic"},
                {"calculate": f"indexof({MEDIA_ORDER!r}, datum.kind)", "as": "order"},
            ],
            "encoding": {
                "x": {"field": "date", "type": "temporal", "title": "Day (UTC)"},
                "y": {"field": "count", "type": "quantitative", "stack": "zero", "title": "Visits"},
                "color": {"field": "traffic", "type": "nominal", "title": None,
                          "sort": [MEDIA_LABELS[k] for k in MEDIA_ORDER],
                          "scale": {"range": ["#5b2a86", "#a07cc5", "#2f7ebc", "#c8c8c8"]},
                          "legend": {"orient": "bottom", "columns": 2}},
                "order": {"field": "order", "type": "quantitative"},
            },
        },
    )


def channel_mix(db: str) -> dict:
    return _chart(
        queries.CHANNEL_MIX, db, "Channel mix (visits through each share channel)",
        {
            "mark": {"type": "bar", "tooltip": True},
            "encoding": {
                "y": {"field": "channel", "type": "nominal", "sort": "-x", "title": None},
                "x": {"field": "visits", "type": "quantitative", "title": "Visits"},
                "color": {"field": "medium", "type": "nominal", "title": "Medium",
                          "scale": {"domain": ["dark", "open"], "range": ["#5b2a86", "#2f7ebc"]}},
                "tooltip": [{"field": "channel"}, {"field": "visits", "type": "quantitative"},
                            {"field": "shares", "type": "quantitative"},
                            {"field": "clicks_per_share", "type": "quantitative", "title": "clicks per share"}],
            },
        },
    )


def top_influencers(db: str) -> dict:
    return _chart(
        queries.TOP_INFLUENCERS, db, "Top influencers (people reached through their shares)",
        {
            "transform": [
                {"window": [{"op": "row_number", "as": "rank"}]},
                {"filter": "datum.rank <= 15"},
                {"calculate": "datum.name ? datum.name : datum.person", "as": "who"},
            ],
            "mark": {"type": "bar", "tooltip": True},
            "encoding": {
                "y": {"field": "who", "type": "nominal", "sort": "-x", "title": None},
                "x": {"field": "reach", "type": "quantitative", "title": "People reached"},
                "color": {"field": "tier", "type": "nominal", "title": "Tier",
                          "scale": {"domain": ["nano", "micro", "mid", "macro"],
                                    "range": ["#c8b6e2", "#a07cc5", "#7b4ea8", "#5b2a86"]}},
                "tooltip": [{"field": "who", "title": "person"}, {"field": "tier"},
                            {"field": "shares", "type": "quantitative"},
                            {"field": "clicks", "type": "quantitative"},
                            {"field": "reach", "type": "quantitative"},
                            {"field": "amplified_reach", "type": "quantitative", "title": "amplified reach"}],
            },
        },
    )


def dashboards_config(db: str) -> dict:
    """datasette-dashboards plugin configuration for the darksocial database named ``db``."""
    site_options = "select distinct site from daily where site is not null order by site"
    return {
        DASHBOARD: {
            "title": "darksocial",
            "description": "Who brings people to your site, through which channels, and how much of your 'direct' "
            "traffic is really dark social. Dates are UTC; leave them blank for the last 30 days. "
            "Cascade trees: open a share or a story on /-/darksocial/cascade.",
            "layout": [["dark_social_over_time", "dark_social_over_time"], ["channel_mix", "top_influencers"]],
            "filters": {
                "since": {"name": "Since (YYYY-MM-DD)", "type": "date"},
                "until": {"name": "Until (YYYY-MM-DD)", "type": "date"},
                "site": {"name": "Site", "type": "select", "db": db, "query": site_options},
            },
            "charts": {
                "dark_social_over_time": dark_social_over_time(db),
                "channel_mix": channel_mix(db),
                "top_influencers": top_influencers(db),
            },
        }
    }


def cascade_tree_spec() -> dict:
    """A Vega tree of shares; the page fills data[0].values with the cascade_tree report's rows."""
    return {
        "$schema": "https://vega.github.io/schema/vega/v5.json",
        "description": "Cascade tree: each node is a share, under the share that brought its sharer.",
        "padding": 10,
        "autosize": "pad",
        "signals": [{"name": "width", "value": 900}, {"name": "height", "value": 520}],
        "data": [
            {
                "name": "tree",
                "values": [],
                "transform": [
                    {"type": "stratify", "key": "id", "parentKey": "parent"},
                    {"type": "tree", "method": "tidy", "size": [{"signal": "height"}, {"signal": "width - 220"}],
                     "as": ["y", "x", "level", "leaf"]},
                ],
            },
            {"name": "links", "source": "tree",
             "transform": [{"type": "treelinks"}, {"type": "linkpath", "orient": "horizontal", "shape": "diagonal"}]},
        ],
        "scales": [{"name": "color", "type": "ordinal", "domain": ["dark", "open"], "range": ["#5b2a86", "#2f7ebc"]}],
        "marks": [
            {"type": "path", "from": {"data": "links"},
             "encode": {"update": {"path": {"field": "path"}, "stroke": {"value": "#bbb"}}}},
            {"type": "symbol", "from": {"data": "tree"},
             "encode": {"enter": {"stroke": {"value": "#fff"}},
                        "update": {"x": {"field": "x"}, "y": {"field": "y"},
                                   "size": {"signal": "40 + 12 * sqrt(datum.clicks || 0) * 10"},
                                   "fill": {"signal": "datum.medium ? scale('color', datum.medium) : '#999'"},
                                   "tooltip": {"signal": "{'share': datum.id, 'sharer': datum.label, "
                                                         "'clicks': datum.clicks, 'reach': datum.reach}"}}}},
            {"type": "text", "from": {"data": "tree"},
             "encode": {"enter": {"text": {"field": "label"}, "fontSize": {"value": 10},
                                  "baseline": {"value": "middle"}},
                        "update": {"x": {"field": "x"}, "y": {"field": "y"}, "dx": {"value": 8}}}},
        ],
    }
