"""Where attribution finds events by token, incoming token or visitor: lookup tables of its own, not indexes on
`events`.

Every index on `events` is written by the collector on every commit, and a random key (a page-view token, a
visitor id) lands on a leaf page of its own: on a database of a million events the three such indexes made each
commit write and fsync about three more 4 KB pages per event, and the collector took about half the events per
second it takes without them (``bench/bench_collector.py``). Only attribution reads events by those keys, and only
events up to its snapshot. So it keeps ``(key, event id)`` tables in a file of its own beside the database,
``<database>-keys``, topped up by every run to the events of its snapshot, in a transaction of their own on that
file: the database's write lock is never taken for them, and the collector never waits. A full rebuild fills them
in a thread while it reads and resolves events (:func:`top_up_soon`); an incremental run reads the few events the
file may not hold yet from per-run temp tables while a thread tops the file up (:func:`catch_up`).

The file is derived from `events` alone. It records the id and a fingerprint of the last event it holds; a file
that does not match the database (deleted, restored from another backup, a database started over) is refilled
from the start, which costs about 3 s per million events, never a wrong answer.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from ..store import keys_path
from .sqlrows import chunks, main_path

SCHEMA = "ds_keys"
log = logging.getLogger(__name__)
KEYED = ("token", "in_token", "visitor")  # the `events` columns looked up by value
# A key table, in the file or a run's recent one. Without rowid: the key and the id are the whole row, one B-tree,
# one search per lookup.
_KEY_TABLE = "(k TEXT NOT NULL, event INTEGER NOT NULL, PRIMARY KEY (k, event)) WITHOUT ROWID"


def table(column: str) -> str:
    return f"{SCHEMA}.[events_by_{column}]"


def recent_table(column: str) -> str:
    """The keys of the events an incremental run reads that the file may not hold yet (see :func:`catch_up`)."""
    return f"temp.[ds_recent_events_by_{column}]"


def ids_where(column: str, values_sql: str) -> str:
    """SQL for the ids of the events whose ``column`` is in ``values_sql`` (a subquery, or marks given twice)."""
    return (f"SELECT event FROM {table(column)} WHERE k IN ({values_sql}) "
            f"UNION ALL SELECT event FROM {recent_table(column)} WHERE k IN ({values_sql})")


def events_where_in(conn, sql: str, column: str, values, alias: str = "") -> list[tuple]:
    """The rows of ``sql`` (a SELECT from `events`, ``alias`` its name there if it has one) whose ``column`` is
    one of ``values``, found through the lookup tables; in chunks, as sqlrows.where_in."""
    if column not in KEYED:
        raise ValueError(f"events are not looked up by {column!r}")
    key = f"{alias}.id" if alias else "id"
    joiner = " AND " if " WHERE " in sql else " WHERE "
    out: list[tuple] = []
    for chunk in chunks(values):
        marks = ",".join("?" * len(chunk))
        out.extend(conn.execute(f"{sql}{joiner}{key} IN ({ids_where(column, marks)})", (*chunk, *chunk)).fetchall())
    return out


def key_ids(conn, column: str, values, upto: int) -> list[tuple[str, int]]:
    """(key, event id) of the events up to ``upto`` whose ``column`` is one of ``values``, each once: from the
    lookup tables alone, without reading an event."""
    out: list[tuple[str, int]] = []
    for chunk in chunks(values):
        marks = ",".join("?" * len(chunk))
        out.extend(conn.execute(
            f"SELECT k, event FROM {table(column)} WHERE k IN ({marks}) AND event <= ? "
            f"UNION SELECT k, event FROM {recent_table(column)} WHERE k IN ({marks}) AND event <= ?",
            (*chunk, upto, *chunk, upto)).fetchall())
    return out


@contextlib.contextmanager
def attached(conn):
    """The lookup tables attached to ``conn`` as ``ds_keys`` while the block runs (outside any transaction: SQLite
    attaches and detaches only there). An in-memory database gets a private temporary file, filled on every run."""
    path = main_path(conn)
    file = keys_path(path) if path else None
    if file and not _attach_file(conn, file):  # not a database (a stray or damaged file): made again
        for suffix in ("", "-wal", "-shm"):
            file.with_name(file.name + suffix).unlink(missing_ok=True)
        _attach_file(conn, file)
    elif not path:
        conn.execute(f"ATTACH DATABASE '' AS {SCHEMA}")
    try:
        if path:  # lookups are random pages: as for the database (attribution._tune)
            conn.execute(f"PRAGMA {SCHEMA}.cache_size = -65536")
            conn.execute(f"PRAGMA {SCHEMA}.mmap_size = {2**30}")
        else:
            _create(conn)
        for column in KEYED:
            conn.execute(f"DROP TABLE IF EXISTS {recent_table(column)}")
            conn.execute(f"CREATE TABLE {recent_table(column)} {_KEY_TABLE}")
        yield
    finally:
        if conn.in_transaction:
            conn.rollback()
        for column in KEYED:
            conn.execute(f"DROP TABLE IF EXISTS {recent_table(column)}")
        conn.execute(f"DETACH DATABASE {SCHEMA}")


def _attach_file(conn, path: Path) -> bool:
    """Attach ``path`` as ds_keys; False (and nothing attached) when it is not a database."""
    try:
        conn.execute(f"ATTACH DATABASE ? AS {SCHEMA}", (str(path),))
    except sqlite3.DatabaseError:
        return False
    try:
        conn.execute(f"SELECT count(*) FROM {SCHEMA}.sqlite_master").fetchone()
    except sqlite3.DatabaseError:
        conn.execute(f"DETACH DATABASE {SCHEMA}")
        return False
    return True


def covered_up_to(conn) -> int:
    """How far the lookup tables attached to ``conn`` hold this database's events (0: not at all, or another's)."""
    try:
        row = conn.execute(f"SELECT events_id, fingerprint FROM {SCHEMA}.meta").fetchone()
    except sqlite3.OperationalError:  # no tables yet
        return 0
    return row[0] if row is not None and row[0] and _fingerprint(conn, row[0]) == row[1] else 0


def catch_up(conn, covered: int, done: int, high: int) -> Callable[[], None]:
    """Make the lookups of an incremental run that already handled events up to ``done`` answer for every event up
    to ``high`` (its snapshot, which ``conn`` holds), where the file held them up to ``covered`` before the snapshot
    (:func:`covered_up_to`). The usual case, a file up to the last run at least: the few events since are put in
    the connection's recent tables, and the file is topped up in a thread of its own while the run computes (on
    the other core); else the file is topped up first. Returns the function to call once the run is over."""
    if covered and covered >= done:
        _copy_keys(conn, recent_table, covered, high)
        filled = top_up_soon(conn, high)

        def finish() -> None:
            try:
                filled()
            except Exception:  # this run had what it needed; the next one finds the file behind, and tops it up
                log.warning("darksocial attribution: could not top up %s", SCHEMA, exc_info=True)

        return finish
    top_up(conn, high)
    return lambda: None


def top_up(conn, high: int) -> None:
    """Bring the lookup tables up to event ``high`` (at least), for ``conn`` (with them attached, see
    :func:`attached`) to read in the snapshot it holds, which must contain event ``high``."""
    top_up_soon(conn, high)()


def top_up_soon(conn, high: int, refill: bool = False) -> Callable[[], None]:
    """:func:`top_up` in a thread of its own, for a database file: SQLite works without the GIL, so the tables
    fill on the other core while the caller reads and resolves events. Returns the function to call before the
    first lookup: it waits for the thread, and raises what the thread raised. (In memory: done before returning.)
    ``refill``: from the start, whatever the file holds (a full rebuild: events deleted by hand leave no key)."""
    path = main_path(conn)
    if not path:  # the private file attached to conn: nobody else writes it
        _top_up(conn, high, refill)
        return lambda: None
    busy_timeout = int(conn.execute("PRAGMA busy_timeout").fetchone()[0]) or 5000
    failed: list[BaseException] = []

    def fill() -> None:
        try:
            _top_up_file(path, busy_timeout, high, refill)
        except BaseException as exc:  # handed to the caller's thread by wait()
            failed.append(exc)

    thread = threading.Thread(target=fill, name="darksocial-keys", daemon=True)
    thread.start()

    def wait() -> None:
        thread.join()
        if failed:
            raise failed[0]

    return wait


def _top_up_file(path: str, busy_timeout: int, high: int, refill: bool) -> None:
    # A connection of its own, so that this commits now, whatever transaction the run is in; it reads events in a
    # snapshot of its own, which holds every event up to high (events are only ever appended).
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        writer.execute(f"PRAGMA busy_timeout = {busy_timeout}")
        writer.execute(f"ATTACH DATABASE ? AS {SCHEMA}", (str(keys_path(path)),))
        writer.execute(f"PRAGMA {SCHEMA}.journal_mode = WAL")  # the runs' lookups never wait for a top-up
        writer.execute(f"PRAGMA {SCHEMA}.synchronous = NORMAL")  # derived data: a power cut costs a refill at most
        # As attribution._tune: events read through the OS page cache; the tables' pages and the sorts in memory.
        writer.execute(f"PRAGMA mmap_size = {2**30}")
        writer.execute(f"PRAGMA {SCHEMA}.cache_size = -262144")
        writer.execute("PRAGMA temp_store = MEMORY")
        _create(writer)
        writer.execute("BEGIN")
        # A write first: the file's write lock is taken (or waited for) before its state is read, so two runs
        # topping up at once take turns instead of one failing on a snapshot the other made stale.
        writer.execute(f"UPDATE {SCHEMA}.meta SET events_id = events_id")
        _top_up(writer, high, refill)
        writer.execute("COMMIT")
    finally:
        if writer.in_transaction:
            writer.rollback()
        writer.close()


def _create(conn) -> None:
    conn.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA}.meta (events_id INTEGER NOT NULL, fingerprint TEXT)")
    for column in KEYED:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table(column)} {_KEY_TABLE}")


def _copy_keys(conn, target: Callable[[str], str], after: int, upto: int) -> None:
    """Copy the keys of the events after ``after`` up to ``upto`` into the key tables ``target`` names."""
    for column in KEYED:
        # In key order: each B-tree is written page by page, not at random.
        conn.execute(f"INSERT OR IGNORE INTO {target(column)} SELECT [{column}], id FROM main.events "
                     f"WHERE id > ? AND id <= ? AND [{column}] IS NOT NULL ORDER BY 1, 2", (after, upto))


def _fingerprint(conn, event_id: int) -> str | None:
    row = conn.execute("SELECT ts, kind, token, visitor FROM main.events WHERE id = ?", (event_id,)).fetchone()
    return None if row is None else "\x1f".join(str(value) for value in row)


def _top_up(conn, high: int, refill: bool = False) -> None:
    row = None if refill else conn.execute(f"SELECT events_id, fingerprint FROM {SCHEMA}.meta").fetchone()
    done = 0
    if row is not None:
        done, fingerprint = row
        # The event it ends with is still there, the same: the file holds this database's events up to it.
        if done and _fingerprint(conn, done) != fingerprint:
            done = 0
    if done >= high and row is not None:
        return
    if done == 0:
        conn.execute(f"DELETE FROM {SCHEMA}.meta")
        for column in KEYED:
            conn.execute(f"DELETE FROM {table(column)}")
    _copy_keys(conn, table, done, high)
    conn.execute(f"DELETE FROM {SCHEMA}.meta")
    conn.execute(f"INSERT INTO {SCHEMA}.meta VALUES (?, ?)", (high, _fingerprint(conn, high)))
