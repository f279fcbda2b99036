"""The analyst tables' schema as the store and attribution create it."""

from __future__ import annotations

import sqlite3

from darksocial import tables


def _indexes(conn, table: str) -> set:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                                       "AND sql IS NOT NULL", (table,))}


def test_an_index_an_earlier_version_made_is_replaced_and_other_indexes_are_kept():
    conn = sqlite3.connect(":memory:")
    tables.create_all(conn)
    expected = _indexes(conn, "cascades")
    conn.execute("CREATE INDEX idx_cascades_site_url ON cascades (site, url)")  # as darksocial 0.x made it
    conn.execute("CREATE INDEX rpt_cascades_mine ON cascades (started)")  # somebody else's
    tables.create_all(conn)
    assert _indexes(conn, "cascades") == expected | {"rpt_cascades_mine"}


def test_visits_of_an_earlier_shape_are_dropped_for_the_next_run_to_rebuild():
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE visits (token TEXT, ts TEXT)")  # keyed by token, no id: an earlier shape
    conn.execute("CREATE TABLE _ds_state (key TEXT PRIMARY KEY, value TEXT)")
    conn.execute("INSERT INTO _ds_state VALUES ('events_id', '42')")
    tables.create_all(conn)
    assert [r[1] for r in conn.execute("PRAGMA table_info(visits)")] == tables.VISITS.column_names()
    assert conn.execute("SELECT COUNT(*) FROM _ds_state").fetchone()[0] == 0
    # Keyed by the event id (a rowid alias), with no index on a random key but the partial click indexes.
    assert conn.execute("SELECT sql FROM sqlite_master WHERE name = 'visits'").fetchone()[0].endswith(
        "PRIMARY KEY (id))")
    assert _indexes(conn, "visits") == {"idx_visits_date", "idx_visits_clicks_by_person",
                                        "idx_visits_clicks_by_sharer"}


def test_a_derived_table_whose_key_changed_is_dropped_and_one_this_version_adds_forces_a_rebuild():
    conn = sqlite3.connect(":memory:")
    tables.create_all(conn)
    conn.execute("INSERT INTO _ds_state VALUES ('events_id', '42')")
    conn.commit()
    tables.create_all(conn)
    assert conn.execute("SELECT COUNT(*) FROM _ds_state").fetchone()[0] == 1  # nothing changed: kept

    # _ds_influence as an earlier version made it: the same columns, keyed by (root, person, member).
    conn.execute("DROP TABLE _ds_influence")
    columns = ", ".join(tables.INFLUENCE.column_names())
    conn.execute(f"CREATE TABLE _ds_influence ({columns}, PRIMARY KEY (root, person, member))")
    tables.create_all(conn)
    assert conn.execute("SELECT COUNT(*) FROM _ds_state").fetchone()[0] == 0
    assert not [r for r in conn.execute("PRAGMA table_info(_ds_influence)") if r[5]]
    assert _indexes(conn, "_ds_influence") == {"idx__ds_influence_person_member_date_site_conversions"}

    # A database from before _ds_titles: the incremental run would find no latest titles, so the next is full.
    conn.execute("INSERT INTO _ds_state VALUES ('events_id', '42')")
    conn.execute("DROP TABLE _ds_titles")
    tables.create_all(conn)
    assert conn.execute("SELECT COUNT(*) FROM _ds_state").fetchone()[0] == 0


def test_indexes_no_run_reads_are_dropped_from_an_earlier_version():
    conn = sqlite3.connect(":memory:")
    tables.create_all(conn)
    conn.execute("CREATE INDEX idx_visits_site_url_ts ON visits (site, url, ts)")
    conn.execute("CREATE INDEX idx_cascade_people_person ON cascade_people (person)")
    conn.execute("CREATE INDEX idx_shares_site_url ON shares (site, url)")
    conn.execute("CREATE INDEX idx_cascades_site_url_depth_conversions_size_structural_virality ON cascades "
                 "(site, url, depth, conversions, size, structural_virality)")
    tables.create_all(conn)
    assert _indexes(conn, "cascades") == set()
    assert _indexes(conn, "shares") == {"idx_shares_root", "idx_shares_sharer", "idx_shares_parent_view",
                                        "idx_shares_date"}
    assert _indexes(conn, "visits") == {"idx_visits_date", "idx_visits_clicks_by_person",
                                        "idx_visits_clicks_by_sharer"}
    assert _indexes(conn, "cascade_people") == {"idx_cascade_people_root_depth"}
