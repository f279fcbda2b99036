"""SQLite helpers the attribution modules share: chunked ``IN (...)`` lookups, sorted bulk inserts and the
run's high-water marks (``_ds_state``)."""

from __future__ import annotations

from operator import itemgetter

from .. import tables

CHUNK = 900  # SQLite host parameters per IN (...) list


def chunks(values, size: int = CHUNK):
    values = list(values)
    for i in range(0, len(values), size):
        yield values[i : i + size]


def where_in(conn, sql: str, column: str, values, extra: str = "") -> list[tuple]:
    out: list[tuple] = []
    for chunk in chunks(values):
        marks = ",".join("?" * len(chunk))
        joiner = " AND " if " WHERE " in sql else " WHERE "
        out.extend(conn.execute(f"{sql}{joiner}{column} IN ({marks}){extra}", chunk).fetchall())
    return out


def read_state(conn, key: str, default: int = 0) -> int:
    row = conn.execute("SELECT value FROM _ds_state WHERE key = ?", (key,)).fetchone()
    return int(row[0]) if row else default


def write_state(conn, key: str, value: int) -> None:
    conn.execute("INSERT OR REPLACE INTO _ds_state (key, value) VALUES (?, ?)", (key, str(value)))


def insert_rows(conn, table: tables.Table, rows: list[tuple]) -> None:
    if rows:
        # In primary-key order, the B-tree grows at its right edge instead of splitting pages all over.
        # Primary-key columns are never NULL here, so the rows compare directly.
        if table.pk:
            rows = sorted(rows, key=itemgetter(*[table.column_names().index(c) for c in table.pk]))
        marks = ",".join("?" * len(table.columns))
        conn.executemany(f"INSERT OR REPLACE INTO [{table.name}] VALUES ({marks})", rows)


def high_water(conn) -> tuple[int, int]:
    return (conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0],
            conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM links").fetchone()[0])
