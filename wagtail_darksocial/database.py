"""The darksocial SQLite database the app writes events to and reads reports from (``DARKSOCIAL_DATABASE``).

One :class:`~darksocial.collector.Collector` per database file per process (it owns the file's writer thread);
each gunicorn worker makes its own on first use, after the fork. Every process appends through SQLite's
locking, and the collector answers only after its transaction commits, so acknowledged events are stored once.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from darksocial import store
from darksocial.collector import Collector

SETTING = "DARKSOCIAL_DATABASE"
# Every Wagtail Site registers itself (sites.py): an unknown id is a Site deleted or renamed, or a page cached
# from before that.
REGISTER_HINT = ("no Wagtail Site has this id (its hostname, or the site id in Settings → Dark social): add or "
                 "restore the Site under Settings → Sites")
_collectors: dict[Path, Collector] = {}
_lock = threading.Lock()


def database_path() -> Path:
    """The configured database file; ImproperlyConfigured, naming the fix, when it is missing or not writable."""
    value = getattr(settings, SETTING, None)
    if not value:
        raise ImproperlyConfigured(
            f"{SETTING} is not set: add {SETTING} = BASE_DIR / 'darksocial.db' (a SQLite file the web server can "
            "write; the Datasette reporting server reads the same file) to your Django settings"
        )
    path = Path(value).expanduser().resolve()
    directory = path.parent
    if not directory.is_dir():
        raise ImproperlyConfigured(f"{SETTING} = {str(value)!r}: the directory {directory} does not exist")
    if path.is_dir():
        raise ImproperlyConfigured(f"{SETTING} = {str(value)!r} is a directory: name the database file inside it")
    if not os.access(directory, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.R_OK | os.W_OK)):
        raise ImproperlyConfigured(
            f"{SETTING} = {str(value)!r} is not writable by this process (user id {os.getuid()}): SQLite needs to "
            f"write the file and create files beside it (-wal, -shm, -inbox, -salts) in {directory}"
        )
    return path


def collector() -> Collector:
    path = database_path()
    with _lock:
        existing = _collectors.get(path)
        if existing is None:
            with migration_lock(path):
                try:
                    existing = Collector(path, register_hint=REGISTER_HINT)  # creates or migrates the file
                except store.ForeignDatabase:
                    raise _foreign(path) from None
            from .sites import register_all_sites

            register_all_sites()
            _collectors[path] = existing
        return existing


def _foreign(path: Path) -> ImproperlyConfigured:
    return ImproperlyConfigured(
        f"{SETTING} = {str(path)!r} is another application's SQLite database (the site's own?): "
        "give darksocial a file of its own, e.g. BASE_DIR / 'darksocial.db'")


@contextmanager
def migration_lock(path: Path):
    """Serialises creating and migrating the file across processes: gunicorn's workers all start at once, and two
    processes creating the same tables would fail."""
    try:
        import fcntl
    except ImportError:  # not POSIX: one process at a time is the deployer's business
        yield
        return
    with open(path.with_name(path.name + ".lock"), "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


@contextmanager
def open_database():
    """A sqlite-utils Database on the file (created and migrated on first use), closed afterwards."""
    path = database_path()
    with migration_lock(path):
        try:
            db = store.open_db(path)
        except store.ForeignDatabase:
            raise _foreign(path) from None
    try:
        yield db
    finally:
        db.close()


@contextmanager
def read_connection():
    """A plain sqlite3 connection for the reports (the analyst tables exist once the file is migrated)."""
    path = database_path()
    if not path.exists():
        with migration_lock(path):
            store.open_db(path).close()
    conn = sqlite3.connect(str(path))
    conn.execute(f"PRAGMA busy_timeout = {store.BUSY_TIMEOUT_MS}")
    try:
        yield conn
    finally:
        conn.close()


def reset() -> None:
    """Forget the collectors (tests that switch ``DARKSOCIAL_DATABASE``)."""
    with _lock:
        for item in _collectors.values():
            item.close()
        _collectors.clear()
