"""The event store: schema and migrations, the group-committing writer, salts and sites."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import sqlite3
import threading

import pytest
import sqlite_utils

from darksocial import store, tables

RAW_TABLES = {"events", "sites", "links", "pages"}


def row(token: str, site: str = "blog") -> tuple:
    values = dict.fromkeys(store.EVENT_COLUMNS)
    values.update(ts=store.utc_timestamp(), kind="view", site=site, visitor="v" * 16, url="https://example.com/",
                  token=token)
    return tuple(values[c] for c in store.EVENT_COLUMNS)


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "ds.db"


@pytest.fixture
def writer(db_path):
    store.open_db(db_path).close()
    w = store.Writer(db_path)
    yield w
    w.close()


def count(path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]


def test_open_db_creates_raw_and_analyst_tables_in_wal_mode(db_path):
    db = store.open_db(db_path)
    assert RAW_TABLES <= set(db.table_names())
    assert "salts" not in db.table_names()  # in their own file, never in a database Datasette serves
    assert set(tables.TABLES) <= set(db.table_names())
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert set(db["events"].columns_dict) == {"id", *store.EVENT_COLUMNS}
    assert db["events"].pks == ["id"]
    assert db["pages"].pks == ["site", "url"]
    # Every index costs WAL pages on each of the collector's commits: only two partial ones, which hold the few
    # reloads and returns; attribution looks events up by token, in_token and visitor in its own file (keys).
    indexed = {i.name: tuple(i.columns) for i in db["events"].indexes}
    assert indexed == {"idx_events_reloads": ("in_token",), "idx_events_returns": ("visitor", "url")}
    for name in indexed:
        sql = db.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0]
        assert "WHERE reloaded = 1" in sql


def test_migrations_run_once_and_keep_data(db_path):
    db = store.open_db(db_path)
    applied = [m.name for m in store.migrations.applied(db)]
    db["events"].insert(dict(zip(store.EVENT_COLUMNS, row("AAAAAAAAAA"), strict=True)))
    db["visits"].insert({"token": "AAAAAAAAAA", "site": "blog"})
    db.close()
    again = store.open_db(db_path)
    assert [m.name for m in store.migrations.applied(again)] == applied
    assert store.migrations.pending(again) == []
    assert again["events"].count == 1
    assert again["visits"].count == 1  # the analyst tables are not rebuilt while their definitions are unchanged


def test_writer_commits_before_resolving(writer, db_path):
    assert writer.write_sync([row("AAAAAAAAAA"), row("BBBBBBBBBB")]) == 2
    assert count(db_path) == 2  # visible to another connection: committed
    # In a thread of its own: Playwright's sync API (browser tests in the same session) keeps a loop running here.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, writer.write([row("CCCCCCCCCC")])).result(30) == 1
    assert count(db_path) == 3


def test_submissions_waiting_together_share_one_transaction(writer, db_path):
    started, release = threading.Event(), threading.Event()

    def hold(conn):
        started.set()
        release.wait(10)

    blocker = writer.call(hold)
    assert started.wait(10)
    before = writer.batches
    futures = [writer.submit([row(f"{i:010d}")]) for i in range(10)]
    assert not any(f.done() for f in futures)  # nothing is acknowledged before its commit
    release.set()
    assert [f.result(10) for f in futures] == [1] * 10
    blocker.result(10)
    assert writer.batches - before == 2  # the blocker's transaction, then all ten in one
    assert count(db_path) == 10


@pytest.fixture
def slow_commits(monkeypatch):
    """Every transaction seems to take 1000 s to the writer's clock: its wait for the answered clients is long."""
    offset = [0.0]
    real = store.time.monotonic

    def execute(self, batch, _execute=store.Writer._execute):
        offset[0] += 1000
        return _execute(self, batch)

    monkeypatch.setattr(store, "time", type("Clock", (), {"monotonic": staticmethod(lambda: real() + offset[0])}))
    monkeypatch.setattr(store, "MAX_COMMIT_DELAY", 3600.0)
    monkeypatch.setattr(store.Writer, "_execute", execute)


def test_a_lone_client_is_never_kept_waiting_for_others(slow_commits, writer, db_path):
    # Its next event is the one row the writer waits for after answering it.
    for i in range(3):
        assert writer.submit([row(f"{i:010d}")]).result(10) == 1
    assert count(db_path) == 3


