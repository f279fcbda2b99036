"""The SQLite event store: schema (sqlite-utils migrations) and the durable, group-committing writer.

Durability: the database runs in WAL mode with ``synchronous=FULL``, so a
``COMMIT`` returns only after the WAL is fsync'ed. An event is acknowledged
only after the commit that holds it has returned, so an acknowledged event
survives a SIGKILL of the server and a power cut alike. (``NORMAL`` would
survive SIGKILL — the WAL is in the OS page cache — but not a power cut.)

Throughput comes from group commit: a single writer thread drains a queue, and
every submission waiting in the queue when a transaction starts joins it. The
fsync is paid once per batch, not once per request, so the more requests
arrive together the cheaper each one gets. Right after a commit, the next batch
waits (at most as long as that commit took) for as many rows as it acknowledged,
beyond those that arrived during it: the clients it answered are about to send
again, and without the wait a fixed set of clients splits into two half-size
groups that each pay a full fsync. A lone client is never kept waiting.

An event loop hands its submissions over once per loop iteration, not once per
request: waking the writer thread costs a GIL hand-off that stalls the loop,
and requests read in the same iteration had better share a transaction anyway.

Checkpoints run beside the writer, not in it: the writer's connection never
checkpoints (``wal_autocheckpoint = 0``), and after every ``CHECKPOINT_EVERY``
commits a checkpointer thread copies the WAL back into the database with a
PASSIVE checkpoint on its own connection. A commit then never waits for a
checkpoint's copying and fsync, which would otherwise land on whichever batch of
requests crossed the 1,000-page mark (the slowest acknowledgements).

Salts live in a file of their own beside the database, ``<database>-salts``
(:class:`SaltStore`): not in any database that Datasette serves, so nobody reads
them through it, analysts included. That file is created readable by its owner
only, keeps no WAL, and deletes with ``secure_delete`` (a purged salt is
overwritten, not left in a free page).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import functools
import hashlib
import itertools
import json
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import sqlite_utils

from . import inbox, privacy, tables
from .transaction import immediate

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 30_000
MAX_BATCH_ROWS = 2_000
MAX_COMMIT_DELAY = 0.005  # seconds a batch may wait for the clients of the last commit (see Writer._run)
INBOX_RETRY_EVERY = 0.05  # seconds between two attempts to move the inbox while no events arrive
CHECKPOINT_EVERY = 32  # commits between two background checkpoints
WRITER_CACHE_KIB = 32 * 1024  # page cache of the writer: the leaf pages random-key index inserts land on

# The columns of `events`, in insert order (`id` is assigned by SQLite, in arrival order).
EVENT_COLUMNS = (
    "ts", "kind", "site", "visitor", "url", "token", "referrer_host", "in_token", "in_channel", "title",
    "parent", "channel", "external_id", "name", "goal", "value", "reloaded", "browser", "device", "in_app",
    "campaign_query",
)
_ADDED_BY_LATER_MIGRATIONS = ("campaign_query", "reloaded")
# Rows per INSERT statement: a batch goes in as few statements as possible (see Writer._transaction).
ROWS_PER_STATEMENT = 500  # x 21 columns, well under SQLite's 32766 bound parameters


@functools.lru_cache(maxsize=4096)
def _insert_events_sql(present: tuple[bool, ...], rows: int) -> str:
    names = [column for column, given in zip(EVENT_COLUMNS, present, strict=True) if given]
    values = "(" + ", ".join("?" * len(names)) + ")"
    return f"INSERT INTO events ({', '.join(names)}) VALUES " + ", ".join([values] * rows)


def insert_statements(rows: Iterable[Sequence]) -> list[tuple[str, list]]:
    """The INSERT statements (SQL, parameters) that store ``rows`` (tuples in :data:`EVENT_COLUMNS` order), in order.

    Multi-row INSERTs rather than executemany, which releases and retakes the GIL for every row, leaving out the
    columns no row fills: half of an event's columns are NULL, and binding None is the dearest parameter (the
    sqlite3 module looks for an adapter for it), all with the GIL held. A view's row binds 9 parameters instead of
    20: the writer's CPU per event in 32-row batches 7.0 → 4.2 µs. One statement for the whole batch, not one per
    shape of row: a batch of one statement is committed by a single call into SQLite (Writer._transaction), where
    several need four or more, each of which releases the GIL and waits to take it back from the event loop. With
    beacons of two shapes (one view in five through a share link, bench collector's load) that took 19.6k beacons/s
    where one statement takes 20.8k (9 interleaved rounds each, /tmp/coord/variant5.py)."""
    rows = rows if isinstance(rows, list) else list(rows)
    present = tuple(any(row[i] is not None for row in rows) for i in range(len(EVENT_COLUMNS)))
    if not any(present):
        present = (True, *present[1:])  # rows of nothing but NULLs still insert their rows
    return [(_insert_events_sql(present, len(chunk)),
             list(itertools.chain.from_iterable(itertools.compress(row, present) for row in chunk)))
            for chunk in (rows[start:start + ROWS_PER_STATEMENT] for start in range(0, len(rows), ROWS_PER_STATEMENT))]


def insert_events(conn: sqlite3.Connection, rows: list[Sequence]) -> None:
    """Insert ``rows`` (tuples in :data:`EVENT_COLUMNS` order) into ``events``, in the caller's transaction."""
    for sql, parameters in insert_statements(rows):
        conn.execute(sql, parameters)


migrations = sqlite_utils.Migrations("darksocial")


@migrations()
def m001_raw_tables(db: sqlite_utils.Database) -> None:
    db["events"].create(
        {"id": int, **{c: (float if c == "value" else str) for c in EVENT_COLUMNS
                       if c not in _ADDED_BY_LATER_MIGRATIONS}}, pk="id"
    )
    db["events"].create_index(["token"])
    db["events"].create_index(["in_token"])
    db["events"].create_index(["parent"])
    db["events"].create_index(["site", "ts"])
    db["sites"].create({"site": str, "origins": str, "name": str, "respect_dnt": int, "created": str}, pk="site")
    db["links"].create(
        {"token": str, "site": str, "name": str, "url": str, "channel": str, "created": str}, pk="token"
    )
    db["pages"].create(
        {"site": str, "url": str, "title": str, "description": str, "date": str, "imported": str},
        pk=("site", "url"),
    )
    db["salts"].create({"day": str, "salt": str}, pk="day")


def _analyst_tables_fingerprint() -> str:
    shape = [(t.name, [(c.name, c.type) for c in t.columns], t.pk, t.indexes) for t in tables.TABLES.values()]
    return hashlib.sha256(repr((shape, tables.RULES)).encode()).hexdigest()[:12]


# The analyst tables are derived from `events` (and `links`): when their definitions in darksocial.tables change, or
# the rules that fill them (tables.RULES), a migration with a new name drops and recreates them, and the next
# attribution run rebuilds them from scratch.
# Not transactional: tables.create_all commits on its own; every step is idempotent, so a crash midway is safe.
@migrations(name=f"m002_analyst_tables_{_analyst_tables_fingerprint()}", transactional=False)
def m002_analyst_tables(db: sqlite_utils.Database) -> None:
    for name in tables.TABLES:
        db.execute(f"DROP TABLE IF EXISTS [{name}]")
    tables.create_all(db)


@migrations()
def m003_canonical_urls(db: sqlite_utils.Database) -> None:
    # The tracking parameters canonical_url removes from an event's URL (attribution classifies `campaign` from
    # them), and each site's own URL rules (see darksocial.urls).
    db["events"].add_column("campaign_query", str)
    db["sites"].add_column("strip_params", str)
    db["sites"].add_column("keep_params", str)


# Salts move to their own file (see SaltStore): the table is emptied with secure_delete, dropped, and the WAL that
# held its pages checkpointed and truncated. Idempotent, so it runs outside a transaction (a checkpoint must).
@migrations(transactional=False)
def m004_salts_out_of_the_database(db: sqlite_utils.Database) -> None:
    if not db["salts"].exists():
        return
    main_file = db.execute("PRAGMA main.database_list").fetchone()[2]
    if main_file:
        rows = db.execute("SELECT day, salt FROM salts").fetchall()
        with SaltStore(salts_path(main_file)) as salts:
            salts.adopt(rows)
    db.execute("PRAGMA secure_delete = ON")
    with db.conn:
        db.execute("DELETE FROM salts")
        db.execute("DROP TABLE salts")
    db.execute("PRAGMA secure_delete = OFF")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


@migrations()
def m005_links_revoked(db: sqlite_utils.Database) -> None:
    # When `darksocial link revoke` retired an ambassador link (see darksocial.links.revoke_link); NULL: active.
    db["links"].add_column("revoked", str)


# Every index on `events` is written on every commit: a random key (a token, a visitor id) lands on its own leaf
# page, so each such index adds about one 4 KB WAL page per event to what a commit must fsync (120 pages for 32
# events with three of them on a 200k-event table, 4 with none). Ingest keeps only the indexes attribution reads
# by (token, in_token, visitor; m010 moved those to attribution's own file); nothing reads events by parent or by
# (site, ts).
@migrations()
def m006_fewer_event_indexes(db: sqlite_utils.Database) -> None:
    db.execute("DROP INDEX IF EXISTS idx_events_parent")
    db.execute("DROP INDEX IF EXISTS idx_events_site_ts")


# Where the writer records how far it moved the inbox (see darksocial.inbox): in the same transaction as the rows.
@migrations()
def m007_inbox_moved(db: sqlite_utils.Database) -> None:
    db.execute(inbox.MOVED_TABLE_SQL)


# A view's in_token that the tracker read from its own address bar on a reload (events.Event.reloaded). The partial
# index holds only those: an incremental run looks up which of its new views marked reloads name.
@migrations()
def m008_events_reloaded(db: sqlite_utils.Database) -> None:
    db["events"].add_column("reloaded", int)
    db.execute("CREATE INDEX IF NOT EXISTS idx_events_reloads ON events (in_token) WHERE reloaded = 1")


# A return whose address bar showed no token (events.Event.reloaded without in_token) repeats the visitor's latest
# earlier view of the same page: an incremental run looks those returns up by visitor and page.
@migrations()
def m009_events_returns(db: sqlite_utils.Database) -> None:
    db.execute("CREATE INDEX IF NOT EXISTS idx_events_returns ON events (visitor, url) "
               "WHERE reloaded = 1 AND in_token IS NULL")


# The last indexes on `events` with a random key (a page-view token, a visitor id), which made every commit of the
# collector write about one more WAL page per event and each: attribution keeps its own lookup tables instead, in
# `<database>-keys` (darksocial.attribution.keys), outside the database's write lock. The partial indexes of
# reloads and returns stay: they hold a few events in a hundred.
@migrations()
def m010_event_lookups_out_of_the_database(db: sqlite_utils.Database) -> None:
    for name in ("idx_events_token", "idx_events_in_token", "idx_events_visitor"):
        db.execute(f"DROP INDEX IF EXISTS {name}")


def database_files(db_path: str | Path) -> list[Path]:
    """The files of the database at ``db_path`` that hold events or what is derived from them: the database, its
    inbox, attribution's lookup tables, and their WAL and shared-memory files (not the salts). Starting over from
    nothing means deleting all of them."""
    path = Path(db_path)
    return [path.with_name(name + suffix) for name in (path.name, inbox.inbox_path(path).name, keys_path(path).name)
            for suffix in ("", "-wal", "-shm")]


def keys_path(db_path: str | Path) -> Path:
    """Where attribution keeps its lookup tables of the database at ``db_path`` (darksocial.attribution.keys):
    ``<database>-keys`` beside it."""
    path = Path(db_path)
    return path.with_name(path.name + "-keys")


def salts_path(db_path: str | Path) -> Path:
    """Where the salts of the database at ``db_path`` are kept: ``<database>-salts`` beside it."""
    path = Path(db_path)
    return path.with_name(path.name + "-salts")


class SaltStore:
    """The daily salts of cookieless pseudonyms, in their own small file (see the module docstring).

    Every process sharing the file agrees on a day's salt: the first to insert it wins.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.exists():  # readable by the owner only, before SQLite writes a byte of it
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        for pragma in (f"busy_timeout = {BUSY_TIMEOUT_MS}", "journal_mode = DELETE", "synchronous = FULL",
                       "secure_delete = ON"):
            self._conn.execute(f"PRAGMA {pragma}")
        self._conn.execute("CREATE TABLE IF NOT EXISTS salts (day TEXT PRIMARY KEY, salt TEXT NOT NULL)")

    def __enter__(self) -> SaltStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._conn.close()

    def salt(self, now: dt.datetime) -> str:
        """The salt of ``now``'s UTC day, created on first use; deletes salts older than 48 hours."""
        day = privacy.salt_day(now)
        with self._lock, immediate(self._conn) as conn:
            conn.execute("INSERT OR IGNORE INTO salts (day, salt) VALUES (?, ?)", (day, privacy.new_salt()))
            self._purge(now)
            salt = conn.execute("SELECT salt FROM salts WHERE day = ?", (day,)).fetchone()[0]
        return salt

    def purge(self, now: dt.datetime) -> int:
        """Delete (overwrite) the salts more than 48 hours old; the number deleted."""
        with self._lock:
            return self._purge(now)

    def days(self) -> list[str]:
        with self._lock:
            return [row[0] for row in self._conn.execute("SELECT day FROM salts ORDER BY day")]

    def adopt(self, rows: Iterable[tuple[str, str]]) -> None:
        """Keep salts made elsewhere (the database's old ``salts`` table) unless this file has that day's."""
        with self._lock:
            self._conn.executemany("INSERT OR IGNORE INTO salts (day, salt) VALUES (?, ?)", list(rows))

    def _purge(self, now: dt.datetime) -> int:
        return self._conn.execute("DELETE FROM salts WHERE day < ?", (privacy.oldest_day_to_keep(now),)).rowcount


class ForeignDatabase(sqlite3.DatabaseError):
    """The file is another application's SQLite database: darksocial writes nothing into it."""


def open_db(path: str | Path) -> sqlite_utils.Database:
    """Open the database at ``path``, creating it and applying pending migrations; WAL mode. A database that holds
    tables but none of darksocial's is another application's: ForeignDatabase, and nothing is written to it."""
    db = sqlite_utils.Database(path)
    names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}
    if names and not names & {"events", "_sqlite_migrations"}:
        db.close()
        raise ForeignDatabase(f"{path} holds another application's tables ({', '.join(sorted(names)[:3])}...)")
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db.enable_wal()
    db.execute("PRAGMA synchronous = FULL")
    migrations.apply(db)
    _move_stranded_inbox(db, path)
    return db


