"""Attribution: raw ``events`` (and ambassador ``links``) → the analyst tables of ``darksocial.tables``.

The result is a function of the *set* of events, never of their arrival order: every
choice between rows uses their content (time, then token), never ``events.id``.

Incremental runs (the default) read only the events past the high-water mark, work out
which cascades, views and people they can change, rebuild exactly those rows with the
same code a full rebuild uses, and move the rollups by what changed.
``attribute(db, full=True)`` rebuilds everything.

Division of labour: the cascade trees (shares, parents, the people tree, depths, virality,
credit) are built in Python from the share events and the views that carry a token; the
per-view `visits` rows and a full rebuild's per-visit sums are computed by SQLite (a million
rows never cross into Python). Both kinds of run compute in a read snapshot (the collector
keeps writing) and hold the write lock only to apply their result: a full rebuild copies its
temp shadow tables in, an incremental run applies its overlay (see ``sqlrows``).

How a token is resolved (DESIGN.md, Attribution):

* A *share* is a token somebody other than its owner arrived with, or minted by a share
  event, or an ambassador link. Its origin is ``share`` (share event), ``link``,
  ``address_bar`` (a page-view token: somebody copied the address bar) or ``unknown`` (its
  share event has not arrived yet; it resolves on the run after it arrives).
* A view carrying a page-view token of its own person is a reload (back/forward, restored
  tab): no share, no click, credited as the first view of the chain was.
* The parent of a share is the token the sharer arrived with on the page view the share
  was made from (through reloads to the first view). Depth counts people hops in the
  cascade's people tree: the root sharer's shares have depth 1.
* A click's channel: the share event's channel, else the link's, else the code carried
  in the URL, else the referrer's channel or host, else ``ab`` (address bar).

The parts: ``cascades`` (the share and cascade model, pure Python), ``loading`` (events → ``World``),
``visits`` (the per-view rows, in SQL), ``rollups`` (influencers, stories, daily, channels), ``deltas`` (an
incremental run's rollups, moved by what changed), ``rebuild`` (the full and the incremental run), ``sqlrows``
(shared SQLite helpers and the overlay), ``referrers`` and ``virality``; ``child`` runs an attribution in a child
process (``python -m darksocial.attribution``). This module is the entry point.
"""

from __future__ import annotations

import contextlib
import gc
import sqlite3
import time

from .. import tables
from . import keys
from .cascades import (
    MAX_CREDIT_HOPS,
    Link,
    Share,
    ShareEvent,
    View,
    World,
    attach_clicks,
    cascade_rows,
    channel_medium,
    click_channel,
    is_self_click,
    people_tree,
    person_of,
    resolve_reloads,
    resolve_shares,
)
from .rebuild import Progress, drop_shadows, full_rebuild, incremental_run
from .rollups import DEFAULT_TIERS, daily_rows, influencer_rows, retitle_stories, story_rows
from .sqlrows import high_water, main_path, read_state
from .visits import write_visits

__all__ = [
    "DEFAULT_TIERS", "MAX_CREDIT_HOPS", "Link", "Progress", "Share", "ShareEvent", "View", "World", "attach_clicks",
    "attribute", "cascade_rows", "channel_medium", "click_channel", "daily_rows", "influencer_rows",
    "is_self_click", "people_tree", "person_of", "resolve_reloads", "resolve_shares", "story_rows", "write_visits",
]


def attribute(db, full: bool = False, progress: Progress | None = None, tiers=DEFAULT_TIERS) -> dict:
    """Bring the analyst tables up to date with the events; returns counts of what was processed.

    A full rebuild computes in a read snapshot of the database (WAL readers never block the collector) into
    shadow tables in the connection's temp schema, then swaps them in with one short write transaction. An
    incremental run holds the write lock for its (short) duration. Either way the high-water mark is read in the
    same snapshot as the events processed, so no event is skipped or counted twice.
    """
    conn = getattr(db, "conn", db)
    say = progress or (lambda message: None)
    tables.create_all(conn)
    _tune(conn)
    started = time.perf_counter()
    done, links_done = read_state(conn, "events_id"), read_state(conn, "links_rowid")
    if not full and (done or links_done) and high_water(conn) == (done, links_done):
        return {"events": 0, "seconds": 0.0, "mode": "up to date", "stories_retitled": retitle_stories(conn)}
    # Millions of small tuples and no reference cycles: the cyclic GC would rescan them again and again.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        if full or (done == 0 and links_done == 0):
            with _rebuild_connection(conn) as work, keys.attached(work):
                stats = full_rebuild(work, say, tiers)
        else:
            with keys.attached(conn):
                stats = incremental_run(conn, done, links_done, say, tiers)
    finally:
        drop_shadows(conn)
        if gc_was_enabled:
            gc.enable()
    stats["stories_retitled"] = retitle_stories(conn)  # a manifest imported while the run computed
    stats["seconds"] = round(time.perf_counter() - started, 3)
    return stats


MMAP_BYTES = 2**30


def _tune(conn) -> None:
    conn.execute("PRAGMA cache_size = -262144")  # 256 MiB: the index-heavy writes thrash the 2 MiB default
    # Derived tables only: a power cut may lose the last run (its rows and its high-water mark commit together,
    # so the next run redoes it), never corrupt anything; no fsync while the write lock is held.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")  # checkpointed after the write lock is released (rebuild)
    conn.execute("PRAGMA temp.cache_size = -1048576")  # the full rebuild's shadow tables: no spill to temp files
    # Reads straight from the OS page cache, without a copy per page: the page cache above is emptied whenever the
    # collector commits, and an incremental run's lookups are random pages all over the events and their indexes.
    # SQLite falls back to plain reads if the mapping fails (e.g. under the child's address-space cap).
    conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")


@contextlib.contextmanager
def _rebuild_connection(conn):
    """A connection of its own for a full rebuild of a database file: closing it frees the temp shadow tables at
    once, where dropping them walks every page they hold (a second per million visits). An in-memory database has
    only the caller's connection."""
    path = main_path(conn)
    if not path:
        yield conn
        return
    work = sqlite3.connect(path, isolation_level=conn.isolation_level, check_same_thread=False)
    try:
        work.execute(f"PRAGMA busy_timeout = {int(conn.execute('PRAGMA busy_timeout').fetchone()[0])}")
        _tune(work)
        yield work
    finally:
        if work.in_transaction:
            work.rollback()
        work.close()
