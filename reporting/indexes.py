"""Indexes the canned reports need to answer within budget on a million visits.

The reporting server creates them at startup (``CREATE INDEX IF NOT EXISTS``; idempotent, and cheap once they
exist). They cover the columns a report reads, so a windowed report reads the index alone, in the order it groups by.
"""

from __future__ import annotations

INDEXES: dict[str, tuple[str, tuple[str, ...]] | tuple[str, tuple[str, ...], str]] = {
    # top_stories: the story_daily rollup in the window, read from the index alone.
    "rpt_story_daily_window": ("story_daily", ("date", "site", "url", "visits", "visits_dark_tracked",
                                               "visits_dark_estimated", "visits_open", "visits_other", "shares",
                                               "clicks")),
    # headline: shares minted in the window, index only (its other columns served earlier versions of
    # top_influencers; kept, as renaming it would rebuild it on every deployed database).
    "rpt_shares_by_date": ("shares", ("date", "site", "sharer", "clicks", "reach", "reshares", "amplified_reach",
                                      "conversions", "ts", "sharer_name", "url", "token")),
    # top_influencers (+date), conversions_by_sharer: a person's shares in the window, in sharer order, index only.
    "rpt_shares_by_sharer": ("shares", ("sharer", "date", "site", "reach", "clicks", "reshares", "ts",
                                        "sharer_name")),
    # top_influencers, conversions_by_sharer: the conversions, from the few (person, member) rows that have some.
    "rpt_influence_conversions": ("_ds_influence", ("person", "member", "date", "site", "conversions"),
                                  "conversions > 0"),
    # cascade_tree: each share's children, level by level.
    "rpt_shares_parent": ("shares", ("parent",)),
    # headline: conversions of the cascades started in the window.
    "rpt_cascades_started": ("cascades", ("started", "site", "conversions")),
    # largest_cascades: read backwards, largest first, with the columns that decide whether one is in the window.
    "rpt_cascades_by_size": ("cascades", ("size", "depth", "root", "started", "site")),
}
# The click indexes on `visits` the headline (people who clicked, in person order) and top_influencers (the people
# who clicked each person's shares, in (sharer, person) order) read are the table's own (darksocial.tables.VISITS):
# attribution reads them too.
# Indexes earlier versions created, replaced by the ones above or by the tables' own.
RETIRED = ("rpt_shares_window", "rpt_visits_clicks", "rpt_visits_share_clicks", "rpt_visits_click_people",
           "rpt_visits_sharer_people")


async def ensure(datasette, database: str | None) -> None:
    """Create the indexes in the darksocial database through Datasette's write connection."""
    if database is None or not datasette.databases[database].is_mutable:
        return
    await datasette.databases[database].execute_write_fn(create, block=True)


def create(conn) -> None:
    tables = {row[0] for row in conn.execute("select name from sqlite_master where type = 'table'")}
    existing = {row[0] for row in conn.execute("select name from sqlite_master where type = 'index'")}
    analyse = set()
    for name in RETIRED:
        if name in existing:
            conn.execute(f"drop index [{name}]")
    for name, (table, columns, *where) in INDEXES.items():
        if table in tables and name not in existing:
            partial = f" where {where[0]}" if where else ""
            conn.execute(f"create index if not exists [{name}] on [{table}] ({', '.join(columns)}){partial}")
            analyse.add(table)
    if analyse:
        conn.execute("pragma analysis_limit = 1000")  # approximate statistics, in milliseconds
        for table in sorted(analyse):
            conn.execute(f"analyze [{table}]")
    conn.commit()
