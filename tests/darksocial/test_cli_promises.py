"""What the README promises of each `darksocial` command, checked from the outside: the documented happy path says
what it did, and mistaken or hostile input is refused with a non-zero exit, no traceback, a message that names the
problem and the fix, and an unchanged database. (test_cli.py covers help examples, non-SQLite DB for site list /
attribute / link list, site remove's confirmation, link revoke twice and import-pages warnings.)"""

from __future__ import annotations

import gc
import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from darksocial.cli import cli

DARKSOCIAL = Path(sys.executable).with_name("darksocial")


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(arg) for arg in args], input=input)


def refused(result, code, *phrases):
    """Exit ``code``, no traceback, and every phrase (the problem and the fix) in the message."""
    assert result.exit_code == code, (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output, result.output
    for phrase in phrases:
        assert phrase in result.output, (phrase, result.output)


def state(db: Path):
    """Everything a CLI command may change: the sites and the ambassador links, as rows."""
    conn = sqlite3.connect(db)
    try:
        return (conn.execute("SELECT * FROM sites ORDER BY site").fetchall(),
                conn.execute("SELECT * FROM links ORDER BY token").fetchall())
    finally:
        conn.close()


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "ds.db"
    added = run("site", "add", "blog", "--origin", "https://blog.example", "--origin", "https://www.blog.example",
                "--name", "The Blog", path)
    assert added.exit_code == 0, added.output
    assert added.output.strip() == (
        "site 'blog': origins [\"https://blog.example\", \"https://www.blog.example\"], respect_dnt=False")
    return path


# -- happy paths --------------------------------------------------------------------------------------------------
def test_quick_start_commands_on_a_temp_database(db):
    docs = run("site", "add", "docs", "--origin", "HTTPS://Docs.Example:443/", "--respect-dnt", db)
    assert docs.exit_code == 0 and "site 'docs': origins [\"https://docs.example\"], respect_dnt=True" in docs.output
    listed = run("site", "list", db).output.splitlines()
    assert listed == ["blog\tThe Blog\thttps://blog.example https://www.blog.example\trespect_dnt=False\t0 events",
                      "docs\tdocs\thttps://docs.example\trespect_dnt=True\t0 events"]

    link = run("link", "create", "--name", "Rosa Diaz", "--url", "https://www.blog.example/story?utm_source=x",
               "--channel", "sms", db)
    assert link.exit_code == 0, link.output
    url = link.output.strip()
    assert url.startswith("https://www.blog.example/story#ds=") and url.endswith(".sms")  # utm_* never rides along
    token = url.split("#ds=")[1].split(".")[0]
    (row,) = run("link", "list", db, "--site", "blog").output.splitlines()
    assert row == f"{token}\tRosa Diaz\tblog\tactive\t{url}"
    assert "no ambassador link for site 'docs'" in run("link", "list", db, "--site", "docs").output

    revoked = run("link", "revoke", token, db)
    assert revoked.exit_code == 0 and revoked.output.startswith(f"revoked the link of Rosa Diaz ({url}) at 20")
    assert state(db)[1][0][0] == token  # nothing deleted

    first = run("attribute", db)
    assert first.exit_code == 0 and "attributed 0 events (full)" in first.output, first.output
    assert run("attribute", db).output.strip() == "attribution is up to date: no new events"

    sign_in = run("login-link", db, "--port", "8011", "--host", "::1")
    assert sign_in.exit_code == 0
    assert sign_in.output.startswith("http://[::1]:8011/-/darksocial/sign-in?token=")
    other = run("login-link", db).output
    assert other.startswith("http://127.0.0.1:8001/") and other != sign_in.output  # a fresh link each time

    removed = run("site", "remove", "docs", db, "--yes")
    assert removed.exit_code == 0 and "site 'docs' removed" in removed.output
    assert [line.split("\t")[0] for line in run("site", "list", db).output.splitlines()] == ["blog"]


def test_full_rebuild_and_listings_on_an_empty_database(tmp_path):
    empty = tmp_path / "empty.db"
    assert run("site", "add", "blog", "--origin", "https://blog.example", empty).exit_code == 0
    assert run("site", "remove", "blog", empty, "--yes").exit_code == 0
    full = run("attribute", "--full", empty)
    assert full.exit_code == 0 and "attributed 0 events (full): 0 visits, 0 shares" in full.output, full.output
    listed = run("site", "list", empty)
    assert listed.exit_code == 0 and "no site is registered" in listed.output and "darksocial site add" in listed.output
    links = run("link", "list", empty)
    assert links.exit_code == 0 and "no ambassador link" in links.output and "darksocial link create" in links.output


# -- site add -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("origin", ["example.com", "https://example.com/path", "javascript:alert(1)",
                                    "ftp://example.com", "https://user:pw@example.com", "https://example.com?q=1",
                                    "https://example.com:99999", "https://"])
