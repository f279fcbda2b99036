"""Attribution's lookup tables (darksocial.attribution.keys): `events` carries no index by token, incoming token or
visitor; a run finds events by them in ``<database>-keys``, which must never give a wrong answer, whatever
happened to that file."""

from __future__ import annotations

import random
import shutil
import sqlite3
import threading

from darksocial import store
from darksocial.attribution import attribute, keys

from .test_attribution import random_traffic, snapshot


def _keys_rows(db_path) -> dict:
    with sqlite3.connect(store.keys_path(db_path)) as conn:
        return {column: conn.execute(f"SELECT k, event FROM [events_by_{column}] ORDER BY 1, 2").fetchall()
                for column in keys.KEYED}


def _expected_rows(db) -> dict:
    return {column: db.execute(f"SELECT [{column}], id FROM events WHERE [{column}] IS NOT NULL "
                               "ORDER BY 1, 2").fetchall() for column in keys.KEYED}


def _remove(path) -> None:
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def test_each_run_tops_the_file_up_to_every_event_it_read(scenario):
    viewer = scenario.view("a", "/one")
    scenario.share("a", viewer, "wa")
    scenario.attribute()
    assert store.keys_path(scenario.path).exists()
    assert _keys_rows(scenario.path) == _expected_rows(scenario.db)

    scenario.view("b", "/one", came_with=viewer, channel="wa")
    scenario.identify("b", "bob@example.com")
    scenario.attribute()  # incremental: only the new events are added
    assert _keys_rows(scenario.path) == _expected_rows(scenario.db)
    assert _expected_rows(scenario.db)["in_token"] == [(viewer, 3)]


def test_a_file_that_belongs_to_another_database_is_refilled(make_scenario):
    """A database started over (or restored from an older backup) beside an old keys file: the file's last event is
    not this database's, so it is refilled, and the figures are those of a file made from nothing."""
    rng = random.Random(7)
    reference = make_scenario("reference")
    links = random_traffic(reference, rng)
    reference.db["links"].insert_all(links)
    reference.attribute(full=True)
    expected = snapshot(reference.db)

    other = make_scenario("other")
    random_traffic(other, random.Random(8))
    other.attribute(full=True)
    # The reference database's keys file replaced by the other database's, then new events and an incremental run.
    _remove(store.keys_path(reference.path))
    shutil.copy(store.keys_path(other.path), store.keys_path(reference.path))
    reference.view("z", "/late")
    reference.attribute()
    assert _keys_rows(reference.path) == _expected_rows(reference.db)
    got = snapshot(reference.db)
    assert got["visits"] != expected["visits"]  # the late view is there
    reference.attribute(full=True)
    assert snapshot(reference.db) == got


def test_a_deleted_file_costs_a_refill_not_a_wrong_answer(make_scenario):
    rng = random.Random(3)
    sc = make_scenario("deleted")
    random_traffic(sc, rng)
    events = list(sc.pending)
    half = len(events) // 2
    sc.flush(events[:half])
    attribute(sc.db)
    _remove(store.keys_path(sc.path))
    sc.flush(events[half:])
    attribute(sc.db)
    incremental = snapshot(sc.db)
    attribute(sc.db, full=True)
    assert snapshot(sc.db) == incremental
    assert _keys_rows(sc.path) == _expected_rows(sc.db)


def test_an_in_memory_database_gets_a_private_file_each_run(scenario):
    first = scenario.view("a", "/one")
    share = scenario.share("a", first, "tg")
    scenario.view("b", "/one", came_with=share, channel="tg")
    scenario.flush()
    memory = sqlite3.connect(":memory:", isolation_level=None)
    scenario.db.conn.backup(memory)
    attribute(memory, full=True)
    clicked = memory.execute("SELECT sharer, click FROM visits WHERE share_token = ?", (share,)).fetchone()
    assert clicked == (f"v:{scenario.visitor('a')}", 1)
    later = memory.execute("INSERT INTO events (ts, kind, site, visitor, url, token, in_token, in_channel) "
                           "VALUES ('2026-03-09T00:00:00.000000Z', 'view', 'blog', ?, ?, 'CCCCCCCCCC', ?, 'tg')",
                           (scenario.visitor("c"), scenario.ORIGIN + "/one", share)).lastrowid
    assert attribute(memory)["mode"] == "incremental"
    assert memory.execute("SELECT sharer, click FROM visits WHERE id = ?", (later,)).fetchone() == clicked
    assert keys.SCHEMA not in {row[1] for row in memory.execute("PRAGMA database_list")}  # detached after the run


def test_lookups_refuse_a_column_without_a_table():
    try:
        keys.events_where_in(None, "SELECT id FROM events", "url", ["x"])
    except ValueError as exc:
        assert "url" in str(exc)
    else:
        raise AssertionError("looked events up by a column no table holds")


def test_runs_topping_up_at_once_take_turns(scenario):
    random_traffic(scenario, random.Random(5))
    scenario.flush()
    high = scenario.db.execute("SELECT MAX(id) FROM events").fetchone()[0]
    failures = []

    def run(until: int) -> None:
        conn = sqlite3.connect(scenario.path, isolation_level=None, check_same_thread=False)
        try:
            with keys.attached(conn):
                keys.top_up(conn, until)
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=run, args=(until,)) for until in (high // 3, high, high // 2, high)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert _keys_rows(scenario.path) == _expected_rows(scenario.db)


def test_a_file_that_is_not_a_database_is_made_again(scenario):
    first = scenario.view("a", "/one")
    share = scenario.share("a", first, "sms")
    scenario.attribute()
    store.keys_path(scenario.path).write_bytes(b"not a database, whatever put it there" * 200)
    scenario.view("b", "/one", came_with=share, channel="sms")
    scenario.attribute()
    assert scenario.row("visits", share_token=share)["sharer"] == f"v:{scenario.visitor('a')}"
    assert _keys_rows(scenario.path) == _expected_rows(scenario.db)


def test_a_full_rebuild_refills_the_file_so_events_deleted_by_hand_leave_no_key(scenario):
    """Deleting a visitor's events (an erasure request, by SQL) then rebuilding in full leaves no trace of them in
    the lookup file either: its last event is unchanged, so only a refill drops the rest."""
    kept = scenario.view("a", "/one")
    scenario.share("a", kept, "wa")
    erased = scenario.view("e", "/one", came_with=kept, channel="wa")
    scenario.view("z", "/two")  # the last event stays: the fingerprint alone would keep the file
    scenario.attribute()
    assert any(k == scenario.visitor("e") for k, _ in _keys_rows(scenario.path)["visitor"])
    scenario.db.execute("DELETE FROM events WHERE visitor = ?", (scenario.visitor("e"),))
    scenario.db.conn.commit()
    scenario.attribute(full=True)
    rows = _keys_rows(scenario.path)
    assert rows == _expected_rows(scenario.db)
    assert not any(k == erased for k, _ in rows["token"])
    assert not any(k == scenario.visitor("e") for k, _ in rows["visitor"])