def _move_stranded_inbox(db: sqlite_utils.Database, path: str | Path) -> None:
    """Move the events a writer acknowledged into the inbox and could not move itself (its process ended)."""
    if not path or str(path) == ":memory:":
        return
    stranded = inbox.Inbox(path, EVENT_COLUMNS, insert_events)
    try:
        if stranded.waiting(db.conn):  # False at once when there is no inbox file
            moved = stranded.move_all(db.conn)
            log.info("darksocial: moved %d events from %s into events", moved, stranded.path)
    except sqlite3.DatabaseError:
        # Opening must not fail for it: the events arriving now still have to be stored.
        log.exception("darksocial: cannot move the events waiting in %s; move the file aside if it is damaged",
                      stranded.path)
    finally:
        stranded.close()


def register_site(db: sqlite_utils.Database, site: str, origins: Iterable[str], *, respect_dnt: bool = False,
                  name: str | None = None, strip_params: Iterable[str] | None = None,
                  keep_params: Iterable[str] | None = None) -> dict:
    """Add or update a site; ``origins`` must already be normalised (see ``collector.normalise_origin``).

    ``strip_params`` (tracking parameters beyond :data:`darksocial.urls.DEFAULT_STRIP`) and ``keep_params`` (the
    allowlist of query parameters that select content) are the site's URL rules (see :mod:`darksocial.urls`);
    None keeps what the site had.
    """
    existing = db["sites"].get(site) if db["sites"].count_where("site = ?", [site]) else None

    def rule(value, column):
        if value is None:
            return existing[column] if existing else None
        names = sorted({v.strip().lower() for v in value if v and v.strip()})
        return json.dumps(names) if names else None

    row = {
        "site": site,
        "origins": json.dumps(sorted(set(origins))),
        "name": name or (existing and existing["name"]) or site,
        "respect_dnt": int(respect_dnt),
        "created": (existing and existing["created"]) or utc_timestamp(),
        "strip_params": rule(strip_params, "strip_params"),
        "keep_params": rule(keep_params, "keep_params"),
    }
    db["sites"].upsert(row, pk="site")
    return row


