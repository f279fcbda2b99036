"""The inbox: where acknowledged events wait while somebody else holds the database's write lock.

An attribution run holds the write lock while it applies its result (a few hundred milliseconds; seconds for a
full rebuild on a large database). A collector that waited for it would keep every request waiting as long. So
when the writer cannot take the lock within :data:`SPILL_AFTER_MS`, it appends the batch to the inbox instead: a
file of its own beside the database, ``<database>-inbox``, with its own lock, no index, and the same fsync before
the acknowledgement. The rows move into ``events`` as soon as the lock is free again.

Moving is idempotent, whoever does it (any process's writer, or :func:`darksocial.store.open_db` for rows a dead
process left behind): the highest inbox id moved is written into the main database in the same transaction as the
rows themselves (``_ds_inbox_moved``), and inbox rows are deleted only after that transaction committed. A crash
between the two leaves rows that the next mover skips. Inbox ids are never reused (AUTOINCREMENT), and the mark
is kept per inbox file (its random ``generation``), so a deleted and recreated inbox starts from zero again.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from .transaction import immediate

SPILL_AFTER_MS = 10  # how long the writer waits for the write lock before it writes to the inbox instead
MOVED_TABLE = "_ds_inbox_moved"
MOVED_TABLE_SQL = f"CREATE TABLE IF NOT EXISTS {MOVED_TABLE} (generation TEXT PRIMARY KEY, moved_up_to INTEGER " \
                  "NOT NULL)"


def inbox_path(db_path: str | Path) -> Path:
    """Where the inbox of the database at ``db_path`` is kept: ``<database>-inbox`` beside it."""
    path = Path(db_path)
    return path.with_name(path.name + "-inbox")


def is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` says another connection holds the lock (as opposed to a real failure)."""
    return isinstance(exc, sqlite3.OperationalError) and getattr(exc, "sqlite_errorcode", None) in (
        sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class Inbox:
    """The inbox of one database file. ``columns``: the event columns, in order; ``insert(conn, rows)`` writes
    rows (tuples in that order) into the main database's ``events``. Thread-safe."""

    def __init__(self, db_path: str | Path, columns: Sequence[str],
                 insert: Callable[[sqlite3.Connection, list[tuple]], None]):
        self.path = inbox_path(db_path)
        self.columns = tuple(columns)
        self._insert = insert
        self._conn: sqlite3.Connection | None = None
        self._generation: str | None = None
        self._lock = threading.Lock()

    def open(self) -> None:
        """Create the inbox file now (a few fsyncs), not when the first batch has to wait there."""
        with self._lock:
            self._open(create=True)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def append(self, rows: list[tuple]) -> None:
        """Store ``rows`` durably (fsync'ed before this returns)."""
        placeholders = "(" + ", ".join("?" * len(self.columns)) + ")"
        sql = f"INSERT INTO inbox ({', '.join(self.columns)}) VALUES {placeholders}"
        with self._lock, immediate(self._open(create=True)) as conn:
            conn.executemany(sql, rows)

    def waiting(self, main: sqlite3.Connection) -> bool:
        """Whether rows are in the inbox that are not yet in ``events``."""
        with self._lock:
            conn = self._open(create=False)
            if conn is None:
                return False
            last = conn.execute("SELECT max(id) FROM inbox").fetchone()[0]
            return last is not None and last > self._moved_up_to(main)

    def move(self, main: sqlite3.Connection, limit: int) -> int:
        """Insert up to ``limit`` waiting rows into ``events``, oldest first, inside the write transaction that
        ``main`` holds, with the new mark. Returns how many rows it moved. Call :meth:`forget` after the commit."""
        with self._lock:
            conn = self._open(create=False)
            if conn is None:
                return 0
            moved_up_to = self._moved_up_to(main)
            rows = conn.execute(f"SELECT id, {', '.join(self.columns)} FROM inbox WHERE id > ? ORDER BY id LIMIT ?",
                                (moved_up_to, limit)).fetchall()
            if not rows:
                return 0
            self._insert(main, [row[1:] for row in rows])
            main.execute(f"INSERT INTO {MOVED_TABLE} (generation, moved_up_to) VALUES (?, ?) ON CONFLICT (generation) "
                         "DO UPDATE SET moved_up_to = excluded.moved_up_to", (self._generation, rows[-1][0]))
            return len(rows)

    def forget(self, main: sqlite3.Connection) -> None:
        """Delete the rows that ``events`` already holds (as its committed mark says)."""
        with self._lock:
            conn = self._open(create=False)
            if conn is not None:
                conn.execute("DELETE FROM inbox WHERE id <= ?", (self._moved_up_to(main),))

    def move_all(self, main: sqlite3.Connection, chunk: int = 2_000) -> int:
        """Move every waiting row, ``chunk`` rows per write transaction on ``main`` (an autocommit connection
        that waits for the write lock as long as its busy timeout says)."""
        total = 0
        while True:
            with immediate(main):
                moved = self.move(main, chunk)
            self.forget(main)
            total += moved
            if moved < chunk:
                return total

    def _moved_up_to(self, main: sqlite3.Connection) -> int:
        row = main.execute(f"SELECT moved_up_to FROM {MOVED_TABLE} WHERE generation = ?",
                           (self._generation,)).fetchone()
        return row[0] if row else 0

    def _open(self, create: bool) -> sqlite3.Connection | None:
        if self._conn is None:
            if not create and not self.path.exists():
                return None
            conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            try:
                self._generation = self._set_up(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _set_up(self, conn: sqlite3.Connection) -> str:
        """Prepare a new or existing inbox file; returns its generation."""
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        with immediate(conn):
            conn.execute("CREATE TABLE IF NOT EXISTS identity (generation TEXT NOT NULL)")
            if conn.execute("SELECT count(*) FROM identity").fetchone()[0] == 0:
                conn.execute("INSERT INTO identity VALUES (?)", (secrets.token_hex(16),))
            conn.execute(f"CREATE TABLE IF NOT EXISTS inbox (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                         f"{', '.join(self.columns)})")
            # An inbox a previous version left (with rows in it) lacks the columns added to `events` since.
            present = {row[1] for row in conn.execute("PRAGMA table_info(inbox)")}
            for column in self.columns:
                if column not in present:
                    conn.execute(f"ALTER TABLE inbox ADD COLUMN {column}")
        return conn.execute("SELECT generation FROM identity").fetchone()[0]