def test_site_add_refuses_what_is_not_an_origin(db, origin):
    before = state(db)
    result = run("site", "add", "shop", "--origin", origin, db)
    refused(result, 2, f"--origin {origin!r} is not an origin", "give scheme and host", "like https://example.com")
    assert state(db) == before


@pytest.mark.parametrize("site_id", ["bad id", "", "x" * 101, "a/b"])
def test_site_add_refuses_a_bad_site_id(db, site_id):
    before = state(db)
    refused(run("site", "add", site_id, "--origin", "https://shop.example", db), 2, "is not a valid site id",
            "use 1-100 letters")
    assert state(db) == before


def test_site_add_again_updates_the_site_and_says_so(db):
    # `site add` on a registered site replaces its origins (its help: "Register SITE ..., or update it"); the
    # output shows the origins as now stored, so the change is visible.
    again = run("site", "add", "blog", "--origin", "https://blog.example", db)
    assert again.exit_code == 0 and "origins [\"https://blog.example\"]" in again.output
    assert run("site", "list", db).output.count("\n") == 1


def test_site_add_without_origin_is_a_usage_error(db):
    refused(run("site", "add", "shop", db), 2, "Missing option '--origin'")


# -- the DB argument ------------------------------------------------------------------------------------------------
EXISTING_DB_COMMANDS = (["site", "list"], ["site", "remove", "blog", "--yes"], ["attribute"], ["attribute", "--full"],
                        ["link", "list"], ["link", "revoke", "AAAAAAAAAA"], ["login-link"])
# These created a database at a mistyped path, then said no site was registered in it.
ADDING_DB_COMMANDS = (["link", "create", "--name", "R", "--url", "https://x.example/"], ["import-pages", "MANIFEST"])


@pytest.mark.parametrize("args", [*EXISTING_DB_COMMANDS, *ADDING_DB_COMMANDS])
def test_a_missing_database_is_refused_without_creating_it(tmp_path, args):
    missing = tmp_path / "missing.db"
    manifest = tmp_path / "darksocial-pages.json"
    manifest.write_text('{"format": "darksocial-pages", "version": 1, "site": "x", "pages": []}')
    args = [str(manifest) if arg == "MANIFEST" else arg for arg in args]
    refused(run(*args, missing), 2, "Invalid value for 'DB'", f"{str(missing)!r} does not exist", "check the path",
            f"create the database with `darksocial site add SITE --origin URL {missing}`")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["darksocial-pages.json"]


@pytest.mark.parametrize("args", [*EXISTING_DB_COMMANDS, ["site", "add", "x", "--origin", "https://x.example"],
                                  ["link", "create", "--name", "R", "--url", "https://x.example/"],
                                  ["serve", "--port", "0"]])
def test_a_directory_is_refused(tmp_path, args):
    refused(run(*args, tmp_path), 2, "Invalid value for 'DB'", "is a directory")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [["site", "add", "x", "--origin", "https://x.example"],
                                  ["site", "remove", "x", "--yes"],
                                  ["link", "create", "--name", "R", "--url", "https://x.example/"],
                                  ["link", "revoke", "AAAAAAAAAA"], ["login-link"], ["serve", "--port", "0"],
                                  ["import-pages", "MANIFEST"]])
def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path, args):
    notes = tmp_path / "notes.db"
    notes.write_text("these are my notes, not a database " * 10)
    manifest = tmp_path / "darksocial-pages.json"
    manifest.write_text('{"format": "darksocial-pages", "version": 1, "site": "x", "pages": []}')
    args = [str(manifest) if arg == "MANIFEST" else arg for arg in args]
    refused(run(*args, notes), 1, "DB is not a darksocial database",
            "give the path of the SQLite file that `darksocial site add` or `darksocial serve` created")
    assert notes.read_text() == "these are my notes, not a database " * 10
    assert sorted(path.name for path in tmp_path.iterdir()) == ["darksocial-pages.json", "notes.db"]


