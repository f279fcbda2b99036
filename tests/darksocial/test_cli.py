"""The `darksocial` command's manners: an example in every help, errors that name the fix, sites and links managed."""

from __future__ import annotations

import json

import click
from click.testing import CliRunner

from darksocial import cli as cli_module
from darksocial import collector, store, tokens
from darksocial.cli import cli

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(arg) for arg in args], input=input)


def commands(group: click.Group, prefix=()):
    for name, command in group.commands.items():
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from commands(command, (*prefix, name))


def test_every_subcommand_help_has_an_example():
    for path, _ in commands(cli):
        result = run(*path, "--help")
        assert result.exit_code == 0, (path, result.output)
        assert "Example" in result.output and "darksocial " + path[0] in result.output.split("Example")[1], path


def test_a_file_that_is_not_a_database_is_named_with_the_fix(tmp_path):
    bogus = tmp_path / "notes.db"
    bogus.write_text("these are my notes, not a database " * 10)
    for args in (["site", "list", bogus], ["attribute", bogus], ["link", "list", bogus]):
        result = run(*args)
        assert result.exit_code == 1, (args, result.output)
        assert "not a darksocial database" in result.output and "darksocial site add" in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)


def test_site_list_and_remove(tmp_path, monkeypatch):
    monkeypatch.setattr(cli_module, "stdin_is_a_terminal", lambda: True)  # the prompt, answered through input=
    db = tmp_path / "ds.db"
    assert run("site", "add", "blog", "--origin", "https://blog.example", "--name", "The Blog", db).exit_code == 0
    assert run("site", "add", "docs", "--origin", "https://docs.example", db).exit_code == 0
    listed = run("site", "list", db)
    assert listed.exit_code == 0
    assert [line.split("\t")[:3] for line in listed.output.splitlines()] == [
        ["blog", "The Blog", "https://blog.example"], ["docs", "docs", "https://docs.example"]]

    unknown = run("site", "remove", "shop", db, "--yes")
    assert unknown.exit_code == 2 and "registered: blog, docs" in unknown.output and "site list" in unknown.output
    declined = run("site", "remove", "docs", db, input="n\n")
    assert declined.exit_code == 1 and "docs" in run("site", "list", db).output

    view = {"k": "view", "s": "docs", "v": "visitor000001", "u": "https://docs.example/a", "t": tokens.mint()}
    ingest = collector.Collector(db, rate_limit=None)
    try:
        accepted = ingest.ingest(json.dumps(view).encode(), origin="https://docs.example", user_agent=UA,
                                 ip="192.0.2.1", content_type="text/plain")
        assert accepted.status == 204
        removed = run("site", "remove", "docs", db, "--yes")
        assert removed.exit_code == 0, removed.output
        collector.SITES_TTL, ttl = 0.0, collector.SITES_TTL  # the running collector rereads sites every 2 s
        try:
            refused = ingest.ingest(json.dumps({**view, "t": tokens.mint()}).encode(), origin="https://docs.example",
                                    user_agent=UA, ip="192.0.2.1", content_type="text/plain")
        finally:
            collector.SITES_TTL = ttl
        assert refused.status == 403
    finally:
        ingest.close()
    assert run("site", "list", db).output.startswith("blog\t")
    conn = store.open_db(db).conn
    assert conn.execute("SELECT count(*) FROM events WHERE site = 'docs'").fetchone()[0] == 1  # past events stay


def test_link_list_and_revoke_keep_past_credit(scenario):
    store.register_site(scenario.db, "blog", [scenario.ORIGIN])
    db = scenario.path
    assert "no ambassador link" in run("link", "list", db).output
    link = run("link", "create", "--name", "Rosa Diaz", "--url", "https://blog.example/story", "--channel", "wa",
               db).output.strip()
    token = tokens.from_url(link).token
    scenario.view("B", came_with=token, channel="wa")
    scenario.flush()
    assert run("attribute", db).exit_code == 0

    (line,) = run("link", "list", db).output.splitlines()
    assert line.split("\t") == [token, "Rosa Diaz", "blog", "active", link]
    revoked = run("link", "revoke", link, db)  # the whole link works as well as the token
    assert revoked.exit_code == 0, revoked.output
    assert "\trevoked 20" in run("link", "list", "--site", "blog", db).output
    again = run("link", "revoke", token, db)
    assert again.exit_code == 2 and "already revoked" in again.output
    unknown = run("link", "revoke", "AAAAAAAAAA", db)
    assert unknown.exit_code == 2 and "darksocial link list" in unknown.output

    assert run("attribute", "--full", db).exit_code == 0
    assert scenario.row("influencers", person="a:Rosa Diaz")["reach"] == 1  # past visits stay credited


def test_import_pages_warns_when_the_site_is_not_registered(tmp_path):
    db, manifest = tmp_path / "ds.db", tmp_path / "darksocial-pages.json"
    manifest.write_text(json.dumps({"format": "darksocial-pages", "version": 1, "site": "docs",
                                    "site_url": "https://docs.example/",
                                    "pages": [{"url": "https://docs.example/a/", "title": "A"}]}))
    assert run("site", "add", "blog", "--origin", "https://blog.example", db).exit_code == 0
    unregistered = run("import-pages", manifest, db)
    assert unregistered.exit_code == 0
    assert ("warning: site 'docs' is not registered" in unregistered.output
            and "darksocial site add docs --origin https://docs.example DB" in unregistered.output)

    run("site", "add", "docs", "--origin", "https://staging.example", db)
    elsewhere = run("import-pages", manifest, db)
    assert "no page is on an origin of site 'docs'" in elsewhere.output

    run("site", "add", "docs", "--origin", "https://docs.example", db)
    assert "warning" not in run("import-pages", manifest, db).output


def test_a_manifest_imported_after_the_visits_retitles_their_stories_at_the_next_run(scenario, tmp_path):
    # README: "Load it into the reporting database so stories have titles": also once visits have titled them.
    store.register_site(scenario.db, "blog", [scenario.ORIGIN])
    scenario.view("A", "/story")
    scenario.flush()
    assert run("attribute", scenario.path).exit_code == 0
    assert scenario.row("stories", url=scenario.ORIGIN + "/story")["title"] == "Title of /story"
    manifest = tmp_path / "darksocial-pages.json"
    manifest.write_text(json.dumps({"format": "darksocial-pages", "version": 1, "site": "blog",
                                    "site_url": scenario.ORIGIN + "/",
                                    "pages": [{"url": scenario.ORIGIN + "/story", "title": "The story"}]}))
    assert run("import-pages", manifest, scenario.path).exit_code == 0
    again = run("attribute", scenario.path)  # no new event: up to date, and the titles move all the same
    assert again.exit_code == 0 and "stories retitled from the imported page manifest: 1" in again.output
    assert scenario.row("stories", url=scenario.ORIGIN + "/story")["title"] == "The story"
    full = scenario.row("stories", url=scenario.ORIGIN + "/story")
    assert run("attribute", "--full", scenario.path).exit_code == 0
    assert scenario.row("stories", url=scenario.ORIGIN + "/story") == full  # as a full rebuild has it
    assert "retitled" not in run("attribute", scenario.path).output
