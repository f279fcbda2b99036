"""Under plain `datasette`, the plugin leaves databases nobody pointed it at alone, says so in one line, and keeps
client addresses out of uvicorn's access log."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from datasette.app import Datasette
from datasette.plugins import pm

from reporting import accesslog, plugin
from reporting.collect import PLUGIN


def tables_of(path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("select name from sqlite_master")}


@pytest.fixture
def registered():
    """The plugin registered with Datasette, as installing the package does."""
    if not pm.is_registered(plugin):
        pm.register(plugin, name=PLUGIN)


def operators_database(path: Path) -> Path:
    """A database of the operator's own, with one table: nothing of darksocial's."""
    with sqlite3.connect(path) as conn:
        conn.execute("create table t (id integer primary key)")
    return path


def test_an_unrelated_database_is_left_alone(tmp_path, caplog, registered):
    path = tmp_path / "unrelated.db"
    with sqlite3.connect(path) as conn:
        conn.execute("create table notes (id integer primary key, body text)")
    before = tables_of(path)
    ds = Datasette(files=[str(path)])

    async def browse():
        await ds.invoke_startup()
        home = await ds.client.get("/")
        posted = await ds.client.post("/-/darksocial/collect", content=b"{}",
                                      headers={"origin": "https://x.example", "content-type": "text/plain"})
        menu = await ds.client.get("/unrelated")
        # Datasette's own rules: anonymous readers open tables, run SQL and see the server's pages.
        opened = {path: (await ds.client.get(path)).status_code for path in (
            "/unrelated/notes", "/unrelated?sql=select+1", "/-/versions", "/-/plugins", "/-/databases")}
        return home, posted, menu, opened

    with caplog.at_level(logging.WARNING), concurrent.futures.ThreadPoolExecutor(1) as thread:
        # In a thread of its own: Playwright's sync API may keep an event loop running in this one.
        home, posted, menu, opened = thread.submit(asyncio.run, browse()).result(timeout=60)
    assert tables_of(path) == before
    assert "darksocial" not in home.text.split("<footer")[0].lower()
    assert posted.status_code == 503 and "no darksocial database to collect into" in posted.text
    assert "darksocial serve DB" in posted.text and "-m metadata.json" in posted.text
    assert "darksocial dashboard" not in menu.text
    assert opened == dict.fromkeys(opened, 200)
    hints = [r.getMessage() for r in caplog.records if "darksocial" in r.getMessage()]
    assert len(hints) == 1 and "stays out of the way" in hints[0] and plugin.METADATA_HINT in hints[0]


def test_beside_other_databases_only_the_darksocial_one_is_guarded(tmp_path, scenario_db, registered):
    other = operators_database(tmp_path / "other.db")
    ds = Datasette(files=[str(scenario_db), str(other)], crossdb=True)

    async def browse():
        await ds.invoke_startup()
        return {path: (await ds.client.get(path)).status_code for path in (
            "/other/t", "/other?sql=select+1", "/darksocial/stories", "/darksocial/top_stories",
            "/darksocial/events", "/darksocial/visits", "/darksocial?sql=select+1", "/darksocial/top_influencers",
            "/_memory?sql=select+1", "/-/versions", "/-/databases")}

    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        statuses = thread.submit(asyncio.run, browse()).result(timeout=60)
    assert statuses == {
        "/other/t": 200, "/other?sql=select+1": 200, "/darksocial/stories": 200, "/darksocial/top_stories": 200,
        "/darksocial/events": 403, "/darksocial/visits": 403, "/darksocial?sql=select+1": 403,
        "/darksocial/top_influencers": 403,
        "/_memory?sql=select+1": 403,  # with --crossdb its SQL reads the darksocial database too
        "/-/versions": 403, "/-/databases": 403}


@pytest.mark.parametrize("served", ["read-only", "a copy beside it"])
def test_darksocials_data_served_read_only_or_as_a_copy_is_guarded_all_the_same(tmp_path, scenario_db, served,
                                                                                   registered):
    # `datasette -i darksocial.db`, or a backup (README: `sqlite3 darksocial.db ".backup copy.db"`) served beside
    # the live file: the same people's data, whichever file it is read from.
    copy = tmp_path / "copy.db"
    with sqlite3.connect(scenario_db) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    ds = Datasette(immutables=[str(copy)]) if served == "read-only" else Datasette(files=[str(scenario_db), str(copy)])

    async def browse():
        await ds.invoke_startup()
        return {path: (await ds.client.get(path)).status_code for path in (
            "/copy/events.json", "/copy/visits.json", "/copy.json?sql=select+1", "/copy.db", "/-/versions",
            "/copy/stories.json")}

    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        statuses = thread.submit(asyncio.run, browse()).result(timeout=60)
    assert statuses == {"/copy/events.json": 403, "/copy/visits.json": 403, "/copy.json?sql=select+1": 403,
                        "/copy.db": 403, "/-/versions": 403, "/copy/stories.json": 200}


def test_the_database_is_named_as_the_startup_line_and_readme_say(tmp_path):
    # Datasette 0.65 has no `-s plugins.darksocial.database NAME` ("No such option '-s'"): the metadata names it.
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    assert plugin.METADATA_HINT in readme and "-s plugins" not in readme
    other = operators_database(tmp_path / "other.db")
    (tmp_path / "site.db").touch()  # empty: taken only because the metadata names it
    (tmp_path / "metadata.json").write_text(plugin.METADATA_HINT.replace("NAME", "site"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parents[2]),
                                                                       os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "datasette", str(other), str(tmp_path / "site.db"), "-m",
                           str(tmp_path / "metadata.json"), "--get", "/site/top_stories.json"], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path, env=env)
    assert done.returncode == 0 and json.loads(done.stdout)["ok"], done.stdout + done.stderr
    assert "events" in tables_of(tmp_path / "site.db") and tables_of(other) == {"t"}


def test_a_database_named_by_the_setting_or_holding_events_is_taken(tmp_path, scenario_db):
    ds = Datasette(files=[str(scenario_db)])
    from reporting import metadata

    assert metadata.darksocial_database(ds) == "darksocial"  # it holds darksocial's events: taken without a setting


def test_malformed_requests_log_one_line_a_minute_with_the_count_left_out(caplog):
    now = [1000.0]
    logger = logging.getLogger("test.uvicorn.error")
    logger.addFilter(accesslog.ThrottleMalformed(clock=lambda: now[0]))
    with caplog.at_level(logging.WARNING, logger=logger.name):
        for _ in range(500):  # uvicorn's own call, once per request it cannot parse
            logger.warning(accesslog.MALFORMED)
        logger.warning("Something else")  # other warnings pass
        now[0] += accesslog.MALFORMED_LOG_EVERY
        logger.warning(accesslog.MALFORMED)
    assert [r.getMessage() for r in caplog.records if r.name == logger.name] == [
        "Invalid HTTP request received.", "Something else",
        "Invalid HTTP request received. (499 more since the last such line, not logged)"]


def test_the_access_log_never_shows_a_client_address(caplog):
    accesslog.install()
    accesslog.install()  # idempotent
    logger = logging.getLogger(accesslog.ACCESS_LOGGER)
    assert sum(isinstance(f, accesslog.RedactClients) for f in logger.filters) == 1
    errors = logging.getLogger(accesslog.ERROR_LOGGER)
    assert sum(isinstance(f, accesslog.ThrottleMalformed) for f in errors.filters) == 1
    with caplog.at_level(logging.INFO, logger=accesslog.ACCESS_LOGGER):
        # uvicorn's own format and arguments (uvicorn.protocols.http.*: access_logger.info(...))
        logger.info('%s - "%s %s HTTP/%s" %d', "198.51.100.7:5123", "POST", "/-/darksocial/collect", "1.1", 204)
        logger.info('%s - "%s %s HTTP/%s" %d', "198.51.100.7:5124", "GET", "/darksocial/stories", "1.1", 200)
    lines = [r.getMessage() for r in caplog.records if r.name == accesslog.ACCESS_LOGGER]
    assert lines == ['- - "GET /darksocial/stories HTTP/1.1" 200']