def test_a_database_in_a_missing_folder_names_the_path_to_check(tmp_path):
    refused(run("site", "add", "x", "--origin", "https://x.example", tmp_path / "nowhere" / "ds.db"), 1,
            "the database cannot be used", "check the DB path and its permissions")
    assert not (tmp_path / "nowhere").exists()


def read_only(path: Path):
    """Make ``path`` unwritable even for root (chattr +i), or by its mode for anyone else; returns the undo."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True)
        return lambda: subprocess.run(["chattr", "-i", str(path)], check=True)
    path.chmod(0o444)
    return lambda: path.chmod(0o644)


def test_a_read_only_database_refuses_writes_and_still_lists(db):
    assert run("link", "create", "--name", "Rosa", "--url", "https://blog.example/a", db).exit_code == 0
    before = state(db)
    gc.collect()  # the in-process commands' connections: the last one to close checkpoints and removes the WAL
    assert not db.with_name("ds.db-wal").exists()  # else writes would land in the writable WAL, not the file
    undo = read_only(db)
    try:
        for args in (["site", "add", "shop", "--origin", "https://shop.example"], ["site", "remove", "blog", "--yes"],
                     ["link", "create", "--name", "Ada", "--url", "https://blog.example/b"],
                     ["link", "revoke", before[1][0][0]], ["login-link"], ["attribute", "--full"]):
            refused(run(*args, db), 1, "the database cannot be used (attempt to write a readonly database)",
                    "check the DB path and its permissions")
        assert run("site", "list", db).output.startswith("blog\tThe Blog\t")
        assert run("link", "list", db).output.startswith(before[1][0][0])
        refused(run("serve", db, "--port", "0", "--attribute-every", "0"), 1,
                "the database cannot be used (attempt to write a readonly database)", "check the DB path")
    finally:
        undo()
    assert state(db) == before


# -- site remove / link --------------------------------------------------------------------------------------------
def test_site_remove_without_a_terminal_asks_for_yes_instead_of_prompting(db):
    """A script or CI has no terminal to answer the prompt on: it is told to pass --yes, and nothing changes."""
    before = state(db)
    refused(run("site", "remove", "blog", db), 2, "removing site 'blog' asks for confirmation",
            "no terminal", "pass --yes")
    assert state(db) == before
    done = subprocess.run([str(DARKSOCIAL), "site", "remove", "blog", str(db)], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "pass --yes" in done.stderr and "Aborted" not in done.stderr, done.stderr
    assert state(db) == before
    assert run("site", "remove", "blog", db, "--yes").exit_code == 0


def test_removing_an_unknown_site_names_the_registered_ones(db):
    before = state(db)
    refused(run("site", "remove", "shop", db, "--yes"), 2, "no site 'shop' is registered", "(registered: blog)",
            "see `darksocial site list DB`")
    assert state(db) == before


@pytest.mark.parametrize(("args", "phrases"), [
    (["--url", "https://shop.example/story"],
     ["cannot tell which site", "no origin matches", "pass --site, one of blog"]),
    (["--url", "ftp://blog.example/story"], ["--url must be the absolute http(s) URL", "like https://example.com/story"]),
    (["--url", "javascript:alert(1)"], ["--url must be the absolute http(s) URL", "like https://example.com/story"]),
    (["--url", "blog.example/story"], ["--url must be the absolute http(s) URL", "like https://example.com/story"]),
    (["--url", "https://blog.example/story#top"], ["has a fragment (#top)", "give the page URL without it"]),
    (["--url", "https://blog.example/s", "--channel", "whatsapp"],
     ["--channel 'whatsapp' is not a channel code", "use one of wa, fm, tg, sms"]),
    (["--url", "https://blog.example/s", "--site", "shop"], ["unknown site 'shop'", "known sites: blog",
                                                             "darksocial site add"]),
    (["--url", "https://blog.example/s", "--name", "  "], ["--name must be 1-200 characters", "like --name"]),
])
def test_link_create_refusals_name_the_fix(db, args, phrases):
    before = state(db)
    name = [] if "--name" in args else ["--name", "Rosa"]
    refused(run("link", "create", *name, *args, db), 2, *phrases)
    assert state(db) == before


def test_link_create_on_a_database_without_sites(tmp_path):
    fresh = tmp_path / "fresh.db"
    assert run("site", "add", "gone", "--origin", "https://gone.example", fresh).exit_code == 0
    assert run("site", "remove", "gone", fresh, "--yes").exit_code == 0
    refused(run("link", "create", "--name", "Rosa", "--url", "https://blog.example/s", fresh), 2,
            "no site is registered", "darksocial site add SITE --origin URL DB")
    assert state(fresh) == ([], [])


def test_link_list_of_an_unknown_site_names_the_known_ones(db):
    assert run("link", "create", "--name", "Rosa", "--url", "https://blog.example/s", db).exit_code == 0
    refused(run("link", "list", "--site", "nosuch", db), 2, "no site 'nosuch'", "known: blog",
            "darksocial site list DB")
    assert run("site", "remove", "blog", db, "--yes").exit_code == 0
    # A removed site's links are still listed: the site stays known through them.
    listed = run("link", "list", "--site", "blog", db)
    assert listed.exit_code == 0 and "Rosa" in listed.output
    assert run("site", "add", "docs", "--origin", "https://docs.example", db).exit_code == 0
    empty = run("link", "list", "--site", "docs", db)
    assert empty.exit_code == 0 and "no ambassador link for site 'docs'" in empty.output


@pytest.mark.parametrize("url", ["https://shop.example/p", "https://elsewhere.example/p"])
def test_a_link_to_another_origin_than_its_sites_is_refused(db, url):
    """The collector refuses "an event URL (u) on another origin" (403): every visit through such a link would be
    lost, so it is not minted."""
    before = state(db)
    refused(run("link", "create", "--name", "R", "--url", url, "--site", "blog", db), 2,
            "is on none of site 'blog''s origins", "register", "--origin")
    assert state(db) == before


def test_revoking_twice_or_an_unknown_link_changes_nothing(db):
    url = run("link", "create", "--name", "Rosa", "--url", "https://blog.example/s", db).output.strip()
    assert run("link", "revoke", url, db).exit_code == 0
    before = state(db)
    refused(run("link", "revoke", url, db), 2, "already revoked at 20")
    refused(run("link", "revoke", "https://blog.example/s", db), 2, "no ambassador link has the token",
            "give a token or link from `darksocial link list DB`")
    refused(run("link", "revoke", "", db), 2, "no ambassador link has the token", "darksocial link list DB")
    assert state(db) == before


# -- ports ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("args", "phrase"), [
    (["serve", "DB", "--port", "70000"], "'--port': 70000 is not in the range 0<=x<=65535"),
    (["serve", "DB", "--port", "-1"], "'--port': -1 is not in the range"),
    (["serve", "DB", "--port", "http"], "'--port': 'http' is not a valid integer"),
    (["login-link", "DB", "--port", "0"], "'--port': 0 is not in the range 1<=x<=65535"),
    (["demo", "--port", "99999"], "'--port': 99999 is not in the range"),
    (["demo", "--site-port", "-5"], "'--site-port': -5 is not in the range"),
])
def test_bad_ports_are_usage_errors(db, args, phrase):
    before = state(db)
    refused(run(*[db if arg == "DB" else arg for arg in args]), 2, phrase)
    assert state(db) == before


def test_serve_off_loopback_without_a_password_refuses_before_touching_anything(tmp_path, monkeypatch):
    monkeypatch.delenv("DARKSOCIAL_ANALYST_PASSWORD_HASH", raising=False)
    target = tmp_path / "ds.db"
    refused(run("serve", target, "--host", "0.0.0.0", "--port", "0"), 2, "Refusing to serve on 0.0.0.0",
            'export DARKSOCIAL_ANALYST_PASSWORD_HASH="$(datasette hash-password)"', "bind to 127.0.0.1")
    assert not target.exists()


@pytest.fixture
def taken_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_serve_on_a_taken_port_fails_fast(db, taken_port):
    done = subprocess.run([str(DARKSOCIAL), "serve", str(db), "--port", str(taken_port), "--attribute-every", "0"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    assert done.returncode == 2 and f"port {taken_port} for the reporting server is already in use on 127.0.0.1" in \
        done.stderr
    assert "choose another port with --port PORT (--port 0 picks a free one)" in done.stderr


@pytest.mark.parametrize(("host", "phrases"), [
    ("nosuch.invalid", ["--host nosuch.invalid cannot be resolved", "give an address of this machine"]),
    # TEST-NET-1 (RFC 5737): an address no machine running the tests has.
    ("192.0.2.1", ["--host 192.0.2.1 is not an address of this machine", "give one of its own addresses"]),
])
@pytest.mark.parametrize("port", [8687, 0])
def test_serve_on_a_host_that_is_not_this_machine_names_the_host_not_the_port(tmp_path, monkeypatch, host, phrases,
                                                                               port):
    monkeypatch.setenv("DARKSOCIAL_ANALYST_PASSWORD_HASH", "pbkdf2_sha256$480000$c2FsdA$aGFzaA")
    target = tmp_path / "ds.db"
    result = run("serve", target, "--host", host, "--port", port)
    refused(result, 2, *phrases, "127.0.0.1")
    assert "in use" not in result.output
    assert not target.exists()


@pytest.mark.parametrize("which", ["--site-port", "--port"])
def test_demo_on_a_taken_port_says_which_and_stops(tmp_path, taken_port, which):
    other = "--port" if which == "--site-port" else "--site-port"
    workdir = tmp_path / "demo"
    result = run("demo", "--no-wait", "--no-browser", "--dir", workdir, which, taken_port, other, 0)
    refused(result, 2, f"port {taken_port} for the", "is already in use on 127.0.0.1",
            f"choose another port with {which} PORT ({which} 0 picks a free one)")
    assert not workdir.exists()


def test_demo_refuses_one_port_for_both_and_a_file_as_dir(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    workdir = tmp_path / "demo"
    refused(run("demo", "--no-wait", "--no-browser", "--dir", workdir, "--site-port", free, "--port", free), 2,
            f"--site-port and --port are both {free}: choose two different ports")
    assert not workdir.exists()
    afile = tmp_path / "afile"
    afile.write_text("x")
    refused(run("demo", "--no-wait", "--no-browser", "--dir", afile, "--site-port", 0, "--port", 0), 2,
            "Invalid value for '--dir'", "is a file")


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.mark.parametrize("holds", [("db", "site"), ("site",), ("db",), ("demo-db-without-pages",)])
def test_demo_refuses_a_dir_holding_a_database_or_site_it_did_not_create(tmp_path, holds):
    """`--dir .` in someone's MkDocs project: the demo would delete their darksocial.db and empty their site/."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "mkdocs.yml").write_text("site_name: Mine\n")
    if "db" in holds:
        assert run("site", "add", "blog", "--origin", "https://blog.example", project / "darksocial.db").exit_code == 0
    if "demo-db-without-pages" in holds:  # the demo's site id alone does not make it the demo's database
        assert run("site", "add", "harbour-lane", "--origin", "http://127.0.0.1:8000", project / "darksocial.db"
                   ).exit_code == 0
    if "site" in holds:
        (project / "site").mkdir()
        (project / "site" / "index.html").write_text("<h1>My site</h1>")
    gc.collect()  # the in-process commands' connections closed: their WAL files gone, as after a real command
    before = snapshot(project)
    names = ", ".join(name for name in ("darksocial.db", "site/") if (project / name).exists())
    refused(run("demo", "--no-wait", "--no-browser", "--dir", project, "--site-port", 0, "--port", 0), 2,
            f"the folder {project} already holds {names}, which the demo did not create",
            "choose another --dir (a new folder), or remove", "yourself")
    assert snapshot(project) == before


@pytest.mark.parametrize("command", [["site", "list"], ["link", "list"], ["login-link"], ["attribute"]])
def test_another_applications_database_is_left_alone(tmp_path, command):
    """README (the plugin): "with any other database it changes nothing"; the CLI refuses it the same way."""
    app = tmp_path / "app.db"
    with sqlite3.connect(app) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    before = app.read_bytes()
    refused(run(*command, app), 1, "DB is not a darksocial database", "holds another application's tables",
            "give the path of the SQLite file")
    assert app.read_bytes() == before
    with sqlite3.connect(app) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["users"]