def test_the_answered_clients_next_events_share_a_commit_with_those_that_came_during_it(slow_commits, writer):
    blocker_started, release_blocker = threading.Event(), threading.Event()
    held, release = threading.Event(), threading.Event()
    blocker = writer.call(lambda conn: (blocker_started.set(), release_blocker.wait(10)))
    assert blocker_started.wait(10)
    holding = writer.call(lambda conn: (held.set(), release.wait(10)))
    answered = [writer.submit([row(f"A{i:09d}")]) for i in range(2)]  # these two share the holding transaction
    release_blocker.set()
    assert held.wait(10)
    during = writer.submit([row("B000000000")])  # arrives while that transaction runs
    release.set()
    assert [f.result(10) for f in answered] == [1, 1] and holding.result(10) and blocker.result(10)
    threading.Event().wait(0.2)  # time enough for `during` to be committed alone, if the writer did not wait
    before = writer.batches
    assert not during.done()
    back = [writer.submit([row(f"C{i:09d}")]) for i in range(2)]  # the two answered clients send again
    assert during.result(10) == 1 and [f.result(10) for f in back] == [1, 1]
    assert writer.batches - before == 1


def test_a_failing_submission_does_not_sink_its_batch(writer, db_path):
    started, release = threading.Event(), threading.Event()
    blocker = writer.call(lambda conn: (started.set(), release.wait(10)))
    assert started.wait(10)
    good = writer.submit([row("AAAAAAAAAA")])
    bad = writer.call(lambda conn: conn.execute("INSERT INTO no_such_table VALUES (1)"))
    also_good = writer.submit([row("BBBBBBBBBB")])
    release.set()
    blocker.result(10)
    assert good.result(10) == 1 and also_good.result(10) == 1
    with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
        bad.result(10)
    assert count(db_path) == 2


def test_close_commits_what_was_submitted(db_path):
    store.open_db(db_path).close()
    writer = store.Writer(db_path)
    futures = [writer.submit([row(f"{i:010d}")]) for i in range(50)]
    writer.close()
    assert all(f.result(0) == 1 for f in futures)
    assert count(db_path) == 50
    with pytest.raises(store.WriterClosed):
        writer.submit([row("AAAAAAAAAA")])


def test_day_salt_is_shared_rotated_daily_and_deleted_after_48_hours(db_path):
    path = store.salts_path(db_path)
    assert path.name == "ds.db-salts"
    with store.SaltStore(path) as salts, store.SaltStore(path) as other:
        assert path.stat().st_mode & 0o077 == 0  # readable by the owner only
        day1 = dt.datetime(2026, 3, 1, 9, tzinfo=dt.timezone.utc)
        salt1 = salts.salt(day1)
        assert other.salt(day1.replace(hour=23)) == salt1  # every process agrees on the day's salt
        salt2 = salts.salt(day1 + dt.timedelta(days=1))
        assert salt2 != salt1
        assert salts.days() == ["2026-03-01", "2026-03-02"]
        salts.salt(dt.datetime(2026, 3, 3, 0, 0, 1, tzinfo=dt.timezone.utc))  # day 1's salt is now 48 h old
        assert salts.days() == ["2026-03-02", "2026-03-03"]
        assert salts.purge(dt.datetime(2026, 3, 10, tzinfo=dt.timezone.utc)) == 2
    data = path.read_bytes()
    assert salt1.encode() not in data and salt2.encode() not in data  # overwritten (secure_delete), not freed
    assert not path.with_name(path.name + "-wal").exists()


def test_salts_of_an_older_database_move_to_their_file_and_leave_no_trace(db_path):
    # A database from before salts had their own file: the salts table in the database itself, written in WAL.
    old = sqlite_utils.Database(db_path)
    old.enable_wal()
    store.migrations.apply(old, stop_before="m004_salts_out_of_the_database")
    secret = "5a17" * 16
    old["salts"].insert({"day": "2026-03-01", "salt": secret})
    old.close()
    db = store.open_db(db_path)
    assert "salts" not in db.table_names()
    db.close()
    with store.SaltStore(store.salts_path(db_path)) as salts:
        assert salts.salt(dt.datetime(2026, 3, 1, 12, tzinfo=dt.timezone.utc)) == secret  # pseudonyms stay stable
    leftovers = b"".join(p.read_bytes() for p in db_path.parent.glob("ds.db*") if not p.name.endswith("-salts"))
    assert secret.encode() not in leftovers  # neither the database's free pages nor its WAL


