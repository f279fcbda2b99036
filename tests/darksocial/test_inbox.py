"""The inbox: acknowledged events wait there while another connection holds the write lock, and move exactly once."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from darksocial import inbox, store

from .test_store import row


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "ds.db"
    store.open_db(path).close()
    return path


def tokens(path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return sorted(r[0] for r in conn.execute("SELECT token FROM events"))


@pytest.fixture
def spill(write_lock_held):
    """A writer that stored each of ``names`` (page-view tokens) while another connection held the write lock."""

    def spilled(path, names) -> store.Writer:
        writer = store.Writer(path)
        with write_lock_held(path):
            for name in names:
                assert writer.write_sync([row(name)]) == 1
        return writer

    return spilled


def test_rows_acknowledged_during_a_held_lock_reach_events_once_the_lock_is_free(db_path, spill):
    writer = spill(db_path, ["A000000001", "A000000002"])
    try:
        assert writer.spilled == 2
        assert writer.write_sync([row("A000000003")]) == 1  # this transaction moves the waiting rows too
        assert tokens(db_path) == ["A000000001", "A000000002", "A000000003"]
    finally:
        writer.close()
    with sqlite3.connect(inbox.inbox_path(db_path)) as conn:
        assert conn.execute("SELECT count(*) FROM inbox").fetchone()[0] == 0


def test_a_function_job_waits_for_the_lock_instead_of_spilling(db_path, write_lock_held):
    writer = store.Writer(db_path)
    try:
        with write_lock_held(db_path):
            future = writer.call(lambda conn: conn.execute("SELECT 1").fetchone()[0])
            assert not future.done()
        assert future.result(10) == 1
    finally:
        writer.close()


def test_a_crash_between_moving_and_forgetting_moves_nothing_twice(db_path, spill):
    writer = spill(db_path, ["B000000001", "B000000002"])
    writer.inbox.forget = lambda conn: None  # the process dies right after the commit that moved the rows
    writer.close()  # close moves what waits
    assert tokens(db_path) == ["B000000001", "B000000002"]
    with sqlite3.connect(inbox.inbox_path(db_path)) as conn:
        assert conn.execute("SELECT count(*) FROM inbox").fetchone()[0] == 2  # still there, but marked as moved
    store.open_db(db_path).close()
    store.Writer(db_path).close()
    assert tokens(db_path) == ["B000000001", "B000000002"]


def test_a_recreated_inbox_starts_from_zero_again(db_path, spill):
    spill(db_path, ["C000000001"]).close()
    path = inbox.inbox_path(db_path)
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        name.unlink(missing_ok=True)
    spill(db_path, ["C000000002"]).close()  # id 1 of a new inbox: not skipped as "already moved"
    assert tokens(db_path) == ["C000000001", "C000000002"]


def test_a_backlog_moves_in_batch_sized_transactions(db_path, write_lock_held):
    writer = store.Writer(db_path, max_batch_rows=3)
    with write_lock_held(db_path):
        writer.write_sync([row(f"D{n:09d}") for n in range(8)])
    before = writer.batches
    writer.close()
    assert tokens(db_path) == [f"D{n:09d}" for n in range(8)]
    assert writer.batches == before  # moved by close and retries, not counted as batches of submissions


def test_an_unreadable_inbox_does_not_stop_new_events(db_path, caplog):
    inbox.inbox_path(db_path).write_bytes(b"this is not a database" * 200)
    store.open_db(db_path).close()  # logs, does not fail: the events arriving now must still be stored
    writer = store.Writer(db_path)
    try:
        assert writer.write_sync([row("E000000001")]) == 1
    finally:
        writer.close()
    assert tokens(db_path) == ["E000000001"]
    assert "inbox" in caplog.text


def test_two_writers_share_one_inbox_without_duplicates(db_path, write_lock_held):
    first, second = store.Writer(db_path), store.Writer(db_path)
    try:
        with write_lock_held(db_path):
            threads = [threading.Thread(target=w.write_sync, args=([row(f"F{i}{n:08d}") for n in range(50)],))
                       for i, w in enumerate((first, second))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        first.write_sync([row("F200000000")])
        second.write_sync([row("F300000000")])
    finally:
        first.close()
        second.close()
    stored = tokens(db_path)
    assert len(stored) == len(set(stored)) == 102


def test_starting_over_deletes_the_inbox_with_the_database(db_path, spill):
    writer = spill(db_path, ["H000000001"])
    writer.inbox.forget = lambda conn: None
    writer.close()
    beside = {path.name for path in db_path.parent.iterdir()} - {db_path.name + "-salts"}
    assert {db_path.name, inbox.inbox_path(db_path).name} <= beside
    assert beside <= {path.name for path in store.database_files(db_path)}
    for path in store.database_files(db_path):
        path.unlink(missing_ok=True)
    assert tokens(store.open_db(db_path).conn.execute("PRAGMA database_list").fetchone()[2]) == []


def test_a_failed_transaction_that_was_moving_the_inbox_leaves_its_rows_waiting(db_path, spill):
    writer = spill(db_path, ["I000000001"])
    try:
        with pytest.raises(sqlite3.Error):
            unbindable = tuple({"a": 1} if column == "title" else value
                               for column, value in zip(store.EVENT_COLUMNS, row("I000000009"), strict=True))
            writer.write_sync([unbindable])  # rolled back, with the move it started
        assert writer.write_sync([row("I000000002")]) == 1
        assert tokens(db_path) == ["I000000001", "I000000002"]
    finally:
        writer.close()


def test_an_inbox_from_before_a_new_event_column_still_moves(db_path):
    older = inbox.Inbox(db_path, store.EVENT_COLUMNS[:-1], store.insert_events)
    older.append([row("J000000001")[:-1]])
    older.close()
    store.open_db(db_path).close()
    assert tokens(db_path) == ["J000000001"]
