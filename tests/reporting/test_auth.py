"""Access control: private tables and reports need an analyst sign-in; a public bind needs authentication."""

from __future__ import annotations

import json
import sqlite3

import httpx
import pytest
from click.testing import CliRunner

from darksocial import reports as queries
from darksocial import tables
from darksocial.cli import cli, command
from reporting import auth

PRIVATE = ["events", "sites", "links", "visits", "shares", "influencers", "cascades", "cascade_people",
           "_ds_identities", "_ds_influence", "person_labels"]
PUBLIC = ["stories", "channels", "daily"]
PRIVATE_REPORTS = sorted(queries.private_report_names(auth.private_tables()))


def test_every_column_that_identifies_a_visitor_makes_its_table_private():
    # A column described as holding visitor ids or people must be one the access rules know about.
    for table in tables.TABLES.values():
        for column in table.columns:
            text = column.description.lower()
            if "visitor id" in text or "v:<visitor" in text or column.name in auth.PERSONAL_COLUMNS:
                assert table.name in auth.private_tables(), (table.name, column.name)
    assert set(PRIVATE) <= auth.private_tables()
    assert not set(PUBLIC) & auth.private_tables()
    for name in auth.OPEN_TABLES:
        assert not auth.PERSONAL_COLUMNS.intersection(tables.TABLES[name].column_names()), name
        assert not tables.TABLES[name].private, name


def test_only_the_open_tables_are_readable_anonymously(inproc):
    # An allow-list: the page manifest, bookkeeping and SQLite's own tables are refused, like any table a later
    # version adds before it is listed as open.
    path = inproc.ds.databases["darksocial"].path
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE added_later (x)")
    try:
        for table in ("pages", "_sqlite_migrations", "_ds_inbox_moved", "added_later"):
            assert inproc.get(f"/darksocial/{table}.json").status_code == 403, table
        for table in sorted(auth.OPEN_TABLES):
            assert inproc.get(f"/darksocial/{table}.json").status_code == 200, table
    finally:
        with sqlite3.connect(path) as conn:
            conn.execute("DROP TABLE added_later")


@pytest.mark.parametrize("table", PRIVATE)
def test_anonymous_requests_to_private_tables_get_403(inproc, table):
    for suffix in ("", ".json", ".csv"):
        assert inproc.get(f"/darksocial/{table}{suffix}").status_code == 403, (table, suffix)
    assert inproc.get(f"/darksocial/{table}/1").status_code == 403


def test_anonymous_cannot_run_sql_download_the_database_or_open_private_reports(inproc, scenario):
    assert inproc.get("/darksocial.json", sql="select * from events").status_code == 403
    assert inproc.get("/darksocial", sql="select visitor from visits").status_code == 403
    assert inproc.get("/darksocial.db").status_code == 403
    for name in PRIVATE_REPORTS:
        assert inproc.get(f"/darksocial/{name}.json").status_code == 403, name
    assert inproc.get("/-/darksocial/influencer", person=scenario.ALICE_PERSON).status_code == 403
    assert inproc.get("/-/darksocial/cascade", share=scenario.SHARE_A).status_code == 403
    assert inproc.get("/-/darksocial/dashboard").status_code == 403
    listed = {q["name"] for q in inproc.get("/darksocial.json").json()["queries"]}
    assert listed == {r.name for r in queries.REPORTS} - set(PRIVATE_REPORTS)


def test_anonymous_reads_aggregate_tables_and_reports(inproc):
    for table in PUBLIC:
        assert inproc.get(f"/darksocial/{table}.json").status_code == 200, table
    assert inproc.get("/darksocial/dark_social_over_time.json").status_code == 200
    assert {"dark_social_over_time", "channel_mix"}.isdisjoint(PRIVATE_REPORTS)


@pytest.mark.parametrize("table", PRIVATE)
def test_signed_in_analysts_read_private_tables_as_html_json_and_csv(inproc, table):
    for suffix in ("", ".json", ".csv"):
        assert inproc.get(f"/darksocial/{table}{suffix}", signed_in=True).status_code == 200, (table, suffix)


def events_stored(scenario_db) -> int:
    with sqlite3.connect(scenario_db) as conn:
        return conn.execute("select count(*) from events").fetchone()[0]


def test_signed_in_analysts_run_sql(inproc, scenario_db):
    response = inproc.get("/darksocial.json", signed_in=True, sql="select count(*) as n from events", _shape="array")
    assert response.json() == [{"n": events_stored(scenario_db)}]


