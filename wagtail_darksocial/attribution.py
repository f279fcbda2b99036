"""Running attribution from Django (the command and the admin button) and telling how fresh the tables are."""

from __future__ import annotations

from .database import open_database, read_connection


def run(full: bool = False, progress=None) -> dict:
    from darksocial.attribution import attribute  # heavy: loaded by the command and the admin button only

    with open_database() as db:
        return attribute(db, full=full, progress=progress)


def up_to_date_through() -> str | None:
    """Time of the newest event the analyst tables include (None before the first run)."""
    with read_connection() as conn:
        try:
            row = conn.execute(
                "SELECT e.ts FROM _ds_state s JOIN events e ON e.id = CAST(s.value AS INTEGER) "
                "WHERE s.key = 'events_id'").fetchone()
        except Exception:  # no attribution state yet
            return None
    return row[0] if row else None
