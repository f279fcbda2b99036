"""SQLite helpers the attribution modules share: chunked ``IN (...)`` lookups, sorted bulk inserts, the run's
high-water marks (``_ds_state``), and the overlay an incremental run writes into.

The overlay: an incremental run computes in a read snapshot (the collector keeps writing) and applies its changes
in one short write transaction. Meanwhile every derived table ``T`` is read through a temp view of the same name
(temp names shadow main ones): ``main.T`` minus the rows marked gone in ``temp.T__gone`` (by rowid) plus the rows
in ``temp.T__new``. Writes go through :func:`insert_rows` and :func:`delete_rows` (and :func:`write_target` for
SQL that inserts), which know whether an overlay is open. :func:`apply_overlay` makes the changes real.
"""

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


def main_path(conn) -> str:
    """The file of ``conn``'s main database ("" in memory)."""
    return next((row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main"), "")


def read_state(conn, key: str, default: int = 0) -> int:
    row = conn.execute("SELECT value FROM _ds_state WHERE key = ?", (key,)).fetchone()
    return int(row[0]) if row else default


def write_state(conn, key: str, value: int) -> None:
    conn.execute("INSERT OR REPLACE INTO _ds_state (key, value) VALUES (?, ?)", (key, str(value)))


def overlay_open(conn) -> bool:
    return conn.execute("SELECT 1 FROM temp.sqlite_master WHERE name = 'visits__new'").fetchone() is not None


def write_target(conn, name: str) -> str:
    """Where rows of table ``name`` are inserted: its overlay when one is open, else the table itself."""
    return f"temp.[{name}__new]" if overlay_open(conn) else f"[{name}]"


def delete_rows(conn, name: str, where: str, params=()) -> None:
    """DELETE FROM ``name`` WHERE ``where``, through the overlay when one is open."""
    if overlay_open(conn):
        conn.execute(f"INSERT OR IGNORE INTO temp.[{name}__gone] SELECT rowid FROM main.[{name}] WHERE {where} "
                     f"AND rowid NOT IN (SELECT rowid FROM temp.[{name}__gone])", params)
        conn.execute(f"DELETE FROM temp.[{name}__new] WHERE {where}", params)
    else:
        conn.execute(f"DELETE FROM [{name}] WHERE {where}", params)


def key_table(conn, name: str, columns: tuple[str, ...], keys) -> str:
    """A temp table ``name`` holding ``keys`` (tuples over ``columns``, NULLs allowed), to join a whole batch of
    keys in one statement instead of one statement per key. Returns its qualified name."""
    conn.execute(f"DROP TABLE IF EXISTS temp.[{name}]")
    conn.execute(f"CREATE TEMP TABLE [{name}] ({', '.join(f'[{c}]' for c in columns)})")
    conn.executemany(f"INSERT INTO temp.[{name}] VALUES ({','.join('?' * len(columns))})", sorted(
        keys, key=lambda key: tuple((v is not None, v) for v in key)))
    return f"temp.[{name}]"


def keyed_select(table: str, keys: str, columns: tuple[str, ...], select: str) -> str:
    """SQL for the rows of ``table`` (read through the overlay) whose ``columns`` match (IS) a row of the key table
    ``keys``: its two sides apart, each joined on its own index (a join through the overlay's view would read
    every row of the table)."""
    on = " AND ".join(f"t.[{c}] IS k.[{c}]" for c in columns)
    return (f"SELECT {select} FROM {keys} k JOIN main.[{table}] t ON {on} "
            f"WHERE t.rowid NOT IN (SELECT rowid FROM temp.[{table}__gone]) "
            f"UNION ALL SELECT {select} FROM {keys} k JOIN temp.[{table}__new] t ON {on}")


def delete_keyed(conn, table: str, keys: str, columns: tuple[str, ...]) -> None:
    """Through the open overlay: delete the rows of ``table`` whose ``columns`` match (IS) a row of ``keys``."""
    on = " AND ".join(f"t.[{c}] IS k.[{c}]" for c in columns)
    conn.execute(f"INSERT OR IGNORE INTO temp.[{table}__gone] SELECT t.rowid FROM {keys} k JOIN main.[{table}] t "
                 f"ON {on}")
    conn.execute(f"DELETE FROM temp.[{table}__new] WHERE rowid IN (SELECT t.rowid FROM {keys} k "
                 f"JOIN temp.[{table}__new] t ON {on})")


def create_temp_table(conn, table: tables.Table, name: str) -> None:
    """An empty temp table ``name`` with the columns and primary key of ``table`` (no indexes)."""
    conn.execute(tables.create_sql(table)[0].replace("CREATE TABLE IF NOT EXISTS ", "CREATE TEMP TABLE ", 1)
                 .replace(f"[{table.name}]", f"[{name}]", 1))


def open_overlay(conn, overlaid: tuple[tables.Table, ...]) -> None:
    for table in overlaid:
        name = table.name
        columns = ", ".join(f"[{c}]" for c in table.column_names())
        conn.execute(f"CREATE TEMP TABLE [{name}__gone] (rowid INTEGER PRIMARY KEY)")
        create_temp_table(conn, table, f"{name}__new")
        partial = [index_columns for _, index_columns, _ in table.partial_indexes]
        for i, index in enumerate((table.pk, table.unique, *table.indexes, *partial)):
            if index:
                conn.execute(f"CREATE INDEX temp.[{name}__new_{i}] ON [{name}__new] ({', '.join(index)})")
        conn.execute(f"CREATE TEMP VIEW [{name}] AS SELECT {columns} FROM main.[{name}] "
                     f"WHERE rowid NOT IN (SELECT rowid FROM temp.[{name}__gone]) "
                     f"UNION ALL SELECT {columns} FROM temp.[{name}__new]")


def cancel_unchanged(conn, overlaid: tuple[tables.Table, ...]) -> None:
    """Drop from the overlay every row it would delete and insert again unchanged (a visit reclassified the same,
    a story whose figures did not move): the write transaction then writes only what changed."""
    for table in overlaid:
        key = table.pk or table.unique or table.identity
        if not key:
            continue
        name = table.name
        on = " AND ".join(f"m.[{c}] = n.[{c}]" for c in key)
        same = " AND ".join(f"m.[{c}] IS n.[{c}]" for c in table.column_names())
        conn.execute("DROP TABLE IF EXISTS temp.unchanged")
        conn.execute(f"CREATE TEMP TABLE unchanged AS SELECT m.rowid AS old, n.rowid AS new "
                     f"FROM temp.[{name}__new] n JOIN main.[{name}] m ON {on} "
                     f"WHERE m.rowid IN (SELECT rowid FROM temp.[{name}__gone]) AND {same}")
        conn.execute(f"DELETE FROM temp.[{name}__gone] WHERE rowid IN (SELECT old FROM temp.unchanged)")
        conn.execute(f"DELETE FROM temp.[{name}__new] WHERE rowid IN (SELECT new FROM temp.unchanged)")
    conn.execute("DROP TABLE IF EXISTS temp.unchanged")


def apply_overlay(conn, overlaid: tuple[tables.Table, ...]) -> None:
    """Inside the caller's write transaction: make the overlay's deletions and insertions real."""
    for table in overlaid:
        name = table.name
        conn.execute(f"DELETE FROM main.[{name}] WHERE rowid IN (SELECT rowid FROM temp.[{name}__gone])")
        order = ", ".join(table.pk or table.unique or ("rowid",))
        conn.execute(f"INSERT OR REPLACE INTO main.[{name}] SELECT * FROM temp.[{name}__new] ORDER BY {order}")


def close_overlay(conn, overlaid: tuple[tables.Table, ...]) -> None:
    for table in overlaid:
        conn.execute(f"DROP VIEW IF EXISTS temp.[{table.name}]")
        conn.execute(f"DROP TABLE IF EXISTS temp.[{table.name}__gone]")
        conn.execute(f"DROP TABLE IF EXISTS temp.[{table.name}__new]")


def insert_rows(conn, table: tables.Table, rows: list[tuple]) -> None:
    if rows:
        # In primary-key order, the B-tree grows at its right edge instead of splitting pages all over.
        # Primary-key columns are never NULL here, so the rows compare directly.
        if table.pk:
            rows = sorted(rows, key=itemgetter(*[table.column_names().index(c) for c in table.pk]))
        marks = ",".join("?" * len(table.columns))
        conn.executemany(f"INSERT OR REPLACE INTO {write_target(conn, table.name)} VALUES ({marks})", rows)


def high_water(conn) -> tuple[int, int]:
    return (conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0],
            conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM links").fetchone()[0])
