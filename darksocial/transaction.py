"""One write transaction on an autocommit connection (``isolation_level=None``): the store's and the inbox's."""

from __future__ import annotations

import contextlib
import sqlite3


@contextlib.contextmanager
def immediate(conn: sqlite3.Connection):
    """``BEGIN IMMEDIATE`` (the write lock now, waiting as long as the connection's busy timeout), ``COMMIT`` when
    the block ends, ``ROLLBACK`` if it raises: unless SQLite already rolled back itself, which would otherwise hide
    the error that made it do so."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