def site_url_rules(db, site: str) -> tuple[frozenset[str], frozenset[str] | None]:
    """``site``'s URL rules as :func:`darksocial.urls.canonical_url` takes them (strip, keep); the defaults for a
    site not registered."""
    from . import urls

    conn = getattr(db, "conn", db)
    row = conn.execute("SELECT strip_params, keep_params FROM sites WHERE site = ?", (site,)).fetchone()
    strip, keep = row if row else (None, None)
    return urls.strip_rules(json.loads(strip or "[]")), frozenset(json.loads(keep)) if keep else None


def utc_timestamp(now: dt.datetime | None = None) -> str:
    """The `events.ts` format: 'YYYY-MM-DDTHH:MM:SS.ffffffZ'."""
    utc = now or dt.datetime.now(dt.timezone.utc)
    if utc.tzinfo is not dt.timezone.utc:
        utc = utc.astimezone(dt.timezone.utc)
    return utc.isoformat(timespec="microseconds")[:-6] + "Z"  # drops "+00:00"; isoformat: C-fast, on every request


def connect(path: str | Path) -> sqlite3.Connection:
    """A raw connection set up for writing: autocommit (we BEGIN ourselves), WAL, fsync on commit."""
    # Room for the INSERT of every shape and size of batch (see insert_statements) among the prepared statements.
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, cached_statements=1024)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    return conn