def test_over_real_http_anonymous_403_signed_in_200_with_csv_and_json(live_server, analyst_cookies, scenario_db):
    with httpx.Client(base_url=live_server) as anonymous:
        assert anonymous.get("/darksocial/visits.json").status_code == 403
        assert anonymous.get("/darksocial/events.csv").status_code == 403
        assert anonymous.get("/darksocial/stories.json").status_code == 200
    with httpx.Client(base_url=live_server, cookies=analyst_cookies) as analyst:
        rows = analyst.get("/darksocial/visits.json", params={"_shape": "array", "_size": "max"}).json()
        assert len(rows) == 9
        csv = analyst.get("/darksocial/events.csv", params={"_size": "max"})
        assert csv.status_code == 200 and csv.text.startswith("id,ts,kind,site,visitor")
        assert len(csv.text.strip().splitlines()) == 1 + events_stored(scenario_db)


def test_the_collector_route_stays_public(live_server):
    event = {"k": "view", "s": "blog", "v": "zoeZZZZZZZZZ", "u": "https://blog.example/story-a", "t": "vZ1xxxxxxx"}
    with httpx.Client(base_url=live_server) as anonymous:
        response = anonymous.post("/-/darksocial/collect", content=json.dumps(event),
                                  headers={"origin": "https://blog.example", "content-type": "text/plain",
                                           "user-agent": "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 "
                                                         "Firefox/132.0"})
        assert response.status_code == 204, response.text
        assert anonymous.get("/-/darksocial/darksocial.js").status_code == 200


def inproc_path(datasette) -> str:
    return str(datasette.databases["darksocial"].path)


def test_the_printed_sign_in_hint_is_one_line_per_way_and_never_root(datasette):
    hint = auth.sign_in_hint(datasette, "127.0.0.1", 8001)
    assert "\\n" not in hint and "/-/auth-token" not in hint
    lines = hint.splitlines()
    assert lines[0].startswith("darksocial: sign in on this machine (one-time link): http://127.0.0.1:8001/-/darksocial/sign-in?token=")
    # a command that runs from this shell: the bare name only when it is this installation's (see cli.command)
    assert f"{command()} login-link {inproc_path(datasette)}" in lines[1]
    assert lines[2] == "darksocial: analysts sign in as 'analyst' at http://127.0.0.1:8001/-/login"  # a password is set
    assert auth.sign_in_hint(datasette, "0.0.0.0", 8001) == "darksocial: analysts sign in as 'analyst' at http://0.0.0.0:8001/-/login"


def test_the_printed_sign_in_hint_brackets_an_ipv6_host(datasette):
    lines = auth.sign_in_hint(datasette, "::1", 8811).splitlines()
    assert lines[0].split("link): ", 1)[1].startswith("http://[::1]:8811/-/darksocial/sign-in?token=")
    assert lines[1].endswith(" --host ::1 --port 8811")
    assert lines[2] == "darksocial: analysts sign in as 'analyst' at http://[::1]:8811/-/login"


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::", "reports.example.com"])
def test_a_public_bind_without_authentication_refuses_to_start_and_says_how(tmp_path, host):
    db = tmp_path / "darksocial.db"
    result = CliRunner().invoke(cli, ["serve", str(db), "--host", host], env={auth.PASSWORD_HASH_ENV: ""})
    assert result.exit_code == 2, result.output
    assert f"Refusing to serve on {host}" in result.output
    assert f'export {auth.PASSWORD_HASH_ENV}="$(datasette hash-password)"' in result.output
    assert "/-/login" in result.output
    assert not db.exists()  # refused before creating anything


def test_a_malformed_hash_is_refused_with_the_expected_format(tmp_path):
    result = CliRunner().invoke(cli, ["serve", str(tmp_path / "x.db"), "--host", "0.0.0.0"],
                                env={auth.PASSWORD_HASH_ENV: "hunter2"})
    assert result.exit_code == 2
    assert "is set but is not a password hash" in result.output


def test_loopback_may_run_open_and_a_configured_hash_allows_any_address(password_hash):
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert auth.bind_refusal(host, {}) is None
    assert auth.bind_refusal("0.0.0.0", {auth.PASSWORD_HASH_ENV: password_hash}) is None
    assert auth.bind_refusal("0.0.0.0", {}) is not None


def test_the_database_file_is_downloaded_by_nobody(inproc):
    # README: the file changes while the server runs; analysts copy it on the server instead.
    assert inproc.get("/darksocial.db").status_code == 403
    assert inproc.get("/darksocial.db", signed_in=True).status_code == 403