def test_register_site_upserts_and_keeps_creation_time(db_path):
    db = store.open_db(db_path)
    first = store.register_site(db, "blog", ["https://example.com"], name="My blog")
    second = store.register_site(db, "blog", ["https://example.com", "https://www.example.com"], respect_dnt=True)
    assert db["sites"].count == 1
    saved = db["sites"].get("blog")
    assert saved["origins"] == '["https://example.com", "https://www.example.com"]'
    assert saved["respect_dnt"] == 1 and saved["name"] == "My blog"
    assert saved["created"] == first["created"] == second["created"]
    store.register_site(db, "blog", ["https://example.com"], strip_params=["Ref", "aff_*"], keep_params=["p", "q"])
    store.register_site(db, "blog", ["https://example.com"])  # None keeps the URL rules
    saved = db["sites"].get("blog")
    assert (saved["strip_params"], saved["keep_params"]) == ('["aff_*", "ref"]', '["p", "q"]')


def test_site_add_registers_normalised_origins_and_names_bad_input(db_path):
    from click.testing import CliRunner

    from darksocial.cli import cli

    runner = CliRunner()
    ok = runner.invoke(cli, ["site", "add", "blog", "--origin", "https://Example.com:443/", "--origin",
                             "http://localhost:8000", "--respect-dnt", str(db_path)])
    assert ok.exit_code == 0, ok.output
    saved = store.open_db(db_path)["sites"].get("blog")
    assert saved["origins"] == '["http://localhost:8000", "https://example.com"]' and saved["respect_dnt"] == 1

    rules = runner.invoke(cli, ["site", "add", "blog", "--origin", "https://example.com", "--strip-param", "Ref",
                                "--strip-param", "aff_*", "--keep-param", "id", str(db_path)])
    assert rules.exit_code == 0, rules.output
    saved = store.open_db(db_path)["sites"].get("blog")
    assert (saved["strip_params"], saved["keep_params"]) == ('["aff_*", "ref"]', '["id"]')

    bad_origin = runner.invoke(cli, ["site", "add", "blog", "--origin", "example.com", str(db_path)])
    assert bad_origin.exit_code == 2 and "like https://example.com" in bad_origin.output
    bad_site = runner.invoke(cli, ["site", "add", "my blog", "--origin", "https://example.com", str(db_path)])
    assert bad_site.exit_code == 2 and "not a valid site id" in bad_site.output
    no_origin = runner.invoke(cli, ["site", "add", "blog", str(db_path)])
    assert no_origin.exit_code == 2 and "--origin" in no_origin.output


def test_write_then_calls_back_on_the_loop_after_commit_and_a_failing_callback_spares_the_others(writer, db_path,
                                                                                                  caplog):
    calls, loop_thread = [], None

    def failing(count, exc):
        raise RuntimeError("a submitter's bug")

    async def main():
        nonlocal loop_thread
        loop, loop_thread = asyncio.get_running_loop(), threading.current_thread()
        done = loop.create_future()

        def record(count, exc):
            calls.append((count, exc, db_count_now(), threading.current_thread() is loop_thread))
            if len(calls) == 2:
                done.set_result(None)

        writer.write_then([row("AAAAAAAAAA")], loop, failing)
        writer.write_then([row("BBBBBBBBBB"), row("CCCCCCCCCC")], loop, record)
        writer.write_then([row("DDDDDDDDDD")], loop, record)
        await asyncio.wait_for(done, 10)

    def db_count_now():
        return count(db_path)

    with caplog.at_level("ERROR", logger="darksocial.store"), concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, main()).result(30)  # a loop of its own (browser tests keep one in this thread)
    assert [(c, e, on_loop) for c, e, _, on_loop in calls] == [(2, None, True), (1, None, True)]
    assert all(seen == 4 for _, _, seen, _ in calls)  # answered only once committed
    assert "a submitter's callback failed" in caplog.text


def test_rows_of_every_shape_are_stored_as_given(writer, db_path):
    shapes = [row("G000000001"), row("G000000002")]
    share = dict(zip(store.EVENT_COLUMNS, row("G000000003"), strict=True)) | {"kind": "share", "parent": "G000000001",
                                                                              "channel": "wa", "title": None}
    goal = dict.fromkeys(store.EVENT_COLUMNS) | {"ts": store.utc_timestamp(), "kind": "goal", "site": "blog",
                                                 "goal": "signup", "value": 0.0, "token": ""}
    shapes += [tuple(share.values()), tuple(goal.values()), (None,) * len(store.EVENT_COLUMNS)]
    assert writer.write_sync(shapes) == 5
    assert len(store.insert_statements(shapes)) == 1  # one INSERT for the batch, whatever the shapes of its rows
    with sqlite3.connect(db_path) as conn:
        stored = conn.execute(f"SELECT {', '.join(store.EVENT_COLUMNS)} FROM events ORDER BY id").fetchall()
    assert sorted(stored, key=repr) == sorted(shapes, key=repr)