class WriterClosed(RuntimeError):
    """The writer was closed before this submission could be committed."""


class _Job:
    """One submission: rows to insert or a function to run, and who waits for it.

    ``future`` is a concurrent.futures.Future (``loop`` is None), or an asyncio future of ``loop``, or (``loop``
    set) a function to call on ``loop`` with ``(result, None)`` or ``(None, exception)``
    (:meth:`Writer.write_then`: no future, no task, no wrapper object per request).
    """

    __slots__ = ("rows", "fn", "future", "loop")

    def __init__(self, rows, fn, future, loop=None):
        self.rows, self.fn, self.future, self.loop = rows, fn, future, loop


_STOP = object()


class Writer:
    """One writer thread per database file; many submitters, one transaction per batch.

    ``submit(rows)`` returns a future resolved (with the number of rows) once the
    transaction holding them has committed; ``await writer.write(rows)`` is the
    asyncio form, ``writer.write_sync(rows)`` the blocking one. Rows are tuples in
    :data:`EVENT_COLUMNS` order. ``call(fn)`` runs ``fn(conn)`` inside the next
    transaction (for small writes that must share the writer).
    """

    def __init__(self, path: str | Path, *, max_batch_rows: int = MAX_BATCH_ROWS):
        self.path = Path(path)
        self.max_batch_rows = max_batch_rows
        self._queue: queue.SimpleQueue = queue.SimpleQueue()  # lists of _Job, then _STOP
        self._closed = False
        self._closing = threading.Lock()  # nothing is queued after _STOP
        self._pending: dict[asyncio.AbstractEventLoop, list[_Job]] = {}  # per loop, until its next iteration
        self._conn = connect(self.path)
        self._conn.execute("PRAGMA wal_autocheckpoint = 0")  # see the module docstring: the checkpointer does it
        self._conn.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
        self._conn.execute(f"PRAGMA busy_timeout = {inbox.SPILL_AFTER_MS}")  # then the rows go to the inbox
        self.inbox = inbox.Inbox(self.path, EVENT_COLUMNS, insert_events)
        try:
            self.inbox.open()
            self._inbox_waiting = self.inbox.waiting(self._conn)  # rows in the inbox that events lacks
        except sqlite3.Error:
            log.exception("darksocial writer: cannot read %s; new events are stored without it", self.inbox.path)
            self._inbox_waiting = False
        self.batches = 0  # committed transactions, for tests and benchmarks
        self.spilled = 0  # rows acknowledged from the inbox, for tests and benchmarks
        self._checkpoint_due = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"darksocial-writer:{self.path.name}", daemon=True)
        self._thread.start()
        self._checkpointer = threading.Thread(target=self._checkpoint_loop, daemon=True,
                                              name=f"darksocial-checkpointer:{self.path.name}")
        self._checkpointer.start()

    # -- submitting --------------------------------------------------------------------------------------------
    def submit(self, rows: Iterable[Sequence]) -> concurrent.futures.Future:
        job = _Job(list(rows), None, concurrent.futures.Future())
        self._enqueue([job])
        return job.future

    def call(self, fn: Callable[[sqlite3.Connection], object]) -> concurrent.futures.Future:
        job = _Job(None, fn, concurrent.futures.Future())
        self._enqueue([job])
        return job.future

    async def write(self, rows: Iterable[Sequence]) -> int:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._write_in(loop, rows, future)
        return await future

    def write_then(self, rows: Iterable[Sequence], loop: asyncio.AbstractEventLoop,
                   on_done: Callable[[int | None, BaseException | None], None]) -> None:
        """:meth:`write` without a coroutine or a future: once committed (or failed), ``on_done(count, None)``
        (or ``on_done(None, exc)``) is called on ``loop``, from which this is called."""
        self._write_in(loop, rows, on_done)

    def _write_in(self, loop: asyncio.AbstractEventLoop, rows: Iterable[Sequence], future) -> None:
        if self._closed:
            raise WriterClosed(f"the writer of {self.path} is closed")
        pending = self._pending.get(loop)
        if pending is None:
            pending = self._pending[loop] = []
            loop.call_soon(self._hand_over, loop)
        pending.append(_Job(rows if type(rows) is list else list(rows), None, future, loop))

    def write_sync(self, rows: Iterable[Sequence]) -> int:
        return self.submit(rows).result()

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        jobs = self._pending.pop(loop)
        try:
            self._enqueue(jobs)
        except WriterClosed as exc:
            _settle_in_loop([(job.future, None, exc) for job in jobs])

    def _enqueue(self, jobs: list[_Job]) -> None:
        with self._closing:
            if self._closed:
                raise WriterClosed(f"the writer of {self.path} is closed")
            self._queue.put(jobs)

    def close(self) -> None:
        """Commit everything already submitted, then stop the thread."""
        with self._closing:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join()
        self._checkpoint_due.set()
        self._checkpointer.join()
        self.inbox.close()
        self._conn.close()

    def _checkpoint_loop(self) -> None:
        conn = connect(self.path)
        try:
            while True:
                self._checkpoint_due.wait()
                self._checkpoint_due.clear()
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error:  # busy or failing: the next one catches up; the WAL only grows meanwhile
                    log.warning("darksocial writer: a WAL checkpoint of %s failed", self.path, exc_info=True)
                if self._closed:
                    return
        finally:
            conn.close()

    # -- the writer thread -------------------------------------------------------------------------------------
    def _run(self) -> None:
        carried: list[_Job] = []  # submissions that arrived while the last transaction ran
        stopping = False
        acknowledged, wait_until = 0, 0.0  # rows of the last commit; until when their senders may come back
        retry_in = INBOX_RETRY_EVERY  # while rows wait in the inbox: seconds until the next try to move them
        while True:
            batch, carried = carried, []
            rows = _row_count(batch)
            # Keep the group together: the clients the last commit answered send their next events about now. Left
            # to themselves they would miss the commit about to start (it holds what arrived during the last one)
            # and wait for the one after, and a fixed set of clients would settle into two alternating half-size
            # groups, each paying a full fsync. So wait for as many more rows as the last commit acknowledged, for
            # no longer than a commit takes. A lone client's next request is the one row awaited: it never waits.
            wanted = min(rows + acknowledged, self.max_batch_rows)
            if not batch:
                if stopping:
                    return
                try:
                    # Rows waiting in the inbox move as soon as the lock is free, new events or not.
                    jobs = self._queue.get(timeout=retry_in if self._inbox_waiting else None)
                except queue.Empty:
                    retry_in = 0 if self._move_inbox() else INBOX_RETRY_EVERY
                    continue
                if jobs is _STOP:
                    while self._inbox_waiting and self._move_inbox():
                        pass
                    return
                batch = list(jobs)
                rows = _row_count(batch)
            while not stopping and rows < self.max_batch_rows and not self._queue.empty():
                jobs = self._queue.get()
                if jobs is _STOP:
                    stopping = True
                    break
                batch += jobs
                rows += _row_count(jobs)
            while not stopping and rows < wanted and (remaining := wait_until - time.monotonic()) > 0:
                try:
                    jobs = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
                if jobs is _STOP:
                    stopping = True
                    break
                batch += jobs
                rows += _row_count(jobs)
            started = time.monotonic()
            # Mark the thread-side futures running: from now on nobody can cancel them. A submitter that already
            # gave up (its request was cancelled) still has its events written; only its answer is dropped.
            for job in batch:
                if job.loop is None:
                    job.future.set_running_or_notify_cancel()
            try:
                _settle(self._execute(batch))
            except Exception:  # a bug: log it, but never leave the thread dead and submitters waiting forever
                log.exception("darksocial writer: unexpected error settling a batch")
            finished = time.monotonic()
            acknowledged, wait_until = rows, finished + min(finished - started, MAX_COMMIT_DELAY)
            carried_rows = 0
            while not stopping and carried_rows < self.max_batch_rows and not self._queue.empty():
                jobs = self._queue.get()
                if jobs is _STOP:
                    stopping = True  # commit what was carried, then stop
                    break
                carried += jobs
                carried_rows += _row_count(jobs)

    def _execute(self, batch: list[_Job]) -> list[tuple[_Job, object, BaseException | None]]:
        try:
            results = self._transaction(batch)
        except Exception as exc:
            if len(batch) == 1:
                return [(batch[0], None, exc)]
            # One bad submission must not sink the others: retry each in its own transaction.
            return [outcome for job in batch for outcome in self._execute([job])]
        return [(job, result, None) for job, result in zip(batch, results, strict=True)]

    def _transaction(self, batch: list[_Job]) -> list:
        conn = self._conn
        rows = [row for job in batch if job.fn is None for row in job.rows]
        if any(job.fn is not None for job in batch):
            # A function must run in the database itself: wait for the lock as long as any other connection would.
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            try:
                results = self._in_transaction(rows, lambda: [job.fn(conn) if job.fn is not None else len(job.rows)
                                                              for job in batch])
            finally:
                conn.execute(f"PRAGMA busy_timeout = {inbox.SPILL_AFTER_MS}")
            return self._committed(results)
        try:
            if self._inbox_waiting:
                self._in_transaction(rows, move_inbox=True)
            elif rows:
                statements = insert_statements(rows)
                if len(statements) == 1:
                    # The usual batch: one INSERT statement in autocommit mode is its own transaction, committed
                    # (fsync'ed) before execute() returns. One call into SQLite instead of three (BEGIN, INSERT,
                    # COMMIT): each one releases the GIL, and under load each retake waits for the event loop.
                    conn.execute(*statements[0])
                else:
                    self._in_transaction(rows)
        except sqlite3.OperationalError as exc:
            if not inbox.is_busy(exc):
                raise
            if rows:  # somebody (an attribution run applying its result) holds the write lock: use the inbox
                self.inbox.append(rows)
                self._inbox_waiting = True
                self.spilled += len(rows)
        return self._committed([len(job.rows) for job in batch])

    def _in_transaction(self, rows: list, work: Callable[[], object] = lambda: None,
                        move_inbox: bool = False) -> object:
        """In one write transaction: up to a batch of the inbox's waiting rows (``move_inbox``), ``work()``, and
        ``rows``; returns what ``work`` returned."""
        with immediate(self._conn) as conn:
            # At most a batch's worth of the inbox: a backlog must not keep this batch's requests waiting long.
            moved = self._move_some_of_the_inbox() if move_inbox else 0
            result = work()
            insert_events(conn, rows)
        if move_inbox:  # only now: a transaction rolled back has moved nothing
            self._inbox_waiting = moved == self.max_batch_rows
            if moved:
                try:
                    self.inbox.forget(conn)
                except sqlite3.Error:  # the rows are marked as moved: the next forget deletes them
                    log.warning("darksocial writer: cannot delete moved events from %s", self.inbox.path,
                                exc_info=True)
        return result

    def _move_some_of_the_inbox(self) -> int:
        conn = self._conn
        conn.execute("SAVEPOINT inbox")
        try:
            moved = self.inbox.move(conn, self.max_batch_rows)
        except sqlite3.Error:
            # An unreadable inbox must not stop the events still arriving from being stored: they go in without it
            # and the inbox waits for somebody to look (open_db tries again).
            conn.execute("ROLLBACK TO inbox")
            log.exception("darksocial writer: cannot move events from %s", self.inbox.path)
            moved = 0
        conn.execute("RELEASE inbox")
        return moved

    def _move_inbox(self) -> bool:
        """Move a batch of what waits in the inbox now, if the lock is free (else the next batch or retry does).
        Returns whether it could."""
        try:
            self._in_transaction([], move_inbox=True)
        except sqlite3.OperationalError as exc:
            if not inbox.is_busy(exc):
                log.warning("darksocial writer: cannot move events from %s", self.inbox.path, exc_info=True)
            return False
        return True

    def _committed(self, results: list) -> list:
        self.batches += 1
        if self.batches % CHECKPOINT_EVERY == 0:
            self._checkpoint_due.set()
        return results


def _row_count(jobs: list[_Job]) -> int:
    return sum(len(job.rows or ()) for job in jobs)


def _settle(outcomes: list[tuple[_Job, object, BaseException | None]]) -> None:
    """Resolve the futures of committed (or failed) jobs: one wake-up per event loop, not one per request."""
    by_loop: dict = {}
    for job, result, exc in outcomes:
        if job.loop is None:
            if not job.future.cancelled():
                job.future.set_exception(exc) if exc is not None else job.future.set_result(result)
        else:
            by_loop.setdefault(job.loop, []).append((job.future, result, exc))
    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle_in_loop, items)
        except RuntimeError:
            pass  # that event loop is closed: nobody is waiting any more


def _settle_in_loop(items) -> None:
    for future, result, exc in items:
        if not isinstance(future, asyncio.Future):  # write_then's function
            try:
                future(result, exc)
            except Exception:  # the other jobs settled with this one must still be answered
                log.exception("darksocial writer: a submitter's callback failed")
        elif not future.done():  # done = cancelled: the request went away, its events are stored all the same
            future.set_exception(exc) if exc is not None else future.set_result(result)
